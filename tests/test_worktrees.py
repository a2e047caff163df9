"""Polecat worktrees, the name pool and the polecats table (issue 5, items 1-2)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import db as dbmod
from core import git as g
from core import namepool, polecats
from core.errors import Conflict, GtError
from core.rigs import add_rig, load_rig
from core.worktrees import ensure_worktree, remove_worktree
from tests.conftest import git, make_repo


@pytest.fixture
def rig(town, git_repo: Path):
    return add_rig(town, "demo", str(git_repo))


def test_new_worktree_on_polecat_branch(rig) -> None:
    path, branch, created = ensure_worktree(rig, "furiosa", "de-abc")
    assert created and branch == "polecat/furiosa/de-abc"
    assert path == rig.polecats_dir / "furiosa"
    assert g.current_branch(path) == branch
    assert (path / "app.py").read_text() == "print('hi')\n"
    assert g.branch_exists(rig.repo_path, branch)


def test_reuse_clean_idle_worktree_on_new_default(rig, git_repo: Path) -> None:
    path, _, _ = ensure_worktree(rig, "nux", "de-1")
    (path / "work.txt").write_text("done\n")
    first = g.commit_all(path, "work on de-1")
    g.detach_head(path)
    # the default branch moved meanwhile (as after a merge)
    git(rig.repo_path, "update-ref", "refs/heads/main", first)
    path2, branch2, created = ensure_worktree(rig, "nux", "de-2")
    assert not created and path2 == path and branch2 == "polecat/nux/de-2"
    assert g.head_sha(path) == first
    assert (path / "work.txt").exists()


def _git_commands(trace: Path) -> list[list[str]]:
    """The argv (after ``git``) of each git process a GIT_TRACE2_EVENT file records that was started
    by us, not by git itself (a child's session id names its parent's: ``<parent>/<child>``)."""
    if not trace.exists():
        return []
    starts = [json.loads(line) for line in trace.read_text().splitlines()]
    return [e["argv"][1:] for e in starts if e["event"] == "start" and "/" not in e["sid"]]


def test_a_new_worktree_is_one_git_process_and_a_reuse_two(rig, tmp_path: Path, monkeypatch) -> None:
    trace = tmp_path / "trace2.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    path, branch, created = ensure_worktree(rig, "furiosa", "de-1")
    assert created
    # the branch made by the same process; no prune first, no branch or validity checks of our own
    assert _git_commands(trace) == [["worktree", "add", "-b", branch, str(path), g.rev_parse(rig.repo_path, "main")]]
    g.detach_head(path)
    trace.unlink()
    _, branch2, created = ensure_worktree(rig, "furiosa", "de-2")
    assert not created and g.current_branch(path) == branch2
    # the clean check (our rule: git checkout would carry uncommitted work along) and the switch
    assert [argv[0] for argv in _git_commands(trace)] == ["status", "checkout"]


def test_a_deleted_worktree_directory_is_made_again(rig) -> None:
    path, branch, _ = ensure_worktree(rig, "nux", "de-1")
    shutil.rmtree(path)  # its registration in the bare repository stays behind (stale)
    for bead in ("de-1", "de-2"):  # the same bead (its branch exists) and a new one (git makes it, then refuses)
        path, branch, created = ensure_worktree(rig, "nux", bead)
        assert created and g.current_branch(path) == branch == f"polecat/nux/{bead}"
        assert (path / "app.py").read_text() == "print('hi')\n"
        listed = git(rig.repo_path, "worktree", "list", "--porcelain").splitlines()
        assert listed.count(f"worktree {path}") == 1
        shutil.rmtree(path)


@pytest.mark.parametrize("case", ["linked", "other repository", "registration pruned", "corrupt HEAD", "plain clone"])
def test_worktree_valid_reads_what_git_says(rig, tmp_path: Path, case: str) -> None:
    path, _, _ = ensure_worktree(rig, "slit", "de-1")
    repo = rig.repo_path
    if case == "other repository":
        repo = make_repo(tmp_path / "other") / ".git"
    elif case == "registration pruned":
        shutil.rmtree(rig.repo_path / "worktrees" / "slit")
    elif case == "corrupt HEAD":
        (rig.repo_path / "worktrees" / "slit" / "HEAD").write_text("garbage\n")
    elif case == "plain clone":
        shutil.rmtree(path)
        git(tmp_path, "clone", "-q", str(rig.repo_path), str(path))
    asked = g.run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=path, check=False)
    says = asked.returncode == 0 and Path(asked.stdout.strip()).resolve() == Path(repo).resolve()
    assert g.worktree_valid(path, repo) is says is (case == "linked")


def test_dirty_worktree_is_not_reused(rig) -> None:
    path, _, _ = ensure_worktree(rig, "slit", "de-1")
    (path / "unsaved.txt").write_text("precious\n")
    with pytest.raises(Conflict, match="uncommitted work"):
        ensure_worktree(rig, "slit", "de-2")
    assert (path / "unsaved.txt").read_text() == "precious\n"
    # the same bead resumes in place, work intact
    assert ensure_worktree(rig, "slit", "de-1")[2] is False
    assert (path / "unsaved.txt").exists()


def test_remove_refuses_uncommitted_work(rig) -> None:
    path, branch, _ = ensure_worktree(rig, "toast", "de-9")
    (path / "x.txt").write_text("x")
    with pytest.raises(Conflict, match="--force"):
        remove_worktree(rig, "toast")
    assert path.exists()
    g.commit_all(path, "x")
    remove_worktree(rig, "toast")
    assert not path.exists()
    assert g.branch_exists(rig.repo_path, branch)  # committed work survives in the bare repo


def test_setup_and_copy(town, git_repo: Path) -> None:
    rig = add_rig(town, "web", str(git_repo))
    (git_repo / ".env").write_text("SECRET=1\n")
    text = (rig.path / "rig.toml").read_text()
    text = text.replace("setup = []", "setup = [[\"python3\", \"-c\", \"open('setup-ran', 'w').write('ok')\"]]")
    text = text.replace("copy = []", 'copy = [".env"]')
    (rig.path / "rig.toml").write_text(text)
    rig = load_rig(town, "web")
    path, _, _ = ensure_worktree(rig, "dag", "we-1")
    assert (path / "setup-ran").read_text() == "ok"
    assert (path / ".env").read_text() == "SECRET=1\n"


def test_failed_setup_removes_new_worktree(town, git_repo: Path) -> None:
    rig = add_rig(town, "web", str(git_repo))
    text = (rig.path / "rig.toml").read_text().replace("setup = []", 'setup = [["false"]]')
    (rig.path / "rig.toml").write_text(text)
    rig = load_rig(town, "web")
    with pytest.raises(GtError, match="exited 1"):
        ensure_worktree(rig, "dag", "we-1")
    assert not (rig.polecats_dir / "dag").exists()


def test_snapshot_commit_keeps_head_and_index(rig) -> None:
    path, branch, _ = ensure_worktree(rig, "capable", "de-5")
    head = g.head_sha(path)
    (path / "app.py").write_text("print('changed')\n")
    (path / "new.txt").write_text("new\n")
    snap = g.snapshot_commit(path, "WIP checkpoint")
    assert snap and g.head_sha(path) == head
    assert sorted(g.dirty_paths(path)) == ["app.py", "new.txt"]
    assert git(path, "show", f"{snap}:new.txt") == "new\n"
    assert git(path, "rev-parse", f"{snap}^").strip() == head


def test_namepool_and_polecat_rows(town) -> None:
    assert namepool.pick(set()) == "furiosa"
    assert namepool.pick({"furiosa"}) == "nux"
    all_names = set(namepool.THEMES["mad-max"])
    assert namepool.pick(all_names) == "furiosa-2"
    namepool.set_theme(town, "minerals")
    assert namepool.theme(town) == "minerals"
    assert "# Agent runtime used" in town.config_path.read_text()
    with pytest.raises(GtError, match="unknown name pool"):
        namepool.set_theme(town, "nope")
    database = dbmod.connect(town.db_path)
    p = polecats.upsert(database, "demo", "furiosa", state="working", hook_bead="de-1")
    assert p.address == "demo/polecats/furiosa" and p.state == "working"
    polecats.upsert(database, "demo", "nux")
    assert polecats.count_busy(database) == 1 and polecats.count_busy(database, rig="other") == 0
    assert polecats.by_bead(database, "de-1").name == "furiosa"
    assert [p.name for p in polecats.list_polecats(database, rig="demo")] == ["furiosa", "nux"]
