"""The incremental ledger sync and the fast ready plans (issue 19).

Real towns, real SQLite and real git: after random changes (create, update, close, reopen, delete,
labels, dependencies, comments; hostile text) a sync re-exports only the changed beads and the file
is byte for byte the full export, the committed blob too; a sync that fails midway (the rename, the
record after it, the commit) or a sync process killed by SIGKILL leaves the old file or the new one,
never half of one, and keeps the dirty marks so the next sync gets everything. The two ready plans
(the whole blocked set, or the per-bead check under a LIMIT that claims use) agree on random graphs.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import git as gitmod
from core.beads import BeadStore, jsonl
from core.beads import sync as ledger_sync
from core.beads.model import Dependency, Issue
from core.town import Town
from tests.conftest import wait_for

HOSTILE = ["[red]x[/]", "\x1b[2J", "line\nbreak", "tab\there", "<b>&amp;</b>", "\u2028sep\u0085", 'quote " \\ end']


def full(store: BeadStore) -> bytes:
    """What a full export of ``store`` writes."""
    return "".join(jsonl.snapshot_lines(store)).encode("utf-8")


def committed(town: Town) -> bytes | None:
    return gitmod.read_path_at(town.root, "HEAD", ledger_sync.LEDGER_REL)


def seed(store: BeadStore, n: int, rng: random.Random) -> list[str]:
    ids = []
    for k in range(n):
        bead = store.create(
            f"seed {k} {rng.choice(HOSTILE)}",
            actor="tester",
            prefix=rng.choice(["mp", "hq", "zz"]),
            description=rng.choice(HOSTILE) * rng.randint(0, 3),
            labels=[f"l{rng.randint(0, 3)}"] if rng.random() < 0.4 else [],
        )
        ids.append(bead.id)
    return ids


def delete(store: BeadStore, bead: str) -> None:
    """Delete a bead as any delete verb must: the row (its labels, edges and comments cascade) and
    its dirty mark, in one transaction."""
    with store.transaction():
        store.db.execute("DELETE FROM issues WHERE id = ?", [bead])
        store.db.execute(
            "INSERT INTO ledger_dirty (bead, ts) VALUES (?, 1e12) ON CONFLICT(bead) DO UPDATE SET ts = excluded.ts",
            [bead],
        )


def mutate(store: BeadStore, ids: list[str], rng: random.Random) -> None:
    """One random change through the store's own verbs (or :func:`delete`)."""
    live = [i for i in ids if store.exists(i)]
    bead = rng.choice(live)
    roll = rng.randrange(10)
    if roll == 0:
        parent = bead if rng.random() < 0.3 else None
        new = store.create(f"new {rng.choice(HOSTILE)}", actor="tester", prefix="mp", parent=parent)
        ids.append(new.id)
    elif roll == 1:
        store.update(bead, "tester", title=f"t {rng.random()} {rng.choice(HOSTILE)}", notes=rng.choice(HOSTILE))
    elif roll == 2:
        store.close(bead, "tester", reason=rng.choice(HOSTILE), force=True)
    elif roll == 3 and store.get(bead).status == "closed":
        store.reopen(bead, "tester")
    elif roll == 4 and len(live) > 5:
        delete(store, bead)
    elif roll == 5:
        store.add_label(bead, f"l{rng.randint(0, 5)}", actor="tester")
    elif roll == 6:
        labels = store.get(bead).labels
        if labels:
            store.remove_label(bead, labels[0], actor="tester")
    elif roll == 7:
        other = rng.choice(live)
        try:
            store.add_dependency(bead, other, rng.choice(["blocks", "related", "waits-for"]), actor="tester")
        except Exception:  # a self-edge or a cycle is refused; the ledger is unchanged then
            pass
    elif roll == 8:
        deps = store.get(bead).dependencies
        if deps:
            store.remove_dependency(bead, deps[0].depends_on_id, deps[0].type, actor="tester")
    else:
        store.add_comment(bead, f"c {rng.choice(HOSTILE)}", actor="tester")


