"""Claims under contention: many real processes claiming from one town database at once.

Each worker is a separate Python process with its own SQLite connection. Half of them take work with
``ready --claim`` (claim_next: the ready query and the claim in one BEGIN IMMEDIATE transaction), the
other half race on explicit ids with ``claim`` (the compare-and-swap UPDATE) and count their losses.
Every bead must end up claimed exactly once, by the worker that reported it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.beads import BeadStore
from core.beads.model import Issue, format_ts

WORKER = textwrap.dedent("""
    import json, random, sys
    from core.beads import BeadStore
    from core.errors import Conflict

    db_path, actor, mode, ids_file = sys.argv[1:5]
    store = BeadStore.open(db_path)
    got, lost = [], 0
    if mode == "cas":
        ids = json.load(open(ids_file))
        random.Random(actor).shuffle(ids)
        for bead in ids:
            try:
                issue = store.claim(bead, actor)
            except Conflict:
                lost += 1
                continue
            assert issue.assignee == actor and issue.status == "in_progress"
            got.append(bead)
    while True:
        issue = store.claim_next(actor)
        if issue is None:
            break
        got.append(issue.id)
    print(json.dumps({"actor": actor, "claimed": got, "lost": lost}))
""")


def _seed(store: BeadStore, n: int) -> list[str]:
    """n ready beads, written in one transaction through the bulk path (fast, like an import)."""
    base = 1_700_000_000 * 10**9
    issues = [
        Issue(
            id=f"cc-{i:05d}",
            title=f"work item {i}",
            priority=i % 5,
            created_at=format_ts(base + i * 1000),
            updated_at=format_ts(base + i * 1000),
        )
        for i in range(n)
    ]
    store.upsert(issues)
    return [i.id for i in issues]


def _run_claimers(tmp_path: Path, db: Path, ids: list[str], workers: int) -> list[dict]:
    ids_file = tmp_path / "ids.json"
    ids_file.write_text(json.dumps(ids))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(db), f"rig/polecats/w{k:02d}", "cas" if k % 2 else "next", str(ids_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(workers)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    return results


def _check_exactly_once(store: BeadStore, ids: list[str], results: list[dict]) -> None:
    claimed = [b for r in results for b in r["claimed"]]
    assert len(claimed) == len(set(claimed)), "a bead was claimed twice"
    assert sorted(claimed) == sorted(ids), "a bead was never claimed"
    owner = {b: r["actor"] for r in results for b in r["claimed"]}
    rows = store.db.execute("SELECT id, status, assignee FROM issues").fetchall()
    assert all(status == "in_progress" and owner[i] == assignee for i, status, assignee in rows)
    events = store.db.execute("SELECT bead, actor FROM events WHERE type = 'claimed'").fetchall()
    assert sorted(events) == sorted(owner.items()), "one claimed event per bead, by its owner"
    assert store.ready() == []


def test_30_processes_claim_2000_beads_each_exactly_once(tmp_path: Path) -> None:
    db = tmp_path / "town.db"
    with BeadStore.open(db) as store:
        ids = _seed(store, 2000)
    started = time.monotonic()
    results = _run_claimers(tmp_path, db, ids, workers=30)
    elapsed = time.monotonic() - started
    with BeadStore.open(db) as store:
        _check_exactly_once(store, ids, results)
    # both paths really competed: CAS workers lost races, ready --claim workers won some beads
    assert sum(r["lost"] for r in results) > 0
    assert sum(len(r["claimed"]) for k, r in enumerate(results) if k % 2 == 0) > 0
    assert elapsed < 120


@pytest.mark.stress
def test_60_processes_claim_10000_beads(tmp_path: Path) -> None:
    db = tmp_path / "town.db"
    with BeadStore.open(db) as store:
        ids = _seed(store, 10_000)
    results = _run_claimers(tmp_path, db, ids, workers=60)
    with BeadStore.open(db) as store:
        _check_exactly_once(store, ids, results)
