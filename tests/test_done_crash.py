"""``gt done`` killed -9 in its crash windows (issue 15, item 9a).

A real ``gt done`` process is SIGKILLed at the point under test (a wrapper replaces one function with
"do it, then kill -9 myself", so the kill lands exactly there). Before the fix, a kill right after the
MR was queued left the worktree on its branch; the refinery then merged and deleted that branch under
it (unborn HEAD, the polecat unusable). Now the worktree is detached before the MR exists, a second
``gt done`` finishes the first, and the witness settles it when the agent never runs it again.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core import events, git, mq, polecats
from core.beads.store import BeadStore
from core.refinery import Refinery
from core.rigs import add_rig
from core.sling import Slinger
from core.witness import Witness
from core.worktrees import ensure_worktree

ROOT = Path(__file__).resolve().parent.parent

CRASHING_DONE = textwrap.dedent("""
    import os, signal, sys
    import core.{module} as target
    real = target.{function}
    def then_die(*args, **kwargs):
        {before}
        result = real(*args, **kwargs)
        {after}
        return result
    target.{function} = then_die
    from gastown_tui.cli import main
    main(["done"])
""")
KILL = "os.kill(os.getpid(), signal.SIGKILL)"


@pytest.fixture
def hooked(town, git_repo: Path):
    """A rig ``demo`` and polecat ``nux`` hooked to a bead, with one commit of work in its worktree."""
    rig = add_rig(town, "demo", str(git_repo))
    store = BeadStore(town)
    bead = store.create("Greeting", actor="t", prefix=rig.prefix).id
    store.hook(bead, "demo/polecats/nux", actor="t")
    path, branch, _ = ensure_worktree(rig, "nux", bead)
    polecats.upsert(
        store.db,
        "demo",
        "nux",
        state="working",
        hook_bead=bead,
        branch=branch,
        worktree=str(path),
        session="demo-nux",
        agent="sim",
    )
    (path / "greeting.txt").write_text("hello\n")
    git.commit_all(path, f"{bead}: greeting", env={"GIT_AUTHOR_NAME": "nux", "GIT_AUTHOR_EMAIL": "n@x"})
    yield rig, store, bead, path, branch
    store.disconnect()


def _crash_done(gt_env: dict[str, str], cwd: Path, module: str, function: str, when: str) -> int:
    """Run ``gt done`` in ``cwd`` and SIGKILL it right ``when`` ("before"/"after") ``core.<module>.<function>``."""
    script = CRASHING_DONE.format(
        module=module,
        function=function,
        before=KILL if when == "before" else "pass",
        after=KILL if when == "after" else "pass",
    )
    proc = subprocess.run(
        [sys.executable, "-P", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**gt_env, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    return proc.returncode


def _head_ok(path: Path) -> bool:
    return git.run_git(["rev-parse", "--verify", "--quiet", "HEAD"], cwd=path, check=False).returncode == 0


def test_killed_after_queueing_the_mr_the_refinery_never_leaves_an_unborn_head(hooked, town, gt_env, run_gt):
    rig, store, bead, path, branch = hooked
    assert _crash_done(gt_env, path, "mq", "submit", "after") == -signal.SIGKILL
    [mr] = mq.list_mrs(store.db, rig="demo")
    assert mr.status == "queued" and mr.branch == branch
    assert git.current_branch(path) is None, "the worktree still holds the branch the MR names"
    assert polecats.get(store.db, "demo", "nux").hook_bead == bead  # the done never settled
    # the refinery merges it and deletes the branch: the worktree is untouched and usable
    result = Refinery(town, "demo").process_once()
    assert result.merged == [mr.id]
    assert git.rev_parse(rig.repo_path, f"refs/heads/{branch}") is None
    assert _head_ok(path) and git.head_sha(path) == mr.head_sha and git.worktree_valid(path, rig.repo_path)
    assert store.get(bead).status == "closed"
    # the agent runs gt done again: it sees the MR merged and goes idle
    res = run_gt("done", "--json", cwd=path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["mr"] == mr.id
    p = polecats.get(store.db, "demo", "nux")
    assert (p.state, p.hook_bead) == ("idle", None)
    assert events.query(store.db, types=("done",), bead=bead)[-1].payload["already_merged"] is True
    # and the polecat takes its next bead on a fresh branch from main
    nxt = store.create("Next", actor="t", prefix=rig.prefix).id
    path2, branch2, created = ensure_worktree(rig, "nux", nxt)
    assert path2 == path and not created and git.current_branch(path) == branch2
    assert git.head_sha(path) == git.rev_parse(rig.repo_path, "main")


def test_killed_after_queueing_the_mr_gt_done_again_finishes_it_once(hooked, town, gt_env, run_gt):
    rig, store, bead, path, branch = hooked
    assert _crash_done(gt_env, path, "mq", "submit", "after") == -signal.SIGKILL
    res = run_gt("done", "--json", cwd=path)
    assert res.returncode == 0, res.stderr
    [mr] = mq.list_mrs(store.db, rig="demo")
    assert json.loads(res.stdout)["mr"] == mr.id and mr.status == "queued"
    issue = store.get(bead)
    assert issue.status == "in_progress" and any(f"Awaiting merge: {mr.id}" in c.text for c in issue.comments)
    p = polecats.get(store.db, "demo", "nux")
    assert (p.state, p.hook_bead) == ("idle", None)
    assert Refinery(town, "demo").process_once().merged == [mr.id]
    assert store.get(bead).status == "closed" and _head_ok(path)


def test_killed_before_queueing_the_mr_gt_done_again_queues_it(hooked, town, gt_env, run_gt):
    rig, store, bead, path, branch = hooked
    assert _crash_done(gt_env, path, "mq", "submit", "before") == -signal.SIGKILL
    assert mq.list_mrs(store.db) == [] and git.current_branch(path) is None  # detached, nothing queued
    (path / "late.txt").write_text("a leftover written after the crash\n")
    res = run_gt("done", "--json", cwd=path)
    assert res.returncode == 0, res.stderr
    [mr] = mq.list_mrs(store.db, rig="demo")
    assert mr.branch == branch and git.rev_parse(rig.repo_path, f"refs/heads/{branch}") == mr.head_sha
    assert "late.txt" in git.run_git(["ls-tree", "--name-only", mr.head_sha], cwd=rig.repo_path).stdout


def test_the_witness_settles_an_interrupted_done_instead_of_restarting_it(hooked, town, gt_env):
    rig, store, bead, path, branch = hooked
    assert _crash_done(gt_env, path, "mq", "submit", "after") == -signal.SIGKILL
    [mr] = mq.list_mrs(store.db, rig="demo")
    witness = Witness(town, "demo", Slinger(town, store=store))
    [decision] = witness.patrol()  # no session runs for nux: it is dead
    assert decision.action == "settle" and mr.id in decision.reason
    p = polecats.get(store.db, "demo", "nux")
    assert (p.state, p.hook_bead, p.respawns) == ("idle", None, 0)
    assert store.get(bead).status == "in_progress"
    assert not events.query(store.db, types=("respawn",))
    # merged afterwards: the bead closes, and a dead polecat still hooked to a closed bead is cleaned
    assert Refinery(town, "demo").process_once().merged == [mr.id]
    assert store.get(bead).status == "closed"


def test_a_dead_polecat_hooked_to_a_closed_bead_is_cleaned_not_resumed(hooked, town):
    rig, store, bead, path, branch = hooked
    store.close(bead, "t", reason="done elsewhere")
    [decision] = Witness(town, "demo", Slinger(town, store=store)).patrol()
    assert decision.action == "cleanup" and "closed" in decision.reason
    p = polecats.get(store.db, "demo", "nux")
    assert (p.state, p.hook_bead) == ("idle", None)
    assert not events.query(store.db, types=("respawn",))


def test_the_refinery_keeps_a_merged_branch_still_checked_out(hooked, town):
    """Defence in depth: an MR whose branch is still checked out in a worktree (a gt done of an older
    version, or a race) merges, but its branch is kept rather than deleted under the worktree."""
    rig, store, bead, path, branch = hooked
    mr = mq.submit(store.db, rig, bead, "nux", branch, git.head_sha(path), git.rev_parse(rig.repo_path, "main"))
    assert Refinery(town, "demo").process_once().merged == [mr.id]
    assert git.rev_parse(rig.repo_path, f"refs/heads/{branch}") == mr.head_sha
    assert _head_ok(path) and git.current_branch(path) == branch
    [kept] = events.query(store.db, types=("branch_kept",))
    assert kept.payload["mr"] == mr.id and kept.payload["branch"] == branch
