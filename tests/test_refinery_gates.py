"""Gates: parsing ``[gates]`` from rig.toml, running real commands with a clean environment, logs,
timeouts that kill the whole process group."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import tomlkit

from core.errors import ConfigError
from core.gates import GateConfig, Gate, gate_env, load_gates, log_path, log_tail, run_gates
from core.pidfile import pid_alive


def _cfg(text: str):
    return tomlkit.parse(text)


def test_load_gates_keeps_file_order_timeouts_and_env():
    cfg = load_gates(
        _cfg("""
[gates.lint]
cmd = ["ruff", "check", "."]
timeout = 60
[gates.test]
cmd = ["pytest", "-q"]
[gates.env]
CI = "1"
[gates.build]
cmd = ["make"]
timeout = 1.5
""")
    )
    assert [g.name for g in cfg.gates] == ["lint", "test", "build"]
    assert cfg.gates[0] == Gate("lint", ("ruff", "check", "."), 60.0)
    assert cfg.gates[1].timeout == 600.0 and cfg.gates[2].timeout == 1.5
    assert dict(cfg.env) == {"CI": "1"}
    assert cfg.describe() == "gates: lint (60s), test (600s), build (1.5s)"


def test_no_gates_is_said_plainly():
    cfg = load_gates(_cfg("[gates]\n"))
    assert not cfg and cfg.describe() == "no gates: MRs merge on a clean merge alone"
    assert not load_gates(_cfg("prefix = 'x'\n"))


@pytest.mark.parametrize(
    "text, needle",
    [
        ('[gates.t]\ncmd = "pytest -q"\n', "non-empty list of strings"),
        ("[gates.t]\ncmd = []\n", "non-empty list of strings"),
        ('[gates.t]\ncmd = ["a", 1]\n', "non-empty list of strings"),
        ('[gates.t]\ncmd = ["a"]\ntimeout = 0\n', "positive number"),
        ('[gates.t]\ncmd = ["a"]\ntimeout = "5"\n', "positive number"),
        ('[gates.t]\ncmd = ["a"]\ntimeout = true\n', "positive number"),
        ('[gates.t]\ncmd = ["a"]\ntimeout = nan\n', "positive number"),
        ('[gates.t]\ncmd = ["a"]\ntimeout = inf\n', "positive number"),
        ('[gates."a b"]\ncmd = ["a"]\n', "invalid gate name"),
        ("[gates.env]\nX = 1\n", "must be a string"),
        ("[gates]\nt = 3\n", "must be a table"),
    ],
)
def test_bad_gate_config_names_the_problem(text, needle):
    with pytest.raises(ConfigError, match=needle) as err:
        load_gates(_cfg(text), "proj/rig.toml")
    assert str(err.value).startswith("proj/rig.toml:")


def test_gate_env_keeps_only_path_home_lang_plus_extra():
    env = gate_env({"EXTRA": "1"}, base={"PATH": "/bin", "HOME": "/h", "LANG": "C", "SECRET": "x"})
    assert env == {"PATH": "/bin", "HOME": "/h", "LANG": "C", "EXTRA": "1"}


def test_run_gates_logs_each_gate_and_stops_at_the_first_failure(tmp_path):
    cfg = GateConfig(
        (
            Gate("one", ("sh", "-c", "echo first; echo to-stderr >&2")),
            Gate("two", ("sh", "-c", "echo second; exit 3")),
            Gate("three", ("sh", "-c", "echo never")),
        ),
        {},
    )
    run = run_gates(cfg, tmp_path, tmp_path / "logs", "mr-7")
    assert not run.ok and [r.gate for r in run.results] == ["one", "two"]
    assert run.failed.returncode == 3 and run.failed.summary() == "two: exit 3"
    assert [Path(p).name for p in run.log_paths] == ["mr-7-one-1.log", "mr-7-two-1.log"]
    first = Path(run.log_paths[0]).read_text()
    assert "first" in first and "to-stderr" in first and "exit 0" in first
    assert "second" in log_tail(run.failed.log_path) and "exit 3" in log_tail(run.failed.log_path, lines=1)
    again = run_gates(cfg, tmp_path, tmp_path / "logs", "mr-7")
    assert Path(again.log_paths[0]).name == "mr-7-one-2.log"  # never overwrites an earlier run's log


def test_a_gate_that_times_out_fails_and_its_process_group_is_killed(tmp_path):
    pidfile = tmp_path / "child.pid"
    cfg = GateConfig((Gate("hang", ("sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"), 0.5),), {})
    started = time.monotonic()
    run = run_gates(cfg, tmp_path, tmp_path / "logs", "batch-1")
    assert time.monotonic() - started < 10
    result = run.failed
    assert result.timed_out and result.returncode is None and "timed out after" in result.summary()
    assert "process group killed" in log_tail(result.log_path)
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child), "the gate's background child outlived the timeout"


def test_a_missing_executable_is_a_failed_gate_not_a_crash(tmp_path):
    cfg = GateConfig((Gate("ghost", ("no-such-gate-binary-xyz",)),), {})
    run = run_gates(cfg, tmp_path, tmp_path / "logs", "batch-2")
    assert not run.ok and run.failed.returncode is None and run.failed.summary() == "ghost: could not start"
    assert "could not start" in log_tail(run.failed.log_path)


def test_gates_get_a_clean_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GT_LEAK", "secret")
    out = tmp_path / "env.txt"
    cfg = GateConfig((Gate("env", ("sh", "-c", f"env > {out}")),), {"ONLY_THIS": "yes"})
    assert run_gates(cfg, tmp_path, tmp_path / "logs", "batch-3").ok
    names = {line.split("=", 1)[0] for line in out.read_text().splitlines()}
    assert "GT_LEAK" not in names and "ONLY_THIS" in names
    # GT_GATE: the tag that marks the gate's processes so its whole tree can be killed (core.gates)
    assert "GT_GATE" in names
    assert names <= {"PATH", "HOME", "LANG", "ONLY_THIS", "GT_GATE", "PWD", "SHLVL", "_", "OLDPWD"}


def test_log_path_rejects_labels_that_would_escape(tmp_path):
    with pytest.raises(ValueError):
        log_path(tmp_path, "../evil", "test")
