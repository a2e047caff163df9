"""Focus and keys of the cockpit (issue 21, part 1), driven like a person with Pilot against a real
town, real tmux on the town's private server (killed in teardown) and real SQLite.

The Mayor's session here is a recorder: a small ``python -P`` program that reads its terminal raw
and appends every byte it receives to a file. Watching it (tab, shift+tab, the number keys, j/k, the
filter) must send it nothing; only an explicit attach (enter, a click) does, and ctrl+] ends that.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual import events
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from core import mayor
from core.beads.store import BeadStore
from core.config import edit_toml, keys_table, load_town_config
from core.errors import ConfigError
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import Town
from gastown_tui.app import CockpitApp, CockpitCommands
from gastown_tui.screens.help import HelpScreen
from gastown_tui.screens.keys import KEYS, keymap
from widgets.agents import AgentsTree
from widgets.beads import ReadyBeads
from widgets.footer import CockpitFooter
from widgets.listfilter import FilterInput, matches
from widgets.sessionpane import SessionPane
from widgets.terminal import TerminalView
from tests.conftest import run_async, wait_until

SIZE = (160, 50)
#: Reads its terminal raw and appends every byte to argv[1]; says how many bytes it has so far.
RECORDER = r"""
import os, sys, tty
path = sys.argv[1]
tty.setraw(0)
total = 0
os.write(1, b"recorder ready\r\n")
while True:
    data = os.read(0, 4096)
    if not data:
        break
    with open(path, "ab") as f:
        f.write(data)
    total += len(data)
    os.write(1, b"recorder got %d\r\n" % total)
"""


def recorder_argv(record: Path) -> list[str]:
    """The recorder as a session's argv (``-P``: no script directory on sys.path)."""
    return [sys.executable, "-P", "-c", RECORDER, str(record)]


@pytest.fixture
def recorder_town(town: Town, git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Town]:
    """A sim town with rig ``demo`` whose Mayor session is the recorder (its bytes: ``tmp_path/mayor.bytes``);
    its tmux server is killed afterwards."""
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    monkeypatch.setenv("BD_ACTOR", "tester")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    add_rig(town, "demo", str(git_repo))
    host = SessionHost(town)
    town.mayor_dir.mkdir(parents=True, exist_ok=True)
    host.start(mayor.SESSION, recorder_argv(tmp_path / "mayor.bytes"), town.mayor_dir)
    yield town
    host.kill_server()


def received(tmp_path: Path) -> bytes:
    path = tmp_path / "mayor.bytes"
    return path.read_bytes() if path.exists() else b""


def terminal_shows(app: CockpitApp, text: str) -> bool:
    if not app.main.is_ready:
        return False
    pane = app.main.query_one(SessionPane)
    return (
        pane.terminal is not None
        and pane.terminal.running
        and any(text in line for line in pane.terminal.screen_text())
    )


def footer_words(app: CockpitApp) -> list[str]:
    """What the main screen's footer shows now: its keys' descriptions, or its one note."""
    footer = app.main.query_one(CockpitFooter)
    keys = [k.description for k in footer.query(FooterKey)]
    return keys or [str(s.render()) for s in footer.query(".attached-note")]


def cockpit(town: Town) -> CockpitApp:
    return CockpitApp(town, start_engine=False, start_mayor=False, poll_interval=0.1, snapshot_interval=0.3)


async def watching(pilot, app: CockpitApp) -> SessionPane:
    await wait_until(pilot, lambda: terminal_shows(app, "recorder ready"), timeout=60, what="the recorder on screen")
    return app.main.query_one(SessionPane)


