"""``gt`` start-up: whole-process time of the commands agents call most, next to ``python -c pass``.

Cases (median of ROUNDS, milliseconds): ``python -c pass`` with the same interpreter (the baseline:
interpreter start and ``site``); ``gt --help``; ``gt bead ready --json``, ``gt prime`` and ``gt status``
in an empty town made with ``gt install``. Each is measured twice: wall time, and CPU time (user +
system, from ``getrusage(RUSAGE_CHILDREN)``), which a busy shared machine disturbs less. The commands
run interleaved, one of each per round, so drift in the machine's load hits all of them alike.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 15
GT = str(Path(sys.executable).parent / "gt")


def _timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run ``argv`` to completion; return (wall ms, child CPU ms). Raises CalledProcessError on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, check=True, capture_output=True)
    wall = (time.perf_counter() - t) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def run() -> list[dict]:
    env = {**os.environ, "GT_LEDGER_SYNC": "off", "BD_ACTOR": "bench"}
    env.pop("GT_TOWN", None)
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "gt --help": [GT, "--help"],
        "gt bead ready --json (empty town)": [GT, "bead", "ready", "--json"],
        "gt prime (empty town, human)": [GT, "prime"],
        "gt status (empty town)": [GT, "status"],
    }
    with tempfile.TemporaryDirectory(prefix="gt-bench-cli-") as tmp:
        subprocess.run([GT, "install", str(Path(tmp) / "town")], env=env, check=True, capture_output=True)
        town = Path(tmp) / "town"
        walls: dict[str, list[float]] = {case: [] for case in cases}
        cpus: dict[str, list[float]] = {case: [] for case in cases}
        for argv in cases.values():  # warm the page cache and the bytecode caches
            _timed(argv, town, env)
        for _ in range(ROUNDS):
            for case, argv in cases.items():
                wall, cpu = _timed(argv, town, env)
                walls[case].append(wall)
                cpus[case].append(cpu)
    wall_base = statistics.median(walls["python -c pass"])
    cpu_base = statistics.median(cpus["python -c pass"])
    rows = [
        {
            "benchmark": "gt start-up (wall)",
            "case": case,
            "value": statistics.median(samples),
            "unit": "ms",
            "baseline": wall_base,
        }
        for case, samples in walls.items()
    ]
    rows += [
        {
            "benchmark": "gt start-up (CPU)",
            "case": case,
            "value": statistics.median(samples),
            "unit": "ms",
            "baseline": cpu_base,
        }
        for case, samples in cpus.items()
    ]
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
