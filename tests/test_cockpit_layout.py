"""The cockpit at every size (issue 21, part 2): the layouts, the agent's tmux window sized while viewed
and given back its own size afterwards, dim text, the town's tmux options, the palette's Screenshot.

Real parts: a real town with the ``sim`` default agent, the Mayor's shell on the town's private tmux
server (killed in teardown), real ptys; Pilot drives the cockpit and the tests wait on what the
widgets and tmux report, never on sleeps alone.
"""

from __future__ import annotations

from pathlib import Path

import pexpect
import pytest
from textual.command import CommandPalette
from textual.widgets import Tab, Tabs
from textual.widgets._footer import FooterKey

from core import mayor
from core.sessions import DEFAULT_SIZE, SessionHost
from core.town import Town
from core.townview import TownSnapshot
from gastown_tui.screens.main import FULL_HEIGHT, FULL_WIDTH, SIDE_WIDTH, TownHeader, header_text, layout_for
from tests.conftest import run_async, wait_until
from tests.test_terminal_widget import RAW_ECHO, TermApp, script
from tests import test_cockpit
from tests.test_cockpit import bead, cockpit, ready, toasts
from widgets.agents import AgentsTree
from widgets.beads import ReadyBeads
from widgets.emulator import Emulator, sgr_dim
from widgets.footer import CockpitFooter
from widgets.sessionpane import SessionPane
from widgets.terminal import TerminalView

HOSTILE = "[red]x[/] \x1b[2J\nboom"
#: A town with the sim agent and rig demo (the cockpit tests' fixture).
sim_town = test_cockpit.sim_town


def window_size(host: SessionHost, name: str) -> tuple[int, int] | None:
    info = host.info(name)
    return (info.cols, info.rows) if info else None


def fits(app) -> bool:
    """True when the header and the footer show all they hold within the screen's width (each
    footer key laid out left of the palette's key, that one inside the footer)."""
    header = app.main.query_one(TownHeader)
    if not header._shown.cell_len <= header.content_size.width <= app.size.width:
        return False
    footer = app.main.query_one(CockpitFooter)
    keys = list(footer.query(FooterKey))
    palette = [k for k in keys if k.has_class("-command-palette")]
    edge = palette[0].region.x if palette else footer.region.right
    return bool(keys) and all(
        k.region.width and k.region.right <= (footer.region.right if k in palette else edge) for k in keys
    )


async def wait_fits(pilot, app) -> None:
    await wait_until(pilot, lambda: fits(app), timeout=10, what=f"header and footer within {app.size.width} columns")


# ---- layouts --------------------------------------------------------------------------------------


def test_layout_for_each_size() -> None:
    assert layout_for(160, 50) == ("full", True)
    assert layout_for(220, 60) == ("full", True)
    assert layout_for(FULL_WIDTH, FULL_HEIGHT) == ("full", True)
    assert layout_for(FULL_WIDTH - 1, 50) == ("compact", True)
    assert layout_for(200, FULL_HEIGHT - 1) == ("compact", True)  # wide but short: the terminal keeps the rows
    assert layout_for(120, 40) == ("compact", True)
    assert layout_for(SIDE_WIDTH - 1, 40) == ("compact", False)
    assert layout_for(80, 24) == ("compact", False)


def test_header_picks_the_longest_wording_that_fits_and_shows_names_as_text() -> None:
    snap = TownSnapshot(town=HOSTILE, taken_at=0.0, rigs=["demo"], tmux_up=False)
    wide = header_text(snap, "running", 200)
    assert "polecats" in wide.plain and "tmux: down" in wide.plain and "[red]x[/]" in wide.plain
    assert "\x1b" not in wide.plain and "\n" not in wide.plain
    for width in (120, 80, 60, 30, 10):
        text = header_text(snap, "running", width)
        assert text.cell_len <= width, (width, text.plain)
    assert "queue" in header_text(snap, "running", 80).plain  # the short wording still says it in words


