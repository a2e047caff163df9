"""The materialized ready set (issue 19) and the dirty mark of a deleted bead.

Real SQLite: random ledgers and random changes through the store's verbs and through plain SQL (the
triggers must see both). After every change the ready set, whenever it says it is fresh, answers
exactly what the computed plan (the blocked set as a recursive CTE) answers, in every sort, with the
claimer and label filters; a stale set is rebuilt by the next ``ready`` or claim. A bead deleted by
any statement is marked dirty, so the next ledger sync drops its line.
"""

from __future__ import annotations

import fcntl
import os
import random
import stat
from pathlib import Path

import pytest

from core.beads import BeadStore, jsonl
from core.beads import ready as readyq
from core.beads import sync as ledger_sync
from core.beads.model import now_ns
from core.town import Town
from tests.test_ledger_incremental import full, random_graph


def computed(store: BeadStore, **filters: object) -> list[str]:
    """The ready ids by the computed plan (never the ready set)."""
    sql, args = readyq.ready_sql(now_ns(), **filters)  # type: ignore[arg-type]
    return [r[0] for r in store.db.execute(sql, args)]


def from_set(store: BeadStore, **filters: object) -> list[str]:
    """The ready ids read from the ready set, which must be fresh."""
    assert store.db.execute(readyq.FRESH_SQL).fetchone() is not None
    sql, args = readyq.ready_sql(now_ns(), ready_set=True, **filters)  # type: ignore[arg-type]
    return [r[0] for r in store.db.execute(sql, args)]


FILTERS: list[dict[str, object]] = [
    {},
    {"sort": "oldest"},
    {"sort": "newest"},
    {"claimable_by": "a/polecats/x"},
    {"unassigned": True, "limit": 7},
    {"priority": 1},
    {"issue_type": "task"},
    {"prefix": "rg"},
    {"labels": ("l1",)},
]


def change(store: BeadStore, rng: random.Random, ids: list[str]) -> str:
    """One random change, through a verb or plain SQL; returns what it did (for the failure message)."""
    bead = rng.choice(ids)
    roll = rng.randrange(14)
    db = store.db
    if roll == 0:
        store.claim_next(rng.choice(["a/polecats/x", "b/polecats/y"]))
        return "claim_next"
    if roll == 1:
        db.execute("UPDATE issues SET status = ? WHERE id = ?", [rng.choice(["open", "hooked", "blocked"]), bead])
        return f"status of {bead} by SQL"
    if roll == 2:
        store.db.execute("UPDATE issues SET status = 'closed' WHERE id = ?", [bead])
        return f"closed {bead} by SQL"
    if roll == 3:
        store.update(bead, "tester", priority=rng.randint(0, 4))
        return f"priority of {bead}"
    if roll == 4:
        store.update(bead, "tester", assignee=rng.choice(["", "a/polecats/x", "c/polecats/z"]))
        return f"assignee of {bead}"
    if roll == 5:
        store.update(bead, "tester", defer_until=rng.choice([None, "2020-01-01T00:00:00Z", "2200-01-01T00:00:00Z"]))
        return f"defer of {bead}"
    if roll == 6:
        target = rng.choice(ids)
        dep_type = rng.choice(["blocks", "parent-child", "waits-for", "related", "conditional-blocks"])
        db.execute(
            "INSERT OR IGNORE INTO dependencies (issue_id, depends_on_id, type) VALUES (?, ?, ?)",
            [bead, target, dep_type],
        )
        return f"edge {bead} -> {target} ({dep_type}) by SQL"
    if roll == 7:
        db.execute(
            "DELETE FROM dependencies WHERE rowid IN (SELECT rowid FROM dependencies WHERE issue_id = ? LIMIT 1)",
            [bead],
        )
        return f"an edge of {bead} removed by SQL"
    if roll == 8:
        db.execute("UPDATE dependencies SET type = 'related' WHERE issue_id = ?", [bead])
        return f"edges of {bead} retyped by SQL"
    if roll == 9 and len(ids) > 20:
        db.execute("DELETE FROM issues WHERE id = ?", [bead])
        ids.remove(bead)
        return f"deleted {bead} by SQL"
    if roll == 10:
        new = store.create(
            f"new {rng.random()}", actor="tester", prefix="rg", parent=bead if rng.random() < 0.5 else None
        )
        ids.append(new.id)
        return f"created {new.id}"
    if roll == 11:
        db.execute(
            "UPDATE issues SET issue_type = ?, ephemeral = ?, extra = ? WHERE id = ?",
            [
                rng.choice(["task", "message", "epic"]),
                rng.randint(0, 1),
                rng.choice(["{}", '{"is_template":true}']),
                bead,
            ],
        )
        return f"kind of {bead} by SQL"
    if roll == 12:
        store.add_label(bead, f"l{rng.randint(0, 2)}", actor="tester")
        return f"label on {bead}"
    store.cas_status(bead, {"in_progress", "hooked"}, "open", "tester", assignee=None)
    return f"release of {bead}"


