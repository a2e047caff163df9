"""``gastown-tui --no-ui run``: a formula's diamond run headless to its end with the sim agent, a real
gate, real tmux and git; a failing step; bad input; a timeout; a second engine; the live display on a
real pseudo-terminal (issue 8)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pexpect
import pytest

from core import git, mq, scheduler
from core.beads.store import BeadStore
from core.pidfile import engine_pid
from core.sessions import SessionHost
from tests.conftest import VENV_BIN
from tests.test_engine_support import EngineThread, configure, wait_for
from tests.test_headless_support import diamond, load, run_events, run_headless, write_formula


def _by_step(summary: dict) -> dict[str, dict]:
    return {b["step"]: b for b in summary["beads"]}


def _first(evs, kind: str, bead: str):
    return next(e for e in evs if e.type == kind and e.bead == bead)


def _assert_clean_end(town) -> None:
    """The engine is gone (lock released, pid file removed) and no session of the town runs."""
    assert engine_pid(town) is None and not (town.state_dir / "engine.pid").exists()
    assert SessionHost(town).list() == []
    kinds = [e.type for e in run_events(town, ("engine_started", "engine_stopped"))]
    assert kinds and kinds[-1] == "engine_stopped"


def test_diamond_lands_in_dag_order_with_b_and_c_in_parallel(gated_town, gt_env, tmp_path) -> None:
    town, rig = gated_town
    write_formula(town, "diamond", diamond())
    out = tmp_path / "summary.json"
    res = run_headless(
        gt_env,
        town,
        "--formula",
        "diamond",
        "--rig",
        "demo",
        "--agent",
        "sim",
        "--summary",
        str(out),
        "--timeout",
        "100",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    summary = load(out)
    steps = _by_step(summary)
    ids = {s: b["id"] for s, b in steps.items()}
    assert set(steps) == {"a", "b", "c", "d"}

    evs = run_events(town)
    merged = {s: _first(evs, "merged", ids[s]) for s in "abcd"}
    # the DAG's order: a merged before b and c were even slung, both merged before d was slung
    for s in "bc":
        assert merged["a"].id < _first(evs, "sling", ids[s]).id < merged[s].id
        assert merged[s].id < _first(evs, "sling", ids["d"]).id < merged["d"].id
    # b and c ran in parallel: each one's session started before the other's gt done
    spawn = {s: _first(evs, "spawn", ids[s]).ts for s in "bc"}
    done = {s: _first(evs, "done", ids[s]).ts for s in "bc"}
    assert spawn["b"] < done["c"] and spawn["c"] < done["b"], (spawn, done)
    # the default branch holds the merge commits in that order, and every part file
    main = git.rev_parse(rig.repo_path, "main")
    for s in "abcd":
        assert git.is_ancestor(rig.repo_path, steps[s]["merge_sha"], main)
    for s in "bc":
        assert git.is_ancestor(rig.repo_path, steps["a"]["merge_sha"], steps[s]["merge_sha"])
        assert git.is_ancestor(rig.repo_path, steps[s]["merge_sha"], steps["d"]["merge_sha"])
    assert git.run_git(["show", f"{main}:d.txt"], cwd=rig.repo_path).stdout == "b\nc\n"

    # the summary is complete
    assert summary["outcome"] == "landed" and summary["exit_code"] == 0 and summary["failures"] == []
    assert summary["convoy"]["state"] == "landed" and summary["formula"] == "diamond"
    assert summary["molecule"] and all(b["id"].startswith(summary["molecule"] + ".") for b in summary["beads"])
    with BeadStore(town) as store:
        mrs = {m.bead: m for m in mq.list_mrs(store.db, rig="demo")}
        batches = mq.batches(store.db, rig="demo")
    for b in steps.values():
        assert b["status"] == "closed" and b["failure"] is None, b
        assert re.fullmatch(r"demo/polecats/[a-z0-9_-]+", b["polecat"]) and b["agent"] == "sim"
        assert b["attempts"] == 1
        assert b["mr"] == mrs[b["id"]].id and b["mr_status"] == "merged"
        assert re.fullmatch(r"[0-9a-f]{40}", b["merge_sha"]) and b["merge_sha"] == mrs[b["id"]].merge_sha
        assert b["gate_runs"] >= 1
        assert all(v is not None for v in b["times"].values()), b["times"]
        d = b["durations"]
        assert all(v is not None and v >= 0 for v in d.values()), d
        assert d["work_s"] > 0 and d["total_s"] >= d["work_s"]
    for s in "bc":
        assert steps[s]["durations"]["work_s"] >= 2  # their sleep 2
    t = summary["totals"]
    assert (t["beads"], t["merged"], t["closed"], t["failed"], t["pending"], t["mrs"]) == (4, 4, 4, 0, 0, 4)
    assert t["gate_runs"] == sum(b.gate_runs for b in batches) >= 3
    assert 0 < t["wall_s"] < 100
    assert summary["sessions_stopped"] and set(summary["sessions_stopped"]) <= {
        f"demo-{b['polecat'].rsplit('/', 1)[1]}" for b in summary["beads"]
    }

    # plain progress (stdout is a pipe): a headline, one feed line per event, the outcome
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"gastown-tui: running convoy {summary['convoy']['id']} (formula diamond, 4 beads)")
    assert sum(1 for ln in lines if re.match(r"\d\d:\d\d:\d\d . merged ", ln)) == 4
    assert any(f"convoy {summary['convoy']['id']} landed: 4/4 beads merged" in ln for ln in lines)
    assert lines[-1] == f"summary written to {out}"
    assert "\x1b[" not in res.stdout
    _assert_clean_end(town)


def test_a_step_that_breaks_the_gate_fails_the_run(gated_town, gt_env, tmp_path) -> None:
    town, rig = gated_town
    write_formula(town, "breaks", diamond(b_sh="echo BROKEN > b.txt"))
    out = tmp_path / "summary.json"
    res = run_headless(
        gt_env,
        town,
        "--formula",
        "breaks",
        "--rig",
        "demo",
        "--agent",
        "sim",
        "--summary",
        str(out),
        "--timeout",
        "100",
    )
    assert res.returncode == 1, res.stdout + res.stderr
    summary = load(out)
    steps = _by_step(summary)
    b = steps["b"]
    assert summary["outcome"] == "failed" and summary["exit_code"] == 1
    assert [f["bead"] for f in summary["failures"]] == [b["id"]]
    failure = summary["failures"][0]
    assert failure["kind"] == "merge_failed" and failure["gate"] == "test" and failure["mr"] == b["mr"]
    assert "gate check: ['b.txt']" in Path(failure["log"]).read_text()
    assert b["failure"] == failure and b["mr_status"] == "failed" and b["merge_sha"] is None
    assert steps["a"]["mr_status"] == "merged"
    assert steps["d"]["status"] == "open" and steps["d"]["mr"] is None and steps["d"]["attempts"] == 0
    assert summary["totals"]["failed"] == 1 and summary["totals"]["pending"] >= 1
    main = git.rev_parse(rig.repo_path, "main")
    assert git.run_git(["ls-tree", "--name-only", main], cwd=rig.repo_path).stdout.split().count("b.txt") == 0
    assert f"  {b['id']} (step b): merge_failed: {b['mr']}: gate test failed" in res.stdout
    assert any(ln.startswith(f"convoy {summary['convoy']['id']} FAILED") for ln in res.stdout.splitlines())
    _assert_clean_end(town)

    # the failure stands: running the convoy again says so at once, and d stays queued
    again = tmp_path / "again.json"
    res = run_headless(gt_env, town, "--convoy", summary["convoy"]["id"], "--summary", str(again), "--timeout", "60")
    assert res.returncode == 1, res.stdout + res.stderr
    assert [f["bead"] for f in load(again)["failures"]] == [b["id"]]
    with BeadStore(town) as store:
        assert scheduler.get(store.db, steps["d"]["id"]) is not None


def test_keep_going_runs_every_bead_not_held_back_by_the_failure(gated_town, gt_env, tmp_path) -> None:
    """-k: b fails its gate; c (parallel to b) still merges, d (needs b) is never started; exit 1."""
    town, rig = gated_town
    write_formula(town, "breaks", diamond(b_sh="echo BROKEN > b.txt"))
    out = tmp_path / "summary.json"
    res = run_headless(
        gt_env,
        town,
        "--formula",
        "breaks",
        "--rig",
        "demo",
        "--agent",
        "sim",
        "--summary",
        str(out),
        "--timeout",
        "100",
        "--keep-going",
    )
    assert res.returncode == 1, res.stdout + res.stderr
    steps = _by_step(load(out))
    assert [s for s in "abcd" if steps[s]["mr_status"] == "merged"] == ["a", "c"]
    assert steps["b"]["failure"]["kind"] == "merge_failed"
    assert steps["d"]["status"] == "open" and steps["d"]["attempts"] == 0
    _assert_clean_end(town)


def test_an_agent_that_keeps_crashing_is_stuck_and_fails_the_run(gated_town, gt_env, tmp_path) -> None:
    town, _ = gated_town
    configure(town, {"witness": {"patrol_interval": 0.5, "max_respawns": 1, "spawn_grace": 5}})
    write_formula(town, "crashy", {"a": ([], "echo a > a.txt")})
    path = town.formulas_dir / "crashy.formula.toml"
    path.write_text(path.read_text().replace('title = "Part a"', 'title = "Part a"\nlabels = ["sim:crash"]'))
    out = tmp_path / "summary.json"
    res = run_headless(
        gt_env, town, "--formula", "crashy", "--rig", "demo", "--agent", "sim", "--summary", str(out), "--timeout", "60"
    )
    assert res.returncode == 1, res.stdout + res.stderr
    summary = load(out)
    a = summary["beads"][0]
    assert [(f["bead"], f["kind"]) for f in summary["failures"]] == [(a["id"], "stuck")]
    assert a["attempts"] == 2 and a["status"] == "hooked"  # the first start and one restart
    assert "stuck" in res.stdout and "escalation" in res.stdout
    _assert_clean_end(town)


def test_an_agent_that_escalates_fails_the_run(gated_town, gt_env, tmp_path) -> None:
    town, _ = gated_town
    write_formula(town, "help", {"a": ([], "gt done --status ESCALATED -m 'the spec is ambiguous'")})
    out = tmp_path / "summary.json"
    res = run_headless(
        gt_env, town, "--formula", "help", "--rig", "demo", "--agent", "sim", "--summary", str(out), "--timeout", "60"
    )
    assert res.returncode == 1, res.stdout + res.stderr
    failure = load(out)["failures"][0]
    assert failure["kind"] == "escalated" and "the spec is ambiguous" in failure["reason"]
    _assert_clean_end(town)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--formula", "nope", "--rig", "demo"], "no formula"),
        (["--formula", "needy", "--rig", "demo"], "who"),
        (["--formula", "needy", "--rig", "nowhere", "--var", "who=x"], "no rig named 'nowhere'"),
        (["--formula", "needy", "--var", "who=x"], "needs a rig"),
        (["--formula", "needy", "--rig", "demo", "--var", "who"], "KEY=VALUE"),
        (["--formula", "needy", "--rig", "demo", "--var", "who=x", "--agent", "nosuch"], "unknown agent preset"),
        (["--convoy", "hq-cv-nope"], "no convoy"),
        (["--convoy", "hq-cv-nope", "--formula", "needy"], "exactly one of"),
        ([], "exactly one of"),
        (["--formula", "needy", "--rig", "demo", "--var", "who=x", "--timeout", "0"], "--timeout"),
        (
            ["--formula", "needy", "--rig", "demo", "--var", "who=x", "--summary", "/nonexistent/dir/s.json"],
            "does not exist",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2_with_nothing_started(gated_town, gt_env, args, message) -> None:
    town, _ = gated_town
    write_formula(town, "needy", {"a": ([], "echo {{who}} > a.txt")}, header="[vars.who]\nrequired = true\n")
    res = run_headless(gt_env, town, *args, timeout=60)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gastown-tui: ") and message in lines[0], res.stderr
    assert res.stdout == ""
    assert run_events(town, ("engine_started", "molecule_poured", "queued")) == []


def test_a_convoy_of_town_level_beads_runs_on_the_rig_given(gated_town, gt_env, run_gt, tmp_path) -> None:
    town, rig = gated_town
    res = run_gt(
        "bead",
        "create",
        "Town-level work",
        "-d",
        "```sh\necho t > a.txt\n```\n",
        "--id",
        "hq-tw1",
        "--json",
        cwd=town.root,
    )
    bead = json.loads(res.stdout)["id"]
    assert bead.startswith("hq-")
    convoy = json.loads(run_gt("convoy", "create", "Town work", bead, "--json", cwd=town.root).stdout)["id"]
    res = run_headless(gt_env, town, "--convoy", convoy, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"gastown-tui: bead {bead} of convoy {convoy} is town-level: name the rig that works it with --rig RIG"
    )
    out = tmp_path / "summary.json"
    res = run_headless(
        gt_env,
        town,
        "--convoy",
        convoy[len("hq-") :],
        "--rig",
        "demo",
        "--agent",
        "sim",
        "--summary",
        str(out),
        "--timeout",
        "60",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    summary = load(out)
    assert summary["convoy"]["id"] == convoy and summary["formula"] is None
    assert [(b["id"], b["step"], b["polecat"].split("/")[0]) for b in summary["beads"]] == [(bead, None, "demo")]
    assert git.run_git(["show", "main:a.txt"], cwd=rig.repo_path).stdout == "t\n"


def test_refused_while_another_engine_holds_the_town(gated_town, gt_env) -> None:
    town, _ = gated_town
    write_formula(town, "one", {"a": ([], "echo a > a.txt")})
    runner = EngineThread(town).start()
    try:
        res = run_headless(gt_env, town, "--formula", "one", "--rig", "demo", timeout=60)
    finally:
        runner.stop()
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"gastown-tui: an engine is already running on town {town.root} (pid "
        f"{os.getpid()}): stop it with 'gt down', "
        "or queue the work on it with 'gt formula run'"
    )
    assert run_events(town, ("molecule_poured",)) == []


def test_a_tiny_timeout_exits_124_and_stops_the_run_sessions(gated_town, gt_env, tmp_path) -> None:
    town, _ = gated_town
    write_formula(town, "slow", {"a": ([], "sleep 60\necho a > a.txt")})
    out = tmp_path / "summary.json"
    started = time.monotonic()
    res = run_headless(
        gt_env,
        town,
        "--formula",
        "slow",
        "--rig",
        "demo",
        "--agent",
        "sim",
        "--timeout",
        "4",
        "--summary",
        str(out),
        timeout=60,
    )
    took = time.monotonic() - started
    assert res.returncode == 124, res.stdout + res.stderr
    assert took < 30
    summary = load(out)
    a = summary["beads"][0]
    assert summary["outcome"] == "timeout" and summary["exit_code"] == 124
    assert a["status"] == "hooked" and a["attempts"] == 1 and a["times"]["done"] is None
    assert summary["sessions_stopped"] == [f"demo-{a['polecat'].rsplit('/', 1)[1]}"]
    assert summary["totals"]["pending"] == 1 and 4 <= summary["totals"]["wall_s"] < 30
    assert f"convoy {summary['convoy']['id']} timed out" in res.stdout
    _assert_clean_end(town)


def test_sigterm_interrupts_the_run_cleanly(gated_town, gt_env, tmp_path) -> None:
    town, _ = gated_town
    write_formula(town, "slow", {"a": ([], "sleep 60\necho a > a.txt")})
    out = tmp_path / "summary.json"
    proc = subprocess.Popen(
        [
            str(VENV_BIN / "gastown-tui"),
            "--no-ui",
            "run",
            "--tick",
            "0.25",
            "--formula",
            "slow",
            "--rig",
            "demo",
            "--agent",
            "sim",
            "--summary",
            str(out),
        ],
        cwd=town.root,
        env=gt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: run_events(town, ("spawn",)), timeout=30)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stdout + stderr
    summary = load(out)
    assert summary["outcome"] == "interrupted" and summary["exit_code"] == 130
    assert len(summary["sessions_stopped"]) == 1
    assert f"convoy {summary['convoy']['id']} interrupted" in stdout
    _assert_clean_end(town)


def test_live_display_on_a_terminal(gated_town, gt_env, tmp_path) -> None:
    town, _ = gated_town
    write_formula(town, "one", {"a": ([], "echo a > a.txt")})
    out = tmp_path / "summary.json"
    child = pexpect.spawn(
        str(VENV_BIN / "gastown-tui"),
        [
            "--no-ui",
            "run",
            "--tick",
            "0.25",
            "--formula",
            "one",
            "--rig",
            "demo",
            "--agent",
            "sim",
            "--summary",
            str(out),
            "--timeout",
            "60",
        ],
        cwd=str(town.root),
        env={**gt_env, "TERM": "xterm-256color", "COLUMNS": "120"},
        encoding="utf-8",
        dimensions=(40, 120),
        timeout=90,
    )
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close()
    screen = child.before
    assert child.exitstatus == 0, screen
    assert "\x1b[" in screen  # rich drew on the terminal
    assert "━" in screen and "1/1" in screen  # the progress bar, complete
    assert "landed: 1/1 beads merged" in screen
    assert json.loads(out.read_text())["outcome"] == "landed"
    _assert_clean_end(town)
