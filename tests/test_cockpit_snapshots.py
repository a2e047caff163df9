"""SVG snapshots of the cockpit (pytest-textual-snapshot ``snap_compare``): the main screen at 80x24,
120x40, 160x50 and 220x60 (both layouts, issue 21), the grid, the sling modal and the problems view
at 160x50, on a deterministic town. The same tests write each screen to ``screenshots/`` as SVG and
PNG (cairosvg), for the README (``main-80x24.png`` ...).

Determinism: the town lives in the test's own temporary folder (its path is never drawn), bead, convoy
and polecat names are fixed, every event time and transcript mtime is pinned relative to a frozen clock
(TZ=UTC), and the sessions run fixed ``printf`` scripts on the town's real tmux server (killed after).
Refresh the snapshots with ``pytest tests/test_cockpit_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.text import Text

from core import mq, polecats
from core.beads.store import BeadStore
from core.config import edit_toml
from core.db import transaction
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import Town, install_town
from gastown_tui.app import CockpitApp
from gastown_tui.screens.grid import GridScreen, PreviewTile
from gastown_tui.screens.modals import SlingModal
from gastown_tui.screens.problems import ProblemsScreen
from tests.conftest import make_repo
from widgets.beads import ReadyBeads
from widgets.convoys import ConvoyList
from widgets.refinery import RefineryQueue
from widgets.sessionpane import SessionPane

SIZE = (160, 50)
#: The main screen's snapshot sizes (columns, rows): a small terminal, a laptop, the usual, a big one.
MAIN_SIZES = [(80, 24), (120, 40), (160, 50), (220, 60)]
FROZEN = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
MAYOR_SCRIPT = (
    'printf "Gas Town Mayor shell\\n\\n$ gt status\\nrigs      demo\\npolecats  nux working, '
    'slit idle, ghost zombie\\nqueued    1 to merge\\n$ "; exec sleep 3600'
)


def session_script(lines: int) -> list[str]:
    """A session printing ``lines`` fixed sim-agent-like lines, then sleeping (no more output)."""
    body = "".join(f"  | step 1/1: build · line {i}\\n" for i in range(1, lines + 1))
    return ["sh", "-c", f'printf "* sim agent\\n* reading hook\\n{body}"; exec sleep 3600']


@pytest.fixture
def snap_town(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Town]:
    """The fixed town: rig demo, beads, a convoy, polecats nux (working), slit (idle), ghost (zombie),
    jam (stalled), the Mayor, two MRs, token usage of three polecats, pinned event times."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    monkeypatch.setenv("BD_ACTOR", "mayor")
    base = tmp_path
    town, _ = install_town(base / "town")
    host = SessionHost(town)
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    add_rig(town, "demo", str(make_repo(base / "src", {"README.md": "# demo\n"})), prefix="de")
    with BeadStore(town) as store:
        for n, (title, prio) in enumerate(
            [
                ("Add the login form", 1),
                ("Fix the flaky cache test", 0),
                ("Write the API docs", 2),
                ("Bump dependencies", 3),
            ],
            1,
        ):
            store.create(title, actor="mayor", id=f"de-a{n}", priority=prio, description="```sh\necho ok\n```")
        for bead in ("de-w1", "de-w2", "de-w3"):
            store.create(f"Work {bead}", actor="mayor", id=bead)
        store.create(
            "Login feature",
            actor="mayor",
            id="hq-cv-login",
            issue_type="convoy",
            deps=[("de-w1", "tracks"), ("de-w2", "tracks"), ("de-w3", "tracks"), ("de-a1", "tracks")],
        )
        store.close("de-w3", "mayor", reason="merged")
        for name, bead in (("nux", "de-w1"), ("ghost", "de-w2"), ("jam", "de-a4")):
            store.hook(bead, f"demo/polecats/{name}", "mayor")
        polecats.upsert(
            store.db,
            "demo",
            "nux",
            state="working",
            hook_bead="de-w1",
            session="demo-nux",
            agent="sim",
            started_at=FROZEN - 300,
        )
        polecats.upsert(
            store.db,
            "demo",
            "ghost",
            state="working",
            hook_bead="de-w2",
            session="demo-ghost",
            agent="sim",
            started_at=FROZEN - 2000,
        )
        polecats.upsert(
            store.db,
            "demo",
            "jam",
            state="working",
            hook_bead="de-a4",
            session="demo-jam",
            agent="sim",
            started_at=FROZEN - 1500,
        )
        polecats.upsert(store.db, "demo", "slit", state="idle", agent="sim")
        mq.submit(store.db, "demo", "de-w3", "slit", "polecat/slit/de-w3", "1" * 40)
        failed = mq.submit(store.db, "demo", "de-w2", "ghost", "polecat/ghost/de-w2", "2" * 40)
        mq.finish(store.db, failed.id, "failed", "gate test failed (exit 1)")
        db = store.db
        with transaction(db):
            for n, (agent, bead, inp, out) in enumerate(
                (
                    ("nux", "de-w1", 420_000, 18_000),
                    ("ghost", "de-w2", 150_000, 6_000),
                    ("slit", "de-w3", 90_000, 4_000),
                )
            ):
                db.execute(
                    "INSERT INTO usage (runtime, session, record, model, input, output, at, agent, rig, bead, source)"
                    " VALUES ('claude', ?, 'm1', 'claude-sonnet-4-5', ?, ?, ?, ?, 'demo', ?, 'fixture')",
                    [f"s{n}", inp, out, FROZEN - 100, f"demo/polecats/{agent}", bead],
                )
            last = db.execute("SELECT MAX(id) FROM events").fetchone()[0]
            db.execute("UPDATE events SET ts = ? - (? - id) * 7", [FROZEN - 60, last])
    host.start("mayor", ["sh", "-c", MAYOR_SCRIPT], town.mayor_dir)
    for name, lines in (("nux", 12), ("jam", 4)):
        host.start(f"demo-{name}", session_script(lines), town.rig_dir("demo"))
    assert host.wait_for_text("demo-nux", "line 12") and host.wait_for_text("demo-jam", "line 4")
    assert host.wait_for_text("mayor", "queued")
    time.sleep(0.3)  # let the transcripts take the output before their times are pinned
    os.utime(host.log_path("demo-nux"), (FROZEN - 5, FROZEN - 5))
    os.utime(host.log_path("demo-jam"), (FROZEN - 1200, FROZEN - 1200))
    yield town
    host.kill_server()


