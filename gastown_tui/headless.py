"""``gastown-tui --no-ui run``: run one convoy to its end without a screen, for CI (issue 8).

:func:`run_convoy` checks the input (formula, variables, rig, agent, convoy, summary path: bad input
is refused before anything is written or started), starts the town's engine in this process (refused
while another engine holds the town), pours the formula and queues its steps (or queues the open beads
of ``--convoy``), then follows the run with :class:`core.runs.ConvoyWatch` until the convoy lands, a
bead fails, the timeout passes or a SIGTERM/SIGINT arrives. Then it stops the engine cleanly (loops
finish their work, the ledger is synced, the lock is released), stops the tmux sessions of the
polecats that worked the run (so a CI job leaves no agent behind; a bead still hooked keeps its
worktree, and the next engine's witness restarts its agent), and writes the JSON summary.

Exit status: 0 the convoy landed, 1 a bead failed (gate, conflict, escalation, stuck), 2 bad input or
another engine running, 124 timeout (as timeout(1)), 130 interrupted by a signal. A failed or timed
out run leaves its remaining beads queued: ``run --convoy ID`` again (after fixing) resumes it.

Progress: one line per feed event (``core.feed.format_event``) when stdout is not a terminal; on a
terminal, a rich live display (the beads with their state, polecat and MR, and a progress bar) with
the event lines printed above it. rich is imported only then. Event lines, titles and failure
reasons are agent text: both displays print them through :func:`core.plaintext.strip_controls`
(the rich one as ``Text``, never markup), so a title cannot move the cursor or clear the screen.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from core import feed, runs, runtimes
from core.actor import current_actor
from core.atomic import atomic_write_text
from core.beads.store import BeadStore
from core.convoys import Convoy
from core.engine import Engine, EngineRunning, engine_pid
from core.errors import GtError, NotFound
from core.events import Event
from core.molecules import MoleculePlan
from core.plaintext import one_line, strip_controls
from core.town import Town

EXIT_LANDED = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 124
EXIT_INTERRUPTED = 130
#: Seconds between two looks at the run (events, convoy state).
POLL_S = 0.2


@dataclass
class RunRequest:
    """What to run: ``convoy`` (an id) or ``formula`` with ``values`` (its variables); ``rig`` works
    the formula's steps (and the convoy's town-level beads); ``agent``: preset for every bead;
    ``timeout``: seconds (None: no limit); ``summary``: where the JSON summary goes; ``tick``: the
    engine's base timer in seconds; ``keep_going``: after a failure, run on until every other bead
    has landed or waits on a failed one."""

    convoy: str | None = None
    formula: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    rig: str | None = None
    agent: str | None = None
    timeout: float | None = None
    summary: Path | None = None
    tick: float = 1.0
    keep_going: bool = False


def run_convoy(town: Town, req: RunRequest, out: IO[str] | None = None, tty: bool | None = None) -> int:
    """Run ``req`` on ``town`` to its end (see the module docstring) and return the exit status.

    out: where progress goes (default stdout); tty: force the live display on or off (default:
    ``out.isatty()``). Raises GtError for bad input and EngineRunning when another engine holds the
    town, before anything is written.
    """
    out = out or sys.stdout
    planned = _check(town, req)
    if (pid := engine_pid(town)) is not None:
        raise EngineRunning(
            f"an engine is already running on town {town.root} (pid {pid}): stop it with "
            "'gt down', or queue the work on it with 'gt formula run'"
        )
    display: _Display = _RichDisplay(out) if (out.isatty() if tty is None else tty) else _PlainDisplay(out)
    return asyncio.run(_Run(town, req, planned, display).main())


def _check(town: Town, req: RunRequest) -> MoleculePlan | None:
    """Refuse bad input before anything is written. Returns the formula's plan (None for a convoy,
    whose partial id in ``req.convoy`` becomes the full id)."""
    if (req.convoy is None) == (req.formula is None):
        raise GtError("give exactly one of --convoy ID or --formula NAME (with --var KEY=VALUE and --rig RIG)")
    if req.timeout is not None and req.timeout <= 0:
        raise GtError(f"--timeout must be a positive number of seconds (got {req.timeout:g})")
    if req.summary is not None and not req.summary.parent.is_dir():
        raise GtError(f"cannot write the summary to {req.summary}: the directory {req.summary.parent} does not exist")
    if req.formula is not None:
        return runs.plan_run(town, req.formula, req.values, req.rig, agent=req.agent)
    if req.agent is not None:
        runtimes.resolve(town, req.agent)
    with BeadStore(town) as store:
        req.convoy = runs.check_convoy(store, str(req.convoy), req.rig).id
    return None


class _Run:
    """One headless run on an asyncio loop: the engine as a task beside the watch loop. The watch's
    database work runs on one dedicated thread (its connection stays there)."""

    def __init__(self, town: Town, req: RunRequest, planned: MoleculePlan | None, display: _Display) -> None:
        self.town, self.req, self.planned, self.display = town, req, planned, display
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gt-run")
        self.store: BeadStore | None = None
        self.after = 0
        self.watch: runs.ConvoyWatch | None = None
        self.interrupted = asyncio.Event()
        self.started = time.time()

    async def _db(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self.started = time.time()
        await self._db(self._open)  # before the engine: it may sling a queued bead at once
        engine = Engine(self.town, tick=self.req.tick)
        task = asyncio.create_task(engine.run())
        while not engine.running and not task.done():
            await asyncio.sleep(0.02)
        if task.done():
            await self._db(lambda: self._finish("refused", EngineRunning.exit_code, []))
            self.display.close()
            self.pool.shutdown()
            task.result()  # raises EngineRunning (another engine won the lock meanwhile)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.interrupted.set)
        outcome = "interrupted"
        try:
            await self._db(self._start)
            self.display.start(self._headline(engine))
            outcome = await self._follow(self.started)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            engine.stop()
            await task
            stopped = await self._db(lambda: self._stop_sessions(engine))
            code = {"landed": EXIT_LANDED, "failed": EXIT_FAILED, "timeout": EXIT_TIMEOUT}.get(
                outcome, EXIT_INTERRUPTED
            )
            summary = await self._db(lambda: self._finish(outcome, code, stopped))
            self.display.close()
            if summary is not None:
                for line in _closing_lines(summary, self.req.summary, stopped):
                    self.display.line(line)
            self.pool.shutdown()
        return code

    def _open(self) -> None:
        """Open the run's store and note the last event id: the run shows what comes after it."""
        self.store = BeadStore(self.town)
        self.after = feed.last_id(self.store.db)

    def _start(self) -> None:
        """Pour and queue (formula) or queue (convoy) with the engine up; open the watch."""
        assert self.store is not None
        after = self.after
        actor = current_actor(None)
        if self.planned is not None:
            launched = runs.launch(self.town, self.planned, actor=actor, agent=self.req.agent, store=self.store)
            convoy = launched.convoy
        else:
            convoy = str(self.req.convoy)
            runs.queue_convoy(self.store, convoy, self.req.rig, actor=actor, agent=self.req.agent)
        self.watch = runs.ConvoyWatch(
            self.store, convoy, after_id=after, started=self.started, keep_going=self.req.keep_going
        )

    def _headline(self, engine: Engine) -> str:
        assert self.watch is not None
        c = self.watch.convoy
        what = f"formula {self.planned.formula}, " if self.planned is not None else ""
        limit = f"timeout {self.req.timeout:g} s" if self.req.timeout else "no timeout"
        return (
            f"gastown-tui: running convoy {c.id} ({what}{c.total} beads) on town {self.town.root}; "
            f"engine pid {engine_pid(self.town) or '?'}; {limit}"
        )

    async def _follow(self, started: float) -> str:
        """Show the run's events until it lands, fails, times out or is interrupted; the outcome."""
        assert self.watch is not None
        watch = self.watch
        deadline = None if self.req.timeout is None else started + self.req.timeout
        while True:
            shown = await self._db(watch.poll)
            for ev in shown:
                self.display.event(ev)
            self.display.progress(watch.convoy)
            verdict = watch.verdict()
            if verdict is not None:
                for ev in await self._db(watch.poll):  # what was written with the verdict
                    self.display.event(ev)
                self.display.progress(watch.convoy)
                return verdict
            if deadline is not None and time.time() >= deadline:
                return "timeout"
            if self.interrupted.is_set():
                return "interrupted"
            wait = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - time.time()))
            try:
                await asyncio.wait_for(self.interrupted.wait(), wait)
            except asyncio.TimeoutError:
                pass

    def _stop_sessions(self, engine: Engine) -> list[str]:
        """Kill the sessions of the run's polecats (engine stopped, so no witness restarts them)."""
        if self.watch is None:
            return []
        stopped = []
        for name in self.watch.sessions():
            try:
                if engine.host.exists(name):
                    engine.host.kill(name)
                    stopped.append(name)
            except NotFound:
                continue  # it ended by itself meanwhile
            except GtError as exc:
                self.display.line(f"gastown-tui: warning: could not stop session {name}: {exc}")
        return stopped

    def _finish(self, outcome: str, code: int, stopped: list[str]) -> dict[str, Any] | None:
        """Write the summary (None when the run never started) and close the watch's connection."""
        if self.store is None:
            return None
        try:
            if self.watch is None:
                return None
            self.watch.poll()
            summary = self.watch.summary(outcome, code)
            summary["sessions_stopped"] = stopped
            if self.req.summary is not None:
                atomic_write_text(self.req.summary, json.dumps(summary, indent=2, sort_keys=True) + "\n")
            return summary
        finally:
            self.store.disconnect()


