"""The headless run's verdict (core.runs.ConvoyWatch) from the events of a real town database."""

from __future__ import annotations

from core import convoys, events
from core.beads.store import BeadStore
from core.runs import ConvoyWatch


def test_a_stuck_bead_tried_again_by_the_witness_is_no_longer_a_failure(town):
    with BeadStore(town) as store:
        bead = store.create("Write the parser", actor="mayor").id
        other = store.create("Write the docs", actor="mayor").id
        convoy = convoys.create(store, "parser", [bead, other], actor="mayor")
        watch = ConvoyWatch(store, convoy.id, after_id=0, keep_going=True)
        events.append(
            store.db,
            "stuck",
            "demo/witness",
            rig="demo",
            bead=bead,
            payload={"polecat": "nux", "action": "stuck", "reason": "too many restarts"},
        )
        watch.poll()
        assert watch.failures[bead].kind == "stuck"
        # a try that failed to restart leaves it failed; one that restarted it puts it back in play
        events.append(
            store.db,
            "stuck_retry",
            "demo/witness",
            rig="demo",
            bead=bead,
            payload={"polecat": "nux", "action": "retry_failed", "reason": "no space left"},
        )
        watch.poll()
        assert bead in watch.failures
        events.append(
            store.db,
            "stuck_retry",
            "demo/witness",
            rig="demo",
            bead=bead,
            payload={"polecat": "nux", "action": "retry", "reason": "trying it again"},
        )
        watch.poll()
        assert bead not in watch.failures and bead in watch.pending() and watch.verdict() is None
