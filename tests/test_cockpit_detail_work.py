"""The polecat and merge request detail views driven like a person (issue 21, part 3): Pilot key
presses against a real town (a polecat worktree made by the git CLI, a merge request the real refinery
failed with a real gate), the real SQLite database, the cockpit's own tmux server (killed after).

Each test opens the view from the main screen with its key, waits for what the view holds (the diff,
the transcript, the gate log), acts, and goes back with escape. Hostile text (markup, escape
sequences) is in the commit subjects, the transcript and the gate output: it shows literally.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from textual.drivers.headless_driver import HeadlessDriver
from textual.widgets import Input, Static, TabbedContent, TextArea

from core import mq
from core.beads.store import BeadStore
from core.db import connect
from core.errors import GtError
from core.sessions import SessionHost
from core.town import Town
from gastown_tui.app import CockpitApp
from gastown_tui.screens.main import MainScreen
from gastown_tui.screens.merge_request import MergeRequestScreen, RejectModal
from gastown_tui.screens.polecat import PolecatScreen, editor_argv
from gastown_tui.screens.problems import ProblemsScreen
from tests.conftest import run_async, wait_for, wait_until
from tests.test_inspect import HOSTILE_GATE, polecat_town  # noqa: F401 - polecat_town is a fixture
from tests.test_refinery import Lab
from widgets.agents import AgentsTree
from widgets.refinery import RefineryQueue
from widgets.text_lines import TextLines

SIZE = (160, 50)


@pytest.fixture
def detail_town(polecat_town: Town, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Town]:  # noqa: F811
    """:func:`tests.test_inspect.polecat_town` plus rig ``proj`` whose refinery failed ``mr-2`` (its
    gate prints hostile text) after merging ``mr-1``; the town's tmux server is killed after."""
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    monkeypatch.setenv("BD_ACTOR", "tester")
    (tmp_path / "lab").mkdir()
    lab = Lab(polecat_town, tmp_path / "lab", retry=0)
    (tmp_path / "lab" / "gate.sh").write_text(HOSTILE_GATE)
    with BeadStore(polecat_town) as store:
        store.create("Cache TTL", actor="mayor", id="pj-c")
    lab.mr("a", {"a.txt": "a\n"})
    lab.mr("c", {"c.bad": "broken\n"})
    lab.refinery.process_once()
    assert mq.get(lab.db, "mr-2").status == "failed"
    lab.db.conn.close()
    yield polecat_town
    SessionHost(polecat_town).kill_server()


def cockpit(town: Town) -> CockpitApp:
    return CockpitApp(town, start_engine=False, start_mayor=False, poll_interval=0.1, snapshot_interval=0.3)


def shown(static: Static) -> str:
    """What ``static`` shows, as plain text (its Text or Syntax rendered by Rich)."""
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115 - closed with the console
    console.print(static.content)
    text = console.export_text()
    console.file.close()
    return text


async def main_ready(pilot, app: CockpitApp) -> MainScreen:
    await wait_until(pilot, lambda: app.main.is_ready and app.snapshot is not None, timeout=60, what="the snapshot")
    await wait_until(
        pilot, lambda: app.snapshot.agent("demo/nux") is not None, timeout=30, what="polecat nux in the snapshot"
    )
    return app.main


async def polecat_screen(pilot, app: CockpitApp) -> PolecatScreen:
    screen = await wait_until(
        pilot,
        lambda: isinstance(app.screen, PolecatScreen) and app.screen.detail is not None and app.screen,
        timeout=30,
        what="the polecat detail",
    )
    assert isinstance(screen, PolecatScreen)
    return screen


