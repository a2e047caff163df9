"""Issue 21, point 1, the bullets no other test proved, driven like a person with Pilot against a real
town (rig ``demo``, real SQLite, the town's private tmux server killed after):

- tab walks the panels in one order (shift+tab the other way) and the footer shows the focused
  panel's keys as soon as the focus moves (one turn of the loop, no waiting);
- ``/`` filters every list panel of the main screen (agents and ready beads: tests/test_cockpit_keys.py;
  here the convoys and the refinery queue), escape clears it;
- ``esc`` goes back from every screen and dialog the main screen opens;
- the command palette offers exactly the table's titled rows, each with its key and a real action.
"""

from __future__ import annotations

from textual.command import CommandPalette
from textual.screen import Screen
from textual.widgets._footer import FooterKey

from core import convoys, mq
from core.beads.store import BeadStore
from core.town import Town
from gastown_tui.app import CockpitApp, CockpitCommands
from gastown_tui.screens.keys import KEYS, key_display
from gastown_tui.screens.main import MainScreen
from tests.conftest import run_async, wait_until
from tests.test_cockpit import SIZE, cockpit, sim_town  # noqa: F401 - the fixture
from widgets.beads import ReadyBeads
from widgets.convoys import ConvoyList
from widgets.footer import CockpitFooter
from widgets.listfilter import FilterInput
from widgets.refinery import RefineryQueue

#: The panels tab visits from the agents tree, in the full layout's reading order: the left column
#: (agents, convoys), the terminal (the session pane only watches: no keys typed), the row below it.
TAB_ORDER = ("AgentsPanel", "ConvoysPanel", "SessionPane", "ReadyPanel", "RefineryPanel", "Feed")


def seed(town: Town) -> dict[str, str]:
    """Two ready beads, a convoy of each, an MR of each (one failed). Returns their ids by name."""
    with BeadStore(town) as store:
        greet = store.create("Add a greeting", actor="tester", prefix="de").id
        fare = store.create("Add a farewell", actor="tester", prefix="de").id
        c1 = convoys.create(store, "greetings [red]x[/]", [greet], actor="tester").id
        c2 = convoys.create(store, "farewells", [fare], actor="tester").id
        m1 = mq.submit(store.db, "demo", greet, "nux", f"polecat/nux/{greet}", "1" * 40).id
        m2 = mq.submit(store.db, "demo", fare, "slit", f"polecat/slit/{fare}", "2" * 40).id
        mq.finish(store.db, m2, "failed", "gate test: exit 1")
    return {"greet": greet, "fare": fare, "c1": c1, "c2": c2, "m1": m1, "m2": m2}


def footer_keys(app: CockpitApp) -> list[tuple[str, str]]:
    """(key, action) of every key the main screen's footer shows now (the palette's hint left out)."""
    footer = app.main.query_one(CockpitFooter)
    return [(k.key, k.action) for k in footer.query(FooterKey) if not k.has_class("-command-palette")]


def expected_keys(screen: Screen) -> list[tuple[str, str]]:
    """(key, action) of the shown bindings active for the screen's focus now, in Textual's order."""
    return [(b.key, b.action) for _node, b, _on, _tip in screen.active_bindings.values() if b.show]


async def loaded(pilot, app: CockpitApp) -> None:
    """Wait until the main screen lists the two convoys, the two MRs and the two ready beads of :func:`seed`."""
    await wait_until(
        pilot,
        lambda: (
            app.main.is_ready
            and app.main.query_one(ConvoyList).row_count == 2
            and app.main.query_one(RefineryQueue).row_count == 2
            and app.main.query_one(ReadyBeads).row_count == 2
        ),
        timeout=60,
        what="the convoys, the MRs and the ready beads",
    )


@run_async
async def test_tab_walks_the_panels_in_order_and_the_footer_follows_at_once(sim_town: Town) -> None:  # noqa: F811
    seed(sim_town)
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        await pilot.press("1")
        await wait_until(pilot, lambda: footer_keys(app) == expected_keys(app.main), what="the agents' keys")
        walked = []
        for _ in range(len(TAB_ORDER) * 2):
            await pilot.press("tab")
            walked.append(type(app.focused).__name__)
            await pilot.pause()  # one turn of the loop: the footer's recompose is its next message
            assert footer_keys(app) == expected_keys(app.main), (walked[-1], footer_keys(app))
        assert walked == [*TAB_ORDER[1:], *TAB_ORDER, TAB_ORDER[0]], walked
        back = []
        for _ in range(len(TAB_ORDER)):
            await pilot.press("shift+tab")
            back.append(type(app.focused).__name__)
            await pilot.pause()
            assert footer_keys(app) == expected_keys(app.main), (back[-1], footer_keys(app))
        assert back == [TAB_ORDER[-1], *reversed(TAB_ORDER[1:-1]), TAB_ORDER[0]], back
        # the panels' own keys, as the table binds them, are what the footer showed on each
        await pilot.press("5")
        await pilot.pause()
        assert ("s", "screen.sling") in footer_keys(app)
        await pilot.press("6")
        await pilot.pause()
        assert ("r", "screen.retry_mr") in footer_keys(app) and ("s", "screen.sling") not in footer_keys(app)