@pytest.mark.parametrize("seed_", range(5))
def test_the_ready_set_answers_what_the_computed_plan_answers(tmp_path: Path, seed_: int) -> None:
    rng = random.Random(seed_)
    with BeadStore.open(tmp_path / "ledger.db") as store:
        random_graph(store, rng, 150)
        ids = [r[0] for r in store.db.execute("SELECT id FROM issues ORDER BY id")]
        kept_fresh = 0
        for step in range(120):
            was_fresh = store.db.execute(readyq.FRESH_SQL).fetchone() is not None
            what = change(store, rng, ids)
            if store.db.execute(readyq.FRESH_SQL).fetchone() is not None:
                kept_fresh += was_fresh
                for filters in FILTERS:
                    assert from_set(store, **filters) == computed(store, **filters), f"step {step}: {what}, {filters}"
            assert [i.id for i in store.ready()] == computed(store), f"step {step}: {what}"  # rebuilds a stale set
            for filters in FILTERS:
                assert from_set(store, **filters) == computed(store, **filters), f"step {step} rebuilt: {filters}"
        assert kept_fresh > 10, "no change kept the set in step: the incremental triggers went untested"


def fresh(store: BeadStore) -> bool:
    return store.db.execute(readyq.FRESH_SQL).fetchone() is not None


def test_claims_rebuild_a_stale_set_after_a_few_and_never_take_a_blocked_bead(tmp_path: Path) -> None:
    with BeadStore.open(tmp_path / "ledger.db") as store:
        random_graph(store, random.Random(9), 200)
        expected = computed(store, claimable_by="a/polecats/x")
        assert len(expected) > readyq.REBUILD_AFTER and not fresh(store)
        got: list[str] = []
        while len(got) <= len(expected) and (issue := store.claim_next("a/polecats/x")) is not None:
            got.append(issue.id)
            # the first claims use the per-bead plan; the REBUILD_AFTER-th builds the set, which
            # claims never stale
            assert fresh(store) == (len(got) >= readyq.REBUILD_AFTER), len(got)
        assert got == expected
        assert computed(store) == [i.id for i in store.ready()] == []


def test_a_change_between_every_claim_never_pays_a_rebuild(tmp_path: Path) -> None:
    with BeadStore.open(tmp_path / "ledger.db") as store:
        random_graph(store, random.Random(10), 200)
        for k in range(3 * readyq.REBUILD_AFTER):
            expected = computed(store, claimable_by="a/polecats/x")[:1]
            issue = store.claim_next("a/polecats/x")
            assert ([issue.id] if issue else []) == expected
            store.create(f"between {k}", actor="tester", prefix="rg")  # stales the set again
            assert not fresh(store)
        assert [i.id for i in store.ready()] == computed(store) and fresh(store)  # a listing rebuilds it


def test_deleting_a_bead_by_any_statement_marks_it_dirty_and_the_sync_drops_it(town: Town) -> None:
    with BeadStore(town) as store:
        ids = [store.create(f"bead {k}", actor="tester", prefix="mp").id for k in range(8)]
        store.add_label(ids[3], "doomed", actor="tester")
        ledger_sync.sync(town, store=store)
        assert not store.dirty()
        store.db.execute("DELETE FROM issues WHERE id = ?", [ids[3]])  # no verb: plain SQL
        assert [b for b, _ in store.dirty()] == [ids[3]]
        result = ledger_sync.sync(town, store=store)
        assert result.spliced and result.changed == [ids[3]]
        data = town.ledger_path.read_bytes()
        assert data == full(store) and ids[3].encode() not in data
        assert [i.id for i in jsonl.loads(data.decode())] == sorted(ids[:3] + ids[4:])
        assert not store.dirty()


