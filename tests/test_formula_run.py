"""``gt formula run``: pour and queue in one transaction; without an engine the work waits (and a
headless ``--convoy`` run finishes it), with one the DAG runs to its landing (issue 8 item 4)."""

from __future__ import annotations

import json
import re

import pytest

from core import convoys, events, scheduler
from core.beads.store import BeadStore
from tests.test_engine_support import EngineThread, wait_for
from tests.test_headless_support import load, run_events, run_headless, write_formula

CHAIN = {"a": ([], "echo a > a.txt"), "b": (["a"], "test -f a.txt\necho b > b.txt")}


def test_without_an_engine_the_run_waits_then_a_headless_convoy_run_lands_it(
    gated_town, run_gt, gt_env, tmp_path
) -> None:
    town, _ = gated_town
    write_formula(town, "chain", CHAIN)
    res = run_gt("formula", "run", "chain", "--rig", "demo", "--agent", "sim", cwd=town.root)
    assert res.returncode == 0, res.stderr
    convoy = res.stdout.strip()
    assert convoy.startswith("hq-cv-") and "\n" not in convoy  # stdout is just the convoy id
    assert "No engine is running: the work waits for 'gt up'" in res.stderr
    assert f"--convoy {convoy}" in res.stderr
    with BeadStore(town) as store:
        c = convoys.get(store, convoy)
        rows = {q.bead: q for q in scheduler.list_queue(store.db)}
        assert sorted(rows) == sorted(t.id for t in c.tracked)
        assert {(q.rig, q.agent, q.convoy) for q in rows.values()} == {("demo", "sim", convoy)}
        assert all(t.status == "open" for t in c.tracked)
    out = tmp_path / "summary.json"
    res = run_headless(gt_env, town, "--convoy", convoy, "--summary", str(out), "--timeout", "60")
    assert res.returncode == 0, res.stdout + res.stderr
    summary = load(out)
    assert summary["outcome"] == "landed" and summary["formula"] == "chain"
    assert [b["step"] for b in summary["beads"]] == ["a", "b"] and summary["totals"]["merged"] == 2
    assert all(b["agent"] == "sim" for b in summary["beads"])  # the agent chosen at queue time
    assert res.stdout.startswith(f"gastown-tui: running convoy {convoy} (2 beads)")
    kinds = [m.group(1) for m in re.finditer(r"^\d\d:\d\d:\d\d . (\S+)", res.stdout, re.M)]
    assert kinds.count("sling") == 2 and kinds.count("merged") == 2 and kinds.count("convoy_landed") == 1


def test_with_an_engine_it_returns_the_convoy_and_the_dag_runs_in_order(gated_town, run_gt) -> None:
    town, _ = gated_town
    write_formula(town, "chain", CHAIN)
    runner = EngineThread(town).start()
    store = BeadStore(town)
    try:
        res = run_gt("formula", "run", "chain", "--rig", "demo", "--agent", "sim", "--json", cwd=town.root)
        assert res.returncode == 0, res.stderr
        data = json.loads(res.stdout)
        assert data["engine"]["running"] is True and data["rig"] == "demo" and data["formula"] == "chain"
        assert sorted(data["queued"]) == sorted(data["steps"].values()) and set(data["steps"]) == {"a", "b"}
        wait_for(lambda: convoys.get(store, data["convoy"]).state == "landed", timeout=60)
        evs = events.query(store.db, types=("sling", "merged"))
        a, b = data["steps"]["a"], data["steps"]["b"]
        merged_a = next(e.id for e in evs if e.type == "merged" and e.bead == a)
        slung_b = next(e.id for e in evs if e.type == "sling" and e.bead == b)
        assert merged_a < slung_b  # b waited for a's merge
    finally:
        store.disconnect()
        runner.stop()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--agent", "nosuch"], "unknown agent preset"),
        ([], "needs a rig"),
        (["--rig", "demo", "--var", "oops"], "KEY=VALUE"),
    ],
)
def test_bad_input_pours_nothing(gated_town, run_gt, args, message) -> None:
    town, _ = gated_town
    write_formula(town, "chain", CHAIN)
    extra = ["--rig", "demo"] if args and args[0] == "--agent" else []
    res = run_gt("formula", "run", "chain", *extra, *args, cwd=town.root)
    assert res.returncode == 2 and message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert res.stdout == ""
    assert run_events(town, ("molecule_poured", "queued", "convoy_created")) == []


def test_a_queue_refusal_rolls_back_the_pour(gated_town, run_gt) -> None:
    """A step whose own agent preset is unknown is refused while queueing: the molecule poured in
    the same transaction goes too."""
    town, _ = gated_town
    write_formula(town, "odd", {"a": ([], "echo a > a.txt")})
    path = town.formulas_dir / "odd.formula.toml"
    path.write_text(path.read_text().replace('title = "Part a"', 'title = "Part a"\nagent = "nosuch"'))
    res = run_gt("formula", "run", "odd", "--rig", "demo", cwd=town.root)
    assert res.returncode == 2 and "unknown agent preset 'nosuch'" in res.stderr
    assert run_events(town, ("molecule_poured", "queued", "convoy_created")) == []
    with BeadStore(town) as store:
        assert store.list() == [] and scheduler.depth(store.db) == 0
