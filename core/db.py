"""The town database ``.gastown/town.db``: SQLite in WAL mode shared by every gt process.

Opened with the stdlib ``sqlite3`` behind :class:`Database` (the few calls the project makes:
``execute``, ``query``, ``conn``), with a busy timeout and foreign keys on, in autocommit mode so that
:func:`transaction` controls every write with ``BEGIN IMMEDIATE`` (one writer at a time, readers never
blocked). Every ``gt`` process opens it, agents' per-prompt hooks included, so opening it imports
nothing beyond the stdlib (sqlite-utils' import and its plugin scan cost more than the query).

Modules own their tables: they call :func:`register_schema` at import with idempotent DDL
(``CREATE TABLE IF NOT EXISTS``); :func:`connect` applies every registered script, then runs every
check registered with :func:`register_open_check` (the beads ledger guard, :mod:`core.beads.guard`).

A lost database never wipes the ledger (issue 15): :func:`connect` refuses, before anything is
written, to create a town database where it is missing or empty (0 bytes) while the town's committed
ledger ``.beads/issues.jsonl`` holds beads, and turns a file that is not a readable SQLite database
into one line (:class:`DatabaseLost`, exit 2). The fix, ``gt bead rebuild``, is explicit. The
database, its WAL and SHM files are 0600 and ``.gastown/`` 0700 whatever the umask.
"""

from __future__ import annotations

import _thread  # the lock and thread id only: threading's import is not worth it for every gt process
import contextlib
import functools
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from core.errors import GtError
from core.town import Town, ledger_bead_count, town_of_db

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

    #: Parameters of a statement: positional (``?``) or named (``:name``).
    Params = Sequence[Any] | dict[str, Any]

BUSY_TIMEOUT_S = 30.0
REBUILD_HINT = "run 'gt bead rebuild' to rebuild it from .beads/issues.jsonl and git"


class Database:
    """A town (or scratch) database connection: the ``sqlite3.Connection`` as ``conn``, plus
    :meth:`execute` and :meth:`query`, which behave as sqlite-utils' ``Database`` methods of the same
    names do on an autocommit connection (its 3.x/4.x API, the one this project was written against).

    conn: an open connection made with ``isolation_level=None`` (autocommit; :func:`transaction`
    opens the transactions). Recursive triggers are turned on, as sqlite-utils does.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        conn.execute("PRAGMA recursive_triggers = ON")

    def execute(self, sql: str, parameters: Params | None = None) -> sqlite3.Cursor:
        """Run one statement; the cursor (rows not fetched yet). Raises sqlite3.Error."""
        if parameters is None:
            return self.conn.execute(sql)
        return self.conn.execute(sql, parameters)

    def query(self, sql: str, params: Params | None = None) -> Iterator[dict[str, Any]]:
        """Run one row-returning statement; its rows as dicts keyed by column name (a repeated name
        gets ``_2``, ``_3``... as sqlite-utils names them). Raises ValueError when the statement
        returns no rows (use :meth:`execute`), sqlite3.Error for a bad statement."""
        cursor = self.execute(sql, params)
        if cursor.description is None:
            raise ValueError("query() can only be used with SQL that returns rows - use execute() for other statements")
        keys = _unique([d[0] for d in cursor.description])
        return (dict(zip(keys, row, strict=True)) for row in cursor)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _unique(keys: list[str]) -> list[str]:
    """Column names with a later duplicate renamed ``name_2``, ``name_3``... (skipping taken names)."""
    if len(set(keys)) == len(keys):
        return keys
    taken, seen, out = set(keys), set(), []
    for key in keys:
        if key in seen:
            n = 2
            while f"{key}_{n}" in taken:
                n += 1
            key = f"{key}_{n}"
            taken.add(key)
        seen.add(key)
        out.append(key)
    return out


_SCHEMAS: dict[str, str] = {}
_CHECKS: dict[str, Callable[[Database, Town, bool], None]] = {}
_lock = _thread.allocate_lock()
#: Town database files this process opened (for :func:`explain`), oldest first.
_OPENED: dict[str, None] = {}
#: SQLite primary result codes that mean the file itself is unusable (not a lock or a busy writer).
_UNUSABLE = {10: "disk I/O error", 11: "corrupt", 14: "cannot be opened", 26: "not a database"}


class DatabaseLost(GtError):
    """The town database is missing, empty or unreadable while the committed ledger holds beads, or it
    disagrees with the ledger (:mod:`core.beads.guard`). Nothing was written; the message names the
    file and the fix (``gt bead rebuild`` or ``gt bead import --merge``)."""


def register_schema(name: str, ddl: str) -> None:
    """Register the idempotent DDL script ``ddl`` of module ``name``; applied by every :func:`connect`."""
    with _lock:
        _SCHEMAS[name] = ddl


def registered_schemas() -> dict[str, str]:
    """The DDL scripts registered so far, by module name (what :func:`connect` applies): for
    ``gt doctor``'s schema check, which compares a database's tables and columns with them."""
    with _lock:
        return dict(_SCHEMAS)


def register_open_check(name: str, check: Callable[[Database, Town, bool], None]) -> None:
    """Register ``check(db, town, fresh)``, run by every :func:`connect` of a town's database after the
    schemas (fresh: the file had no tables before this open). It raises GtError to refuse the open."""
    with _lock:
        _CHECKS[name] = check


def connect(path: str | os.PathLike[str], *, check: bool = True) -> Database:
    """Open the database at ``path`` with WAL, a 30 s busy timeout and foreign keys, and apply every
    registered schema script; for a town's ``.gastown/town.db`` also run the registered open checks.

    A missing or empty town database is created only when the town's ledger holds no beads
    (``gt bead rebuild`` builds its new one under another name and renames it into place);
    ``check=False`` skips the open checks (for the commands that repair what they report). The file and its WAL/SHM are made 0600, a town's state dir 0700.

    Raises DatabaseLost (exit 2, nothing written) for a lost or unreadable town database;
    sqlite3.Error for other database failures (a lock held past the busy timeout).
    """
    p = Path(path)
    town = town_of_db(p)
    if town is not None:
        _private_dir(p.parent)
        _refuse_lost(town, p)
    else:
        p.parent.mkdir(parents=True, exist_ok=True)
    _private_file(p, create=True)
    conn = sqlite3.connect(str(p), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        existing = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        fresh = not existing
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        db = Database(conn)
        with _lock:
            scripts = list(_SCHEMAS.values())
            checks = list(_CHECKS.values()) if check and town is not None else []
        for ddl in scripts:
            if not _created(ddl, existing):
                ensure_schema(db, ddl)
        for suffix in ("-wal", "-shm"):
            _private_file(Path(f"{p}{suffix}"), create=False)
        for run_check in checks:
            run_check(db, town, fresh)  # type: ignore[arg-type]
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise unusable(p, exc) or exc from None
    except BaseException:
        conn.close()
        raise
    if town is not None:
        _OPENED.setdefault(str(p))
    return db


def explain(exc: BaseException) -> DatabaseLost | None:
    """The one-line error for a database failure that surfaced after the open (a corrupt page met by
    a query), naming the first town database this process opened; None for anything else. For the
    command line's last resort, so that any command on a corrupt database answers in one line."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    return unusable(next(iter(_OPENED), "the town database (.gastown/town.db)"), exc)


