"""``gt nudge``, ``gt broadcast`` and ``gt escalate``: talking to agents and raising problems."""

from __future__ import annotations

import click

from core import escalation, nudge
from core.actor import current_actor
from core.beads.store import BeadStore
from gastown_tui.clikit import Seconds, emit_json, json_option, town_from


@click.command("nudge")
@click.argument("target")
@click.argument("text")
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
def nudge_cmd(ctx: click.Context, target: str, text: str, mode: str, timeout: float, as_json: bool) -> None:
    """Type TEXT into TARGET's session (a session name, mayor, or <rig>/polecats/<name>).

    Only text is typed (control characters are removed; a TEXT of nothing else is refused), never
    into a shell (a sim town's Mayor is your shell: the nudge is sent as mail instead), and only onto
    an empty input line (else it is queued until the line is empty)."""
    result = nudge.nudge(town_from(ctx), target, text, mode, sender=current_actor(), timeout=timeout)
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


@click.command()
@click.argument("text")
@click.option(
    "-s",
    "--severity",
    type=click.Choice(list(reversed(escalation.SEVERITIES)), case_sensitive=False),
    default="medium",
    show_default=True,
)
@click.option("--bead", "about", help="The bead this escalation is about.")
@json_option
@click.pass_context
def escalate(ctx: click.Context, text: str, severity: str, about: str | None, as_json: bool) -> None:
    """Raise a problem to the Mayor: an escalation bead plus mail, raised again while unacknowledged."""
    town = town_from(ctx)
    with BeadStore(town) as store:
        if about:
            about = store.resolve(about)
        esc = escalation.escalate(store, text, severity, actor=current_actor(), about=about)
    if as_json:
        emit_json(esc.as_dict())
        return
    click.echo(f"escalated {esc.id} [{esc.severity}] to mayor/; acknowledge with 'gt bead close {esc.id}'")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    for command in (nudge_cmd, broadcast, escalate):
        group.add_command(command)
