"""The bead detail read (:func:`core.bead_view.read`) on a real town's SQLite ledger: dependencies both
ways named from the bead's side, a missing target, what blocks it now, its MRs and its history."""

from __future__ import annotations

import pytest

from core import bead_view, convoys, mq
from core.beads.store import BeadStore
from core.errors import NotFound
from core.town import Town


def test_a_bead_reads_with_its_edges_both_ways_blockers_mrs_and_history(town: Town) -> None:
    with BeadStore(town) as store:
        epic = store.create("Epic", actor="t", prefix="de", issue_type="epic").id
        up = store.create("Upstream", actor="t", prefix="de").id
        bead = store.create("The bead", actor="t", prefix="de", parent=epic, deps=[up]).id
        down = store.create("Downstream", actor="t", prefix="de", deps=[bead]).id
        cv = convoys.create(store, "Convoy", [bead], actor="t").id
        store.db.execute(  # an edge to a bead the ledger no longer has (an import can leave one)
            "INSERT INTO dependencies (issue_id, depends_on_id, type, created_at, created_by) VALUES (?,?,?,?,?)",
            [bead, "de-gone", "related", "2026-01-01T00:00:00Z", "t"],
        )
        mr = mq.submit(store.db, "demo", bead, "nux", f"polecat/nux/{bead}", "1" * 40)
        store.add_comment(bead, "hello", "t")
        view = bead_view.read(store, bead)

        assert view.issue.id == bead
        assert sorted((link.relation, link.bead, link.status) for link in view.depends_on) == sorted(
            [("child of", epic, "open"), ("blocked by", up, "open"), ("related ->", "de-gone", "missing")]
        )
        assert sorted((link.relation, link.bead) for link in view.dependents) == sorted(
            [("blocks", down), ("tracked by", cv)]
        )
        assert view.blockers == [up]
        assert [m.id for m in view.mrs] == [mr.id]
        assert [e.type for e in view.history][0] == "created" and "commented" in [e.type for e in view.history]
        assert "closed" in view.statuses and "hooked" in view.statuses

        store.close(up, "t", reason="done")
        assert bead_view.read(store, bead).blockers == []
        with pytest.raises(NotFound):
            bead_view.read(store, "de-nosuch")


def test_relation_words_for_known_and_unknown_edge_types() -> None:
    assert bead_view.relation("blocks", True) == "blocked by"
    assert bead_view.relation("blocks", False) == "blocks"
    assert bead_view.relation("parent-child", False) == "parent of"
    assert bead_view.relation("discovered-from", True) == "discovered-from ->"
    assert bead_view.relation("discovered-from", False) == "<- discovered-from"