@run_async
async def test_watching_sends_nothing_and_only_enter_attaches(recorder_town: Town, tmp_path: Path) -> None:
    app = cockpit(recorder_town)
    async with app.run_test(size=SIZE) as pilot:
        pane = await watching(pilot, app)
        seen = set()
        for key in ["tab"] * 10 + ["shift+tab"] * 10 + ["1", "2", "3", "4", "5", "6", "2", "j", "k", "slash"]:
            await pilot.press(key)
            assert app.focused is not pane.terminal, f"{key} put the focus on the terminal"
            assert not pane.attached
            seen.add(type(app.focused).__name__)
        assert {"AgentsPanel", "SessionPane", "ReadyPanel", "RefineryPanel", "Feed"} <= seen, seen
        await pilot.press("escape", "escape", "2")  # clear the filter box, back to the agents, the pane
        assert app.focused is pane and not pane.attached
        assert received(tmp_path) == b""
        await pilot.press("enter")  # enter on the watched pane attaches
        assert app.focused is pane.terminal and pane.attached
        assert str(pane.border_title) == "attached: keys go to mayor, ctrl+] to leave"
        assert footer_words(app) == ["attached: keys go to mayor, ctrl+] to leave"]
        await pilot.press("h", "i", "tab", "shift+tab", "1", "q")
        await wait_until(
            pilot, lambda: received(tmp_path) == b"hi\t\x1b[Z1q", what=f"the typed bytes (got {received(tmp_path)!r})"
        )
        await pilot.press("ctrl+right_square_bracket")
        assert isinstance(app.focused, AgentsTree) and not pane.attached
        assert str(pane.border_title) == "Session mayor"
        assert "attached" not in " ".join(footer_words(app))
        await pilot.press("tab", "shift+tab", "j")
        assert received(tmp_path) == b"hi\t\x1b[Z1q"  # exactly what was typed while attached
        assert app.is_running  # q went to the agent, not to the cockpit


@run_async
async def test_enter_on_the_agents_panel_and_a_click_attach(recorder_town: Town, tmp_path: Path) -> None:
    app = cockpit(recorder_town)
    async with app.run_test(size=SIZE) as pilot:
        pane = await watching(pilot, app)
        await pilot.press("1", "enter")
        assert pane.attached and app.focused is pane.terminal
        await pilot.press("x", "ctrl+right_square_bracket")
        await pilot.click(TerminalView, offset=(4, 4))
        assert pane.attached
        await pilot.press("y")
        await pilot.click(ReadyBeads, offset=(4, 1))  # a click elsewhere detaches and keeps that focus
        assert not pane.attached and isinstance(app.focused, ReadyBeads)
        await wait_until(pilot, lambda: received(tmp_path) == b"xy", what="x and y only")


def burst(app: CockpitApp, *keys: str) -> None:
    """Hand ``keys`` to the app in one go, as a terminal does when it reads several keys at once (a
    fast typist, a paste of keys, ``tmux send-keys`` on a busy machine): the app reads them all before
    any widget has handled the first."""
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)  # what Pilot.press does, without waiting between the keys


@run_async
async def test_keys_read_in_one_go_go_to_the_panel_the_key_before_them_focused(recorder_town: Town) -> None:
    """Keys read together are handled one at a time, in order (:mod:`gastown_tui.keyorder`): each goes
    to the widget the key before it focused (a number key, tab, shift+tab, ``/``, enter and escape in
    a filter). Without that, ``/fare`` read at once typed nothing into the filter, and on a busy
    machine the tmux test's ``2`` ran before the ``1`` typed ahead of it."""
    with BeadStore(recorder_town) as store:
        for title in ("Add a greeting", "Add a farewell", "Add a toast"):
            store.create(title, actor="tester", prefix="de")
    app = cockpit(recorder_town)
    async with app.run_test(size=SIZE) as pilot:
        pane = await watching(pilot, app)
        table = app.main.query_one(ReadyBeads)
        tree = app.main.query_one(AgentsTree)
        await wait_until(pilot, lambda: table.row_count == 3, what="three ready beads")
        await wait_until(pilot, lambda: tree._find("demo/witness") is not None, what="the rig's witness")
        await pilot.press("1")
        burst(app, "5", "j", "j", "1", "j")
        await wait_until(pilot, lambda: table.cursor_row == 2, what="the ready cursor on row 2")
        await wait_until(pilot, lambda: tree.cursor_line == 1, what="the tree's cursor on line 1")
        assert isinstance(app.focused, AgentsTree)
        burst(app, "6", "shift+tab", "k", "tab", "shift+tab", "k")
        await wait_until(pilot, lambda: table.cursor_row == 0, what="the ready cursor back on row 0")
        assert app.focused is table and tree.cursor_line == 1
        burst(app, "slash", *"fare", "enter", "j")
        await wait_until(pilot, lambda: table.filter == "fare", what="the filter typed")
        await wait_until(pilot, lambda: app.focused is table, what="enter back on the list")
        assert table.row_count == 1
        burst(app, "1", "slash", *"witness", "escape", "k", "2")
        await wait_until(pilot, lambda: app.focused is pane, what="the pane focused")
        await wait_until(pilot, lambda: tree.cursor_line == 0, what="the tree's cursor on line 0")
        assert tree.filter == "" and not [f for f in app.main.query(FilterInput) if f.target is tree]
        assert not pane.attached
        burst(app, "1", "slash", *"witness", "enter")  # enter keeps the agents' filter, attaches nothing
        await wait_until(pilot, lambda: isinstance(app.focused, AgentsTree), what="back on the tree")
        assert tree.filter == "witness" and not pane.attached
        burst(app, "escape", "2")  # escape on the list clears its filter
        await wait_until(pilot, lambda: app.focused is pane, what="the pane focused")
        assert tree.filter == "" and not pane.attached


