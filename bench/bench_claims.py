"""Claims under contention: 30 claimer processes on one town's SQLite, each calling the core claim
(:meth:`core.beads.store.BeadStore.claim_next`, what ``gt bead ready --claim`` runs) in a loop until
nothing is left, against one claimer on a copy of the same ledger in the same run (issue 19: >= 2,000
claims/s with 30 claimers and no bead claimed twice).

Every claimer opens its own connection before the start signal; the clock runs from the signal to
the last claimer's empty answer (and to the :data:`FIRST`-th claim). Afterwards the run is checked: every bead ready at the start was
claimed exactly once, by the claimer the database names as its assignee. A double claim or a lost
bead raises (the bench fails rather than print a rate).
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from core.beads import BeadStore
from core.town import Town, install_town

from bench.bench_beads import _ledger

N = 10_000
CLAIMERS = 30
#: The rate is also reported over the first claims (the first claim builds the ready set, see
#: :mod:`core.beads.ready`; before it existed the drain slowed as each claim passed over the blocked
#: beads sorting ahead of the last ready ones).
FIRST = 1_000


def _cpu_s() -> float:
    """CPU seconds (user + system) this process has used."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _claimer(root: str, actor: str, ready: Any, start: Any, out: Any) -> None:
    """One claimer process: open the town, wait for ``start``, claim until none is ready, report
    (actor, ids claimed, when each was, when it ended, CPU seconds spent claiming)."""
    with BeadStore(Town(Path(root))) as store:
        ready.put(actor)
        start.wait()
        cpu = _cpu_s()
        got, stamps = [], []
        while (issue := store.claim_next(actor)) is not None:
            got.append(issue.id)
            stamps.append(time.perf_counter())
        out.put((actor, got, stamps, time.perf_counter(), _cpu_s() - cpu))


def _run(town: Town, claimers: int) -> tuple[float, float, int, float]:
    """Claim every ready bead of ``town`` with ``claimers`` processes: (claims per second over the
    first :data:`FIRST` claims, over all of them, claims, CPU microseconds per claim summed over
    the claimers). Raises AssertionError when a bead was claimed twice, left unclaimed or holds
    another assignee."""
    with BeadStore(town) as store:
        expected = {i.id for i in store.ready()}
    ctx = mp.get_context("fork")
    ready, out, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=_claimer, args=(str(town.root), f"bench/polecats/c{k:02d}", ready, start, out))
        for k in range(claimers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=120)
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    elapsed = max(r[3] for r in results) - t0
    first = sorted(t for r in results for t in r[2])[FIRST - 1] - t0
    claimed = [(actor, bead) for actor, got, *_ in results for bead in got]
    beads = [b for _, b in claimed]
    assert len(beads) == len(set(beads)), f"{len(beads) - len(set(beads))} beads claimed twice"
    assert set(beads) == expected, f"{len(expected - set(beads))} ready beads left unclaimed"
    with BeadStore(town) as store:
        holders = dict(store.db.execute("SELECT id, assignee FROM issues WHERE status = 'in_progress'").fetchall())
    wrong = [b for actor, b in claimed if holders.get(b) != actor]
    assert not wrong, f"{len(wrong)} claimed beads hold another assignee, e.g. {wrong[0]}"
    cpu_us = sum(r[4] for r in results) * 1e6 / len(beads)
    return FIRST / first, len(beads) / elapsed, len(beads), cpu_us


def run() -> list[dict]:
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        towns = []
        for name in ("one", "many"):
            town, _ = install_town(Path(tmp) / name, use_git=False)
            with BeadStore(town) as store:
                store.upsert(_ledger(N), actor="bench")
            towns.append(town)
        single_first, single_all, n, single_cpu = _run(towns[0], 1)
        many_first, many_all, _, many_cpu = _run(towns[1], CLAIMERS)
        for label, one, many in (
            (f"first {FIRST} claims", single_first, many_first),
            (f"all {n} ready of 10k beads (the drain)", single_all, many_all),
        ):
            rows.append({"benchmark": "claims", "case": f"1 claimer, {label}, claims/s", "value": one, "unit": "/s"})
            rows.append(
                {
                    "benchmark": "claims",
                    "case": f"{CLAIMERS} claimers on one town, 0 doubles, {label}, claims/s (goal >= 2,000)",
                    "value": many,
                    "unit": "/s",
                    "baseline": one,
                }
            )
        rows.append(
            {"benchmark": "claims", "case": "1 claimer, CPU per claim (the drain)", "value": single_cpu, "unit": "us"}
        )
        rows.append(
            {
                "benchmark": "claims",
                "case": f"{CLAIMERS} claimers, CPU per claim summed over them (the drain)",
                "value": many_cpu,
                "unit": "us",
                "baseline": single_cpu,
            }
        )
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
