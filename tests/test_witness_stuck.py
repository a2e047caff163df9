"""Stuck is not forever (issue 15, item 9d): after an outage (a full disk: restarts fail, agents die)
a stuck polecat is tried again with a growing backoff, a bounded number of times, and recovers.

Real tmux and the sim agent. The outage is made real: the polecat's worktree path is occupied by a
directory that is not a worktree (so a restart cannot happen, as with a full disk), or the agent keeps
crashing (``sim:crash``); the outage then ends and the polecat lands its bead within the same run.
"""

from __future__ import annotations

import shutil
import time

from core import escalation, events, mq, polecats
from core.sling import Slinger
from core.witness import STUCK_RETRIES, Witness
from core.worktrees import ensure_worktree
from tests.test_engine_support import SH, configure, create_bead, wait_for
from tests.test_sling import create


def _stuck_polecat(town, rig, store, run_gt):
    bead = create(run_gt, town, "Outage victim", SH.format("echo ok > ok.txt"))
    store.hook(bead, "demo/polecats/nux", actor="t")
    path, branch, _ = ensure_worktree(rig, "nux", bead)
    polecats.upsert(
        store.db,
        "demo",
        "nux",
        state="stuck",
        hook_bead=bead,
        branch=branch,
        worktree=str(path),
        session="demo-nux",
        agent="sim",
        respawns=3,
    )
    return bead, path


def test_a_stuck_polecat_is_retried_with_backoff_and_recovers_after_the_outage(town, rig, store, run_gt) -> None:
    base = float(town.setting("witness", "stuck_retry_after"))
    bead, path = _stuck_polecat(town, rig, store, run_gt)
    now = [time.time()]
    events.append(store.db, "stuck", "demo/witness", rig="demo", bead=bead, ts=now[0], payload={"state": "zombie"})
    shutil.rmtree(path)
    path.mkdir()
    (path / "no-space").write_text("the outage: nothing can be written here\n")
    witness = Witness(town, "demo", Slinger(town, store=store), clock=lambda: now[0])

    def patrol():
        [d] = witness.patrol()
        return d

    d = patrol()
    assert (d.state, d.action) == ("stuck", "none") and f"next try in {base:.0f}s (1/{STUCK_RETRIES})" in d.reason
    now[0] += base
    d = patrol()
    assert d.action == "retry_failed" and "the restart failed" in d.reason
    assert polecats.get(store.db, "demo", "nux").state == "stuck"
    now[0] += base  # the second try waits twice as long
    d = patrol()
    assert d.action == "none" and "next try in" in d.reason and f"(2/{STUCK_RETRIES})" in d.reason
    shutil.rmtree(path)  # the outage ends
    now[0] += base
    d = patrol()
    assert d.action == "retry", d.reason
    p = polecats.get(store.db, "demo", "nux")
    assert p.state == "working" and p.respawns == 1
    [mr] = wait_for(lambda: mq.list_mrs(store.db, rig="demo"), timeout=60)
    assert mr.bead == bead
    tries = events.query(store.db, types=("stuck_retry",), bead=bead)
    assert [e.payload["action"] for e in tries] == ["retry_failed", "retry"]


def test_the_retries_are_bounded(town, rig, store, run_gt) -> None:
    bead, path = _stuck_polecat(town, rig, store, run_gt)
    long_ago = time.time() - 10**7
    events.append(store.db, "stuck", "demo/witness", rig="demo", bead=bead, ts=long_ago)
    for _ in range(STUCK_RETRIES):
        events.append(
            store.db,
            "stuck_retry",
            "demo/witness",
            rig="demo",
            bead=bead,
            ts=long_ago,
            payload={"action": "retry_failed"},
        )
    [d] = Witness(town, "demo", Slinger(town, store=store)).patrol()
    assert (d.state, d.action) == ("stuck", "none")
    assert f"tried again {STUCK_RETRIES} times" in d.reason
    assert polecats.get(store.db, "demo", "nux").respawns == 3
    assert len(events.query(store.db, types=("stuck_retry",), bead=bead)) == STUCK_RETRIES


def test_a_bead_stuck_while_its_agent_kept_crashing_lands_once_the_crashes_stop(
    fast_town, demo_rig, engine, run_gt
) -> None:
    configure(fast_town, {"witness": {"stuck_retry_after": 4}})
    bead = create_bead(
        run_gt, fast_town, "Crashes during the outage", SH.format("echo x >> crash.txt"), labels=("sim:crash",)
    )
    assert run_gt("sling", bead, "demo", cwd=fast_town.root).returncode == 0
    from core.beads.store import BeadStore

    with BeadStore(fast_town) as store:
        stuck = wait_for(lambda: events.query(store.db, types=("stuck",), bead=bead), timeout=120)[0]
        assert "tried again in 4s (1/3)" in stuck.payload["reason"]
        store.remove_label(bead, "sim:crash", actor="test")  # the outage is over
        retry = wait_for(
            lambda: [
                e for e in events.query(store.db, types=("stuck_retry",), bead=bead) if e.payload["action"] == "retry"
            ],
            timeout=60,
        )[0]
        assert "trying it again (1/3" in retry.payload["reason"]
        wait_for(lambda: store.get(bead).status == "closed", timeout=120)
        p = polecats.by_bead(store.db, bead)
        assert p is None or p.state != "stuck"
        assert len([e for e in escalation.list_open(store) if e.about == bead]) == 1  # told once, not per try
