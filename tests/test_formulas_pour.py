"""Pouring formulas into molecules on a real town database: the right beads, parent-child and blocks
edges, metadata, the convoy, the ready order, atomic failure, and ``gt formula pour`` as a process."""

from __future__ import annotations

import json
import shutil

import pytest

from core import convoys, events, molecules
from core.beads import BeadStore
from core.errors import GtError
from core.formulas import FormulaLibrary
from core.rigs import add_rig
from tests.conftest import FIXTURES, make_repo

GASTOWN = FIXTURES / "gastown" / "formulas"
BEADS = FIXTURES / "beads" / "formulas"


@pytest.fixture
def store(town):
    s = BeadStore(town)
    yield s
    s.disconnect()


def pour(town, store, name: str, values: dict[str, str], prefix: str = "hq", rig: str | None = None):
    cooked = FormulaLibrary(town).cook(name, values)
    return molecules.pour(town, molecules.plan(cooked, prefix, rig), actor="mayor", store=store)


def test_shiny_pours_into_the_right_beads_and_edges(town, store) -> None:
    shutil.copy(GASTOWN / "shiny.formula.toml", town.formulas_dir)
    poured = pour(town, store, "shiny", {"feature": "dark mode"})
    root = store.get(poured.root)
    assert root.issue_type == "molecule" and root.title == "shiny: feature=dark mode"
    assert root.metadata["formula"] == "shiny" and root.metadata["vars"] == {"feature": "dark mode"}
    assert root.metadata["convoy"] == poured.convoy
    assert root.metadata["steps"] == ["design", "implement", "review", "test", "submit"]
    steps = ["design", "implement", "review", "test", "submit"]
    assert poured.steps == {s: f"{poured.root}.{i}" for i, s in enumerate(steps, 1)}
    kids = store.children(poured.root)
    assert [k.id for k in kids] == [f"{poured.root}.{i}" for i in range(1, 6)]
    for step, kid in zip(steps, kids, strict=True):
        assert kid.metadata == {"formula": "shiny", "step": step, "molecule": poured.root}
        assert kid.parent == poured.root and kid.issue_type == "task" and kid.status == "open"
    assert [k.title for k in kids] == [
        "Design dark mode",
        "Implement dark mode",
        "Review implementation",
        "Test dark mode",
        "Submit for merge",
    ]
    assert kids[1].description.startswith("Write the code for dark mode.")
    assert kids[3].acceptance_criteria == "All tests pass, no regressions, test coverage for new code"
    blocks = {k.id: sorted(k.depends_on("blocks")) for k in kids}
    ids = poured.steps
    assert blocks == {
        ids["design"]: [],
        ids["implement"]: [ids["design"]],
        ids["review"]: [ids["implement"]],
        ids["test"]: [ids["review"]],
        ids["submit"]: [ids["test"]],
    }
    conv = convoys.get(store, poured.convoy)
    assert [t.id for t in conv.tracked] == list(ids.values())
    assert conv.metadata == {"molecule": poured.root, "formula": "shiny"}
    assert [i.id for i in store.ready()] == [ids["design"]]  # the root and the convoy are not work
    store.close(ids["design"], "t")
    assert [i.id for i in store.ready()] == [ids["implement"]]
    poured_events = events.query(store.db, types=("molecule_poured",))
    assert [(e.bead, e.payload["steps"]) for e in poured_events] == [(poured.root, ids)]


def test_diamond_steps_become_ready_together_and_convoy_lands(town, store) -> None:
    poured = pour(town, store, "demo", {})
    a, b, c, d = (poured.steps[s] for s in "abcd")
    assert sorted(store.get(d).depends_on("blocks")) == sorted([b, c])
    assert [i.id for i in store.ready()] == [a]
    store.close(a, "t")
    assert sorted(i.id for i in store.ready()) == sorted([b, c])
    store.close(b, "t")
    assert [i.id for i in store.ready()] == [c]
    store.close(c, "t")
    store.close(d, "t")
    assert convoys.check_landed(store, poured.convoy)


