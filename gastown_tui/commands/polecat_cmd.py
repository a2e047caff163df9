"""``gt sling|unsling|hook|prime|done|checkpoint``, ``gt polecat list|nuke`` and ``gt namepool``."""

from __future__ import annotations

import click

from core import polecats, roles
from core.actor import current_actor
from core.beads.store import BeadStore
from core.errors import GtError, NotFound
from core.plaintext import one_line
from core.prime import prime as prime_text
from core.town import Town
from gastown_tui.clikit import DefaultGroup, emit_json, json_option, print_table, town_from


def _role(ctx: click.Context, polecat: str | None, rig: str | None = None) -> roles.Role:
    """The polecat to act for: ``--polecat NAME`` (with ``--rig`` or the only rig holding that name),
    else the calling process's role."""
    town = town_from(ctx)
    if polecat is None:
        return roles.detect(town)
    store = BeadStore(town)
    try:
        p = polecats.require(store.db, rig, polecat)
    finally:
        store.disconnect()
    return roles.Role("polecat", p.rig, p.name, p.hook_bead)


def _sling_target(target: str, polecat: str | None) -> tuple[str, str | None]:
    """(rig, polecat) of a sling target: ``RIG``, or Gas Town's ``RIG/POLECAT`` (also
    ``RIG/polecats/POLECAT``), which names the polecat as ``--polecat`` does."""
    parts = target.split("/")
    if len(parts) == 3 and parts[1] == "polecats":
        parts = [parts[0], parts[2]]
    if len(parts) == 1:
        return target, polecat
    if len(parts) != 2 or not all(parts):
        raise GtError(f"invalid sling target {target!r}: give a rig (demo) or a polecat of a rig (demo/nux)")
    if polecat is not None and polecat != parts[1]:
        raise GtError(f"two polecats ({parts[1]!r} in {target!r} and --polecat {polecat!r}): give one")
    return parts[0], parts[1]