def test_incremental_sync_equals_full_export_after_random_changes(town: Town) -> None:
    rng = random.Random(19)
    with BeadStore(town) as store:
        ids = seed(store, 40, rng)
        first = ledger_sync.sync(town, store=store)
        assert first.commit and not first.spliced  # no earlier export to splice into
        assert town.ledger_path.read_bytes() == full(store)
        for round_ in range(25):
            store.update(rng.choice([i for i in ids if store.exists(i)]), "tester", title=f"round {round_}")
            for _ in range(rng.randint(0, 6)):
                mutate(store, ids, rng)
            result = ledger_sync.sync(town, store=store)
            assert result.blocked is None, result.blocked
            assert result.spliced, f"round {round_}: the sync exported in full"
            data = town.ledger_path.read_bytes()
            assert data == full(store), f"round {round_}: spliced ledger differs from the full export"
            assert (
                result.exported
                == len(data.splitlines())
                == store.db.execute("SELECT count(*) FROM issues").fetchone()[0]
            )
            assert committed(town) == data
            assert not store.dirty()
        assert b"\x1b" not in town.ledger_path.read_bytes()  # control characters stay JSON escapes


def test_force_sync_and_a_file_the_database_only_read_export_in_full(town: Town) -> None:
    with BeadStore(town) as store:
        seed(store, 5, random.Random(1))
        ledger_sync.sync(town, store=store)
        assert ledger_sync.sync(town, force=True, store=store).spliced is False
        # an import records the file as read, not written: the next sync must not trust its bytes
        foreign = town.ledger_path.read_bytes().replace(b'"status":"open"', b'"status":"open" ', 1)
        town.ledger_path.write_bytes(foreign)
        jsonl.import_jsonl(store, town.ledger_path, actor="tester")
        from core.beads import guard

        guard.record_seen(store.db, town.ledger_path)
        result = ledger_sync.sync(town, store=store)
        assert not result.spliced and town.ledger_path.read_bytes() == full(store)


def test_a_sync_failing_at_the_rename_keeps_the_old_file_and_the_marks(
    town: Town, monkeypatch: pytest.MonkeyPatch
) -> None:
    with BeadStore(town) as store:
        ids = seed(store, 10, random.Random(2))
        ledger_sync.sync(town, store=store)
        before = town.ledger_path.read_bytes()
        store.update(ids[3], "tester", title="changed while the disk fails")

        def broken_replace(src: object, dst: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError):
            ledger_sync.sync(town, store=store)
        monkeypatch.undo()
        assert town.ledger_path.read_bytes() == before
        assert [b for b, _ in store.dirty()] == [ids[3]]
        assert not [p for p in town.ledger_path.parent.iterdir() if p.name.endswith(".tmp")]
        result = ledger_sync.sync(town, store=store)
        assert result.commit and town.ledger_path.read_bytes() == full(store) == committed(town)