@run_async
async def test_in_the_compact_layout_the_key_after_a_tab_key_goes_to_the_panel_it_showed(recorder_town: Town) -> None:
    """``]`` and ``[`` show the next or previous panel and focus it before the next key is handled:
    ``]]jj`` read at once from the agents tab moves the ready beads' cursor, not the convoys' (hidden)
    nor the tree's."""
    with BeadStore(recorder_town) as store:
        for title in ("Add a greeting", "Add a farewell", "Add a toast"):
            store.create(title, actor="tester", prefix="de")
    app = cockpit(recorder_town)
    async with app.run_test(size=(100, 30)) as pilot:
        await watching(pilot, app)
        assert app.main.layout_name == "compact"
        table = app.main.query_one(ReadyBeads)
        tree = app.main.query_one(AgentsTree)
        await wait_until(pilot, lambda: table.row_count == 3, what="three ready beads")
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: app.focused is tree, what="the agents tab")
        line = tree.cursor_line
        burst(app, "right_square_bracket", "right_square_bracket", "j", "j")
        await wait_until(pilot, lambda: table.cursor_row == 2, what="the ready cursor on row 2")
        assert app.focused is table and table.display and tree.cursor_line == line
        burst(app, "left_square_bracket", "left_square_bracket", "j")
        await wait_until(pilot, lambda: tree.cursor_line == line + 1, what="the tree's cursor one down")
        assert app.focused is tree and table.cursor_row == 2


@run_async
async def test_the_footer_follows_the_focus_at_once(recorder_town: Town) -> None:
    app = cockpit(recorder_town)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        await pilot.press("5")
        await pilot.pause()
        assert "Sling" in footer_words(app)
        await pilot.press("6")
        await pilot.pause()
        words = footer_words(app)
        assert "Retry MR" in words and "Sling" not in words
        await pilot.press("1")
        await pilot.pause()
        assert "Nudge" in footer_words(app) and "Retry MR" not in footer_words(app)


