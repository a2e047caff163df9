"""Secrets never merge (issue 15 item 5): ``[worktree] copy`` files stay out of every commit, and
``gt done`` refuses to commit or submit files matching the secret patterns, naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import git, mq, polecats
from core.beads.store import BeadStore
from core.config import edit_toml
from core.errors import ConfigError
from core.rigs import add_rig, load_rig
from core.secrets import branch_paths, exclude_from_commits, leftover_paths, matching, secret_patterns
from core.sessions import SessionHost
from core.worktrees import ensure_worktree
from tests.conftest import git as git_cli
from tests.conftest import make_repo
from tests.test_engine_support import SH, EngineThread, create_bead, wait_for

KEY = "API_KEY=sk-live-4f9c2a7d0e"
DEFAULTS = [
    ".env*",
    "!.env.example",
    "!.env.sample",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
]


def _set_rig(rig, section: str, key: str, value) -> None:
    with edit_toml(rig.path / "rig.toml") as doc:
        if section not in doc:
            doc[section] = {}
        doc[section][key] = value


def test_copied_env_is_used_but_never_merged_end_to_end(fast_town, git_repo: Path, run_gt) -> None:
    """The README's example: an untracked .env in the checkout, copy = [".env"]; the sim agent commits
    with git add -A, gt done commits leftovers, the refinery merges: main has the work, not the key."""
    (git_repo / ".env").write_text(KEY + "\n")
    rig = add_rig(fast_town, "demo", str(git_repo))
    try:
        _set_rig(rig, "worktree", "copy", [".env"])
        bead = create_bead(
            run_gt,
            fast_town,
            "Use the key",
            SH.format("grep -q API_KEY .env\necho done > work.txt\necho left > leftover.txt"),
        )
        runner = EngineThread(fast_town).start()
        try:
            assert run_gt("sling", bead, "demo", cwd=fast_town.root).returncode == 0
            wait_for(lambda: BeadStore(fast_town).get(bead).status == "closed", timeout=120)
        finally:
            runner.stop()
        repo = rig.repo_path
        assert git.run_git(["show", "main:work.txt"], cwd=repo).stdout == "done\n"
        assert git.run_git(["show", "main:leftover.txt"], cwd=repo).stdout == "left\n"
        shown = git.run_git(["show", "main:.env"], cwd=repo, check=False)
        assert shown.returncode != 0 and KEY not in shown.stdout
        history = git.run_git(["log", "--all", "-p", "--format=%H"], cwd=repo).stdout
        assert KEY not in history and "work.txt" in history
        (cat,) = polecats.list_polecats(BeadStore(fast_town).db)
        name = cat.name
        assert (rig.polecats_dir / name / ".env").read_text() == KEY + "\n"  # the agent had it to work with
        assert "/.env" in (repo / "info" / "exclude").read_text().splitlines()
    finally:
        SessionHost(fast_town).kill_server()


@pytest.fixture
def hooked(fast_town, demo_rig):
    """A polecat ``nux`` of rig demo hooked to a fresh bead, with its worktree (no agent running)."""
    store = BeadStore(fast_town)
    bead = store.create("Secret work", actor="t", prefix=demo_rig.prefix).id
    store.hook(bead, "demo/polecats/nux", actor="t")
    polecats.upsert(store.db, "demo", "nux", state="working", hook_bead=bead)
    path, _, _ = ensure_worktree(demo_rig, "nux", bead)
    yield store, bead, path
    store.disconnect()


def test_gt_done_refuses_leftover_secrets_names_them_and_commits_nothing(hooked, demo_rig, run_gt) -> None:
    store, bead, path = hooked
    (path / "deploy").mkdir()
    (path / "deploy" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (path / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (path / ".env.example").write_text("API_KEY=\n")  # a template, exempt by default
    (path / "notes.txt").write_text("real work\n")
    head = git.head_sha(path)
    res = run_gt("done", cwd=path)
    assert res.returncode == 2, res.stderr
    line = res.stderr.strip()
    assert "\n" not in line and "Traceback" not in res.stderr
    assert "'deploy/id_rsa'" in line and "'server.pem'" in line and "[secrets] patterns" in line
    assert ".env.example" not in line and "notes.txt" not in line and "nothing was committed" in line
    assert git.head_sha(path) == head and git.current_branch(path) == f"polecat/nux/{bead}"
    assert mq.list_mrs(store.db) == [] and store.get(bead).status == "hooked"
    assert sorted(git.dirty_paths(path)) == [".env.example", "deploy/id_rsa", "notes.txt", "server.pem"]
    # the fix the message names: delete them; then gt done goes through and commits the rest
    (path / "deploy" / "id_rsa").unlink()
    (path / "server.pem").unlink()
    res = run_gt("done", cwd=path)
    assert res.returncode == 0, res.stderr
    (mr,) = mq.list_mrs(store.db)
    files = git.run_git(["ls-tree", "-r", "--name-only", mr.head_sha], cwd=demo_rig.repo_path).stdout.split()
    assert "notes.txt" in files and ".env.example" in files
    assert not any(f.endswith(("id_rsa", ".pem")) for f in files)


def test_gt_done_refuses_a_secret_committed_on_the_branch_even_if_deleted_again(hooked, run_gt) -> None:
    store, bead, path = hooked
    (path / "config").mkdir()
    (path / "config" / ".env.production").write_text(KEY + "\n")
    git.commit_all(path, "add config")
    (path / "config" / ".env.production").unlink()
    (path / "app.txt").write_text("work\n")
    git.commit_all(path, "drop the env again")
    res = run_gt("done", cwd=path)
    assert res.returncode == 2 and "'config/.env.production'" in res.stderr
    assert "branch history" in res.stderr and "git reset --soft" in res.stderr
    assert mq.list_mrs(store.db) == []


def test_rig_patterns_replace_the_towns_and_bad_ones_are_one_line(hooked, demo_rig, run_gt) -> None:
    store, bead, path = hooked
    _set_rig(demo_rig, "secrets", "patterns", ["*.secret", "vault/*"])
    rig = load_rig(demo_rig.town, "demo")
    assert secret_patterns(rig) == ["*.secret", "vault/*"]
    (path / "vault").mkdir()
    (path / "vault" / "token").write_text("t\n")
    (path / "a.secret").write_text("s\n")
    res = run_gt("done", cwd=path)
    assert res.returncode == 2 and "'vault/token'" in res.stderr and "'a.secret'" in res.stderr
    _set_rig(demo_rig, "secrets", "patterns", "*.secret")
    res = run_gt("done", cwd=path)
    assert res.returncode == 2 and "rig.toml" in res.stderr and "[secrets] patterns" in res.stderr
    assert "Traceback" not in res.stderr and mq.list_mrs(store.db) == []


def test_matching_follows_gitignore_style_names_and_paths() -> None:
    paths = [
        ".env",
        "a/b/.env.local",
        ".env.example",
        "x/id_rsa",
        "id_map.py",
        "certs/k.pem",
        "src/keys.py",
        "deploy/prod.key",
        ".envrc",
    ]
    assert matching(paths, DEFAULTS) == [
        ".env",
        "a/b/.env.local",
        "x/id_rsa",
        "certs/k.pem",
        "deploy/prod.key",
        ".envrc",
    ]
    assert matching(["config/creds.json", "other/config/creds.json"], ["config/creds.json"]) == ["config/creds.json"]
    assert matching(["a"], []) == []


def test_exclude_lines_are_literal_and_added_once(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git_dir = repo / ".git"
    for name in ("[weird]*.env", "#notes", "!bang"):
        (repo / name).write_text("x\n")
    assert exclude_from_commits(git_dir, ["[weird]*.env", "#notes", "!bang"]) == [
        "/\\[weird\\]\\*.env",
        "/\\#notes",
        "/\\!bang",
    ]
    assert exclude_from_commits(git_dir, ["[weird]*.env"]) == []
    (repo / "xweird.env").write_text("not excluded\n")
    assert git.dirty_paths(repo) == ["xweird.env"]  # the escaped line matches only its own file


def test_town_default_patterns_are_written_out_in_town_toml(fast_town) -> None:
    text = fast_town.config_path.read_text()
    assert "[secrets]" in text and '"*.pem"' in text
    assert fast_town.setting("secrets", "patterns") == DEFAULTS
    fast_town.config_path.write_text(text.replace('"*.pem", ', "1, "))
    fast_town.reload()
    with pytest.raises(ConfigError, match=r"town.toml: \[secrets\] patterns must be a list of non-empty strings"):
        fast_town.config  # noqa: B018


def test_any_agents_add_all_and_gt_done_skip_the_copied_file(fast_town, demo_rig, run_gt) -> None:
    """Copied from the crew checkout, listed in info/exclude: a plain git add -A (what agents run) and
    gt done's leftover commit leave it out, and it never counts as uncommitted work."""
    (demo_rig.path / "crew" / "alice").mkdir(parents=True)
    (demo_rig.path / "crew" / "alice" / ".env").write_text(KEY + "\n")
    _set_rig(demo_rig, "worktree", "copy", [".env"])
    rig = load_rig(demo_rig.town, "demo")
    store = BeadStore(fast_town)
    try:
        bead = store.create("Copy", actor="t", prefix=rig.prefix).id
        store.hook(bead, "demo/polecats/toast", actor="t")
        polecats.upsert(store.db, "demo", "toast", state="working", hook_bead=bead)
        path, _, created = ensure_worktree(rig, "toast", bead)
        assert created and (path / ".env").read_text() == KEY + "\n"
        assert git.dirty_paths(path) == []
        (path / "w.txt").write_text("w\n")
        git_cli(path, "add", "-A")
        git_cli(path, "commit", "-q", "-m", "work")
        (path / "leftover.txt").write_text("l\n")
        res = run_gt("done", cwd=path)
        assert res.returncode == 0, res.stderr
        (mr,) = mq.list_mrs(store.db)
        tree = git.run_git(["ls-tree", "-r", "--name-only", mr.head_sha], cwd=path).stdout.split()
        assert "w.txt" in tree and "leftover.txt" in tree and ".env" not in tree
        assert (path / ".env").exists()
    finally:
        store.disconnect()


