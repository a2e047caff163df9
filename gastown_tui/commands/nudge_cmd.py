"""``gt nudge``, ``gt broadcast`` and ``gt escalate``: talking to agents and raising problems."""

from __future__ import annotations

import click

from core import escalation, nudge
from core.actor import current_actor
from core.beads.store import BeadStore
from core.errors import GtError
from gastown_tui.clikit import DefaultGroup, Seconds, clip, emit_json, json_option, print_table, read_stdin, town_from


@click.command("nudge")
@click.argument("target")
@click.argument("text", required=False)
@click.option("-m", "--message", "message", help="The text (instead of the TEXT argument).")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the text from stdin (no shell quoting).")
@click.option(
    "--mode",
    type=click.Choice(nudge.MODES),
    default="immediate",
    show_default=True,
    help="immediate: type it now; wait-idle: when the agent shows its prompt; queue: the engine "
    "types it at the agent's next idle.",
)
@click.option(
    "--timeout",
    type=Seconds(),
    default=60.0,
    show_default=True,
    help="Seconds wait-idle waits before queueing the nudge instead.",
)
@json_option
@click.pass_context
def nudge_cmd(
    ctx: click.Context,
    target: str,
    text: str | None,
    message: str | None,
    from_stdin: bool,
    mode: str,
    timeout: float,
    as_json: bool,
) -> None:
    """Type TEXT into TARGET's session (a session name, mayor, <rig>/<polecat> or <rig>/polecats/<name>).

    The text is TEXT, -m TEXT or, with --stdin, what is piped in (as Gas Town's gt nudge). Only text
    is typed (control characters are removed; a TEXT of nothing else is refused), never into a shell
    (a sim town's Mayor is your shell: the nudge is sent as mail instead), and only onto an empty
    input line (else it is queued until the line is empty)."""
    given = [t for t in (text, message, read_stdin() if from_stdin else None) if t is not None]
    if len(given) > 1:
        raise GtError("give the text once: as TEXT, -m TEXT or --stdin")
    body = given[0] if given else ""
    result = nudge.nudge(town_from(ctx), target, body, mode, sender=current_actor(), timeout=timeout)
    if as_json:
        emit_json(result.as_dict())
    else:
        click.echo(result.summary())


@click.command()
@click.argument("text")
@json_option
@click.pass_context
def broadcast(ctx: click.Context, text: str, as_json: bool) -> None:
    """Nudge every working polecat with TEXT."""
    out = nudge.broadcast(town_from(ctx), text, sender=current_actor())
    results = {s: r for s, r in out.items() if isinstance(r, nudge.NudgeResult)}
    if as_json:
        emit_json(
            {
                "delivered": [s for s, r in results.items() if r.delivered],
                "queued": {s: r.queued for s, r in results.items() if r.queued is not None},
                "mailed": {s: r.mailed for s, r in results.items() if r.mailed is not None},
                "failed": {s: r for s, r in out.items() if isinstance(r, str)},
            }
        )
        return
    if not out:
        click.echo("no working polecats to nudge")
    for session, r in out.items():
        click.echo(r.summary() if isinstance(r, nudge.NudgeResult) else f"not delivered to {session}: {r}")


@click.group(cls=DefaultGroup, default="file")
def escalate() -> None:
    """Raise a problem to the Mayor: an escalation bead plus mail, raised again while unacknowledged.

    File one as Gas Town does, gt escalate "TEXT" [-s high] [-r DETAILS], or with -m TEXT (the only
    way to file a text that is a subcommand's name: gt escalate -m list). Then gt escalate list,
    ack ID and close ID --reason WHY.
    """


