"""``gt peek``, ``gt agents``, ``gt agent sim`` and ``gt mayor start|attach|stop``: the sessions of the town."""

from __future__ import annotations

import os
import time

import click

from gastown_tui.clikit import echo_with_colours, emit_json, json_option, own_terminal, print_table, town_from


@click.command()
@click.argument("name", required=False)
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(1, 100000),
    default=None,
    help="Show the last LINES lines of history and screen (default: the visible screen).",
)
@click.option("--ansi", is_flag=True, help="Keep colours (escape sequences).")
@json_option
@click.pass_context
def peek(ctx: click.Context, name: str | None, lines: int | None, ansi: bool, as_json: bool) -> None:
    """Print the recent screen of session NAME; without NAME, list the town's sessions."""
    from core.sessions import SessionHost

    host = SessionHost(town_from(ctx))
    if name is None:
        sessions = host.list()
        if as_json:
            emit_json([{**s.as_dict(), "last_activity": host.last_activity(s.name)} for s in sessions])
            return
        now = time.time()
        rows = []
        for s in sessions:
            seen = host.last_activity(s.name)
            rows.append(
                [
                    s.name,
                    s.pid,
                    "alive" if s.alive else f"exited {s.exit_status}",
                    f"{s.cols}x{s.rows}",
                    "-" if seen is None else f"{max(0, now - seen):.0f}s ago",
                ]
            )
        print_table(["session", "pid", "state", "size", "last output"], rows, empty="(no sessions)")
        return
    text = host.capture(name, ansi=ansi, lines=lines)
    if as_json:
        emit_json({"name": name, "screen": text, "last_activity": host.last_activity(name)})
    elif ansi:
        echo_with_colours(text)
    else:
        click.echo(text)


@click.command("agents")
@click.option("-a", "--all", "with_polecats", is_flag=True, help="Include the polecats ('gt polecat list' has more).")
@json_option
@click.pass_context
def agents(ctx: click.Context, with_polecats: bool, as_json: bool) -> None:
    """List the town's agents by rig: the Mayor, each rig's witness, refinery and crew (-a: polecats)."""
    from core.db import connect
    from core.sessions import SessionHost
    from core.townview import read_snapshot

    town = town_from(ctx)
    db = connect(town.db_path)
    try:
        snap = read_snapshot(town, db, SessionHost(town))
    finally:
        db.conn.close()
    rows = [a for a in ([snap.mayor] if snap.mayor else []) + snap.agents if with_polecats or a.kind != "polecat"]
    if as_json:
        emit_json([{**a.__dict__, "key": a.key} for a in rows])
        return
    print_table(
        ["rig", "agent", "kind", "state", "session", "hook"],
        [
            [a.rig or "-", a.key, a.kind, a.state, a.session or "-", f"{a.bead} {a.title}" if a.bead else "-"]
            for a in rows
        ],
        empty="(no agents)",
    )
    for error in snap.errors:
        click.echo(f"gt: warning: {error}", err=True)


@click.group()
def agent() -> None:
    """Built-in agents."""


@agent.command("sim")
@click.argument("prompt", required=False)
@click.option("--bead", "bead_id", metavar="ID", default=None, help="Bead to work on (default: $GT_BEAD).")
@click.pass_context
def agent_sim(ctx: click.Context, prompt: str | None, bead_id: str | None) -> None:
    """The deterministic sim agent: runs the bead's ```sh blocks in the current worktree, commits,
    runs gt done, then waits at a prompt. PROMPT (the beacon) is shown, as an agent CLI would."""
    from gastown_tui.hookpath import sim_agent  # the gt script runs the bare form itself

    own_terminal()  # its screen is its tmux pane's, as any agent CLI's is
    raise SystemExit(sim_agent(lambda: town_from(ctx), prompt, bead_id))


@agent.command("hook")
@click.argument(
    "event", type=click.Choice(["session-start", "prompt", "stop", "notification", "pre-compact", "codex-notify"])
)
@click.argument("payload", required=False)
@click.pass_context
def agent_hook(ctx: click.Context, event: str, payload: str | None) -> None:
    """Called by an agent CLI's own hooks (Claude Code settings hooks, Codex notify): record the
    agent's state and print what its model should be told. PAYLOAD: the hook's JSON (default: stdin).
    Never fails its CLI: errors are printed on stderr and the exit status is 0."""
    from gastown_tui.hookpath import agent_hook as run_hook  # the gt script runs the bare forms itself

    text, error = run_hook(lambda: town_from(ctx), event, payload)
    if error:
        click.echo(error, err=True)
    if text:
        click.echo(text)


@agent.command("check")
@click.argument("preset_name", metavar="PRESET")
@click.pass_context
def agent_check(ctx: click.Context, preset_name: str) -> None:
    """Check that agent PRESET can run unattended here: its binary, its version, a login or key,
    running as root. Prints one line per check; exits 1 when one fails."""
    from core.runtimes.check import check

    results = check(town_from(ctx), preset_name)
    for r in results:
        click.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.name}: {r.detail}")
    if not all(r.ok for r in results):
        raise SystemExit(1)


@click.group()
def mayor() -> None:
    """The Mayor: the coordinator session you talk to."""


@mayor.command("start")
@click.option("--agent", "agent_name", default=None, help="Agent preset (default: the town's default_agent).")
@click.pass_context
def mayor_start(ctx: click.Context, agent_name: str | None) -> None:
    """Start the Mayor session in <town>/mayor."""
    from core import mayor as mayor_mod

    from core.db import connect

    town = town_from(ctx)
    info = mayor_mod.start(town, agent_name, db=connect(town.db_path))
    click.echo(f"mayor started (pid {info.pid}): attach with 'gt mayor attach'")


@mayor.command("attach")
@click.pass_context
def mayor_attach(ctx: click.Context) -> None:
    """Attach this terminal to the Mayor session, starting it when absent (detach with C-b d)."""
    from core import mayor as mayor_mod
    from core.db import connect

    town = town_from(ctx)
    if mayor_mod.ensure(town, db=connect(town.db_path)):
        click.echo("mayor started")
    argv = mayor_mod.attach_argv(town)
    os.execvp(argv[0], argv)


@mayor.command("restart")
@click.pass_context
def mayor_restart(ctx: click.Context) -> None:
    """Stop the Mayor session and start it again, on its conversation where its CLI can resume it."""
    from core import mayor as mayor_mod
    from core.db import connect

    town = town_from(ctx)
    h = mayor_mod.host(town)
    if h.exists(mayor_mod.SESSION):
        h.kill(mayor_mod.SESSION)
    mayor_mod.ensure(town, h, db=connect(town.db_path))
    click.echo("mayor restarted: attach with 'gt mayor attach'")


@mayor.command("stop")
@click.pass_context
def mayor_stop(ctx: click.Context) -> None:
    """Stop the Mayor session and everything it started."""
    from core import mayor as mayor_mod

    mayor_mod.stop(town_from(ctx))
    click.echo("mayor stopped")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(peek)
    group.add_command(agents)
    group.add_command(agent)
    group.add_command(mayor)