@run_async
async def test_slash_filters_the_convoys_and_the_refinery_queue(sim_town: Town) -> None:  # noqa: F811
    ids = seed(sim_town)
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        convoy_list = app.main.query_one(ConvoyList)
        await pilot.press("3", "j")
        assert convoy_list.cursor_key == ids["c2"]
        await pilot.press("slash", *"fare")
        assert isinstance(app.focused, FilterInput)
        assert convoy_list.row_count == 1 and convoy_list.cursor_key == ids["c2"]
        await pilot.press("enter")  # keeps the filter, back to the list; enter there opens the convoy
        assert app.focused is convoy_list and convoy_list.filter == "fare"
        await pilot.pause(0.5)  # snapshots keep coming (every 0.3 s): the filter holds
        assert convoy_list.row_count == 1
        await pilot.press("slash", *["backspace"] * 4, *"[red]")
        assert convoy_list.row_count == 1 and convoy_list.cursor_key == ids["c1"]  # markup matched as text
        await pilot.press("escape")
        assert app.focused is convoy_list and convoy_list.row_count == 2 and not app.main.query(FilterInput)

        queue = app.main.query_one(RefineryQueue)
        await pilot.press("6", "slash", *"failed")
        assert queue.row_count == 1 and queue.cursor_mr == ids["m2"]
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert app.focused is queue and queue.row_count == 1
        await pilot.press("escape")
        assert queue.row_count == 2 and not app.main.query(FilterInput)
        # a panel that is not a list: / says which ones it filters, and opens nothing
        await pilot.press("4", "slash")
        assert not app.main.query(FilterInput)
        await wait_until(
            pilot,
            lambda: any("/ filters the agents, the convoys" in str(n.message) for n in app._notifications),
            what="the hint naming the lists",
        )


@run_async
async def test_escape_goes_back_from_every_screen_and_dialog(sim_town: Town) -> None:  # noqa: F811
    seed(sim_town)
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot, app)
        opened = []
        # (keys from the main screen, with the focus on panel N first; what must be on top)
        for keys in (
            ["1", "p"],  # problems
            ["1", "g"],  # grid
            ["1", "m"],  # mail
            ["1", "B"],  # boards
            ["1", "question_mark"],  # help
            ["1", "ctrl+p"],  # the command palette
            ["5", "b"],  # new bead
            ["5", "f"],  # formula
            ["5", "s"],  # sling the bead under the cursor
            ["5", "space", "c"],  # a convoy of the marked bead
            ["5", "enter"],  # the bead's detail
            ["3", "enter"],  # the convoy's detail
            ["6", "enter"],  # the merge request's detail
            ["1", "n"],  # nudge the selected agent (the Mayor's row: no session, still the dialog)
        ):
            await pilot.press(*keys)
            top = await wait_until(
                pilot, lambda: not isinstance(app.screen, MainScreen) and app.screen, what=f"a screen on {keys}"
            )
            opened.append(type(top).__name__)
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.main, what=f"escape back from {opened[-1]}")
            if keys[-1] == "c":
                await pilot.press("5", "space")  # unmark
        assert len(set(opened)) == len(opened), opened  # each a different screen
        assert "CommandPalette" in opened and "HelpScreen" in opened and "ConvoyScreen" in opened
        assert app.is_running


@run_async
async def test_the_palette_offers_every_titled_key_with_its_key_and_a_real_action(sim_town: Town) -> None:  # noqa: F811
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.is_ready, timeout=60, what="the main screen")
        offered = {title: (action, text) for title, action, text in CockpitCommands(app.main)._commands()}
        titled = {k.title: k for k in KEYS if k.title and k.help}
        assert set(offered) == set(titled)
        for title, (action, text) in offered.items():
            row = titled[title]
            assert action == row.action and text == f"{key_display(row)} · {row.help}", title
            name = action.removeprefix("app.").split("(")[0]
            owner = app if action.startswith("app.") else app.main
            assert callable(getattr(owner, f"action_{name}", None)), f"{title}: no action_{name} on {owner}"
        await pilot.press("ctrl+p")
        palette = await wait_until(pilot, lambda: isinstance(app.screen, CommandPalette) and app.screen)
        await pilot.press(*"Problems")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "ProblemsScreen", what="the palette's Problems")
        assert palette is not app.screen
