"""``gt doctor``: a healthy town is all ok; each planted fault is found, and ``--fix`` repairs what is
safe and leaves the rest, listed, for a human (issue 16, part 4). Real towns, rigs, git repositories,
SQLite and tmux on the town's own socket; processes and locks are real ones."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import filelock
import pytest

from core import doctor, events, git, polecats
from core.config import edit_toml
from core.beads import sync
from core.beads.store import BeadStore
from core.gates import gate_tag
from core.rigs import Rig, add_rig, load_rig
from core.runtimes import set_default_agent
from core.sessions import SessionHost, session_name
from core.town import Town
from core.worktrees import ensure_worktree
from tests.conftest import git as run_git
from tests.test_sling import wait_for

HOSTILE = "\x1b]0;pwned\x07\x1b[2J"


@pytest.fixture
def rig(town: Town, git_repo: Path) -> Iterator[Rig]:
    """Rig ``demo`` of a town whose default agent is ``sim``; the town's tmux server is killed at the end."""
    set_default_agent(town, "sim")
    town.reload()
    rig = add_rig(town, "demo", str(git_repo))
    yield rig
    SessionHost(town).kill_server()


def _problems(report: doctor.Report) -> list[doctor.Finding]:
    return [f for f in report.findings if f.verdict != "ok"]


def _one(findings: list[doctor.Finding], check: str, subject: str) -> doctor.Finding:
    found = [f for f in findings if f.check == check and f.subject == subject] or [
        f for f in findings if f.check == check and subject in f.subject
    ]
    assert len(found) == 1, f"expected one {check} finding about {subject!r}, got {[f.as_dict() for f in findings]}"
    return found[0]


def _create(town: Town, title: str) -> str:
    with BeadStore(town) as store:
        return store.create(title, actor="t", prefix="de").id


def _hooked_polecat(town: Town, rig: Rig, name: str, bead: str, argv: list[str]) -> str:
    """Hook ``bead`` to polecat ``name`` on a real worktree, with a real session running ``argv``."""
    path, branch, _ = ensure_worktree(rig, name, bead)
    session = session_name("polecat", rig.name, name)
    with BeadStore(town) as store:
        store.hook(bead, f"{rig.name}/polecats/{name}", actor="t")
        polecats.upsert(
            store.db,
            rig.name,
            name,
            state="working",
            hook_bead=bead,
            session=session,
            branch=branch,
            worktree=str(path),
            agent="sim",
            started_at=time.time(),
        )
    SessionHost(town).start(session, argv, cwd=path)
    return session


def test_a_healthy_town_is_all_ok_in_process_and_through_the_cli(town, rig, run_gt) -> None:
    bead = _create(town, "Working on it")
    session = _hooked_polecat(town, rig, "nux", bead, ["sleep", "600"])
    assert sync.sync(town).blocked is None
    report = doctor.run(town)
    assert _problems(report) == [], [f.as_dict() for f in _problems(report)]
    assert report.exit_code == 0
    checks = {f.check for f in report.findings}
    assert checks == {name for name, _ in doctor.CHECKS}  # every check reported at least one line
    assert "1 hook(s), each with a live session" in _one(report.findings, "sessions", "sessions").message
    assert SessionHost(town).is_alive(session)
    res = run_gt("doctor", "--json", cwd=town.root)
    assert res.returncode == 0, res.stdout + res.stderr
    rows = json.loads(res.stdout)
    assert rows and all(r["verdict"] == "ok" and not r["left"] for r in rows)
    text = run_gt("doctor", cwd=town.root)
    assert text.returncode == 0 and text.stdout.splitlines()[-1].startswith("doctor: ")
    assert all(line.startswith("ok   ") for line in text.stdout.splitlines()[:-1])


