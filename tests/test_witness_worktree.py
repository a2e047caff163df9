"""A worktree deleted mid-work is noticed by the witness (issue 15, item 9c).

Real tmux and the sim agent: a polecat is working, its dirty worktree has been checkpointed, then the
worktree directory is deleted from under it. The witness stops the session, re-creates the worktree on
the polecat's branch with the checkpoint, restarts the agent, records ``worktree_lost`` and tells the
Mayor; the bead then lands with the work from before the deletion. When the directory cannot be
re-created (something else sits there), the restore fails loudly: a high escalation.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from core import escalation, events, git, mq, polecats
from core.done import checkpoint_ref, save_checkpoint
from core.sling import Slinger
from core.witness import Witness
from core.worktrees import ensure_worktree
from tests.conftest import wait_for
from tests.test_sling import SH, create


def test_a_worktree_deleted_mid_work_is_restored_with_its_checkpoint(town, rig, store, run_gt, tmp_path: Path) -> None:
    go = tmp_path / "go"  # the first step waits for it: the agent is mid-work until the test says go
    steps = (
        SH.format(f"[ -f one.txt ] || echo one > one.txt\nwhile [ ! -f {go} ]; do sleep 0.2; done")
        + "\n"
        + SH.format("echo two > two.txt")
    )
    bead = create(run_gt, town, "Long work", steps)
    assert run_gt("sling", bead, "demo", cwd=town.root).returncode == 0
    p = wait_for(lambda: (q := polecats.by_bead(store.db, bead)) and q.state == "working" and q)
    path = Path(p.worktree)
    wait_for(lambda: (path / "one.txt").exists(), timeout=30)
    sha = save_checkpoint(town, rig, p, actor="deacon", session_alive=True, store=store)
    assert sha and git.rev_parse(rig.repo_path, checkpoint_ref(p.name, bead)) == sha
    (path / "resumed.txt").write_text("x\n")  # not checkpointed: lost with the directory
    shutil.rmtree(path)
    witness = Witness(town, "demo", Slinger(town, host=None, store=store))
    decisions = [d for d in witness.patrol() if d.bead == bead]
    assert [(d.state, d.action) for d in decisions] == [("worktree_lost", "restore")], decisions
    reason = decisions[0].reason
    assert "is gone mid-work" in reason and "checkpoint restored" in reason and p.branch in reason
    assert git.worktree_valid(path, rig.repo_path) and git.current_branch(path) == p.branch
    [lost] = events.query(store.db, types=("worktree_lost",), bead=bead)
    assert lost.payload["action"] == "restore" and str(path) in lost.payload["reason"]
    [esc] = [e for e in escalation.list_open(store) if e.about == bead]
    assert esc.severity == "medium" and "is gone mid-work" in esc.text
    assert polecats.get(store.db, "demo", p.name).respawns == 1
    go.touch()
    # the restarted agent finishes: the work from before the deletion lands with the rest
    [mr] = wait_for(lambda: mq.list_mrs(store.db, rig="demo"), timeout=90)
    files = git.run_git(["ls-tree", "--name-only", mr.head_sha], cwd=rig.repo_path).stdout.split()
    assert "one.txt" in files and "two.txt" in files and "resumed.txt" not in files


def test_a_worktree_that_cannot_be_restored_is_escalated_high(town, rig, store) -> None:
    bead = store.create("Work", actor="t", prefix=rig.prefix).id
    store.hook(bead, "demo/polecats/nux", actor="t")
    path, branch, _ = ensure_worktree(rig, "nux", bead)
    polecats.upsert(store.db, "demo", "nux", state="working", hook_bead=bead, branch=branch, worktree=str(path))
    shutil.rmtree(path)
    path.mkdir()
    (path / "squatter.txt").write_text("not a worktree\n")
    [d] = Witness(town, "demo", Slinger(town, store=store)).patrol()
    assert (d.state, d.action) == ("worktree_lost", "restore_failed")
    assert "no longer a git worktree" in d.reason and "restoring it failed" in d.reason
    [esc] = [e for e in escalation.list_open(store) if e.about == bead]
    assert esc.severity == "high"
    assert (path / "squatter.txt").exists()  # the witness never deletes what it finds there