@escalate.command("file", hidden=True)
@click.argument("words", nargs=-1, metavar="TEXT")
@click.option("-m", "--message", "message", help="What is wrong and what is needed (instead of TEXT).")
@click.option("-r", "--reason", default="", help="Details, added below the text.")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the details from stdin (no shell quoting).")
@click.option(
    "-s",
    "--severity",
    type=click.Choice(list(reversed(escalation.SEVERITIES)), case_sensitive=False),
    default="medium",
    show_default=True,
)
@click.option("--bead", "--related", "about", help="The bead this escalation is about.")
@json_option
@click.pass_context
def escalate_file(
    ctx: click.Context,
    words: tuple[str, ...],
    message: str | None,
    reason: str,
    from_stdin: bool,
    severity: str,
    about: str | None,
    as_json: bool,
) -> None:
    """File an escalation: gt escalate "TEXT" or gt escalate -m TEXT."""
    if message is not None and words:
        raise GtError(f"give the text once: as -m TEXT or as {' '.join(words)!r}, not both")
    text = message if message is not None else " ".join(words)
    if not text.strip():
        raise GtError('an escalation needs a text: gt escalate "what is wrong" -s high (or -m TEXT)')
    details = "\n".join(part for part in (reason.strip(), read_stdin().strip() if from_stdin else "") if part)
    town = town_from(ctx)
    with BeadStore(town) as store:
        if about:
            about = store.resolve(about)
        body = f"{text.strip()}\n\n{details}" if details else text
        esc = escalation.escalate(store, body, severity, actor=current_actor(), about=about)
    if as_json:
        emit_json(esc.as_dict())
        return
    click.echo(f"escalated {esc.id} [{esc.severity}] to mayor/; acknowledge with 'gt escalate ack {esc.id}'")


@escalate.command("list")
@click.option("--all", "include_closed", is_flag=True, help="Include closed escalations.")
@json_option
@click.pass_context
def escalate_list(ctx: click.Context, include_closed: bool, as_json: bool) -> None:
    """List open escalations, oldest first (acknowledged ones marked)."""
    with BeadStore(town_from(ctx)) as store:
        rows = escalation.list_escalations(store, include_closed=include_closed)
    if as_json:
        emit_json([e.as_dict() for e in rows])
        return
    print_table(
        ["id", "severity", "state", "raised", "about", "text"],
        [
            [
                e.id,
                e.severity,
                ("acked by " + e.acked_by if e.acked_by else "open") if e.open else "closed",
                f"{e.raised}x",
                e.about or "-",
                clip(e.text, 60),
            ]
            for e in rows
        ],
        empty="No open escalations" if not include_closed else "No escalations",
    )


@escalate.command("show")
@click.argument("esc_id", metavar="ID")
@json_option
@click.pass_context
def escalate_show(ctx: click.Context, esc_id: str, as_json: bool) -> None:
    """Show escalation ID: severity, state, raises and its full text."""
    with BeadStore(town_from(ctx)) as store:
        e = escalation.get(store, esc_id)
    if as_json:
        emit_json(e.as_dict())
        return
    state = ("acknowledged by " + e.acked_by if e.acked_by else "open") if e.open else "closed"
    click.echo(f"{e.id} [{e.severity}] {state}, raised {e.raised}x" + (f", about {e.about}" if e.about else ""))
    click.echo("")
    click.echo(e.text)


@escalate.command("ack")
@click.argument("esc_id", metavar="ID")
@json_option
@click.pass_context
def escalate_ack(ctx: click.Context, esc_id: str, as_json: bool) -> None:
    """Acknowledge escalation ID: someone is on it, so it is raised no more (it stays open)."""
    with BeadStore(town_from(ctx)) as store:
        e = escalation.ack(store, esc_id, actor=current_actor())
    if as_json:
        emit_json(e.as_dict())
        return
    click.echo(f"acknowledged {e.id} (by {e.acked_by}); close it when resolved: gt escalate close {e.id}")


@escalate.command("close")
@click.argument("esc_id", metavar="ID")
@click.option("--reason", default="", help="The resolution (default: resolved).")
@json_option
@click.pass_context
def escalate_close(ctx: click.Context, esc_id: str, reason: str, as_json: bool) -> None:
    """Close escalation ID as resolved."""
    with BeadStore(town_from(ctx)) as store:
        e = escalation.close(store, esc_id, actor=current_actor(), reason=reason)
    if as_json:
        emit_json(e.as_dict())
        return
    click.echo(f"closed {e.id}")


@escalate.command("stale")
@json_option
@click.pass_context
def escalate_stale(ctx: click.Context, as_json: bool) -> None:
    """Raise again, one severity higher, every unacknowledged escalation older than [deacon] stale_after
    (what the deacon does on each patrol)."""
    town = town_from(ctx)
    with BeadStore(town) as store:
        raised = escalation.restale(store, float(town.setting("deacon", "stale_after")), actor=current_actor())
    if as_json:
        emit_json({"reescalated": raised})
        return
    click.echo(f"raised again: {', '.join(raised)}" if raised else "No stale escalations")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    for command in (nudge_cmd, broadcast, escalate):
        group.add_command(command)