def test_expanded_formula_pours_every_expanded_step(town, store) -> None:
    for name in ("shiny", "shiny-enterprise", "rule-of-five"):
        shutil.copy(GASTOWN / f"{name}.formula.toml", town.formulas_dir)
    poured = pour(town, store, "shiny-enterprise", {"feature": "x"})
    assert list(poured.steps) == [
        "design",
        "implement.draft",
        "implement.refine-1",
        "implement.refine-2",
        "implement.refine-3",
        "implement.refine-4",
        "review",
        "test",
        "submit",
    ]
    draft = store.get(poured.steps["implement.draft"])
    assert draft.metadata["formula"] == "rule-of-five" and draft.metadata["step"] == "implement.draft"
    assert store.get(poured.steps["review"]).depends_on("blocks") == [poured.steps["implement.refine-4"]]


def test_human_steps_become_labelled_tasks(town, store) -> None:
    shutil.copy(BEADS / "examples" / "feature-workflow.formula.toml", town.formulas_dir)
    poured = pour(town, store, "feature-workflow", {"feature_name": "search"})
    design = store.get(poured.steps["design"])
    assert (design.issue_type, design.labels) == ("task", ["human"])
    assert store.get(poured.steps["implement"]).labels == []


def test_a_refused_bead_leaves_nothing_behind(town, store) -> None:
    (town.formulas_dir / "badlabel.formula.toml").write_text(
        'formula = "badlabel"\n[[steps]]\nid = "a"\n[[steps]]\nid = "b"\nneeds = ["a"]\nlabels = ["has space"]\n'
    )
    with pytest.raises(GtError, match="invalid label"):
        pour(town, store, "badlabel", {})
    assert store.list() == []
    assert events.query(store.db, types=("molecule_poured", "convoy_created")) == []


def test_pour_into_a_rig_uses_its_prefix(town, store, tmp_path) -> None:
    rig = add_rig(town, "proj", str(make_repo(tmp_path / "proj")), prefix="pj")
    cooked = FormulaLibrary(town, rig).cook("shiny", {"feature": "f"})
    poured = molecules.pour(town, molecules.plan(cooked, rig.prefix, rig.name), actor="t", store=store)
    assert poured.root.startswith("pj-") and all(b.startswith(poured.root + ".") for b in poured.steps.values())
    assert poured.convoy.startswith("hq-cv-")  # convoys are town-level
    assert events.query(store.db, types=("molecule_poured",))[0].rig == "proj"


def test_gt_formula_pour(town, run_gt, tmp_path) -> None:
    add_rig(town, "proj", str(make_repo(tmp_path / "proj")), prefix="pj")
    env = {"GT_LEDGER_SYNC": "off", "BD_ACTOR": "mayor"}
    r = run_gt("formula", "pour", "demo", "--var", "topic=ships", "--rig", "proj", "--json", cwd=town.root, env=env)
    assert r.returncode == 0, r.stderr
    poured = json.loads(r.stdout)
    assert poured["root"].startswith("pj-") and list(poured["steps"]) == ["a", "b", "c", "d"]
    shown = json.loads(run_gt("bead", "show", poured["steps"]["a"], "--json", cwd=town.root, env=env).stdout)
    assert shown["title"] == "Start the ships demo" and shown["created_by"] == "mayor"
    assert "# ships demo" in shown["description"]
    r = run_gt("convoy", "show", poured["convoy"], "--json", cwd=town.root, env=env)
    assert json.loads(r.stdout)["total"] == 4
    # From inside the rig's directory the rig is implied.
    r = run_gt("formula", "pour", "shiny", "--var", "feature=x", cwd=town.rig_dir("proj"), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Poured shiny as pj-") and "convoy hq-cv-" in r.stdout.splitlines()[0]
    r = run_gt("formula", "pour", "shiny", "--var", "feature=x", "--rig", "nope", cwd=town.root, env=env)
    assert r.returncode == 2 and "no rig named 'nope'" in r.stderr
