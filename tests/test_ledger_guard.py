"""The town database and the committed ledger guard each other (issue 15, items 4, 8 and 10).

Real ``gt`` processes on real towns with real git: a deleted, truncated, corrupt or WAL-less
``town.db`` is refused at open (one line, exit 2, the committed ``.beads/issues.jsonl`` byte-identical,
no new database); ``gt bead rebuild`` restores it from the ledger and closes the beads a real
refinery already merged; a conflicted ledger stops syncing until ``gt bead import --merge`` keeps
both sides; ledger commits never take what the user staged; a stale ``.git/index.lock`` blocks only
the commit (warned, a problem event, retried); the shrink guard; permissions; import validation.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest

from core import git as gitmod
from core import mq
from core.beads import BeadStore
from core.beads import sync as ledger_sync
from core.config import edit_toml
from core.db import connect
from core.refinery import Refinery
from core.rigs import add_rig
from core.town import Town
from tests.conftest import VENV_BIN, dump, make_repo
from tests.conftest import git as sh_git

NOW = {"GT_LEDGER_SYNC": "now", "BD_ACTOR": "tester"}


@pytest.fixture
def gt(run_gt, town: Town):
    """``gt(*args)`` in the town with inline ledger syncs; returns the CompletedProcess."""

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None):
        return run_gt(*args, cwd=town.root, env={**NOW, **(env or {})}, input=input)

    return run


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def refused(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, one stderr line starting with ``gt:``, no traceback, naming every needle."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gt: "), proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def head(town: Town) -> str:
    return sh_git(town.root, "rev-parse", "HEAD").strip()


def committed_ledger(town: Town) -> bytes:
    return subprocess.run(
        ["git", "show", "HEAD:.beads/issues.jsonl"], cwd=town.root, capture_output=True, check=True
    ).stdout


def make_beads(gt, n: int) -> list[str]:
    return [json.loads(ok(gt("bead", "create", f"bead {i}", "--json")).stdout)["id"] for i in range(n)]


# ------------------------------------------------------------------ item 4: a lost database


def _lose(town: Town, how: str) -> bytes | None:
    db = town.db_path
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    if how == "deleted":
        db.unlink()
        return None
    if how == "truncated":
        db.write_bytes(b"")
        return b""
    garbage = os.urandom(8192).replace(b"SQLite", b"sqlite")
    db.write_bytes(garbage)
    return garbage


@pytest.mark.parametrize("how", ["deleted", "truncated", "corrupt"])
def test_a_lost_database_is_refused_at_open_and_the_ledger_is_untouched(gt, town: Town, how: str) -> None:
    make_beads(gt, 10)
    ledger = town.ledger_path.read_bytes()
    assert ledger.count(b"\n") == 10 and committed_ledger(town) == ledger
    tip = head(town)
    before = _lose(town, how)

    for args in (
        ("status",),
        ("status", "--json"),
        ("bead", "create", "after the loss"),
        ("bead", "list"),
        ("ready",),
        ("mq", "list"),
        ("feed",),
        ("bead", "sync"),
    ):
        line = refused(gt(*args), str(town.db_path), "gt bead rebuild")
        if how != "corrupt":
            assert "holds 10 beads" in line and ("missing" if how == "deleted" else "empty") in line
        assert town.ledger_path.read_bytes() == ledger
        assert head(town) == tip
        if before is None:
            assert not town.db_path.exists()  # no new empty database over the town
        else:
            assert town.db_path.read_bytes() == before
        assert not Path(f"{town.db_path}-wal").exists()
    # the cockpit says the same before it draws a screen (its poller once died silently: an empty town)
    cockpit = subprocess.run(
        [str(VENV_BIN / "gastown-tui"), "--town", str(town.root)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert cockpit.returncode == 2, (cockpit.stdout, cockpit.stderr)
    lines = cockpit.stderr.strip().splitlines()
    assert len(lines) == 1 and str(town.db_path) in lines[0] and "gt bead rebuild" in lines[0], cockpit.stderr
    assert town.ledger_path.read_bytes() == ledger


def test_a_corrupt_page_met_by_a_query_is_one_line_and_rebuild_replaces_it(gt, town: Town) -> None:
    """A database whose header is fine opens; the corruption surfaces in a query: still one line."""
    made = make_beads(gt, 5)
    conn = sqlite3.connect(town.db_path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'issues'").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(town.db_path.read_bytes())
    data[(root - 1) * page : (root - 1) * page + 8] = b"\xff" * 8  # the issues table's b-tree header
    town.db_path.write_bytes(bytes(data))
    ledger = town.ledger_path.read_bytes()
    for args in (("bead", "list"), ("status",), ("bead", "create", "x")):
        refused(gt(*args), str(town.db_path), "malformed", "gt bead rebuild")
        assert town.ledger_path.read_bytes() == ledger
    ok(gt("bead", "rebuild"))
    assert {b["id"] for b in json.loads(ok(gt("bead", "list", "--json")).stdout)} == set(made)


def test_a_fresh_town_still_gets_its_database(gt, town: Town) -> None:
    assert not town.db_path.exists()
    ok(gt("status"))
    make_beads(gt, 1)
    assert town.db_path.exists()


def _hold_and_copy_main_file(town: Town) -> tuple[sqlite3.Connection, bytes]:
    """A reader holding the database open (so no process checkpoints the WAL on close) and a copy of
    the main file as it stands: the database a lost WAL leaves behind."""
    holder = sqlite3.connect(town.db_path)
    holder.execute("PRAGMA wal_autocheckpoint = 0")
    holder.execute("SELECT count(*) FROM issues").fetchone()
    holder.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return holder, town.db_path.read_bytes()


def test_a_lost_wal_is_detected_and_import_merge_restores_the_beads(gt, town: Town) -> None:
    first = make_beads(gt, 3)
    holder, main_file = _hold_and_copy_main_file(town)
    later = make_beads(gt, 3)
    ok(gt("bead", "close", first[0], "-r", "done"))
    holder.close()
    ledger = town.ledger_path.read_bytes()
    assert ledger.count(b"\n") == 6
    # The WAL (holding the last three beads and the close) is lost: the main file goes back in time.
    for suffix in ("-wal", "-shm"):
        Path(f"{town.db_path}{suffix}").unlink(missing_ok=True)
    town.db_path.write_bytes(main_file)
    conn = sqlite3.connect(town.db_path)
    assert conn.execute("SELECT count(*) FROM issues").fetchone()[0] == 3
    conn.close()

    tip = head(town)
    for args in (("status",), ("bead", "list"), ("bead", "create", "x"), ("bead", "sync")):
        refused(gt(*args), "issues.jsonl", "lost town.db-wal", "gt bead import --merge")
        assert town.ledger_path.read_bytes() == ledger and head(town) == tip

    out = ok(gt("bead", "import", "--merge")).stdout
    assert "3 new" in out
    listed = {b["id"]: b for b in json.loads(ok(gt("bead", "list", "--all", "--json")).stdout)}
    assert set(listed) == set(first + later)
    assert listed[first[0]]["status"] == "closed"
    ok(gt("bead", "create", "after the repair"))
    assert committed_ledger(town).count(b"\n") == 7


def _rig_with_merged_work(town: Town, tmp_path: Path) -> dict[str, object]:
    """A rig whose refinery really merged two of three beads (merge commits naming MR and bead on main),
    a third bead with an unmerged polecat branch, a fourth bead untouched; the ledger was committed
    before the merges (so only git knows them)."""
    src = make_repo(tmp_path / "src", {"README.md": "# proj\n"})
    rig = add_rig(town, "proj", str(src))
    store = BeadStore(town)
    beads = [store.create(f"work {i}", actor="tester", prefix=rig.prefix).id for i in range(4)]
    assert ledger_sync.sync(town, store=store).commit
    work = tmp_path / "work"
    sh_git(tmp_path, "clone", "-q", str(rig.repo_path), str(work))
    base = gitmod.rev_parse(rig.repo_path, "refs/heads/main")
    for i, bead in enumerate(beads[:3]):
        branch = f"polecat/cat{i}/{bead}"
        sh_git(work, "checkout", "-q", "-B", branch, base)
        (work / f"f{i}.txt").write_text(f"{i}\n")
        sh_git(work, "add", "-A")
        sh_git(work, "commit", "-q", "-m", f"work on {bead}")
        sh_git(work, "push", "-q", "-f", "origin", f"HEAD:refs/heads/{branch}")
        if i < 2:
            sha = sh_git(work, "rev-parse", "HEAD").strip()
            mq.submit(store.db, "proj", bead, f"cat{i}", branch, sha, base, actor=f"proj/polecats/cat{i}")
    result = Refinery(town, "proj", store.db).process_once()
    assert len(result.merged) == 2
    assert [store.get(b).status for b in beads] == ["closed", "closed", "open", "open"]
    store.disconnect()
    merges = sh_git(rig.repo_path, "log", "--first-parent", "--merges", "--format=%H %s", "main").splitlines()
    assert len(merges) == 2 and all(beads[0] in m or beads[1] in m for m in merges)
    return {"rig": rig, "beads": beads, "merges": merges}


def test_rebuild_closes_the_beads_git_shows_merged_and_reports_unmerged_work(gt, town: Town, tmp_path: Path) -> None:
    lab = _rig_with_merged_work(town, tmp_path)
    beads: list[str] = lab["beads"]  # type: ignore[assignment]
    # The committed ledger still says all four are open: only git knows about the merges.
    assert committed_ledger(town).count(b'"status":"closed"') == 0
    for suffix in ("", "-wal", "-shm"):
        Path(f"{town.db_path}{suffix}").unlink(missing_ok=True)
    refused(gt("status"), "missing", "holds 4 beads", "gt bead rebuild")

    out = ok(gt("bead", "rebuild")).stdout
    assert "2 closed as already merged on git" in out
    assert f"{beads[2]}: unmerged work on proj branch polecat/cat2/{beads[2]}" in out
    shown = {b: json.loads(ok(gt("bead", "show", b, "--json")).stdout) for b in beads}
    for merge in lab["merges"]:  # type: ignore[union-attr]
        sha = merge.split()[0]
        closed = [b for b in beads[:2] if sha in shown[b]["close_reason"]]
        assert len(closed) == 1 and "reconciled from git" in shown[closed[0]]["close_reason"]
    assert [shown[b]["status"] for b in beads] == ["closed", "closed", "open", "open"]
    ready = {b["id"] for b in json.loads(ok(gt("ready", "--json", "-n", "0")).stdout)}
    assert ready == {beads[2], beads[3]}  # merged work is never offered again
    # The rebuilt state is the ledger now, committed; the guard is quiet again.
    assert committed_ledger(town).count(b'"status":"closed"') == 2
    ok(gt("status"))
    refused(gt("bead", "rebuild"), "is readable and holds beads", "gt bead import --merge")


def test_rebuild_moves_a_corrupt_database_aside(gt, town: Town) -> None:
    made = make_beads(gt, 6)
    garbage = _lose(town, "corrupt")
    out = ok(gt("bead", "rebuild")).stdout
    aside = [p for p in town.state_dir.iterdir() if p.name.startswith("town.db.lost-")]
    assert len(aside) == 1 and aside[0].read_bytes() == garbage and str(aside[0]) in out
    assert {b["id"] for b in json.loads(ok(gt("bead", "list", "--json")).stdout)} == set(made)


def test_after_a_lost_wal_merge_reconciles_so_the_convoy_is_not_merged_twice(gt, town: Town, tmp_path: Path) -> None:
    """The issue's scenario: the merges happened after the last ledger commit and the WAL holding
    them is lost. import --merge closes the merged beads from git, so nothing is re-worked."""
    lab = _rig_with_merged_work(town, tmp_path)
    beads: list[str] = lab["beads"]  # type: ignore[assignment]
    # Roll the database back to before the merges: all four beads open again, the MRs forgotten.
    conn = sqlite3.connect(town.db_path)
    conn.execute("UPDATE issues SET status = 'open', closed_at = NULL, close_reason = ''")
    conn.execute("DELETE FROM merge_requests")
    conn.commit()
    conn.close()
    out = ok(gt("bead", "import", "--merge")).stdout
    assert "2 closed as already merged on git" in out
    statuses = [json.loads(ok(gt("bead", "show", b, "--json")).stdout)["status"] for b in beads]
    assert statuses == ["closed", "closed", "open", "open"]


# ------------------------------------------------------------------ item 8: conflicts, staging, index.lock


def _conflicted_town(gt, town: Town, tmp_path: Path) -> dict[str, str]:
    """Bead A edited here and in another clone (theirs later), a new bead on each side, then
    ``git pull``: .beads/issues.jsonl conflicts."""
    a = make_beads(gt, 1)[0]
    other = tmp_path / "other"
    sh_git(tmp_path, "clone", "-q", str(town.root), str(other))
    lines = (other / ".beads" / "issues.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["title"] = "theirs wins"
    rec["updated_at"] = "2099-01-01T00:00:00Z"
    theirs_new = dict(rec, id="hq-zzz9", title="made on the other side", updated_at="2026-01-01T00:00:00Z")
    (other / ".beads" / "issues.jsonl").write_text(
        "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in sorted([rec, theirs_new], key=lambda r: r["id"]))
    )
    sh_git(other, "commit", "-q", "-am", "edit on the other side")
    ok(gt("bead", "update", a, "--title", "ours"))
    ours_new = make_beads(gt, 1)[0]
    proc = subprocess.run(
        ["git", "pull", "-q", "--no-rebase", "--no-edit", str(other), "main"],
        cwd=town.root,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )
    assert proc.returncode != 0 and b"<<<<<<<" in town.ledger_path.read_bytes(), proc.stdout + proc.stderr
    return {"a": a, "theirs": "hq-zzz9", "ours": ours_new}


def test_a_conflicted_ledger_stops_syncing_until_import_merge_keeps_both_sides(gt, town: Town, tmp_path: Path) -> None:
    ids = _conflicted_town(gt, town, tmp_path)
    conflicted = town.ledger_path.read_bytes()
    for args in (("bead", "list"), ("bead", "create", "during the conflict"), ("status",), ("bead", "sync")):
        refused(gt(*args), "issues.jsonl", "conflict markers", "gt bead import --merge")
        assert town.ledger_path.read_bytes() == conflicted

    out = ok(gt("bead", "import", "--merge")).stdout
    assert "finish the git merge" in out
    text = town.ledger_path.read_text()
    assert "<<<<<<<" not in text and ">>>>>>>" not in text
    listed = {b["id"]: b for b in json.loads(ok(gt("bead", "list", "--json")).stdout)}
    assert set(listed) == set(ids.values())
    assert listed[ids["a"]]["title"] == "theirs wins"  # the newer edit (updated_at) of the other side
    # While the merge is unfinished, changes are saved and the ledger commit waits, with a warning.
    proc = ok(gt("bead", "create", "while merging"))
    assert "warning" in proc.stderr and "MERGE_HEAD" in proc.stderr
    sh_git(town.root, "add", ".beads/issues.jsonl")
    sh_git(town.root, "commit", "-q", "--no-edit")
    proc = ok(gt("bead", "create", "after the merge"))
    assert "warning" not in proc.stderr
    committed = committed_ledger(town).decode()
    assert "while merging" in committed and "after the merge" in committed and "made on the other side" in committed


def test_a_ledger_commit_never_sweeps_in_what_the_user_staged(gt, town: Town) -> None:
    make_beads(gt, 1)
    (town.root / "notes.txt").write_text("private draft\n")
    sh_git(town.root, "add", "notes.txt")
    (town.root / "town.toml").write_text((town.root / "town.toml").read_text() + "\n# my edit\n")
    sh_git(town.root, "add", "town.toml")
    before = head(town)
    ok(gt("bead", "create", "ledger change"))
    assert head(town) != before
    changed = sh_git(town.root, "show", "--name-only", "--format=", "HEAD").split()
    assert changed == [".beads/issues.jsonl"]
    assert sorted(sh_git(town.root, "diff", "--cached", "--name-only").split()) == ["notes.txt", "town.toml"]
    assert ".beads" not in sh_git(town.root, "status", "--porcelain")  # the ledger's index entry is fresh


def test_a_stale_index_lock_never_fails_bead_create_nor_silently_stops_commits(gt, town: Town) -> None:
    make_beads(gt, 1)
    tip = head(town)
    lock = town.root / ".git" / "index.lock"
    lock.write_bytes(b"")
    proc = ok(gt("bead", "create", "behind a stale lock"))
    assert proc.stdout.startswith("Created ")
    assert "index.lock" in proc.stderr and "warning" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert head(town) == tip and lock.exists()
    titles = [b["title"] for b in json.loads(ok(gt("bead", "list", "--json")).stdout)]
    assert titles.count("behind a stale lock") == 1  # no retry needed, so no duplicate
    problems = [json.loads(x) for x in ok(gt("feed", "--problems", "--json")).stdout.splitlines()]
    assert [p["type"] for p in problems].count("ledger_blocked") == 1
    assert "index.lock" in problems[-1]["payload"]["reason"]
    refused(gt("bead", "sync"), "index.lock")
    lock.unlink()
    proc = ok(gt("bead", "create", "lock gone"))
    assert "warning" not in proc.stderr
    committed = committed_ledger(town).decode()
    assert "behind a stale lock" in committed and "lock gone" in committed


def test_the_detached_flusher_reports_a_held_index_lock(run_gt, town: Town) -> None:
    env = {"GT_LEDGER_SYNC": "auto", "BD_ACTOR": "tester"}
    lock = town.root / ".git" / "index.lock"
    lock.write_bytes(b"")
    ok(run_gt("bead", "create", "flushed later", cwd=town.root, env=env))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with BeadStore(town) as store:
            if ledger_sync.blocked_reason(store) and store.config_get(ledger_sync.PENDING_KEY) is None:
                break
        time.sleep(0.2)
    else:
        pytest.fail("the flusher never recorded the blocked commit")
    proc = ok(run_gt("bead", "create", "second", cwd=town.root, env=env))
    assert "index.lock" in proc.stderr
    lock.unlink()
    ok(run_gt("bead", "sync", cwd=town.root, env=env))
    assert "flushed later" in committed_ledger(town).decode()


# ------------------------------------------------------------------ the shrink guard


def test_an_export_never_shrinks_the_committed_ledger_past_the_guard(gt, town: Town) -> None:
    made = make_beads(gt, 10)
    ledger = town.ledger_path.read_bytes()
    tip = head(town)
    conn = sqlite3.connect(town.db_path)  # a database that lost nine beads without noticing
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("DELETE FROM issues WHERE id != ?", [made[0]])
    conn.commit()
    conn.close()
    refused(gt("bead", "sync"), "refusing to shrink", "from 10 to 1 beads", "--allow-shrink")
    refused(gt("bead", "export"), "refusing to shrink")
    assert town.ledger_path.read_bytes() == ledger and head(town) == tip
    proc = ok(gt("bead", "update", made[0], "--notes", "x"))
    assert "refusing to shrink" in proc.stderr and town.ledger_path.read_bytes() == ledger
    ok(gt("bead", "sync", "--allow-shrink"))
    assert committed_ledger(town).count(b"\n") == 1


def test_small_shrinks_pass_and_the_threshold_is_configurable(gt, town: Town) -> None:
    made = make_beads(gt, 10)
    conn = sqlite3.connect(town.db_path)
    conn.execute("DELETE FROM issues WHERE id IN (?, ?)", made[:2])
    conn.commit()
    conn.close()
    ok(gt("bead", "sync"))  # 10 -> 8: neither over half nor over 5 beads
    assert committed_ledger(town).count(b"\n") == 8
    with edit_toml(town.config_path) as doc:
        doc["ledger"]["shrink_guard_beads"] = 20
    conn = sqlite3.connect(town.db_path)
    conn.execute("DELETE FROM issues WHERE id != ?", [made[2]])
    conn.commit()
    conn.close()
    ok(gt("bead", "sync"))
    assert committed_ledger(town).count(b"\n") == 1


# ------------------------------------------------------------------ item 10: permissions, import validation


def test_database_wal_shm_are_0600_and_the_state_dir_0700_under_umask_022(town: Town, gt_env) -> None:
    shutil.rmtree(town.state_dir)
    proc = subprocess.run(
        ["sh", "-c", 'umask 022; exec "$0" bead create "private"', str(VENV_BIN / "gt")],
        cwd=town.root,
        env={**gt_env, **NOW},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(town.state_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(town.db_path.stat().st_mode) == 0o600
    old = os.umask(0o022)
    try:  # SQLite itself creates the WAL and SHM with the database file's mode
        conn = sqlite3.connect(town.db_path)
        conn.execute("INSERT INTO beads_config (key, value) VALUES ('perm-test', '1')")
        conn.commit()
        for suffix in ("-wal", "-shm"):
            assert stat.S_IMODE(Path(f"{town.db_path}{suffix}").stat().st_mode) == 0o600, suffix
        conn.close()
    finally:
        os.umask(old)
    db = connect(town.db_path)  # and so does our own open
    for suffix in ("-wal", "-shm"):
        assert stat.S_IMODE(Path(f"{town.db_path}{suffix}").stat().st_mode) == 0o600, suffix
    db.conn.close()


def test_an_existing_world_readable_database_is_made_private(gt, town: Town) -> None:
    make_beads(gt, 1)
    os.chmod(town.db_path, 0o644)
    os.chmod(town.state_dir, 0o755)
    ok(gt("bead", "list"))
    assert stat.S_IMODE(town.db_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(town.state_dir.stat().st_mode) == 0o700


def _line(bead: str, title: str = "t", deps: list[tuple[str, str]] = (), updated: str = "2026-01-01T00:00:00Z") -> str:
    rec = {
        "id": bead,
        "title": title,
        "status": "open",
        "priority": 2,
        "issue_type": "task",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": updated,
    }
    if deps:
        rec["dependencies"] = [{"issue_id": bead, "depends_on_id": d, "type": t} for d, t in deps]
    return json.dumps(rec)


@pytest.mark.parametrize(
    "lines, needles",
    [
        ([_line("hq-a1"), _line("hq-b2"), _line("hq-a1", "again")], ["lines 1 and 3", "duplicate id hq-a1", "--merge"]),
        (
            [
                _line("hq-a1", deps=[("hq-b2", "blocks")]),
                _line("hq-b2", deps=[("hq-c3", "blocks")]),
                _line("hq-c3", deps=[("hq-a1", "parent-child")]),
            ],
            ["dependency cycle", "hq-a1 (line 1)", "hq-c3 (line 3)"],
        ),
        ([_line("hq-a1", deps=[("hq-a1", "blocks")])], ["dependency cycle hq-a1 (line 1) -> hq-a1 (line 1)"]),
    ],
)
def test_import_refuses_duplicates_and_cycles_naming_the_lines(gt, town: Town, tmp_path: Path, lines, needles) -> None:
    make_beads(gt, 1)
    before = dump(town.db_path)
    f = tmp_path / "in.jsonl"
    f.write_text("\n".join(lines) + "\n")
    refused(gt("bead", "import", str(f)), "nothing was imported", *needles)
    assert dump(town.db_path) == before


def test_import_warns_of_dangling_dependencies_and_keeps_them(gt, town: Town, tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(_line("hq-a1") + "\n" + _line("hq-b2", deps=[("hq-gone", "blocks"), ("hq-a1", "related")]) + "\n")
    proc = ok(gt("bead", "import", str(f)))
    assert "line 2: hq-b2 depends on hq-gone (blocks)" in proc.stderr and "Imported 2 beads" in proc.stdout
    shown = json.loads(ok(gt("bead", "show", "hq-b2", "--json")).stdout)
    assert {d["depends_on_id"] for d in shown["dependencies"]} == {"hq-gone", "hq-a1"}


def test_a_cycle_through_the_database_is_refused_too(gt, town: Town, tmp_path: Path) -> None:
    a, b = make_beads(gt, 2)
    ok(gt("bead", "dep", "add", b, a))
    rec = json.loads(ok(gt("bead", "show", a, "--json")).stdout)
    f = tmp_path / "in.jsonl"
    f.write_text(_line(a, deps=[(b, "blocks")]) + "\n")
    refused(gt("bead", "import", str(f)), "dependency cycle", f"{a} (line 1)", f"{b} (database)")
    assert json.loads(ok(gt("bead", "show", a, "--json")).stdout) == rec


HOSTILE = {
    "year 99999": _line("hq-a1").replace("2026-01-01T00:00:00Z", "99999-01-01T00:00:00Z", 1).encode(),
    "year 9999": _line("hq-a1").replace("2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z", 1).encode(),
    "year 1": _line("hq-a1").replace("2026-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59", 1).encode(),
    "month 13": _line("hq-a1").replace("2026-01-01", "2026-13-01", 1).encode(),
    "deep nesting": b'{"id":"hq-a1","title":"t","x":' + b"[" * 100000 + b"]" * 100000 + b"}",
    "deep metadata": b'{"id":"hq-a1","title":"t","metadata":' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}",
    "invalid utf-8": _line("hq-a1", "caf\xe9").encode().replace("\\u00e9".encode(), b"\xe9\xff"),
    "huge priority": _line("hq-a1").replace('"priority": 2', '"priority": 1e999').encode(),
    "huge integer": _line("hq-a1").replace('"priority": 2', '"priority": ' + "9" * 5000).encode(),
    "huge comment id": (_line("hq-a1")[:-1] + ', "comments": [{"id": ' + "9" * 30 + ', "text": "x"}]}').encode(),
    "NaN": (_line("hq-a1")[:-1] + ', "extra_key": NaN}').encode(),
    "Infinity": (_line("hq-a1")[:-1] + ', "extra_key": -Infinity}').encode(),
    "conflict marker": b"<<<<<<< HEAD\n" + _line("hq-a1").encode() + b"\n=======\n>>>>>>> other\n",
    "not an object": b"[1, 2, 3]",
    "NUL bytes": b"\x00\x00\x00",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_jsonl_is_one_line_exit_2_and_changes_nothing(gt, town: Town, tmp_path: Path, name: str) -> None:
    make_beads(gt, 1)
    before = dump(town.db_path)
    ledger = town.ledger_path.read_bytes()
    f = tmp_path / "in.jsonl"
    f.write_bytes(_line("hq-ok1").encode() + b"\n" + HOSTILE[name] + b"\n")
    line = refused(gt("bead", "import", str(f)), "line 2")
    assert len(line) < 400
    assert dump(town.db_path) == before and town.ledger_path.read_bytes() == ledger


def test_a_lone_surrogate_escape_becomes_the_replacement_character_as_in_go(gt, town: Town, tmp_path: Path) -> None:
    f = tmp_path / "in.jsonl"
    f.write_text(_line("hq-a1", "half \\ud800 pair").replace("\\\\ud800", "\\ud800") + "\n")
    ok(gt("bead", "import", str(f)))
    assert json.loads(ok(gt("bead", "show", "hq-a1", "--json")).stdout)["title"] == "half \ufffd pair"
