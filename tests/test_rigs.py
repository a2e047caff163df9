"""gt rig add/list/remove with real repositories, and every bad-input case (issue 2)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from core.errors import GtError
from core.names import check_polecat_name, check_prefix, check_rig_name
from core.rigs import derive_prefix
from tests.conftest import git, make_repo


def rig_list(run_gt, town) -> list[dict]:
    res = run_gt("rig", "list", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_rig_add_local_path(town, git_repo: Path, run_gt) -> None:
    res = run_gt("rig", "add", "demo", str(git_repo), cwd=town.root)
    assert res.returncode == 0, res.stderr
    rigs = rig_list(run_gt, town)
    assert [(r["name"], r["default_branch"], r["prefix"]) for r in rigs] == [("demo", "main", "de")]
    bare = town.root / "demo" / ".repo.git"
    assert git(bare, "rev-parse", "--is-bare-repository").strip() == "true"
    assert git(bare, "rev-parse", "main") == git(git_repo, "rev-parse", "main")
    cfg = tomllib.loads((town.root / "demo" / "rig.toml").read_text())
    # a checkout git may push to: merged work lands there (strategy direct, written out)
    assert cfg["merge_queue"] == {"max_batch_size": 4, "retry_flaky": 1, "aging_step": 3600, "strategy": "direct"}
    assert "landing direct" in res.stdout
    assert cfg["gates"] == {}
    assert "[gates]" in (town.root / "demo" / "rig.toml").read_text()
    assert git(town.root, "log", "--format=%s").splitlines()[0] == "gt rig add demo"


def test_rig_add_file_url_detects_non_main_default_branch(town, tmp_path: Path, run_gt) -> None:
    src = make_repo(tmp_path / "trunky", branch="trunk")
    git(src, "branch", "feature")
    res = run_gt("rig", "add", "my-project", f"file://{src}", cwd=town.root)
    assert res.returncode == 0, res.stderr
    (rig,) = rig_list(run_gt, town)
    assert rig["default_branch"] == "trunk"
    assert rig["prefix"] == "mp"
    assert "feature" in git(town.root / "my-project" / ".repo.git", "branch", "--list")


def test_rig_add_with_prefix_and_branch(town, tmp_path: Path, run_gt) -> None:
    src = make_repo(tmp_path / "r")
    git(src, "branch", "develop")
    res = run_gt("rig", "add", "api", str(src), "--prefix", "ap", "--branch", "develop", cwd=town.root)
    assert res.returncode == 0, res.stderr
    (rig,) = rig_list(run_gt, town)
    assert (rig["prefix"], rig["default_branch"]) == ("ap", "develop")


def test_prefixes_stay_unique(town, git_repo: Path, run_gt) -> None:
    for name in ("demo", "demos", "dem"):
        assert run_gt("rig", "add", name, str(git_repo), cwd=town.root).returncode == 0
    prefixes = [r["prefix"] for r in rig_list(run_gt, town)]
    assert len(set(prefixes)) == 3
    assert "hq" not in prefixes


def test_derive_prefix_rules() -> None:
    assert derive_prefix("my-project", set()) == "mp"
    assert derive_prefix("gastown", set()) == "ga"
    assert derive_prefix("gastown", {"ga"}) == "gas"
    assert derive_prefix("x", set()) == "xx"
    assert derive_prefix("h", {"hx", "hq"}) not in {"hx", "hq"}


def test_rig_list_table(town, git_repo: Path, run_gt) -> None:
    assert "No rigs yet" in run_gt("rig", "list", cwd=town.root).stdout
    run_gt("rig", "add", "demo", str(git_repo), cwd=town.root)
    out = run_gt("rig", "list", cwd=town.root).stdout
    assert out.splitlines()[0].split()[:3] == ["NAME", "PREFIX", "BRANCH"]
    assert out.splitlines()[1].split()[:3] == ["demo", "de", "main"]


def test_rig_remove_refuses_while_polecats_hold_work(town, git_repo: Path, run_gt) -> None:
    run_gt("rig", "add", "demo", str(git_repo), cwd=town.root)
    (town.root / "demo" / "polecats" / "furiosa").mkdir()
    res = run_gt("rig", "remove", "demo", cwd=town.root)
    assert res.returncode == 2 and "furiosa" in res.stderr and "--force" in res.stderr
    assert (town.root / "demo" / "rig.toml").exists()
    assert run_gt("rig", "remove", "demo", "--force", cwd=town.root).returncode == 0
    assert not (town.root / "demo").exists()
    assert rig_list(run_gt, town) == []
    assert git(town.root, "log", "--format=%s").splitlines()[0] == "gt rig remove demo"


@pytest.mark.parametrize("name", ["Demo", "1demo", "de mo", "../x", "a" * 33, "de.mo", "", "demo\n"])
def test_bad_rig_names(town, git_repo: Path, run_gt, name: str) -> None:
    res = run_gt("rig", "add", name, str(git_repo), cwd=town.root)
    assert res.returncode == 2
    assert "invalid rig name" in res.stderr
    assert sorted(p.name for p in town.root.iterdir()) == [
        ".beads",
        ".gastown",
        ".git",
        ".gitignore",
        "mayor",
        "town.toml",
    ]


def test_path_that_is_not_a_repository(town, tmp_path: Path, run_gt) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    res = run_gt("rig", "add", "demo", str(plain), cwd=town.root)
    assert res.returncode == 2 and "not a git repository" in res.stderr
    assert not (town.root / "demo").exists()


def test_missing_path_and_unreachable_url(town, tmp_path: Path, run_gt) -> None:
    res = run_gt("rig", "add", "demo", str(tmp_path / "nope"), cwd=town.root)
    assert res.returncode == 2 and "does not exist" in res.stderr
    res = run_gt("rig", "add", "demo", "http://127.0.0.1:9/none.git", cwd=town.root)
    assert res.returncode == 2 and "cannot clone" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (town.root / "demo").exists()


def test_unknown_branch_leaves_nothing(town, git_repo: Path, run_gt) -> None:
    res = run_gt("rig", "add", "demo", str(git_repo), "--branch", "nope", cwd=town.root)
    assert res.returncode == 2 and "no branch 'nope'" in res.stderr
    assert not (town.root / "demo").exists()


def test_duplicate_rig_and_prefix(town, git_repo: Path, run_gt) -> None:
    assert run_gt("rig", "add", "demo", str(git_repo), cwd=town.root).returncode == 0
    res = run_gt("rig", "add", "demo", str(git_repo), cwd=town.root)
    assert res.returncode == 2 and "already exists" in res.stderr
    res = run_gt("rig", "add", "other", str(git_repo), "--prefix", "de", cwd=town.root)
    assert res.returncode == 2 and "already used by demo" in res.stderr
    res = run_gt("rig", "add", "other", str(git_repo), "--prefix", "hq", cwd=town.root)
    assert res.returncode == 2 and "already used by the town" in res.stderr
    res = run_gt("rig", "add", "other", str(git_repo), "--prefix", "X!", cwd=town.root)
    assert res.returncode == 2 and "invalid prefix" in res.stderr
    assert not (town.root / "other").exists()
    assert len(rig_list(run_gt, town)) == 1


def test_reserved_and_unknown_rig(town, git_repo: Path, run_gt) -> None:
    res = run_gt("rig", "add", "mayor", str(git_repo), cwd=town.root)
    assert res.returncode == 2 and "reserved" in res.stderr
    res = run_gt("rig", "remove", "ghost", cwd=town.root)
    assert res.returncode == 2 and "no rig named 'ghost'" in res.stderr


@pytest.mark.parametrize("check", [check_rig_name, check_prefix, check_polecat_name])
def test_name_checks_refuse_a_final_newline(check) -> None:
    assert check("demo") == "demo"
    with pytest.raises(GtError, match="invalid"):
        check("demo\n")  # re's "$" matches before a final newline; the checks match the whole name