@click.command()
@click.argument("args", nargs=-1, required=True, metavar="BEAD... RIG[/POLECAT]")
@click.option("--agent", help="Agent preset (default: the town's default_agent).")
@click.option("--polecat", "polecat", help="Polecat to use (default: an idle one, else a new name).")
@click.option("--formula", help="Formula attached to the bead (gt prime shows its steps).")
@click.option("--no-convoy", is_flag=True, help="Do not give a bead slung alone an auto convoy.")
@click.option("--resume", is_flag=True, help="Restart the dead session of the polecat holding BEAD.")
@click.option("--queue", "queue", is_flag=True, help="Queue the bead(s): the engine slings them as capacity allows.")
@click.option(
    "--force",
    is_flag=True,
    help="Take over a bead claimed by a human or an agent (never one awaiting merge or held by a live polecat).",
)
@json_option
@click.pass_context
def sling(
    ctx: click.Context,
    args: tuple[str, ...],
    agent: str | None,
    polecat: str | None,
    formula: str | None,
    no_convoy: bool,
    resume: bool,
    queue: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Hook BEAD(s) to polecats of RIG and start them (gt sling --resume BEAD restarts one).

    RIG/POLECAT (Gas Town's form, e.g. demo/nux) slings to that polecat, as --polecat does."""
    from core.sling import Slinger  # formulas, worktrees, runtimes: gt prime, done and hook do not need them

    town = town_from(ctx)
    if queue:
        _queue(town, args, agent, formula, as_json)
        return
    slinger = Slinger(town)
    exit_code, failed = 0, []
    if resume:
        results = [slinger.resume(b, agent=agent) for b in args]
    else:
        if len(args) < 2:
            raise click.UsageError("give the bead(s) and the rig: gt sling BEAD [BEAD...] RIG")
        *beads, target = args
        rig, polecat = _sling_target(target, polecat)
        if polecat and len(beads) > 1:
            raise click.UsageError("--polecat names one polecat: sling one bead with it")
        # several beads at once: each gets its own polecat, and they share one convoy (core.sling)
        batch = slinger.sling_beads(
            beads, rig, agent=agent, polecat=polecat, formula=formula, convoy=not no_convoy, force=force
        )
        results, failed, exit_code = batch.slung, batch.failed, batch.exit_code
    if as_json:
        emit_json([r.as_dict() for r in results])
    else:
        for r in results:
            verb = "resumed" if r.resumed else "slung"
            click.echo(
                f"{r.bead} {verb} to {r.polecat} ({r.agent}) on {r.branch}"
                + (f", convoy {r.convoy}" if r.convoy else "")
                + (f", taken over from {r.took_over_from}" if r.took_over_from else "")
            )
            click.echo(f"  watch: gt peek {r.session}")
    if failed:  # a batch: the others went out; each refusal is one line, the exit status the worst
        for bead, exc in failed:
            click.echo(f"gt: {bead} not slung: {one_line(str(exc))}", err=True)
        ctx.exit(exit_code)


def _queue(town: Town, args: tuple[str, ...], agent: str | None, formula: str | None, as_json: bool) -> None:
    """``gt sling --queue BEAD... RIG``: put the beads in the sling queue (core.scheduler)."""
    from core import scheduler

    if len(args) < 2:
        raise click.UsageError("give the bead(s) and the rig: gt sling --queue BEAD [BEAD...] RIG")
    *beads, rig = args
    with BeadStore(town) as store:
        rows = [scheduler.enqueue(store, b, rig, actor=current_actor(), agent=agent, formula=formula) for b in beads]
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    for r in rows:
        click.echo(f"{r.bead} queued for {r.rig} (P{r.priority}); the engine slings it when there is capacity")


@click.command()
@click.argument("bead")
@click.option("-m", "--message", default="", help="Note recorded on the bead.")
@click.pass_context
def unsling(ctx: click.Context, bead: str, message: str) -> None:
    """Take BEAD off its polecat's hook (session stopped, bead open again, worktree kept)."""
    from core.sling import Slinger

    p = Slinger(town_from(ctx)).unsling(bead, note=message)
    click.echo(f"{bead} unslung; {p.address} is idle")


def _agent_of(ctx: click.Context, target: str | None, polecat: str | None, rig: str | None) -> roles.Role:
    """The polecat a ``gt hook`` verb acts on: TARGET (``<rig>/<polecat>`` or
    ``<rig>/polecats/<polecat>``), else ``--polecat``/``--rig``, else the caller (which must be a polecat)."""
    if target is not None:
        rig_name, name = _sling_target(target, polecat)
        if name is None:
            raise GtError(f"{target!r} names a rig: give one of its polecats, <rig>/<polecat>")
        if rig is not None and rig != rig_name:
            raise GtError(f"two rigs ({rig_name!r} in {target!r} and --rig {rig!r}): give one")
        return roles.Role("polecat", rig_name, name)
    role = _role(ctx, polecat, rig)
    if role.kind != "polecat":
        raise GtError("not inside a polecat: name one, <rig>/<polecat> or --polecat NAME")
    return role


polecat_option = click.option("--polecat", help="Whose hook (default: the calling polecat).")
rig_option = click.option("--rig", help="Rig of --polecat when the name is in several rigs.")


@click.group(cls=DefaultGroup, default="attach", bare="status")
def hook() -> None:
    """Show what is on a polecat's hook, or attach work to it (gt hook BEAD [RIG/POLECAT]).

    gt hook (or gt hook status) shows the calling polecat's hook; gt hook show RIG/POLECAT another's;
    gt hook attach BEAD [RIG/POLECAT] (or gt hook BEAD) hooks a bead without starting a session:
    the agent runs it (GUPP), or 'gt sling --resume BEAD' starts it. 'gt unsling BEAD' takes it off."""


@hook.command("status")
@click.argument("target", required=False, metavar="[RIG/POLECAT]")
@polecat_option
@rig_option
@json_option
@click.pass_context
def hook_status(ctx: click.Context, target: str | None, polecat: str | None, rig: str | None, as_json: bool) -> None:
    """Show what is on the hook of RIG/POLECAT (default: the calling polecat)."""
    role = _agent_of(ctx, target, polecat, rig)
    store = BeadStore(town_from(ctx))
    p = polecats.get(store.db, role.rig or "", role.name or "")
    bead = (p.hook_bead if p else None) or role.bead
    issue = store.get(bead) if bead else None
    if as_json:
        emit_json(
            {"polecat": role.address, "bead": issue.as_dict() if issue else None, "state": p.state if p else None}
        )
        return
    if issue is None:
        click.echo(f"{role.address}: nothing on the hook")
    else:
        click.echo(f"{role.address}: {issue.id} [{issue.status}] P{issue.priority} {issue.title}")


@hook.command("show")
@click.argument("target", metavar="RIG/POLECAT")
@json_option
@click.pass_context
def hook_show(ctx: click.Context, target: str, as_json: bool) -> None:
    """Show what is on the hook of RIG/POLECAT."""
    ctx.invoke(hook_status, target=target, polecat=None, rig=None, as_json=as_json)


@hook.command("attach")
@click.argument("bead")
@click.argument("target", required=False, metavar="[RIG/POLECAT]")
@polecat_option
@rig_option
@click.option("-f", "--force", is_flag=True, help="Replace an unfinished bead on that hook (it goes back to open).")
@json_option
@click.pass_context
def hook_attach(
    ctx: click.Context,
    bead: str,
    target: str | None,
    polecat: str | None,
    rig: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Hook BEAD to RIG/POLECAT (default: the calling polecat) without starting a session."""
    from core.sling import Slinger

    role = _agent_of(ctx, target, polecat, rig)
    p = Slinger(town_from(ctx)).attach(bead, role.rig or "", role.name or "", force=force)
    if as_json:
        emit_json(p.as_dict())
        return
    click.echo(f"{p.hook_bead} is on the hook of {p.address}; start it with 'gt sling --resume {p.hook_bead}'")


@click.command()
@click.option("--polecat", help="Prime for this polecat (default: the calling role).")
@click.option("--rig", help="Rig of --polecat when the name is in several rigs.")
@click.option(
    "--hook",
    "as_hook",
    is_flag=True,
    help="Run as an agent CLI's session-start hook: read its JSON on stdin, record the session, print the brief.",
)
@click.pass_context
def prime(ctx: click.Context, polecat: str | None, rig: str | None, as_hook: bool) -> None:
    """Print the brief for the calling agent: role, hooked bead, steps, mail and rules (Markdown)."""
    if as_hook:
        ctx.invoke(_agent_hook(), event="session-start", payload=None)
        return
    click.echo(prime_text(town_from(ctx), _role(ctx, polecat, rig)))


def _agent_hook() -> click.Command:
    from gastown_tui.commands.session_cmd import agent_hook

    return agent_hook


@click.command("done")
@click.option(
    "--status",
    "status",
    metavar="COMPLETED|ESCALATED|DEFERRED",
    default="COMPLETED",
    show_default=True,
    help="How the work ended.",
)
@click.option("-m", "--message", default="", help="Reason (ESCALATED/DEFERRED) or a note for the merge request.")
@click.option("--polecat", help="Finish for this polecat (default: the calling one).")
@click.option("--rig", help="Rig of --polecat when the name is in several rigs.")
@click.option("--bead", help="Crew workspaces: the bead this branch finishes (closed when it merges).")
@json_option
@click.pass_context
def done_cmd(
    ctx: click.Context, status: str, message: str, polecat: str | None, rig: str | None, bead: str | None, as_json: bool
) -> None:
    """Finish the work on the hook: commit leftovers, queue a merge request, go idle."""
    from gastown_tui.hookpath import done_text  # the gt script runs the bare form itself

    click.echo(done_text(town_from(ctx), _role(ctx, polecat, rig), status, message, bead, as_json))


@click.command()
@click.option("--polecat", help="Checkpoint this polecat (default: the calling one).")
@click.option("--rig", help="Rig of --polecat when the name is in several rigs.")
@click.pass_context
def checkpoint(ctx: click.Context, polecat: str | None, rig: str | None) -> None:
    """Commit a polecat's uncommitted work as a WIP commit on its branch."""
    from core.done import save_checkpoint

    town = town_from(ctx)
    role = _role(ctx, polecat, rig)
    if role.kind != "polecat":
        raise GtError("not inside a polecat: run it in a polecat worktree or pass --polecat NAME")
    store = BeadStore(town)
    p = polecats.get(store.db, role.rig or "", role.name or "")
    if p is None:
        raise NotFound(f"{role.address} is not a known polecat")
    from core.rigs import load_rig

    sha = save_checkpoint(town, load_rig(town, p.rig), p, actor=current_actor(), session_alive=False, store=store)
    click.echo(f"checkpoint {sha[:12]} on {p.branch}" if sha else "nothing to checkpoint: the worktree is clean")


@click.group()
def polecat() -> None:
    """Polecats: the worker agents of each rig."""


@polecat.command("list")
@click.option("--rig", help="Only this rig.")
@click.option("--all", "show_all", is_flag=True, help="Include nuked polecats.")
@json_option
@click.pass_context
def polecat_list(ctx: click.Context, rig: str | None, show_all: bool, as_json: bool) -> None:
    """List polecats with their state, hook and session."""
    town = town_from(ctx)
    store = BeadStore(town)
    rows = polecats.list_polecats(store.db, rig=rig, include_nuked=show_all)
    if as_json:
        emit_json([p.as_dict() for p in rows])
        return
    from core.sessions import SessionHost  # tmux: gt polecat list shows the sessions

    host = SessionHost(town)
    live = {s.name for s in host.list() if s.alive} if rows else set()
    print_table(
        ["polecat", "state", "hook", "session", "agent", "branch"],
        [
            [
                p.address,
                p.state,
                p.hook_bead or "-",
                (p.session + (" (live)" if p.session in live else " (dead)")) if p.session else "-",
                p.agent or "-",
                p.branch or "-",
            ]
            for p in rows
        ],
        empty="No polecats yet: gt sling BEAD RIG",
    )


@polecat.command("nuke")
@click.argument("name")
@click.option("--rig", help="Rig of the polecat when the name is in several rigs.")
@click.option("--force", is_flag=True, help="Nuke even with uncommitted or unmerged work (saved first).")
@click.pass_context
def polecat_nuke(ctx: click.Context, name: str, rig: str | None, force: bool) -> None:
    """Kill polecat NAME's session, remove its worktree and release its bead."""
    from core.sling import Slinger

    p = Slinger(town_from(ctx)).nuke(rig, name, force=force)
    click.echo(f"nuked {p.address}")


@click.command("namepool")
@click.argument("theme", required=False)
@click.pass_context
def namepool_cmd(ctx: click.Context, theme: str | None) -> None:
    """List the polecat name pools, or set the town's pool to THEME."""
    from core import namepool

    town = town_from(ctx)
    if theme:
        namepool.set_theme(town, theme)
    current = namepool.theme(town)
    for name, names in namepool.THEMES.items():
        mark = "*" if name == current else " "
        click.echo(f"{mark} {name}: {', '.join(names[:8])}, ...")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    for command in (sling, unsling, hook, prime, done_cmd, checkpoint, polecat, namepool_cmd):
        group.add_command(command)