@run_async
async def test_compact_layout_at_100_columns_gives_the_terminal_the_width_and_tabs_reach_every_panel(
    sim_town: Town,
) -> None:
    host = SessionHost(sim_town)
    mayor.ensure(sim_town, host)
    own = window_size(host, mayor.SESSION)
    assert own == DEFAULT_SIZE
    app = cockpit(sim_town)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        main = app.main
        assert main.has_class("-compact") and not main.has_class("-side")
        pane = main.query_one(SessionPane)
        term = pane.terminal
        assert term is not None and term.size.width == 100, term.size  # every column, no side frame
        # the Mayor's window follows what the cockpit shows while it is viewed
        await wait_until(
            pilot,
            lambda: window_size(host, mayor.SESSION) == (term.size.width, term.size.height),
            what="the Mayor's window at the terminal's size",
        )
        await wait_fits(pilot, app)
        tabs = main.query_one("#panel-tabs", Tabs)
        assert tabs.display and tabs.active == "tab-session"
        # a hidden list says on its tab how many rows it has
        await wait_until(pilot, lambda: tabs.query_one("#tab-ready", Tab).label_text == "Ready 0", what="counts")
        assert tabs.query_one("#tab-session", Tab).label_text == "Session"
        tree = main.query_one(AgentsTree)
        assert not tree.display
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: tabs.active == "tab-agents" and tree.display, what="the agents tab")
        assert not pane.display and app.focused is tree
        await pilot.press("right_square_bracket", "right_square_bracket")
        ready_table = main.query_one(ReadyBeads)
        await wait_until(pilot, lambda: ready_table.display and app.focused is ready_table, what="the ready tab")
        await wait_fits(pilot, app)
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        await wait_until(pilot, lambda: pane.display and tabs.active == "tab-session", what="back on the session")
        assert main.show_panel("feed").display and tabs.active == "tab-feed"
        with pytest.raises(KeyError, match="no panel"):
            main.show_panel("nope")
    # the cockpit's client left: the window has its own size again (gt peek sees the agent's layout)
    deadline_ok = await _poll(lambda: window_size(host, mayor.SESSION) == own)
    assert deadline_ok, window_size(host, mayor.SESSION)


async def _poll(predicate, timeout: float = 20.0) -> bool:
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@run_async
async def test_resizing_switches_layouts_and_keeps_the_terminal_and_the_marks(sim_town: Town) -> None:
    first = bead(sim_town, "Alpha")
    app = cockpit(sim_town)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(pilot, app, beads=1)
        main = app.main
        assert main.has_class("-full") and not main.query_one("#panel-tabs").display
        pane = main.query_one(SessionPane)
        term = pane.terminal
        # the full layout: the terminal takes most of the width, an agent CLI gets well over 80 columns
        assert term is not None and term.size.width >= 110, term.size
        table = main.query_one(ReadyBeads)
        table.focus()
        await wait_until(pilot, lambda: table.row_count == 1, what="the ready row")
        await pilot.press("space")
        assert table.marked == [first]
        await wait_fits(pilot, app)
        for size, side in (
            ((120, 40), True),
            ((SIDE_WIDTH, 30), True),
            ((SIDE_WIDTH - 1, 30), False),
            ((80, 24), False),
        ):
            await pilot.resize_terminal(*size)
            await wait_until(
                pilot, lambda size=size: main.has_class("-compact") and main.size == size, what=f"the layout at {size}"
            )
            assert main.has_class("-side") is side
            assert pane.terminal is term and term.running  # the same tmux client, never re-attached
            await wait_until(pilot, lambda: term.size.width >= 80, what="a terminal of 80+ columns")
            assert main.query_one(AgentsTree).display is side
            await wait_fits(pilot, app)
        assert main.query_one("#tab-ready", Tab).label_text == "Ready 1"
        await pilot.resize_terminal(160, 50)
        await wait_until(pilot, lambda: main.has_class("-full"), what="the full layout again")
        assert table.display and table.marked == [first] and pane.terminal is term
        assert main.query_one(AgentsTree).display and main.query_one("#feed").display


# ---- tmux -----------------------------------------------------------------------------------------


def test_the_towns_tmux_server_passes_focus_events(host: SessionHost, tmp_path: Path) -> None:
    host.start("rig1-focus", ["sleep", "60"], cwd=tmp_path)
    out = host._run("show-options", "-s", "focus-events").stdout.strip()
    assert out == "focus-events on"


def test_a_viewed_window_follows_the_client_and_gets_its_own_size_back(host: SessionHost, tmp_path: Path) -> None:
    """A real client in a 100x30 pty (what the cockpit's terminal is), a second one at 120x40; each
    leaving hands the window to the one left, the last leaving gives it back its own 90x25."""
    host.start("rig1-view", ["sleep", "120"], cwd=tmp_path, size=(90, 25))
    clients = []

    def attach(cols: int, rows: int) -> pexpect.spawn:
        client = pexpect.spawn(
            host.attach_argv("rig1-view")[0], host.attach_argv("rig1-view")[1:], dimensions=(rows, cols)
        )
        clients.append(client)
        return client

    def wait(size: tuple[int, int]) -> None:
        import time

        deadline = time.monotonic() + 20
        while window_size(host, "rig1-view") != size:
            assert time.monotonic() < deadline, (window_size(host, "rig1-view"), size)
            time.sleep(0.05)

    try:
        first = attach(100, 30)
        wait((100, 30))
        second = attach(120, 40)
        wait((120, 40))
        second.close(force=True)
        wait((100, 30))
        first.close(force=True)
        wait((90, 25))
        # an explicit resize is the window's own size from then on
        host.resize("rig1-view", 70, 20)
        third = attach(100, 30)
        wait((100, 30))
        third.close(force=True)
        wait((70, 20))
    finally:
        for client in clients:
            client.close(force=True)


