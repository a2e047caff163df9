"""The engine: one asyncio loop per town running every monitor (DESIGN sections 4 and 8, issue 7).

:class:`Engine` runs, each as its own loop:

- ``scheduler``: dispatches the sling queue (:mod:`core.scheduler`) on every wake;
- ``deacon``: convoys, stranded work, stale escalations (:meth:`core.deacon.Deacon.patrol`), every
  ``[deacon] patrol_interval`` and on database changes;
- ``checkpoint``: snapshots of dirty polecat worktrees (:meth:`core.deacon.Deacon.checkpoint`);
- ``ledger``: the debounced ledger commit (:meth:`core.deacon.Deacon.sync_ledger`);
- ``nudges``: queued nudges typed into idle agents (:func:`core.nudge.deliver_pending`);
- ``costs``: the agents' token usage read from their runtimes' records every
  :data:`core.costs.SCAN_INTERVAL_S` (:func:`core.usage.scan`), for the cockpit and the budget;
- ``gates``: formula steps' timer gates that are due and mail gates whose mail came are resolved
  (:func:`core.async_gates.check`), every :data:`core.async_gates.CHECK_INTERVAL_S` and on changes;
- per rig, ``witness:<rig>`` every ``[witness] patrol_interval``, ``refinery:<rig>`` (one batch at
  a time, on every wake while MRs are queued) and ``upstream:<rig>``, a fetch of the rig's upstream
  default branch every ``[upstream] fetch_interval`` (``direct`` and ``pr`` rigs; 0 turns it off:
  :func:`core.upstream.refresh`); rigs added or removed while it runs are picked up;
- ``board``: every ``[board] poll_interval``, each shared board is fetched and acted on (claims
  renewed, held work submitted, completions of posted items queued, merged items closed and
  stamped: :func:`core.board_work.patrol`);
- ``feed``: new events fanned out to :meth:`Engine.subscribe` queues.

Blocking work (SQLite, git, gates, tmux) runs in a thread pool; each loop owns its database
connection and runs one piece of work at a time. An exception in a loop is recorded as an
``engine_error`` event and the loop goes on after a backoff (doubling from the tick up to
:data:`MAX_BACKOFF_S`, deaf to database changes meanwhile); a run of identical failures is one event,
not one per try. A malformed ``town.toml``/``rig.toml`` stops the engine at start
(:func:`check_config`). Loops wake on their timer and on database changes: ``watchfiles`` watches
``.gastown/`` (non-recursively) for writes to ``town.db`` and its WAL, so a ``gt sling --queue`` from
another process is dispatched at once.

One engine per town: :meth:`Engine.run` takes ``.gastown/engine.lock`` (an ``flock`` through
``filelock``, non-blocking) and writes its pid to ``.gastown/engine.pid``; a second engine is refused
with the holder's pid. The kernel drops the lock when its holder dies, so a stale lock (and pid file)
left by a killed engine is simply taken over, and the pid file is believed only while the lock is held
(:func:`core.pidfile.engine_pid`). On stop (``stop()``, SIGTERM or SIGINT with
``handle_signals``) the loops finish their current work, the ledger is synced, the pid file removed
and the lock released; agent sessions keep running (they belong to tmux).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import filelock

from core import async_gates, events, nudge, usage
from core.atomic import atomic_write_text
from core.beads.store import BeadStore
from core.beads.sync import sync
from core.costs import SCAN_INTERVAL_S
from core.db import connect, transaction
from core.deacon import Deacon
from core.errors import Conflict, GtError
from core.feed import Subscriptions
from core.filemodes import private_dir
from core.pidfile import ENGINE_LOCK_FILE, ENGINE_PID_FILE, engine_pid, pid_alive
from core.rigs import list_rigs, load_rig
from core.runtimes.presets import presets
from core.scheduler import Scheduler
from core.sessions import SessionHost
from core.town import Town
from core.witness import Witness

log = logging.getLogger("gastown.engine")

LOCK_FILE = ENGINE_LOCK_FILE
#: Seconds :meth:`Engine.acquire` waits for the lock: long enough to ride out the instant a
#: ``gt status`` probes it (:func:`core.pidfile.engine_lock_held`), short enough to refuse at once.
ACQUIRE_WAIT_S = 1.0
ACTOR = "deacon"
#: Seconds a loop waits at least between two runs, however often the database changes.
MIN_GAP_S = 0.1
#: Seconds between two looks at ``[upstream] fetch_interval`` while it is 0 (fetching turned off).
UPSTREAM_IDLE_S = 60.0
#: The files whose changes wake the loops (the database and its write-ahead log).
WATCHED = ("town.db", "town.db-wal")


class EngineRunning(Conflict):
    """Another engine holds the town's lock."""


