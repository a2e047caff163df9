"""Truthful state in the cockpit (issue 21, parts 4 and 6), driven with Pilot against a real town, real
tmux on the town's private server (killed after) and real SQLite:

- an agent that starts waiting for input gets a badge in the agents tree, a toast and ONE bell per
  transition, and with ``[cockpit] notify = "desktop"`` a desktop notification (notify-send, argv);
- the header's problem count and the problems view include a failed merge request, which ``r`` retries;
- the formula dialog shows the molecule a pour would make (a dry run) and pours only on Enter again;
- quitting with the engine running asks, and "keep" leaves it running in the background (gt up --detach).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from core import agent_state, mq, polecats
from core.beads.store import BeadStore
from core.config import edit_toml
from core.db import connect
from core.pidfile import engine_pid
from core.sessions import SessionHost
from core.town import Town
from gastown_tui.screens.modals import FormulaModal, QuitModal
from gastown_tui.screens.problems import ProblemsScreen
from tests.conftest import run_async, wait_until
from tests.test_cockpit import SIZE, cockpit, sim_town, toasts  # noqa: F401 - the fixture
from widgets.agents import AgentsTree

HOSTILE = "gate test: exit 1\n\x1b[2J[red]boom[/]"


def _waiting_polecat(town: Town) -> str:
    """Polecat wez hooked to a bead, its session alive (a process that prints nothing more); returns
    the session name. Its agent state starts ``working``."""
    with BeadStore(town) as store:
        bead = store.create("Pick a database", actor="tester", prefix="de").id
        store.hook(bead, "demo/polecats/wez", "tester")
        polecats.upsert(
            store.db,
            "demo",
            "wez",
            state="working",
            hook_bead=bead,
            session="demo-wez",
            agent="sim",
            started_at=time.time(),
        )
        agent_state.record(store.db, "demo-wez", "working", "a turn runs")
    SessionHost(town).start("demo-wez", ["sh", "-c", "echo thinking; exec sleep 3600"], town.rig_dir("demo"))
    return "demo-wez"


def _set_agent_state(town: Town, session: str, state: str) -> None:
    db = connect(town.db_path)
    try:
        agent_state.record(db, session, state, "asked which database to use" if state == "waiting" else "")
    finally:
        db.conn.close()


def _label(app, key: str) -> str:
    tree = app.main.query_one(AgentsTree)
    node = tree._find(key)
    return str(node.label) if node is not None else ""


@run_async
async def test_a_waiting_agent_gets_a_badge_a_toast_and_one_bell_per_transition(
    sim_town: Town,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a stand-in notify-send on PATH (a real program the cockpit runs with an argv) records its arguments
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "notified.txt"
    script = bin_dir / "notify-send"
    script.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> {record}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with edit_toml(sim_town.config_path) as doc:
        doc["cockpit"]["notify"] = "desktop"
    sim_town.reload()
    session = _waiting_polecat(sim_town)
    app = cockpit(sim_town, start_mayor=False)
    rung: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: rung.append(time.monotonic())  # type: ignore[method-assign]
        await wait_until(pilot, lambda: app.snapshot and app.snapshot.agent("demo/wez"), timeout=60)
        assert app.snapshot.agent("demo/wez").state == "working" and rung == []
        _set_agent_state(sim_town, session, "waiting")
        await wait_until(pilot, lambda: "waiting for input" in _label(app, "demo/wez"), timeout=30, what="the badge")
        await wait_until(pilot, lambda: rung, what="the bell")
        assert any("demo/wez waits for input" in t for t in toasts(app))
        await wait_until(pilot, lambda: record.exists() and "demo/wez waits for input" in record.read_text())
        lines = record.read_text().splitlines()
        assert lines[0] == "--app-name=gastown-tui" and lines[1] == "--"  # no text is read as an option
        seen = app.snapshots
        await wait_until(pilot, lambda: app.snapshots >= seen + 3, what="three more snapshots")
        assert len(rung) == 1  # still waiting: no second bell
        assert [p.kind for p in app.snapshot.problems if p.polecat == "wez"] == ["waiting"]
        _set_agent_state(sim_town, session, "working")
        await wait_until(pilot, lambda: "waiting for input" not in _label(app, "demo/wez"), what="the badge gone")
        _set_agent_state(sim_town, session, "waiting")
        await wait_until(pilot, lambda: len(rung) == 2, timeout=30, what="the second transition's bell")


@run_async
async def test_notify_off_rings_no_bell(sim_town: Town) -> None:  # noqa: F811
    with edit_toml(sim_town.config_path) as doc:
        doc["cockpit"]["notify"] = "off"
    sim_town.reload()
    session = _waiting_polecat(sim_town)
    app = cockpit(sim_town, start_mayor=False)
    rung: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        app.bell = lambda: rung.append(time.monotonic())  # type: ignore[method-assign]
        await wait_until(pilot, lambda: app.snapshot and app.snapshot.agent("demo/wez"), timeout=60)
        _set_agent_state(sim_town, session, "waiting")
        await wait_until(pilot, lambda: "waiting for input" in _label(app, "demo/wez"), timeout=30, what="the badge")
        await wait_until(pilot, lambda: any("waits for input" in t for t in toasts(app)), what="the toast")
        assert rung == []


@run_async
async def test_a_failed_merge_is_a_problem_the_header_counts_and_r_retries(sim_town: Town) -> None:  # noqa: F811
    with BeadStore(sim_town) as store:
        bead = store.create("Broken work", actor="tester", prefix="de").id
        mr = mq.submit(store.db, "demo", bead, "nux", "polecat/nux/x", "1" * 40)
        mq.finish(store.db, mr.id, "failed", HOSTILE)
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.is_ready and app.snapshot, timeout=60)
        await wait_until(pilot, lambda: "problems 1" in str(app.main.query_one("#header").render()), what="count")
        await pilot.press("p")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, ProblemsScreen) and app.screen)
        await wait_until(pilot, lambda: [p.kind for p in screen.problems] == ["merge_failed"], what="the MR problem")
        row = [str(c) for c in screen.query_one("#problems").get_row_at(0)]
        assert row[0] == "MERGE FAILED" and row[3] == bead
        assert "[red]boom[/]" in row[5] and "\x1b" not in row[5] and "\n" not in row[5]  # as text, one line
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.problems == [], timeout=30, what="the problem gone after retry")
        db = connect(sim_town.db_path)
        try:
            assert mq.get(db, mr.id).status == "queued"
        finally:
            db.conn.close()


@run_async
async def test_the_formula_dialog_previews_the_molecule_before_pouring(sim_town: Town) -> None:  # noqa: F811
    def molecules() -> list:
        with BeadStore(sim_town) as store:
            return [i for i in store.list() if i.issue_type == "molecule"]

    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.is_ready and app.snapshot, timeout=60)
        await pilot.press("f")
        modal = await wait_until(pilot, lambda: isinstance(app.screen, FormulaModal) and app.screen)
        options = modal.query_one("#formula-list")
        options.highlighted = next(i for i, (name, _d) in enumerate(modal.formulas) if name == "shiny")
        await pilot.press("enter")
        await wait_until(pilot, lambda: modal.chosen == "shiny" and modal.query("#var-feature"), what="the vars")
        await pilot.press(*"dark", "space", *"mode", "enter", "enter")  # feature, then assignee (left empty)
        shown = modal.query_one("#formula-molecule")
        await wait_until(pilot, lambda: modal.previewed is not None, what="the preview")
        text = str(shown.render())
        assert "Molecule of shiny: 4 beads in rig demo" in text
        assert "design  [task] Design dark mode" in text
        assert "implement  [task] Implement dark mode  ← after design" in text
        assert "test  [task] Test dark mode  ← after implement" in text
        assert molecules() == []  # a preview writes nothing
        await pilot.press("x")  # a change takes the preview away: Enter previews again
        assert modal.previewed is None and "changed" in str(shown.render())
        await pilot.press("backspace", "enter")
        await wait_until(pilot, lambda: modal.previewed is not None, what="the preview again")
        assert molecules() == [] and isinstance(app.screen, FormulaModal)
        await pilot.press("enter")  # Enter on the preview shown: the pour
        await wait_until(pilot, lambda: not isinstance(app.screen, FormulaModal), what="the dialog closed")
        poured = await wait_until(pilot, molecules, timeout=30, what="the molecule poured")
        assert len(poured) == 1 and poured[0].title == "shiny: feature=dark mode"


@run_async
async def test_a_formula_that_cannot_be_planned_says_why_and_pours_nothing(sim_town: Town) -> None:  # noqa: F811
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.is_ready and app.snapshot, timeout=60)
        await pilot.press("f")
        modal = await wait_until(pilot, lambda: isinstance(app.screen, FormulaModal) and app.screen)
        modal.query_one("#formula-list").highlighted = next(
            i for i, (name, _d) in enumerate(modal.formulas) if name == "shiny"
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: modal.query("#var-feature"), what="the vars")
        await pilot.press("enter", "enter", "enter")  # the required feature left empty
        await wait_until(pilot, lambda: "cannot pour shiny" in str(modal.query_one("#formula-molecule").render()))
        assert modal.previewed is None and isinstance(app.screen, FormulaModal)


@run_async
async def test_quitting_asks_and_keep_leaves_the_engine_running_in_the_background(sim_town: Town, capsys) -> None:  # noqa: F811
    app = cockpit(sim_town, start_mayor=False, start_engine=True)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.engine_state == "running", timeout=60, what="the engine running")
            await pilot.press("q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitModal), what="the question")
            await pilot.press("escape")  # stay
            await wait_until(pilot, lambda: app.screen is app.main, what="back on the main screen")
            assert app.is_running and app.engine.running
            await pilot.press("q")
            await wait_until(pilot, lambda: isinstance(app.screen, QuitModal), what="the question again")
            await pilot.press("k")
            await wait_until(pilot, lambda: app.return_code is not None, timeout=90, what="the cockpit closed")
        err = " ".join(capsys.readouterr().err.split())  # the message as printed, wrapped to the terminal
        pid = engine_pid(sim_town)
        assert pid is not None and pid != os.getpid()  # a background engine holds the town now
        assert f"The engine keeps running in the background (pid {pid}" in err and "gt down" in err
        assert "The agents keep running in tmux" in err
    finally:
        from core.engine import wait_stopped
        from core.pidfile import signal_engine
        import signal

        stopped = signal_engine(sim_town, signal.SIGTERM)
        if stopped is not None:
            assert wait_stopped(stopped, 60)


@run_async
async def test_two_marked_beads_sling_as_one_convoy_like_gt_sling_a_b_rig(sim_town: Town) -> None:  # noqa: F811
    from core import convoys
    from gastown_tui.screens.modals import SlingModal
    from widgets.beads import ReadyBeads

    with BeadStore(sim_town) as store:
        beads = [store.create(t, actor="tester", prefix="de", description="```sh\necho ok\n```").id for t in "AB"]
    app = cockpit(sim_town, start_mayor=False)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.is_ready and app.snapshot and len(app.snapshot.ready) == 2, timeout=60)
        table = app.main.query_one(ReadyBeads)
        table.focus()
        await wait_until(pilot, lambda: table.row_count == 2, what="two ready rows")
        await pilot.press("space", "space", "s")
        modal = await wait_until(pilot, lambda: isinstance(app.screen, SlingModal) and app.screen)
        assert "as one convoy" in str(modal.query_one(".dialog-title").render())
        await pilot.press("enter")

        def tracking() -> list[list[str]]:
            with BeadStore(sim_town) as store:
                return [convoys.convoys_tracking(store, b) for b in beads]

        one, two = await wait_until(pilot, lambda: all(tracking()) and tracking(), timeout=60, what="the convoy")
        assert one == two and len(one) == 1  # one convoy for the batch, as gt sling A B RIG makes
