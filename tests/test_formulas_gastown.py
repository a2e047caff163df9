"""Formulas run as written (issue 18, part 4): each Gas Town/beads formula feature poured into a real
town database, checking the beads and their edges; gates resolved by time, by mail and by hand
(``gt gate`` as a process); a 1,000-step formula shown and poured; every real formula parses and cooks;
a plain sling attaches the default work formula and ``gt prime`` shows it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import async_gates, convoys, mail, molecules
from core.beads import BeadStore
from core.beads.model import now_ns
from core.errors import GtError
from core.formulas import FormulaError, FormulaLibrary, dependency_tree, load_formula, parse_formula
from core.formulas.control import condition_holds, eval_expr
from core.prime import prime
from core.rigs import add_rig
from core.roles import Role
from core.sessions import SessionHost
from core.sling import default_work_formula
from tests.conftest import FIXTURES

PRIMITIVES = FIXTURES / "gastown" / "formulas" / "primitives"
HOSTILE = "\x1b[31mred\x1b[0m $(rm -rf /) `reboot` ; {{x}}"


@pytest.fixture
def store(town):
    s = BeadStore(town)
    yield s
    s.disconnect()


def write(town, name: str, text: str) -> None:
    (town.formulas_dir / f"{name}.formula.toml").write_text(text)


def pour(town, store, name: str, values: dict[str, str] | None = None):
    """Cook ``name`` from the town, the primitives fixtures and the built-ins; pour it; return
    (plan, poured)."""
    cooked = FormulaLibrary(town, dirs=[PRIMITIVES]).cook(name, values or {})
    planned = molecules.plan(cooked, "hq")
    return planned, molecules.pour(town, planned, actor="mayor", store=store)


def blocks(store, bead: str) -> list[str]:
    return sorted(store.get(bead).depends_on("blocks"))


def ready_ids(store) -> set[str]:
    return {i.id for i in store.ready()}


def test_children_pour_as_child_beads_under_an_epic(town, store) -> None:
    planned, poured = pour(town, store, "children-epic")
    ids = poured.steps
    root = poured.root
    assert ids == {"ship-feature": f"{root}.1", "draft": f"{root}.1.1", "polish": f"{root}.1.2"}
    epic, draft, polish = (store.get(ids[k]) for k in ("ship-feature", "draft", "polish"))
    assert epic.issue_type == "epic" and epic.parent == root
    assert draft.parent == epic.id and polish.parent == epic.id
    assert blocks(store, polish.id) == [draft.id] and blocks(store, draft.id) == []
    assert [c.id for c in store.children(epic.id)] == [draft.id, polish.id]
    # the convoy tracks the work, not the grouping epic
    assert [t.id for t in convoys.get(store, poured.convoy).tracked] == [draft.id, polish.id]
    assert draft.id in ready_ids(store) and polish.id not in ready_ids(store)


def test_a_step_needing_a_parent_waits_for_its_descendants(town, store) -> None:
    write(
        town,
        "nest",
        'formula = "nest"\n'
        '[[steps]]\nid = "first"\n'
        '[[steps]]\nid = "group"\nneeds = ["first"]\n'
        '[[steps.children]]\nid = "a"\n'
        '[[steps.children]]\nid = "b"\nneeds = ["a"]\n'
        '[[steps.children.children]]\nid = "b1"\n'
        '[[steps]]\nid = "after"\nneeds = ["group"]\n',
    )
    _, poured = pour(town, store, "nest")
    s, root = poured.steps, poured.root
    assert s == {
        "first": f"{root}.1",
        "group": f"{root}.2",
        "a": f"{root}.2.1",
        "b": f"{root}.2.2",
        "b1": f"{root}.2.2.1",
        "after": f"{root}.3",
    }
    assert store.get(s["b1"]).parent == s["b"] and store.get(s["b"]).issue_type == "epic"
    assert blocks(store, s["after"]) == sorted([s["a"], s["b1"]])
    # children wait for their parent's needs (the parent is blocked by "first")
    assert not {s["a"], s["b1"]} & ready_ids(store)
    store.close(s["first"], "t")
    assert s["a"] in ready_ids(store) and s["b1"] not in ready_ids(store)  # b1's parent b needs a
    store.close(s["a"], "t")
    assert s["b1"] in ready_ids(store) and s["after"] not in ready_ids(store)
    store.close(s["b1"], "t")
    assert s["after"] in ready_ids(store)


def test_pour_false_pours_the_root_alone(town, store) -> None:
    write(
        town,
        "rootonly",
        'formula = "rootonly"\npour = false\n[[steps]]\nid = "one"\n[[steps]]\nid = "two"\nneeds = ["one"]\n',
    )
    lib = FormulaLibrary(town)
    assert lib.load("rootonly").unsupported == [] and lib.cook("rootonly").pour is False
    planned, poured = pour(town, store, "rootonly")
    assert planned.children == [] and poured.steps == {}
    root = store.get(poured.root)
    assert root.metadata["pour"] is False and root.metadata["steps"] == ["one", "two"]
    assert store.children(poured.root) == []
    assert [t.id for t in convoys.get(store, poured.convoy).tracked] == [poured.root]


def test_loop_count_expands_chained_iterations(town, store) -> None:
    _, poured = pour(town, store, "loop-count")
    ids = poured.steps
    assert list(ids) == ["process.iter1.work", "process.iter2.work", "process.iter3.work"]
    assert blocks(store, ids["process.iter1.work"]) == []
    assert blocks(store, ids["process.iter2.work"]) == [ids["process.iter1.work"]]
    assert blocks(store, ids["process.iter3.work"]) == [ids["process.iter2.work"]]


def test_loop_range_binds_its_variable(town, store) -> None:
    _, poured = pour(town, store, "loop-range")
    assert [store.get(b).title for b in poured.steps.values()] == ["Move 1", "Move 2", "Move 3"]


def test_loop_range_from_a_variable_sits_between_its_neighbours(town, store) -> None:
    write(
        town,
        "hanoi",
        'formula = "hanoi"\n[vars.disks]\ndefault = "2"\n'
        '[[steps]]\nid = "setup"\n'
        '[[steps]]\nid = "moves"\nneeds = ["setup"]\n'
        '[steps.loop]\nrange = "1..2^{disks}-1"\nvar = "n"\n'
        '[[steps.loop.body]]\nid = "move"\ntitle = "Move {n} of {{disks}} disks"\n'
        '[[steps.loop.body]]\nid = "check"\nneeds = ["move"]\n'
        '[[steps]]\nid = "done"\nneeds = ["moves"]\n',
    )
    _, poured = pour(town, store, "hanoi", {"disks": "3"})
    s = poured.steps
    moves = [k for k in s if k.endswith(".move")]
    assert len(moves) == 7 and store.get(s["moves.iter7.move"]).title == "Move 7 of 3 disks"
    assert blocks(store, s["moves.iter1.move"]) == [s["setup"]]
    assert blocks(store, s["moves.iter2.move"]) == [s["moves.iter1.check"]]
    assert blocks(store, s["done"]) == [s["moves.iter7.check"]]
    with pytest.raises(FormulaError, match="range"):
        FormulaLibrary(town).cook("hanoi", {"disks": "-1"})  # 1..2^-1-1: a negative exponent


def test_loop_until_pours_one_iteration_with_its_condition(town, store) -> None:
    write(
        town,
        "retry",
        'formula = "retry"\n[[steps]]\nid = "try"\n[steps.loop]\nuntil = "{{ok}} == yes"\nmax = 3\n'
        '[[steps.loop.body]]\nid = "attempt"\n',
    )
    _, poured = pour(town, store, "retry")
    (bead,) = poured.steps.values()
    issue = store.get(bead)
    assert "loop:until" in issue.labels
    assert issue.metadata["loop"] == {"step": "try", "until": "{{ok}} == yes", "max": 3}


@pytest.mark.parametrize(
    "loop, problem",
    [
        ('count = 2\nrange = "1..3"', "exactly one of"),
        ('until = "{{x}}"', "needs max"),
        ("range = \"1..__import__('os')\"", "invalid"),
        ("count = 2", "needs a body"),
    ],
)
def test_bad_loops_are_refused_with_their_line(loop: str, problem: str) -> None:
    text = f'formula = "t"\n[[steps]]\nid = "s"\n[steps.loop]\n{loop}\n'
    if problem != "needs a body":
        text += '[[steps.loop.body]]\nid = "b"\n'
    with pytest.raises(FormulaError, match=problem) as err:
        parse_formula(text, "t.formula.toml")
    assert err.value.line is not None and err.value.line >= 4


def test_condition_drops_a_step_and_keeps_the_order(town, store) -> None:
    _, poured = pour(town, store, "condition")
    assert list(poured.steps) == ["build", "test"]
    _, poured = pour(town, store, "condition", {"deploy": "true"})
    s = poured.steps
    assert list(s) == ["build", "test", "deploy"] and blocks(store, s["deploy"]) == [s["test"]]
    # a dropped step in the middle hands its needs on
    write(
        town,
        "skip",
        'formula = "skip"\n[vars.lint]\ndefault = ""\n[[steps]]\nid = "a"\n'
        '[[steps]]\nid = "b"\nneeds = ["a"]\ncondition = "{{lint}}"\n'
        '[[steps]]\nid = "c"\nneeds = ["b"]\ncondition = "!{{lint}}"\n',
    )
    _, poured = pour(town, store, "skip", {"lint": HOSTILE})
    assert list(poured.steps) == ["a", "b"]
    _, poured = pour(town, store, "skip")
    assert list(poured.steps) == ["a", "c"] and blocks(store, poured.steps["c"]) == [poured.steps["a"]]


def test_conditions_are_a_grammar_never_code() -> None:
    assert condition_holds("{{a}} == 'x y'", {"a": "x y"})
    assert condition_holds("{{a}} != x", {"a": HOSTILE})
    assert not condition_holds("{{a}}", {"a": "Off"}) and condition_holds("!{{a}}", {})
    for bad in ("__import__('os').system('true')", "{{a}} and {{b}}", "{{a}} > 1"):
        with pytest.raises(ValueError, match="invalid condition"):
            condition_holds(bad, {})
    with pytest.raises(FormulaError, match="invalid condition") as err:
        parse_formula('formula = "t"\n[[steps]]\nid = "a"\ncondition = "1 + 1"\n', "t.formula.toml")
    assert err.value.line == 4
    assert eval_expr("2^3^2") == 512 and eval_expr("-(1+2)*3") == -9 and eval_expr("7/2") == 3
    for bad in ("2**3", "1+", "(1", "9^99"):
        with pytest.raises(ValueError):
            eval_expr(bad)


def test_timer_gate_blocks_its_step_until_due(town, store) -> None:
    _, poured = pour(town, store, "gate-timer")
    s = poured.steps
    assert list(s) == ["deploy", "gate-verify", "verify"]
    gate = store.get(s["gate-verify"])
    assert gate.issue_type == "gate" and gate.parent == poured.root and gate.title == "Gate: timer soak-30m"
    assert gate.metadata["gate"] == {"type": "timer", "await_id": "soak-30m", "timeout_s": 1800}
    assert gate.due_at is not None
    assert blocks(store, s["verify"]) == sorted([s["deploy"], s["gate-verify"]])
    assert [t.id for t in convoys.get(store, poured.convoy).tracked] == [s["deploy"], s["verify"]]
    store.close(s["deploy"], "t")
    assert s["verify"] not in ready_ids(store) and s["gate-verify"] not in ready_ids(store)
    assert async_gates.check(store) == []  # not due yet
    assert async_gates.check(store, now=now_ns() + 1801 * 10**9) == [s["gate-verify"]]
    assert store.get(s["gate-verify"]).status == "closed"
    assert s["verify"] in ready_ids(store)


def test_mail_gate_resolves_when_its_mail_arrives(town, store) -> None:
    write(
        town,
        "await-mail",
        'formula = "await-mail"\n[[steps]]\nid = "review"\n[steps.gate]\ntype = "mail"\nid = "LGTM: $(rm -rf /)"\n',
    )
    _, poured = pour(town, store, "await-mail")
    gate_id = poured.steps["gate-review"]
    mail.send(town, "mayor/", "LGTM", "not the subject", sender="deacon/", db=store.db)
    assert async_gates.check(store) == []
    mail.send(town, "mayor/", "LGTM: $(rm -rf /)", HOSTILE, sender="deacon/", db=store.db)
    assert async_gates.check(store) == [gate_id]
    assert poured.steps["review"] in ready_ids(store)


def test_human_and_github_gates_wait_for_gt_gate_resolve(town, store, run_gt) -> None:
    write(
        town,
        "release",
        'formula = "release"\n[[steps]]\nid = "tag"\n'
        '[[steps]]\nid = "approve"\nneeds = ["tag"]\n[steps.gate]\ntype = "human"\n'
        '[[steps]]\nid = "publish"\nneeds = ["approve"]\n[steps.gate]\ntype = "gh:run"\nid = "release.yml"\n'
        'timeout = "30m"\n',
    )
    (u,) = FormulaLibrary(town).load("release").unsupported
    assert u.key == "steps[2].gate.type" and "gh:run gates are not checked here (unavailable)" in u.reason
    _, poured = pour(town, store, "release")
    human, gh = poured.steps["gate-approve"], poured.steps["gate-publish"]
    assert async_gates.check(store, now=now_ns() + 10**13) == []  # neither resolves by itself
    res = run_gt("gate", "list", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    rows = {g["id"]: g for g in json.loads(res.stdout)}
    assert set(rows) == {human, gh}
    assert rows[gh]["type"] == "gh:run" and rows[gh]["await_id"] == "release.yml"
    assert rows[human]["blocks"] == [poured.steps["approve"]] and rows[human]["resolved_by"] == "gt gate resolve"
    res = run_gt("gate", "resolve", human, "--reason", HOSTILE, cwd=town.root)
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and f"Resolved gate {human}" in res.stdout
    assert store.get(human).status == "closed"
    again = run_gt("gate", "resolve", human, cwd=town.root)
    assert again.returncode == 2 and "already resolved" in again.stderr
    not_gate = run_gt("gate", "resolve", poured.steps["tag"], cwd=town.root)
    assert not_gate.returncode == 2 and "not a gate" in not_gate.stderr
    listing = run_gt("gate", "list", cwd=town.root)
    assert gh in listing.stdout and human not in listing.stdout


def test_bad_gates_are_refused_with_their_line() -> None:
    for gate, problem in (
        ('type = "timer"', "needs a timeout"),
        ('type = "mail"', "needs the subject"),
        ('type = "timer"\ntimeout = "soon"', "invalid duration"),
    ):
        with pytest.raises(FormulaError, match=problem) as err:
            parse_formula(f'formula = "t"\n[[steps]]\nid = "a"\n[steps.gate]\n{gate}\n', "t.formula.toml")
        assert err.value.line is not None and err.value.line >= 4


def test_waits_for_is_a_waits_for_edge_on_the_spawner(town, store) -> None:
    write(
        town,
        "fanout",
        'formula = "fanout"\n[[steps]]\nid = "survey"\n'
        '[[steps]]\nid = "aggregate"\nneeds = ["survey"]\nwaits_for = "all-children"\n'
        '[[steps]]\nid = "report"\nwaits_for = "children-of(survey)"\n',
    )
    _, poured = pour(town, store, "fanout")
    s = poured.steps
    agg, report = store.get(s["aggregate"]), store.get(s["report"])
    assert agg.depends_on("waits-for") == [s["survey"]] and "gate:all-children" in agg.labels
    assert report.depends_on("waits-for") == [s["survey"]] and "gate:children-of(survey)" in report.labels
    # the spawner's children appear at run time; the waiter waits for them all
    arm = store.create("arm 1", actor="witness", parent=s["survey"])
    store.close(s["survey"], "t")
    assert s["aggregate"] not in ready_ids(store) and s["report"] not in ready_ids(store)
    store.close(arm.id, "t")
    assert {s["aggregate"], s["report"]} <= ready_ids(store)
    with pytest.raises(FormulaError, match="unknown waits_for"):
        parse_formula('formula = "t"\n[[steps]]\nid = "a"\nwaits_for = "some"\n', "t.formula.toml")


def test_vapor_phase_pours_ephemeral_beads(town, store) -> None:
    write(town, "patrol", 'formula = "patrol"\nphase = "vapor"\n[[steps]]\nid = "look"\n[[steps]]\nid = "act"\n')
    assert FormulaLibrary(town).load("patrol").unsupported == []
    planned, poured = pour(town, store, "patrol")
    assert planned.ephemeral
    assert store.get(poured.root).ephemeral
    assert all(store.get(b).ephemeral for b in poured.steps.values())
    assert not set(poured.steps.values()) & ready_ids(store)  # wisps are never ready work


def test_gastown_schema_keys_are_accepted_and_kept(town, store) -> None:
    write(
        town,
        "review",
        'formula = "review"\nagent = "codex"\nreview_only = true\n'
        '[[steps]]\nid = "a"\nparallel = true\n'
        '[[steps]]\nid = "b"\ninteractive = true\nagent = "claude"\n',
    )
    assert FormulaLibrary(town).load("review").unsupported == []
    _, poured = pour(town, store, "review")
    a, b = (store.get(poured.steps[k]).metadata for k in ("a", "b"))
    assert (a["agent"], a["parallel"], a["review_only"]) == ("codex", True, True)
    assert (b["agent"], b["interactive"], b["review_only"]) == ("claude", True, True)
    # the convoy formula of Gas Town's own tree: formula-level agent and review_only, no unknown key
    code_review = load_formula(FIXTURES / "gastown" / "formulas" / "code-review.formula.toml")
    assert not [u for u in code_review.unsupported if "unknown key" in u.reason]


def test_branch_fans_in(town, store) -> None:
    _, poured = pour(town, store, "branch-fanin")
    s = poured.steps
    for k in ("test", "lint", "build"):
        assert blocks(store, s[k]) == [s["prepare"]]
    assert blocks(store, s["deploy"]) == sorted(s[k] for k in ("test", "lint", "build"))


def _chain(n: int) -> str:
    steps = "".join(
        f'[[steps]]\nid = "move-{i}"\ntitle = "Move {i}"\n' + (f'needs = ["move-{i - 1}"]\n' if i > 1 else "")
        for i in range(1, n + 1)
    )
    return f'formula = "long"\ndescription = "a 1,000-step chain"\n{steps}'


def test_a_thousand_step_formula_shows_and_pours(town, store, run_gt) -> None:
    write(town, "long", _chain(1000))
    res = run_gt("formula", "show", "long", cwd=town.root)
    assert res.returncode == 0, res.stderr
    assert "Steps (1000):" in res.stdout and "move-1000: Move 1000" in res.stdout
    tree = res.stdout.split("Steps (1000):")[1].splitlines()
    assert max(len(line) for line in tree) < 80  # the indent stops growing
    lines = dependency_tree(FormulaLibrary(town).cook("long").steps)
    assert len(lines) == 1000
    res = run_gt("formula", "pour", "long", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    poured = json.loads(res.stdout)
    assert len(poured["steps"]) == 1000
    last, before = poured["steps"]["move-1000"], poured["steps"]["move-999"]
    assert last == f"{poured['root']}.1000" and blocks(store, last) == [before]
    assert ready_ids(store) == {poured["steps"]["move-1"]}


def test_a_runaway_loop_is_refused(town) -> None:
    write(
        town,
        "huge",
        'formula = "huge"\n[[steps]]\nid = "l"\n[steps.loop]\nrange = "1..50000"\n[[steps.loop.body]]\nid = "x"\n',
    )
    with pytest.raises(GtError, match="iterations"):
        FormulaLibrary(town).cook("huge")


REAL = sorted((FIXTURES / "gastown" / "formulas").rglob("*.formula.toml")) + sorted(
    (FIXTURES / "beads" / "formulas").rglob("*.formula.*")
)


def test_every_real_formula_parses_and_cooks(tmp_path: Path) -> None:
    d = tmp_path / "all"
    d.mkdir()
    for p in REAL:
        shutil.copy(p, d / p.name)
    lib = FormulaLibrary(dirs=[d], builtins=False)
    cooked = 0
    for p in REAL:
        f = load_formula(p)
        if f.type in ("expansion", "aspect"):
            continue
        steps = lib.cook(f.name, check_vars=False).steps
        assert steps, p.name
        cooked += 1
    assert cooked >= 15


def test_a_plain_sling_attaches_the_default_work_formula(town, git_repo, store, run_gt) -> None:
    rig = add_rig(town, "demo", str(git_repo))
    try:
        bead = store.create(f"Fix it {HOSTILE}", actor="mayor", prefix=rig.prefix, description="do it")
        res = run_gt("sling", bead.id, "demo", "--json", cwd=town.root)
        assert res.returncode == 0, res.stderr
        name = json.loads(res.stdout)[0]["polecat"].split("/")[-1]
        assert store.get(bead.id).metadata["formula"] == "polecat-work"
        brief = prime(town, Role("polecat", "demo", name, bead.id), store)
        assert "### Formula polecat-work: follow these steps in order" in brief
        assert f"**Load context for {bead.id}**" in brief
        # a town's mol-polecat-work wins over the built-in, as in Gas Town
        shutil.copy(FIXTURES / "gastown" / "formulas" / "mol-polecat-work.formula.toml", town.formulas_dir)
        assert default_work_formula(town, rig) == "mol-polecat-work"
        # a bead that already names its formula keeps it
        third = store.create("Third", actor="mayor", prefix=rig.prefix, metadata={"formula": "shiny"})
        res = run_gt("sling", third.id, "demo", "--json", cwd=town.root)
        assert res.returncode == 0, res.stderr
        assert store.get(third.id).metadata["formula"] == "shiny"
    finally:
        SessionHost(town).kill_server()
