"""SVG snapshots of the ledger's detail views at 160x50 (pytest-textual-snapshot ``snap_compare``): the
bead view and the convoy view, on a deterministic town; the same tests write each view to
``screenshots/`` as SVG and PNG (cairosvg), for the README's "Detail views".

Determinism, as in :mod:`tests.test_cockpit_snapshots`: the town lives in the test's temporary folder
(its path is never drawn), bead ids are fixed, and every stored time (beads, comments, events, MRs) is
pinned to a frozen clock in UTC. No session runs: these views show the ledger only.
Refresh the snapshots with ``pytest tests/test_cockpit_snapshots_ledger.py --snapshot-update``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import mq
from core.beads.model import format_ts
from core.beads.store import BeadStore
from core.config import edit_toml
from core.db import transaction
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import Town, install_town

from gastown_tui.app import CockpitApp
from gastown_tui.screens.bead import BeadScreen, MarkdownText
from gastown_tui.screens.convoy import ConvoyScreen
from tests.conftest import make_repo
from tests.test_cockpit_snapshots import save_screenshot
from widgets.convoys import ConvoyList

SIZE = (160, 50)
FROZEN = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC

DESCRIPTION = """\
The login form posts to `/api/session`; a wrong password shows the error under the field.

## Steps

1. Add the form component with **email** and *password* fields.
2. Wire it to the session endpoint.
3. Show `[red]errors[/]` as they come back (markup stays text).

```sh
npm test -- login
```

> Agents may write <b>HTML</b> or [links](https://example.com): shown, never run.
"""


@pytest.fixture
def ledger_snap_town(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Town]:
    """Rig demo (prefix de); a login convoy of four beads (one merged, one hooked with a queued MR, one
    whose MR failed, one open) and the bead de-a1 with a description, design, acceptance, labels,
    dependencies both ways, comments and history; every time pinned before ``FROZEN``."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    monkeypatch.setenv("BD_ACTOR", "mayor")
    town, _ = install_town(tmp_path / "town")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    add_rig(town, "demo", str(make_repo(tmp_path / "src", {"README.md": "# demo\n"})), prefix="de")
    with BeadStore(town) as store:
        store.create("Design the session API", actor="mayor", id="de-a0", issue_type="feature", priority=1)
        store.create(
            "Add the login form",
            actor="mayor",
            id="de-a1",
            priority=1,
            issue_type="feature",
            description=DESCRIPTION,
            design="One `LoginForm` component posting to `/api/session`; errors come back as JSON.",
            acceptance_criteria="- a wrong password shows an error\n- `npm test` passes",
            labels=["ui", "login"],
            deps=["de-a0"],
        )
        store.create("Remember me checkbox", actor="mayor", id="de-a2", deps=["de-a1"])
        store.create("Fix the flaky cache test", actor="mayor", id="de-a3", issue_type="bug", priority=0)
        store.create("Write the login docs", actor="mayor", id="de-a4", issue_type="chore", priority=3)
        store.create(  # a convoy as convoys.create makes it, with a fixed id (a hash id would change each run)
            "Login feature",
            actor="mayor",
            id="hq-cv-login",
            issue_type="convoy",
            metadata={"notify": "mayor/"},
            deps=[(bead, "tracks") for bead in ("de-a0", "de-a1", "de-a3", "de-a4")],
        )
        store.close("de-a0", "mayor", reason="merged")
        store.hook("de-a1", "demo/polecats/nux", "mayor")
        store.hook("de-a3", "demo/polecats/ghost", "mayor")
        store.add_comment("de-a1", "Keep the form keyboard-first: Enter submits.", "mayor")
        store.add_comment("de-a1", "Started on the form; the endpoint exists.", "demo/polecats/nux")
        mq.submit(store.db, "demo", "de-a0", "slit", "polecat/slit/de-a0", "1" * 40)
        mq.submit(store.db, "demo", "de-a1", "nux", "polecat/nux/de-a1", "2" * 40)
        failed = mq.submit(store.db, "demo", "de-a3", "ghost", "polecat/ghost/de-a3", "3" * 40)
        mq.finish(store.db, failed.id, "failed", "gate test failed (exit 1)")
        db = store.db
        with transaction(db):
            last = db.execute("SELECT MAX(id) FROM events").fetchone()[0]
            db.execute("UPDATE events SET ts = ? - (? - id) * 60", [FROZEN - 60, last])
            for table, columns in (
                ("issues", ("created_at", "updated_at", "closed_at", "started_at")),
                ("comments", ("created_at",)),
            ):
                for column in columns:
                    db.execute(
                        f"UPDATE {table} SET {column} = ? WHERE {column} IS NOT NULL",
                        [format_ts(int(FROZEN - 3600) * 10**9)],
                    )
            db.execute("UPDATE merge_requests SET created_at = ?, updated_at = ?", [FROZEN - 600, FROZEN - 300])
    yield town
    SessionHost(town).kill_server()


def make_app(town: Town) -> CockpitApp:
    return CockpitApp(
        town, clock=lambda: FROZEN, start_engine=False, start_mayor=False, poll_interval=0.1, snapshot_interval=0.3
    )


async def wait(pilot, predicate, what: str) -> None:
    deadline = time.monotonic() + 30
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def placed(screen: BeadScreen) -> bool:
    """True once the description (its Markdown drawn) is laid out above the acceptance heading."""
    description = screen.query_one("#bead-view-description", MarkdownText)
    heading = screen.query_one("#bead-view-acceptance-heading")
    region = description.region
    return bool(description.source) and region.height > 1 and 0 < region.bottom <= heading.region.y


def test_bead_detail_snapshot(ledger_snap_town: Town, snap_compare) -> None:
    app = make_app(ledger_snap_town)

    async def run_before(pilot) -> None:
        await wait(pilot, lambda: app.main.is_ready and app.snapshot is not None, "the first snapshot")
        app.push_screen(BeadScreen("de-a1"))
        await wait(
            pilot,
            lambda: isinstance(app.screen, BeadScreen) and app.screen.view is not None and placed(app.screen),
            "the bead view",
        )
        await pilot.pause(0.3)
        save_screenshot(app, "bead")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_convoy_detail_snapshot(ledger_snap_town: Town, snap_compare) -> None:
    app = make_app(ledger_snap_town)

    async def run_before(pilot) -> None:
        await wait(pilot, lambda: app.main.is_ready and app.main.query_one(ConvoyList).row_count == 1, "the convoy")
        app.main.query_one(ConvoyList).focus()
        await pilot.press("enter")
        await wait(
            pilot,
            lambda: isinstance(app.screen, ConvoyScreen) and app.screen.convoy is not None and app.screen.reasons,
            "the view with the failed MR's note",
        )
        await pilot.pause(0.3)
        save_screenshot(app, "convoy")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