def unusable(path: str | os.PathLike[str], exc: sqlite3.DatabaseError) -> DatabaseLost | None:
    """The one-line :class:`DatabaseLost` for ``exc`` when it says the database file at ``path`` is
    unusable (corrupt, not a database, unreadable), else None (a busy lock, a constraint)."""
    code = getattr(exc, "sqlite_errorcode", None)
    what = _UNUSABLE.get(code & 0xFF) if isinstance(code, int) else None
    if what is None:
        return None
    return DatabaseLost(
        f"{path} {'is ' if what in ('corrupt', 'not a database') else 'has a '}{what} ({exc}): "
        f"{REBUILD_HINT} (the bad file is moved aside); nothing was written"
    )


def _refuse_lost(town: Town, p: Path) -> None:
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        size = None
    if size:
        return
    beads = ledger_bead_count(town)
    if beads:
        state = "missing" if size is None else "empty (0 bytes)"
        raise DatabaseLost(
            f"{p} is {state} but {town.ledger_path} holds {beads} beads: {REBUILD_HINT}; nothing was written"
        )


def _private_dir(d: Path) -> None:
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = d.stat()
    if st.st_mode & 0o077 and st.st_uid == os.getuid():
        os.chmod(d, 0o700)


def _private_file(f: Path, create: bool) -> None:
    if create:
        with contextlib.suppress(FileExistsError):
            os.close(os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        st = f.stat()
    except FileNotFoundError:
        return
    if st.st_mode & 0o077 and st.st_uid == os.getuid():
        os.chmod(f, st.st_mode & 0o600)


def ensure_schema(db: Database, ddl: str) -> None:
    """Apply one idempotent DDL script inside a transaction."""
    with transaction(db):
        for statement in _split(ddl):
            db.execute(statement)


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row the INSERT just run on ``cursor`` wrote. Raises GtError when it wrote none
    (an ``INSERT OR IGNORE`` that ignored its row: check ``cursor.rowcount`` first)."""
    if cursor.lastrowid is None or not cursor.rowcount:
        raise GtError("the database wrote no row for this insert")
    return cursor.lastrowid


#: One statement of a registered script that creates a named object only if it is missing.
_CREATE = re.compile(r'\s*CREATE\s+(?:UNIQUE\s+)?(?:TABLE|INDEX|TRIGGER|VIEW)\s+IF\s+NOT\s+EXISTS\s+["`\[]?(\w+)', re.I)


def _created(ddl: str, existing: set[str]) -> bool:
    """True if every object the idempotent script ``ddl`` creates is among ``existing`` (names in
    ``sqlite_master``), so applying it would change nothing. Then :func:`connect` skips it: an open of
    an existing database (every gt process, agents' hooks on each prompt) takes no write lock."""
    names = _objects(ddl)
    return names is not None and names <= existing


@functools.cache
def _objects(ddl: str) -> frozenset[str] | None:
    """The names the statements of ``ddl`` create, or None when one of them is anything but a
    ``CREATE ... IF NOT EXISTS name`` (then the script is always applied)."""
    names = []
    for statement in _split(ddl):
        match = _CREATE.match(statement)
        if match is None:
            return None
        names.append(match.group(1))
    return frozenset(names)


def _split(ddl: str) -> list[str]:
    """The statements of the script ``ddl``: split at the semicolons that end one (SQLite's
    ``sqlite3_complete``), so a trigger's ``BEGIN ... END`` body stays in one piece."""
    statements, pending = [], ""
    for piece in ddl.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \t\n;"):
                statements.append(pending.strip().removesuffix(";").strip())
            pending = ""
    if pending.strip(" \t\n;"):
        statements.append(pending.strip().removesuffix(";").strip())
    return statements


@contextlib.contextmanager
def transaction(db: Database) -> Iterator[Database]:
    """Run the block as one write transaction (``BEGIN IMMEDIATE``; nested blocks use a savepoint).

    Commits on a clean exit, rolls back (leaving the database unchanged) on any exception.
    """
    conn = db.conn
    if conn.in_transaction:
        name = f"sp_{_thread.get_ident()}_{id(conn)}"
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
