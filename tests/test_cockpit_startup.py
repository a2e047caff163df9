"""Cockpit start-up (issue 21 part 8): nothing but the town's first snapshot stands before the first
frame. The engine starts, and the garbage collector (off while ``gastown-tui`` starts) resumes, once
the first snapshot is drawn. The figure itself is ``bench/bench_cockpit.py``'s start-up row."""

from __future__ import annotations

import gc

from core.town import Town
from tests.conftest import run_async, wait_until
from tests.test_cockpit import SIZE, cockpit, ready, sim_town  # noqa: F401 - the fixture, for this module


@run_async
async def test_the_engine_starts_and_the_collector_resumes_once_the_first_snapshot_is_drawn(
    sim_town: Town,  # noqa: F811 - the fixture imported above
) -> None:
    app = cockpit(sim_town, start_engine=True)
    starts: list[tuple[int, bool]] = []  # (snapshots applied, collector on) at each engine start
    start_engine = app._start_engine

    def spy() -> None:
        starts.append((app.snapshots, gc.isenabled()))
        start_engine()

    app._start_engine = spy  # type: ignore[method-assign]
    gc.disable()  # as gastown_tui.cockpit.open_cockpit does before its imports
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.snapshots >= 1, timeout=60, what="the first snapshot")
            await wait_until(pilot, lambda: app.engine_state == "running", timeout=60, what="the engine running")
            assert len(starts) == 1 and starts[0][0] >= 1, starts  # once, after a snapshot was applied
            assert starts[0][1] and gc.isenabled()
            await ready(pilot, app)
            assert len(starts) == 1  # the later snapshots and the fallback timer start nothing more
    finally:
        gc.enable()