def test_an_orphaned_worktree_is_removed_and_one_with_work_is_kept(town, rig) -> None:
    repo = rig.repo_path
    clean = rig.polecats_dir / "ghost"
    dirty = rig.polecats_dir / "dirty"
    ahead = rig.polecats_dir / "ahead"
    for path in (clean, dirty, ahead):
        git.worktree_add(repo, path, f"polecat/{path.name}/de-x", "main")
    (dirty / "wip.txt").write_text("half-done work\n")
    (ahead / "done.txt").write_text("committed work\n")
    run_git(ahead, "add", "done.txt")
    run_git(ahead, "commit", "-q", "-m", "work not merged yet")
    ahead_sha = git.head_sha(ahead)
    found = doctor.examine(town)
    assert _one(found, "worktrees", "polecats/ghost").fixable
    kept = _one(found, "worktrees", "polecats/dirty")
    assert not kept.fixable and "1 uncommitted file(s) (wip.txt)" in kept.message and kept.verdict == "warn"
    unmerged = _one(found, "worktrees", "polecats/ahead")
    assert not unmerged.fixable and "1 commit(s) not on main" in unmerged.message

    report = doctor.run(town, fix=True)
    assert not clean.exists()
    assert (dirty / "wip.txt").read_text() == "half-done work\n"  # never deleted
    assert git.head_sha(ahead) == ahead_sha and (ahead / "done.txt").exists()
    assert _one(report.findings, "worktrees", "polecats/ghost").fixed
    # the removed worktree's branch, merged and used by nothing now, goes in the next repair round
    assert not git.branch_exists(repo, "polecat/ghost/de-x")
    assert _one(report.findings, "branches", "polecat/ghost/de-x").fixed
    left = {f.subject for f in report.left}
    assert {"demo/polecats/dirty", "demo/polecats/ahead"} <= left
    assert git.branch_exists(repo, "polecat/ahead/de-x") and git.branch_exists(repo, "polecat/dirty/de-x")
    assert report.exit_code == 0  # left work is a warning, not a failure


def test_stale_locks_and_pid_files_are_cleared_and_held_ones_kept(town, rig) -> None:
    stale = town.root / ".git" / "index.lock"
    stale.write_text("")
    old = time.time() - 600
    os.utime(stale, (old, old))
    held = rig.repo_path / "refs" / "heads" / "main.lock"
    held.write_text("")
    os.utime(held, (old, old))
    young = rig.repo_path / "packed-refs.lock"
    young.write_text("")
    dead = subprocess.Popen(["true"])
    dead.wait()
    pid_file = town.state_dir / "engine.pid"
    pid_file.write_text(f"{dead.pid}\n")
    ledger_lock = filelock.FileLock(str(town.state_dir / "ledger.lock"))
    with open(held), ledger_lock:  # a git lock a process has open; a flock some process holds
        found = doctor.examine(town)
        assert _one(found, "locks", ".git/index.lock").verdict == "fail"
        assert _one(found, "locks", "engine.pid").fixable
        flocks = _one(found, "locks", "*.lock")  # ledger.lock, and the routes file's lock that rig add took
        assert re.match(r"\d flock lock file\(s\), held: ledger\.lock \(pid \d+\) ", flocks.message), flocks.message
        assert flocks.verdict == "ok" and not flocks.fixable
        report = doctor.run(town, fix=True)
        assert held.exists() and young.exists()
    assert not stale.exists() and not pid_file.exists()
    fixed = {f.subject for f in report.fixed}
    assert {".git/index.lock", ".gastown/engine.pid"} <= fixed
    assert report.exit_code == 0
    # the town repository takes commits again
    _create(town, "after the lock")
    assert sync.sync(town).commit is not None


