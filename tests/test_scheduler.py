"""The sling queue and its dispatch: priority order, capacity, spawn_delay, refused input and no
double work, with the real Slinger, tmux and sim (issue 7)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from core import convoys, events, polecats, scheduler
from core.beads.store import BeadStore
from core.errors import GtError, NotFound
from core.sling import Slinger
from tests.test_engine_support import SH, configure, create_bead


@pytest.fixture
def store(fast_town) -> Iterator[BeadStore]:
    s = BeadStore(fast_town)
    yield s
    s.disconnect()


def _hanging(run_gt, town, title: str, priority: int = 2) -> str:
    return create_bead(run_gt, town, title, SH.format("echo x > x.txt"), labels=("sim:hang",), priority=priority)


def test_dispatch_in_priority_order_within_capacity(fast_town, demo_rig, store, run_gt) -> None:
    configure(fast_town, {"scheduler": {"max_polecats_per_rig": 2, "spawn_delay": 0.0}})
    low = _hanging(run_gt, fast_town, "Low", priority=3)
    urgent = _hanging(run_gt, fast_town, "Urgent", priority=0)
    mid = _hanging(run_gt, fast_town, "Mid", priority=1)
    res = run_gt("sling", "--queue", low, urgent, mid, "demo", "--json", cwd=fast_town.root)
    assert res.returncode == 0, res.stderr
    assert [q["bead"] for q in json.loads(res.stdout)] == [low, urgent, mid]
    assert [q.bead for q in scheduler.list_queue(store.db)] == [urgent, mid, low]
    sched = scheduler.Scheduler(fast_town, Slinger(fast_town, store=store, actor="deacon"))
    started = sched.dispatch()
    assert [r.bead for r in started] == [urgent, mid]
    assert [q.bead for q in scheduler.list_queue(store.db)] == [low]  # the rig is full: it waits
    assert polecats.count_busy(store.db, rig="demo") == 2
    assert sched.dispatch() == []
    assert scheduler.get(store.db, low).attempts == 0
    assert json.loads(run_gt("status", "--json", cwd=fast_town.root).stdout)["queue"] == 1


def test_spawn_delay_spaces_out_starts(fast_town, demo_rig, store, run_gt) -> None:
    configure(fast_town, {"scheduler": {"spawn_delay": 30.0}})
    a = create_bead(run_gt, fast_town, "A")
    b = create_bead(run_gt, fast_town, "B")
    for bead in (a, b):
        scheduler.enqueue(store, bead, "demo", actor="t")
    now = [1000.0]
    sched = scheduler.Scheduler(fast_town, Slinger(fast_town, store=store), clock=lambda: now[0])
    assert [r.bead for r in sched.dispatch()] == [a]
    assert sched.next_start_in() == 30.0 and sched.dispatch() == []
    now[0] += 30.0
    assert [r.bead for r in sched.dispatch()] == [b]


def test_bead_slung_by_hand_is_never_slung_again_from_the_queue(fast_town, demo_rig, store, run_gt) -> None:
    bead = _hanging(run_gt, fast_town, "Raced")
    scheduler.enqueue(store, bead, "demo", actor="t")
    assert run_gt("sling", bead, "demo", cwd=fast_town.root).returncode == 0
    sched = scheduler.Scheduler(fast_town, Slinger(fast_town, store=store))
    assert sched.dispatch() == []
    assert scheduler.list_queue(store.db) == []
    kinds = [e.type for e in events.query(store.db, bead=bead)]
    assert kinds.count("sling") == 1 and kinds.count("dequeued") == 1
    (dq,) = events.query(store.db, types=("dequeued",), bead=bead)
    assert dq.payload["reason"] == "bead is hooked"


def test_refused_input_leaves_the_queue_unchanged(fast_town, demo_rig, store, run_gt) -> None:
    bead = create_bead(run_gt, fast_town, "Fine")
    closed = create_bead(run_gt, fast_town, "Closed")
    store.close(closed, actor="t", reason="no")
    town_bead = store.create("Town level", actor="t").id
    cases = [
        (("sling", "--queue", closed, "demo"), "only open beads"),
        (("sling", "--queue", bead, "ghost"), "no rig named 'ghost'"),
        (("sling", "--queue", "de-nope", "demo"), "no bead matches"),
        (("sling", "--queue", bead, "demo", "--agent", "nosuch"), "unknown agent preset"),
        (("sling", "--queue", bead), "give the bead(s) and the rig"),
    ]
    for args, message in cases:
        res = run_gt(*args, cwd=fast_town.root)
        assert res.returncode == 2 and message in res.stderr, (args, res.stderr)
    assert scheduler.list_queue(store.db) == []
    c = convoys.create(store, "Mixed", [bead, closed, town_bead], actor="t")
    queued = scheduler.enqueue_convoy(store, c.id, "demo", actor="t")
    assert sorted(q.bead for q in queued) == sorted([bead, town_bead])
    assert {q.convoy for q in queued} == {c.id}
    with pytest.raises(GtError):
        scheduler.enqueue(store, c.id, "demo", actor="t")  # a convoy is not work
    with pytest.raises(NotFound):
        scheduler.enqueue(store, bead, "ghost", actor="t")