def _closing_lines(summary: dict[str, Any], path: Path | None, stopped: list[str]) -> list[str]:
    """The last lines of a run: its outcome, each failure, and where the summary went."""
    t, c = summary["totals"], summary["convoy"]
    figures = (
        f"{t['merged']}/{t['beads']} beads merged, {t['gate_runs']} gate runs, "
        f"{len(stopped)} sessions stopped, {t['wall_s']:.1f} s"
    )
    outcome = summary["outcome"]
    if outcome == "landed":
        lines = [f"convoy {c['id']} landed: {figures}"]
    elif outcome == "failed":
        lines = [f"convoy {c['id']} FAILED: {figures}"]
        steps = {b["id"]: b["step"] for b in summary["beads"]}
        for f in summary["failures"]:
            step = f" (step {steps[f['bead']]})" if steps.get(f["bead"]) else ""
            log = f"; log {f['log']}" if f.get("log") else ""
            lines.append(f"  {f['bead']}{step}: {f['kind']}: {f['reason']}{log}")
    elif outcome == "timeout":
        lines = [
            f"convoy {c['id']} timed out: {figures}; its beads stay queued: resume with "
            f"'gastown-tui --no-ui run --convoy {c['id']}'"
        ]
    else:
        lines = [f"convoy {c['id']} interrupted: {figures}; resume with 'gastown-tui --no-ui run --convoy {c['id']}'"]
    if path is not None:
        lines.append(f"summary written to {path}")
    return lines


