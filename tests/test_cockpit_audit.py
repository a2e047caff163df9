"""Issue 21, point 1, the bullets no other test proved, driven like a person with Pilot against a real
town (rig ``demo``, real SQLite, the town's private tmux server killed after):

- every binding of every screen and widget carries a table row's id and key;
- tab walks the panels in one order (shift+tab the other way) and the footer shows the focused
  panel's keys as soon as the focus moves (one turn of the loop, no waiting);
- ``/`` filters every list panel of the main screen (agents and ready beads: tests/test_cockpit_keys.py;
  here the convoys and the refinery queue), escape clears it;
- ``esc`` goes back from every screen and dialog the main screen opens;
- the command palette offers exactly the table's titled rows, each with its key and a real action;
- point 2: switching agents gives the window left its own size back;
- point 4: the problems view and the header count every kind of problem, and act on them.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import time

from textual.command import CommandPalette
from textual.screen import Screen
from textual.widgets import Tabs
from textual.widgets._footer import FooterKey

from core import agent_state, convoys, escalation, mayor, mq, polecats
from core.beads.store import BeadStore
from core.db import connect
from core.sessions import DEFAULT_SIZE, SessionHost
from core.town import Town
from core.townview import MAYOR_SESSION
from gastown_tui.app import CockpitApp, CockpitCommands
from gastown_tui.screens.keys import KEYS, key_display, keymap
from gastown_tui.screens.main import MainScreen
from gastown_tui.screens.problems import ProblemsScreen
from tests.conftest import run_async, wait_until
from tests.test_cockpit import SIZE, cockpit, ready, sim_town  # noqa: F401 - the fixture
from tests.test_cockpit_layout import window_size
from widgets.agents import AgentsTree
from widgets.beads import ReadyBeads
from widgets.convoys import ConvoyList
from widgets.footer import CockpitFooter
from widgets.listfilter import CLEAR_ID, FilterInput
from widgets.refinery import RefineryQueue
from widgets.sessionpane import SessionPane

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
        assert opened == [
            "ProblemsScreen",
            "GridScreen",
            "MailScreen",
            "BoardsScreen",
            "HelpScreen",
            "CommandPalette",
            "NewBeadModal",
            "FormulaModal",
            "SlingModal",
            "NewConvoyModal",
            "BeadScreen",
            "ConvoyScreen",
            "MergeRequestScreen",
            "NudgeModal",
        ], opened
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


@run_async
async def test_the_problems_view_and_the_header_count_every_kind(sim_town: Town) -> None:  # noqa: F811
    """Issue 21 point 4 in the cockpit: an open escalation, a failed and a conflicting MR and a
    waiting agent are problems; the header counts them; ``r`` retries the conflict, ``a`` acknowledges
    the escalation, and each leaves the list."""
    now = time.time()
    host = SessionHost(sim_town)
    with BeadStore(sim_town) as store:
        db = store.db
        ids = {name: store.create(f"Work {name}", actor="tester", prefix="de").id for name in "abw"}
        failed = mq.submit(db, "demo", ids["a"], "nux", "polecat/nux/a", "1" * 40)
        mq.finish(db, failed.id, "failed", "gate test: exit 1")
        conflict = mq.submit(db, "demo", ids["b"], "slit", "polecat/slit/b", "2" * 40)
        mq.finish(db, conflict.id, "conflict", "conflicts in app.py")
        store.hook(ids["w"], "demo/polecats/wez", "tester")
        polecats.upsert(
            db, "demo", "wez", state="working", hook_bead=ids["w"], session="demo-wez", agent="sim", started_at=now
        )
        host.start("demo-wez", ["sh", "-c", "exec sleep 3600"], sim_town.rig_dir("demo"))
        agent_state.record(db, "demo-wez", "waiting", "asked which database to use")
        esc = escalation.escalate(store, "the gates need a database", "high", actor="demo/polecats/wez")
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.is_ready and app.snapshot, timeout=60, what="the first snapshot")
        await wait_until(
            pilot, lambda: "problems 4" in str(app.main.query_one("#header").render()), what="the header's count"
        )
        await pilot.press("p")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, ProblemsScreen) and app.screen)
        table = screen.query_one("#problems")

        def kinds() -> list[str]:
            return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]

        await wait_until(pilot, lambda: kinds() == ["ESCALATION", "MERGE FAILED", "CONFLICT", "WAITING"], what="rows")
        assert [p.bead for p in screen.problems] == [esc.id, ids["a"], ids["b"], ids["w"]]
        await pilot.press("j", "j", "r")  # the conflict
        await wait_until(pilot, lambda: "CONFLICT" not in kinds(), timeout=30, what="the conflict retried")
        await pilot.press("k", "k", "k", "a")  # the escalation, at the top
        await wait_until(pilot, lambda: kinds() == ["MERGE FAILED", "WAITING"], timeout=30, what="acknowledged")
        await pilot.press("escape")
        await wait_until(
            pilot, lambda: "problems 2" in str(app.main.query_one("#header").render()), what="the count after"
        )
    db = connect(sim_town.db_path)
    try:
        assert mq.get(db, conflict.id).status == "queued"
    finally:
        db.conn.close()


@run_async
async def test_switching_agents_gives_the_window_left_its_own_size_back(sim_town: Town) -> None:  # noqa: F811
    """Issue 21 point 2: the viewed agent's window takes the terminal's size while viewed; once the
    cockpit shows another agent, the first window is back at its own size (``gt peek`` and other
    clients see the agent's own layout), and the second one follows the terminal."""
    host = SessionHost(sim_town)
    with BeadStore(sim_town) as store:
        bead_id = store.create("Work w", actor="tester", prefix="de").id
        store.hook(bead_id, "demo/polecats/wez", "tester")
        polecats.upsert(
            store.db,
            "demo",
            "wez",
            state="working",
            hook_bead=bead_id,
            session="demo-wez",
            agent="sim",
            started_at=time.time(),
        )
    own = (150, 45)
    host.start("demo-wez", ["sh", "-c", "echo wez here; exec sleep 3600"], sim_town.rig_dir("demo"), size=own)
    app = cockpit(sim_town)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        term = app.main.query_one(SessionPane).terminal
        assert term is not None
        shown = (term.size.width, term.size.height)
        mayor_own = DEFAULT_SIZE
        await wait_until(pilot, lambda: window_size(host, mayor.SESSION) == shown, what="the Mayor at the pane's size")
        assert window_size(host, "demo-wez") == own
        await wait_until(pilot, lambda: app.snapshot.agent("demo/wez") is not None, what="wez in the tree")
        app.main.select_agent("demo/wez")
        await wait_until(pilot, lambda: window_size(host, "demo-wez") == shown, what="wez at the pane's size")
        await wait_until(pilot, lambda: window_size(host, mayor.SESSION) == mayor_own, what="the Mayor's own size")
        app.main.select_agent(MAYOR_SESSION)
        await wait_until(pilot, lambda: window_size(host, "demo-wez") == own, what="wez's own size back")
        await wait_until(pilot, lambda: window_size(host, mayor.SESSION) == shown, what="the Mayor viewed again")


def test_every_binding_of_the_cockpit_comes_from_the_key_table() -> None:
    """Issue 21 point 1: every ``BINDINGS`` entry of every screen and widget of the cockpit carries
    the id of a row of the one table (:data:`gastown_tui.screens.keys.KEYS`) and that row's key, so
    help, footer, palette and ``[keys]`` all see it (Textual's own widgets' bindings aside)."""
    import gastown_tui.app
    import gastown_tui.screens
    import widgets

    rows = {k.id: k for k in KEYS}
    modules = [gastown_tui.app] + [
        importlib.import_module(f"{pkg.__name__}.{m.name}")
        for pkg in (gastown_tui.screens, widgets)
        for m in pkgutil.iter_modules(pkg.__path__)
    ]
    seen = 0
    for module in modules:
        for name, cls in vars(module).items():
            if not (inspect.isclass(cls) and cls.__module__ == module.__name__ and "BINDINGS" in cls.__dict__):
                continue
            for b in cls.__dict__["BINDINGS"]:
                row = rows.get(getattr(b, "id", None) or "")
                assert row is not None, f"{module.__name__}.{name}: binding {b.key} -> {b.action} has no table id"
                assert row.key == b.key, f"{module.__name__}.{name}: {row.id} is {b.key}, the table says {row.key}"
                seen += 1
    assert seen > 80  # every screen, dialog and panel was looked at
    assert keymap({CLEAR_ID: "ctrl+g"}) == {CLEAR_ID: "ctrl+g"}  # a widget's own key can be rebound too


@run_async
async def test_at_80x24_the_number_keys_and_slash_reach_the_panels_behind_their_tabs(sim_town: Town) -> None:  # noqa: F811
    """Issue 21 points 1 and 2 together: in the compact layout the number keys show the panel's tab
    and focus it, ``/`` filters the list shown there, ``escape`` clears it; ``2`` then ``enter``
    attaches the terminal (the focus once went to the tab bar there, so enter attached nothing);
    ``ctrl+]`` leaves it watched (focus on the pane, once on nothing); escape goes back to the agents' tab."""
    seed(sim_town)
    app = cockpit(sim_town)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await loaded(pilot, app)
        main = app.main
        tabs = main.query_one("#panel-tabs", Tabs)
        assert main.has_class("-compact") and tabs.display
        for key, tab, widget in (
            ("5", "tab-ready", ReadyBeads),
            ("3", "tab-convoys", ConvoyList),
            ("6", "tab-refinery", RefineryQueue),
        ):
            await pilot.press(key)
            shown = main.query_one(widget)
            assert tabs.active == tab and shown.display and app.focused is shown, (key, tabs.active, app.focused)
            await pilot.press("slash", *"fare")
            assert isinstance(app.focused, FilterInput) and shown.row_count == (0 if widget is RefineryQueue else 1)
            await pilot.press("escape")
            assert app.focused is shown and shown.row_count == 2
        await pilot.press("2")
        pane = main.query_one(SessionPane)
        assert tabs.active == "tab-session" and pane.display and app.focused is pane and not pane.attached
        await pilot.press("enter")
        assert pane.attached and app.focused is pane.terminal
        await pilot.press("ctrl+right_square_bracket")  # the tree is behind its tab: the pane, watching
        assert not pane.attached and app.focused is pane and tabs.active == "tab-session"
        # escape with no filter: back to the agents, their tab shown
        tree = main.query_one(AgentsTree)
        for key in ("5", "2", "4"):
            await pilot.press(key, "escape")
            assert tabs.active == "tab-agents" and tree.display and app.focused is tree, (key, app.focused)
