"""``gt up``, ``gt down``, ``gt status`` and ``gt feed``: the town's engine and its event stream."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TYPE_CHECKING

import click

from core.beads.store import BeadStore
from core.errors import GtError
from gastown_tui.clikit import Seconds, clear_screen, count_type, emit_json, json_option, town_from
from gastown_tui.hookpath import status_text, town_status

if TYPE_CHECKING:
    from core.events import Event


@click.command()
@click.option("--detach", is_flag=True, help="Run the engine in the background and return.")
@click.option(
    "--tick", type=Seconds(min=0.05), default=1.0, show_default=True, help="Base timer of the engine loops, in seconds."
)
@click.pass_context
def up(ctx: click.Context, detach: bool, tick: float) -> None:
    """Run the town's engine (scheduler, witnesses, deacon, refineries) until SIGTERM or Ctrl-C."""
    import subprocess  # only to detach the engine: gt status, in the same module, starts no process

    from core.engine import EngineRunning, check_config, engine_pid, run_foreground
    from core.filemodes import open_private, private_dir

    town = town_from(ctx)
    check_config(town)  # a malformed town.toml/rig.toml: one line, exit 2, before anything starts
    if not detach:

        def started(engine: object) -> None:
            click.echo(f"engine up on {town.root} (pid {os.getpid()}); stop it with 'gt down' or Ctrl-C", err=True)

        run_foreground(town, tick=tick, on_start=started)
        click.echo("engine stopped", err=True)
        return
    pid = engine_pid(town)
    if pid is not None:
        raise EngineRunning(f"an engine is already running on town {town.root} (pid {pid}): stop it with 'gt down'")
    private_dir(town.logs_dir)
    log_path = town.logs_dir / "engine.log"
    with open(open_private(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "gastown_tui.cli", "--town", str(town.root), "up", "--tick", str(tick)],
            cwd=str(town.root),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if engine_pid(town) == proc.pid:
            click.echo(f"engine up on {town.root} (pid {proc.pid}); log {log_path}; stop it with 'gt down'")
            return
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise GtError(f"the engine exited at once ({tail[0]}): see {log_path}")
        time.sleep(0.05)
    raise GtError(f"the engine (pid {proc.pid}) did not start within 30 s: see {log_path}")


@click.command()
@click.option(
    "--timeout", type=Seconds(), default=60.0, show_default=True, help="Seconds to wait for the engine to exit."
)
@click.pass_context
def down(ctx: click.Context, timeout: float) -> None:
    """Stop the town's engine (SIGTERM, then wait for it to exit). Agent sessions keep running."""
    import signal

    from core.engine import wait_stopped
    from core.pidfile import signal_engine

    town = town_from(ctx)
    pid = signal_engine(town, signal.SIGTERM)  # only a pid proven by the engine lock is signalled
    if pid is None:
        click.echo("no engine is running")
        return
    if not wait_stopped(pid, timeout):
        raise GtError(f"the engine (pid {pid}) did not stop within {timeout:g} s: wait, or kill it with 'kill {pid}'")
    click.echo(f"engine stopped (pid {pid})")


@click.command()
@click.option("-w", "--watch", is_flag=True, help="Redraw the summary every --interval seconds until Ctrl-C.")
@click.option(
    "-n", "--interval", type=Seconds(min=0.1), default=2.0, show_default=True, help="Seconds between --watch frames."
)
@click.option("--count", type=count_type(1), default=None, help="With --watch: stop after this many frames.")
@json_option
@click.pass_context
def status(ctx: click.Context, watch: bool, interval: float, count: int | None, as_json: bool) -> None:
    """Town summary: engine, rigs, polecats by state, queues, open convoys and escalations."""
    town = town_from(ctx)
    if not watch:
        if count is not None:
            raise click.UsageError("--count counts --watch frames: add --watch")
        s = town_status(town)
        if as_json:
            emit_json(s)
        else:
            click.echo(status_text(s))
        return
    if as_json:
        raise click.UsageError("--json and --watch do not go together: use one")
    frames = 0
    try:
        while True:
            s = town_status(town)
            clear_screen()
            click.echo(f"[{time.strftime('%H:%M:%S')}] gt status --watch (every {interval:g} s, Ctrl-C to stop)")
            click.echo("")
            click.echo(status_text(s))
            sys.stdout.flush()
            frames += 1
            if count is not None and frames >= count:
                return
            time.sleep(interval)  # the refresh period the user asked for
    except KeyboardInterrupt:
        return


@click.command("feed")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they happen.")
@click.option("--no-follow", is_flag=True, help="Print the recent events and exit (the default).")
@click.option("--plain", is_flag=True, help="Plain text lines (what gt feed always prints; the cockpit has the view).")
@click.option("--problems", "-p", is_flag=True, help="Only problems (stalled, zombie, escalation, merge failures...).")
@click.option("--since", metavar="DURATION", help="Only events newer than this (e.g. 30s, 10m, 2h, 1d).")
@click.option(
    "--limit", "-n", type=count_type(1), default=50, show_default=True, help="How many recent events to print first."
)
@json_option
@click.pass_context
def feed_cmd(
    ctx: click.Context,
    follow: bool,
    no_follow: bool,
    plain: bool,
    problems: bool,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The town's event stream, oldest first (JSON: one object per line)."""
    from core import feed  # asyncio (its follower): for gt feed only

    if follow and no_follow:
        raise click.UsageError("--follow and --no-follow: give one")
    if plain and as_json:
        raise click.UsageError("--plain and --json: give one")
    town = town_from(ctx)
    since_ts = time.time() - feed.parse_duration(since) if since else None
    store = BeadStore(town)
    try:
        shown = feed.recent(store.db, since=since_ts, problems=problems, limit=limit)

        def emit(ev: Event) -> None:
            if as_json:
                click.echo(json.dumps(ev.as_dict(), sort_keys=True))
            else:
                click.echo(feed.format_event(ev))

        for ev in shown:
            emit(ev)
        if not follow:
            if not shown and not as_json:
                click.echo("no events" + (" (problems only)" if problems else ""))
            return
        after = shown[-1].id if shown else feed.last_id(store.db)
        try:
            for ev in feed.follow(store.db, after, problems=problems):
                emit(ev)
        except KeyboardInterrupt:
            return
    finally:
        store.disconnect()


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    for command in (up, down, status, feed_cmd):
        group.add_command(command)
