"""The detail views (issue 21, part 3): key press to the view drawn with its data, median and p95 over
the rounds, against the help screen (``?``) opened the same way in the same run (the baseline: a
screen pushed and drawn, with no data to read).

The cockpit runs in-process under Textual's headless driver (``App.run_test`` at 160x50, engine off),
on a real town: polecat ``nux`` with a worktree whose diff against its base is 40 files of 50 lines
(about 70 KB) plus a 256 KB transcript, and merge request ``mr-2`` that the real refinery failed with
a gate printing 2,000 lines. A round presses the key (``d`` on the agents panel, ``enter`` on the
refinery queue, ``?``), waits until the view holds its data (the thread worker's git, SQLite and log
reads done) and one more refresh, then ``escape`` goes back. ``BENCH_DETAIL_ROUNDS`` sets the rounds
(default 20).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROUNDS = int(os.environ.get("BENCH_DETAIL_ROUNDS", "20"))
GATE = """\
if ls ./*.bad >/dev/null 2>&1; then
  i=0; while [ $i -lt 2000 ]; do echo "test_$i ... ok"; i=$((i+1)); done
  echo "FAILED tests/test_cache.py::test_ttl - assert 2 == 1"; exit 1
fi
"""


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b"}
    env["GIT_COMMITTER_EMAIL"] = "b@b"
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _town(tmp: Path):
    """The town described in the module docstring."""
    from core import mq, polecats
    from core.beads.store import BeadStore
    from core.config import edit_toml
    from core.db import connect
    from core.refinery import Refinery
    from core.rigs import add_rig
    from core.sessions import SessionHost
    from core.town import install_town

    town, _ = install_town(tmp / "town")
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
    return town


async def _rounds(town) -> dict[str, list[float]]:
    from gastown_tui.app import CockpitApp
    from gastown_tui.screens.help import HelpScreen
    from gastown_tui.screens.merge_request import MergeRequestScreen
    from gastown_tui.screens.polecat import PolecatScreen
    from widgets.agents import AgentsTree
    from widgets.refinery import RefineryQueue

    app = CockpitApp(town, start_engine=False, start_mayor=False, poll_interval=0.1, snapshot_interval=0.5)
    out: dict[str, list[float]] = {"help": [], "polecat": [], "merge_request": []}
    async with app.run_test(size=(160, 50)) as pilot:
        deadline = time.monotonic() + 60
        while not (app.main.is_ready and app.snapshot and app.snapshot.agent("demo/nux") and app.snapshot.mrs):
            assert time.monotonic() < deadline, "the cockpit did not show the town"
            await pilot.pause(0.05)
        main = app.main
        tree, queue = main.query_one(AgentsTree), main.query_one(RefineryQueue)

        async def one(probe: str, key: str, done) -> None:
            if probe == "merge_request":
                queue.focus()
                queue.move_cursor(row=queue.get_row_index("mr-2"))
            else:
                main.select_agent("demo/nux")
                tree.focus()
            await pilot.pause()
            started = time.perf_counter()
            await pilot.press(key)
            while not done():
                await pilot.pause(0)
            await pilot.pause()
            out[probe].append(time.perf_counter() - started)
            await pilot.press("escape")
            while app.screen is not main:
                await pilot.pause(0)

        for _ in range(ROUNDS):
            await one("help", "question_mark", lambda: isinstance(app.screen, HelpScreen))
            await one("polecat", "d", lambda: isinstance(app.screen, PolecatScreen) and app.screen.detail is not None)
            await one(
                "merge_request",
                "enter",
                lambda: isinstance(app.screen, MergeRequestScreen) and app.screen.detail is not None,
            )
    return out


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def run() -> list[dict]:
    """Rows: median and p95 (ms) of each detail view's key to screen, the help screen's as baseline."""
    from core.sessions import SessionHost

    with tempfile.TemporaryDirectory(prefix="bench-detail-") as tmp:
        town = _town(Path(tmp))
        try:
            samples = asyncio.run(_rounds(town))
        finally:
            SessionHost(town).kill_server()
    rows = []
    base = samples["help"]
    for probe, key in (("polecat", "d"), ("merge_request", "enter")):
        for stat, fn in (("median", statistics.median), ("p95", _p95)):
            rows.append(
                {
                    "benchmark": "detail views",
                    "case": f"{probe} detail ({key}): key to screen, {stat} ({len(samples[probe])} rounds)",
                    "value": fn(samples[probe]) * 1000,
                    "unit": "ms",
                    "baseline": fn(base) * 1000,
                }
            )
    return rows
