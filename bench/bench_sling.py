"""Sling latency on a 3,000-file repository: bead to session running, next to ``git worktree add`` alone.

Cases (median of ROUNDS, milliseconds, each measured while no sim is working): ``git worktree add -b``
on the rig's bare repository (the baseline); ``Slinger.sling`` in-process to a new polecat (claim,
worktree, context files, tmux session started with the sim agent) and to an idle polecat whose worktree
is reused (a branch switch instead of a new worktree); ``gt sling`` as a whole process to a new polecat
(adds interpreter start-up and imports).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core import polecats
from core.beads.store import BeadStore
from core.rigs import add_rig
from core.sessions import SessionHost
from core.sling import Slinger
from core.town import install_town

FILES = 3000
ROUNDS = 7


def _make_repo(path: Path) -> None:
    path.mkdir(parents=True)
    for i in range(FILES):
        d = path / f"pkg{i // 100:02d}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i:04d}.py").write_text(f"VALUE = {i}\n" + "# filler line\n" * 20)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "3000 files"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True)


def run() -> list[dict]:
    root = Path(tempfile.mkdtemp(prefix="gt-bench-sling-"))
    town = None
    try:
        _make_repo(root / "src")
        town, _ = install_town(root / "town")
        town.config_path.write_text(
            town.config_path.read_text()
            .replace("max_polecats = 8", "max_polecats = 100")
            .replace("max_polecats_per_rig = 4", "max_polecats_per_rig = 100")
        )
        town.reload()
        rig = add_rig(town, "big", str(root / "src"))
        store = BeadStore(town)
        slinger = Slinger(town, store=store, actor="bench")
        env = {**os.environ, "GT_LEDGER_SYNC": "off", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        os.environ["GT_LEDGER_SYNC"] = "off"
        gt = str(Path(sys.executable).parent / "gt")
        baseline, fresh, reuse, whole = [], [], [], []

        def quiet() -> None:
            """Wait until every sim has finished (all polecats idle), so rounds do not overlap."""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and polecats.count_busy(store.db):
                time.sleep(0.2)
            time.sleep(0.3)

        for i in range(ROUNDS):
            quiet()
            t0 = time.perf_counter()
            subprocess.run(
                ["git", "worktree", "add", "-q", "-b", f"bench/{i}", str(root / f"wt{i}"), "main"],
                cwd=rig.repo_path,
                check=True,
                capture_output=True,
            )
            baseline.append(time.perf_counter() - t0)
            quiet()
            bead = store.create(f"bench bead {i}", actor="bench", prefix=rig.prefix).id
            t0 = time.perf_counter()
            slinger.sling(bead, "big", agent="sim", polecat=f"fresh{i}", convoy=False)
            fresh.append(time.perf_counter() - t0)
            quiet()
            bead = store.create(f"bench bead reuse {i}", actor="bench", prefix=rig.prefix).id
            t0 = time.perf_counter()
            slinger.sling(bead, "big", agent="sim", polecat=f"fresh{i}", convoy=False)
            reuse.append(time.perf_counter() - t0)
            quiet()
            bead = store.create(f"bench bead cli {i}", actor="bench", prefix=rig.prefix).id
            t0 = time.perf_counter()
            subprocess.run(
                [gt, "sling", bead, "big", "--agent", "sim", "--polecat", f"cli{i}", "--no-convoy"],
                cwd=town.root,
                env=env,
                check=True,
                capture_output=True,
            )
            whole.append(time.perf_counter() - t0)
        store.disconnect()
        base = statistics.median(baseline) * 1000
        return [
            {
                "benchmark": "sling (3,000 files)",
                "case": "git worktree add alone",
                "value": base,
                "unit": "ms",
                "baseline": base,
            },
            {
                "benchmark": "sling (3,000 files)",
                "case": "Slinger.sling, new worktree, to session running",
                "value": statistics.median(fresh) * 1000,
                "unit": "ms",
                "baseline": base,
            },
            {
                "benchmark": "sling (3,000 files)",
                "case": "Slinger.sling, idle polecat reused",
                "value": statistics.median(reuse) * 1000,
                "unit": "ms",
                "baseline": base,
            },
            {
                "benchmark": "sling (3,000 files)",
                "case": "gt sling process, new worktree, goal <= 1.5x",
                "value": statistics.median(whole) * 1000,
                "unit": "ms",
                "baseline": base,
            },
        ]
    finally:
        if town is not None:
            SessionHost(town).kill_server()
        shutil.rmtree(root, ignore_errors=True)