# ---- dim text -------------------------------------------------------------------------------------


def test_sgr_2_is_kept_per_cell_and_cleared_by_22_and_0() -> None:
    emulator = Emulator(30, 2)
    emulator.feed(b"\x1b[2mdim\x1b[0m ok \x1b[1;2mbd\x1b[22mn \x1b[38;5;2mg\x1b[2;38;2;2;2;2mx")
    row = [emulator.screen.buffer[0][x] for x in range(13)]
    assert [c.data for c in row] == list("dim ok bdn gx")
    assert [c.dim for c in row] == [True] * 3 + [False] * 4 + [True] * 2 + [False] * 3 + [True]
    assert row[7].bold and not row[9].bold  # 22 ends bold and dim together
    assert row[11].fg == "00cd00" and not row[11].dim  # 38;5;2 is colour 2, not faint
    assert sgr_dim([], True) is False and sgr_dim([2], False) and not sgr_dim([48, 5, 2], False)
    emulator.feed(b"\x1b[2m\x1bc")  # RIS: everything back to normal
    emulator.feed(b"n")
    assert not emulator.screen.buffer[0][0].dim


@run_async
async def test_dim_text_is_drawn_dim(tmp_path: Path) -> None:
    argv = script(
        tmp_path,
        r"""
        import sys, time
        sys.stdout.write("\x1b[2m+4 lines (ctrl+o to expand)\x1b[0m bright\n")
        sys.stdout.flush()
        time.sleep(30)
        """,
    )
    app = TermApp(argv)
    async with app.run_test(size=(60, 6)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: "bright" in term.screen_text()[0], what="the dim line")
        styles = {seg.text.strip(): seg.style for seg in term.render_line(0) if seg.text.strip()}
        assert styles["+4 lines (ctrl+o to expand)"].dim
        assert not styles["bright"].dim
        term.stop()


@run_async
async def test_focus_in_and_out_are_reported_to_a_child_that_asks(tmp_path: Path) -> None:
    # RAW_ECHO, after asking for focus reports (mode 1004) first
    app = TermApp(script(tmp_path, RAW_ECHO.replace('b"READY', 'b"\\x1b[?1004hREADY')))
    async with app.run_test(size=(60, 8)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: "READY" in term.screen_text()[0], what="READY")
        assert term.emulator.focus_events
        term.attach()  # a terminal has the focus only while attached (issue 21)
        await wait_until(pilot, lambda: "b'\\x1b[I'" in "".join(term.screen_text()), what="focus in")
        term.action_detach()
        await wait_until(pilot, lambda: "b'\\x1b[O'" in "".join(term.screen_text()), what="focus out")
        term.stop()


# ---- screenshot -----------------------------------------------------------------------------------


@run_async
async def test_palette_screenshot_saves_to_the_town_and_names_the_file(sim_town: Town) -> None:
    folder = sim_town.state_dir / "screenshots"
    assert not folder.exists()
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.main.is_ready and app.snapshot, what="the first snapshot")

        async def screenshot_from_palette() -> None:
            await pilot.press("ctrl+p")
            await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")
            await pilot.press(*"Screenshot")
            await pilot.pause(0.3)
            await pilot.press("enter")

        await screenshot_from_palette()
        saved = await wait_until(pilot, lambda: list(folder.glob("*.svg")), what="the screenshot file")
        assert saved[0].read_text(encoding="utf-8").startswith("<svg")
        await wait_until(pilot, lambda: any(str(saved[0]) in t for t in toasts(app)), what="a toast naming the file")
        # a folder that cannot be made: the toast says so, nothing is raised
        for path in saved:
            path.unlink()
        folder.rmdir()
        folder.write_text("a file where the folder goes")
        await screenshot_from_palette()
        await wait_until(
            pilot,
            lambda: any("screenshot not saved" in t and str(folder) in t for t in toasts(app)),
            what="a toast naming the error",
        )
