"""The grid (issue 21, part 5): tiles sized to fill the screen, each showing the bottom of its terminal
(the prompt in view), arrows moving the selection, enter opening the selected agent, space marking
tiles and n nudging every marked agent through the cockpit's nudge (core.nudge, as ``gt nudge``).

Real town, real tmux on the town's private server (killed after), real SQLite; each polecat session
prints more lines than its window holds, then a prompt, then waits (a process that is not a shell,
so a nudge is typed into it and echoed by its terminal).
"""

from __future__ import annotations

import time
from pathlib import Path

from core import events, polecats
from core.beads.store import BeadStore
from core.db import connect
from core.sessions import SessionHost
from core.town import Town
from gastown_tui.screens.grid import MIN_TILE, GridScreen, PreviewTile, grid_shape
from gastown_tui.screens.modals import NudgeModal
from tests.conftest import run_async, wait_until
from tests.test_cockpit import cockpit, sim_town  # noqa: F401 - the fixture

SIZE = (160, 50)
NAMES = ("nux", "slit", "jam", "fury")


def test_grid_shape_fills_the_room_with_terminal_shaped_tiles() -> None:
    assert grid_shape(1, 160, 48) == (1, 1)
    assert grid_shape(2, 200, 48) == (2, 1)  # side by side: two 100x48 hold a bigger terminal than two 200x24
    assert grid_shape(2, 160, 48) == (1, 2)  # a tie (80x24 fits both ways): whole lines win
    assert grid_shape(4, 160, 48) == (2, 2)
    assert grid_shape(3, 160, 48) == (2, 2)  # one empty cell, never an empty row
    assert grid_shape(9, 220, 58) == (3, 3)
    assert grid_shape(2, 80, 22) == (2, 1)  # two 40x22 hold a bigger terminal than two 80x11
    assert grid_shape(2, 80, 40) == (1, 2)  # a tall one stacks them
    assert grid_shape(0, 100, 30) == (1, 1)
    cols, rows = grid_shape(30, 80, 22)
    assert cols * MIN_TILE[0] <= 80 and cols * rows >= 30  # too many: the columns stay readable, rows scroll
    for count in range(1, 40):
        cols, rows = grid_shape(count, 160, 48)
        assert cols * rows >= count and (rows - 1) * cols < count


def _sessions(town: Town) -> list[str]:
    """Four hooked polecats, each a session printing 120 lines, then ``❯ `` (the sim preset's ready
    glyph), then waiting without printing; returns the session names."""
    host = SessionHost(town)
    out = []
    with BeadStore(town) as store:
        for name in NAMES:
            bead = store.create(f"Work of {name}", actor="tester", prefix="de").id
            store.hook(bead, f"demo/polecats/{name}", "tester")
            session = f"demo-{name}"
            polecats.upsert(
                store.db,
                "demo",
                name,
                state="working",
                hook_bead=bead,
                session=session,
                agent="sim",
                started_at=time.time(),
            )
            script = f'i=1; while [ $i -le 120 ]; do echo "{name} line $i"; i=$((i+1)); done; printf "{name} end ❯ "; exec sleep 3600'
            host.start(session, ["sh", "-c", script], town.rig_dir("demo"))
            out.append(session)
    return out


@run_async
async def test_grid_fills_the_screen_shows_prompts_moves_opens_and_nudges_the_marked(sim_town: Town) -> None:  # noqa: F811
    sessions = _sessions(sim_town)
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot,
            lambda: app.snapshot and len([a for a in app.snapshot.agents if a.session]) == 4,
            timeout=60,
            what="four sessions in the snapshot",
        )
        await pilot.press("g")
        grid = await wait_until(pilot, lambda: isinstance(app.screen, GridScreen) and app.screen)
        tiles: list[PreviewTile] = await wait_until(
            pilot,
            lambda: len(grid.tiles) == 4 and grid.tiles,
            what=f"four tiles {grid.tiles} {grid._keys} {app.snapshot.agents}",
        )
        assert grid.shape == (2, 2)
        # every tile shows the bottom of its screen: the newest line and the prompt, nothing wrapped
        for tile in tiles:
            name = tile.agent_key.split("/")[1]
            await wait_until(
                pilot, lambda t=tile, n=name: f"{n} end ❯" in str(t.render()), timeout=30, what=f"{name}'s prompt"
            )
            assert f"{name} line 120" in str(tile.render())
        # the tiles fill the screen: 2x2, each about half the width and half the height
        await pilot.pause(0.1)
        width, height = SIZE[0], SIZE[1] - 2
        area = sum(t.outer_size.width * t.outer_size.height for t in tiles)
        assert area >= 0.9 * width * height, (area, [t.outer_size for t in tiles])
        assert all(t.outer_size.width >= width // 2 - 1 and t.outer_size.height >= height // 2 - 1 for t in tiles)
        # arrows move the selection in the 2x2 grid
        await wait_until(pilot, lambda: app.focused is tiles[0], what="the first tile selected")
        await pilot.press("right")
        assert app.focused is tiles[1]
        await pilot.press("down")
        assert app.focused is tiles[3]
        await pilot.press("left")
        assert app.focused is tiles[2]
        await pilot.press("up")
        assert app.focused is tiles[0]
        await pilot.press("left")  # the edge: it stays
        assert app.focused is tiles[0]
        # space marks the first and the last, n nudges both with one text
        await pilot.press("space", "right", "down", "space")
        assert [t.marked for t in tiles] == [True, False, False, True]
        assert "●" in str(tiles[0].border_title) and "●" not in str(tiles[1].border_title)
        await pilot.press("n")
        modal = await wait_until(pilot, lambda: isinstance(app.screen, NudgeModal) and app.screen)
        assert "2 agents" in modal.target
        await pilot.press(*"carry", "space", *"on", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, GridScreen), what="back on the grid")

        def nudged() -> set[str]:
            db = connect(sim_town.db_path)
            try:
                return {
                    e.payload["session"]
                    for e in events.query(db, types=("nudge",))
                    if e.payload.get("text") == "carry on" and e.payload.get("delivered")
                }
            finally:
                db.conn.close()

        await wait_until(pilot, lambda: nudged() == {sessions[0], sessions[3]}, timeout=30, what="both nudged")
        host = SessionHost(sim_town)
        for session in (sessions[0], sessions[3]):
            assert host.wait_for_text(session, "carry on", timeout=10)
        assert [t.marked for t in tiles] == [False, False, False, False]  # the marks are spent
        # enter opens the selected tile's agent on the main screen
        await pilot.press("left")
        assert app.focused is tiles[2]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.main, what="the main screen")
        assert app.main.selected == tiles[2].agent_key


def test_grid_module_has_no_fixed_tile_height() -> None:
    """The tiles' height comes from the screen (grid_shape), not from a fixed number of lines."""
    tcss = (Path(__file__).resolve().parents[1] / "gastown_tui" / "screens" / "grid.tcss").read_text()
    assert "grid-rows: 16" not in tcss and "height: 16" not in tcss