@run_async
async def test_d_on_the_agents_panel_shows_the_polecats_diff_transcript_and_search(detail_town: Town) -> None:
    app = cockpit(detail_town)
    async with app.run_test(size=SIZE) as pilot:
        main = await main_ready(pilot, app)
        main.select_agent("demo/nux")
        tree = main.query_one(AgentsTree)
        tree.focus()
        await wait_until(pilot, lambda: tree.selected_key == "demo/nux", what="the cursor on nux")
        await pilot.press("d")
        screen = await polecat_screen(pilot, app)
        assert (screen.rig, screen.polecat) == ("demo", "nux")
        state = app.snapshot.agent("demo/nux").state  # the state the agents tree shows, not the stored row's
        assert f"demo/nux · {state} · agent sim" in shown(screen.query_one("#polecat-title", Static))
        lines = screen.query_one("#polecat-diff", TextLines)
        diff = lines.plain
        assert "+    return '[bold]hi[/]'" in diff and "+uncommitted line" in diff
        # highlighted line by line as drawn: an added line in the diff lexer's colour, markup kept as text
        added = next(i for i, line in enumerate(lines.lines) if line == "+    return '[bold]hi[/]'")
        drawn = lines.line_text(added)
        assert drawn.plain == "+    return '[bold]hi[/]'" and drawn.spans and drawn.spans[0].style.color is not None
        commits = shown(screen.query_one("#polecat-commits", Static))
        assert "Say bye [red]x[/]" in commits and "Add the login form" in commits and "\x1b" not in commits
        history = shown(screen.query_one("#polecat-history", Static))
        assert "stalled → nudge · silent 900s [red]x[/]" in history
        summary = shown(screen.query_one("#polecat-summary", Static))
        assert "polecat/nux/de-1" in summary and "de-1 [hooked]" in summary and "$3.00" in summary
        # 2: the transcript, newest output under the cursor; / searches it
        assert screen.transcript is None  # read only once its tab is shown
        await pilot.press("2")
        area = screen.query_one("#transcript-text", TextArea)
        assert screen.query_one(TabbedContent).active == "transcript" and area.has_focus
        await wait_until(pilot, lambda: screen.transcript is not None, what="the transcript read")
        assert area.text == "* sim agent\nworking 90%\nFAILED [red]x[/]\n" and area.cursor_location[0] == 3
        await pilot.press("slash")
        search = screen.query_one("#transcript-search", Input)
        assert search.has_focus
        await pilot.press(*"work", "enter")
        await wait_until(pilot, lambda: area.selected_text.lower() == "work", what="the match selected")
        assert area.selection.start == (1, 0) and area.has_focus
        await pilot.press("n")  # one match: n wraps around to it
        assert area.selection.start == (1, 0)
        await pilot.press("slash")
        await pilot.press(*"[red]", "enter")  # markup is searched as the text it is
        await wait_until(pilot, lambda: area.selected_text == "[red]", what="the markup match")
        assert area.selection.start == (2, 7)
        await pilot.press("slash", "escape")  # escape in the search box closes it, not the view
        assert isinstance(app.screen, PolecatScreen) and not screen.query_one("#transcript-find").display
        await pilot.press("1")
        assert screen.query_one(TabbedContent).active == "diff"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="back on the main screen")


@run_async
async def test_d_in_the_problems_view_opens_the_polecat_detail(detail_town: Town) -> None:
    app = cockpit(detail_town)
    async with app.run_test(size=SIZE) as pilot:
        await main_ready(pilot, app)
        await pilot.press("p")
        problems = await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, ProblemsScreen)
                and any(p.polecat == "nux" for p in app.screen.problems)
                and app.screen
            ),
            timeout=30,
            what="nux's problem (its session is gone while de-1 is hooked)",
        )
        row = next(i for i, p in enumerate(problems.problems) if p.polecat == "nux")
        problems.query_one("#problems").move_cursor(row=row)
        await pilot.press("d")
        screen = await polecat_screen(pilot, app)
        assert screen.detail is not None and screen.detail.key == "demo/nux"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ProblemsScreen), what="back in the problems view")