@run_async
async def test_slash_filters_the_ready_beads_and_escape_clears(recorder_town: Town) -> None:
    with BeadStore(recorder_town) as store:
        for title in ("Add a greeting", "Add a farewell", "Document [red]both[/] \x1b[2J"):
            store.create(title, actor="tester", prefix="de")
    app = cockpit(recorder_town)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        table = app.main.query_one(ReadyBeads)
        await wait_until(pilot, lambda: table.row_count == 3, what="three ready beads")
        await pilot.press("5", "j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("slash", *"fare")
        assert isinstance(app.focused, FilterInput) and table.row_count == 1
        await pilot.press("enter")  # keeps the filter, back to the list
        assert app.focused is table and table.row_count == 1 and table.filter == "fare"
        await pilot.press("slash", "backspace", "backspace", "backspace", "backspace", *"red")
        assert table.row_count == 1  # the markup-looking title is matched as text
        await pilot.press("escape")
        assert app.focused is table and table.row_count == 3 and not app.main.query(FilterInput)


@run_async
async def test_slash_filters_the_agents_tree(recorder_town: Town) -> None:
    app = cockpit(recorder_town)
    async with app.run_test(size=SIZE) as pilot:
        await watching(pilot, app)
        tree = app.main.query_one(AgentsTree)
        await wait_until(pilot, lambda: tree._find("demo/witness") is not None, what="the rig's witness")
        await pilot.press("1", "slash", *"witness")
        await wait_until(pilot, lambda: tree._find("mayor") is None, what="the Mayor filtered out")
        assert tree._find("demo/witness") is not None and tree._find("demo/refinery") is None
        await pilot.press("escape")
        await wait_until(pilot, lambda: tree._find("mayor") is not None, what="every agent back")
        assert not app.main.query(Input)


@run_async
async def test_keys_table_in_town_toml_rebinds_everywhere(recorder_town: Town, tmp_path: Path) -> None:
    with edit_toml(recorder_town.config_path) as doc:
        doc["keys"] = {"panel_ready": "5,y", "detach": "ctrl+b", "help": "f1", "sling": "S"}
    recorder_town.reload()
    app = cockpit(recorder_town)
    async with app.run_test(size=SIZE) as pilot:
        pane = await watching(pilot, app)
        await pilot.press("y")
        assert isinstance(app.focused, ReadyBeads)
        await pilot.pause()
        shown = {k.description: k.key_display for k in app.main.query_one(CockpitFooter).query(FooterKey)}
        assert shown["Sling"] == "S" and shown["Help"] == "f1", shown  # not "s", not "?"
        palette = {title: text for title, _action, text in CockpitCommands(app.screen)._commands()}
        assert palette["Sling beads"].startswith("S · ") and palette["Help"].startswith("f1 · ")
        await pilot.press("s")  # the old key does nothing now
        await pilot.press("S")
        await wait_until(
            pilot,
            lambda: [n.message for n in app._notifications if "no ready bead to sling" in n.message],
            what="S runs sling (no bead: its refusal)",
        )
        assert len([n for n in app._notifications if "no ready bead to sling" in n.message]) == 1
        await pilot.press("f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen), what="help on f1")
        text = str(app.screen.query_one("#help-keys").render())
        assert "f1  " in text and "ctrl+b" in text and "[panel_ready]" in text
        await pilot.press("escape")
        await pilot.press("2", "enter")
        assert pane.attached
        assert str(pane.border_title) == "attached: keys go to mayor, ctrl+b to leave"
        await pilot.press("ctrl+right_square_bracket")  # no longer the chord: typed into the agent
        assert pane.attached
        await pilot.press("ctrl+b")
        assert not pane.attached
        await wait_until(pilot, lambda: received(tmp_path) == b"\x1d", what="ctrl+] typed, ctrl+b kept")


def test_keys_table_errors_name_the_id_or_key(town: Town) -> None:
    assert keymap({"sling": "S", "panel_agents": "1,a", "help": "?"}) == {
        "sling": "S",
        "panel_agents": "1,a",
        "help": "?",
    }
    with pytest.raises(ConfigError, match=r"\[keys\] slingg: no key has that id"):
        keymap({"slingg": "S"})
    with pytest.raises(ConfigError, match=r"\[keys\] focus_next: tab is Textual's own key"):
        keymap({"focus_next": "n"})
    with pytest.raises(ConfigError, match=r"\[keys\] sling = 'ctrl\+nosuchkey': 'ctrl\+nosuchkey' is not a key"):
        keymap({"sling": "ctrl+nosuchkey"})
    with edit_toml(town.config_path) as doc:
        doc["keys"] = {"sling": "ctrl b"}
    with pytest.raises(ConfigError, match=r"town.toml: \[keys\] sling must be key names"):
        load_town_config(town.config_path)
    with edit_toml(town.config_path) as doc:
        doc["keys"] = {"slingg": "S"}
    town.reload()
    with pytest.raises(ConfigError, match=r"\[keys\] slingg: no key has that id"):
        CockpitApp(town)


def test_every_rebindable_row_is_bound_under_its_id() -> None:
    """A ``[keys]`` entry must move a real binding: every rebindable row's id is on some binding."""
    from gastown_tui.app import CockpitApp as App_
    from gastown_tui.screens import main, panels

    classes = [App_, main.MainScreen, SessionPane, TerminalView]
    classes += [c for c in vars(panels).values() if isinstance(c, type) and c.__module__ == panels.__name__]
    ids = set()
    for cls in classes:
        for klass in cls.__mro__:
            for b in klass.__dict__.get("BINDINGS", []):
                ids.add(getattr(b, "id", None))
    main_rows = {k.id for k in KEYS if k.rebindable and (k.help or any(s in ("main", "app") for s, *_ in k.binds))}
    assert main_rows <= ids, main_rows - ids


def test_filter_matches_every_word_in_some_field() -> None:
    assert matches("", "x") and matches("  ", None)
    assert matches("FARE de-1", "de-1", "Add a farewell")
    assert not matches("fare greet", "de-1", "Add a farewell")
    assert not matches("x", None, "")


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.one_of(st.sampled_from([k.id for k in KEYS]), st.text(max_size=12)),
        st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.lists(st.text(max_size=3), max_size=2)),
        max_size=4,
    )
)
def test_any_keys_table_is_taken_or_refused_in_one_line(table: dict) -> None:
    """Whatever a [keys] table holds, the checks return a keymap or raise one ConfigError line."""
    try:
        checked = keymap(keys_table({"keys": table}, "town.toml"))
    except ConfigError as exc:
        assert "\n" not in str(exc) and "[keys]" in str(exc)
        return
    assert set(checked) == set(table)
    for value in checked.values():
        assert value and " " not in value
