"""A gate's whole process tree dies with it (issue 15, item 10): children that left the gate's process
group and session with ``setsid`` (and daemons double-forked onto init) are killed when the gate
finishes, when it times out, and by the successor of a refinery that was SIGKILLed mid-gate.

Real processes only: the gates are ``sh`` scripts that start ``setsid sleep 1000`` and record its pid.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.gates import Gate, GateConfig, kill_leftover, run_gates
from core.pidfile import pid_alive
from tests.conftest import wait_for


def _pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.fixture
def pids(tmp_path: Path):
    """The file the gates record their escapees' pids in; any still alive at the end are killed, so a
    failing test leaks nothing."""
    path = tmp_path / "pids"
    yield path
    for pid in _pids(path):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _spawner(pids: Path, then: str) -> tuple[str, ...]:
    """A gate that starts two escapees and records their pids: ``setsid sleep 1000`` (its own session
    and group, still a child of the gate) and a ``setsid -f`` double fork (reparented to init, no
    ancestry left to follow), waits until both are recorded, then runs ``then``."""
    script = (
        f'setsid sleep 1000 & echo $! >> "{pids}"\n'
        f"setsid -f sh -c 'echo $$ >> \"{pids}\"; exec sleep 1000'\n"
        f'while [ "$(wc -l < "{pids}")" -lt 2 ]; do sleep 0.01; done\n'
        f"{then}\n"
    )
    return ("sh", "-c", script)


def _sid(pid: int) -> int:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return int(raw[raw.rfind(")") + 2 :].split()[3])


def test_setsid_children_of_a_green_gate_are_killed_when_it_finishes(tmp_path: Path, pids: Path) -> None:
    probe = tmp_path / "probe.sh"
    # a second gate runs after the first: by then the first gate's escapees must be gone
    probe.write_text(
        f'for p in $(cat "{pids}"); do\n'
        '  if [ -e /proc/$p ] && ! grep -q "^State:.*Z" /proc/$p/status; then echo "alive $p"; fi\n'
        "done\nexit 0\n"
    )
    cfg = GateConfig((Gate("spawn", _spawner(pids, "exit 0"), 30), Gate("probe", ("sh", str(probe)), 30)), {})
    run = run_gates(cfg, tmp_path, tmp_path / "logs", "batch-1")
    assert run.ok, [r.summary() for r in run.results]
    seen = _pids(pids)
    assert len(seen) == 2
    assert "alive" not in Path(run.log_paths[1]).read_text(), "an escapee outlived its gate"
    assert not any(pid_alive(p) for p in seen)


def test_setsid_children_of_a_gate_that_times_out_are_killed(tmp_path: Path, pids: Path) -> None:
    cfg = GateConfig((Gate("hang", _spawner(pids, "sleep 1000"), 1.0),), {})
    started = time.monotonic()
    run = run_gates(cfg, tmp_path, tmp_path / "logs", "batch-2")
    assert time.monotonic() - started < 15
    assert run.failed is not None and run.failed.timed_out
    seen = _pids(pids)
    assert len(seen) == 2
    assert not any(pid_alive(p) for p in seen), "a setsid child outlived the gate's timeout"


def test_a_gate_orphaned_by_a_kill_9_of_its_caller_is_killed_with_its_escapees(tmp_path: Path, pids: Path) -> None:
    """The caller (a refinery) is SIGKILLed while its gate runs: the gate and its setsid children keep
    running; the successor's kill_leftover finds them by the tag and kills all of them."""
    pidfile = tmp_path / "refinery-x.gate.pid"
    work = tmp_path / "refinery"
    work.mkdir()
    caller = tmp_path / "caller.py"
    caller.write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        from core.gates import Gate, GateConfig, run_gates
        cfg = GateConfig((Gate("hang", {_spawner(pids, "sleep 1000")!r}, 600),), {{}})
        run_gates(cfg, Path({str(work)!r}), Path({str(tmp_path / "logs")!r}), "batch-3",
                  pidfile=Path({str(pidfile)!r}))
    """)
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-P", str(caller)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        wait_for(lambda: pidfile.exists() and len(_pids(pids)) == 2, what="the gate to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=15)
        leader = int(pidfile.read_text())
        escapees = _pids(pids)
        assert all(pid_alive(p) for p in [leader, *escapees]), "the gate and its children outlived the caller"
        assert all(_sid(p) != leader for p in escapees)  # setsid: out of the gate's session and group
        assert kill_leftover(pidfile, work)
        wait_for(lambda: not any(pid_alive(p) for p in [leader, *escapees]))
        assert not pidfile.exists()
        assert not kill_leftover(pidfile, work)  # nothing left: nothing scanned, nothing killed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
