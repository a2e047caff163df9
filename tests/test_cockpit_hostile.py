"""The cockpit on a town whose agents wrote hostile text (issue 15 item 1): bead titles, mail, convoy
names, escalations, MR notes, polecat states, events and a session's screen hold Rich/Textual
markup (one that raised ``MarkupError`` at every start, ``@click`` actions that quit, suspend,
simulate keys or write a screenshot over a file), terminal escapes and control characters.

The app must start, show the text literally (less its control characters), and survive a click on
every row and cell of every table and list of the main screen, the mail screen, the problems view
and the grid: the file the screenshot action points at is never written and the app keeps running.
Real parts throughout: a real town and SQLite database (agents can write it directly, so the
hostile text goes in with plain SQL, whatever the ``core`` APIs accept), a real tmux server (killed
afterwards) and the real cockpit under ``App.run_test``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.coordinate import Coordinate
from textual.widget import Widget
from textual.widgets import DataTable, Footer
from textual.widgets._toast import Toast

from core import escalation, events, mail, mq, polecats
from core.beads.store import BeadStore
from core.config import edit_toml
from core.db import connect, transaction
from core.plaintext import strip_controls
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import Town, install_town
from gastown_tui.app import CockpitApp
from gastown_tui.screens.grid import GridScreen, PreviewTile
from gastown_tui.screens.mail import MailScreen
from gastown_tui.screens.problems import ProblemsScreen
from tests.conftest import make_repo
from tests.conftest import run_async, wait_until
from tests.test_cockpit import toasts
from widgets.agents import AgentsTree
from widgets.beads import ReadyBeads
from widgets.convoys import ConvoyList
from widgets.feed import Feed
from widgets.refinery import RefineryQueue

#: Wide enough for the full layout to show each planted literal whole (the panels below the
#: terminal share what the terminal leaves; at 160 columns a bead title is cut after 20 cells).
SIZE = (220, 60)
PANE_SCRIPT = (
    "printf '\\033]0;pwned\\007\\033]52;c;cHduZWQ=\\007[@click=app.quit]tile[/] "
    "\\033]8;;https://evil.example\\033\\\\link\\033]8;;\\033\\\\ \\033[31mred\\033[0m ready\\n'; "
    "exec sleep 3600"
)


def hostile(victim: Path) -> dict[str, str]:
    """Name -> hostile text: the issue's examples, then escapes, controls and broken markup."""
    return {
        "markup_error": "Handle [/usr/local] prefix in installer",
        "screenshot": f"[@click=app.screenshot('notes.txt','{victim}')]Review the release notes[/]",
        "quit": "[@click=app.quit]Quit the cockpit[/]",
        "suspend": "[@click=app.suspend_process]Suspend me[/]",
        "key": "[@click=app.simulate_key('q')]Press q[/]",
        "escapes": "Escapes\x1b]0;pwned\x07 \x1b[2J\x1b]52;c;cHduZWQ=\x07\x9b2J\x03\x04\x00 end",
        "unbalanced": "[bold unbalanced \\[x] [/] [",
    }


def set_sql(db, sql: str, *params) -> None:
    """What an agent with the town's path can do: write the database directly."""
    with transaction(db):
        db.execute(sql, list(params))


