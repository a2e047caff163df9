"""Crew workspaces (issue 16 part 3): a human's worktree of a rig on branch ``crew/<name>``, handed to
the refinery with ``gt done`` and shown in the cockpit's agents tree.

Real parts throughout: the rig's bare repository and its worktrees, the town database, the refinery
with a real gate script (``tests.test_refinery.Lab``), tmux on a private socket, the ``sim`` agent.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from core import crew, events, git, mq, roles
from core.beads.store import BeadStore
from core.db import connect
from core.errors import Conflict, GtError, NotFound
from core.rigs import add_rig, remove_rig
from core.sessions import SessionHost
from tests.conftest import dump, make_repo
from tests.conftest import git as sh_git
from tests.test_refinery import Lab
from widgets.agents import AgentsTree
from widgets.feed import FEED_TYPES, describe
from core.townview import read_snapshot

HOSTILE_NAMES = [
    "../evil",
    "a/b",
    "Alice",
    "a b",
    "x;rm -rf ~",
    "-f",
    "",
    "a" * 33,
    "bob\x1b[31m",
    "c\nd",
    "$(id)",
    "crew.",
    "é",
]


@pytest.fixture
def rig(town, tmp_path):
    src = make_repo(tmp_path / "src", {"README.md": "# proj\n", "app.txt": "app\n"})
    return add_rig(town, "proj", str(src))


@pytest.fixture
def host(town):
    h = SessionHost(town, socket=f"gt-test-{uuid.uuid4().hex[:10]}")
    yield h
    h.kill_server()


def commit(path: Path, files: dict[str, str], message: str = "crew work") -> str:
    for name, text in files.items():
        (path / name).write_text(text)
    sh_git(path, "add", "-A")
    sh_git(path, "commit", "-q", "-m", message)
    return sh_git(path, "rev-parse", "HEAD").strip()


def crew_role(town, path: Path) -> roles.Role:
    role = roles.detect(town, env={}, cwd=path)
    assert (role.kind, role.address) == ("crew", f"proj/crew/{path.name}")
    return role


# ------------------------------------------------------------------------------- add/at/list/remove


def test_add_at_list_and_a_clean_remove(town, rig):
    main = git.rev_parse(rig.repo_path, "refs/heads/main")
    c = crew.add(town, "proj", "alice")
    path = rig.crew_dir / "alice"
    assert (c.path, c.branch, c.valid, c.dirty, c.ahead) == (str(path), "crew/alice", True, 0, 0)
    assert git.current_branch(path) == "crew/alice" and git.head_sha(path) == main
    assert (path / "app.txt").read_text() == "app\n"
    assert crew.find(town, "alice") == (rig, path)
    listed = crew.list_crew(town)
    assert [(x.address, x.branch, x.dirty, x.ahead, x.session, x.session_state) for x in listed] == [
        ("proj/crew/alice", "crew/alice", 0, 0, "proj-crew-alice", "none")
    ]
    commit(path, {"new.txt": "n\n"})
    (path / "app.txt").write_text("edited\n")
    [seen] = crew.list_crew(town, "proj")
    assert (seen.dirty, seen.ahead) == (1, 1)
    with pytest.raises(Conflict, match="already exists"):
        crew.add(town, "proj", "alice")
    with pytest.raises(NotFound, match="no crew workspace 'bob'"):
        crew.find(town, "bob")
    sh_git(path, "checkout", "-q", "--", "app.txt")
    sh_git(path, "reset", "-q", "--hard", main)  # nothing of its own left: a plain remove goes through
    removed = crew.remove(town, "alice", host=SessionHost(town, socket=f"gt-test-{uuid.uuid4().hex[:10]}"))
    assert (removed.branch, removed.branch_deleted, removed.kept) == ("crew/alice", True, None)
    assert not path.exists() and not git.branch_exists(rig.repo_path, "crew/alice")
    assert crew.list_crew(town) == []
    assert [e.payload["crew"] for e in events.query(connect(town.db_path), types=("crew_added", "crew_removed"))] == [
        "alice",
        "alice",
    ]


def test_remove_refuses_uncommitted_and_unmerged_work_and_force_keeps_it(town, rig, host):
    crew.add(town, "proj", "alice")
    path = rig.crew_dir / "alice"
    head = commit(path, {"mine.txt": "committed\n"})
    with pytest.raises(Conflict, match=r"1 commit\(s\) not on main.*--force"):
        crew.remove(town, "alice", host=host)
    (path / "scratch.txt").write_text("not committed\n")
    (path / "app.txt").write_text("edited\n")
    with pytest.raises(Conflict, match=r"2 uncommitted file\(s\)"):
        crew.remove(town, "alice", host=host)
    assert (path / "scratch.txt").exists() and git.branch_exists(rig.repo_path, "crew/alice")  # nothing changed
    removed = crew.remove(town, "alice", force=True, host=host)
    assert not path.exists() and removed.branch_deleted
    kept = git.rev_parse(rig.repo_path, "refs/crew-removed/alice")
    assert kept == removed.kept
    # the snapshot holds the uncommitted files on top of the committed work: nothing is lost
    assert sh_git(rig.repo_path, "rev-parse", f"{kept}^").strip() == head
    assert sh_git(rig.repo_path, "show", f"{kept}:scratch.txt") == "not committed\n"
    assert sh_git(rig.repo_path, "show", f"{kept}:app.txt") == "edited\n"
    # the name is free again, from the default branch
    again = crew.add(town, "proj", "alice")
    assert again.ahead == 0 and not (path / "mine.txt").exists()


def test_hostile_names_are_refused_with_one_line_and_nothing_is_made(town, rig, host):
    before = sorted(p.name for p in rig.crew_dir.iterdir())
    for name in HOSTILE_NAMES:
        for call in (
            lambda n=name: crew.add(town, "proj", n),
            lambda n=name: crew.find(town, n),
            lambda n=name: crew.remove(town, n, host=host),
            lambda n=name: crew.start(town, n, host=host),
        ):
            with pytest.raises(GtError) as err:
                call()
            assert "\n" not in str(err.value) and "\x1b" not in str(err.value).replace("\\x1b", ""), name
    assert sorted(p.name for p in rig.crew_dir.iterdir()) == before
    assert [b for b in git.branches(rig.repo_path) if b.startswith("crew")] == []
    with pytest.raises(NotFound, match="no rig named 'nope'"):
        crew.add(town, "nope", "alice")
    # a stray directory with a hostile name in crew/ is not a crew workspace, nor is a symlink to
    # another worktree of the rig (removing "it" would remove that one)
    (rig.crew_dir / "Not A Crew").mkdir()
    crew.add(town, "proj", "real")
    (rig.crew_dir / "alias").symlink_to(rig.crew_dir / "real")
    assert [c.name for c in crew.list_crew(town)] == ["real"]
    with pytest.raises(NotFound):
        crew.remove(town, "alias", host=host)
    with pytest.raises(GtError, match="not inside a crew workspace|not a worktree"):
        crew.done(town, roles.Role("crew", "proj", "alias"))
    assert (rig.crew_dir / "real").is_dir()


def test_the_cli_adds_prints_the_path_alone_queues_gt_done_and_refuses_hostile_input(town, rig, run_gt):
    env = {
        "GT_TOWN": str(town.root),
        "GIT_AUTHOR_NAME": "Hu Man",
        "GIT_AUTHOR_EMAIL": "h@m",
        "GIT_COMMITTER_NAME": "Hu Man",
        "GIT_COMMITTER_EMAIL": "h@m",
        "GT_LEDGER_SYNC": "off",
    }
    added = run_gt("crew", "add", "alice", "--rig", "proj", env=env)
    assert added.returncode == 0, added.stderr
    at = run_gt("crew", "at", "alice", env=env)
    path = rig.crew_dir / "alice"
    assert (at.returncode, at.stdout, at.stderr) == (0, f"{path}\n", "")
    bad = run_gt("crew", "add", "x;\x1b[2Jevil", "--rig", "proj", env=env)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "\x1b" not in bad.stderr
    assert "invalid crew name" in bad.stderr
    (path / "feature.txt").write_text("a human's change\n")
    dirty = run_gt("done", cwd=path, env=env)
    assert dirty.returncode == 2 and "uncommitted file(s) (feature.txt)" in dirty.stderr
    commit(path, {})
    done = run_gt("done", "--json", cwd=path, env=env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["crew"], out["branch"], out["commits"], out["mr_status"]) == (
        "proj/crew/alice",
        "crew/alice",
        1,
        "queued",
    )
    listed = json.loads(run_gt("crew", "list", "--json", env=env).stdout)
    assert [(c["name"], c["branch"], c["dirty"], c["ahead"]) for c in listed] == [("alice", "crew/alice", 0, 1)]
    assert git.current_branch(path) == "crew/alice"  # the human's branch stays checked out
    again = run_gt("done", cwd=path, env=env)
    assert again.returncode == 0 and f"queued as {out['mr']};" in again.stdout  # idempotent: the same MR
    assert len(mq.list_mrs(connect(town.db_path))) == 1
    removed = run_gt("crew", "remove", "alice", env=env)
    assert removed.returncode == 2 and f"({out['mr']} is queued: wait for the refinery)" in removed.stderr


# ------------------------------------------------------------------------------------- gt done


def test_crew_done_merges_through_the_refinery_and_the_crew_continues(town, tmp_path):
    lab = Lab(town, tmp_path)
    with BeadStore(town) as store:
        bead = store.create("Tidy the README", actor="tester", prefix=lab.rig.prefix, priority=1).id
    crew.add(town, "proj", "alice")
    path = lab.rig.crew_dir / "alice"
    first = commit(path, {"README.md": "# proj\ntidied by a human\n"})
    role = crew_role(town, path)
    result = crew.done(town, role, bead=bead, actor="alice")
    assert (result.branch, result.head_sha, result.commits, result.bead) == ("crew/alice", first, 1, bead)
    with BeadStore(town) as store:
        issue = store.get(bead)
        assert (issue.status, issue.assignee) == ("in_progress", "proj/crew/alice")
        assert any(result.mr in c.text for c in issue.comments)
    batch = lab.step()
    assert batch.merged == [result.mr] and batch.gate_runs == 1
    merged = mq.get(lab.db, result.mr)
    assert merged.status == "merged" and merged.polecat is None
    assert git.is_ancestor(lab.repo, first, lab.main()) and lab.main() in lab.verdicts()["green"]
    with BeadStore(town) as store:
        assert store.get(bead).status == "closed"
    # the branch is checked out in the crew worktree: the refinery keeps it, and the human goes on
    assert git.rev_parse(lab.repo, "refs/heads/crew/alice") == first and git.current_branch(path) == "crew/alice"
    kept = events.query(lab.db, types=("branch_kept",))
    assert [e.payload["branch"] for e in kept] == ["crew/alice"]
    [queued] = [e for e in events.query(lab.db, types=("done",)) if e.payload.get("crew") == "alice"]
    assert describe(queued).startswith(f"proj  crew/alice  {bead}  {result.mr}") and queued.type in FEED_TYPES
    synced = crew.sync(town, "alice")
    assert (synced.action, synced.head) == ("fast_forward", lab.main())
    assert crew.sync(town, "alice").action == "up_to_date"
    # meanwhile a polecat's work lands; the human's next commit is rebased on it and merged again
    lab.mr("p1", {"p1.txt": "polecat\n"})
    lab.step()
    second = commit(path, {"alice.txt": "more\n"})
    rebased = crew.sync(town, "alice")
    assert rebased.action == "rebased" and git.is_ancestor(path, lab.main(), rebased.head)
    assert rebased.head != second and (path / "p1.txt").exists()
    again = crew.done(town, role)
    assert again.bead is None and again.head_sha == rebased.head
    assert lab.step().merged == [again.mr]
    assert {"alice.txt", "p1.txt"} <= lab.tree_files()
    assert crew.sync(town, "alice").action == "fast_forward" and git.head_sha(path) == lab.main()
    with pytest.raises(GtError, match="nothing to submit"):
        crew.done(town, role)


def test_a_red_crew_mr_fails_and_the_branch_stays_for_a_fix(town, tmp_path):
    lab = Lab(town, tmp_path)
    crew.add(town, "proj", "bob")
    path = lab.rig.crew_dir / "bob"
    head = commit(path, {"oops.bad": "culprit\n"})
    result = crew.done(town, crew_role(town, path))
    batch = lab.step()
    assert batch.failed == [result.mr] and lab.main() == lab.initial
    assert git.rev_parse(lab.repo, "refs/heads/crew/bob") == head
    # running gt done again on the same commit gives the failed MR back (fix, commit, gt done)
    assert crew.done(town, crew_role(town, path)).mr_status == "failed"
    sh_git(path, "rm", "-q", "oops.bad")
    sh_git(path, "commit", "-q", "-m", "fix")
    fixed = crew.done(town, crew_role(town, path))
    assert fixed.mr_status == "queued" and lab.step().merged == [fixed.mr]


def test_crew_done_refusals_change_nothing(town, rig):
    crew.add(town, "proj", "alice")
    path = rig.crew_dir / "alice"
    role = crew_role(town, path)
    with BeadStore(town) as store:
        taken = store.create("Claimed elsewhere", actor="tester", prefix=rig.prefix).id
        store.update(taken, "tester", status="in_progress", assignee="proj/polecats/toast")
        closed = store.create("Finished", actor="tester", prefix=rig.prefix).id
        store.close(closed, "tester", reason="done")
        town_bead = store.create("Town-level", actor="tester").id
        other = store.create("Other rig", actor="tester", prefix="zz").id
    with pytest.raises(GtError, match="nothing to submit"):
        crew.done(town, role)
    commit(path, {"x.txt": "x\n"})
    before = dump(town.db_path)
    with pytest.raises(Conflict, match="claimed by proj/polecats/toast"):
        crew.done(town, role, bead=taken)
    with pytest.raises(GtError, match="is closed"):
        crew.done(town, role, bead=closed)
    with pytest.raises(GtError, match="belongs to another rig"):
        crew.done(town, role, bead=other)
    sh_git(path, "checkout", "-q", "--detach")
    with pytest.raises(GtError, match="detached HEAD"):
        crew.done(town, role)
    sh_git(path, "checkout", "-q", "crew/alice")
    (path / ".env").write_text("SECRET=1\n")
    sh_git(path, "add", "-f", ".env")
    sh_git(path, "commit", "-q", "-m", "oops")
    with pytest.raises(GtError, match="secret patterns"):
        crew.done(town, role)
    sh_git(path, "reset", "-q", "--hard", "HEAD^")
    assert dump(town.db_path) == before
    ok = crew.done(town, role, bead=town_bead)  # a town-level bead may be finished in any rig
    assert ok.bead == town_bead


# ----------------------------------------------------------------------------------- sessions


def test_crew_start_runs_sim_or_the_shell_in_the_worktree(town, rig, host, monkeypatch):
    monkeypatch.setenv("SHELL", "/bin/sh")
    crew.add(town, "proj", "alice")
    path = rig.crew_dir / "alice"
    info = crew.start(town, "alice", agent="sim", host=host)
    assert info.name == "proj-crew-alice"
    assert host.wait_for_text(info.name, "hook is empty", timeout=60)
    assert host.wait_for_text(info.name, "❯", timeout=60)
    with pytest.raises(Conflict, match="already running"):
        crew.start(town, "alice", host=host)
    [c] = crew.list_crew(town, host=host)
    assert (c.session, c.session_state) == ("proj-crew-alice", "running")
    with pytest.raises(Conflict, match="running session"):
        crew.remove(town, "alice", host=host)
    assert crew.stop(town, "alice", host=host) == "proj-crew-alice" and not host.exists(info.name)
    shell = crew.start(town, "alice", host=host)
    assert host.wait_for_text(shell.name, "Gas Town crew workspace proj/crew/alice", timeout=60)
    host.send_text(shell.name, 'echo "role=$GT_ROLE/$GT_RIG/$GT_CREW actor=$BD_ACTOR at=$(pwd)"')
    assert host.wait_for_text(shell.name, f"role=crew/proj/alice actor=proj/crew/alice at={path}", timeout=30)
    removed = crew.remove(town, "alice", force=True, host=host)
    assert removed.kept is None and not host.exists(shell.name) and not path.exists()


def test_the_agents_tree_shows_crew_sessions(town, rig, host):
    crew.add(town, "proj", "alice")
    crew.add(town, "proj", "bob")
    crew.start(town, "alice", agent="sim", host=host)
    assert host.wait_for_text("proj-crew-alice", "❯", timeout=60)
    db = connect(town.db_path)
    snap = read_snapshot(town, db, host)
    shown = {a.key: (a.kind, a.session, a.state) for a in snap.agents if a.kind == "crew"}
    assert shown == {
        "proj/crew/alice": ("crew", "proj-crew-alice", "running"),
        "proj/crew/bob": ("crew", None, "absent"),
    }
    assert snap.count("working") == 0  # crew are not counted as polecats

    class Harness(App):
        def compose(self) -> ComposeResult:
            yield AgentsTree(id="agents")

    async def run() -> list[str]:
        app = Harness()
        async with app.run_test(size=(100, 20)) as pilot:
            tree = app.query_one(AgentsTree)
            tree.update_from(snap)
            await pilot.pause()
            [rig_node] = [n for n in tree.root.children if n.data == "rig:proj"]
            return [str(n.label) for n in rig_node.children if (n.data or "").startswith("proj/crew/")]

    labels = asyncio.run(run())
    assert len(labels) == 2
    assert "crew alice" in labels[0] and "running" in labels[0]
    assert "crew bob" in labels[1] and "absent" in labels[1]


def test_rig_remove_refuses_while_a_crew_workspace_exists(town, rig):
    crew.add(town, "proj", "alice")
    (rig.crew_dir / "alice" / "notes.txt").write_text("a human's notes\n")
    with pytest.raises(Conflict, match="crew/alice"):
        remove_rig(town, "proj")
    assert (rig.crew_dir / "alice" / "notes.txt").exists()


def test_sync_refuses_to_rebase_under_a_queued_mr_and_aborts_a_conflicting_rebase(town, tmp_path):
    lab = Lab(town, tmp_path)
    crew.add(town, "proj", "alice")
    path = lab.rig.crew_dir / "alice"
    mine = commit(path, {"app.txt": "alice's app\n"})
    lab.mr("p1", {"app.txt": "the polecat's app\n"})
    lab.step()  # main moved under the crew branch, on the same line
    queued = crew.done(town, crew_role(town, path))
    with pytest.raises(Conflict, match=f"{queued.mr} queued: wait for the refinery"):
        crew.sync(town, "alice")
    assert lab.step().conflicts == [queued.mr]
    with pytest.raises(Conflict, match="conflicts in app.txt: nothing changed"):
        crew.sync(town, "alice")
    assert git.head_sha(path) == mine and git.current_branch(path) == "crew/alice"
    assert git.operation_in_progress(path) is None and git.dirty_paths(path) == []
    (path / "notes.txt").write_text("wip\n")
    with pytest.raises(Conflict, match="uncommitted"):
        crew.sync(town, "alice")
