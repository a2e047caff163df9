"""Sling latency on a 3,000-file repository: bead to session running, next to ``git worktree add`` alone.

Cases (median of ROUNDS, milliseconds, each measured while no sim is working; the four kinds run
interleaved, one of each per round, so drift in the machine's load hits all alike): ``git worktree
add -b`` on the rig's bare repository (the baseline); ``Slinger.sling`` in-process to a new polecat
(claim, worktree, context files, tmux session started with the sim agent) and to an idle polecat whose
worktree is reused (a branch switch instead of a new worktree); ``gt sling`` as a whole process to a new
polecat (adds interpreter start-up and imports; issue 19's goal: <= 1.5x the baseline), also as CPU
time (user + system of ``gt`` and the git and tmux processes it waits for, from
``getrusage(RUSAGE_CHILDREN)``; the agent runs under the tmux server and is not counted) against the
baseline's, which a busy shared machine disturbs less; and that wall time split where its ``git
worktree add`` starts and exits (from ``GIT_TRACE2_EVENT``): before it (interpreter, imports, claim),
the add itself, and after it (context files, tmux session, waiting for the agent to take its prompt;
each part is its own median, so the three need not add up to the whole's).

The code is byte-compiled first, as an installed package is (pip compiles at install; an editable
install under ``PYTHONDONTWRITEBYTECODE`` would compile every module at every ``gt`` and sim start).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from core import polecats
from core.beads.store import BeadStore
from core.rigs import add_rig
from core.sessions import SessionHost
from core.sling import Slinger
from core.town import install_town

FILES = 3000
ROUNDS = 11
GOAL = 1.5  # issue 19: gt sling, whole process, <= 1.5x git worktree add


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


def _children_cpu() -> float:
    """Seconds of CPU (user + system) of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _worktree_add_span(trace: Path) -> tuple[float, float]:
    """(start, exit) as Unix seconds of the ``git worktree add`` a GIT_TRACE2_EVENT file recorded
    (git's own ``time`` fields, UTC)."""
    start = end = None
    for line in trace.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "start" and event["argv"][1:3] == ["worktree", "add"]:
            sid, start = event["sid"], datetime.fromisoformat(event["time"]).timestamp()
        elif start is not None and event.get("event") == "exit" and event["sid"] == sid:
            end = datetime.fromisoformat(event["time"]).timestamp()
            break
    assert start is not None and end is not None, f"no git worktree add in {trace}"
    return start, end


def run() -> list[dict]:
    # byte-compiled as an installed package is (see the module docstring)
    here = Path(__file__).resolve().parents[1]
    packages = [str(here / p) for p in ("core", "gastown_tui")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True, capture_output=True)
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
        baseline_cpu, whole_cpu, before_add, add, after_add = [], [], [], [], []

        def quiet() -> None:
            """Wait until every sim has finished (all polecats idle), so rounds do not overlap."""
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and polecats.count_busy(store.db):
                time.sleep(0.2)
            time.sleep(0.3)

        for i in range(ROUNDS):
            quiet()
            c0, t0 = _children_cpu(), time.perf_counter()
            subprocess.run(
                ["git", "worktree", "add", "-q", "-b", f"bench/{i}", str(root / f"wt{i}"), "main"],
                cwd=rig.repo_path,
                check=True,
                capture_output=True,
            )
            baseline.append(time.perf_counter() - t0)
            baseline_cpu.append(_children_cpu() - c0)
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
            trace = root / f"trace{i}.json"
            c0, t0, wall0 = _children_cpu(), time.perf_counter(), time.time()
            subprocess.run(
                [gt, "sling", bead, "big", "--agent", "sim", "--polecat", f"cli{i}", "--no-convoy"],
                cwd=town.root,
                env={**env, "GIT_TRACE2_EVENT": str(trace)},
                check=True,
                capture_output=True,
            )
            whole.append(time.perf_counter() - t0)
            whole_cpu.append(_children_cpu() - c0)
            wall1 = wall0 + whole[-1]
            add_start, add_end = _worktree_add_span(trace)
            before_add.append(add_start - wall0)
            add.append(add_end - add_start)
            after_add.append(wall1 - add_end)
        store.disconnect()
        base = statistics.median(baseline) * 1000
        base_cpu = statistics.median(baseline_cpu) * 1000

        def row(case: str, values: list[float], baseline: float = base) -> dict:
            return {
                "benchmark": "sling (3,000 files)",
                "case": case,
                "value": statistics.median(values) * 1000,
                "unit": "ms",
                "baseline": baseline,
            }

        return [
            row("git worktree add alone", baseline),
            row("Slinger.sling, new worktree, to session running", fresh),
            row("Slinger.sling, idle polecat reused", reuse),
            row(f"gt sling process, new worktree, goal <= {GOAL}x", whole),
            row("gt sling process, CPU vs git worktree add's CPU", whole_cpu, base_cpu),
            row("  gt sling: before its git worktree add starts", before_add),
            row("  gt sling: its git worktree add", add),
            row("  gt sling: after it (context, tmux, agent's prompt)", after_add),
        ]
    finally:
        if town is not None:
            SessionHost(town).kill_server()
        shutil.rmtree(root, ignore_errors=True)