def test_leftovers_and_branch_paths_read_in_one_git_call_each_as_git_add_and_log_see_them(tmp_path: Path) -> None:
    """What ``gt done`` checks, from one ``git status`` and one ``git log`` (core.git.worktree_status,
    branch_commits): leftovers are what ``git add -A`` would commit (untracked, modified, staged, a
    staged rename's new name; no deletion, no ignored file), names with spaces and newlines whole; the
    branch's commits are ``base..HEAD`` as ``git rev-list --count`` counts them (an empty commit and a
    merge too), with the files each added or changed."""
    repo = make_repo(
        tmp_path / "r", {"kept.txt": "k\n", "gone.txt": "g\n", "old name.txt": "o\n", ".gitignore": "*.log\n"}
    )
    base = git.head_sha(repo)
    git_cli(repo, "checkout", "-q", "-b", "work")
    (repo / "conf dir").mkdir()
    (repo / "conf dir" / ".env\nprod").write_text(KEY + "\n")
    git_cli(repo, "add", "-A")
    git_cli(repo, "commit", "-q", "-m", "a secret")
    git_cli(repo, "rm", "-q", "conf dir/.env\nprod")
    git_cli(repo, "commit", "-q", "-m", "gone again")
    git_cli(repo, "commit", "-q", "--allow-empty", "-m", "empty")
    git_cli(repo, "checkout", "-q", "-b", "side", base)
    (repo / "side.txt").write_text("s\n")
    git_cli(repo, "add", "-A")
    git_cli(repo, "commit", "-q", "-m", "side")
    git_cli(repo, "checkout", "-q", "work")
    git_cli(repo, "merge", "-q", "--no-edit", "side")
    (repo / "kept.txt").write_text("changed\n")
    (repo / "gone.txt").unlink()
    git_cli(repo, "mv", "old name.txt", "new\tname.txt")
    (repo / "staged then deleted.key").write_text("x\n")
    git_cli(repo, "add", "staged then deleted.key")
    (repo / "staged then deleted.key").unlink()
    (repo / "new.pem").write_text("p\n")
    (repo / "debug.log").write_text("ignored\n")
    status = git.worktree_status(repo)
    assert sorted(leftover_paths(repo, status)) == ["kept.txt", "new\tname.txt", "new.pem"]
    assert leftover_paths(repo) == leftover_paths(repo, status)
    commits = git.branch_commits(repo, base)
    assert len(commits) == git.count_commits(repo, base, "HEAD") == 5
    assert sorted(p for paths in commits for p in paths) == ["conf dir/.env\nprod", "side.txt"]
    assert branch_paths(repo, base) == [p for paths in commits for p in paths]
    assert matching(branch_paths(repo, base), DEFAULTS) == ["conf dir/.env\nprod"]
