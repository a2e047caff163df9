"""Runtime state is the owner's only, whatever the umask (issue 15 item 10): ``.gastown/`` and its
``logs/`` are 0700, transcripts, gate logs and the engine log 0600 (they were 0644 under umask 022)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import transcripts
from core.filemodes import private_dir
from core.gates import load_gates, log_path, run_gates
from core.pidfile import engine_pid
from core.town import install_town
from tests.test_engine_support import EngineThread


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_install_makes_the_state_dirs_private(tmp_path: Path) -> None:
    town, _ = install_town(tmp_path / "town")
    assert mode(town.state_dir) == 0o700 and mode(town.logs_dir) == 0o700
    assert mode(town.root) == 0o755  # the town itself (config, ledger) is a normal repository


def test_an_older_loose_state_dir_is_tightened_when_the_engine_starts(tmp_path: Path) -> None:
    town, _ = install_town(tmp_path / "town")
    os.chmod(town.state_dir, 0o755)
    runner = EngineThread(town).start()
    try:
        assert engine_pid(town) is not None
        assert mode(town.state_dir) == 0o700
    finally:
        runner.stop()


def test_transcripts_are_0600_new_rotated_and_pre_existing(tmp_path: Path) -> None:
    logs = tmp_path / "state" / "logs"
    log = transcripts.log_path(logs, "gt-demo-nux")
    r, w = os.pipe()
    os.write(w, b"secret output \x1b]52;c;cHduZWQ=\x07" * 40)
    os.close(w)
    assert transcripts.write_stream(r, log, max_bytes=300, keep=2) > 0
    os.close(r)
    assert mode(logs) == 0o700
    files = [p for p in transcripts.rotated_paths(log, 2) if p.exists()]
    assert len(files) == 3 and all(mode(p) == 0o600 for p in files)
    os.chmod(log, 0o644)  # a transcript left by an older version
    r, w = os.pipe()
    os.write(w, b"more\n")
    os.close(w)
    transcripts.write_stream(r, log, max_bytes=10_000, keep=2)
    os.close(r)
    assert mode(log) == 0o600


def test_gate_logs_are_0600_in_a_0700_dir(tmp_path: Path) -> None:
    logs = tmp_path / "logs" / "gates"
    first = log_path(logs, "mr-1", "test")
    second = log_path(logs, "mr-1", "test")
    assert first != second and mode(first) == 0o600 and mode(second) == 0o600 and mode(logs) == 0o700
    gates = load_gates({"gates": {"echo": {"cmd": ["sh", "-c", "echo TOKEN=abc"], "timeout": 30}}})
    run = run_gates(gates, tmp_path, logs, "batch-1")
    assert run.ok and all(mode(Path(p)) == 0o600 for p in run.log_paths)
    assert "TOKEN=abc" in Path(run.log_paths[0]).read_text()


def test_gt_up_detach_engine_log_is_0600(tmp_path: Path, run_gt) -> None:
    town, _ = install_town(tmp_path / "town")
    res = run_gt("up", "--detach", "--tick", "0.25", cwd=town.root)
    try:
        assert res.returncode == 0, res.stderr
        assert mode(town.logs_dir / "engine.log") == 0o600
    finally:
        assert run_gt("down", cwd=town.root).returncode == 0


def test_private_dir_leaves_a_tight_dir_alone_and_fixes_a_loose_one(tmp_path: Path) -> None:
    d = tmp_path / "a" / "b"
    private_dir(d)
    assert mode(d) == 0o700
    os.chmod(d, 0o777)
    private_dir(d)
    assert mode(d) == 0o700
