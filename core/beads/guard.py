"""The town database and the committed ledger guard each other (issue 15, item 4).

The database remembers the fingerprint of the ledger file ``.beads/issues.jsonl`` it last wrote (an
export) or read (an import, a rebuild): ``beads_config`` key ``ledger.seen`` holds its SHA-256, size
and mtime. An export first records the SHA-256 it is about to write (``ledger.pending``, committed
before the file is renamed into place), so a reader never mistakes a sync under way for a change.

:func:`check_open` runs at every open of a town database (registered by :mod:`core.beads.store` with
:func:`core.db.register_open_check`, next to the beads schema):

- the ledger has git conflict markers: :class:`LedgerConflict` (``gt bead import --merge`` merges
  both sides);
- the ledger differs from what the database last wrote or read: :class:`LedgerDiverged`. Its causes
  are a git pull, merge or checkout, an edit, or a database that went back in time (a lost
  ``town.db-wal``, a restored backup); writing on would export over beads the database never saw;
- no fingerprint yet, no beads in the database and beads in the ledger: :class:`core.db.DatabaseLost`.

A database created by this open (the ledger then holds no beads, :func:`core.db.connect`'s rule)
records the ledger's fingerprint at once. A database from before this guard has no fingerprint and is
trusted until its first export records one. Every refusal is one line naming the file and the fix,
exit 2, with nothing written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.db import REBUILD_HINT, Database, DatabaseLost, transaction
from core.town import Town, ledger_bead_count

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from core.atomic import Chunks

SEEN_KEY = "ledger.seen"
PENDING_KEY = "ledger.pending"
MERGE_HINT = "run 'gt bead import --merge' to merge it into the database and reconcile with git"
_MARKERS = (b"<<<<<<<", b"=======", b">>>>>>>", b"|||||||")


class LedgerDiverged(DatabaseLost):
    """The ledger file differs from what the database last wrote or read; nothing was written."""


class LedgerConflict(LedgerDiverged):
    """The ledger file holds git conflict markers (an unresolved merge); nothing was written."""


def fingerprint(path: str | os.PathLike[str], sha256: str | None = None) -> dict[str, Any] | None:
    """``{"sha256": hex, "size": bytes, "mtime_ns": int}`` of the file at ``path``, or None if missing.
    sha256: the digest of the content just written there (an export knows it), so the file is not
    read back and hashed again."""
    import hashlib  # OpenSSL: only when the ledger's size or mtime changed (the stat check comes first)

    p = Path(path)
    try:
        data = p.read_bytes() if sha256 is None else b""
        st = p.stat()
    except FileNotFoundError:
        return None
    return {"sha256": sha256 or hashlib.sha256(data).hexdigest(), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def digest(data: Chunks) -> str:
    """The SHA-256 (hex) the guard records for ledger bytes ``data`` (bytes or parts,
    :data:`core.atomic.Chunks`)."""
    import hashlib

    from core.atomic import chunks

    hasher = hashlib.sha256()
    for part in chunks(data):
        hasher.update(part)
    return hasher.hexdigest()


def conflict_line(data: bytes) -> int | None:
    """The 1-based number of the first git conflict-marker line in ``data``, or None."""
    for n, line in enumerate(data.splitlines(), start=1):
        if line.startswith(_MARKERS) and (len(line) == 7 or line[7:8] in (b" ", b"\t", b"")):
            return n
    return None


def _stamps(db: Database) -> tuple[dict[str, Any] | None, str | None]:
    rows = dict(db.execute("SELECT key, value FROM beads_config WHERE key IN (?, ?)", [SEEN_KEY, PENDING_KEY]))
    seen = None
    if rows.get(SEEN_KEY):
        try:
            seen = json.loads(rows[SEEN_KEY])
        except json.JSONDecodeError:
            seen = {"sha256": ""}
    return seen, rows.get(PENDING_KEY) or None


def _accepted(seen: dict[str, Any] | None, pending: str | None) -> set[str]:
    return {s for s in ((seen or {}).get("sha256"), pending) if s}


def _stat_matches(seen: dict[str, Any] | None, path: Path) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    return seen is not None and st.st_size == seen.get("size") and st.st_mtime_ns == seen.get("mtime_ns")


def digest_in_thread(data: Chunks) -> Callable[[], str]:
    """Start :func:`digest` of ``data`` in a thread (OpenSSL's SHA-256 releases the GIL) and return
    a function that waits for it and returns the hex digest: the hash runs while the caller writes
    the bytes (47 MB at 100k beads: about 35 ms)."""
    import threading

    out: list[str] = []
    worker = threading.Thread(target=lambda: out.append(digest(data)), name="gt-ledger-sha256")
    worker.start()

    def result() -> str:
        worker.join()
        return out[0]

    return result


def verify(db: Database, town: Town) -> bool:
    """Refuse (raise) unless the town's ledger file is what ``db`` last wrote or read.

    Returns True when the file has the size and mtime (ns) recorded with that file: it is that very
    file, unread since (an export then knows its line count); False when it was let through by its
    content's digest, or there is no record or no file.
    Raises LedgerConflict (conflict markers), LedgerDiverged (changed elsewhere) or DatabaseLost (an
    empty database under a ledger with beads), each one line naming the file and the fix.
    """
    seen, pending = _stamps(db)
    path = town.ledger_path
    if _stat_matches(seen, path):
        return True
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = None
    if data is not None:
        line = conflict_line(data)
        if line is not None:
            raise LedgerConflict(
                f"{path} has git conflict markers (line {line}): run 'gt bead import --merge' to "
                "merge both sides into the database, then finish the git merge; nothing was written"
            )
    if seen is None:
        count = ledger_bead_count(town) if db.execute("SELECT 1 FROM issues LIMIT 1").fetchone() is None else 0
        if count:
            raise DatabaseLost(
                f"{town.db_path} holds no beads but {path} holds {count}: {REBUILD_HINT}; nothing was written"
            )
        return False
    if data is None:
        return False  # a deleted work-tree file is rewritten by the next export; git still has it
    sha = digest(data)
    # Read the stamps again after hashing: an export may have renamed its file between our reads.
    if sha in _accepted(seen, pending) or sha in _accepted(*_stamps(db)):
        return False
    raise LedgerDiverged(
        f"{path} differs from what {town.db_path.name} last wrote or read (a git pull, merge or "
        f"checkout, an edit, or a lost {town.db_path.name}-wal): {MERGE_HINT}; nothing was written"
    )


def check_open(db: Database, town: Town, fresh: bool) -> None:
    """The open check registered with :func:`core.db.register_open_check`: a fresh database records
    the ledger's fingerprint; any other is :func:`verify`-ed."""
    if fresh:
        record_seen(db, town.ledger_path)
        return
    verify(db, town)


def record_seen(
    db: Database, path: str | os.PathLike[str], pending: str | None = None, sha256: str | None = None
) -> None:
    """Record the ledger file at ``path`` as what the database last wrote or read (joins a caller's
    transaction) and set ``ledger.pending`` to ``pending`` (None clears it). sha256: the digest of
    what the caller just wrote there (:func:`fingerprint`)."""
    stamp = fingerprint(path, sha256)
    with transaction(db):
        _set(db, SEEN_KEY, json.dumps(stamp) if stamp else None)
        _set(db, PENDING_KEY, pending)


def record_pending(db: Database, sha: str) -> None:
    """Record ``sha`` as the ledger content an export is about to rename into place (own transaction:
    it must be visible to other processes before the rename)."""
    with transaction(db):
        _set(db, PENDING_KEY, sha)


def _set(db: Database, key: str, value: str | None) -> None:
    if value is None:
        db.execute("DELETE FROM beads_config WHERE key = ?", [key])
    else:
        db.execute(
            "INSERT INTO beads_config (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [key, value],
        )