@pytest.fixture
def hostile_town(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Town, Path, dict[str, str]]]:
    """A town named with markup, rig ``demo``, ready beads titled with every hostile text, a convoy,
    mail, a zombie (problem), an escalation, a failed MR, an idle polecat with a hostile state,
    feed events, and a working polecat whose session prints escapes (grid). Yields (town, victim
    directory, texts)."""
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    monkeypatch.setenv("BD_ACTOR", "tester")
    monkeypatch.setenv("SHELL", "/bin/sh")
    victim = tmp_path / "victim"
    victim.mkdir()
    texts = hostile(victim)
    town, _ = install_town(tmp_path / "town [@click=app.quit]x")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    add_rig(town, "demo", str(make_repo(tmp_path / "src")), prefix="de")
    with BeadStore(town) as store:
        db = store.db
        ready = []
        for name, text in texts.items():
            bead = store.create(f"bead {name}", actor="tester", prefix="de", description="```sh\necho ok\n```").id
            set_sql(db, "UPDATE issues SET title = ? WHERE id = ?", text, bead)
            ready.append(bead)
        convoy = store.create(
            "convoy", actor="tester", id="hq-cv-hostile", issue_type="convoy", deps=[(b, "tracks") for b in ready[:2]]
        ).id
        set_sql(db, "UPDATE issues SET title = ? WHERE id = ?", texts["screenshot"], convoy)
        held = store.create("held", actor="tester", prefix="de").id
        set_sql(db, "UPDATE issues SET title = ? WHERE id = ?", texts["quit"], held)
        store.hook(held, "demo/polecats/ghost", "tester")
        polecats.upsert(
            db,
            "demo",
            "ghost",
            state="working",
            hook_bead=held,
            session="demo-ghost",
            agent="sim",
            started_at=time.time(),
        )
        busy = store.create("busy", actor="tester", prefix="de").id
        set_sql(db, "UPDATE issues SET title = ? WHERE id = ?", texts["key"], busy)
        store.hook(busy, "demo/polecats/jam", "tester")
        polecats.upsert(
            db, "demo", "jam", state="working", hook_bead=busy, session="demo-jam", agent="sim", started_at=time.time()
        )
        polecats.upsert(db, "demo", "slit", state="idle", agent="sim")
        # a raw state word is never shown (the witness's rule names the state: idle, nothing hooked);
        # the name is shown, as text
        set_sql(db, "UPDATE polecats SET name = ?, state = ? WHERE name = 'slit'", texts["suspend"], texts["suspend"])
        esc = escalation.escalate(store, "the gates need a database", "high", actor="demo/polecats/ghost")
        set_sql(
            db,
            "UPDATE issues SET title = ?, description = ? WHERE id = ?",
            texts["screenshot"],
            texts["screenshot"],
            esc.id,
        )
        mr = mq.submit(db, "demo", ready[0], "ghost", "polecat/ghost/x", "1" * 40)
        with transaction(db):
            mq.finish(db, mr.id, "failed", texts["screenshot"])
            for key in ("text", "reason", "name", "error"):
                events.append(
                    db,
                    "escalation" if key == "reason" else "sling",
                    texts["screenshot"],
                    rig="demo",
                    bead=ready[0],
                    payload={key: texts["screenshot"], "polecat": texts["quit"]},
                )
            events.append(db, "nudge", "tester", payload={"text": texts["escapes"]})
    messages = mail.send(town, "mayor/", "subject", "body", sender="demo/witness")
    db = connect(town.db_path)
    try:
        set_sql(
            db,
            "UPDATE issues SET title = ?, description = ?, metadata = ? WHERE id = ?",
            texts["screenshot"],
            texts["markup_error"] + "\n" + texts["escapes"],
            json.dumps({"from": texts["quit"]}),
            messages[0].id,
        )
        second = mail.send(town, "mayor/", "subject", "body", sender="demo/witness", db=db)
        set_sql(db, "UPDATE issues SET title = ? WHERE id = ?", texts["markup_error"], second[0].id)
    finally:
        db.conn.close()
    host = SessionHost(town)
    host.start("demo-jam", ["sh", "-c", PANE_SCRIPT], town.rig_dir("demo"))
    assert host.wait_for_text("demo-jam", "ready")
    yield town, victim, texts
    host.kill_server()


def shown(text: str) -> str:
    """What the cockpit must draw for ``text``: the text itself, less its control characters."""
    return strip_controls(text)


