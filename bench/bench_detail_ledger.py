"""Key to screen for the ledger's detail views (issue 21 "Done when": key-to-screen p95 for the detail
screens): ``enter`` on a ready bead until its view shows the bead, ``enter`` on a convoy until its
view lists the tracked beads, against the problems view measured in the same run as the baseline
(``p``: a new screen with a table and a footer each time too, filled from the snapshot in memory,
so the ratio is the cost of the view's read and its widgets); the help screen (installed once,
only drawn again) is listed as the floor.

The cockpit runs in-process under Textual's headless driver (``App.run_test``, 160x50, no engine, no
Mayor), on a town with 60 ready beads; the bead has a 4 KB Markdown description, 20 dependencies
each way (its blockers closed, so it is ready), 30 comments and its history (8 sections with a code
fence each: about 100 widgets); the "small bead" case has one paragraph and one fence, as agents
usually write them; the convoy tracks 40 beads, each with a merge request. Each round presses the key, polls (every 2 ms) until the view holds what it read (the bead read in a
worker thread from SQLite, then the Markdown blocks mounted; the convoy's rows filled), then presses
escape and waits for the main screen. The figure includes the worker's SQLite read and the widget
updates, not a terminal's drawing (``bench_cockpit`` measures through a real pty).

Smaller runs: ``BENCH_DETAIL_ROUNDS`` (default 20).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from core import mq
from core.beads.store import BeadStore
from core.config import edit_toml
from core.rigs import add_rig
from core.town import Town, install_town

ROUNDS = int(os.environ.get("BENCH_DETAIL_ROUNDS", 20))
PARAGRAPH = "The login form posts to `/api/session`; a *wrong* password shows the error under the field. " * 3
#: A bead as agents usually write one: a paragraph and the step the sim agent runs.
SMALL = f"{PARAGRAPH}\n\n```sh\nnpm test -- login\n```\n"
DESCRIPTION = "\n\n".join(
    [f"## Part {n}\n\n{PARAGRAPH}\n\n- step one\n- step **two**\n\n```sh\necho part {n}\n```" for n in range(8)]
)


def _town(root: Path) -> Town:
    import subprocess

    town, _ = install_town(root / "town")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    src = root / "src"
    src.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"}
    env["GIT_COMMITTER_EMAIL"] = "b@b"
    for args in (["init", "-q", "-b", "main"], ["commit", "-q", "--allow-empty", "-m", "init"]):
        subprocess.run(["git", *args], cwd=src, env=env, check=True)
    add_rig(town, "demo", str(src), prefix="de")
    with BeadStore(town) as store:
        with store.transaction():
            store.create("Viewed bead", actor="bench", id="de-view", description=DESCRIPTION, labels=["ui"])
            store.create("Small bead", actor="bench", id="de-small", description=SMALL, labels=["ui"])
            for n in range(20):
                store.create(f"Blocker {n}", actor="bench", id=f"de-up{n}")
                store.add_dependency("de-view", f"de-up{n}", "blocks", actor="bench")
                store.close(f"de-up{n}", "bench", reason="done")  # closed blockers: the bead stays ready
                store.create(f"Waiting {n}", actor="bench", id=f"de-down{n}", deps=["de-view"])
            for n in range(30):
                store.add_comment("de-view", f"comment {n}: looks **fine** so far", "bench")
            for n in range(60):
                store.create(f"Ready {n}", actor="bench", id=f"de-r{n:02}", priority=0)
            tracked = [f"de-t{n:02}" for n in range(40)]
            for bead in tracked:
                store.create(f"Tracked {bead}", actor="bench", id=bead)
                mq.submit(store.db, "demo", bead, "nux", f"polecat/nux/{bead}", "1" * 40)
            store.create(
                "Big convoy", actor="bench", id="hq-cv-big", issue_type="convoy", deps=[(b, "tracks") for b in tracked]
            )
    return town


async def _rounds(app, pilot, key: str, shown: Callable[[], bool], back: Callable[[], bool]) -> list[float]:
    out = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        await pilot.press(key)
        deadline = t0 + 10
        while not shown():
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{key}: the view did not show")
            await asyncio.sleep(0.002)
        out.append(time.perf_counter() - t0)
        await pilot.press("escape")
        while not back():
            await asyncio.sleep(0.002)
        await pilot.pause(0.05)
    return out


async def _measure(town: Town) -> dict[str, list[float]]:
    from textual.widgets._markdown import MarkdownBlock

    from gastown_tui.app import CockpitApp
    from gastown_tui.screens.bead import BeadScreen
    from gastown_tui.screens.convoy import ConvoyScreen
    from gastown_tui.screens.help import HelpScreen
    from gastown_tui.screens.problems import ProblemsScreen
    from widgets.beads import ReadyBeads
    from widgets.convoys import ConvoyList

    app = CockpitApp(town, start_engine=False, start_mayor=False, poll_interval=0.1, snapshot_interval=1.0)
    async with app.run_test(size=(160, 50)) as pilot:
        while not (app.main.is_ready and app.snapshot and app.main.query_one(ReadyBeads).row_count >= 60):
            await pilot.pause(0.05)
        ready = app.main.query_one(ReadyBeads)
        convoys = app.main.query_one(ConvoyList)
        on_main = lambda: app.screen is app.main  # noqa: E731
        got = {"help": await _rounds(app, pilot, "question_mark", lambda: isinstance(app.screen, HelpScreen), on_main)}
        got["problems"] = await _rounds(app, pilot, "p", lambda: isinstance(app.screen, ProblemsScreen), on_main)

        def bead_shown() -> bool:
            s = app.screen
            return isinstance(s, BeadScreen) and s.view is not None and bool(s.query(MarkdownBlock))

        ready.focus()
        ready.move_cursor(row=ready.get_row_index("de-view"))
        got["bead"] = await _rounds(app, pilot, "enter", bead_shown, on_main)
        ready.move_cursor(row=ready.get_row_index("de-small"))
        got["small bead"] = await _rounds(app, pilot, "enter", bead_shown, on_main)

        def convoy_shown() -> bool:
            s = app.screen
            return isinstance(s, ConvoyScreen) and s.convoy is not None and s.query_one("#convoy-beads").row_count == 40

        convoys.focus()
        got["convoy"] = await _rounds(app, pilot, "enter", convoy_shown, on_main)
    return got


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def run() -> list[dict]:
    """Rows: bead and convoy view, median and p95 in ms, each with the problems view's figure as its
    baseline; the help screen's as the floor."""
    os.environ.setdefault("GT_LEDGER_SYNC", "off")
    with tempfile.TemporaryDirectory(prefix="bench-detail-") as tmp:
        town = _town(Path(tmp))
        got = asyncio.run(_measure(town))
    rows = []
    base = {"median": statistics.median(got["problems"]) * 1000, "p95": _p95(got["problems"]) * 1000}
    for view in ("bead", "small bead", "convoy", "help"):
        for stat, value in (("median", statistics.median(got[view])), ("p95", _p95(got[view]))):
            rows.append(
                {
                    "benchmark": "detail view key to screen",
                    "case": f"{view} {'screen (floor)' if view == 'help' else 'view'}, {stat} (baseline: problems)",
                    "value": value * 1000,
                    "unit": "ms",
                    "baseline": base[stat],
                }
            )
    return rows
