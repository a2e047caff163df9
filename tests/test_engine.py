"""The engine as a whole: one per town, clean shutdown, the feed subscription, loop errors, convoys
landing by themselves, and a kill -9 in the middle of a convoy (issue 7)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from core import convoys, events, git, mail, mq, polecats, scheduler
from core.beads.store import BeadStore
from core.deacon import Deacon
from core.engine import Engine, EngineRunning, engine_pid
from core.sessions import SessionHost
from tests.conftest import VENV_BIN
from tests.test_engine_support import SH, EngineThread, configure, create_bead, wait_for


def _gt_up(town, gt_env, tick: float = 0.25) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(VENV_BIN / "gt"), "up", "--tick", str(tick)],
        cwd=town.root,
        env=gt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: engine_pid(town) == proc.pid or proc.poll() is not None, timeout=30)
    assert proc.poll() is None, proc.stderr.read()
    return proc


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    """Engine processes started by a test; any still running at teardown are terminated."""
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _types(town, bead: str | None = None, kinds: tuple[str, ...] | None = None) -> list[events.Event]:
    with BeadStore(town) as store:
        return events.query(store.db, bead=bead, types=kinds)


def test_second_engine_refuses_and_gt_down_stops_the_first(fast_town, demo_rig, run_gt, gt_env, procs) -> None:
    first = _gt_up(fast_town, gt_env)
    procs.append(first)
    res = run_gt("up", cwd=fast_town.root)
    assert res.returncode == 2
    assert "already running" in res.stderr and f"pid {first.pid}" in res.stderr
    res = subprocess.run(
        [str(VENV_BIN / "gastown-tui"), "--no-ui"],
        cwd=fast_town.root,
        env=gt_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and f"pid {first.pid}" in res.stderr
    with pytest.raises(EngineRunning, match=f"pid {first.pid}"):
        Engine(fast_town).acquire()
    status = json.loads(run_gt("status", "--json", cwd=fast_town.root).stdout)
    assert status["engine"] == {"running": True, "pid": first.pid} and status["rigs"] == ["demo"]
    res = run_gt("down", cwd=fast_town.root)
    assert res.returncode == 0 and f"engine stopped (pid {first.pid})" in res.stdout
    assert first.wait(10) == 0
    assert not (fast_town.state_dir / "engine.pid").exists()
    assert json.loads(run_gt("status", "--json", cwd=fast_town.root).stdout)["engine"]["running"] is False
    assert run_gt("down", cwd=fast_town.root).stdout.strip() == "no engine is running"
    kinds = [e.type for e in _types(fast_town, kinds=("engine_started", "engine_stopped"))]
    assert kinds == ["engine_started", "engine_stopped"]


def test_stale_lock_of_a_dead_engine_is_taken_over(fast_town, demo_rig) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (fast_town.state_dir / "engine.pid").write_text(f"{dead.pid}\n")
    (fast_town.state_dir / "engine.lock").touch()
    assert engine_pid(fast_town) is None
    runner = EngineThread(fast_town).start()
    try:
        assert engine_pid(fast_town) == os.getpid()
        started = _types(fast_town, kinds=("engine_started",))[-1]
        assert started.payload["took_over_from"] == dead.pid
    finally:
        runner.stop()
    assert engine_pid(fast_town) is None


def test_sigterm_stops_loops_syncs_ledger_and_leaves_sessions(fast_town, demo_rig, run_gt, gt_env, procs) -> None:
    res = run_gt("up", "--detach", "--tick", "0.25", cwd=fast_town.root)
    assert res.returncode == 0, res.stderr
    pid = engine_pid(fast_town)
    assert pid is not None and "engine up" in res.stdout
    hang = create_bead(run_gt, fast_town, "Hangs", SH.format("echo a > a.txt"), labels=("sim:hang",))
    assert run_gt("sling", hang, "demo", cwd=fast_town.root).returncode == 0
    late = create_bead(run_gt, fast_town, "Filed just before shutdown")
    res = run_gt("down", cwd=fast_town.root)
    assert res.returncode == 0 and f"pid {pid}" in res.stdout
    assert engine_pid(fast_town) is None
    with BeadStore(fast_town) as store:
        session = polecats.by_bead(store.db, hang).session
        assert store.dirty() == []
    assert SessionHost(fast_town).is_alive(session)  # agents belong to tmux, not to the engine
    ledger = fast_town.ledger_path.read_text()
    assert late in ledger and hang in ledger
    assert git.log_messages(fast_town.root)[0].startswith("beads: sync")


def test_subscribers_get_events_written_by_other_processes(engine, fast_town, run_gt) -> None:
    loop = engine._loop

    async def subscribe():
        return engine.subscribe()

    q = asyncio.run_coroutine_threadsafe(subscribe(), loop).result(10)
    bead = create_bead(run_gt, fast_town, "Seen by the cockpit")
    deadline = time.monotonic() + 20
    seen = []
    while time.monotonic() < deadline and not any(e.bead == bead and e.type == "created" for e in seen):
        seen.append(asyncio.run_coroutine_threadsafe(asyncio.wait_for(q.get(), 20), loop).result(25))
    assert any(e.bead == bead and e.type == "created" for e in seen)
    ids = [e.id for e in seen]
    assert ids == sorted(ids) and len(ids) == len(set(ids))


def test_a_failing_loop_is_an_event_and_the_engine_goes_on(fast_town, demo_rig, monkeypatch) -> None:
    calls = []
    original = Deacon.patrol

    def flaky(self):
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("injected deacon failure")
        return original(self)

    monkeypatch.setattr(Deacon, "patrol", flaky)
    runner = EngineThread(fast_town).start()
    try:
        error = wait_for(lambda: _types(fast_town, kinds=("engine_error",)), timeout=20)[0]
        assert error.payload["loop"] == "deacon" and "injected deacon failure" in error.payload["error"]
        wait_for(lambda: len(calls) >= 3, timeout=20)
        assert runner.engine.running
    finally:
        runner.stop()


def test_convoy_of_three_lands_itself_within_capacity(fast_town, demo_rig, engine, run_gt) -> None:
    configure(fast_town, {"scheduler": {"max_polecats_per_rig": 2}})
    beads = [
        create_bead(run_gt, fast_town, f"Part {n}", SH.format(f"sleep 1\necho {n} > part{n}.txt")) for n in range(3)
    ]
    res = run_gt("convoy", "create", "Three parts", *beads, "--notify", "mayor/", "--json", cwd=fast_town.root)
    convoy = json.loads(res.stdout)["id"]
    res = run_gt("sling", "--queue", *beads, "demo", cwd=fast_town.root)
    assert res.returncode == 0 and res.stdout.count("queued for demo") == 3
    store = BeadStore(fast_town)
    try:
        wait_for(lambda: convoys.get(store, convoy).state == "landed", timeout=120)
        merged = [e for e in events.query(store.db, types=("merged",)) if e.bead in beads]
        landed = events.query(store.db, types=("convoy_landed",), bead=convoy)
        assert len(merged) == 3 and len(landed) == 1
        assert landed[0].id > max(e.id for e in merged)
        assert any(m.subject.startswith("Convoy landed") for m in mail.inbox(fast_town, "mayor/"))
        # never more than max_polecats_per_rig at work: +1 per spawn, -1 per done, in event order
        busy, peak = 0, 0
        for e in events.query(store.db, types=("spawn", "done")):
            busy += 1 if e.type == "spawn" else -1
            peak = max(peak, busy)
        assert peak <= 2
        wait_for(lambda: store.dirty() == [], timeout=20)
        main = git.rev_parse(demo_rig.repo_path, "main")
        for n in range(3):
            assert git.run_git(["show", f"{main}:part{n}.txt"], cwd=demo_rig.repo_path).stdout == f"{n}\n"
    finally:
        store.disconnect()


def test_queued_bead_waits_for_its_blocker(fast_town, demo_rig, engine, run_gt) -> None:
    first = create_bead(run_gt, fast_town, "First", SH.format("echo 1 > first.txt"))
    second = create_bead(
        run_gt, fast_town, "Second", SH.format("test -f first.txt && echo 2 > second.txt"), deps=first, priority=0
    )
    assert run_gt("sling", "--queue", second, first, "demo", cwd=fast_town.root).returncode == 0
    wait_for(lambda: BeadStore(fast_town).get(second).status == "closed", timeout=120)
    closed_first = _types(fast_town, first, ("closed",))[0]
    slung_second = _types(fast_town, second, ("sling",))[0]
    assert slung_second.id > closed_first.id  # slung only once its blocker had merged
    main = git.rev_parse(demo_rig.repo_path, "main")
    assert git.run_git(["show", f"{main}:second.txt"], cwd=demo_rig.repo_path).stdout == "2\n"


def test_kill9_mid_convoy_then_a_new_engine_completes_it(fast_town, demo_rig, run_gt, gt_env, procs) -> None:
    configure(fast_town, {"scheduler": {"max_polecats_per_rig": 2}})
    beads = [
        create_bead(run_gt, fast_town, f"Piece {n}", SH.format(f"sleep 1\necho {n} > piece{n}.txt")) for n in range(5)
    ]
    convoy = json.loads(run_gt("convoy", "create", "Five pieces", *beads, "--json", cwd=fast_town.root).stdout)["id"]
    assert run_gt("sling", "--queue", *beads, "demo", cwd=fast_town.root).returncode == 0
    first = _gt_up(fast_town, gt_env)
    procs.append(first)
    store = BeadStore(fast_town)
    try:

        def statuses() -> list[str]:
            return [store.get(b).status for b in beads]

        # kill it once some work has merged and some is still in flight
        wait_for(lambda: "closed" in statuses() and any(s != "closed" for s in statuses()), timeout=120, step=0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert (fast_town.state_dir / "engine.pid").read_text().strip() == str(first.pid)
        second = _gt_up(fast_town, gt_env)
        procs.append(second)
        assert _types(fast_town, kinds=("engine_started",))[-1].payload["took_over_from"] == first.pid
        try:
            wait_for(lambda: convoys.get(store, convoy).state == "landed", timeout=150)
        except AssertionError:  # show where it got stuck
            print([(b, store.get(b).status, store.get(b).assignee) for b in beads])
            print(polecats.list_polecats(store.db), scheduler.list_queue(store.db), mq.list_mrs(store.db))
            for e in events.query(store.db)[-80:]:
                print(e.id, e.type, e.actor, e.bead, json.dumps(e.payload)[:300])
            raise
        # no bead worked twice: one sling, at most one session start (a kill inside a sling may
        # leave the witness to finish it), one gt done and one merge each
        for b in beads:
            kinds = [e.type for e in events.query(store.db, bead=b)]
            assert kinds.count("sling") == 1 and kinds.count("spawn") + kinds.count("respawn") <= 1, (b, kinds)
            assert kinds.count("done") == 1 and kinds.count("merged") == 1, (b, kinds)
            assert store.get(b).status == "closed"
        mrs = [m for m in mq.list_mrs(store.db, rig="demo") if m.bead in beads]
        assert sorted(m.bead for m in mrs) == sorted(beads) and {m.status for m in mrs} == {"merged"}
        # no commit lost: every polecat commit is on main, once, with its file
        main = git.rev_parse(demo_rig.repo_path, "main")
        log = git.run_git(["log", "--format=%s", main], cwd=demo_rig.repo_path).stdout.splitlines()
        for n, b in enumerate(beads):
            assert git.is_ancestor(demo_rig.repo_path, next(m.head_sha for m in mrs if m.bead == b), main)
            assert log.count(f"{b}: Piece {n}") == 1
            assert git.run_git(["show", f"{main}:piece{n}.txt"], cwd=demo_rig.repo_path).stdout == f"{n}\n"
    finally:
        store.disconnect()
    assert run_gt("down", cwd=fast_town.root).returncode == 0
