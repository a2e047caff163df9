"""Key to screen for every detail view (issue 21 "Done when": ``make bench`` reports key-to-screen p95
for the detail screens): the polecat, the merge request, the bead (a big one and a small one), the
convoy and the mail inbox, each against the help screen (``?``) opened the same way in the same run,
the baseline: a screen pushed and drawn, with no data to read.

One in-process harness: the cockpit runs under Textual's headless driver (``App.run_test`` at 160x50,
no engine, no Mayor) on one real town (SQLite, git, the real refinery):

- polecat ``nux`` with a worktree whose diff against its base is 40 files of 50 lines (about 70 KB)
  and a 256 KB transcript;
- merge request ``mr-2``, failed by the real refinery with a gate printing 2,000 lines;
- the big bead: a 4 KB Markdown description (8 sections, a code fence each), 20 dependencies each
  way (its blockers closed, so it is ready), 30 comments and its history; the small bead: one
  paragraph and one fence, as agents usually write them; 60 more ready beads;
- a convoy tracking 40 beads, each with a merge request;
- the Mayor's inbox with 30 messages.

A round opens each view once, in turn (help first, then each detail view; the big and the small bead
alternate on the bead view): it presses the key (``?``; ``d`` on the agents panel; ``enter`` on the
refinery queue, the ready list and the convoys; ``m``), polls until the view holds what it read (the
worker's git, SQLite and log reads done and shown: the diff's lines, the gate log, the bead's
description, the convoy's 40 rows, the inbox's rows) and one more refresh, then presses ``escape``
and waits for the main screen. Rows: wall-clock median and p95 per view, and the process's CPU time
per open (median: the figure to trust on a shared machine; it counts the worker threads and the
cockpit's own poller too). ``BENCH_DETAIL_ROUNDS`` sets the rounds (default 20).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROUNDS = int(os.environ.get("BENCH_DETAIL_ROUNDS", "20"))
GATE = """\
if ls ./*.bad >/dev/null 2>&1; then
  i=0; while [ $i -lt 2000 ]; do echo "test_$i ... ok"; i=$((i+1)); done
  echo "FAILED tests/test_cache.py::test_ttl - assert 2 == 1"; exit 1
fi
"""
PARAGRAPH = "The login form posts to `/api/session`; a *wrong* password shows the error under the field. " * 3
#: A bead as agents usually write one: a paragraph and the step the sim agent runs.
SMALL = f"{PARAGRAPH}\n\n```sh\nnpm test -- login\n```\n"
DESCRIPTION = "\n\n".join(
    [f"## Part {n}\n\n{PARAGRAPH}\n\n- step one\n- step **two**\n\n```sh\necho part {n}\n```" for n in range(8)]
)
#: Views measured, in the order a round opens them (the baseline first).
VIEWS = ("help", "polecat", "merge request", "bead", "small bead", "convoy", "mail inbox")
#: Messages in the Mayor's inbox.
MAIL = 30
#: Beads the convoy tracks.
TRACKED = 40


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"}
    env["GIT_COMMITTER_EMAIL"] = "b@b"
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _town(tmp: Path):
    """The town described in the module docstring."""
    from core import mail, mq, polecats
    from core.beads.store import BeadStore
    from core.config import edit_toml
    from core.db import connect
    from core.refinery import Refinery
    from core.rigs import add_rig
    from core.sessions import SessionHost
    from core.town import install_town

    town, _ = install_town(tmp / "town")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    src = tmp / "src"
    src.mkdir()
    (src / "README.md").write_text("# bench\n")
    _git(src, "init", "-q", "-b", "main")
    _git(src, "add", "-A")
    _git(src, "commit", "-qm", "init")
    rig = add_rig(town, "demo", str(src), prefix="de")
    (tmp / "gate.sh").write_text(GATE)
    with edit_toml(rig.path / "rig.toml") as doc:
        doc["gates"]["test"] = {"cmd": ["sh", str(tmp / "gate.sh")], "timeout": 60}
    # the polecat: a worktree with forty modules committed, a transcript
    tree = rig.polecats_dir / "nux"
    _git(rig.repo_path, "worktree", "add", "-q", "-b", "polecat/nux/de-1", str(tree), "main")
    for n in range(40):
        (tree / f"mod{n}.py").write_text("".join(f"value_{i} = {i} * {n}\n" for i in range(50)))
    _git(tree, "add", "-A")
    _git(tree, "commit", "-qm", "Add forty modules")
    with BeadStore(town) as store:
        store.create("Bench work", actor="mayor", id="de-1")
        store.hook("de-1", "demo/polecats/nux", "mayor")
        polecats.upsert(
            store.db, "demo", "nux", state="working", hook_bead="de-1", session="demo-nux",
            branch="polecat/nux/de-1", worktree=str(tree), agent="sim",
        )  # fmt: skip
    log = SessionHost(town).log_path("demo-nux")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"".join(b"\x1b[1mstep\x1b[0m %d: working on the hook\r\n" % i for i in range(8000))[-256 * 1024 :])
    # the merge requests: mr-1 merges, mr-2 fails its gate (2,000 lines of output)
    work = tmp / "work"
    _git(tmp, "clone", "-q", str(rig.repo_path), str(work))
    db = connect(town.db_path)
    base = _git(work, "rev-parse", "HEAD").strip()
    for name, files in (("a", {"a.txt": "a\n"}), ("c", {"c.bad": "x\n"})):
        branch = f"polecat/{name}/de-{name}"
        _git(work, "checkout", "-q", "-B", branch, base)
        for path, text in files.items():
            (work / path).write_text(text)
        _git(work, "add", "-A")
        _git(work, "commit", "-qm", f"work of {name}")
        _git(work, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        mq.submit(db, "demo", f"de-{name}", name, branch, _git(work, "rev-parse", "HEAD").strip(), base)
    Refinery(town, "demo", db).process_once()
    assert mq.get(db, "mr-2").status == "failed"
    db.conn.close()
    # the ledger: the big and the small bead, the ready beads, the convoy, the inbox
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
            tracked = [f"de-t{n:02}" for n in range(TRACKED)]
            for bead in tracked:
                store.create(f"Tracked {bead}", actor="bench", id=bead)
                mq.submit(store.db, "demo", bead, "nux", f"polecat/nux/{bead}", "1" * 40)
            store.create(
                "Big convoy", actor="bench", id="hq-cv-big", issue_type="convoy", deps=[(b, "tracks") for b in tracked]
            )
    for n in range(MAIL):
        mail.send(town, "mayor/", f"Report {n}: the login form", f"Line one of {n}\nline two", "demo/witness")
    return town


async def _measure(town) -> dict[str, tuple[list[float], list[float]]]:
    """(wall seconds, process CPU seconds) of each open, by view (:data:`VIEWS`)."""
    from gastown_tui.app import CockpitApp
    from gastown_tui.screens.bead import BeadScreen, MarkdownText
    from gastown_tui.screens.convoy import ConvoyScreen
    from gastown_tui.screens.help import HelpScreen
    from gastown_tui.screens.mail import MailScreen
    from gastown_tui.screens.merge_request import MergeRequestScreen
    from gastown_tui.screens.polecat import PolecatScreen
    from widgets.agents import AgentsTree
    from widgets.beads import ReadyBeads
    from widgets.convoys import ConvoyList
    from widgets.refinery import RefineryQueue
    from widgets.text_lines import TextLines

    app = CockpitApp(town, start_engine=False, start_mayor=False, poll_interval=0.1, snapshot_interval=1.0)
    got: dict[str, tuple[list[float], list[float]]] = {view: ([], []) for view in VIEWS}
    async with app.run_test(size=(160, 50)) as pilot:
        main = app.main
        tree, queue = main.query_one(AgentsTree), main.query_one(RefineryQueue)
        ready, convoys = main.query_one(ReadyBeads), main.query_one(ConvoyList)
        deadline = time.monotonic() + 60
        while not (
            main.is_ready
            and app.snapshot
            and app.snapshot.agent("demo/nux")
            and "mr-2" in queue.rows
            and "de-view" in ready.rows
            and "de-small" in ready.rows
            and convoys.row_count
        ):
            assert time.monotonic() < deadline, "the cockpit did not show the town"
            await pilot.pause(0.05)

        def polecat() -> bool:
            s = app.screen
            return isinstance(s, PolecatScreen) and s.detail is not None and bool(s.query_one(TextLines).lines)

        def merge_request() -> bool:
            s = app.screen
            return isinstance(s, MergeRequestScreen) and s.detail is not None and bool(s.query_one(TextLines).lines)

        def bead(which: str) -> Callable[[], bool]:
            def shown() -> bool:
                s = app.screen
                return (
                    isinstance(s, BeadScreen)
                    and s.view is not None
                    and s.view.issue.id == which
                    and bool(s.query_one("#bead-view-description", MarkdownText).source)
                )

            return shown

        def convoy() -> bool:
            s = app.screen
            return isinstance(s, ConvoyScreen) and s.convoy is not None and s.query_one("#convoy-beads").row_count == 40

        def inbox() -> bool:
            s = app.screen
            return isinstance(s, MailScreen) and len(s.messages) >= MAIL and s.query_one("#inbox").row_count >= MAIL

        def on(widget, row: str | None = None) -> Callable[[], None]:
            def focus() -> None:
                if widget is tree:
                    main.select_agent("demo/nux")
                widget.focus()
                if row is not None:
                    widget.move_cursor(row=widget.get_row_index(row))

            return focus

        probes = (
            ("help", on(tree), "question_mark", lambda: isinstance(app.screen, HelpScreen)),
            ("polecat", on(tree), "d", polecat),
            ("merge request", on(queue, "mr-2"), "enter", merge_request),
            ("bead", on(ready, "de-view"), "enter", bead("de-view")),
            ("small bead", on(ready, "de-small"), "enter", bead("de-small")),
            ("convoy", on(convoys), "enter", convoy),
            ("mail inbox", on(tree), "m", inbox),
        )
        for _ in range(ROUNDS):
            for view, focus, key, shown in probes:
                focus()
                await pilot.pause()
                wall, cpu = time.perf_counter(), time.process_time()
                await pilot.press(key)
                limit = wall + 30
                while not shown():
                    if time.perf_counter() > limit:
                        raise RuntimeError(f"{view}: the view did not show")
                    await asyncio.sleep(0.002)
                await pilot.pause()  # drawn with its data
                got[view][0].append(time.perf_counter() - wall)
                got[view][1].append(time.process_time() - cpu)
                await pilot.press("escape")
                while app.screen is not main:
                    await asyncio.sleep(0.002)
                await pilot.pause(0.05)
    return got


def _p95(samples: list[float]) -> float:
    """The nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def run() -> list[dict]:
    """Rows per detail view: key to screen median and p95 (ms), and CPU per open (median, ms), each
    with the help screen's same figure as its baseline."""
    from core.sessions import SessionHost

    os.environ.setdefault("GT_LEDGER_SYNC", "off")
    with tempfile.TemporaryDirectory(prefix="bench-detail-") as tmp:
        town = _town(Path(tmp))
        try:
            got = asyncio.run(_measure(town))
        finally:
            SessionHost(town).kill_server()
    wall, cpu = got["help"]
    base = {"median": statistics.median(wall), "p95": _p95(wall), "cpu": statistics.median(cpu)}
    rows = []
    for view in VIEWS[1:]:
        wall, cpu = got[view]
        figures = (
            ("key to screen, median", statistics.median(wall), "median"),
            ("key to screen, p95", _p95(wall), "p95"),
            ("CPU per open, median", statistics.median(cpu), "cpu"),
        )
        for what, value, stat in figures:
            rows.append(
                {
                    "benchmark": "detail views (baseline: help screen)",
                    "case": f"{view}: {what} ({len(wall)} rounds)",
                    "value": value * 1000,
                    "unit": "ms",
                    "baseline": base[stat] * 1000,
                }
            )
    return rows
