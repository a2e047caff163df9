"""The merge-request table and queue: idempotent submit, supersede, ordering with aging, retry and reject,
batch claims and crash recovery, and ``gt mq retry|reject`` as a real process."""

from __future__ import annotations

import json
import time

import pytest

from core import events, mq
from core.db import connect
from core.errors import Conflict, GtError, NotFound

SHA = [f"{i:040x}" for i in range(1, 30)]


@pytest.fixture
def db(town):
    return connect(town.db_path)


def _submit(db, i, branch=None, priority=2, rig="proj"):
    return mq.submit(
        db,
        rig,
        f"pj-{i}",
        f"cat{i}",
        branch or f"polecat/cat{i}/pj-{i}",
        SHA[i],
        SHA[0],
        priority,
        actor=f"{rig}/polecats/cat{i}",
    )


def test_submit_creates_a_queued_mr_with_an_event(db):
    m = _submit(db, 1)
    assert (m.id, m.status, m.rig, m.bead, m.head_sha, m.base_sha, m.priority) == (
        "mr-1",
        "queued",
        "proj",
        "pj-1",
        SHA[1],
        SHA[0],
        2,
    )
    ev = events.query(db, types=("mr_submitted",))
    assert len(ev) == 1 and ev[0].payload["mr"] == "mr-1" and ev[0].actor == "proj/polecats/cat1"


def test_submit_is_idempotent_per_branch_and_sha(db):
    first = _submit(db, 1)
    again = _submit(db, 1)
    assert again.id == first.id and len(mq.list_mrs(db)) == 1
    assert len(events.query(db, types=("mr_submitted",))) == 1


def test_a_new_sha_on_the_same_branch_supersedes_the_queued_mr(db):
    old = mq.submit(db, "proj", "pj-1", "cat", "polecat/cat/pj-1", SHA[1])
    new = mq.submit(db, "proj", "pj-1", "cat", "polecat/cat/pj-1", SHA[2])
    assert mq.get(db, old.id).status == "rejected" and mq.get(db, old.id).reason == f"superseded by {new.id}"
    assert [m.id for m in mq.queue(db, "proj")] == [new.id]


def test_submit_accepts_a_rig_object(town, db, git_repo):
    from core.rigs import add_rig

    rig = add_rig(town, "proj", str(git_repo))
    assert mq.submit(db, rig, None, None, "feature/x", SHA[3]).rig == "proj"


@pytest.mark.parametrize(
    "branch, sha, priority, needle",
    [
        ("../../etc", SHA[1], 2, "invalid branch"),
        ("-rf", SHA[1], 2, "invalid branch"),
        ("a b", SHA[1], 2, "invalid branch"),
        ("ok/branch", "abc", 2, "invalid head sha"),
        ("ok/branch", SHA[1], 7, "invalid priority"),
    ],
)
def test_submit_rejects_bad_input(db, branch, sha, priority, needle):
    with pytest.raises(GtError, match=needle):
        mq.submit(db, "proj", "pj-1", "cat", branch, sha, priority=priority)


def test_queue_orders_by_priority_then_fifo(db):
    low = _submit(db, 1, priority=3)
    a = _submit(db, 2, priority=1)
    b = _submit(db, 3, priority=1)
    urgent = _submit(db, 4, priority=0)
    assert [m.id for m in mq.queue(db, "proj")] == [urgent.id, a.id, b.id, low.id]


def test_effective_priority_ages_one_level_per_step_down_to_zero():
    assert mq.effective_priority(4, 0, 0) == 4
    assert mq.effective_priority(4, 0, 3599) == 4
    assert mq.effective_priority(4, 0, 3600) == 3
    assert mq.effective_priority(4, 0, 10 * 3600) == 0
    assert mq.effective_priority(2, 100, 50) == 2  # clock skew never raises priority