class Engine:
    """The engine of ``town``. host: the SessionHost (default: the town's tmux server). tick: the
    base timer in seconds (loops without a configured interval run at least this often; tests use a
    small value). refinery: run the per-rig refinery loops (the cockpit may leave merging to a
    separate process)."""

    def __init__(
        self, town: Town, host: SessionHost | None = None, *, tick: float = 1.0, refinery: bool = True
    ) -> None:
        if tick <= 0:
            raise GtError(f"the engine tick must be positive (got {tick})")
        self.town = town
        self.host = host or SessionHost(town)
        self.tick = float(tick)
        self.refinery = refinery
        self.pid_path = town.state_dir / ENGINE_PID_FILE
        self._lock = filelock.FileLock(str(town.state_dir / LOCK_FILE), thread_local=False)
        self._executor: ThreadPoolExecutor | None = None
        self._stopping: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakers: list[asyncio.Event] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._report_lock = threading.Lock()
        self._report_db: Any = None
        self._feed_lock = threading.Lock()
        self._subs: Subscriptions | None = None
        self._rigs: set[str] = set()
        self.running = False
        self.errors = 0

    # -- lifecycle --------------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the town's engine lock and write the pid file. Raises EngineRunning naming the pid."""
        private_dir(self.town.state_dir)
        try:
            self._lock.acquire(timeout=ACQUIRE_WAIT_S, poll_interval=0.02)
        except filelock.Timeout:
            pid = engine_pid(self.town)
            who = f"pid {pid}" if pid else "another process"
            raise EngineRunning(
                f"an engine is already running on town {self.town.root} ({who}): stop it with 'gt down', or use it"
            ) from None
        previous = None
        with contextlib.suppress(OSError, ValueError):
            previous = int(self.pid_path.read_text().strip())
        db = connect(self.town.db_path)
        try:
            with transaction(db):
                events.append(
                    db,
                    "engine_started",
                    ACTOR,
                    payload={"pid": os.getpid(), "took_over_from": previous if previous != os.getpid() else None},
                )
        finally:
            db.conn.close()
        atomic_write_text(self.pid_path, f"{os.getpid()}\n")

    def check_config(self) -> None:
        """:func:`check_config` of the engine's town."""
        check_config(self.town)

    def release(self) -> None:
        """Remove the pid file (if it is ours) and release the lock."""
        with contextlib.suppress(OSError, ValueError):
            if int(self.pid_path.read_text().strip()) == os.getpid():
                self.pid_path.unlink()
        self._lock.release(force=True)

    def stop(self) -> None:
        """Ask the engine to stop (thread-safe; returns at once)."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)

    async def run(self, handle_signals: bool = False) -> None:
        """Run until :meth:`stop` (or SIGTERM/SIGINT with ``handle_signals``, which needs the main
        thread). Raises EngineRunning when another engine holds the town, ConfigError (before the lock
        is taken or anything is written) for a malformed ``town.toml`` or ``rig.toml``."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self.check_config()
        self.acquire()
        self._executor = ThreadPoolExecutor(
            max_workers=8 + 3 * len(list_rigs(self.town)), thread_name_prefix="gt-engine"
        )
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(sig, self._stopping.set)
        self.running = True
        try:
            self._start_loops()
            await self._stopping.wait()
        finally:
            self.running = False
            self._stopping.set()
            for ev in self._wakers:
                ev.set()
            tasks = list(self._tasks.values())
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                await self._in_thread(self._final_sync)
            finally:
                if handle_signals:
                    for sig in (signal.SIGTERM, signal.SIGINT):
                        self._loop.remove_signal_handler(sig)
                self._executor.shutdown(wait=True)
                if self._report_db is not None:
                    self._report_db.conn.close()
                if self._subs is not None:
                    self._subs.db.conn.close()
                self._record("engine_stopped", {"pid": os.getpid()})
                self.release()

    def _final_sync(self) -> None:
        try:
            sync(self.town)
        except Exception as exc:  # noqa: BLE001 - shutdown goes on; the next engine syncs
            log.warning("ledger sync at shutdown failed: %s", exc)

    # -- subscriptions ----------------------------------------------------------------------------

    def subscribe(self, backlog: int = 0) -> asyncio.Queue[events.Event]:
        """A queue of every new event (written by any process) from now on, preceded by the
        ``backlog`` newest ones. Events arrive within about a tick. Call from the event loop."""
        with self._feed_lock:
            return self._feed().subscribe(backlog)

    def unsubscribe(self, q: asyncio.Queue[events.Event]) -> None:
        """Stop filling ``q``."""
        if self._subs is not None:
            self._subs.unsubscribe(q)

    def _feed(self) -> Subscriptions:
        if self._subs is None:
            self._subs = Subscriptions(connect(self.town.db_path))
        return self._subs

    def _poll_feed(self) -> list[events.Event]:
        with self._feed_lock:
            return self._feed().poll() if self._subs is not None and self._subs.count else []

    # -- loops ------------------------------------------------------------------------------------

    def _start_loops(self) -> None:
        from core.sling import Slinger

        def slinger() -> Slinger:
            return Slinger(self.town, host=self.host, store=BeadStore(self.town), actor=ACTOR)

        sched = _Lazy(lambda: Scheduler(self.town, slinger(), actor=ACTOR))
        deacon = _Lazy(lambda: Deacon(self.town, self.host, BeadStore(self.town)))
        checkpoints = _Lazy(lambda: Deacon(self.town, self.host, BeadStore(self.town)))
        ledger = _Lazy(lambda: Deacon(self.town, self.host, BeadStore(self.town)))
        nudges = _Lazy(lambda: connect(self.town.db_path))
        gate_store = _Lazy(lambda: BeadStore(self.town))
        setting = self.town.setting

        self._spawn("scheduler", lambda: sched().dispatch(), lambda: sched().next_start_in() or self.tick)
        self._spawn("deacon", lambda: deacon().patrol(), lambda: float(setting("deacon", "patrol_interval")))
        self._spawn(
            "checkpoint",
            lambda: checkpoints().checkpoint(),
            lambda: max(self.tick, min(float(setting("deacon", "checkpoint_interval")), 30.0)),
            wake=False,
        )
        self._spawn(
            "ledger",
            lambda: ledger().sync_ledger(),
            lambda: max(0.2, min(self.tick, float(setting("ledger", "commit_debounce")))),
            wake=False,
        )
        self._spawn("nudges", lambda: nudge.deliver_pending(self.town, self.host, nudges()), lambda: self.tick)
        usage_db = _Lazy(lambda: connect(self.town.db_path))
        self._spawn(
            "costs",
            lambda: usage.scan(self.town, usage_db()),
            lambda: max(self.tick, SCAN_INTERVAL_S),
            wake=False,
        )
        self._spawn("gates", lambda: async_gates.check(gate_store(), actor=ACTOR), lambda: async_gates.CHECK_INTERVAL_S)
        boards = _Lazy(lambda: connect(self.town.db_path))

        def board_patrol() -> None:
            from core import board_work

            board_work.patrol(self.town, boards())

        self._spawn("board", board_patrol, lambda: float(setting("board", "poll_interval")), wake=False)
        self._tasks["feed"] = asyncio.create_task(self._feed_loop(), name="feed")
        self._tasks["watch"] = asyncio.create_task(self._watch(), name="watch")
        self._tasks["rigs"] = asyncio.create_task(self._rigs_loop(), name="rigs")

    def _spawn(self, name: str, work: Callable[[], Any], interval: Callable[[], float], wake: bool = True) -> None:
        self._tasks[name] = asyncio.create_task(self._run_loop(name, work, interval, wake), name=name)

    async def _in_thread(self, fn: Callable[[], Any]) -> Any:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._executor, fn)

    async def _run_loop(
        self,
        name: str,
        work: Callable[[], Any],
        interval: Callable[[], float],
        wake: bool,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        """Run ``work`` in a thread, then wait ``interval()`` seconds or a database change; forever."""
        assert self._stopping is not None
        waker = asyncio.Event()
        if wake:
            self._wakers.append(waker)
        backoff = _Backoff(self.tick)
        try:
            while not self._stopping.is_set() and alive():
                again = False
                try:
                    again = await self._in_thread(work) is _AGAIN
                    backoff.ok()
                except Exception as exc:  # noqa: BLE001 - one loop's failure never stops the engine
                    if backoff.failed(exc):
                        await self._in_thread(functools.partial(self._report, name, exc, backoff))
                    else:
                        log.debug("engine loop %s failed again (%d in a row): %s", name, backoff.failures, exc)
                    # a failing loop waits out its backoff, deaf to database changes (its own error
                    # event is one, and would wake it at once)
                    await self._wait(asyncio.Event(), backoff.delay())
                    waker.clear()
                    continue
                if self._stopping.is_set():
                    break
                try:
                    timeout = 0.0 if again else max(MIN_GAP_S, float(interval()))
                except Exception:  # noqa: BLE001 - a bad setting falls back to the tick
                    timeout = self.tick
                await asyncio.sleep(MIN_GAP_S if not again else 0)
                if timeout > MIN_GAP_S:
                    await self._wait(waker, timeout - MIN_GAP_S)
                waker.clear()
        finally:
            if waker in self._wakers:
                self._wakers.remove(waker)

    async def _wait(self, waker: asyncio.Event, timeout: float) -> None:
        assert self._stopping is not None
        waits = [asyncio.ensure_future(waker.wait()), asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def wake(self) -> None:
        """Wake every loop that waits for database changes (thread-safe)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for ev in list(self._wakers):
            ev.set()

    async def _rigs_loop(self) -> None:
        """Start a witness and a refinery loop for each rig, and let loops of removed rigs end."""
        assert self._stopping is not None
        backoff = _Backoff(max(self.tick, 1.0))
        while not self._stopping.is_set():
            try:
                current = {r.name for r in await self._in_thread(lambda: list_rigs(self.town))}
                backoff.ok()
            except Exception as exc:  # noqa: BLE001
                if backoff.failed(exc):
                    await self._in_thread(functools.partial(self._report, "rigs", exc, backoff))
                current = self._rigs
            added = current - self._rigs
            self._rigs = current
            for name in sorted(added):
                self._start_rig(name)
            await self._wait(asyncio.Event(), backoff.delay() if backoff.failures else max(self.tick, 1.0))

    def _start_rig(self, rig: str) -> None:
        from core.refinery import Refinery
        from core.sling import Slinger

        def alive() -> bool:
            return rig in self._rigs

        witness = _Lazy(
            lambda: Witness(
                self.town, rig, Slinger(self.town, host=self.host, store=BeadStore(self.town), actor=f"{rig}/witness")
            )
        )
        self._spawn_rig(
            f"witness:{rig}",
            lambda: witness().patrol(),
            lambda: float(self.town.setting("witness", "patrol_interval")),
            False,
            alive,
        )
        if self.refinery:
            refinery = _Lazy(lambda: Refinery(self.town, rig))

            def merge() -> Any:
                r = refinery()
                if not r.db.execute(
                    "SELECT 1 FROM merge_requests WHERE rig = ? AND status IN ('queued', 'merging') LIMIT 1", [rig]
                ).fetchone():
                    return None
                try:
                    result = r.process_once()
                except Conflict:
                    return None  # another refinery process of this rig is working: it merges
                return _AGAIN if not result.empty else None

            self._spawn_rig(f"refinery:{rig}", merge, lambda: self.tick, True, alive)
        follow = _Lazy(lambda: connect(self.town.db_path))

        def fetch_interval() -> float:
            value = float(load_rig(self.town, rig).setting("upstream", "fetch_interval"))
            return value if value > 0 else UPSTREAM_IDLE_S

        def fetch() -> None:
            from core import upstream

            r = load_rig(self.town, rig)
            if upstream.strategy(r) != "local" and float(r.setting("upstream", "fetch_interval")) > 0:
                upstream.refresh(self.town, r, follow(), during="timer", actor=f"{rig}/refinery")

        self._spawn_rig(f"upstream:{rig}", fetch, fetch_interval, False, alive)

    def _spawn_rig(
        self, name: str, work: Callable[[], Any], interval: Callable[[], float], wake: bool, alive: Callable[[], bool]
    ) -> None:
        old = self._tasks.get(name)
        if old is not None and not old.done():
            return
        self._tasks[name] = asyncio.create_task(self._run_loop(name, work, interval, wake, alive), name=name)

    async def _feed_loop(self) -> None:
        assert self._stopping is not None
        waker = asyncio.Event()
        self._wakers.append(waker)
        backoff = _Backoff(min(self.tick, 0.5))
        while not self._stopping.is_set():
            try:
                batch = await self._in_thread(self._poll_feed)
                if batch and self._subs is not None:
                    self._subs.publish(batch)
                backoff.ok()
            except Exception as exc:  # noqa: BLE001
                if backoff.failed(exc):
                    await self._in_thread(functools.partial(self._report, "feed", exc, backoff))
                await self._wait(asyncio.Event(), backoff.delay())
                continue
            await asyncio.sleep(MIN_GAP_S)
            await self._wait(waker, min(self.tick, 0.5))
            waker.clear()

    async def _watch(self) -> None:
        """Wake the loops when ``town.db`` or its WAL is written (watchfiles; stat polling if the
        platform's watcher fails)."""
        assert self._stopping is not None
        try:
            import watchfiles

            def only_db(_change: Any, path: str) -> bool:
                return os.path.basename(path) in WATCHED

            async for _ in watchfiles.awatch(
                self.town.state_dir,
                watch_filter=only_db,
                recursive=False,
                stop_event=self._stopping,
                step=50,
                debounce=100,
                yield_on_timeout=False,
                rust_timeout=500,
            ):
                self._wake_all()
            return
        except Exception as exc:  # noqa: BLE001 - fall back to polling below
            log.warning("watchfiles failed (%s): polling the database files", exc)
        seen = None
        while not self._stopping.is_set():
            stamp = []
            for name in WATCHED:
                with contextlib.suppress(OSError):
                    st = os.stat(self.town.state_dir / name)
                    stamp.append((st.st_mtime_ns, st.st_size))
            if seen is not None and stamp != seen:
                self._wake_all()
            seen = stamp
            await self._wait(asyncio.Event(), 0.1)

    # -- errors -----------------------------------------------------------------------------------

    def _report(self, loop: str, exc: BaseException, backoff: _Backoff | None = None) -> None:
        """Record ``exc`` raised by ``loop`` as an ``engine_error`` event (and in the log). A config
        error (:class:`GtError`: one line with its fix) is recorded without a traceback. backoff: the
        loop's :class:`_Backoff`, whose next delay (``retry_in``, seconds) the event names."""
        self.errors += 1
        payload: dict[str, Any] = {"loop": loop, "error": f"{type(exc).__name__}: {exc}"}
        if backoff is not None:
            payload["retry_in"] = round(backoff.delay(), 3)
        if isinstance(exc, GtError):
            log.error("engine loop %s failed: %s", loop, exc)
        else:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            log.error("engine loop %s failed: %s", loop, tb)
            payload["traceback"] = tb[-2000:]
        self._record("engine_error", payload)

    def _record(self, kind: str, payload: dict[str, Any]) -> None:
        with self._report_lock:
            try:
                if self._report_db is None or kind == "engine_stopped":
                    db = connect(self.town.db_path)
                else:
                    db = self._report_db
                with transaction(db):
                    events.append(db, kind, ACTOR, payload=payload)
                if kind == "engine_stopped":
                    db.conn.close()
                else:
                    self._report_db = db
            except Exception as exc:  # noqa: BLE001 - the database itself is failing: log only
                log.error("cannot record %s: %s", kind, exc)


_AGAIN = object()
#: The longest a failing loop waits before trying again, in seconds.
MAX_BACKOFF_S = 60.0


class _Backoff:
    """Consecutive failures of one engine loop: the wait before the next try doubles from ``base``
    seconds up to :data:`MAX_BACKOFF_S`, and only the first failure of a run of identical ones is worth
    an event (a different error is recorded again). A success resets it."""

    def __init__(self, base: float) -> None:
        self.base = max(MIN_GAP_S, float(base))
        self.failures = 0
        self._last: str | None = None

    def failed(self, exc: BaseException) -> bool:
        """Count a failure; True when it should be recorded (the first of its kind in this run)."""
        self.failures += 1
        text = f"{type(exc).__name__}: {exc}"
        new = text != self._last
        self._last = text
        return new

    def ok(self) -> None:
        """The loop's work succeeded: back to the normal pace."""
        if self.failures > 1:
            log.info("engine loop recovered after %d failures", self.failures)
        self.failures = 0
        self._last = None

    def delay(self) -> float:
        """Seconds to wait after the latest failure."""
        if self.failures == 0:
            return 0.0
        return min(MAX_BACKOFF_S, self.base * 2.0 ** min(self.failures - 1, 32))


class _Lazy:
    """Builds its value on first call, in whichever thread calls it first (loops own their
    connections, created in the worker thread that uses them)."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self.value: Any = None

    def __call__(self) -> Any:
        if self.value is None:
            self.value = self.factory()
        return self.value


def check_config(town: Town) -> None:
    """Load and validate ``town.toml`` and every ``rig.toml`` afresh (:func:`core.config.load_town_config`,
    :func:`core.config.load_rig_config`: every setting of its type) and the ``[agents]`` presets
    (:func:`core.runtimes.presets.presets`), as the engine does before it starts. Raises ConfigError:
    one line naming the file, key and fix."""
    town.reload()
    town.config  # noqa: B018 - loading validates
    presets(town)
    list_rigs(town)


def run_foreground(town: Town, tick: float = 1.0, on_start: Callable[[Engine], None] | None = None) -> int:
    """Run the engine of ``town`` in this process until SIGTERM or SIGINT (``gt up``,
    ``gastown-tui --no-ui``). on_start: called once the lock is held. Returns 0; raises
    EngineRunning when another engine holds the town."""
    engine = Engine(town, tick=tick)

    async def main() -> None:
        task = asyncio.create_task(engine.run(handle_signals=True))
        while not engine.running and not task.done():
            await asyncio.sleep(0.02)
        if engine.running and on_start is not None:
            on_start(engine)
        await task

    asyncio.run(main())
    return 0


def wait_stopped(pid: int, timeout: float) -> bool:
    """Poll until process ``pid`` is gone; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True
