"""The deacon's patrol on real beads, worktrees and git: convoys, stranded work, escalations,
checkpoints and the debounced ledger commit (issue 7)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from core import convoys, escalation, events, git, mail, polecats, scheduler
from core.beads.store import BeadStore
from core.deacon import Deacon
from core.done import checkpoint_ref
from core.rigs import add_rig
from core.sessions import SessionHost
from core.worktrees import ensure_worktree
from tests.test_engine_support import configure


@pytest.fixture
def store(fast_town) -> Iterator[BeadStore]:
    s = BeadStore(fast_town)
    yield s
    s.disconnect()


@pytest.fixture
def rig(fast_town, git_repo):
    r = add_rig(fast_town, "demo", str(git_repo))
    yield r
    SessionHost(fast_town).kill_server()


def _deacon(town, store, clock=time.time) -> Deacon:
    return Deacon(town, SessionHost(town), store, clock=clock)


def test_patrol_lands_a_finished_convoy_once_and_notifies(fast_town, rig, store) -> None:
    a = store.create("A", actor="t", prefix="de").id
    b = store.create("B", actor="t", prefix="de").id
    c = convoys.create(store, "Pair", [a, b], actor="t", notify="mayor/")
    deacon = _deacon(fast_town, store)
    store.close(a, actor="t", reason="done")
    assert deacon.patrol().landed == []
    store.close(b, actor="t", reason="done")
    assert deacon.patrol().landed == [c.id]
    assert deacon.patrol().landed == []
    assert convoys.get(store, c.id).state == "landed"
    assert [m.subject for m in mail.inbox(fast_town, "mayor/")] == ["Convoy landed: Pair"]


def test_stranded_hook_is_released_and_queued_again(fast_town, rig, store) -> None:
    bead = store.create("Orphan", actor="t", prefix="de").id
    store.hook(bead, "demo/polecats/ghost", actor="t")  # no such polecat: its work is stranded
    held = store.create("Held", actor="t", prefix="de").id
    store.hook(held, "demo/polecats/nux", actor="t")
    polecats.upsert(store.db, "demo", "nux", state="working", hook_bead=held)
    report = _deacon(fast_town, store).patrol()
    assert report.stranded == [bead]
    issue = store.get(bead)
    assert issue.status == "open" and issue.assignee == ""
    assert any("Stranded" in c.text for c in issue.comments)
    assert [q.bead for q in scheduler.list_queue(store.db)] == [bead]
    (ev,) = events.query(store.db, types=("stranded",))
    assert ev.bead == bead and "polecat is gone" in ev.payload["reason"]
    assert store.get(held).status == "hooked"  # a polecat that holds its hook is left alone


def test_unacknowledged_escalation_is_raised_again_one_level_up(fast_town, rig, store) -> None:
    esc = escalation.escalate(store, "the build server is down", "medium", actor="demo/witness")
    deacon = _deacon(fast_town, store, clock=lambda: esc.raised_at + 10)
    assert deacon.patrol().reescalated == []
    deacon.clock = lambda: esc.raised_at + 3600
    assert deacon.patrol().reescalated == [esc.id]
    (again,) = escalation.list_open(store)
    assert (again.severity, again.raised) == ("high", 2)
    assert "severity:high" in store.get(esc.id).labels and "severity:medium" not in store.get(esc.id).labels
    subjects = [m.subject for m in mail.inbox(fast_town, "mayor/")]
    assert subjects == ["ESCALATION [MEDIUM] the build server is down", "ESCALATION [HIGH] the build server is down"]
    store.close(esc.id, actor="mayor/", reason="fixed")  # acknowledged: never raised again
    deacon.clock = lambda: esc.raised_at + 99999
    assert deacon.patrol().reescalated == []


def test_escalate_command_files_bead_and_mails_the_mayor(fast_town, rig, run_gt) -> None:
    res = run_gt("escalate", "-s", "critical", "disk full on the build host", "--json", cwd=fast_town.root)
    assert res.returncode == 0, res.stderr
    esc = json.loads(res.stdout)
    assert esc["severity"] == "critical" and esc["id"].startswith("hq-")
    inbox = json.loads(run_gt("mail", "inbox", "mayor/", "--json", cwd=fast_town.root).stdout)
    assert inbox[0]["subject"] == "ESCALATION [CRITICAL] disk full on the build host"
    res = run_gt("escalate", "-s", "urgent", "x", cwd=fast_town.root)
    assert res.returncode == 2 and "urgent" in res.stderr
    res = run_gt("escalate", "  ", cwd=fast_town.root)
    assert res.returncode == 2 and "needs a text" in res.stderr


def test_checkpoint_snapshots_dirty_worktree_without_moving_the_branch(fast_town, rig, store) -> None:
    bead = store.create("Busy", actor="t", prefix="de").id
    store.hook(bead, "demo/polecats/nux", actor="t")
    path, branch, _ = ensure_worktree(rig, "nux", bead)
    polecats.upsert(store.db, "demo", "nux", state="working", hook_bead=bead, worktree=str(path), branch=branch)
    (path / "draft.txt").write_text("half done\n")
    git.run_git(["add", "draft.txt"], cwd=path)
    (path / "draft.txt").write_text("half done, more\n")
    head = git.head_sha(path)
    index_before = git.run_git(["diff", "--cached", "--name-only"], cwd=path).stdout
    deacon = _deacon(fast_town, store)
    (sha,) = deacon.checkpoint()
    assert git.rev_parse(rig.repo_path, checkpoint_ref("nux", bead)) == sha
    assert git.run_git(["show", f"{sha}:draft.txt"], cwd=rig.repo_path).stdout == "half done, more\n"
    assert git.head_sha(path) == head and git.current_branch(path) == branch
    assert git.run_git(["diff", "--cached", "--name-only"], cwd=path).stdout == index_before
    assert deacon.checkpoint() == []  # not again before checkpoint_interval


def test_ledger_is_committed_after_the_debounce(fast_town, rig, store) -> None:
    configure(fast_town, {"ledger": {"commit_debounce": 2.0}})
    deacon = _deacon(fast_town, store)
    bead = store.create("To the ledger", actor="t", prefix="de").id
    assert deacon.sync_ledger() is None  # changed just now: wait for quiet
    configure(fast_town, {"ledger": {"commit_debounce": 0.0}})
    result = deacon.sync_ledger()
    assert result is not None and bead in result.changed and result.commit
    assert bead in fast_town.ledger_path.read_text()
    assert deacon.sync_ledger() is None and store.dirty() == []
