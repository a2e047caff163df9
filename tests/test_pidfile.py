"""Pid files are checked against the engine lock (issue 15 item 7): a pid left by a killed engine that
now names an unrelated live process is never signalled, never reported as "engine running", and never
stops a new engine from starting."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from core.engine import engine_pid
from core.pidfile import ENGINE_LOCK_FILE, ENGINE_PID_FILE, engine_lock_held, pid_alive, signal_engine
from tests.conftest import VENV_BIN
from tests.test_engine_support import EngineThread, wait_for


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen]:
    """An unrelated live process (a ``sleep``) whose pid a stale pid file names."""
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def _stale(town, pid: int) -> None:
    """What a kill -9 leaves: the pid file (now naming ``pid``) and the lock file, no lock held."""
    (town.state_dir / ENGINE_PID_FILE).write_text(f"{pid}\n")
    (town.state_dir / ENGINE_LOCK_FILE).touch()


def test_stale_pid_of_an_unrelated_process_is_not_an_engine(town, bystander, run_gt) -> None:
    _stale(town, bystander.pid)
    assert not engine_lock_held(town)
    assert engine_pid(town) is None
    res = run_gt("down", cwd=town.root)
    assert res.returncode == 0 and res.stdout.strip() == "no engine is running"
    assert bystander.poll() is None and pid_alive(bystander.pid)  # not signalled
    status = run_gt("status", "--json", cwd=town.root)
    assert status.returncode == 0
    assert json.loads(status.stdout)["engine"] == {"running": False, "pid": None}
    assert "not running" in run_gt("status", cwd=town.root).stdout
    assert signal_engine(town) is None and bystander.poll() is None


def test_engine_starts_over_a_stale_pid_file_naming_a_live_process(town, bystander, gt_env, run_gt) -> None:
    _stale(town, bystander.pid)
    res = run_gt("up", "--detach", "--tick", "0.25", cwd=town.root)
    assert res.returncode == 0, res.stderr
    try:
        pid = wait_for(lambda: engine_pid(town), timeout=30)
        assert pid != bystander.pid and engine_lock_held(town)
        assert json.loads(run_gt("status", "--json", cwd=town.root).stdout)["engine"] == {"running": True, "pid": pid}
    finally:
        res = run_gt("down", cwd=town.root)
    assert res.returncode == 0 and f"engine stopped (pid {pid})" in res.stdout
    assert bystander.poll() is None
    assert engine_pid(town) is None


def test_lock_held_by_another_process_does_not_vouch_for_a_pid_it_does_not_name(town, bystander) -> None:
    """A live engine lock proves the holder, not whatever pid the file says (the instant between an
    engine's lock and its pid write, or a file edited by hand)."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-P",
            "-c",
            "import filelock, sys, time; l = filelock.FileLock(sys.argv[1]); l.acquire(); print('held', flush=True); "
            "time.sleep(300)",
            str(town.state_dir / ENGINE_LOCK_FILE),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        (town.state_dir / ENGINE_PID_FILE).write_text(f"{bystander.pid}\n")
        assert engine_lock_held(town)
        assert engine_pid(town) is None
        assert signal_engine(town) is None and bystander.poll() is None
        (town.state_dir / ENGINE_PID_FILE).write_text(f"{holder.pid}\n")
        assert engine_pid(town) == holder.pid
    finally:
        holder.kill()
        holder.wait()
    assert wait_for(lambda: not engine_lock_held(town), timeout=15)
    assert engine_pid(town) is None


def test_an_in_process_engine_is_seen_and_a_probe_never_blocks_it(town) -> None:
    runner = EngineThread(town).start()
    try:
        assert engine_pid(town) is not None and engine_lock_held(town)
    finally:
        runner.stop()
    assert not engine_lock_held(town) and engine_pid(town) is None
    # a gt status probing the lock in a tight loop while an engine starts: the engine waits the probe out
    stop = threading.Event()
    probes = []

    def probe() -> None:
        while not stop.is_set():
            probes.append(engine_lock_held(town))

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    try:
        wait_for(lambda: len(probes) > 100, timeout=15)
        for _ in range(5):
            runner = EngineThread(town).start()
            runner.stop()
    finally:
        stop.set()
        prober.join(15)
    assert True in probes  # the probes did overlap running engines


def test_gt_down_stops_a_real_engine(town, run_gt, gt_env) -> None:
    proc = subprocess.Popen(
        [str(VENV_BIN / "gt"), "up", "--tick", "0.25"],
        cwd=town.root,
        env=gt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: engine_pid(town) == proc.pid or proc.poll() is not None, timeout=30)
        assert engine_pid(town) == proc.pid
        res = run_gt("down", cwd=town.root)
        assert res.returncode == 0 and f"pid {proc.pid}" in res.stdout
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
