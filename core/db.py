"""The town database ``.gastown/town.db``: SQLite in WAL mode shared by every gt process.

Opened through sqlite-utils with a busy timeout and foreign keys on, in autocommit mode so that
:func:`transaction` controls every write with ``BEGIN IMMEDIATE`` (one writer at a time, readers never
blocked). Inside a transaction use plain SQL (``db.execute``): sqlite-utils' ``table.insert`` commits
on its own and would end the transaction early.

Modules own their tables: they call :func:`register_schema` at import with idempotent DDL
(``CREATE TABLE IF NOT EXISTS``); :func:`connect` applies every registered script.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

BUSY_TIMEOUT_S = 30.0

_SCHEMAS: dict[str, str] = {}
_lock = threading.Lock()


def register_schema(name: str, ddl: str) -> None:
    """Register the idempotent DDL script ``ddl`` of module ``name``; applied by every :func:`connect`."""
    with _lock:
        _SCHEMAS[name] = ddl


def connect(path: str | os.PathLike[str]) -> sqlite_utils.Database:
    """Open the town database at ``path`` (created if missing) with WAL, a 30 s busy timeout and
    foreign keys, and apply every registered schema script.

    Raises sqlite3.Error if the file is not a database.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if mode.lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    db = sqlite_utils.Database(conn)
    with _lock:
        scripts = list(_SCHEMAS.values())
    for ddl in scripts:
        ensure_schema(db, ddl)
    return db


def ensure_schema(db: sqlite_utils.Database, ddl: str) -> None:
    """Apply one idempotent DDL script inside a transaction."""
    with transaction(db):
        for statement in _split(ddl):
            db.execute(statement)


def _split(ddl: str) -> list[str]:
    return [s.strip() for s in ddl.split(";") if s.strip()]


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """Run the block as one write transaction (``BEGIN IMMEDIATE``; nested blocks use a savepoint).

    Commits on a clean exit, rolls back (leaving the database unchanged) on any exception.
    """
    conn = db.conn
    if conn.in_transaction:
        name = f"sp_{threading.get_ident()}_{id(conn)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield db
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
