"""The cockpit: a full-screen Textual app on one town, running the engine in-process (DESIGN sections 4
and 9, issue 9).

- A poller thread reads the town (:func:`core.townview.read_snapshot`: SQLite, one
  ``tmux list-panes``, transcript mtimes) about once a second and new events every
  ``poll_interval``; it hands them to the screens on the event loop. Any process's change shows up:
  the database is the source of truth, so quitting and reopening shows the same agents still working.
- The engine (:class:`core.engine.Engine`) runs as a task on the app's loop. If another engine holds
  the town it says so; an engine error is shown in the header and the feed, never a crash.
- Every blocking action (sling, nuke, nudge, bead and convoy writes, formula pours, tmux) is one of
  :class:`gastown_tui.actions.CockpitActions` (``app.actions``), run in a thread worker
  (:meth:`CockpitApp.run_blocking`, the runner it is given); a refusal (GtError) becomes a toast.
- Toasts: merged, merge failed, escalation, convoy landed, engine errors, an agent that starts
  waiting for input (with the bell, or a desktop notification: ``[cockpit] notify``,
  :mod:`gastown_tui.alerts`). Every toast, and every
  other string the cockpit shows, is text, never markup (:mod:`widgets.safe_text`, issue 15).
- Themes ``gastown`` and ``gastown-light`` (:mod:`themes`); ``t`` switches and remembers the choice
  in ``town.toml`` (``theme``).
- The palette's Screenshot saves an SVG of the screen to the town's ``.gastown/screenshots/``
  (:data:`SCREENSHOTS`, made when missing) and names the file in a toast, or the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from textual._files import generate_datetime_filename
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.worker import get_current_worker

from core import events, mayor
from core.atomic import atomic_write_text
from core.config import edit_toml, keys_table
from core.db import connect
from core.errors import GtError
from core.plaintext import strip_controls
from core.sessions import SIZE_VARS, SessionHost
from core.town import Town
from core.townview import TownSnapshot, read_snapshot
from gastown_tui.actions import CockpitActions
from gastown_tui.alerts import WaitingAlerts, desktop_notify, waiting_text
from gastown_tui.keyorder import KeyOrder
from gastown_tui.screens.keys import bindings, help_rows, keymap
from gastown_tui.screens.main import MainScreen
from themes import DARK, LIGHT, THEMES, other

T = TypeVar("T")

QUIT_MESSAGE = (
    "gastown-tui: cockpit closed. The agents keep running in tmux; reopen with `gastown-tui` (or look with `gt peek`)."
)
#: What the quit message adds about the engine, by what became of it.
ENGINE_AFTER_QUIT = {
    "detached": " The engine keeps running in the background ({detail}): merges, monitors and the scheduler go on;"
    " stop it with `gt down`.",
    "stopped": " The engine is stopped: nothing merges and no polecat is watched until `gt up` (or the cockpit) "
    "starts it.",
    "elsewhere": " The engine keeps running in its own process (`gt down` stops it).",
    "failed": " The engine is stopped: starting it in the background failed ({detail}); start it with `gt up --detach`.",
}
#: Seconds between two checks of whether a demo run ended.
DEMO_CHECK_S = 1.0
#: Seconds ``gt up --detach`` may take to report the engine up.
DETACH_TIMEOUT_S = 60.0
#: Event types that raise a toast, with their severity.
TOASTS = {
    "merged": "information",
    "merge_failed": "error",
    "merge_conflict": "error",
    "escalation": "warning",
    "convoy_landed": "information",
    "engine_error": "error",
}
FEED_BACKLOG = 50
#: Seconds after mount the start-up is over at the latest (:meth:`CockpitApp._started`); it is over
#: sooner, once the first snapshot is drawn. Until then the engine waits (importing and starting it:
#: witnesses, refineries, the deacon, on this event loop) and so does the garbage collector
#: (:func:`gastown_tui.cockpit.open_cockpit` turns it off): both would delay the first frame with the town's agents
#: (issue 21 part 8, bench/bench_cockpit.py).
STARTED_LATEST = 2.0
#: Seconds between two snapshots read because events came (a wake or the snapshot interval reads at once).
SNAPSHOT_GAP = 0.5
SCREENS_DIR = Path(__file__).parent / "screens"
#: Where the palette's Screenshot saves, under the town's state folder (README "The cockpit").
SCREENSHOTS = "screenshots"


class CockpitCommands(Provider):
    """Command palette entries: every action of :data:`gastown_tui.screens.keys.KEYMAP`, each with
    its key as the town's ``[keys]`` binds it."""

    def _commands(self) -> Iterable[tuple[str, str, str]]:
        app = self.app
        assert isinstance(app, CockpitApp)
        for key, action, title, text in help_rows(app.key_overrides):
            if action:
                yield title, action, f"{key} · {text}"

    async def discover(self) -> Hits:
        app = self.app
        assert isinstance(app, CockpitApp)
        for title, action, text in self._commands():
            yield DiscoveryHit(title, partial(app.run_main_action, action), help=text)

    async def search(self, query: str) -> Hits:
        app = self.app
        assert isinstance(app, CockpitApp)
        matcher = self.matcher(query)
        for title, action, text in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(app.run_main_action, action), help=text)


