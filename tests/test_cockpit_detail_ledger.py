"""The ledger's detail views driven like a person (issue 21, part 3 and the new-bead dialog of part 6):
the bead view (``enter`` on a ready bead), the convoy view (``enter`` on a convoy), the mail view's
compose and reply, and the new-bead dialog's type, labels and dependencies, on a real town (SQLite,
git) with Pilot key presses; every edit is checked in the ledger itself. Agent-written text is
hostile here: console markup, escape sequences, HTML, links, newlines."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from rich.segment import Segment
from textual.widgets import Input, Select, Static, TextArea

from core import convoys, mail, mq
from core.beads.store import BeadStore
from core.config import edit_toml
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import Town
from gastown_tui.app import CockpitApp
from gastown_tui.screens.bead import BeadScreen, MarkdownText, event_detail
from gastown_tui.screens.convoy import ConvoyScreen
from gastown_tui.screens.ledger_dialogs import BeadEditModal, CloseBeadModal, CommentModal, ComposeMailModal
from gastown_tui.screens.mail import MailScreen
from gastown_tui.screens.modals import NewBeadModal
from tests.conftest import run_async, wait_until
from widgets.beads import ReadyBeads
from widgets.convoys import ConvoyList
from widgets.tables import PlainTable
from widgets.text_lines import TextLines

SIZE = (160, 50)
#: Agent-written text at its worst: console markup, a live action, escape sequences (clear screen,
#: a title change), HTML, a link and newlines.
HOSTILE = (
    "Use [red]x[/] and [@click=app.quit]quit[/]\x1b[2J\x1b]0;pwned\x07 here\n\n"
    "<script>alert(1)</script> <b>bold?</b>\n\n"
    "[a link](https://example.com/x)"
)


@pytest.fixture
def ledger_town(town: Town, git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Town]:
    """A town with rig ``demo`` (prefix ``de``) and the ``sim`` agent; no Mayor, no engine."""
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    monkeypatch.setenv("BD_ACTOR", "tester")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    add_rig(town, "demo", str(git_repo), prefix="de")
    yield town
    SessionHost(town).kill_server()


def cockpit(town: Town) -> CockpitApp:
    return CockpitApp(town, start_engine=False, start_mayor=False, poll_interval=0.1, snapshot_interval=0.3)


def drawn_markdown(md: MarkdownText) -> list[Segment]:
    """The segments ``md`` draws its Markdown as (rendered by Rich at 120 columns)."""
    if md.markdown is None:
        return []
    console = Console(width=120, file=io.StringIO())
    return list(console.render(md.markdown))


def shown_markdown(md: MarkdownText) -> str:
    """The text ``md`` draws, as one string."""
    return "".join(s.text for s in drawn_markdown(md))


def static_text(widget: Static) -> str:
    return str(widget.render())


def rows(table: PlainTable) -> list[list[str]]:
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def open_ready_bead(pilot, app: CockpitApp, bead: str) -> BeadScreen:
    table = app.main.query_one(ReadyBeads)
    await wait_until(pilot, lambda: bead in table.rows, what=f"{bead} in the ready list")
    table.focus()
    table.move_cursor(row=table.get_row_index(bead))
    await pilot.press("enter")
    screen = await wait_until(pilot, lambda: isinstance(app.screen, BeadScreen) and app.screen, what="the bead view")
    await wait_until(pilot, lambda: screen.view is not None and screen.view.issue.id == bead, what="the bead read")
    return screen


@run_async
async def test_the_bead_view_shows_hostile_text_as_text_and_edits_through_the_ledger(ledger_town: Town) -> None:
    with BeadStore(ledger_town) as store:
        a = store.create(
            "Alpha [b]bold[/b]\x1b[31m",
            actor="tester",
            prefix="de",
            description=HOSTILE,
            acceptance_criteria="- [ ] the *form* works",
            labels=["ui"],
        ).id
        b = store.create("Beta", actor="tester", prefix="de", deps=[a]).id
        store.add_comment(a, "looks [green]fine[/]\x1b[2J\nsecond line", "demo/polecats/nux")
    app = cockpit(ledger_town)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.snapshot, what="the first snapshot")
        screen = await open_ready_bead(pilot, app, a)
        description = screen.query_one("#bead-view-description", MarkdownText)
        await wait_until(pilot, lambda: "here" in shown_markdown(description), what="the description drawn")
        text = shown_markdown(description)
        assert "[red]x[/]" in text and "[@click=app.quit]quit[/]" in text  # markup stays text
        assert "<script>alert(1)</script>" in text and "<b>bold?</b>" in text  # HTML stays text
        assert "\x1b" not in text and "\x07" not in text and "pwned" not in text  # sequences stripped whole
        assert "a link (https://example.com/x)" in text  # the address shown as text
        # nothing drawn links anywhere or runs an action on a click
        assert not any(seg.style and (seg.style.link or seg.style.meta) for seg in drawn_markdown(description))
        assert "the form works" in shown_markdown(screen.query_one("#bead-view-acceptance", MarkdownText))
        assert not screen.query_one("#bead-view-design", MarkdownText).display  # no design: no part
        assert "[b]bold[/b]" in static_text(screen.query_one("#bead-view-title", Static))
        comments = static_text(screen.query_one("#bead-view-comments", Static))
        assert "looks [green]fine[/]" in comments and "second line" in comments and "\x1b" not in comments
        deps = rows(screen.query_one("#bead-view-deps", PlainTable))
        assert ["blocks", b, "open", "Beta"] in deps
        history = screen.query_one("#bead-view-history", TextLines)
        events = [line.split()[3] for line in history.plain.splitlines()]  # date, time, who, event, detail
        assert events[:1] == ["created"] and "commented" in events
        assert all(line.split()[2] == "tester" for line in history.plain.splitlines()[:1])

        # a click on the link opens nothing
        opened: list[str] = []
        app.open_url = lambda url, **kw: opened.append(url)  # type: ignore[method-assign]
        await pilot.click(description)
        await pilot.pause(0.2)
        assert opened == []

        # edit title, priority, status and labels
        await pilot.press("e")
        edit = await wait_until(pilot, lambda: isinstance(app.screen, BeadEditModal) and app.screen)
        edit.query_one("#edit-title", Input).value = "Alpha renamed"
        edit.query_one("#edit-priority", Input).value = "0"
        edit.query_one("#edit-status", Select).value = "in_progress"
        edit.query_one("#edit-labels", Input).value = "backend, urgent"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, what="the edit dialog closing")
        with BeadStore(ledger_town) as store:
            got = store.get(a)
        assert (got.title, got.priority, got.status, sorted(got.labels)) == (
            "Alpha renamed",
            0,
            "in_progress",
            ["backend", "urgent"],
        )
        await wait_until(pilot, lambda: "Alpha renamed" in static_text(screen.query_one("#bead-view-title", Static)))

        # an edit of the priority alone leaves the title as the agent wrote it (escape sequence and all)
        with BeadStore(ledger_town) as store:
            store.update(a, "tester", title="Alpha \x1b[31mred")
        await wait_until(pilot, lambda: screen.view.issue.title.endswith("red"), what="the view reading the title")
        await pilot.press("e")
        edit = await wait_until(pilot, lambda: isinstance(app.screen, BeadEditModal) and app.screen)
        assert edit.query_one("#edit-title", Input).value == "Alpha red"
        edit.query_one("#edit-priority", Input).value = "1"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, what="the edit dialog closing")
        with BeadStore(ledger_town) as store:
            got = store.get(a)
        assert (got.title, got.priority, sorted(got.labels)) == ("Alpha \x1b[31mred", 1, ["backend", "urgent"])
        with BeadStore(ledger_town) as store:
            store.update(a, "tester", title="Alpha renamed")

        # add a comment
        await pilot.press("c")
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, CommentModal) and app.screen)
        dialog.query_one(TextArea).text = "Reviewed [bold]ok[/bold]"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, what="the comment dialog closing")
        with BeadStore(ledger_town) as store:
            assert [c.text for c in store.get(a).comments][-1] == "Reviewed [bold]ok[/bold]"
            assert store.get(a).comments[-1].author == "tester"
        await wait_until(
            pilot, lambda: "Reviewed [bold]ok[/bold]" in static_text(screen.query_one("#bead-view-comments"))
        )

        # drill into the dependent bead; closing it is refused while Alpha is open: shown in the dialog
        screen.query_one("#bead-view-deps", PlainTable).focus()
        await pilot.press("enter")
        beta = await wait_until(
            pilot, lambda: isinstance(app.screen, BeadScreen) and app.screen is not screen and app.screen
        )
        await wait_until(pilot, lambda: beta.view is not None and beta.view.issue.id == b, what="Beta read")
        assert [["blocked by", a, "in_progress", "Alpha renamed"]] == rows(
            beta.query_one("#bead-view-deps", PlainTable)
        )
        await pilot.press("x")
        close = await wait_until(pilot, lambda: isinstance(app.screen, CloseBeadModal) and app.screen)
        await pilot.press("enter")
        error = close.query_one(".dialog-error", Static)
        await wait_until(pilot, lambda: "blocked by open" in static_text(error), what="the refusal in the dialog")
        assert app.screen is close
        with BeadStore(ledger_town) as store:
            assert store.get(b).status == "open"
        await pilot.press("escape", "escape")
        await wait_until(pilot, lambda: app.screen is screen, what="back on Alpha")

        # close Alpha with a reason, then reopen it
        await pilot.press("x")
        close = await wait_until(pilot, lambda: isinstance(app.screen, CloseBeadModal) and app.screen)
        close.query_one(Input).value = "shipped in v2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is screen, what="the close dialog closing")
        with BeadStore(ledger_town) as store:
            closed = store.get(a)
        assert (closed.status, closed.close_reason) == ("closed", "shipped in v2")
        await wait_until(pilot, lambda: "closed: shipped in v2" in static_text(screen.query_one("#bead-view-meta")))
        await pilot.press("o")
        await wait_until(pilot, lambda: screen.view is not None and screen.view.issue.status == "open", what="reopened")

        # an agent comments while the view is open: the view reads the bead again on the snapshots
        with BeadStore(ledger_town) as store:
            store.add_comment(a, "polecat note \x1b[31mred", "demo/polecats/nux")
        await wait_until(
            pilot,
            lambda: "polecat note red" in static_text(screen.query_one("#bead-view-comments")),
            what="the comment",
        )
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="back on the main screen")


@run_async
async def test_the_bead_view_shows_the_design_and_follows_the_next_bead_opened(ledger_town: Town) -> None:
    with BeadStore(ledger_town) as store:
        a = store.create(
            "Designed", actor="tester", prefix="de", description="the what", design="use a **queue** [red]x[/]"
        ).id
        b = store.create("Plain", actor="tester", prefix="de", description="just this").id
    app = cockpit(ledger_town)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.snapshot, what="the first snapshot")
        screen = await open_ready_bead(pilot, app, a)
        design = screen.query_one("#bead-view-design", MarkdownText)
        await wait_until(pilot, lambda: "use a queue [red]x[/]" in shown_markdown(design), what="the design drawn")
        assert design.display and screen.query_one("#bead-view-design-heading").display
        assert "the what" in shown_markdown(screen.query_one("#bead-view-description", MarkdownText))
        heading = screen.query_one("#bead-view-design-heading")
        acceptance = screen.query_one("#bead-view-acceptance-heading")
        await wait_until(pilot, lambda: 0 < heading.region.y < acceptance.region.y, what="design above acceptance")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="back on the main screen")
        # the next bead opened on the same (kept) screen: its own parts, no design left over
        again = await open_ready_bead(pilot, app, b)
        assert again is screen
        description = screen.query_one("#bead-view-description", MarkdownText)
        await wait_until(pilot, lambda: "just this" in shown_markdown(description), what="the second description")
        assert not design.display and "queue" not in shown_markdown(design)
        await pilot.press("escape")


@run_async
async def test_the_convoy_view_lists_its_beads_with_mrs_and_shows_it_landing(ledger_town: Town) -> None:
    with BeadStore(ledger_town) as store:
        one = store.create("First [red]piece[/]", actor="tester", prefix="de").id
        two = store.create("Second piece", actor="tester", prefix="de").id
        store.hook(one, "demo/polecats/nux", "tester")
        three = store.create("Third piece", actor="tester", prefix="de").id
        mr = mq.submit(store.db, "demo", one, "nux", f"polecat/nux/{one}", "1" * 40)
        bad = mq.submit(store.db, "demo", three, "slit", f"polecat/slit/{three}", "3" * 40)
        mq.finish(store.db, bad.id, "failed", "test gate failed (exit 1): FAILED tests/test_x.py::t [red]x[/]")
        cid = convoys.create(store, "Login\x1b[2J [bold]feature[/]", [one, two, three], actor="tester").id
    app = cockpit(ledger_town)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.snapshot, what="the first snapshot")
        table = app.main.query_one(ConvoyList)
        await wait_until(pilot, lambda: table.row_count == 1, what="the convoy listed")
        table.focus()
        await pilot.press("enter")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, ConvoyScreen) and app.screen)
        await wait_until(pilot, lambda: screen.convoy is not None, what="the convoy read")
        title = static_text(screen.query_one("#convoy-title", Static))
        assert "[bold]feature[/]" in title and "\x1b" not in title
        beads = rows(screen.query_one(PlainTable))
        assert [one, "hooked", "task", "demo/polecats/nux", mr.id, "queued", "First [red]piece[/]", ""] in beads
        assert [two, "open", "task", "", "", "", "Second piece", ""] in beads
        # the failed MR's note, in the words the merge request view shows (read just after the rows)
        why = "test gate failed (exit 1): FAILED tests/test_x.py::t [red]x[/]"
        await wait_until(pilot, lambda: screen.reasons, what="the failed MR's note")
        assert [three, "open", "task", "", bad.id, "failed", "Third piece", why] in rows(screen.query_one(PlainTable))
        summary = static_text(screen.query_one("#convoy-summary", Static))
        assert "0/3" in summary and "open: 3 beads to land" in summary

        # enter on a tracked bead opens it; escape comes back to the convoy
        beads_table = screen.query_one(PlainTable)
        beads_table.move_cursor(row=beads_table.get_row_index(two))
        await pilot.press("enter")
        bead_screen = await wait_until(pilot, lambda: isinstance(app.screen, BeadScreen) and app.screen)
        assert bead_screen.bead == two
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, what="back on the convoy")

        # the tracked beads close and the deacon lands the convoy: the view follows the snapshot
        with BeadStore(ledger_town) as store:
            store.close(one, "tester", reason="merged")
            store.close(two, "tester", reason="merged")
            store.close(three, "tester", reason="merged by hand")
            assert convoys.check_landed(store, cid)
            landed_at = convoys.get(store, cid).closed_at
        app.wake()
        await wait_until(
            pilot,
            lambda: f"landed {landed_at}" in static_text(screen.query_one("#convoy-summary", Static)),
            what="the landed time",
        )
        assert "3/3" in static_text(screen.query_one("#convoy-summary", Static))
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main, what="back on the main screen")


@run_async
async def test_mail_compose_and_reply_send_through_core_mail(ledger_town: Town) -> None:
    first = mail.send(ledger_town, "mayor/", "Need review [red]now[/]", "Line one\x1b[2J\nline two", "demo/witness")[0]
    app = cockpit(ledger_town)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.snapshot, what="the first snapshot")
        await pilot.press("m")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, MailScreen) and app.screen)
        await wait_until(pilot, lambda: screen.messages, what="the inbox")

        # reply: To is the sender, fixed; the subject gets one "Re: "
        await pilot.press("enter", "r")
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, ComposeMailModal) and app.screen)
        assert dialog.query_one("#mail-to", Input).value == "demo/witness"
        assert dialog.query_one("#mail-to", Input).disabled
        assert dialog.query_one("#mail-subject", Input).value == "Re: Need review [red]now[/]"
        await pilot.press(*"On it")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, what="the reply dialog closing")
        answers = mail.inbox(ledger_town, "demo/witness")
        assert [(m.sender, m.subject, m.body, m.reply_to, m.thread) for m in answers] == [
            ("mayor/", "Re: Need review [red]now[/]", "On it", first.id, first.id)
        ]

        # compose: a bad address is refused in the dialog; then a message to the Mayor lands in the inbox
        await pilot.press("c")
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, ComposeMailModal) and app.screen)
        dialog.query_one("#mail-to", Input).value = "no where"
        dialog.query_one("#mail-subject", Input).value = "Plan"
        dialog.query_one("#mail-body", TextArea).text = "Ship the [b]login[/b] first."
        await pilot.press("ctrl+s")
        error = dialog.query_one(".dialog-error", Static)
        await wait_until(pilot, lambda: "invalid mail address" in static_text(error), what="the refusal shown")
        assert app.screen is dialog
        dialog.query_one("#mail-to", Input).value = "mayor/"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.screen is screen, what="the compose dialog closing")
        sent = [m for m in mail.inbox(ledger_town, "mayor/") if m.subject == "Plan"]
        assert [(m.sender, m.body) for m in sent] == [("mayor/", "Ship the [b]login[/b] first.")]
        await wait_until(pilot, lambda: any(m.subject == "Plan" for m in screen.messages), what="it in the inbox")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.main)


@run_async
async def test_the_new_bead_dialog_takes_type_labels_and_dependencies(ledger_town: Town) -> None:
    with BeadStore(ledger_town) as store:
        base = store.create("Base work", actor="tester", prefix="de").id
    app = cockpit(ledger_town)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.snapshot, what="the first snapshot")
        await pilot.press("b")
        dialog = await wait_until(pilot, lambda: isinstance(app.screen, NewBeadModal) and app.screen)
        await pilot.press(*"Fix", "space", *"the", "space", *"crash")
        dialog.query_one("#bead-type", Select).value = "bug"
        dialog.query_one("#bead-labels", Input).value = "backend, urgent,,backend"
        dialog.query_one("#bead-deps", Input).value = f"{base}, de-nosuch"
        dialog.query_one("#bead-deps", Input).focus()
        await pilot.press("enter")
        error = dialog.query_one(".dialog-error", Static)
        await wait_until(pilot, lambda: "de-nosuch" in static_text(error), what="the unknown dependency named")
        assert app.screen is dialog
        with BeadStore(ledger_town) as store:
            assert [i.title for i in store.list()] == ["Base work"]  # nothing filed
        dialog.query_one("#bead-deps", Input).value = base
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.main, what="the dialog closing")
        with BeadStore(ledger_town) as store:
            (filed,) = [i for i in store.list() if i.title == "Fix the crash"]
        assert filed.id.startswith("de-") and filed.issue_type == "bug"
        assert sorted(filed.labels) == ["backend", "urgent"]
        assert [(d.depends_on_id, d.type) for d in filed.dependencies] == [(base, "blocks")]


def test_a_bead_event_reads_as_one_short_line() -> None:
    from core.events import Event

    e = Event(1, 0.0, "updated", "tester", None, "de-a1", {"fields": {"title": {"old": "A\nB", "new": "C"}}})
    assert event_detail(e) == "title A B -> C"
    long = Event(2, 0.0, "closed", "t", None, "de-a1", {"reason": "x" * 500, "forced": False, "old": "open"})
    line = event_detail(long)
    assert line.startswith("reason xxx") and len(line) == 90 and line.endswith("…")


def test_the_cockpit_files_edits_and_mails_through_the_functions_gt_calls(ledger_town: Town, run_gt) -> None:
    """The cockpit's actions and ``gt`` give the same beads and the same refusals."""
    import json

    from core.errors import GtError
    from gastown_tui.actions import BeadEdit, CockpitActions, Letter, NewBead
    from tests.test_actions import Cockpit as Runner

    runner = Runner()
    actions = CockpitActions(ledger_town, SessionHost(ledger_town), runner.run, runner.notify)
    with BeadStore(ledger_town) as store:
        base = store.create("Base", actor="tester", prefix="de").id
    filed: list[str] = []
    actions.create_bead(NewBead("Cockpit bug", "", "demo", 1, "bug", ("ui", "urgent"), (base,)), filed.append)
    res = run_gt(
        "bead",
        "create",
        "CLI bug",
        "-p",
        "1",
        "-t",
        "bug",
        "-l",
        "ui,urgent",
        "--deps",
        base,
        "--rig",
        "demo",
        "--json",
        cwd=ledger_town.root,
    )
    assert res.returncode == 0, res.stderr
    by_cli = json.loads(res.stdout)
    with BeadStore(ledger_town) as store:
        mine = store.get(filed[0]).as_dict()
    for key in ("priority", "issue_type", "labels", "status"):
        assert mine[key] == by_cli[key], key
    assert [(d["depends_on_id"], d["type"]) for d in mine["dependencies"]] == [
        (d["depends_on_id"], d["type"]) for d in by_cli["dependencies"]
    ]

    # an unknown dependency: the same NotFound as gt bead create --deps, to the dialog's callback
    refusals: list[GtError] = []
    actions.create_bead(NewBead("Orphan", "", None, 2, deps=("de-nosuch",)), filed.append, refusals.append)
    res = run_gt("bead", "create", "Orphan", "--deps", "de-nosuch", cwd=ledger_town.root)
    assert res.returncode != 0 and len(refusals) == 1 and str(refusals[0]) in res.stderr
    assert len(filed) == 1

    # an edit: title, priority, status, labels (the ones gone removed, the new added)
    edited: list = []
    actions.edit_bead(filed[0], BeadEdit("Renamed", 3, "in_progress", ("urgent", "backend")), edited.append)
    with BeadStore(ledger_town) as store:
        got = store.get(filed[0])
        kinds = [e.type for e in store.events(filed[0])]
    assert (got.title, got.priority, got.status, sorted(got.labels)) == (
        "Renamed",
        3,
        "in_progress",
        ["backend", "urgent"],
    )
    assert {"updated", "label_added", "label_removed"} <= set(kinds)
    # closing the blocker's dependent while the blocker is open is refused as gt bead close refuses it
    actions.close_bead(filed[0], "done", edited.append, refusals.append)
    res = run_gt("bead", "close", filed[0], "-r", "done", cwd=ledger_town.root)
    assert res.returncode != 0 and str(refusals[-1]) in res.stderr

    # mail from the Mayor: a letter, then a reply in its thread
    sent: list = []
    actions.send_mail(Letter("demo/witness", "Hello [b]there[/b]", "Body\nline"), "mayor/", sent.append)
    (first,) = sent[0]
    actions.send_mail(Letter("", "Re: Hello [b]there[/b]", "Again", reply_to=first.id), "demo/witness", sent.append)
    (answer,) = sent[1]
    assert (first.to, first.sender, answer.to, answer.thread, answer.reply_to) == (
        "demo/witness",
        "mayor/",
        "mayor/",
        first.id,
        first.id,
    )