class _Display:
    """Where a run's progress goes."""

    def start(self, headline: str) -> None: ...

    def event(self, ev: Event) -> None: ...

    def progress(self, convoy: Convoy) -> None: ...

    def line(self, text: str) -> None: ...

    def close(self) -> None: ...


class _PlainDisplay(_Display):
    """Plain text, one line per event (CI logs, pipes)."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def line(self, text: str) -> None:
        self.out.write(strip_controls(text) + "\n")
        self.out.flush()

    def start(self, headline: str) -> None:
        self.line(headline)

    def event(self, ev: Event) -> None:
        self.line(feed.format_event(ev))


class _RichDisplay(_Display):
    """A rich live display on a terminal: event lines scroll above a table of the convoy's beads
    and a progress bar (closed / total beads, elapsed time)."""

    def __init__(self, out: IO[str]) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = Console(file=out, highlight=False)
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("beads"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self.task = self.bar.add_task("convoy", total=None)
        self.convoy: Convoy | None = None
        self.live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)
        self.live.start()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for col in ("bead", "status", "polecat", "merge", "title"):
            table.add_column(col, no_wrap=True, overflow="ellipsis", max_width=48 if col == "title" else None)
        for t in self.convoy.tracked if self.convoy else []:
            style = {"closed": "green", "in_progress": "cyan", "hooked": "yellow"}.get(t.status, "")
            merge = f"{t.mr} {t.mr_status}" if t.mr else ""
            if t.mr_status in ("failed", "conflict"):
                style = "red"
            table.add_row(
                *(Text(one_line(cell)) for cell in (t.id, t.status, (t.polecat or "").split("/")[-1], merge, t.title)),
                style=style,
            )
        return Group(table, self.bar)

    def start(self, headline: str) -> None:
        self.line(headline)

    def line(self, text: str) -> None:
        self.console.print(strip_controls(text), markup=False, highlight=False)

    def event(self, ev: Event) -> None:
        self.console.print(
            strip_controls(feed.format_event(ev)),
            markup=False,
            highlight=False,
            style="red" if ev.type in feed.PROBLEM_TYPES else None,
        )

    def progress(self, convoy: Convoy) -> None:
        self.convoy = convoy
        self.bar.update(self.task, description=convoy.id, total=convoy.total, completed=convoy.done)
        self.live.update(self._render())

    def close(self) -> None:
        self.live.stop()
