"""Formulas: the parser against the real fixture formulas, errors that name file/line/key, cooking
(extends, expansions, aspects, convoys, variables), the search path (town, rig repository, built-ins)
and ``gt formula list|show|pour --dry-run``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.errors import GtError, NotFound
from core.formulas import BUILTIN_DIR, FormulaError, FormulaLibrary, dependency_tree, load_formula, parse_formula
from core.rigs import add_rig
from tests.conftest import FIXTURES as VENDORED, git, make_repo

GASTOWN = VENDORED / "gastown" / "formulas"
BEADS = VENDORED / "beads" / "formulas"
FIXTURES = (
    sorted(GASTOWN.glob("*.formula.toml"))
    + sorted(BEADS.rglob("*.formula.toml"))
    + sorted(BEADS.rglob("*.formula.json"))
)

# What each fixture cannot execute yet, exactly (key -> file line).
EXPECTED_UNSUPPORTED = {
    "beads-release.formula.toml": {"steps[23].gate.type": 666},  # a gh:run gate: resolved by hand here
    "code-review.formula.toml": {"prompts": 67, "output": 129, "presets": 410},
}
# Values that satisfy every fixture's required variables and patterns.
FIXTURE_VARS = {
    "feature": "login",
    "feature_name": "login",
    "version": "1.2.3",
    "issue": "gt-abc",
    "issue_number": "42",
    "pr_number": "7",
    "pr": "7",
}
# Steps each cookable fixture pours.
EXPECTED_STEPS = {
    "shiny": 5,
    "shiny-enterprise": 9,
    "mol-polecat-work": 8,
    "mol-refinery-patrol": 13,
    "mol-witness-patrol": 9,
    "code-review": 11,
    "beads-release": 31,
    "feature-workflow": 5,
    "gh-issue-to-pr": 12,
    "gh-pr-review": 7,
    "quick-check": 4,
    "release": 6,
}


def fixture_library(tmp_path: Path, *extra: Path) -> FormulaLibrary:
    d = tmp_path / "formulas"
    d.mkdir(exist_ok=True)
    for p in [*GASTOWN.glob("*.formula.toml"), *extra]:
        shutil.copy(p, d / p.name)
    return FormulaLibrary(dirs=[d], builtins=False)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.relative_to(VENDORED).as_posix())
def test_every_fixture_formula_parses_and_names_what_is_unsupported(path: Path) -> None:
    f = load_formula(path)
    assert f.name == path.name.split(".formula.")[0]
    got = {u.key: u.line for u in f.unsupported}
    expected = {} if path.suffix == ".json" else EXPECTED_UNSUPPORTED.get(path.name, {})
    assert got == expected
    for u in f.unsupported:
        assert str(u).startswith(f"{path}:{u.line}: {u.key}: ")
    assert len(f.steps) + len(f.template) + len(f.legs) + len(f.advice) > 0 or f.extends


def test_every_cookable_fixture_cooks_to_a_dag(tmp_path: Path) -> None:
    lib = fixture_library(tmp_path, *BEADS.glob("examples/*.toml"), BEADS / "beads-release.formula.toml")
    for name, count in EXPECTED_STEPS.items():
        declared = lib.cook(name, check_vars=False).variables
        cooked = lib.cook(name, {k: v for k, v in FIXTURE_VARS.items() if k in declared})
        assert len(cooked.steps) == count, name
        seen: set[str] = set()
        for s in cooked.steps:  # dependency order: every need comes first
            assert set(s.needs) <= seen, (name, s.id)
            seen.add(s.id)
        assert not any("{{" + k + "}}" in s.title + s.description for s in cooked.steps for k in cooked.vars)


def test_historical_json_formula_cooks(tmp_path: Path) -> None:
    d = tmp_path / "f"
    d.mkdir()
    shutil.copy(BEADS / "historical" / "beads-release.formula.json", d)
    cooked = FormulaLibrary(dirs=[d], builtins=False).cook("beads-release", {"version": "0.9.1"})
    assert len(cooked.steps) == 21
    bump = next(s for s in cooked.steps if "bump-version.sh" in s.description)
    assert "./scripts/bump-version.sh 0.9.1" in bump.description
    assert not any("{{version}}" in s.description for s in cooked.steps)


def test_shiny_cooks_in_order_with_needs_and_substitution(tmp_path: Path) -> None:
    cooked = fixture_library(tmp_path).cook("shiny", {"feature": "dark mode"})
    assert [(s.id, s.needs) for s in cooked.steps] == [
        ("design", []),
        ("implement", ["design"]),
        ("review", ["implement"]),
        ("test", ["review"]),
        ("submit", ["test"]),
    ]
    assert cooked.steps[0].title == "Design dark mode"
    assert cooked.steps[1].description.startswith("Write the code for dark mode.")
    assert cooked.steps[0].acceptance.startswith("Design doc committed")
    assert cooked.vars == {"feature": "dark mode"}


def test_extends_and_expansion_rewire_needs(tmp_path: Path) -> None:
    cooked = fixture_library(tmp_path).cook("shiny-enterprise", {"feature": "x"})
    needs = {s.id: s.needs for s in cooked.steps}
    assert needs == {
        "design": [],
        "implement.draft": ["design"],
        "implement.refine-1": ["implement.draft"],
        "implement.refine-2": ["implement.refine-1"],
        "implement.refine-3": ["implement.refine-2"],
        "implement.refine-4": ["implement.refine-3"],
        "review": ["implement.refine-4"],
        "test": ["review"],
        "submit": ["test"],
    }
    draft = cooked.steps[1]
    assert draft.title == "Draft: Implement x"  # {target.title}, then {{feature}}
    assert draft.description.startswith("Initial attempt at: Write the code for x.")
    assert draft.formula == "rule-of-five"


def test_aspect_wraps_matching_steps(tmp_path: Path) -> None:
    extra = tmp_path / "secure-shiny.formula.toml"
    extra.write_text('formula = "secure-shiny"\nextends = ["shiny"]\n[compose]\naspects = ["security-audit"]\n')
    cooked = fixture_library(tmp_path, extra).cook("secure-shiny", {"feature": "x"})
    needs = {s.id: s.needs for s in cooked.steps}
    assert needs["implement-security-prescan"] == ["design"]
    assert needs["implement"] == ["implement-security-prescan"]
    assert needs["implement-security-postscan"] == ["implement"]
    assert needs["review"] == ["implement-security-postscan"]
    assert needs["submit-security-prescan"] == ["test"]
    assert needs["submit"] == ["submit-security-prescan"]
    assert needs["submit-security-postscan"] == ["submit"]
    titles = {s.id: s.title for s in cooked.steps}
    assert titles["implement-security-prescan"] == "Security prescan for implement"


def test_convoy_formula_legs_run_in_parallel_then_synthesis(tmp_path: Path) -> None:
    cooked = fixture_library(tmp_path).cook("code-review", {"pr": "12"})
    legs = cooked.steps[:-1]
    assert all(s.needs == [] for s in legs) and len(legs) == 10
    assert cooked.steps[-1].id == "synthesis"
    assert sorted(cooked.steps[-1].needs) == sorted(s.id for s in legs)
    assert legs[0].description.startswith("Focus: Logical correctness")


def test_convoy_inputs_required_unless(tmp_path: Path) -> None:
    lib = fixture_library(tmp_path)
    with pytest.raises(GtError, match="needs variable"):
        lib.cook("code-review", {})
    assert lib.cook("code-review", {"branch": "feature/x"}).vars == {"branch": "feature/x"}


def test_variables_are_checked(tmp_path: Path) -> None:
    lib = fixture_library(
        tmp_path, BEADS / "examples" / "release.formula.toml", BEADS / "examples" / "gh-issue-to-pr.formula.toml"
    )
    with pytest.raises(GtError, match=r"needs variable\(s\) feature: pass --var feature=\.\.\."):
        lib.cook("shiny", {})
    with pytest.raises(GtError, match=r"has no variable 'featur'.*variables: assignee, feature"):
        lib.cook("shiny", {"feature": "x", "featur": "y"})
    with pytest.raises(GtError, match=r"must match .*not '1\.2'"):
        lib.cook("release", {"version": "1.2"})
    with pytest.raises(GtError, match="must be one of"):
        lib.cook("gh-issue-to-pr", {"issue_number": "5", "council_preset": "nope"})
    cooked = lib.cook("gh-issue-to-pr", {"issue_number": "5"})
    assert cooked.vars["base_branch"] == "main"  # a default
    with pytest.raises(GtError, match="must be an integer"):
        parse_and_cook('formula="t"\n[vars.n]\ntype="int"\n[[steps]]\nid="a"\ntitle="{{n}}"\n', {"n": "x"})


def parse_and_cook(text: str, values: dict[str, str]):
    from core.formulas import cook

    f = parse_formula(text, "t.formula.toml")
    return cook(f, values, lambda name: (_ for _ in ()).throw(NotFound(name)))


def test_bare_string_var_is_a_default_and_unknown_placeholders_are_reported() -> None:
    cooked = parse_and_cook(
        'formula = "t"\n[vars]\nwho = "world"\n[[steps]]\nid = "a"\ntitle = "Hello {{who}} {{nobody}}"\n', {}
    )
    assert cooked.steps[0].title == "Hello world {{nobody}}"
    assert cooked.warnings == ["a: placeholder {{nobody}} names no declared variable; left as written"]


def test_var_without_value_used_by_a_step_is_refused() -> None:
    with pytest.raises(GtError, match=r"uses variable 'who', which has no value: pass --var who="):
        parse_and_cook('formula = "t"\n[vars.who]\ndescription = "x"\n[[steps]]\nid = "a"\ntitle = "{{who}}"\n', {})


@pytest.mark.parametrize(
    "text, line, key, words",
    [
        (
            'formula = "t"\n[[steps]]\nid = "a"\n[[steps]]\nid = "b"\nneeds = 5\n',
            6,
            "steps[1].needs",
            "array of strings",
        ),
        ('formula = "t"\n[[steps]]\nid = "a"\n[[steps]]\nid = "a"\n', 5, "steps[1].id", "duplicate step id"),
        ('formula = "t"\n\n[[steps]]\ntitle = "no id"\n', 3, "steps[0]", "missing required key 'id'"),
        ('formula = "t"\ntype = "sideways"\n[[steps]]\nid = "a"\n', 2, "type", "unknown formula type"),
        ('formula = "t"\n[vars.v]\npattern = "("\n[[steps]]\nid = "a"\n', 3, "vars.v.pattern", "invalid regular"),
        ('formula = "t"\n[vars.v]\nrequired = "yes"\n[[steps]]\nid = "a"\n', 3, "vars.v.required", "true or false"),
        ('formula = "t"\n[[steps]]\nid = "a"\npriority = 9\n', 4, "steps[0].priority", "integer 0..4"),
        ('formula = "t"\n[[steps]]\nid = "../x"\n', 3, "steps[0].id", "invalid step id"),
        (
            'formula = "t"\n[[steps]]\nid = "a"\n[steps.wobble]\ntype = 1\n[[steps]]\nid = "b"\nlabels = ["x", 2]\n',
            8,
            "steps[1].labels",
            "array of strings",
        ),
        (
            'formula = "t"\ndescription = """\n[[steps]]\n"""\n[[steps]]\nid = "a"\n[[steps]]\nid = 3\n',
            8,
            "steps[1].id",
            "expected a string",
        ),
        ('formula = "t"\n[[steps]]\nid = "a"\ntitle = "x\n', 4, "", "invalid TOML"),
        ('version = 1\n[[steps]]\nid = "a"\n', None, "", "missing required key 'formula'"),
        (
            '{\n  "formula": "t",\n  "steps": [\n    {"id": "a"},\n    {"id": "b",\n     "needs": "a", "priority": "high"}\n  ]\n}\n',
            6,
            "steps[1].priority",
            "integer 0..4",
        ),
        ('{\n  "formula": "t",\n  "steps": [\n    {"id": "a",}\n  ]\n}\n', 4, "", "invalid JSON"),
    ],
)
def test_errors_name_file_line_and_key(text: str, line: int | None, key: str, words: str) -> None:
    source = "bad.formula.json" if text.startswith("{") else "bad.formula.toml"
    with pytest.raises(FormulaError) as info:
        parse_formula(text, source)
    err = info.value
    assert (err.source, err.line, err.key) == (source, line, key)
    assert words in str(err)
    assert str(err).startswith(f"{source}:{line}: " if line else f"{source}: ")
    assert isinstance(err, GtError) and err.exit_code == 2


def test_cook_errors_name_the_step_line(tmp_path: Path) -> None:
    with pytest.raises(FormulaError) as info:
        parse_and_cook('formula = "t"\n[[steps]]\nid = "a"\n\n[[steps]]\nid = "b"\nneeds = ["zz"]\n', {})
    assert (info.value.line, info.value.key) == (5, "steps[1].needs")
    assert "needs unknown step 'zz'" in str(info.value)
    with pytest.raises(FormulaError, match="dependency cycle among steps a, b"):
        parse_and_cook('formula="t"\n[[steps]]\nid="a"\nneeds=["b"]\n[[steps]]\nid="b"\nneeds=["a"]\n', {})
    d = tmp_path / "f"
    d.mkdir()
    (d / "x.formula.toml").write_text('formula = "x"\nextends = ["y"]\n')
    (d / "y.formula.toml").write_text('formula = "y"\nextends = ["x"]\n')
    with pytest.raises(FormulaError, match="extends cycle x -> y -> x"):
        FormulaLibrary(dirs=[d], builtins=False).cook("x")
    (d / "z.formula.toml").write_text('formula = "wrong"\n[[steps]]\nid = "a"\n')
    with pytest.raises(FormulaError, match="declares formula = 'wrong'"):
        FormulaLibrary(dirs=[d], builtins=False).load("z")


def test_unknown_keys_are_reported_not_ignored() -> None:
    f = parse_formula(
        'formula = "t"\nflavour = "x"\n[[steps]]\nid = "a"\nwobble = 1\non_complete = {bond = "x"}\n', "t.formula.toml"
    )
    assert [(u.key, u.line) for u in f.unsupported] == [
        ("flavour", 2),
        ("steps[0].wobble", 5),
        ("steps[0].on_complete", 6),
    ]
    assert "unknown key" in f.unsupported[0].reason
    assert f.unsupported[2].reason.startswith("step a: runtime for-each")


def test_builtins_parse_and_cook() -> None:
    lib = FormulaLibrary()
    names = {e["name"]: e for e in lib.entries()}
    assert {"polecat-work", "shiny", "demo"} <= set(names)
    assert all(e["error"] is None and e["unsupported"] == 0 and e["origin"] == "builtin" for e in names.values())
    demo = lib.cook("demo")
    assert [(s.id, s.needs) for s in demo.steps] == [("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]
    assert "# gastown demo" in demo.steps[0].description
    with pytest.raises(GtError, match="must match"):
        lib.cook("demo", {"topic": "x; rm -rf /"})
    assert [s.id for s in lib.cook("shiny", {"feature": "f"}).steps] == ["design", "implement", "test"]
    assert len(lib.cook("polecat-work", {"issue": "gt-1"}).steps) == 4
    assert (BUILTIN_DIR / "__init__.py").is_file()  # a package, so non-editable installs ship the files


def test_search_path_rig_repo_then_town_then_builtin(town, tmp_path: Path) -> None:
    """Gas Town's order (docs/design/formula-resolution.md): project beats town beats built-in."""
    (town.formulas_dir / "shiny.formula.toml").write_text(
        'formula = "shiny"\ndescription = "town shiny"\n[[steps]]\nid = "only"\n'
    )
    src = make_repo(
        tmp_path / "proj",
        {
            "README.md": "x\n",
            ".beads/formulas/rigwork.formula.toml": 'formula = "rigwork"\ndescription = "from the rig"\n'
            '[[steps]]\nid = "r1"\n',
            ".beads/formulas/demo.formula.toml": 'formula = "demo"\ndescription = "rig demo"\n[[steps]]\nid = "d"\n',
            ".beads/formulas/shiny.formula.toml": 'formula = "shiny"\ndescription = "rig shiny"\n[[steps]]\nid = "s"\n',
        },
    )
    rig = add_rig(town, "proj", str(src))
    # A formula only in the source's working tree (never pushed to the rig's repo) is not seen.
    (src / ".beads" / "formulas" / "unpushed.formula.toml").write_text('formula = "unpushed"\n[[steps]]\nid="u"\n')
    git(src, "checkout", "-q", "-b", "side")
    lib = FormulaLibrary(town, rig)
    rows = lib.entries()
    assert [(r["name"], r["origin"], r["shadowed"]) for r in rows] == [
        ("demo", "rig:proj", False),
        ("rigwork", "rig:proj", False),
        ("shiny", "rig:proj", False),
        ("shiny", "town", True),
        ("demo", "builtin", True),
        ("polecat-work", "builtin", False),
        ("repo-tour", "builtin", False),
        ("shiny", "builtin", True),
        ("wordstats", "builtin", False),
    ]
    assert lib.load("shiny").description == "rig shiny"
    assert FormulaLibrary(town).load("shiny").description == "town shiny"
    assert lib.load("demo").description == "rig demo"
    assert lib.find("rigwork").location == "proj:main:.beads/formulas/rigwork.formula.toml"
    with pytest.raises(NotFound, match="no formula named 'unpushed'"):
        lib.load("unpushed")
    assert "rigwork" not in {r["name"] for r in FormulaLibrary(town).entries()}