@run_async
async def test_enter_on_the_refinery_shows_the_gate_log_and_retry_and_reject_act(detail_town: Town) -> None:
    app = cockpit(detail_town)
    async with app.run_test(size=SIZE) as pilot:
        main = await main_ready(pilot, app)
        queue = main.query_one(RefineryQueue)
        await wait_until(pilot, lambda: queue.row_count >= 2, what="the refinery rows")
        queue.focus()
        queue.move_cursor(row=queue.get_row_index("mr-2"))
        await pilot.press("enter")
        screen = await wait_until(
            pilot,
            lambda: isinstance(app.screen, MergeRequestScreen) and app.screen.detail is not None and app.screen,
            timeout=30,
            what="the merge request detail",
        )
        log = screen.query_one("#mr-log", TextLines).plain
        assert log.startswith("check: exit 1    batch-1-check-1.log\n")
        assert "── failing lines ──\nFAILED test_cache [red]x[/]\nE   assert 2 == 1\n" in log
        assert log.index("failing lines") < log.index("whole log") and "\x1b" not in log and "owned" not in log
        verdict = shown(screen.query_one("#mr-verdict", Static))
        assert "culprit: failed the check gate (exit 1), isolated by bisection of batch 1 of 2 MRs" in verdict
        assert "follow-up " in verdict and "Fix check failure: Cache TTL" in verdict
        assert "mr-1 merged" in shown(screen.query_one("#mr-batch", Static))
        summary = shown(screen.query_one("#mr-summary", Static))  # the note quotes the gate's output, literally
        assert "check gate failed (exit 1): FAILED test_cache [red]x[/]" in " ".join(summary.split())
        db = connect(detail_town.db_path)
        try:
            await pilot.press("r")
            await wait_until(pilot, lambda: mq.get(db, "mr-2").status == "queued", what="mr-2 queued again")
            await wait_until(pilot, lambda: screen.detail.mr.status == "queued", what="the view read again")
            await pilot.press("x")
            modal = await wait_until(pilot, lambda: isinstance(app.screen, RejectModal) and app.screen)
            assert modal.mr_id == "mr-2"
            await pilot.press(*"flaky [b]gate[/]", "enter")
            await wait_until(pilot, lambda: mq.get(db, "mr-2").status == "rejected", what="mr-2 rejected")
            assert mq.get(db, "mr-2").reason == "flaky [b]gate[/]"
            await wait_until(pilot, lambda: screen.detail.mr.status == "rejected", what="the view read again")
        finally:
            db.conn.close()
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="back on the main screen")