def test_a_dead_session_holding_a_hook_is_settled_only_as_the_witness_would(town, rig) -> None:
    bead = _create(town, "Dies")
    session = _hooked_polecat(town, rig, "nux", bead, [sys.executable, "-c", "raise SystemExit(3)"])
    host = SessionHost(town)
    wait_for(lambda: (info := host.info(session)) is not None and not info.alive, timeout=30)
    sync.sync(town)
    # the bead is open: the witness would restart the agent, which doctor leaves to a human
    report = doctor.run(town, fix=True)
    hook = _one(report.findings, "sessions", f"hook {bead}")
    assert hook.verdict == "fail" and not hook.fixable and not hook.fixed
    assert f"gt sling --resume {bead}" in hook.fix and "pane of session demo-nux is dead" in hook.message
    assert report.exit_code == 1 and hook in report.left
    with BeadStore(town) as store:
        assert polecats.get(store.db, "demo", "nux").hook_bead == bead
        assert store.get(bead).status == "hooked"
    # while an engine runs, its witness owns the repair: doctor only reports
    lock = filelock.FileLock(str(town.state_dir / "engine.lock"), thread_local=False)
    with lock:
        (town.state_dir / "engine.pid").write_text(f"{os.getpid()}\n")
        hook = _one(doctor.examine(town), "sessions", f"hook {bead}")
        assert hook.verdict == "warn" and "running engine's witness" in hook.message and not hook.fixable
    (town.state_dir / "engine.pid").unlink()
    # the bead was closed meanwhile: the witness clears such a hook, and so does --fix
    with BeadStore(town) as store:
        store.close(bead, actor="t", reason="done elsewhere", force=True)
    sync.sync(town)
    report = doctor.run(town, fix=True)
    hook = _one(report.findings, "sessions", f"hook {bead}")
    assert hook.fixed and "hook cleared (the witness's rule)" in hook.outcome
    with BeadStore(town) as store:
        row = polecats.get(store.db, "demo", "nux")
        assert (row.state, row.hook_bead, row.session) == ("idle", None, None)
        cleanup = [e for e in events.query(store.db, types=("zombie",), bead=bead) if e.payload["action"] == "cleanup"]
        assert [e.actor for e in cleanup] == ["doctor"]
    assert not host.exists(session) and Path(row.worktree).is_dir()  # the worktree stays
    assert report.exit_code == 0


def test_sessions_without_a_polecat_and_stranded_hooks(town, rig) -> None:
    host = SessionHost(town)
    host.start("demo-ghost", ["sleep", "600"], cwd=town.root)
    host.start("demo-gone", [sys.executable, "-c", "pass"], cwd=town.root)
    wait_for(lambda: (info := host.info("demo-gone")) is not None and not info.alive, timeout=30)
    bead = _create(town, "Stranded")
    with BeadStore(town) as store:
        store.hook(bead, "demo/polecats/vanished", actor="t")
    sync.sync(town)
    found = doctor.examine(town)
    alive = _one(found, "sessions", "session demo-ghost")
    assert alive.verdict == "warn" and not alive.fixable and "belongs to no polecat" in alive.message
    assert _one(found, "sessions", "session demo-gone").fixable
    stranded = _one(found, "sessions", f"hook {bead}")
    assert stranded.verdict == "fail" and "its polecat is gone" in stranded.message
    report = doctor.run(town, fix=True)
    assert host.is_alive("demo-ghost") and not host.exists("demo-gone")
    with BeadStore(town) as store:
        issue = store.get(bead)
        assert (issue.status, issue.assignee) == ("open", "")
        released = events.query(store.db, types=("stranded",), bead=bead)
        assert [(e.actor, e.payload["action"]) for e in released] == [("doctor", "requeue")]
    assert _one(report.findings, "sessions", f"hook {bead}").fixed
    # the deacon's release changed a bead: the ledger repair, which runs last, exported it
    assert _one(doctor.examine(town), "ledger", "issues.jsonl").verdict == "ok"
    assert [f.subject for f in report.left] == ["session demo-ghost"]


def test_an_out_of_date_ledger_export_is_reexported_and_a_diverged_one_left(town, rig) -> None:
    bead = _create(town, "First title")
    sync.sync(town)
    with BeadStore(town) as store:
        store.update(bead, actor="t", title="Second title")
    found = _one(doctor.examine(town), "ledger", "issues.jsonl")
    assert found.verdict == "fail" and found.fixable and "1 bead change(s) since the last export" in found.message
    report = doctor.run(town, fix=True)
    assert _one(report.findings, "ledger", "issues.jsonl").fixed and report.exit_code == 0
    text = town.ledger_path.read_text()
    assert "Second title" in text
    assert git.read_path_at(town.root, "HEAD", ".beads/issues.jsonl").decode() == text  # committed
    # a ledger changed outside the database (a pull, an edit): never exported over
    edited = text.replace("Second title", "Edited by hand")
    town.ledger_path.write_text(edited)
    report = doctor.run(town, fix=True)
    diverged = _one(report.findings, "ledger", "issues.jsonl")
    assert diverged.verdict == "fail" and not diverged.fixable and "gt bead import --merge" in diverged.message
    assert town.ledger_path.read_text() == edited and report.exit_code == 1