def test_broken_formula_is_listed_with_its_error(town) -> None:
    (town.formulas_dir / "broken.formula.toml").write_text('formula = "broken"\n[[steps]]\nid = [\n')
    rows = {r["name"]: r for r in FormulaLibrary(town).entries()}
    assert rows["broken"]["error"].startswith(str(town.formulas_dir / "broken.formula.toml"))
    assert rows["demo"]["error"] is None


def test_toml_wins_over_json_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "x.formula.json").write_text(
        json.dumps({"formula": "x", "description": "json", "steps": [{"id": "a"}]})
    )
    (tmp_path / "x.formula.toml").write_text('formula = "x"\ndescription = "toml"\n[[steps]]\nid = "a"\n')
    assert FormulaLibrary(dirs=[tmp_path], builtins=False).load("x").description == "toml"


def test_dependency_tree_draws_a_diamond() -> None:
    demo = FormulaLibrary().cook("demo")
    assert dependency_tree(demo.steps) == [
        "a: Start the gastown demo",
        "├─ b: Write part b",
        "│  └─ d: Join b and c  [needs b, c]",
        "└─ c: Write part c",
        "   └─ d (under b)",
    ]


def test_gt_formula_list_show_and_dry_run(town, run_gt) -> None:
    shutil.copy(GASTOWN / "shiny.formula.toml", town.formulas_dir)
    shutil.copy(GASTOWN / "code-review.formula.toml", town.formulas_dir)
    r = run_gt("formula", "list", cwd=town.root)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "ORIGIN", "DESCRIPTION"]
    assert any(line.startswith("shiny ") and "(shadowed)" in line and "builtin" in line for line in lines)
    assert any("code-review" in line and "[3 unsupported]" in line for line in lines)
    r = run_gt("formula", "list", "--json", cwd=town.root)
    assert {row["name"] for row in json.loads(r.stdout)} >= {"shiny", "code-review", "demo", "polecat-work"}

    r = run_gt("formula", "show", "shiny", cwd=town.root)
    assert r.returncode == 0, r.stderr
    assert "Steps (5):" in r.stdout and "  └─ implement: Implement {{feature}}" in r.stdout
    r = run_gt("formula", "show", "code-review", "--json", cwd=town.root)
    data = json.loads(r.stdout)
    assert data["type"] == "convoy" and len(data["unsupported"]) == 3 and len(data["cooked"]["steps"]) == 11

    shutil.copy(GASTOWN / "rule-of-five.formula.toml", town.formulas_dir)
    r = run_gt("formula", "show", "rule-of-five", cwd=town.root)
    assert r.returncode == 0, r.stderr
    assert "Template (5 steps replacing the target step {target}):" in r.stdout
    assert "  └─ {target}.refine-1: Refine 1: Correctness" in r.stdout

    r = run_gt("formula", "pour", "shiny", "--var", "feature=login", "--dry-run", cwd=town.root)
    assert r.returncode == 0, r.stderr
    assert "<root>.2  task      Implement login        <root>.1" in r.stdout
    assert "<convoy>  convoy    shiny: feature=login   tracks 5 beads" in r.stdout
    r = run_gt("formula", "pour", "shiny", "--var", "feature=login", "--dry-run", "--json", cwd=town.root)
    plan = json.loads(r.stdout)
    assert plan["prefix"] == "hq" and [c["needs"] for c in plan["children"]][1] == ["design"]
    assert plan["children"][1]["metadata"] == {"formula": "shiny", "step": "implement"}

    r = run_gt("formula", "pour", "shiny", "--dry-run", cwd=town.root)
    assert (
        r.returncode == 2
        and r.stderr.strip() == "gt: formula 'shiny' needs variable(s) feature: pass --var feature=..."
    )
    r = run_gt("formula", "pour", "shiny", "--var", "feature", cwd=town.root)
    assert r.returncode == 2 and "is not KEY=VALUE" in r.stderr
    r = run_gt("formula", "show", "nope", cwd=town.root)
    assert r.returncode == 2 and "no formula named 'nope'" in r.stderr