class CockpitApp(App):
    """The cockpit on ``town``.

    host: the session host (default: the town's private tmux server). clock: Unix-seconds clock used
    for ages (tests freeze it). start_engine: run :class:`core.engine.Engine` in-process.
    start_mayor: start the Mayor session if it is not running. poll_interval: seconds between two
    reads of new events; snapshot_interval: seconds between two full reads at most. demo: a
    :class:`gastown_tui.demo.DemoWatch`, checked every :data:`DEMO_CHECK_S` seconds in a thread; when
    the run ends its summary is shown (:class:`gastown_tui.screens.modals.DemoSummaryModal`).
    ``key_overrides``: town.toml's ``[keys]`` (binding id -> keys), checked here and handed to
    ``set_keymap`` at mount. Raises ConfigError (one line naming the id or key) for a bad ``[keys]``.
    """

    TITLE = "gastown-tui"
    BINDINGS = bindings("app")
    COMMANDS = App.COMMANDS | {CockpitCommands}
    #: Each screen's styles, in its own file next to it (loaded by the app: Textual does not load a
    #: default screen's CSS_PATH).
    CSS_PATH = [
        SCREENS_DIR / f"{name}.tcss"
        for name in (
            "main",
            "grid",
            "problems",
            "boards",
            "mail",
            "help",
            "modals",
            "polecat",
            "merge_request",
            "bead",
            "convoy",
            "ledger_dialogs",
        )
    ]

    def __init__(
        self,
        town: Town,
        host: SessionHost | None = None,
        *,
        clock: Callable[[], float] | None = None,
        start_engine: bool = True,
        start_mayor: bool = True,
        poll_interval: float = 0.25,
        snapshot_interval: float = 1.0,
        demo: Any = None,
    ) -> None:
        super().__init__()
        #: A :class:`gastown_tui.demo.DemoWatch`: its summary is shown when the demo run ends.
        self.demo = demo
        self.demo_outcome: Any = None
        self.town = town
        self.key_overrides: dict[str, str] = keymap(keys_table(town.config, town.config_path), str(town.config_path))
        self.host = host or SessionHost(town)
        #: The cockpit's actions (what the screens call), run by :meth:`run_blocking`.
        self.actions = CockpitActions(town, self.host, self.run_blocking, self.notify, follow=self._follow)
        self.clock = clock or time.time
        self.start_engine = start_engine
        self.start_mayor = start_mayor
        self.poll_interval = poll_interval
        self.snapshot_interval = snapshot_interval
        self.snapshot: TownSnapshot | None = None
        self.engine: Any = None
        self.engine_state = "off"
        self.snapshots = 0  # snapshots applied (tests and the benchmark read it)
        self._engine_task: asyncio.Task[None] | None = None
        self._wake = threading.Event()
        self._started_at = time.time()
        self._pending_select: str | None = None
        self._main: MainScreen | None = None
        self._log_handler: logging.Handler | None = None
        self._inbox_lock = threading.Lock()
        self._inbox_snapshot: TownSnapshot | None = None
        self._inbox_events: list[events.Event] = []
        self._inbox_error: Exception | None = None
        self._inbox_posted = False
        self._starting = True
        self._alerts = WaitingAlerts()
        #: Keys and pastes handled one at a time, in the order read (see :mod:`gastown_tui.keyorder`).
        self._key_order = KeyOrder(self, partial(App.on_event, self))

    # ---- lifecycle ------------------------------------------------------------------------------
    @property
    def main(self) -> MainScreen:
        """The main screen (always at the bottom of the screen stack)."""
        assert self._main is not None
        return self._main

    async def on_event(self, event: Message) -> None:
        """A key or paste read from the terminal waits for the one before it (:class:`KeyOrder`)."""
        await self._key_order.on_event(event)

    def get_default_screen(self) -> MainScreen:
        if self._main is None:
            self._main = MainScreen()
        return self._main

    def on_mount(self) -> None:
        if self.key_overrides:
            self.set_keymap(self.key_overrides)
        for theme in THEMES:
            self.register_theme(theme)
        wanted = str(self.town.setting(None, "theme"))
        self.theme = wanted if wanted in (DARK, LIGHT) else DARK
        self.theme_changed_signal.subscribe(self, lambda _theme: self._after_theme())
        self._log_handler = _log_to_file(self.town)
        self.run_worker(self._poll_loop, thread=True, group="poll", name="poller", exit_on_error=False)
        if self.start_mayor:
            self.run_blocking("start the Mayor", self._ensure_mayor)
        if self.start_engine:
            self.engine_state = "starting"
        self.set_timer(STARTED_LATEST, self._started)

    def _started(self) -> None:
        """The first snapshot is drawn (or :data:`STARTED_LATEST` passed): turn the garbage collector
        back on and start the engine (once)."""
        if not self._starting:
            return
        self._starting = False
        gc.enable()
        if self.start_engine and not self._exit:
            self._start_engine()
        if self.demo is not None:
            self._demo_timer = self.set_interval(DEMO_CHECK_S, self._check_demo)

    def _check_demo(self) -> None:
        """Ask the demo watch (in a thread) whether the run ended; show its summary once when it has."""
        if self.demo_outcome is not None:
            return

        def shown(result: Any) -> None:
            if result is None or self.demo_outcome is not None:
                return
            from gastown_tui.screens.modals import DemoSummaryModal

            self.demo_outcome = result
            self._demo_timer.stop()
            self.push_screen(DemoSummaryModal(result))

        def job() -> None:
            try:
                result = self.demo.check()
            except Exception as exc:  # noqa: BLE001 - a read that failed is tried again at the next tick
                logging.getLogger("gastown").warning("demo summary: %s", exc)
                return
            self.call_from_thread(shown, result)

        self.run_worker(job, thread=True, group="demo", exclusive=True, exit_on_error=False)

    def get_key_display(self, binding: Binding) -> str:
        """The key as the footer shows it: a binding the keymap moved shows its new key, not the
        ``key_display`` its table row gave the old one (``?``, ``ctrl+]``)."""
        if binding.id and binding.id in self.key_overrides and binding.key_display:
            binding = dataclasses.replace(binding, key_display=None)
        return super().get_key_display(binding)

    async def action_quit_cockpit(self) -> None:
        """Quit. With the engine running here, ask first (:class:`gastown_tui.screens.modals.QuitModal`):
        keep it running in the background (``gt up --detach``) or stop it; the exit message says what
        keeps running (the agents in tmux always; the engine when kept, or when it runs elsewhere)."""
        from gastown_tui.screens.modals import QuitModal

        if self.engine is not None and self.engine.running and self._engine_task is not None:

            def chosen(choice: str | None) -> None:
                if choice:
                    self.run_worker(self._quit(choice), group="quit", exclusive=True)

            self.push_screen(QuitModal(), chosen)
            return
        await self._quit("elsewhere" if self.engine_state == "running in another process" else "stopped")

    async def _quit(self, choice: str) -> None:
        """Stop the in-process engine; for ``keep``, start it again in the background with ``gt up
        --detach`` (argv, no shell: the verb's own code); then exit with the message for what became of it."""
        await self._stop_engine()
        outcome, detail = {"stop": "stopped"}.get(choice, choice), ""
        if choice == "keep":
            outcome, detail = await asyncio.to_thread(self._detach_engine)
        self.exit(message=QUIT_MESSAGE + ENGINE_AFTER_QUIT[outcome].format(detail=detail))

    def _detach_engine(self) -> tuple[str, str]:
        """Run ``gt up --detach`` on this town: (``detached``, its line naming the pid) or (``failed``,
        why). Blocks up to :data:`DETACH_TIMEOUT_S` seconds."""
        argv = [sys.executable, "-P", "-m", "gastown_tui.cli", "--town", str(self.town.root), "up", "--detach"]
        try:
            proc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=DETACH_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return "failed", strip_controls(str(exc))
        out = (proc.stdout or proc.stderr).strip()
        said = strip_controls(out.splitlines()[-1]) if out else ""
        if proc.returncode != 0:
            return "failed", said or f"gt up --detach exited {proc.returncode}"
        pid = re.search(r"pid (\d+)", said)
        log = self.town.logs_dir / "engine.log"
        return "detached", f"pid {pid.group(1)}, log {log}" if pid else f"log {log}"

    async def _on_exit_app(self) -> None:
        """Any way out (ctrl+q, q, the palette) stops the engine first and closes the cockpit log."""
        await self._stop_engine()
        if self._log_handler is not None:
            logging.getLogger("gastown").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        await super()._on_exit_app()

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast (Textual's ``App.notify``, which every widget's ``notify`` calls) shown as text:
        ``message`` and ``title`` often quote agent-written text (bead titles, escalation reasons,
        errors), so they are never parsed as markup and lose their control characters
        (:func:`core.plaintext.strip_controls`). ``markup`` is accepted for Textual's signature and
        ignored. Thread-safe, like Textual's."""
        kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        super().notify(
            strip_controls(str(message)), title=strip_controls(str(title)), severity=severity, markup=False, **kwargs
        )

    # ---- polling --------------------------------------------------------------------------------
    def wake(self) -> None:
        """Read the town again now (after an action), instead of at the next interval."""
        self._wake.set()

    class TownRead(Message):
        """The poller put a new snapshot (and maybe events) in the app's inbox."""

    def _poll_loop(self) -> None:
        """Thread worker: new events every poll_interval (delivered at once, for the feed and the
        toasts); a full snapshot when woken, every snapshot_interval, and when events came but at
        most every SNAPSHOT_GAP seconds (a busy town writes events all the time: each snapshot is
        CPU time the event loop's thread would wait for, the GIL being shared). Results go to an
        inbox the event loop drains (only the newest snapshot counts; the thread never waits for
        the loop). Errors become toasts."""
        worker = get_current_worker()
        db = connect(self.town.db_path)
        try:
            last_id = _last_event_id(db)
            pending = events.query(db, after_id=max(0, last_id - FEED_BACKLOG))
            changed = True
            last_snapshot = next_snapshot = 0.0
            while not worker.is_cancelled:
                try:
                    fresh = events.query(db, after_id=last_id, limit=1000)
                    if fresh:
                        last_id = fresh[-1].id
                        changed = True
                    pending.extend(fresh)
                    now = time.monotonic()
                    snap = None
                    if self._wake.is_set() or now >= next_snapshot or (changed and now >= last_snapshot + SNAPSHOT_GAP):
                        self._wake.clear()
                        snap = read_snapshot(self.town, db, self.host, now=self.clock())
                        last_snapshot = time.monotonic()
                        next_snapshot = last_snapshot + self.snapshot_interval
                        changed = False
                    if snap is not None or pending:
                        self._deliver(snap, pending, None)
                        pending = []
                except Exception as exc:  # noqa: BLE001 - a bad read must not stop the cockpit
                    self._deliver(None, [], exc)
                    self._wake.wait(self.snapshot_interval)
                self._wake.wait(self.poll_interval)
        finally:
            db.conn.close()

    def _deliver(self, snap: TownSnapshot | None, new_events: list[events.Event], error: Exception | None) -> None:
        """From the poller thread: put results in the inbox and post one TownRead if none is pending."""
        with self._inbox_lock:
            if snap is not None:
                self._inbox_snapshot = snap
            self._inbox_events.extend(new_events)
            if error is not None:
                self._inbox_error = error
            if self._inbox_posted:
                return
            self._inbox_posted = True
        self.post_message(self.TownRead())

    def on_cockpit_app_town_read(self, _message: TownRead) -> None:
        with self._inbox_lock:
            snap, self._inbox_snapshot = self._inbox_snapshot, None
            new_events, self._inbox_events = self._inbox_events, []
            error, self._inbox_error = self._inbox_error, None
            self._inbox_posted = False
        if self._exit or not self.main.is_attached:
            return  # closing: the screens are being torn down
        if error is not None:
            self._poll_failed(error)
        try:
            self._apply(snap, new_events)
        except NoMatches:
            pass  # a screen is being composed or torn down: the next read shows it all

    def _apply(self, snap: TownSnapshot | None, new_events: list[events.Event]) -> None:
        main = self.main
        if snap is not None:
            self.snapshot = snap
            self.snapshots += 1
            main.apply_snapshot(snap)
            if self._starting:
                self.call_after_refresh(self._started)
            if self._pending_select and snap.agent(self._pending_select):
                main.select_agent(self._pending_select)
                self._pending_select = None
            if self.screen is not main and self.screen.is_mounted and hasattr(self.screen, "apply_snapshot"):
                self.screen.apply_snapshot(snap)
            started = self._alerts.update(snap)
            if started:
                self._alert_waiting(started)
        main.add_events(new_events)
        for e in new_events:
            self._toast(e)

    def _alert_waiting(self, agents: list[Any]) -> None:
        """Agents that just started waiting for input (:class:`gastown_tui.alerts.WaitingAlerts`): a
        toast each, and per ``[cockpit] notify`` the terminal bell once (``bell``), plus a desktop
        notification in a thread (``desktop``), or nothing (``off``)."""
        mode = str(self.town.setting("cockpit", "notify"))
        lines = [waiting_text(a) for a in agents]
        for line in lines:
            self.notify(line, title="waiting for input", severity="warning")
        if mode == "off":
            return
        self.bell()
        if mode == "desktop":
            body = "; ".join(lines)
            self.run_worker(
                lambda: desktop_notify("gastown-tui: waiting for input", body),
                thread=True,
                group="alerts",
                exit_on_error=False,
            )

    def _poll_failed(self, exc: Exception) -> None:
        self.notify(f"{type(exc).__name__}: {exc}", title="reading the town failed", severity="error", timeout=5)

    def _toast(self, e: events.Event) -> None:
        severity = TOASTS.get(e.type)
        if severity is None or e.ts < self._started_at:
            return
        p = e.payload
        text = {
            "merged": lambda: f"{e.bead or p.get('mr')} merged ({p.get('mr')})",
            "merge_failed": lambda: f"{e.bead or p.get('mr')}: {p.get('gate') or 'merge'} failed ({p.get('mr')})",
            "merge_conflict": lambda: f"{e.bead or p.get('mr')} conflicts ({p.get('mr')})",
            "escalation": lambda: f"{p.get('severity', '')} {e.bead or ''}: {p.get('reason', '')}".strip(),
            "convoy_landed": lambda: f"Convoy landed: {p.get('name') or e.bead}",
            "engine_error": lambda: f"engine {p.get('loop', '')}: {p.get('error', '')}",
        }[e.type]()
        self.notify(text, title=e.type.replace("_", " "), severity=severity)  # type: ignore[arg-type]

    # ---- engine ---------------------------------------------------------------------------------
    def _start_engine(self) -> None:
        from core.engine import Engine, EngineRunning

        try:
            self.engine = Engine(self.town, host=self.host)
        except GtError as exc:
            self._engine_failed(exc)
            return
        self.engine_state = "starting"

        async def run() -> None:
            try:
                await self.engine.run()
            except EngineRunning as exc:
                self.engine_state = "running in another process"
                self.notify(str(exc), title="engine", severity="information")
            except Exception as exc:  # noqa: BLE001 - shown, not a crash
                self._engine_failed(exc)
            else:
                self.engine_state = "stopped"

        self._engine_task = asyncio.get_running_loop().create_task(run())
        self.set_timer(0.5, self._engine_started)

    def _engine_started(self) -> None:
        if self.engine is not None and self.engine.running:
            self.engine_state = "running"

    def _engine_failed(self, exc: BaseException) -> None:
        self.engine_state = f"error ({type(exc).__name__})"
        self.notify(
            f"{type(exc).__name__}: {exc}",
            title="engine error (merges and monitors paused)",
            severity="error",
            timeout=10,
        )

    async def _stop_engine(self) -> None:
        task, self._engine_task = self._engine_task, None
        if task is None or self.engine is None:
            return
        self.engine.stop()
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(asyncio.shield(task), timeout=10)

    # ---- blocking actions -----------------------------------------------------------------------
    def run_blocking(self, what: str, fn: Callable[[], T], done: Callable[[T], None] | None = None) -> None:
        """Run ``fn`` in a thread worker; then ``done(result)`` on the event loop. A GtError is a
        toast ("<what> refused"), any other exception a toast too ("<what> failed"); the town is
        read again afterwards either way."""

        def job() -> None:
            try:
                result = fn()
            except GtError as exc:
                self.call_from_thread(self.notify, str(exc), title=f"{what}: refused", severity="error")
            except Exception as exc:  # noqa: BLE001 - shown, not a crash
                self.call_from_thread(
                    self.notify, f"{type(exc).__name__}: {exc}", title=f"{what}: failed", severity="error"
                )
            else:
                if done is not None:
                    self.call_from_thread(done, result)
            finally:
                self.wake()

        self.run_worker(job, thread=True, group="actions", exit_on_error=False)

    def _ensure_mayor(self) -> None:
        mayor.ensure(self.town, self.host)

    def _follow(self, key: str) -> None:
        """Show agent ``key`` once a snapshot has it (a sling's new polecat)."""
        self._pending_select = key

    def select_agent(self, key: str) -> None:
        """Show agent ``key`` on the main screen (:class:`gastown_tui.actions.Cockpit`)."""
        self.main.select_agent(key)

    # ---- app actions ----------------------------------------------------------------------------
    def get_system_commands(self, screen: Any) -> Iterable[SystemCommand]:
        """Textual's palette commands, with Screenshot saving to the town (:meth:`action_screenshot`)."""
        for command in super().get_system_commands(screen):
            if command.title == "Screenshot":
                where = self.town.state_dir / SCREENSHOTS
                yield SystemCommand(
                    "Screenshot",
                    f"Save an SVG screenshot of the screen to {where}",
                    lambda: self.set_timer(0.1, self.action_screenshot),  # once the palette has closed
                )
            else:
                yield command

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Save an SVG of the screen as ``filename`` (default: the title and the time) in ``path``
        (default: the town's ``.gastown/screenshots/``, made when missing), atomically, and say
        where in a toast; an error (a folder that cannot be made or written) is a toast naming it.
        In a browser (textual-serve) the file is downloaded instead (Textual's ``deliver_screenshot``)."""
        if self.is_web:
            self.deliver_screenshot(filename, path)
            return
        folder = Path(path) if path else self.town.state_dir / SCREENSHOTS
        target = folder / (filename or generate_datetime_filename(self.title, ".svg"))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, self.export_screenshot())
        except OSError as exc:
            self.notify(f"screenshot not saved: {target}: {exc.strerror or exc}", title="Screenshot", severity="error")
            return
        self.notify(f"Saved screenshot to {target}", title="Screenshot")

    async def run_main_action(self, action: str) -> None:
        """Run a KEYMAP action: ``app.<name>`` on the app, anything else on the main screen."""
        await self.run_action(action, default_namespace=self.main)

    def action_toggle_theme(self) -> None:
        """Switch dark <-> light and remember it in town.toml (``theme``)."""
        self.theme = other(self.theme)
        name = self.theme

        def save() -> None:
            with edit_toml(self.town.config_path) as doc:
                doc["theme"] = name
            self.town.reload()

        self.run_blocking("save theme", save)

    def _after_theme(self) -> None:
        if self._main is not None and self._main.is_mounted:
            from widgets.agents import AgentsTree

            self._main.query_one(AgentsTree).relabel()


def _last_event_id(db: Any) -> int:
    row = db.execute("SELECT MAX(id) FROM events").fetchone()
    return int(row[0] or 0)


def _log_to_file(town: Town) -> logging.Handler:
    """Send the engine's log records (logger ``gastown``) to ``.gastown/logs/cockpit.log``, never onto
    the screen. Returns the handler (removed when the cockpit exits)."""
    logger = logging.getLogger("gastown")
    town.logs_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(town.logs_dir / "cockpit.log", encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    return handler


def run_cockpit(town: Town, demo: Any = None) -> int:
    """Open the cockpit on ``town`` until the user quits; returns the exit status (0). demo: the
    :class:`gastown_tui.demo.DemoWatch` of a demo run whose summary it shows when the run ends.

    On a terminal, exported ``COLUMNS``/``LINES`` are dropped first: Textual sizes the screen with
    ``shutil.get_terminal_size``, which prefers them to the terminal's own size (a CI runner's or a
    script's 80x24 would pin a 160-column cockpit to 80x24 and never follow a resize); like tmux and
    lazygit, the cockpit draws at the size the terminal reports. Without a terminal (textual-serve's
    web driver, ``gt dashboard``) they are the browser's size and stay."""
    if sys.__stdout__ is not None and os.isatty(sys.__stdout__.fileno()):
        for name in SIZE_VARS:
            os.environ.pop(name, None)
    app = CockpitApp(town, demo=demo)
    app.run()
    return app.return_code or 0