def make_app(town: Town) -> CockpitApp:
    return CockpitApp(town, clock=lambda: FROZEN, start_engine=False, poll_interval=0.1, snapshot_interval=0.3)


def tables_sized(app: CockpitApp) -> bool:
    """True once every table of the main screen has sized its columns to its cells (DataTable does
    that when idle: a screenshot taken before shows cut-off ids)."""

    def sized(table) -> bool:
        return all(
            column.content_width >= max((Text(c) if isinstance(c, str) else c).cell_len for c in table.get_column(key))
            for key, column in table.columns.items()
            if column.auto_width and table.row_count
        )

    return all(sized(app.main.query_one(kind)) for kind in (ConvoyList, ReadyBeads, RefineryQueue))


async def settle(pilot, app: CockpitApp) -> None:
    """Wait for the data, the Mayor's terminal and a quiet moment (no redraw for 0.3 s)."""
    deadline = time.monotonic() + 20
    while not app.main.is_ready:
        assert time.monotonic() < deadline, "the main screen did not compose"
        await pilot.pause(0.05)
    pane = app.main.query_one(SessionPane)
    main = app.main

    def shown() -> bool:  # every panel holds the snapshot's rows (a dialog opened later hides the tables)
        snap = app.snapshot
        return bool(
            snap
            and app.snapshots >= 2
            and pane.terminal is not None
            and any("queued" in line for line in pane.terminal.screen_text())
            and main.query_one(ConvoyList).row_count == len(snap.convoys)
            and main.query_one(ReadyBeads).row_count == len(snap.ready)
            and main.query_one(RefineryQueue).row_count == len(snap.mrs)
        )

    while not (shown() and tables_sized(app)):
        assert time.monotonic() < deadline, "the cockpit did not show the town"
        await pilot.pause(0.05)
    frames = -1
    while frames != pane.terminal.frames:
        frames = pane.terminal.frames
        await pilot.pause(0.3)


def save_screenshot(app: CockpitApp, name: str) -> None:
    """Write ``screenshots/<name>.svg`` and ``.png`` (cairosvg)."""
    import cairosvg

    SCREENSHOTS.mkdir(exist_ok=True)
    svg = app.export_screenshot(title=f"gastown-tui · {name}")
    (SCREENSHOTS / f"{name}.svg").write_text(svg, encoding="utf-8")
    cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=str(SCREENSHOTS / f"{name}.png"))
    assert (SCREENSHOTS / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("size", MAIN_SIZES, ids=[f"{w}x{h}" for w, h in MAIN_SIZES])
def test_main_screen_snapshot(snap_town: Town, snap_compare, size: tuple[int, int]) -> None:
    app = make_app(snap_town)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        save_screenshot(app, f"main-{size[0]}x{size[1]}")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_compact_ready_tab_snapshot(snap_town: Town, snap_compare) -> None:
    """80x24 with the ready beads' tab shown (``]`` three times: agents, convoys, ready)."""
    app = make_app(snap_town)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        table = app.main.query_one(ReadyBeads)
        deadline = time.monotonic() + 20
        while not (table.display and app.focused is table and table.region.height):
            assert time.monotonic() < deadline, "the ready tab did not show"
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        save_screenshot(app, "main-80x24-ready")

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_sling_modal_snapshot(snap_town: Town, snap_compare) -> None:
    app = make_app(snap_town)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        app.main.query_one(ReadyBeads).focus()
        await pilot.press("s")
        while not (isinstance(app.screen, SlingModal) and tables_sized(app)):
            await pilot.pause(0.05)
        app.main.refresh(layout=True)  # the dimmed main screen behind the dialog shows its sized tables
        await pilot.pause(0.3)
        save_screenshot(app, "sling")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_grid_snapshot(snap_town: Town, snap_compare) -> None:
    app = make_app(snap_town)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("g")
        deadline = time.monotonic() + 20
        while not (
            isinstance(app.screen, GridScreen)
            and len(app.screen.query(PreviewTile)) == 3
            and all("queued" in str(t.render()) or "line" in str(t.render()) for t in app.screen.query(PreviewTile))
        ):
            assert time.monotonic() < deadline, "the grid did not fill"
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        save_screenshot(app, "grid")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_problems_snapshot(snap_town: Town, snap_compare) -> None:
    app = make_app(snap_town)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("p")
        deadline = time.monotonic() + 20
        while not (isinstance(app.screen, ProblemsScreen) and len(app.screen.problems) == 3):
            assert time.monotonic() < deadline, "the problems did not show"
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        save_screenshot(app, "problems")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
