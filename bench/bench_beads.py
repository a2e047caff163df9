"""Beads ledger at 10,000 beads: ``ready`` and ``create`` in-process, ``gt bead ready --json`` as a
whole process, plus claim, import, export and the ledger sync.

Reference line in ``case``: beads publishes about 30 ms for ready work and 2.5 ms for create at 10k
issues on an M2 Pro (Go + SQLite); those are another machine's figures, not a same-run baseline.
The whole-process rows use ``gt --version`` (the same interpreter start and imports) as baseline.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.beads import BeadStore, jsonl
from core.beads import sync as ledger_sync
from core.beads.model import Dependency, Issue, format_ts
from core.town import install_town

N = 10_000
GT = str(Path(sys.executable).parent / "gt")


def _ledger(n: int, seed: int = 7) -> list[Issue]:
    """A synthetic town ledger: 60% open, 10% in progress, 30% closed; epics with children; 20% of
    the beads blocked by an earlier one; labels on a third."""
    rng = random.Random(seed)
    base = 1_760_000_000 * 10**9
    issues: list[Issue] = []
    epics: list[str] = []
    for k in range(n):
        stamp = format_ts(base + k * 10**9)
        roll = rng.random()
        status = "open" if roll < 0.6 else "in_progress" if roll < 0.7 else "closed"
        issue = Issue(
            id=f"mp-{k:05d}",
            title=f"bench bead {k}",
            description="x" * rng.randint(0, 400),
            status=status,
            priority=rng.randint(0, 4),
            issue_type="epic" if k % 50 == 0 else "task",
            created_at=stamp,
            updated_at=stamp,
            closed_at=stamp if status == "closed" else None,
            labels=[f"area-{rng.randint(0, 9)}"] if rng.random() < 0.33 else [],
        )
        if k % 50 == 0:
            epics.append(issue.id)
        elif epics and rng.random() < 0.3:
            issue.dependencies.append(Dependency(issue.id, rng.choice(epics), "parent-child", stamp, "bench"))
        if k > 10 and rng.random() < 0.2:
            issue.dependencies.append(Dependency(issue.id, f"mp-{rng.randrange(k):05d}", "blocks", stamp, "bench"))
        issues.append(issue)
    return issues


def _median_ms(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def _process_ms(args: list[str], cwd: Path, env: dict[str, str], repeat: int = 7) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def run() -> list[dict]:
    rows: list[dict] = []

    def row(case: str, value: float, unit: str = "ms", baseline: float | None = None) -> None:
        r = {"benchmark": "beads", "case": case, "value": value, "unit": unit}
        if baseline is not None:
            r["baseline"] = baseline
        rows.append(r)

    with tempfile.TemporaryDirectory() as tmp:
        town, _ = install_town(Path(tmp) / "town")
        issues = _ledger(N)
        with BeadStore(town) as store:
            t = time.perf_counter()
            store.upsert(issues, actor="bench")
            row("import 10k beads (one transaction)", (time.perf_counter() - t) * 1000)
            ready_all = store.ready()
            row(
                f"ready, 10k beads, all {len(ready_all)} ready hydrated (beads: 30 ms, M2 Pro)",
                _median_ms(store.ready, 15),
            )
            row("ready, 10k beads, first 10 (gt bead ready default)", _median_ms(lambda: store.ready(limit=10), 30))
            row("blocked, 10k beads", _median_ms(store.blocked, 5))
            counter = iter(range(10**6))
            row(
                "create, 10k beads, one transaction + event each (beads: 2.5 ms, M2 Pro)",
                _median_ms(
                    lambda: store.create(f"new {next(counter)}", actor="bench", prefix="mp", labels=["bench"]), 300
                ),
            )
            row("ready --claim (claim_next), 10k beads", _median_ms(lambda: store.claim_next("bench/polecats/x"), 100))
            out = Path(tmp) / "export.jsonl"
            row("export JSONL, 10k beads", _median_ms(lambda: jsonl.export(store, out), 3))
            t = time.perf_counter()
            result = ledger_sync.sync(town, store=store)
            row("sync: export + dulwich commit, 10k beads", (time.perf_counter() - t) * 1000)
            assert result.commit
        env = {**os.environ, "GT_LEDGER_SYNC": "off", "BD_ACTOR": "bench"}
        startup = _process_ms([GT, "--version"], town.root, env)
        row(
            "gt bead ready --json, whole process, 10k beads",
            _process_ms([GT, "bead", "ready", "--json"], town.root, env),
            baseline=startup,
        )
        row(
            "gt bead create --json, whole process (sync off)",
            _process_ms([GT, "bead", "create", "cli bead", "--json"], town.root, env),
            baseline=startup,
        )
        env_auto = {**env, "GT_LEDGER_SYNC": "auto"}
        row(
            "gt bead create --json, whole process (auto sync requested)",
            _process_ms([GT, "bead", "create", "cli bead", "--json"], town.root, env_auto),
            baseline=startup,
        )
        deadline = time.monotonic() + 60
        with BeadStore(town) as store:  # let the detached flusher finish before the directory goes
            while store.config_get(ledger_sync.PENDING_KEY) is not None and time.monotonic() < deadline:
                time.sleep(0.2)
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