def test_an_unreachable_remote_and_a_corrupt_rig_toml_are_reported(town, rig, run_gt, tmp_path) -> None:
    other = add_rig(town, "other", str(rig.git_url))
    (other.path / "rig.toml").write_text('git_url = "x"\nprefix = [\n')
    with edit_toml(rig.path / "rig.toml") as doc:
        doc["git_url"] = str(tmp_path / f"gone{HOSTILE}")
    found = doctor.examine(town)
    remote = _one(found, "repos", "rig demo remote")
    assert remote.verdict == "warn" and "unreachable" in remote.message
    assert "\x1b" not in remote.message and "\x07" not in remote.message
    broken = _one(found, "rigs", "other/rig.toml")
    assert broken.verdict == "fail" and "other/rig.toml" in broken.message
    res = run_gt("doctor", cwd=town.root)
    assert res.returncode == 1, res.stdout + res.stderr
    assert any(line.startswith("FAIL rigs") and "other/rig.toml" in line for line in res.stdout.splitlines())
    assert any(line.startswith("warn repos") and "unreachable" in line for line in res.stdout.splitlines())
    assert "\x1b" not in res.stdout
    assert _one(found, "repos", "rig demo").verdict == "ok"  # the bare clone is fine


def test_a_corrupt_database_fails_with_the_rebuild_fix(town, rig) -> None:
    sync.sync(town, force=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{town.db_path}{suffix}").unlink(missing_ok=True)
    town.db_path.write_bytes(b"this is not sqlite" * 300)
    report = doctor.run(town, fix=True)
    db = _one(report.findings, "database", "town.db")
    assert db.verdict == "fail" and "gt bead rebuild" in db.message + db.fix and report.exit_code == 1
    assert _one(report.findings, "ledger", "issues.jsonl").verdict == "warn"  # not compared, never exported
    assert town.db_path.read_bytes().startswith(b"this is not sqlite")


def test_a_gate_left_by_a_dead_refinery_is_killed(town, rig) -> None:
    pidfile = town.state_dir / "refinery-demo.gate.pid"
    rig.refinery_dir.mkdir(exist_ok=True)
    env = {**os.environ, **gate_tag(rig.refinery_dir, pidfile)}
    proc = subprocess.Popen(["sleep", "600"], cwd=rig.refinery_dir, env=env, start_new_session=True)
    try:
        pidfile.write_text(f"{proc.pid}\n")
        gates = _one(doctor.examine(town), "gates", "rig demo gates")
        assert gates.verdict == "fail" and str(proc.pid) in gates.message and gates.fixable
        report = doctor.run(town, fix=True)
        assert _one(report.findings, "gates", "rig demo gates").fixed
        assert proc.wait(timeout=30) == -signal.SIGKILL
        assert not pidfile.exists() and report.exit_code == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_tool_versions_below_the_minimums_fail(town, tmp_path, monkeypatch) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, text in (("git", "git version 2.30.1"), ("tmux", "tmux 2.9a")):
        (fake / name).write_text(f"#!/bin/sh\necho '{text}'\n")
        (fake / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    found = doctor.check_tools(doctor.Doctor(town))
    git_row, tmux_row = _one(found, "tools", "git"), _one(found, "tools", "tmux")
    assert git_row.verdict == tmux_row.verdict == "fail"
    assert "older than 2.38" in git_row.message and "merge-tree --write-tree" in git_row.message
    assert "older than 3.1" in tmux_row.message


def test_a_dead_session_after_an_interrupted_done_is_settled_as_the_witness_would(town, rig) -> None:
    from core import mq

    bead = _create(town, "Finished, then killed")
    session = _hooked_polecat(town, rig, "nux", bead, [sys.executable, "-c", "pass"])
    path = rig.polecats_dir / "nux"
    (path / "work.txt").write_text("done\n")
    run_git(path, "add", "work.txt")
    run_git(path, "commit", "-q", "-m", "the work")
    head = git.head_sha(path)
    base = git.rev_parse(rig.repo_path, "main")
    git.detach_head(path)  # what gt done does before it queues the MR; it died right after queueing
    with BeadStore(town) as store:
        mr = mq.submit(store.db, rig, bead, "nux", f"polecat/nux/{bead}", head, base_sha=base)
    host = SessionHost(town)
    wait_for(lambda: (info := host.info(session)) is not None and not info.alive, timeout=30)
    sync.sync(town)
    hook = _one(doctor.examine(town), "sessions", f"hook {bead}")
    assert hook.fixable and "detached" in hook.message
    report = doctor.run(town, fix=True)
    assert _one(report.findings, "sessions", f"hook {bead}").fixed
    with BeadStore(town) as store:
        row = polecats.get(store.db, "demo", "nux")
        assert (row.state, row.hook_bead) == ("idle", None)
        assert store.get(bead).status == "in_progress"  # awaiting merge, as gt done leaves it
        assert mq.get(store.db, mr.id).status == "queued"
    assert report.exit_code == 0


def test_hostile_names_are_printed_as_plain_text_and_no_town_is_a_usage_error(town, rig, run_gt, tmp_path) -> None:
    odd = rig.polecats_dir / f"odd{HOSTILE}"
    odd.mkdir()
    (odd / "notes.txt").write_text("mine\n")
    found = _one(doctor.examine(town), "worktrees", "demo/polecats/odd")
    assert found.subject == "demo/polecats/odd" and not found.fixable and "not a worktree" in found.message
    res = run_gt("doctor", "--fix", cwd=town.root)
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert "demo/polecats/odd: not a worktree of rig demo" in res.stdout and "left for a human:" in res.stdout
    assert (odd / "notes.txt").read_text() == "mine\n"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = run_gt("doctor", cwd=elsewhere)
    assert res.returncode == 2 and "not inside a town" in res.stderr


def test_crew_workspaces_are_reported_and_never_repaired(town, rig) -> None:
    from core import crew

    crew.add(town, rig.name, "ann")
    crew.add(town, rig.name, "bob")
    bob = crew.crew_path(rig, "bob")
    (bob / "notes.txt").write_text("a human's work\n")
    run_git(bob, "switch", "-q", "-c", "experiment")
    stray = rig.crew_dir / "cat"
    stray.mkdir()
    (stray / "file.txt").write_text("not a worktree\n")
    found = doctor.examine(town)
    ann = _one(found, "crew", "demo/crew/ann")
    assert ann.verdict == "ok" and "on crew/ann, 0 uncommitted file(s)" in ann.message
    moved = _one(found, "crew", "demo/crew/bob")
    assert moved.verdict == "warn" and "on branch experiment, not crew/bob" in moved.message
    assert _one(found, "crew", "demo/crew/cat").verdict == "warn"
    assert not any(
        f.subject.startswith("crew/") or "/crew/" in f.subject for f in found if f.check in ("worktrees", "branches")
    )
    doctor.run(town, fix=True)
    assert (bob / "notes.txt").read_text() == "a human's work\n" and (stray / "file.txt").exists()


def test_a_landing_git_may_not_push_to_fails_with_the_fix(town, tmp_path) -> None:
    from core import upstream
    from tests.git_server import GitServer

    server = GitServer(tmp_path / "ro" / "repos", push=False)
    server.start()
    try:
        server.create("owner/proj", {"README.md": "# proj\n"})
        add_rig(town, "ro", server.url("owner/proj"), strategy="direct")
        add_rig(town, "kept", server.url("owner/proj"), strategy="local")
        found = doctor.examine(town)
        landing = _one(found, "repos", "rig ro landing")
        assert landing.verdict == "fail" and "git may not push to" in landing.message
        assert 'strategy = "local"' in landing.fix
        assert _one(found, "repos", "rig kept landing").verdict == "ok"
        assert upstream.strategy(load_rig(town, "ro")) == "direct"
    finally:
        server.stop()