@run_async
async def test_a_real_sim_polecats_commit_diff_and_transcript_show_after_its_gt_done(
    town: Town, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: a bead slung to the ``sim`` agent (a real worktree, a real tmux session piping its
    transcript) writes a file, commits and runs ``gt done``; its detail view shows that commit, the
    diff and what the agent printed."""
    from core.config import edit_toml
    from core.rigs import add_rig
    from core.sling import Slinger

    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    monkeypatch.setenv("BD_ACTOR", "tester")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    add_rig(town, "demo", str(git_repo), prefix="de")
    host = SessionHost(town)
    try:
        with BeadStore(town) as store:
            bead = store.create(
                "Greet [b]loudly[/]",
                actor="tester",
                prefix="de",
                description="```sh\necho 'hello [red]x[/]' > hello.txt\n```\n",
            ).id
        slinger = Slinger(town, host=host)
        try:
            polecat = slinger.sling(bead, "demo").polecat.rsplit("/", 1)[-1]
        finally:
            slinger.store.disconnect()
        db = connect(town.db_path)
        try:
            wait_for(lambda: mq.of_bead(db, bead), timeout=90, what="the sim polecat's gt done (its MR)")
        finally:
            db.conn.close()
        app = cockpit(town)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot,
                lambda: app.main.is_ready and app.snapshot and app.snapshot.agent(f"demo/{polecat}"),
                timeout=60,
                what="the polecat in the snapshot",
            )
            app.main.select_agent(f"demo/{polecat}")
            tree = app.main.query_one(AgentsTree)
            tree.focus()
            await wait_until(pilot, lambda: tree.selected_key == f"demo/{polecat}", what="the cursor on the polecat")
            await pilot.press("d")
            screen = await polecat_screen(pilot, app)
            d = screen.detail
            assert d is not None and [c.subject for c in d.commits] == [f"{bead}: Greet [b]loudly[/]"]
            assert "+hello [red]x[/]" in screen.query_one("#polecat-diff", TextLines).plain
            assert f"{bead}: Greet [b]loudly[/]" in shown(screen.query_one("#polecat-commits", Static))
            await pilot.press("2")
            area = screen.query_one("#transcript-text", TextArea)
            await wait_until(pilot, lambda: screen.transcript is not None, what="the transcript read")
            assert "sim agent" in area.text and "\x1b" not in area.text
            assert any(h.kind == "done" for h in d.history) and any(h.kind == "sling" for h in d.history)
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, MainScreen), what="back on the main screen")
    finally:
        host.kill_server()


#: An editor for the tests: writes the arguments it was given after its first one (where it writes)
#: to that file, as a Python list's repr.
EDITOR_SCRIPT = "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text(repr(sys.argv[2:]))"


def toasts(app: CockpitApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


@pytest.fixture
def suspendable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual's headless driver (``run_test``) says it cannot suspend, so ``App.suspend`` raises
    SuspendNotSupported there; granted here, the real editor process runs while Pilot drives the
    cockpit (suspend and resume are then the headless driver's own stop and start of application
    mode)."""
    monkeypatch.setattr(HeadlessDriver, "can_suspend", property(lambda self: True))


async def polecat_view(pilot, app: CockpitApp) -> PolecatScreen:
    main = await main_ready(pilot, app)
    main.select_agent("demo/nux")
    tree = main.query_one(AgentsTree)
    tree.focus()
    await wait_until(pilot, lambda: tree.selected_key == "demo/nux", what="the cursor on nux")
    await pilot.press("d")
    return await polecat_screen(pilot, app)


@run_async
async def test_e_opens_the_polecats_worktree_in_visual_else_editor_argv_split_never_a_shell(
    detail_town: Town, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suspendable: None
) -> None:
    got = tmp_path / "argv.txt"
    editor = f"{shlex.quote(sys.executable)} -P -c {shlex.quote(EDITOR_SCRIPT)} {shlex.quote(str(got))}"
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", editor)
    app = cockpit(detail_town)
    async with app.run_test(size=SIZE) as pilot:
        screen = await polecat_view(pilot, app)
        await pilot.press("e")
        await wait_until(pilot, got.exists, what="the editor run")
        assert got.read_text() == repr([str(detail_town.root / "demo" / "polecats" / "nux")])
        assert isinstance(app.screen, PolecatScreen) and not toasts(app)
        # $VISUAL wins; a word with a space stays one argument (quoted), a ; is no shell's
        got.unlink()
        monkeypatch.setenv("VISUAL", f"{editor} 'two words' ';' 'touch {tmp_path / 'shell-ran'}'")
        await pilot.press("e")
        await wait_until(pilot, got.exists, what="the visual editor run")
        worktree = str(detail_town.root / "demo" / "polecats" / "nux")
        assert got.read_text() == repr(["two words", ";", f"touch {tmp_path / 'shell-ran'}", worktree])
        assert not (tmp_path / "shell-ran").exists()
        # an editor that fails says so
        monkeypatch.setenv("VISUAL", f"{shlex.quote(sys.executable)} -P -c 'raise SystemExit(3)'")
        await pilot.press("e")
        await wait_until(pilot, lambda: any("exited with status 3" in t for t in toasts(app)), what="the toast")
        monkeypatch.setenv("VISUAL", str(tmp_path / "no-such-editor"))
        await pilot.press("e")
        await wait_until(pilot, lambda: any("could not run" in t for t in toasts(app)), what="the missing editor")
        assert isinstance(app.screen, PolecatScreen) and screen.detail is not None


@run_async
async def test_e_without_an_editor_or_a_terminal_to_hand_over_says_so(
    detail_town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    app = cockpit(detail_town)
    async with app.run_test(size=SIZE) as pilot:
        await polecat_view(pilot, app)
        await pilot.press("e")
        await wait_until(
            pilot, lambda: any("set $VISUAL or $EDITOR" in t for t in toasts(app)), what="the no-editor toast"
        )
        monkeypatch.setenv("EDITOR", "vi")  # headless, like a browser: the terminal cannot be handed over
        await pilot.press("e")
        await wait_until(pilot, lambda: any("cannot hand its terminal" in t for t in toasts(app)), what="the toast")
        assert isinstance(app.screen, PolecatScreen)


def test_editor_argv_prefers_visual_and_refuses_an_unclosed_quote() -> None:
    assert editor_argv({"VISUAL": "code --wait", "EDITOR": "vi"}, "/w t") == ["code", "--wait", "/w t"]
    assert editor_argv({"VISUAL": " ", "EDITOR": "vi -n"}, "/w") == ["vi", "-n", "/w"]
    with pytest.raises(GtError, match="not a command line"):
        editor_argv({"EDITOR": "vi 'x"}, "/w")
    with pytest.raises(GtError, match=r"set \$VISUAL or \$EDITOR"):
        editor_argv({}, "/w")