def screen_lines(app: CockpitApp) -> list[str]:
    """The characters on the screen now, one string per line (what a person sees)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def actions_on_screen(app: CockpitApp) -> list[str]:
    """``@click`` actions and links carried by anything drawn on the screen outside the footer (whose
    keys are the cockpit's own)."""
    footer_rows = {y for f in app.screen.query(Footer) for y in range(f.region.y, f.region.bottom)}
    found = []
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        if y in footer_rows:
            continue
        for segment in strip:
            style = segment.style
            if style is not None and (style.link or "@click" in style.meta):
                found.append(f"line {y}: {segment.text!r} {style.link or style.meta['@click']}")
    return found


def assert_alive(app: CockpitApp, victim: Path) -> None:
    """The cockpit still runs and nothing wrote into ``victim`` (checked after every click)."""
    assert app.is_running and app.return_code is None, "the cockpit exited"
    assert not any(victim.iterdir()), f"a click wrote {list(victim.iterdir())}"


def assert_safe(app: CockpitApp, victim: Path) -> None:
    """:func:`assert_alive`, and nothing on the screen carries an action or a link."""
    assert_alive(app, victim)
    assert actions_on_screen(app) == []


async def click_cells(pilot, app: CockpitApp, table: DataTable, victim: Path, reopen=None) -> int:
    """Click every cell of ``table`` (its first character and its middle), scrolling each into view;
    ``reopen()`` brings the table's screen back when a click left it (a row opens its agent).
    Returns the clicks made."""
    clicks = 0
    for row in range(table.row_count):
        for column in range(len(table.columns)):
            region = table._get_cell_region(Coordinate(row, column))
            for dx in sorted({1, region.width // 2}):  # after the cell padding, and mid-cell
                if reopen is not None and not table.is_attached:
                    table = await reopen()
                table.scroll_to_region(
                    region, animate=False, force=True, immediate=True, spacing=table._get_fixed_offset()
                )
                await pilot.pause()
                box = table.content_region
                x = box.x + region.x - round(table.scroll_x) + dx
                y = box.y + region.y - round(table.scroll_y)
                if box.contains(x, y):
                    await pilot.click(offset=(x, y))
                    clicks += 1
                    assert_alive(app, victim)
    return clicks


async def click_words(pilot, app: CockpitApp, widget: Widget, victim: Path) -> int:
    """Click the first character of every word (run of non-blank characters) that ``widget`` shows
    on the screen now: an action hidden in text is on the characters of its words. Returns the
    clicks made."""
    box = widget.content_region
    lines = screen_lines(app)
    targets = [
        (x, y)
        for y in range(box.y, box.bottom)
        for x in range(box.x, box.right)
        if lines[y][x : x + 1].strip() and (x == box.x or not lines[y][x - 1 : x].strip())
    ]
    for x, y in targets:
        if not widget.is_attached:
            break
        await pilot.click(offset=(x, y))
        assert_alive(app, victim)
    return len(targets)


def cells(table: DataTable) -> list[str]:
    return [str(getattr(c, "plain", c)) for row in range(table.row_count) for c in table.get_row_at(row)]


@run_async
async def test_hostile_text_is_shown_literally_and_no_click_runs_it(hostile_town) -> None:
    town, victim, texts = hostile_town
    app = CockpitApp(town, start_engine=False, start_mayor=False, poll_interval=0.1, snapshot_interval=0.3)
    async with app.run_test(size=SIZE) as pilot:
        main = app.main
        await wait_until(
            pilot,
            lambda: (
                main.is_ready
                and app.snapshot
                and len(app.snapshot.ready) >= len(texts)
                and main.query_one(ReadyBeads).row_count == len(app.snapshot.ready)
            ),
            what="the hostile beads listed",
        )
        await wait_until(
            pilot,
            lambda: main.query_one(ConvoyList).row_count == 1 and main.query_one(RefineryQueue).row_count == 1,
            what="the convoy and the MR",
        )
        await wait_until(
            pilot, lambda: any("Escapes" in line.text for line in main.query_one(Feed).lines), what="the feed"
        )
        await pilot.pause(0.3)
        assert app.is_running
        # the town is read: from now on a full read only when woken (each click waits for the
        # process to idle, and a read every 0.3 s made every click wait for it)
        app.snapshot_interval = 600.0

        # every string as text: the cells hold it, the screen shows it
        titles = cells(main.query_one(ReadyBeads))[4::5]  # mark, id, P, type, title
        assert sorted(titles) == sorted(shown(i.title) for i in app.snapshot.ready)
        assert {shown(t) for t in texts.values()} <= set(titles)
        assert shown(texts["screenshot"]) in cells(main.query_one(ConvoyList))
        assert shown(texts["screenshot"])[:60] in cells(main.query_one(RefineryQueue))
        screen = "\n".join(screen_lines(app))
        for literal in (
            "Handle [/usr/local] prefix",
            "[@click=app.screenshot('note",
            "[@click=app.quit]Quit the co",
            "[@click=app.simulate_key('q'",
            "Gas Town town [@click=app.quit]x  ·",
            "[bold unbalanced \\[x] [/] [",
            "○ [@click=app.suspend_process]",
            "Escapes  end",
        ):
            assert literal in screen, f"{literal!r} not on screen:\n{screen}"
        assert "\x1b" not in screen and "\x9b" not in screen and "\x07" not in screen
        tree = main.query_one(AgentsTree)
        labels = [str(n.label) for rig in tree.root.children for n in [rig, *rig.children]]
        assert any(label.startswith(f"○ {shown(texts['suspend'])} idle") for label in labels), labels  # as text
        feed = [line.text for line in main.query_one(Feed).lines]
        assert any("[@click=app.screenshot(" in line for line in feed)
        assert any("Escapes  end" in line and "pwned" not in line for line in feed)  # whole sequences go
        assert_safe(app, victim)

        # click everything on the main screen
        clicks = 0
        for table in (main.query_one(ReadyBeads), main.query_one(ConvoyList), main.query_one(RefineryQueue)):
            clicks += await click_cells(pilot, app, table, victim)
        for widget in (main.query_one("#header"), tree, main.query_one(Feed)):
            clicks += await click_words(pilot, app, widget, victim)
        assert clicks > 100
        assert_safe(app, victim)

        # toasts quoting agent text (an escalation, an engine error): text too, and clicked
        db = connect(town.db_path)
        try:
            with transaction(db):
                events.append(db, "engine_error", "deacon", payload={"loop": "deacon", "error": texts["quit"]})
                events.append(
                    db, "escalation", "demo/polecats/ghost", payload={"severity": "high", "reason": texts["screenshot"]}
                )
        finally:
            db.conn.close()
        await wait_until(
            pilot,
            lambda: (
                any(shown(texts["screenshot"]) in t for t in toasts(app))
                and any(texts["quit"] in t for t in toasts(app))
            ),
            what="the hostile toasts",
        )
        await pilot.pause(0.3)
        assert_safe(app, victim)
        for toast in list(app.screen.query(Toast)):
            if toast.is_attached:
                await pilot.click(toast)
        assert_safe(app, victim)

        # the mail screen: list and message
        await pilot.press("m")
        mail_screen = await wait_until(pilot, lambda: isinstance(app.screen, MailScreen) and app.screen)
        await wait_until(pilot, lambda: len(mail_screen.messages) >= 2, what="the inbox")
        inbox = mail_screen.query_one(DataTable)
        await wait_until(pilot, lambda: inbox.row_count == len(mail_screen.messages))
        assert shown(texts["screenshot"]) in cells(inbox) and shown(texts["markup_error"]) in cells(inbox)
        assert shown(texts["quit"]) in cells(inbox)
        await click_cells(pilot, app, inbox, victim)
        message = mail_screen.query_one("#message")
        for row, m in enumerate(mail_screen.messages):  # open each message and click its words
            inbox.move_cursor(row=row)
            await pilot.press("enter")
            await wait_until(pilot, lambda m=m: shown(m.subject) in str(message.render()), what=f"message {m.id} open")
            drawn = str(message.render())
            assert shown(m.body) in drawn and shown(m.sender) in drawn and "\x1b" not in drawn
            await click_words(pilot, app, message, victim)
        assert_safe(app, victim)
        await pilot.press("escape")

        # the problems view: the zombie, the escalation and the failed MR (its hostile reason as text)
        async def open_problems() -> DataTable:
            if not isinstance(app.screen, ProblemsScreen):
                await wait_until(pilot, lambda: app.screen is app.main, what="back on the main screen")
                app.main.query_one(AgentsTree).focus()
                await pilot.press("p")
            found = await wait_until(pilot, lambda: isinstance(app.screen, ProblemsScreen) and app.screen)
            await wait_until(
                pilot,
                lambda: len(found.problems) == 3 and found.query_one(DataTable).row_count == 3,
                what="three problems",
            )
            return found.query_one(DataTable)

        await wait_until(pilot, lambda: app.screen is app.main)
        problems = await open_problems()
        assert any(shown(texts["screenshot"]) in c for c in cells(problems))
        await click_cells(pilot, app, problems, victim, reopen=open_problems)
        if isinstance(app.screen, ProblemsScreen):
            await pilot.press("escape")

        # the grid: tile titles and a session screen full of escapes
        await wait_until(pilot, lambda: app.screen is app.main)
        await pilot.press("g")
        grid = await wait_until(pilot, lambda: isinstance(app.screen, GridScreen) and app.screen)
        tile = await wait_until(
            pilot,
            lambda: next((t for t in grid.query(PreviewTile) if "ready" in str(t.render())), None),
            what="the session preview",
        )
        drawn = str(tile.render())
        assert "[@click=app.quit]tile[/]" in drawn and "link" in drawn and "\x1b" not in drawn
        for tile in list(grid.query(PreviewTile)):
            await click_words(pilot, app, tile, victim)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main)
        assert_safe(app, victim)
    assert not any(victim.iterdir())