def test_a_sync_failing_after_the_rename_is_caught_up_by_the_next(town: Town, monkeypatch: pytest.MonkeyPatch) -> None:
    with BeadStore(town) as store:
        ids = seed(store, 10, random.Random(3))
        ledger_sync.sync(town, store=store)
        store.add_comment(ids[0], "written, then the process died", actor="tester")

        def crash(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(ledger_sync.guard, "record_seen", crash)
        with pytest.raises(KeyboardInterrupt):
            ledger_sync.sync(town, store=store)
        monkeypatch.undo()
        assert town.ledger_path.read_bytes() == full(store)  # the new file, whole
        assert store.dirty()
    with BeadStore(town) as store:  # the guard accepts the file it was about to write (ledger.pending)
        store.update(ids[1], "tester", priority=0)
        result = ledger_sync.sync(town, store=store)
        assert result.commit and town.ledger_path.read_bytes() == full(store) == committed(town)


def test_a_held_index_lock_keeps_the_marks_until_the_commit(town: Town) -> None:
    with BeadStore(town) as store:
        ids = seed(store, 8, random.Random(4))
        ledger_sync.sync(town, store=store)
        head = gitmod.rev_parse_head(town.root)
        store.update(ids[2], "tester", description="before the lock")
        lock = town.root / ".git" / "index.lock"
        lock.write_bytes(b"")
        blocked = ledger_sync.sync(town, store=store)
        assert blocked.blocked and "not committed" in blocked.blocked
        assert gitmod.rev_parse_head(town.root) == head and store.dirty()
        store.update(ids[5], "tester", description="while the lock is held")
        lock.unlink()
        result = ledger_sync.sync(town, store=store)
        assert result.spliced and result.commit
        assert sorted(result.changed) == sorted([ids[2], ids[5]])
        assert town.ledger_path.read_bytes() == full(store) == committed(town)


SYNC_LOOP = """
import random, sys
from pathlib import Path
from core.beads import BeadStore
from core.beads import sync as ledger_sync
from core.town import Town
town = Town(Path(sys.argv[1]))
rng = random.Random(5)
with BeadStore(town) as store:
    ids = [r[0] for r in store.db.execute("SELECT id FROM issues")]
    while True:
        for _ in range(3):
            store.update(rng.choice(ids), "tester", title=f"loop {rng.random()}")
        ledger_sync.sync(town, store=store)
"""


def test_a_sync_process_killed_midway_loses_nothing(town: Town) -> None:
    with BeadStore(town) as store:
        store.upsert(
            [
                Issue(
                    id=f"mp-{k:05d}",
                    title=f"bead {k}",
                    description="d" * (k % 300),
                    created_at="2026-01-01T00:00:00Z",
                    updated_at="2026-01-01T00:00:00Z",
                    dependencies=[Dependency(f"mp-{k:05d}", f"mp-{k - 1:05d}", "blocks")] if k % 7 == 1 else [],
                )
                for k in range(3000)
            ]
        )
        ledger_sync.sync(town, store=store)
    start = gitmod.rev_parse_head(town.root)
    proc = subprocess.Popen([sys.executable, "-P", "-c", SYNC_LOOP, str(town.root)], cwd=town.root)
    try:
        count = lambda: int(gitmod.run_git(["rev-list", "--count", f"{start}..HEAD"], cwd=town.root).stdout)  # noqa: E731
        wait_for(lambda: count() >= 3, timeout=120, what="three ledger commits by the sync loop")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    data = town.ledger_path.read_bytes()
    assert len(jsonl.loads(data.decode("utf-8"))) == 3000  # a whole ledger, never half of one
    lock = town.root / ".git" / "index.lock"
    with BeadStore(town) as store:
        result = ledger_sync.sync(town, force=True, store=store)
        if lock.exists():  # killed inside the commit: git's lock stays, as after any killed git command
            assert result.blocked and "index.lock" in result.blocked and store.dirty()
            assert town.ledger_path.read_bytes() == full(store)
            lock.unlink()  # what the blocked message tells the user to do
            result = ledger_sync.sync(town, force=True, store=store)
        assert result.blocked is None
        assert town.ledger_path.read_bytes() == full(store) == committed(town)


def random_graph(store: BeadStore, rng: random.Random, n: int) -> None:
    issues = []
    for k in range(n):
        bead = f"rg-{k:03d}"
        deps = []
        for _ in range(rng.choice([0, 0, 1, 2])):
            target = f"rg-{rng.randrange(n + 3):03d}"  # a few edges to ids the ledger does not hold
            if target != bead and rng.random() < 0.9 and target < bead:
                deps.append(
                    Dependency(bead, target, rng.choice(["blocks", "conditional-blocks", "waits-for", "related"]))
                )
        if k and rng.random() < 0.5:
            deps.append(Dependency(bead, f"rg-{rng.randrange(k):03d}", "parent-child"))
        issues.append(
            Issue(
                id=bead,
                title=f"g {k}",
                status=rng.choice(["open", "open", "open", "closed", "pinned", "in_progress"]),
                priority=rng.randint(0, 4),
                issue_type=rng.choice(["task", "task", "epic", "message"]),
                assignee=rng.choice(["", "", "a/polecats/x"]),
                created_at=f"2026-01-01T00:{k // 60:02d}:{k % 60:02d}Z",
                updated_at="2026-01-01T00:00:00Z",
                dependencies=deps,
                extra={"pinned": True} if rng.random() < 0.05 else {},
            )
        )
    store.upsert(issues)


@pytest.mark.parametrize("seed_", range(6))
def test_the_limit_plan_and_the_blocked_set_plan_agree(tmp_path: Path, seed_: int) -> None:
    rng = random.Random(seed_)
    with BeadStore.open(tmp_path / "ledger.db") as store:
        random_graph(store, rng, 120)
        for sort in ("priority", "oldest", "newest"):
            every = [i.id for i in store.ready(sort=sort)]
            assert every, "the graph left nothing ready"
            for limit in (1, 3, 10, 1000):
                assert [i.id for i in store.ready(sort=sort, limit=limit)] == every[:limit]
        assert [i.id for i in store.ready(unassigned=True, limit=5)] == [i.id for i in store.ready(unassigned=True)][:5]
        claimed = store.claim_next("b/polecats/y")
        assert claimed is not None and claimed.id == every_claimable(store, claimed.id)
        assert claimed.status == "in_progress" and claimed.assignee == "b/polecats/y"


def every_claimable(store: BeadStore, claimed: str) -> str:
    """The first bead of the full ready list that ``b/polecats/y`` could claim, with ``claimed`` put
    back to open for the comparison (read in a transaction that is rolled back)."""
    conn = store.db.conn
    conn.execute("BEGIN")
    try:
        conn.execute("UPDATE issues SET status = 'open', assignee = '' WHERE id = ?", [claimed])
        return next(i.id for i in store.ready() if i.assignee in ("", "b/polecats/y"))
    finally:
        conn.execute("ROLLBACK")


def test_hydrated_beads_keep_every_field(tmp_path: Path) -> None:
    """The row read packs the rarely filled columns; a bead filling all of them reads back whole."""
    with BeadStore.open(tmp_path / "ledger.db") as store:
        full_bead = Issue(
            id="mp-full",
            title=HOSTILE[0],
            description=HOSTILE[1],
            design=HOSTILE[2],
            acceptance_criteria=HOSTILE[3],
            notes=HOSTILE[4],
            status="in_progress",
            priority=1,
            issue_type="bug",
            assignee="r/polecats/a",
            owner="o",
            created_at="2026-01-01T00:00:00Z",
            created_by="me",
            updated_at="2026-01-02T00:00:00Z",
            started_at="2026-01-01T01:00:00Z",
            closed_at="2026-01-01T02:00:00Z",
            close_reason=HOSTILE[5],
            defer_until="2026-02-01T00:00:00Z",
            due_at="2026-03-01T00:00:00Z",
            external_ref="gh-1",
            ephemeral=True,
            metadata={"k": [1, "\u2028"]},
            labels=["a", "b"],
            dependencies=[Dependency("mp-full", "mp-other", "related", "2026-01-01T00:00:00Z", "me", {"x": 1})],
            extra={"is_template": False, "unknown": {"n": None}},
        )
        plain = Issue(
            id="mp-plain", title="plain", created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z"
        )
        store.upsert([full_bead, plain])
        assert store.get("mp-full") == full_bead
        assert store.get("mp-plain") == plain
        assert store.list() == [full_bead, plain]


ID = st.from_regex(r"[a-z]{1,3}-[a-z0-9]{1,4}(\.[0-9]{1,2}){0,2}", fullmatch=True)


def line_of(bead: str, title: str) -> str:
    return jsonl.encode_line(Issue(id=bead, title=title)) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(ID, st.text(min_size=1, max_size=20), max_size=30),
    st.dictionaries(ID, st.one_of(st.none(), st.text(min_size=1, max_size=20)), max_size=10),
)
def test_splice_lines_is_the_sorted_file_of_the_changed_beads(
    old: dict[str, str], changes: dict[str, str | None]
) -> None:
    """Splicing changes (replace, insert, drop, drop of an absent id) into a sorted ledger gives the
    ledger of the changed set, byte for byte, with the right change of line count."""
    before = "".join(line_of(b, t) for b, t in sorted(old.items())).encode("utf-8")
    after = {**old, **{b: t for b, t in changes.items() if t is not None}}
    for bead, title in changes.items():
        if title is None:
            after.pop(bead, None)
    lines = {b: (line_of(b, t) if t is not None else None) for b, t in changes.items()}
    spliced = jsonl.splice_lines(before, lines)
    assert spliced is not None
    expect = "".join(line_of(b, t) for b, t in sorted(after.items())).encode("utf-8")
    assert b"".join(spliced[0]) == expect
    assert spliced[1] == len(after) - len(old)


def test_splice_lines_refuses_a_file_it_did_not_write() -> None:
    ours = line_of("mp-a", "a") + line_of("mp-c", "c")
    assert jsonl.splice_lines(ours.encode(), {"mp-b": line_of("mp-b", "b")}) is not None
    header = b'{"_schema":"beads-jsonl/1"}\n'  # a line the search reads that no export of ours writes
    assert jsonl.splice_lines(header, {"mp-b": line_of("mp-b", "b")}) is None
    assert jsonl.splice_lines(ours.encode()[:-1], {"mp-b": line_of("mp-b", "b")}) is None  # no final newline
