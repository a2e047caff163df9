"""Config errors stop the engine at start, and failing patrols back off (issue 15 item 8): a malformed
``town.toml`` or ``rig.toml`` is one line naming the file, key and fix with exit 2 and nothing written;
a loop that keeps failing is one ``engine_error`` event and a few tries, not a storm."""

from __future__ import annotations

import itertools
import json
import time

import pytest

from core import events
from core.beads.store import BeadStore
from core.deacon import Deacon
from core.engine import MAX_BACKOFF_S, Engine, _Backoff
from core.errors import ConfigError
from core.pidfile import engine_pid
from tests.test_engine_support import EngineThread, wait_for


def _errors(town) -> list[events.Event]:
    with BeadStore(town) as store:
        return events.query(store.db, types=("engine_error",))


def _event_count(town) -> int:
    with BeadStore(town) as store:
        return len(events.query(store.db))


BAD_TOWN = [
    ('[witness]\npatrol_interval = "thirty"\n', "[witness] patrol_interval must be a finite number"),
    ('[witness]\nstall_after = "soon"\n', "[witness] stall_after must be a finite number of seconds >= 0, not 'soon'"),
    ("[witness]\npatrol_interval = inf\n", "[witness] patrol_interval must be a finite number"),
    ("[deacon]\nstale_after = nan\n", "[deacon] stale_after must be a finite number"),
    ("[scheduler]\nmax_polecats = -1\n", "[scheduler] max_polecats must be a whole number"),
    ("[scheduler]\nmax_polecats = 2.5\n", "[scheduler] max_polecats must be a whole number"),
    ("witness = 3\n", "[witness] must be a table"),
    ("default_agent = 7\n", "default_agent must be a string"),
    ("[ledger\ncommit_debounce = 1\n", "malformed TOML"),
]


@pytest.mark.parametrize("text,message", BAD_TOWN)
def test_malformed_town_toml_stops_gt_up_at_start(fast_town, run_gt, text, message) -> None:
    fast_town.config_path.write_text(text)
    before = _event_count(fast_town)
    res = run_gt("up", "--tick", "0.25", cwd=fast_town.root, timeout=60)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "town.toml" in lines[0] and message in lines[0]
    assert engine_pid(fast_town) is None and not (fast_town.state_dir / "engine.pid").exists()
    assert _event_count(fast_town) == before  # nothing written: no engine_started, no errors
    res = run_gt("status", cwd=fast_town.root)
    assert res.returncode == 2 and "town.toml" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_malformed_rig_toml_stops_the_engine_and_gt_up_detach(fast_town, demo_rig, run_gt) -> None:
    path = demo_rig.path / "rig.toml"
    path.write_text(path.read_text().replace("max_batch_size = 4", 'max_batch_size = "four"'))
    res = run_gt("up", "--detach", "--tick", "0.25", cwd=fast_town.root, timeout=60)
    assert res.returncode == 2 and "rig.toml" in res.stderr and "[merge_queue] max_batch_size" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    with pytest.raises(ConfigError, match=r"demo/rig.toml: \[merge_queue\] max_batch_size must be a whole number"):
        Engine(fast_town).check_config()
    assert engine_pid(fast_town) is None and _errors(fast_town) == []


def test_a_patrol_that_keeps_failing_backs_off_and_is_one_event(fast_town, demo_rig, monkeypatch) -> None:
    calls: list[float] = []

    def broken(self):
        calls.append(time.monotonic())
        raise RuntimeError("injected: the deacon is broken")

    monkeypatch.setattr(Deacon, "patrol", broken)
    runner = EngineThread(fast_town, tick=0.25).start()
    try:
        wait_for(lambda: len(calls) >= 4, timeout=30)
        time.sleep(3)  # let the database changes of the other loops try to wake the broken one
    finally:
        runner.stop()
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    # doubling: the n-th retry waits at least 0.25 * 2**n s (plus the busy machine's own delays)
    assert all(gap >= 0.25 * 2**n * 0.9 for n, gap in enumerate(gaps)), gaps
    assert gaps[-1] >= 1.5, gaps
    span = calls[-1] - calls[0]
    assert len(calls) <= 2 + span / 0.25 / 2  # far fewer than one try per tick (the storm was every 0.1 s)
    deacon = [e for e in _errors(fast_town) if e.payload["loop"] == "deacon"]
    assert len(deacon) == 1, [e.payload for e in deacon]
    assert "injected" in deacon[0].payload["error"] and deacon[0].payload["retry_in"] > 0


def test_a_rig_toml_broken_while_running_is_one_event_per_loop(fast_town, demo_rig, run_gt) -> None:
    runner = EngineThread(fast_town, tick=0.25).start()
    try:
        path = demo_rig.path / "rig.toml"
        path.write_text(path.read_text() + "\n[worktree\n")
        wait_for(lambda: any(e.payload["loop"] == "rigs" for e in _errors(fast_town)), timeout=30)
        time.sleep(4)
        errors = _errors(fast_town)
        by_loop = {}
        for e in errors:
            by_loop.setdefault(e.payload["loop"], []).append(e)
        assert all(len(v) == 1 for v in by_loop.values()), {k: len(v) for k, v in by_loop.items()}
        assert all("traceback" not in e.payload for e in errors)  # a config error is its one line
        assert "rig.toml" in by_loop["rigs"][0].payload["error"]
        problems = run_gt("feed", "--problems", "--json", cwd=fast_town.root)
        assert len([json.loads(x) for x in problems.stdout.splitlines()]) == len(errors)
    finally:
        runner.stop()


def test_backoff_doubles_up_to_its_bound_and_resets() -> None:
    b = _Backoff(0.25)
    assert b.delay() == 0.0
    assert b.failed(ValueError("x")) is True and b.delay() == 0.25
    assert b.failed(ValueError("x")) is False and b.delay() == 0.5
    assert b.failed(ValueError("y")) is True and b.delay() == 1.0
    for _ in range(100):
        b.failed(ValueError("y"))
    assert b.delay() == MAX_BACKOFF_S
    b.ok()
    assert b.delay() == 0.0 and b.failed(ValueError("y")) is True