def test_a_mark_raised_while_a_sync_runs_outlives_that_sync(town: Town) -> None:
    """A deleted bead's mark moves past the mark a running sync read, so its clearing keeps it."""
    with BeadStore(town) as store:
        ids = [store.create(f"bead {k}", actor="tester", prefix="mp").id for k in range(3)]
        seen = store.dirty()
        store.db.execute("UPDATE ledger_dirty SET ts = 4e9 WHERE bead = ?", [ids[0]])  # a clock ahead
        seen = store.dirty()
        store.db.execute("DELETE FROM issues WHERE id = ?", [ids[0]])
        store.clear_dirty(seen)
        assert [b for b, _ in store.dirty()] == [ids[0]]


def test_equal_times_order_by_id_in_every_plan_and_survive_a_vacuum(tmp_path: Path) -> None:
    """Beads created in one instant (an import of second-resolution stamps) order by id, whatever
    their row numbers: written in reverse id order, then renumbered by VACUUM."""
    with BeadStore.open(tmp_path / "ledger.db") as store:
        for k in reversed(range(12)):
            store.create(f"tie {k}", actor="tester", id=f"tb-{k:02d}", priority=k % 2)
        store.db.execute("UPDATE issues SET created_ns = 5")
        by_id = sorted(f"tb-{k:02d}" for k in range(12))
        expected = {
            "priority": [b for b in by_id if int(b[-2:]) % 2 == 0] + [b for b in by_id if int(b[-2:]) % 2],
            "oldest": by_id,
            "newest": by_id[::-1],
        }
        for rounds in range(2):
            for sort, ids in expected.items():
                assert computed(store, sort=sort) == ids, (rounds, sort)
                assert [i.id for i in store.ready(sort=sort)] == ids, (rounds, sort)  # builds the set
                assert from_set(store, sort=sort) == ids, (rounds, sort)
                assert [i.id for i in store.ready(sort=sort, limit=3)] == ids[:3], (rounds, sort)
            store.db.execute("VACUUM")
        assert store.claim_next("a/polecats/x").id == expected["priority"][0]  # type: ignore[union-attr]


def test_a_rebuild_drops_the_ready_set_indexes_and_trigger_of_a_town_made_before(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with BeadStore.open(path) as store:
        random_graph(store, random.Random(3), 60)
        store.db.execute("CREATE INDEX ready_set_order ON ready_set(priority, created_ns, seq)")
        store.db.execute("CREATE INDEX ready_set_age ON ready_set(created_ns, seq)")
        store.db.execute(
            "CREATE TRIGGER ready_bead_fields AFTER UPDATE OF priority, defer_ns, assignee ON issues BEGIN "
            "UPDATE ready_set SET priority = new.priority, defer_ns = new.defer_ns, assignee = new.assignee "
            "WHERE id = new.id; END"
        )
    with BeadStore.open(path) as store:  # an open leaves a town's schema as it is (no write lock)

        def objects() -> set[str]:
            rows = store.db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') AND name LIKE 'ready_set%' "
                "OR name LIKE 'ready_bead%'"
            )
            return {r[0] for r in rows}

        new = {"ready_set_pick", "ready_set_when", "ready_bead_added", "ready_bead_deleted", "ready_bead_kind"}
        new |= {"ready_bead_status", "ready_bead_copied"}
        assert objects() == new | {"ready_set_order", "ready_set_age", "ready_bead_fields"}
        assert not fresh(store)
        assert [i.id for i in store.ready()] == computed(store) and fresh(store)
        assert objects() == new
        store.update(store.ready()[0].id, "tester", priority=0, assignee="a/polecats/x")  # copied in the set
        for filters in FILTERS:
            assert from_set(store, **filters) == computed(store, **filters), filters


def test_claimers_queue_on_a_private_lock_file_that_a_caller_s_transaction_skips(tmp_path: Path) -> None:
    """The claim queue is ``<db>-claims`` (0600). A claim inside a caller's transaction never waits
    on it (the caller may hold the write lock a queued claimer waits for): here another descriptor
    holds the queue and the claim still goes through."""
    path = tmp_path / "ledger.db"
    with BeadStore.open(path) as store:
        for k in range(3):
            store.create(f"q {k}", actor="tester", id=f"qq-{k}")
        first = store.claim_next("a/polecats/x")
        assert first is not None and first.id == "qq-0"
        queue = Path(f"{path}-claims")
        assert stat.S_IMODE(queue.stat().st_mode) == 0o600
        fd = os.open(queue, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with store.transaction():
                second = store.claim_next("a/polecats/x")
            assert second is not None and second.id == "qq-1" and second.status == "in_progress"
        finally:
            os.close(fd)
        assert [i.id for i in store.list(status="in_progress")] == ["qq-0", "qq-1"]
