"""Refinery: gate runs and wall time of batch-and-bisect against merging one MR at a time.

Setup per case: a fresh town and rig, 32 MR branches (each adds one file) pushed to the rig's bare
repository and queued; the culprits' files end in ``.bad``. The gate is a real command, a shell script
that sleeps 0.2 s and fails when a ``*.bad`` file is in the tree. The serial reference is the same
refinery with ``max_batch_size = 1`` and no flaky retry (one gate run per MR: 32), measured in the
same run. Every case checks that exactly the culprits failed and everything else merged.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from core.config import edit_toml
from core.db import connect
from core import mq
from core.refinery import Refinery
from core.rigs import add_rig
from core.town import install_town

N_MRS = 32
GATE_SECONDS = 0.2
GATE = f"""\
sleep {GATE_SECONDS}
if ls ./*.bad >/dev/null 2>&1; then echo "culprit change present"; exit 1; fi
echo ok
"""
SCENARIOS = {"1 culprit": {13}, "2 culprits": {5, 22}}
# (label, max_batch_size, retry_flaky)
STRATEGIES = [("batch 4 (defaults)", 4, 1), ("batch 8", 8, 1), ("batch 32, no retry", 32, 0)]
SERIAL = ("serial", 1, 0)


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@b",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@b",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _measure(culprits: set[int], batch: int, retry: int) -> tuple[int, float, int]:
    """Queue 32 MRs and run the refinery until empty. Returns (gate runs, wall seconds, batches)."""
    with tempfile.TemporaryDirectory(prefix="bench-refinery-") as tmp:
        root = Path(tmp)
        src = root / "src"
        src.mkdir()
        _git(src, "init", "-q", "-b", "main")
        (src / "README.md").write_text("# bench\n")
        _git(src, "add", "-A")
        _git(src, "commit", "-q", "-m", "initial")
        town, _ = install_town(root / "town")
        rig = add_rig(town, "bench", str(src))
        gate = root / "gate.sh"
        gate.write_text(GATE)
        with edit_toml(rig.path / "rig.toml") as doc:
            doc["gates"]["check"] = {"cmd": ["sh", str(gate)], "timeout": 30}
            doc["merge_queue"]["max_batch_size"] = batch
            doc["merge_queue"]["retry_flaky"] = retry
        work = root / "work"
        _git(root, "clone", "-q", str(rig.repo_path), str(work))
        base = _git(work, "rev-parse", "HEAD").strip()
        heads = []
        for i in range(N_MRS):
            branch = f"polecat/p{i}/bn-{i}"
            _git(work, "checkout", "-q", "-B", branch, base)
            (work / f"change{i}.{'bad' if i in culprits else 'txt'}").write_text(f"{i}\n")
            _git(work, "add", "-A")
            _git(work, "commit", "-q", "-m", f"change {i}")
            heads.append((branch, _git(work, "rev-parse", "HEAD").strip()))
        _git(work, "push", "-q", "origin", *[f"{b}:refs/heads/{b}" for b, _ in heads])
        db = connect(town.db_path)
        ids = [mq.submit(db, "bench", f"bn-{i}", f"p{i}", b, h, base, 2).id for i, (b, h) in enumerate(heads)]
        started = time.perf_counter()
        results = Refinery(town, rig, db).process_all()
        wall = time.perf_counter() - started
        failed = [m for r in results for m in r.failed]
        merged = [m for r in results for m in r.merged]
        assert failed == [ids[i] for i in sorted(culprits)], failed
        assert len(merged) == N_MRS - len(culprits)
        return sum(r.gate_runs for r in results), wall, len(results)


def run() -> list[dict]:
    rows = []
    for scenario, culprits in SCENARIOS.items():
        serial_runs, serial_wall, _ = _measure(culprits, SERIAL[1], SERIAL[2])
        rows.append(
            {
                "benchmark": "refinery gate runs",
                "case": f"{scenario}: serial (one MR at a time)",
                "value": serial_runs,
                "unit": "runs",
            }
        )
        rows.append(
            {
                "benchmark": "refinery wall",
                "case": f"{scenario}: serial (one MR at a time)",
                "value": serial_wall,
                "unit": "s",
            }
        )
        for label, batch, retry in STRATEGIES:
            runs, wall, batches = _measure(culprits, batch, retry)
            case = f"{scenario}: {label}, {batches} batches"
            rows.append(
                {
                    "benchmark": "refinery gate runs",
                    "case": case,
                    "value": runs,
                    "unit": "runs",
                    "baseline": serial_runs,
                }
            )
            rows.append(
                {"benchmark": "refinery wall", "case": case, "value": wall, "unit": "s", "baseline": serial_wall}
            )
    return rows