def test_old_low_priority_mrs_do_not_starve(db):
    old = _submit(db, 1, priority=4)
    fresh = [_submit(db, i, priority=0) for i in range(2, 6)]
    now = time.time()
    assert mq.queue(db, "proj", now=now)[-1].id == old.id
    # after 4 aging steps the P4 MR competes as P0 and, being the oldest, goes first
    assert mq.queue(db, "proj", now=now + 4 * 3600)[0].id == old.id
    assert mq.queue(db, "proj", now=now + 2 * 60, aging_step=60)[-1].id == old.id
    assert [m.id for m in mq.queue(db, "proj", now=now + 4 * 60, aging_step=60)] == [old.id] + [m.id for m in fresh]


def test_claim_batch_takes_the_head_of_the_queue_and_requeue_restores_it(db):
    mrs = [_submit(db, i) for i in range(1, 6)]
    _submit(db, 9, rig="other")
    batch, claimed = mq.claim_batch(db, "proj", 3)
    assert batch == 1 and [m.id for m in claimed] == [m.id for m in mrs[:3]]
    assert {m.status for m in mq.list_mrs(db, "proj", ("merging",))} == {"merging"}
    assert [m.id for m in mq.queue(db, "proj")] == [m.id for m in mrs[3:]]
    assert mq.requeue_merging(db, "proj") == [m.id for m in mrs[:3]]
    assert [m.id for m in mq.queue(db, "proj")] == [m.id for m in mrs]
    assert mq.batches(db, "proj")[0].outcome == "abandoned"
    assert mq.claim_batch(db, "nothing-here", 4) == (0, [])


def test_retry_and_reject_rules(db):
    m = _submit(db, 1)
    with pytest.raises(Conflict, match="only failed, conflict or rejected"):
        mq.retry(db, m.id)
    with pytest.raises(GtError, match="needs a reason"):
        mq.reject(db, m.id, "  ")
    r = mq.reject(db, m.id, "duplicate of pj-2", actor="human")
    assert r.status == "rejected" and r.reason == "duplicate of pj-2"
    back = mq.retry(db, m.id)
    assert back.status == "queued" and back.retry_count == 1 and back.reason == ""
    mq.finish(db, m.id, "merged", "done", SHA[5])
    with pytest.raises(Conflict, match="no longer be rejected"):
        mq.reject(db, m.id, "too late")
    with pytest.raises(NotFound, match="gt mq list"):
        mq.get(db, "mr-404")
    with pytest.raises(GtError, match="invalid final status"):
        mq.finish(db, m.id, "queued")


def test_gate_runs_and_logs_are_linked_to_the_mr(db):
    m = _submit(db, 1)
    mq.record_gate_run(db, [m.id], ["/logs/batch-1-test-1.log"])
    mq.record_gate_run(db, [m.id], ["/logs/batch-1-test-2.log"])
    got = mq.get(db, m.id)
    assert got.gate_runs == 2 and got.logs == ["/logs/batch-1-test-1.log", "/logs/batch-1-test-2.log"]


def test_gt_mq_retry_and_reject_as_a_process(town, db, run_gt):
    m = _submit(db, 1)
    out = run_gt("mq", "reject", m.id, "--reason", "not wanted", cwd=town.root)
    assert out.returncode == 0 and "rejected: not wanted" in out.stdout
    out = run_gt("mq", "retry", m.id, cwd=town.root)
    assert out.returncode == 0 and "queued again (retry 1)" in out.stdout
    out = run_gt("mq", "retry", m.id, cwd=town.root)
    assert out.returncode == 2 and out.stderr.startswith("gt: mr-1 is queued")
    out = run_gt("mq", "retry", "mr-99", cwd=town.root)
    assert out.returncode == 2 and "no merge request 'mr-99'" in out.stderr
    listed = json.loads(run_gt("mq", "list", "--json", cwd=town.root).stdout)
    assert listed["mrs"][0]["id"] == m.id and listed["mrs"][0]["retry_count"] == 1
    stats = run_gt("mq", "stats", cwd=town.root)
    assert stats.returncode == 0 and "0 batches" in stats.stdout and "queued 1" in stats.stdout
