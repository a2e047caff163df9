"""``gt doctor``: checks of a town, each with a verdict and its fix, and the repairs that are safe.

:func:`examine` runs the checks of :data:`CHECKS` in order; each is a small function returning
:class:`Finding` s: a verdict (``ok``, ``warn``, ``fail``), a one-line message naming the thing, the
fix, and whether ``--fix`` can repair it safely (then the finding carries its repair).
:func:`run` with ``fix=True`` applies those repairs, runs the checks again to confirm each repair
(and to repair, in a next round, what a repair uncovered), and leaves everything else, listed, for
a human. The checks:

- ``town``: ``town.toml`` parses and validates (:func:`core.config.load_town_config`, as
  :func:`core.engine.check_config` does); the layout (``.beads/``, ``.gastown/``, ``mayor/``).
  Repair: missing directories are made.
- ``rigs``: every ``<rig>/rig.toml`` parses and validates (:func:`core.config.load_rig_config`), each
  on its own, so one malformed file does not hide the others; prefixes are distinct.
- ``database``: ``.gastown/town.db`` passes ``PRAGMA integrity_check`` (opened read-only) and has every
  table and column the code's schemas (:func:`core.db.registered_schemas`) define; a missing or
  empty one is reported as :func:`core.db.connect` would refuse it.
- ``ledger``: ``.beads/issues.jsonl`` is what the database last wrote or read (the ledger guard,
  :func:`core.beads.guard.verify`), holds what the database holds, and is committed. Repair (only
  when the guard passes): re-export and commit through :func:`core.beads.sync.sync`, atomically
  and behind its shrink guard.
- ``tools``: git >= 2.38 (``git merge-tree --write-tree``, the refinery's dry-run merges) and tmux
  >= 3.1 (``window-size latest``, which :meth:`core.sessions.SessionHost.resize` sets).
- ``repos``: each rig's bare repository exists and has its default branch; its remote answers
  ``git ls-remote`` within ``remote_timeout`` seconds (unreachable is a warning: a laptop may be
  offline) and has the default branch; with strategy ``direct`` or ``pr``, git may push there
  (``git push --dry-run``, a failure when not: merged work cannot land).
- ``worktrees``: the rig's registered worktrees and ``<rig>/polecats/*`` against the polecats table.
  A worktree no polecat owns is removed only when it holds no uncommitted file and no commit missing
  from the default branch (``git worktree remove`` without ``--force``, which refuses too); otherwise
  it is listed for a human. Stale registrations of deleted directories are pruned
  (``git worktree prune``). A polecat holding a hook whose worktree is gone is reported (the
  witness re-creates it).
- ``crew``: each crew workspace is a worktree of its rig on its ``crew/NAME`` branch (never repaired).
- ``branches``: ``polecat/*`` branches no polecat, worktree or open MR uses. A merged one is deleted
  (compare-and-swap on its sha); one with unmerged commits is listed for a human.
- ``sessions``: tmux sessions on the town's socket that belong to no polecat or role (a dead one is
  removed, a live one listed); hooked polecats whose session is dead (:func:`core.sling.session_seen`):
  repaired only as the witness would without starting an agent
  (:meth:`core.witness.Witness.settle_dead_hook`: the hook of a closed or gone bead is cleared, an
  interrupted ``gt done`` settled), else listed with ``gt sling --resume``; beads hooked to a polecat
  that no longer holds them (:meth:`core.deacon.Deacon.stranded`), released as the deacon does. While an
  engine runs, its witness and deacon own those repairs and doctor only reports.
- ``locks``: ``.gastown/engine.pid`` naming no running engine (removed while doctor holds the engine
  lock, so no engine can start meanwhile); git's own lock files (``index.lock``, ``*.lock`` under
  ``refs/``, ``packed-refs.lock``...) of the town and rig repositories that no process has open and
  that are older than :data:`LOCK_GRACE_S` (removed); session launcher specs older than
  :data:`SPEC_GRACE_S` (they hold a copy of the agent's environment; removed); the ``flock`` lock
  files, reported with their holder. A ``flock`` lock is never stale (the kernel drops it with its
  holder), so those files are never deleted.
- ``gates``: gate processes of a refinery that died mid-gate (the pid file
  ``refinery-<rig>.gate.pid`` and processes tagged ``GT_GATE`` with it, :mod:`core.gates`), killed
  as the refinery itself does (:func:`core.gates.kill_leftover`), under the refinery's lock.
- ``agents``: the default agent, the agents of the polecats and the town's ``[agents]`` presets are
  installed, and logged in as far as :func:`core.runtimes.check.check` can tell without a network.

Every message passes :func:`core.plaintext.one_line`: bead ids, branch and session names, remote
and git messages are agent- or user-written. Nothing here prints a secret: agent checks say "logged
in" or how to log in, never a key.

Crew workspaces (``<rig>/crew/*``) are known worktrees here; the ``crew`` check reports each one
(a valid worktree on its ``crew/NAME`` branch) and never repairs it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import git, polecats
from core.errors import ConfigError, GitError, GtError
from core.pidfile import ENGINE_LOCK_FILE, ENGINE_PID_FILE, engine_pid, lock_held, pid_alive
from core.plaintext import one_line
from core.remote import is_local
from core.town import Town, count_ledger_lines, ledger_bead_count

OK, WARN, FAIL = "ok", "warn", "fail"
#: Who the events of doctor's repairs name.
ACTOR = "doctor"
VERDICTS = (OK, WARN, FAIL)
#: git: ``merge-tree --write-tree`` (the refinery's dry-run merge, :func:`core.git.merge_tree`) is 2.38.
GIT_MIN = (2, 38)
#: tmux: ``window-size latest`` (:meth:`core.sessions.SessionHost.resize`) is 3.1.
TMUX_MIN = (3, 1)
#: Seconds ``git ls-remote`` may take before a rig's remote counts as unreachable.
REMOTE_TIMEOUT_S = 10.0
#: A git lock file younger than this (seconds) may belong to a git command between its steps.
LOCK_GRACE_S = 60.0
#: A session launcher spec is deleted by the launcher as it starts; older than this (seconds) it is stale.
SPEC_GRACE_S = 60.0
#: Git lock files looked for, relative to a git directory (plus ``refs/**/*.lock`` and worktrees' own).
GIT_LOCKS = (
    "index.lock",
    "HEAD.lock",
    "config.lock",
    "packed-refs.lock",
    "shallow.lock",
    "ORIG_HEAD.lock",
    "FETCH_HEAD.lock",
)
_VERSION = re.compile(r"(\d+)\.(\d+)")
_ROLE_SESSIONS = ("mayor", "deacon")


@dataclass
class Finding:
    """One result of a check.

    check: the check's name (:data:`CHECKS`). subject: the thing (a file, ``rig demo``, a session, a
    branch). verdict: ``ok``, ``warn`` or ``fail``. message: one line naming what was seen. fix:
    what repairs it (a command, or what ``--fix`` does). fixable: ``--fix`` can repair it safely
    (``repair`` does it and returns one line saying what it did; it raises GtError or OSError when
    it cannot). After :func:`run` with ``fix=True``: ``fixed`` and ``outcome`` (what the repair
    did, or why it did not). Text fields are made one line without control characters.
    """

    check: str
    subject: str
    verdict: str
    message: str
    fix: str = ""
    fixable: bool = False
    repair: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    fixed: bool = False
    outcome: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)} (got {self.verdict!r})")
        self.subject, self.message, self.fix = one_line(self.subject), one_line(self.message), one_line(self.fix)
        self.fixable = self.fixable and self.repair is not None and self.verdict != OK

    @property
    def left(self) -> bool:
        """Not ok and not repaired: for a human."""
        return self.verdict != OK and not self.fixed

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: check, subject, verdict, message, fix, fixable, fixed, outcome, left."""
        return {
            "check": self.check,
            "subject": self.subject,
            "verdict": self.verdict,
            "message": self.message,
            "fix": self.fix,
            "fixable": self.fixable,
            "fixed": self.fixed,
            "outcome": one_line(self.outcome),
            "left": self.left,
        }


@dataclass
class Report:
    """What a doctor run found (``findings``, in check order) and, with ``fix``, repaired."""

    findings: list[Finding]
    fix: bool = False

    @property
    def left(self) -> list[Finding]:
        """The findings not ok and not repaired (for a human)."""
        return [f for f in self.findings if f.left]

    @property
    def fixed(self) -> list[Finding]:
        return [f for f in self.findings if f.fixed]

    @property
    def exit_code(self) -> int:
        """0 when no failure remains (warnings allowed), 1 when one does."""
        return 1 if any(f.verdict == FAIL and not f.fixed for f in self.findings) else 0

    def counts(self) -> dict[str, int]:
        """Findings by verdict (as found), plus ``fixed`` and ``left``."""
        out = {v: sum(1 for f in self.findings if f.verdict == v) for v in VERDICTS}
        out["fixed"] = len(self.fixed)
        out["left"] = len(self.left)
        return out


class Doctor:
    """The state one examination of ``town`` shares between its checks: the rigs that load, whether
    the database can be read, the store, the tmux host, the engine's pid.

    host: the SessionHost (default: the town's tmux server, None when tmux is missing).
    remote_timeout: seconds for each rig's ``git ls-remote``. clock: Unix seconds.
    """

    def __init__(
        self,
        town: Town,
        host: Any = None,
        remote_timeout: float = REMOTE_TIMEOUT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.town = town
        self.remote_timeout = float(remote_timeout)
        self.clock = clock
        self._given_host = host
        self._store: Any = None
        self._reset()

    def _reset(self) -> None:
        self.close()
        self.config_ok = False
        self.rigs: list[Any] = []
        self.db_state = "unknown"  # ok | missing | unusable
        self._host: Any = self._given_host
        self._host_error: str | None = None
        self._engine: int | None | bool = False
        self._worktrees: dict[str, list[dict[str, Any]]] = {}

    def close(self) -> None:
        """Close the store this examination opened."""
        if self._store is not None:
            self._store.disconnect()
            self._store = None

    @property
    def engine(self) -> int | None:
        """The pid of the town's running engine, or None (:func:`core.pidfile.engine_pid`)."""
        if self._engine is False:
            self._engine = engine_pid(self.town)
        return self._engine

    @property
    def store(self) -> Any:
        """The town's BeadStore (ledger guard skipped: doctor runs the guard itself), or None when
        the database is missing or unusable (it is never created here)."""
        if self.db_state != "ok":
            return None
        if self._store is None:
            from core.beads.store import BeadStore

            self._store = BeadStore(self.town, check=False)
        return self._store

    @property
    def host(self) -> Any:
        """The town's SessionHost, or None when tmux is missing (:attr:`host_error` says why)."""
        if self._host is None and self._host_error is None:
            from core.sessions import SessionHost

            try:
                self._host = SessionHost(self.town)
            except GtError as exc:
                self._host_error = str(exc)
        return self._host

    @property
    def host_error(self) -> str:
        return self._host_error or ""

    def rel(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the town root when inside it, else absolute."""
        p = Path(path)
        try:
            return str(p.resolve().relative_to(self.town.root)) or "."
        except ValueError:
            return str(p)

    def worktree_list(self, rig: Any) -> list[dict[str, Any]]:
        """The registered worktrees of ``rig``'s bare repository (``git worktree list --porcelain
        -z``): dicts with path, head, branch (short name or None), detached, bare, prunable."""
        if rig.name not in self._worktrees:
            self._worktrees[rig.name] = _worktree_list(rig.repo_path)
        return self._worktrees[rig.name]

    def examine(self, only: Iterable[str] | None = None) -> list[Finding]:
        """Run every check (or those named in ``only``; the setup checks town, rigs and database
        always run, for the state later checks need, but report only when named). A check that
        breaks is one ``fail`` finding naming it, and the others still run."""
        self._reset()
        wanted = set(only) if only is not None else None
        out: list[Finding] = []
        for name, fn in CHECKS:
            if wanted is not None and name not in wanted and name not in SETUP_CHECKS:
                continue
            try:
                found = fn(self)
            except (GtError, OSError, sqlite3.Error, subprocess.SubprocessError) as exc:
                found = [
                    Finding(
                        name,
                        "doctor",
                        FAIL,
                        f"the {name} check could not finish: {exc}",
                        "fix what it names and run 'gt doctor' again",
                    )
                ]
            if wanted is None or name in wanted:
                out.extend(found)
        return out


def examine(town: Town, host: Any = None, remote_timeout: float = REMOTE_TIMEOUT_S) -> list[Finding]:
    """Every check of :data:`CHECKS` on ``town``; changes nothing. See the module docstring."""
    doctor = Doctor(town, host=host, remote_timeout=remote_timeout)
    try:
        return doctor.examine()
    finally:
        doctor.close()


def run(town: Town, fix: bool = False, host: Any = None, remote_timeout: float = REMOTE_TIMEOUT_S) -> Report:
    """Examine ``town`` and, with ``fix``, apply every safe repair (in :data:`REPAIR_ORDER`: locks
    before the ledger commit they would block, the ledger last), then run the repaired checks again:
    a repair whose subject still shows a problem is marked not fixed (with what is seen now), and a
    problem the repairs uncovered (a branch a removed worktree left unused) is added, and repaired
    in the next round when it can be (at most :data:`REPAIR_ROUNDS` rounds). Everything not
    repaired is left for a human (:attr:`Report.left`). Never raises for what it finds."""
    doctor = Doctor(town, host=host, remote_timeout=remote_timeout)
    try:
        findings = doctor.examine()
        if not fix:
            return Report(findings)
        seen = {(f.check, f.subject) for f in findings}
        for _ in range(REPAIR_ROUNDS):
            todo = sorted(
                (f for f in findings if f.fixable and not f.fixed and not f.outcome),
                key=lambda f: REPAIR_ORDER.index(f.check) if f.check in REPAIR_ORDER else len(REPAIR_ORDER),
            )
            if not todo:
                break
            for f in todo:
                assert f.repair is not None
                try:
                    f.outcome = f.repair()
                    f.fixed = True
                except (GtError, OSError, sqlite3.Error, subprocess.SubprocessError) as exc:
                    f.outcome = str(exc)
            doctor.close()
            after = doctor.examine(only=[name for name, _ in CHECKS if name not in UNREPAIRED])
            still = {(a.check, a.subject): a for a in after if a.verdict != OK}
            for f in findings:
                now = still.get((f.check, f.subject))
                if f.fixed and now is not None:
                    f.fixed = False
                    f.outcome += f"; still: {now.message}"
            for key, a in still.items():
                if key not in seen:
                    seen.add(key)
                    findings.append(a)
                    continue
                for i, f in enumerate(findings):  # ok before, a problem now (a repair changed a bead)
                    if (f.check, f.subject) == key and f.verdict == OK:
                        findings[i] = a
        return Report(findings, fix=True)
    finally:
        doctor.close()


# -- town and config ------------------------------------------------------------------------------

#: Directories of a town's layout (core.town): relative path -> private (0700).
LAYOUT = {".beads": False, ".beads/formulas": False, ".gastown": True, ".gastown/logs": True, "mayor": False}


def check_town(d: Doctor) -> list[Finding]:
    """``town.toml`` parses and validates; the town's directories exist (repair: made)."""
    town = d.town
    out = []
    town.reload()
    try:
        town.config  # noqa: B018 - loading validates
        d.config_ok = True
        out.append(Finding("town", "town.toml", OK, "parses and validates"))
    except ConfigError as exc:
        out.append(Finding("town", "town.toml", FAIL, str(exc), "edit town.toml as the message says"))
    missing = [rel for rel in LAYOUT if not (town.root / rel).is_dir()]
    if missing:

        def make() -> str:
            from core.filemodes import private_dir

            for rel in missing:
                if LAYOUT[rel]:
                    private_dir(town.root / rel)
                else:
                    (town.root / rel).mkdir(parents=True, exist_ok=True)
            return f"made {', '.join(missing)}"

        out.append(
            Finding(
                "town",
                "layout",
                WARN,
                f"missing directories: {', '.join(missing)}",
                "gt doctor --fix makes them",
                fixable=True,
                repair=make,
            )
        )
    else:
        out.append(
            Finding(
                "town",
                "layout",
                OK,
                "town.toml, .beads/, .gastown/ and mayor/ in place"
                + (
                    ""
                    if git.is_repo(town.root)
                    else "; not a git repository (gt install --no-git): the ledger is not committed"
                ),
            )
        )
    return out


def check_rigs(d: Doctor) -> list[Finding]:
    """Every ``<rig>/rig.toml`` parses and validates, each on its own; prefixes are distinct."""
    from core.config import load_rig_config
    from core.rigs import RIG_FILE, Rig

    out = []
    for child in sorted(d.town.root.iterdir()):
        if not child.is_dir() or child.name.startswith("."):
            continue
        path = child / RIG_FILE
        if not path.is_file():
            if (child / ".repo.git").is_dir():
                out.append(
                    Finding(
                        "rigs",
                        child.name,
                        WARN,
                        f"{child.name}/.repo.git exists but {child.name}/{RIG_FILE} "
                        "does not (a removed or half-added rig)",
                        f"move {child} away, or add the rig again with 'gt rig add'",
                    )
                )
            continue
        try:
            d.rigs.append(Rig(d.town, child.name, load_rig_config(path)))
        except ConfigError as exc:
            out.append(
                Finding(
                    "rigs",
                    f"{child.name}/{RIG_FILE}",
                    FAIL,
                    str(exc),
                    f"edit {child.name}/{RIG_FILE} as the message says",
                )
            )
    owners: dict[str, list[str]] = {}
    for rig in d.rigs:
        owners.setdefault(rig.prefix, []).append(rig.name)
    if d.config_ok:
        owners.setdefault(d.town.prefix, []).append("the town")
    for prefix, names in sorted(owners.items()):
        if len(names) > 1:
            out.append(
                Finding(
                    "rigs",
                    f"prefix {prefix}",
                    FAIL,
                    f"bead prefix {prefix!r} is used by {', '.join(names)}",
                    "give each rig its own prefix in its rig.toml",
                )
            )
    if d.rigs and not any(f.verdict != OK for f in out):
        out.append(
            Finding(
                "rigs", "rig.toml", OK, f"{len(d.rigs)} rig(s) parse and validate: " + ", ".join(r.name for r in d.rigs)
            )
        )
    elif not d.rigs and not out:
        out.append(Finding("rigs", "rig.toml", OK, "no rigs yet (add one with 'gt rig add NAME URL')"))
    return out


# -- database and ledger --------------------------------------------------------------------------


def _expected_schema() -> dict[str, list[str]]:
    """table -> column names, from every registered schema script applied to an empty database."""
    import core.agent_state  # noqa: F401 - each registers its schema on import
    import core.beads.store  # noqa: F401
    import core.events  # noqa: F401
    import core.mq  # noqa: F401
    import core.nudge  # noqa: F401
    import core.polecats  # noqa: F401
    import core.scheduler  # noqa: F401
    from core.db import registered_schemas

    conn = sqlite3.connect(":memory:")
    try:
        for ddl in registered_schemas().values():
            conn.executescript(ddl)
        return _schema(conn)
    finally:
        conn.close()


def _schema(conn: sqlite3.Connection) -> dict[str, list[str]]:
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {t: [r[1] for r in conn.execute(f'PRAGMA table_info("{t}")')] for t in tables}


def check_database(d: Doctor) -> list[Finding]:
    """``PRAGMA integrity_check`` on a read-only open, and every table and column the code expects."""
    from core.db import REBUILD_HINT, unusable

    path = d.town.db_path
    subject = d.rel(path)
    try:
        size: int | None = path.stat().st_size
    except FileNotFoundError:
        size = None
    if not size:
        beads = ledger_bead_count(d.town)
        d.db_state = "missing"
        state = "missing" if size is None else "empty (0 bytes)"
        if beads:
            return [
                Finding("database", subject, FAIL, f"{state} but .beads/issues.jsonl holds {beads} beads", REBUILD_HINT)
            ]
        return [
            Finding(
                "database", subject, OK, f"{state}: made at the first command that needs it (the ledger holds no beads)"
            )
        ]
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        d.db_state = "unusable"
        return [Finding("database", subject, FAIL, f"cannot be opened: {exc}", REBUILD_HINT)]
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        actual = _schema(conn)
    except sqlite3.DatabaseError as exc:
        d.db_state = "unusable"
        lost = unusable(path, exc)
        return [
            Finding(
                "database", subject, FAIL, str(lost) if lost else f"cannot be read: {exc}", "" if lost else REBUILD_HINT
            )
        ]
    finally:
        conn.close()
    if rows != ["ok"]:
        d.db_state = "unusable"
        return [
            Finding(
                "database",
                subject,
                FAIL,
                f"integrity_check: {'; '.join(rows[:3])}" + (f" (+{len(rows) - 3} more)" if len(rows) > 3 else ""),
                f"{REBUILD_HINT} (the bad file is moved aside)",
            )
        ]
    d.db_state = "ok"
    expected = _expected_schema()
    lacking = {t: [c for c in cols if c not in actual[t]] for t, cols in expected.items() if t in actual}
    lacking = {t: cols for t, cols in lacking.items() if cols}
    out: list[Finding] = []
    if lacking:
        what = "; ".join(f"{t} lacks {', '.join(cols)}" for t, cols in sorted(lacking.items()))
        out.append(
            Finding(
                "database",
                f"{subject} schema",
                FAIL,
                f"{what} (a database older than this gastown-tui)",
                f"back up {subject}, then {REBUILD_HINT}",
            )
        )
    if not out:
        present = sum(1 for t in expected if t in actual)
        out.append(
            Finding(
                "database",
                subject,
                OK,
                f"integrity ok; {present} table(s), each with every column "
                "the code expects (the others are made when first used)",
            )
        )
    return out


def check_ledger(d: Doctor) -> list[Finding]:
    """The ledger file is what the database last wrote or read, holds what the database holds, and
    is committed; repaired (re-export and commit) only when the ledger guard passes."""
    from core.beads import guard, jsonl
    from core.beads import sync as ledger_sync

    town = d.town
    subject = ".beads/issues.jsonl"
    if d.db_state == "missing":
        return [Finding("ledger", subject, OK, f"holds {ledger_bead_count(town)} beads; no database yet")]
    store = d.store
    if store is None:
        return [
            Finding(
                "ledger",
                subject,
                WARN,
                "not compared: the database cannot be read (see database)",
                "repair the database first",
            )
        ]
    try:
        guard.verify(store.db, town)
    except GtError as exc:  # LedgerConflict, LedgerDiverged, DatabaseLost: the message names the fix
        return [Finding("ledger", subject, FAIL, str(exc), "as the message says; doctor never exports over it")]
    out = []
    data = "".join(jsonl.snapshot_lines(store)).encode("utf-8")
    try:
        on_disk: bytes | None = town.ledger_path.read_bytes()
    except FileNotFoundError:
        on_disk = None
    beads = count_ledger_lines(data)
    is_repo = git.is_repo(town.root)
    committed = git.read_path_at(town.root, "HEAD", ledger_sync.LEDGER_REL) if is_repo else on_disk
    busy = git.operation_in_progress(town.root) if is_repo else None

    def resync() -> str:
        result = ledger_sync.sync(town, force=True, store=store)
        if result.blocked:
            raise GtError(result.blocked)
        return (
            f"re-exported {result.exported} beads"
            + (f" and committed {result.commit[:12]}" if result.commit else "")
            + " (gt bead sync)"
        )

    fixable = busy is None and d.config_ok
    fix = (
        "gt doctor --fix re-exports and commits it (gt bead sync)"
        if fixable
        else f"finish the git {busy} in the town repository, then run 'gt bead sync'"
        if busy
        else "fix town.toml, then run 'gt bead sync'"
    )
    if on_disk != data:
        dirty = store.dirty()
        now = d.clock()
        oldest = min((ts for _, ts in dirty), default=now)
        pending = store.config_get(ledger_sync.PENDING_KEY)
        flusher = bool(pending) and now - float(pending) < ledger_sync.STALE_S
        debounce = float(town.setting("ledger", "commit_debounce")) if d.config_ok else 5.0
        if dirty and (d.engine is not None or flusher) and now - oldest < ledger_sync.MAX_DELAY_S + debounce + 5:
            out.append(
                Finding(
                    "ledger",
                    subject,
                    OK,
                    f"{len(dirty)} bead change(s) from the last {now - oldest:.0f}s "
                    f"are being exported by the {'engine' if d.engine is not None else 'ledger flusher'}",
                )
            )
        else:
            what = (
                "missing"
                if on_disk is None
                else f"{len(dirty)} bead change(s) since the last export (oldest {now - oldest:.0f}s ago)"
                if dirty
                else "differs from the database"
            )
            verdict = WARN if ledger_sync.sync_mode() == "off" else FAIL
            out.append(
                Finding(
                    "ledger",
                    subject,
                    verdict,
                    f"{what}: the committed ledger lacks what the database holds ({beads} beads)",
                    fix,
                    fixable=fixable,
                    repair=resync,
                )
            )
    elif is_repo and committed != data:
        out.append(
            Finding(
                "ledger",
                subject,
                FAIL,
                "exported but not committed to the town repository",
                fix,
                fixable=fixable,
                repair=resync,
            )
        )
    else:
        out.append(
            Finding(
                "ledger", subject, OK, f"{beads} beads, as the database holds them" + (", committed" if is_repo else "")
            )
        )
    if busy:
        out.append(
            Finding(
                "ledger",
                "town repository",
                WARN,
                f"a git {busy} is in progress: ledger commits wait",
                "finish it (git status shows how), or abort it",
            )
        )
    blocked = ledger_sync.blocked_reason(store)
    if blocked and not busy and all(f.verdict == OK for f in out):
        out.append(
            Finding(
                "ledger",
                "ledger sync",
                WARN,
                f"the last sync was blocked: {blocked}",
                "as the message says; the next change retries",
            )
        )
    return out


# -- tools ----------------------------------------------------------------------------------------


def _version(argv: list[str]) -> tuple[tuple[int, int] | None, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    text = (proc.stdout or proc.stderr).strip().splitlines()
    line = text[0] if text else ""
    m = _VERSION.search(line)
    return ((int(m.group(1)), int(m.group(2))) if m else None), line


def check_tools(d: Doctor) -> list[Finding]:
    """git >= :data:`GIT_MIN` and tmux >= :data:`TMUX_MIN` (see their comments for why)."""
    out = []
    for tool, argv, minimum, why, how in (
        (
            "git",
            ["git", "--version"],
            GIT_MIN,
            "the refinery's dry-run merges use git merge-tree --write-tree",
            "upgrade git (e.g. sudo apt-get install git, or git-scm.com)",
        ),
        (
            "tmux",
            ["tmux", "-V"],
            TMUX_MIN,
            "sessions use window-size latest",
            "upgrade tmux (e.g. sudo apt-get install tmux)",
        ),
    ):
        want = ".".join(map(str, minimum))
        if shutil.which(argv[0]) is None:
            out.append(
                Finding(
                    "tools",
                    tool,
                    FAIL,
                    f"{tool} is not installed (gastown-tui needs {tool} >= {want})",
                    how.replace("upgrade", "install"),
                )
            )
            continue
        version, line = _version(argv)
        if version is None:
            out.append(
                Finding(
                    "tools",
                    tool,
                    WARN,
                    f"cannot tell the version of {tool} ({line or 'no output'}); gastown-tui needs {want} or newer",
                    f"check that {argv[0]} runs",
                )
            )
        elif version < minimum:
            out.append(Finding("tools", tool, FAIL, f"{line} is older than {want}: {why}", how))
        else:
            out.append(Finding("tools", tool, OK, f"{line} (>= {want})"))
    return out


# -- rigs' repositories ---------------------------------------------------------------------------


def _remote_env() -> dict[str, str]:
    """No prompt may hang a check: git's terminal prompt is off (core.git.run_git) and ssh runs in
    batch mode with a connect timeout, unless the user set GIT_SSH_COMMAND."""
    if os.environ.get("GIT_SSH_COMMAND"):
        return {}
    return {"GIT_SSH_COMMAND": f"ssh -o BatchMode=yes -o ConnectTimeout={int(REMOTE_TIMEOUT_S)}"}


def remote_location(url: str) -> str:
    """``url`` as git is given it: a local path (:func:`core.remote.is_local`) with ``~`` expanded, as
    :func:`core.git.clone_bare` reads it."""
    if is_local(url) and not url.startswith("file://"):
        return str(Path(url).expanduser())
    return url


def check_repos(d: Doctor) -> list[Finding]:
    """Each rig's bare repository and default branch; its remote reachable (a warning when not)."""
    out = []
    for rig in d.rigs:
        subject = f"rig {rig.name}"
        repo = rig.repo_path
        if not repo.is_dir():
            out.append(
                Finding(
                    "repos",
                    subject,
                    FAIL,
                    f"its bare repository {d.rel(repo)} is missing",
                    f"restore it with 'git clone --bare {rig.git_url} {repo}', or remove and add the rig",
                )
            )
            continue
        proc = git.run_git(["rev-parse", "--is-bare-repository"], cwd=repo, check=False, timeout=30)
        if proc.returncode != 0 or proc.stdout.strip() != "true":
            out.append(
                Finding(
                    "repos",
                    subject,
                    FAIL,
                    f"{d.rel(repo)} is not a bare git repository "
                    f"({(proc.stderr or proc.stdout).strip() or 'not bare'})",
                    "restore it from the rig's remote, or remove and add the rig",
                )
            )
            continue
        if not git.branch_exists(repo, rig.default_branch):
            out.append(
                Finding(
                    "repos",
                    subject,
                    FAIL,
                    f"{d.rel(repo)} has no branch {rig.default_branch!r} "
                    f"(rig.toml default_branch; branches: {', '.join(git.branches(repo)[:5]) or 'none'})",
                    f"set default_branch in {rig.name}/rig.toml to an existing branch",
                )
            )
        else:
            out.append(Finding("repos", subject, OK, f"{d.rel(repo)} has {rig.default_branch}"))
        remote = _remote(d, rig)
        out.append(remote)
        if remote.verdict == OK:
            out.append(_push(d, rig))
    return out


def _push(d: Doctor, rig: Any) -> Finding:
    """Whether the rig's landing can push upstream (``direct``/``pr``: a ``git push --dry-run``)."""
    from core import upstream

    subject = f"rig {rig.name} landing"
    strategy = upstream.strategy(rig)
    if strategy == "local":
        return Finding("repos", subject, OK, "strategy local: merged work stays in the rig's bare repository")
    ok, why = upstream.can_push(rig, timeout=d.remote_timeout)
    if ok:
        return Finding("repos", subject, OK, f"strategy {strategy}: git may push to {upstream.push_url(rig)}")
    return Finding(
        "repos",
        subject,
        FAIL,
        f"strategy {strategy}, but git may not push to {upstream.push_url(rig)} ({why}): merged work cannot land there",
        f"fix git's credentials or push_url in {rig.name}/rig.toml, or set [merge_queue] "
        'strategy = "local" to land in the rig\'s bare repository only',
    )


def _remote(d: Doctor, rig: Any) -> Finding:
    # ls-remote only reads: the push is probed by _push
    subject = f"rig {rig.name} remote"
    url = rig.git_url
    if not url:
        return Finding(
            "repos",
            subject,
            WARN,
            "rig.toml has no git_url: the rig cannot fetch or land upstream",
            f"set git_url in {rig.name}/rig.toml",
        )
    try:
        proc = git.run_git(
            ["ls-remote", "--heads", remote_location(url)],
            cwd=d.town.root,
            check=False,
            timeout=d.remote_timeout,
            env=_remote_env(),
        )
    except subprocess.TimeoutExpired:
        return Finding(
            "repos",
            subject,
            WARN,
            f"{url} did not answer within {d.remote_timeout:g}s",
            "check the network and the URL (git ls-remote URL)",
        )
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        why = next(
            (ln for ln in lines if ln.startswith(("fatal:", "error:"))),
            lines[-1] if lines else f"exit {proc.returncode}",
        )
        return Finding(
            "repos",
            subject,
            WARN,
            f"{url} is unreachable ({why})",
            "check the URL, the network and git's credentials (git ls-remote URL)",
        )
    heads = {line.split("\t", 1)[1] for line in proc.stdout.splitlines() if "\t" in line}
    if f"refs/heads/{rig.default_branch}" not in heads:
        return Finding(
            "repos",
            subject,
            WARN,
            f"{url} answers but has no branch {rig.default_branch!r}",
            f"push {rig.default_branch} there, or fix default_branch in {rig.name}/rig.toml",
        )
    return Finding("repos", subject, OK, f"{url} answers and has {rig.default_branch}")


# -- worktrees and branches -----------------------------------------------------------------------


def _worktree_list(repo: Path) -> list[dict[str, Any]]:
    proc = git.run_git(["worktree", "list", "--porcelain", "-z"], cwd=repo, check=False)
    if proc.returncode != 0:
        raise GitError(f"git worktree list failed in {repo}: {(proc.stderr or proc.stdout).strip()}")
    entries: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for item in proc.stdout.split("\0"):
        if not item:
            cur = None
            continue
        key, _, value = item.partition(" ")
        if key == "worktree":
            cur = {
                "path": Path(value),
                "head": None,
                "branch": None,
                "detached": False,
                "bare": False,
                "prunable": None,
            }
            entries.append(cur)
        elif cur is None:
            continue
        elif key == "HEAD":
            cur["head"] = value
        elif key == "branch":
            cur["branch"] = value.removeprefix("refs/heads/")
        elif key in ("detached", "bare"):
            cur[key] = True
        elif key == "prunable":
            cur["prunable"] = value or "its directory is gone"
    return entries


def _is_under(path: Path, parent: Path) -> bool:
    try:
        return path.resolve().is_relative_to(parent.resolve())
    except OSError:
        return False


def check_worktrees(d: Doctor) -> list[Finding]:
    """Worktrees without a polecat (removed only when clean and merged), stale registrations
    (pruned), and hooked polecats whose worktree is gone."""
    out = []
    db = d.store.db if d.store is not None else None
    for rig in d.rigs:
        if not rig.repo_path.is_dir():
            continue
        entries = d.worktree_list(rig)
        rows = {p.name: p for p in polecats.list_polecats(db, rig=rig.name)} if db is not None else {}
        found: list[Finding] = []
        prunable = [e for e in entries if e["prunable"] and not e["bare"]]
        if prunable:

            def prune(repo: Path = rig.repo_path, n: int = len(prunable)) -> str:
                git.run_git(["worktree", "prune"], cwd=repo)
                return f"pruned {n} stale worktree registration(s) (git worktree prune)"

            found.append(
                Finding(
                    "worktrees",
                    f"rig {rig.name}",
                    WARN,
                    f"{len(prunable)} worktree registration(s) of deleted directories: "
                    + ", ".join(d.rel(e["path"]) for e in prunable[:3]),
                    "gt doctor --fix prunes them (git worktree prune)",
                    fixable=True,
                    repair=prune,
                )
            )
        by_path = {e["path"].resolve(): e for e in entries if not e["prunable"]}
        known = [rig.polecats_dir, rig.refinery_dir, rig.crew_dir, rig.repo_path]
        for e in entries:
            if e["bare"] or e["prunable"] or any(_is_under(e["path"], k) for k in known):
                continue
            found.append(
                Finding(
                    "worktrees",
                    d.rel(e["path"]),
                    WARN,
                    f"a worktree of rig {rig.name} that gastown did not make (outside polecats/, crew/ and refinery/)",
                    f"leave it, or remove it with 'git -C {rig.repo_path} worktree remove {e['path']}'",
                )
            )
        if db is None:
            found.append(
                Finding(
                    "worktrees",
                    f"rig {rig.name} polecats",
                    OK if d.db_state == "missing" else WARN,
                    "no database yet: no polecats"
                    if d.db_state == "missing"
                    else "owners not checked: the database cannot be read (see database)",
                )
            )
        elif rig.polecats_dir.is_dir():
            for path in sorted(p for p in rig.polecats_dir.iterdir() if p.is_dir()):
                if path.name in rows:
                    continue
                found.append(_orphan_worktree(d, rig, path, by_path.get(path.resolve())))
        for p in rows.values():
            path = rig.polecats_dir / p.name
            if p.hook_bead and (not path.is_dir() or not (path / ".git").exists()):
                engine = d.engine is not None
                found.append(
                    Finding(
                        "worktrees",
                        f"{rig.name}/polecats/{p.name}",
                        WARN if engine else FAIL,
                        f"holds {p.hook_bead} but its worktree is gone"
                        + ("; the running engine's witness re-creates it" if engine else ""),
                        ""
                        if engine
                        else "start the engine with 'gt up' (its witness re-creates the "
                        f"worktree from the branch and last checkpoint), or 'gt sling --resume {p.hook_bead}' "
                        "once its session is stopped",
                    )
                )
        if not found:
            found.append(Finding("worktrees", f"rig {rig.name}", OK, f"{len(rows)} polecat(s), every worktree owned"))
        out += found
    return out


def _orphan_worktree(d: Doctor, rig: Any, path: Path, entry: dict[str, Any] | None) -> Finding:
    subject = d.rel(path)
    if entry is None or not git.worktree_valid(path, rig.repo_path):
        if not any(path.iterdir()):

            def rmdir() -> str:
                path.rmdir()
                return f"removed the empty directory {subject}"

            return Finding(
                "worktrees",
                subject,
                WARN,
                "an empty directory where a polecat worktree would be",
                "gt doctor --fix removes it",
                fixable=True,
                repair=rmdir,
            )
        return Finding(
            "worktrees",
            subject,
            WARN,
            f"not a worktree of rig {rig.name}, and no polecat owns it",
            "look at it and move it away (doctor never deletes it)",
        )
    try:
        dirty = git.dirty_paths(path)
    except GitError as exc:
        return Finding(
            "worktrees",
            subject,
            WARN,
            f"no polecat owns it and git cannot read it ({exc})",
            "look at it by hand (doctor never deletes it)",
        )
    where = f"branch {entry['branch']}" if entry["branch"] else "a detached HEAD"
    if dirty:
        return Finding(
            "worktrees",
            subject,
            WARN,
            f"no polecat owns it, and it holds {len(dirty)} uncommitted file(s) "
            f"({', '.join(dirty[:3])}{'...' if len(dirty) > 3 else ''}) on {where}: left for a human",
            f"commit or copy the work, then remove it with 'git -C {rig.repo_path} worktree remove {path}'",
        )
    head = entry["head"]
    ahead = git.count_commits(rig.repo_path, rig.default_branch, head) if head else 0
    if ahead:
        return Finding(
            "worktrees",
            subject,
            WARN,
            f"no polecat owns it, and {where} holds {ahead} commit(s) not on {rig.default_branch}: left for a human",
            f"land or keep the commits (a branch keeps them), then remove it with "
            f"'git -C {rig.repo_path} worktree remove {path}'",
        )

    def remove() -> str:
        if git.dirty_paths(path):
            raise GtError(f"{subject} has uncommitted work now: left for a human")
        git.worktree_remove(rig.repo_path, path)  # no --force: git refuses uncommitted work too
        kept = f"; branch {entry['branch']} kept" if entry["branch"] else ""
        return f"removed the orphaned worktree {subject} (clean, nothing unmerged{kept})"

    return Finding(
        "worktrees",
        subject,
        WARN,
        f"no polecat owns it ({where}, clean, nothing missing from {rig.default_branch})",
        "gt doctor --fix removes it (git worktree remove, never --force)",
        fixable=True,
        repair=remove,
    )


def check_branches(d: Doctor) -> list[Finding]:
    """``polecat/*`` branches no polecat, worktree or open MR uses: merged ones deleted, others listed."""
    from core import mq

    out = []
    db = d.store.db if d.store is not None else None
    for rig in d.rigs:
        if not rig.repo_path.is_dir() or db is None:
            continue
        proc = git.run_git(
            ["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/polecat/"], cwd=rig.repo_path
        )
        refs = [line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line]
        used = {p.branch for p in polecats.list_polecats(db, rig=rig.name) if p.branch}
        used |= {e["branch"] for e in d.worktree_list(rig) if e["branch"]}
        used |= {m.branch for m in mq.list_mrs(db, rig=rig.name, statuses=("queued", "merging", "failed", "conflict"))}
        found = []
        for sha, ref in refs:
            branch = ref.removeprefix("refs/heads/")
            if branch in used:
                continue
            subject = f"{rig.name} branch {branch}"
            if git.is_ancestor(rig.repo_path, sha, rig.default_branch):

                def delete(
                    repo: Path = rig.repo_path,
                    ref: str = ref,
                    sha: str = sha,
                    branch: str = branch,
                    default: str = rig.default_branch,
                ) -> str:
                    if not git.delete_ref(repo, ref, sha):
                        raise GtError(f"{branch} moved meanwhile: left as it is")
                    return f"deleted the merged branch {branch} (it pointed at {sha[:12]}, on {default})"

                found.append(
                    Finding(
                        "branches",
                        subject,
                        WARN,
                        f"no polecat, worktree or open MR uses it, and it is merged into {rig.default_branch}",
                        "gt doctor --fix deletes it",
                        fixable=True,
                        repair=delete,
                    )
                )
            else:
                ahead = git.count_commits(rig.repo_path, rig.default_branch, sha)
                bead = branch.split("/", 2)[2] if branch.count("/") >= 2 else "BEAD"
                found.append(
                    Finding(
                        "branches",
                        subject,
                        WARN,
                        f"no polecat, worktree or open MR uses it, and it holds "
                        f"{ahead} commit(s) not on {rig.default_branch}: left for a human",
                        f"sling {bead} again to continue it (the branch is reused), or delete it with "
                        f"'git -C {rig.repo_path} branch -D {branch}'",
                    )
                )
        if not found:
            found.append(Finding("branches", f"rig {rig.name}", OK, f"{len(refs)} polecat branch(es), each in use"))
        out += found
    return out


# -- sessions and hooks ---------------------------------------------------------------------------


def _role_session(name: str, rigs: list[str]) -> bool:
    if name in _ROLE_SESSIONS:
        return True
    for rig in rigs:
        if name in (f"{rig}-refinery", f"{rig}-witness") or name.startswith(f"{rig}-crew-"):
            return True  # crew sessions belong to crew workspaces (gt crew stop ends them)
    return False


def check_sessions(d: Doctor) -> list[Finding]:
    """Sessions without a polecat, hooked polecats whose session is dead, stranded hooks."""
    from core.deacon import Deacon
    from core.sessions import session_name
    from core.sling import session_seen
    from core.witness import SPENT_STATUSES

    store = d.store
    if store is None:
        return [
            Finding(
                "sessions",
                "hooks",
                OK if d.db_state == "missing" else WARN,
                "no database yet: no hooks"
                if d.db_state == "missing"
                else "not checked: the database cannot be read (see database)",
            )
        ]
    host = d.host
    if host is None:
        return [Finding("sessions", "tmux", FAIL, f"not checked: {d.host_error}", "install tmux")]
    db = store.db
    engine = d.engine is not None
    rows = polecats.list_polecats(db)
    out = []
    sessions = host.list()
    owned = {p.session or session_name("polecat", p.rig, p.name) for p in rows}
    rig_names = [r.name for r in d.rigs] + sorted({p.rig for p in rows})
    for s in sessions:
        if s.name in owned or _role_session(s.name, rig_names):
            continue
        if s.alive:
            out.append(
                Finding(
                    "sessions",
                    f"session {s.name}",
                    WARN,
                    f"runs (pid {s.pid}) but belongs to no polecat",
                    f"look at it with 'gt peek {s.name}'; stop it with "
                    f"'tmux -L {host.socket} kill-session -t ={s.name}' if it is not yours",
                )
            )
        else:

            def drop(name: str = s.name, instance: str = s.instance) -> str:
                host.kill(name, instance=instance or None)
                return f"removed the dead session {name} (its transcript stays in .gastown/logs)"

            out.append(
                Finding(
                    "sessions",
                    f"session {s.name}",
                    WARN,
                    "exited"
                    + (f" (status {s.exit_status})" if s.exit_status is not None else "")
                    + " and belongs to no polecat",
                    "gt doctor --fix removes it",
                    fixable=True,
                    repair=drop,
                )
            )
    witnesses: dict[str, Any] = {}

    def witness(rig: str) -> Any:
        if rig not in witnesses:
            from core.sling import Slinger
            from core.witness import Witness

            witnesses[rig] = Witness(d.town, rig, Slinger(d.town, host=host, store=store, actor=ACTOR), actor=ACTOR)
        return witnesses[rig]

    spawn_grace = float(d.town.setting("witness", "spawn_grace")) if d.config_ok else 60.0
    hooked = 0
    for p in rows:
        if not p.hook_bead:
            continue
        hooked += 1
        dead, seen = session_seen(host, p)
        subject = f"hook {p.hook_bead} ({p.address})"
        if dead is None:
            out.append(Finding("sessions", subject, WARN, seen, "run 'gt doctor' again"))
            continue
        if not dead:
            continue
        if p.state == "spawning" and d.clock() - p.updated_at < spawn_grace:
            continue  # a sling is starting it (the witness waits as long)
        if p.state == "stuck":
            out.append(
                Finding(
                    "sessions",
                    subject,
                    WARN,
                    f"{seen}; the polecat is stuck (too many restarts) and waits for a human",
                    f"restart it with 'gt sling --resume {p.hook_bead}', or 'gt polecat nuke {p.name} --rig {p.rig}'",
                )
            )
            continue
        if engine:
            out.append(
                Finding(
                    "sessions", subject, WARN, f"{seen}; the running engine's witness handles it on its next patrol"
                )
            )
            continue
        try:
            status = store.get(p.hook_bead).status
        except GtError:
            status = "missing"
        if status in SPENT_STATUSES:

            def settle(p: Any = p) -> str:
                decision = witness(p.rig).settle_dead_hook(polecats.get(db, p.rig, p.name) or p)
                if decision is None:
                    raise GtError("the witness would not clear it now: run 'gt doctor' again")
                return f"{decision.reason} (the witness's rule)"

            out.append(
                Finding(
                    "sessions",
                    subject,
                    FAIL,
                    f"{seen}, and the bead is {status}",
                    "gt doctor --fix clears the hook, as the witness does",
                    fixable=True,
                    repair=settle,
                )
            )
            continue
        maybe_done = _detached(d, p)
        fix = (
            f"restart it with 'gt sling --resume {p.hook_bead}', or start the engine ('gt up'): its witness restarts it"
        )
        if maybe_done:

            def settle_done(p: Any = p, fix: str = fix) -> str:
                decision = witness(p.rig).settle_dead_hook(polecats.get(db, p.rig, p.name) or p)
                if decision is None:
                    raise GtError(f"no interrupted gt done to settle: {fix}")
                return f"{decision.reason} (the witness's rule)"

            out.append(
                Finding(
                    "sessions",
                    subject,
                    FAIL,
                    f"{seen}; its worktree is detached (an interrupted gt done?)",
                    "gt doctor --fix settles an interrupted gt done as the witness does; else " + fix,
                    fixable=True,
                    repair=settle_done,
                )
            )
        else:
            out.append(
                Finding(
                    "sessions",
                    subject,
                    FAIL,
                    f"{seen} while the bead is {status}: the work is not "
                    "running, and restarting an agent is left to you",
                    fix,
                )
            )
    deacon = Deacon(d.town, host, store)
    deacon.actor = ACTOR  # the deacon's rule, applied by doctor
    stranded = deacon.stranded()
    released: list[str] | None = None

    def release(bead: str) -> str:
        nonlocal released
        if released is None:
            released = deacon.release_stranded()
        if bead not in released:
            raise GtError(f"{bead} changed meanwhile: left as it is")
        return f"released {bead} to open and queued it again for its rig (the deacon's rule)"

    for bead, assignee, why in stranded:
        subject = f"hook {bead} ({assignee})"
        if engine:
            out.append(
                Finding(
                    "sessions",
                    subject,
                    WARN,
                    f"hooked but {why}; the running engine's deacon releases it on its next patrol",
                )
            )
        else:
            out.append(
                Finding(
                    "sessions",
                    subject,
                    FAIL,
                    f"hooked but {why}: nothing works on it",
                    "gt doctor --fix reopens it and queues it again, as the deacon does",
                    fixable=True,
                    repair=functools.partial(release, bead),
                )
            )
    if not out:
        out.append(
            Finding(
                "sessions",
                "sessions",
                OK,
                f"{len(sessions)} session(s) on tmux socket {host.socket}; {hooked} hook(s), each with a live session",
            )
        )
    return out


def _detached(d: Doctor, p: Any) -> bool:
    """True if polecat ``p``'s worktree exists on a detached HEAD (what an interrupted ``gt done``
    leaves; :func:`core.done.finish_interrupted` decides)."""
    rig = next((r for r in d.rigs if r.name == p.rig), None)
    if rig is None:
        return False
    path = rig.polecats_dir / p.name
    return path.is_dir() and (path / ".git").exists() and git.current_branch(path) is None


# -- locks and pid files --------------------------------------------------------------------------


def _open_files() -> set[tuple[int, int]] | None:
    """(st_dev, st_ino) of every file a process this user can see has open (``/proc/*/fd``); None
    without ``/proc`` (then nothing can be proven unheld)."""
    if not Path("/proc/self/fd").is_dir():
        return None
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                st = os.stat(f"/proc/{entry}/fd/{fd}")
            except OSError:
                continue
            out.add((st.st_dev, st.st_ino))
    return out


def _flock_holders() -> dict[tuple[int, int, int], int]:
    """(major, minor, inode) -> pid of each ``flock`` lock the kernel lists (``/proc/locks``)."""
    out: dict[tuple[int, int, int], int] = {}
    try:
        text = Path("/proc/locks").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "FLOCK":
            try:
                major, minor, inode = parts[5].split(":")
                out[(int(major, 16), int(minor, 16), int(inode))] = int(parts[4])
            except ValueError:
                continue
    return out


def _git_lock_files(git_dir: Path) -> list[Path]:
    out = [git_dir / name for name in GIT_LOCKS if (git_dir / name).is_file()]
    refs = git_dir / "refs"
    if refs.is_dir():
        out += sorted(refs.rglob("*.lock"))
    worktrees = git_dir / "worktrees"
    if worktrees.is_dir():
        for wt in sorted(worktrees.iterdir()):
            out += [wt / name for name in GIT_LOCKS if (wt / name).is_file()]
    return out


def check_locks(d: Doctor) -> list[Finding]:
    """Stale pid files, stale git lock files, stale launcher specs; ``flock`` files and holders."""
    import filelock

    town = d.town
    state = town.state_dir
    out = []
    now = d.clock()
    pid_path = state / ENGINE_PID_FILE
    if pid_path.exists():
        pid = d.engine
        if pid is not None:
            out.append(Finding("locks", d.rel(pid_path), OK, f"the engine runs (pid {pid})"))
        else:

            def clear_pid() -> str:
                lock = filelock.FileLock(str(state / ENGINE_LOCK_FILE), thread_local=False)
                try:
                    lock.acquire(timeout=0)
                except filelock.Timeout as exc:
                    raise GtError("an engine started meanwhile: left as it is") from exc
                try:
                    pid_path.unlink(missing_ok=True)
                finally:
                    lock.release()
                return f"removed the stale {d.rel(pid_path)} (no engine held its lock)"

            try:
                text = pid_path.read_text().strip()
            except OSError:
                text = "?"
            out.append(
                Finding(
                    "locks",
                    d.rel(pid_path),
                    WARN,
                    f"names pid {text[:20]}, but no engine holds "
                    f"{ENGINE_LOCK_FILE}{'' if not text.isdigit() or not pid_alive(int(text)) else ' (that pid is another process now)'}",
                    "gt doctor --fix removes it (under the engine lock)",
                    fixable=True,
                    repair=clear_pid,
                )
            )
    git_dirs = [(town.root / ".git", "the town repository")] if (town.root / ".git").is_dir() else []
    git_dirs += [(r.repo_path, f"rig {r.name}") for r in d.rigs if r.repo_path.is_dir()]
    candidates = [(lock, owner) for git_dir, owner in git_dirs for lock in _git_lock_files(git_dir)]
    opened = _open_files() if candidates else set()
    for lock, owner in candidates:
        try:
            st = lock.stat()
        except FileNotFoundError:
            continue
        age = now - st.st_mtime
        held = opened is None or (st.st_dev, st.st_ino) in opened
        subject = d.rel(lock)
        if held or age < LOCK_GRACE_S:
            why = (
                "a process has it open"
                if opened is not None and held
                else "cannot tell who has it open (no /proc)"
                if opened is None
                else f"made {age:.0f}s ago"
            )
            out.append(
                Finding(
                    "locks",
                    subject,
                    OK if opened is not None else WARN,
                    f"git lock of {owner}: {why}",
                    "" if opened is not None else "remove it by hand once no git command runs there",
                )
            )
            continue

        def unlink(lock: Path = lock, ino: tuple[int, int] = (st.st_dev, st.st_ino)) -> str:
            now_open = _open_files()
            cur = lock.stat()
            if (cur.st_dev, cur.st_ino) != ino or (now_open is not None and ino in now_open):
                raise GtError(f"{d.rel(lock)} changed or was opened meanwhile: left as it is")
            lock.unlink()
            return f"removed the stale git lock {d.rel(lock)}"

        out.append(
            Finding(
                "locks",
                subject,
                FAIL,
                f"git lock of {owner}, {age:.0f}s old, and no process has it open "
                "(a git command died): git refuses to work there while it exists",
                "gt doctor --fix removes it",
                fixable=True,
                repair=unlink,
            )
        )
    specs = state / "sessions"
    if specs.is_dir():
        for spec in sorted(specs.glob("*.json")):
            try:
                age = now - spec.stat().st_mtime
            except FileNotFoundError:
                continue
            if age < SPEC_GRACE_S:
                continue

            def drop(spec: Path = spec) -> str:
                spec.unlink(missing_ok=True)
                return f"removed the stale launcher spec {d.rel(spec)}"

            out.append(
                Finding(
                    "locks",
                    d.rel(spec),
                    WARN,
                    f"a session launcher spec {age:.0f}s old (the launcher deletes "
                    "it as it starts); it holds a copy of the session's environment",
                    "gt doctor --fix removes it",
                    fixable=True,
                    repair=drop,
                )
            )
    holders = _flock_holders()
    flocks = sorted(state.glob("*.lock")) if state.is_dir() else []
    held_by = []
    for path in flocks:
        if lock_held(path):
            st = path.stat()
            pid = holders.get((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
            held_by.append(f"{path.name} (pid {pid})" if pid else path.name)
    out.append(
        Finding(
            "locks",
            ".gastown/*.lock",
            OK,
            f"{len(flocks)} flock lock file(s), "
            + (f"held: {', '.join(held_by)}" if held_by else "none held")
            + " (a kernel lock dies with its holder: never stale)",
        )
    )
    return out


# -- gates ----------------------------------------------------------------------------------------


def _gate_processes(state_dir: Path) -> dict[str, list[tuple[int, str]]]:
    """Processes tagged ``GT_GATE`` by a refinery of this town: rig name -> [(pid, tag value)]."""
    from core import proctree
    from core.gates import TAG_VAR

    prefix = f"{TAG_VAR}={state_dir.resolve()}{os.sep}refinery-".encode()
    me = os.getpid()
    out: dict[str, list[tuple[int, str]]] = {}
    for p in proctree.processes():
        if p.pid == me or p.state == "Z":
            continue
        try:
            env = Path(f"/proc/{p.pid}/environ").read_bytes()
        except OSError:
            continue
        for entry in env.split(b"\0"):
            if entry.startswith(prefix):
                value = entry[len(TAG_VAR) + 1 :].decode("utf-8", "replace")
                rig = entry[len(prefix) :].split(b".gate.pid:", 1)[0].decode("utf-8", "replace")
                out.setdefault(rig, []).append((p.pid, value))
                break
    return out


def check_gates(d: Doctor) -> list[Finding]:
    """Gate processes left by a refinery that died mid-gate (killed under the refinery's lock)."""
    import filelock

    from core.gates import TAG_VAR, kill_leftover, kill_tree

    state = d.town.state_dir
    tagged = _gate_processes(state) if Path("/proc/self/environ").exists() else {}
    names = sorted(
        {r.name for r in d.rigs}
        | set(tagged)
        | {p.name[len("refinery-") : -len(".gate.pid")] for p in state.glob("refinery-*.gate.pid")}
    )
    out = []
    for name in names:
        pidfile = state / f"refinery-{name}.gate.pid"
        lockfile = state / f"refinery-{name}.lock"
        procs = tagged.get(name, [])
        if not pidfile.exists() and not procs:
            continue
        subject = f"rig {name} gates"
        if lock_held(lockfile):
            out.append(Finding("gates", subject, OK, f"the refinery is gating now ({len(procs)} gate process(es))"))
            continue
        rig = next((r for r in d.rigs if r.name == name), None)
        cwd = rig.refinery_dir if rig is not None else d.town.root / name / "refinery"

        def kill(pidfile: Path = pidfile, lockfile: Path = lockfile, cwd: Path = cwd, name: str = name) -> str:
            lock = filelock.FileLock(str(lockfile), thread_local=False)
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout as exc:
                raise GtError(f"the refinery of rig {name} started meanwhile: it kills them itself") from exc
            try:
                killed = kill_leftover(pidfile, cwd)
                rest = _gate_processes(state).get(name, [])
                for value in sorted({v for _, v in rest}):
                    kill_tree(-1, (f"{TAG_VAR}={value}".encode(),))
                    killed = True
            finally:
                lock.release()
            return (
                "killed the leftover gate processes" if killed else "no gate process was left"
            ) + f" and removed {d.rel(pidfile)}"

        pids = ", ".join(str(pid) for pid, _ in procs[:5]) or "none found"
        out.append(
            Finding(
                "gates",
                subject,
                FAIL if procs else WARN,
                f"a refinery died mid-gate: {d.rel(pidfile) if pidfile.exists() else 'no pid file'}, "
                f"gate processes {pids}",
                "gt doctor --fix kills them, as the next refinery batch would",
                fixable=True,
                repair=kill,
            )
        )
    if not out:
        out.append(Finding("gates", "gates", OK, "no leftover gate process"))
    return out


# -- agents ---------------------------------------------------------------------------------------


def check_agents(d: Doctor) -> list[Finding]:
    """The default agent, the polecats' agents and the town's presets: installed, logged in."""
    from core.runtimes import presets, resolve
    from core.runtimes.check import check

    if not d.config_ok:
        return [Finding("agents", "agents", WARN, "not checked: town.toml does not parse (see town)")]
    town = d.town
    table = presets(town)
    default = str(town.setting(None, "default_agent"))
    names: dict[str, str] = {}
    if default == "auto":
        chosen = resolve(town, "auto").name
        names[chosen] = f"default agent (auto picks {chosen})"
    else:
        names[default] = "default agent"
    if d.store is not None:
        for p in polecats.list_polecats(d.store.db):
            if p.agent:
                names.setdefault(p.agent, f"agent of {p.address}")
    for name in town.config.get("agents", {}):
        names.setdefault(str(name), "[agents] preset in town.toml")
    out = []
    for name, role in names.items():
        subject = f"agent {name}"
        must = role.startswith("default")
        preset = table.get(name)
        if preset is None:
            out.append(
                Finding(
                    "agents",
                    subject,
                    FAIL if must else WARN,
                    f"{role}: no such preset",
                    f"add it with 'gt config agent set {name} \"CMD ARGS\"', or pick another with "
                    "'gt config default-agent NAME'",
                )
            )
            continue
        if preset.binary == "gt":
            out.append(Finding("agents", subject, OK, f"{role}: built in (gt)"))
            continue
        if not preset.installed():
            out.append(
                Finding(
                    "agents",
                    subject,
                    FAIL if must else WARN,
                    f"{role}: needs {preset.binary!r}, which is not installed",
                    f"install {preset.binary}, or pick another agent with 'gt config default-agent sim'",
                )
            )
            continue
        results = check(town, name)
        bad = [r for r in results if not r.ok]
        version = next((r.detail for r in results if r.name == "version"), "")
        if bad:
            out.append(
                Finding(
                    "agents",
                    subject,
                    WARN,
                    f"{role}: " + "; ".join(f"{r.name}: {r.detail}" for r in bad),
                    f"see 'gt agent check {name}'",
                )
            )
        else:
            passed = [r.name for r in results if r.name not in ("preset", "version")]
            out.append(
                Finding(
                    "agents",
                    subject,
                    OK,
                    f"{role}: {version or 'runs'}" + (f"; {', '.join(passed)} ok" if passed else ""),
                )
            )
    return out


def check_crew(d: Doctor) -> list[Finding]:
    """Crew workspaces (``core.crew``): each is a worktree of its rig on its own ``crew/NAME`` branch.
    Never repaired: a crew workspace holds a human's work."""
    from core import crew

    out = []
    for rig in d.rigs:
        crews = crew.list_crew(d.town, rig.name, sessions={})
        if not crews:
            out.append(Finding("crew", f"rig {rig.name}", OK, "no crew workspaces"))
        for c in crews:
            name, subject = c.name, f"{rig.name}/crew/{c.name}"
            if not c.valid:
                out.append(
                    Finding(
                        "crew",
                        subject,
                        WARN,
                        f"not a worktree of rig {rig.name}'s repository",
                        f"move it away, then 'gt crew add {name} --rig {rig.name}' (doctor never deletes it)",
                    )
                )
            elif c.branch != crew.branch_name(name):
                on = f"branch {c.branch}" if c.branch else "a detached HEAD"
                out.append(
                    Finding(
                        "crew",
                        subject,
                        WARN,
                        f"on {on}, not {crew.branch_name(name)}: gt done from it queues that branch",
                        f"git -C {c.path} switch {crew.branch_name(name)}",
                    )
                )
            else:
                out.append(
                    Finding(
                        "crew",
                        subject,
                        OK,
                        f"on {c.branch}, {c.dirty} uncommitted file(s), "
                        f"{c.ahead} commit(s) ahead of {rig.default_branch}",
                    )
                )
    return out


#: The checks in run order: (name, function). A new check (upstream pushes) is one more entry here
#: and its README line.
CHECKS: tuple[tuple[str, Callable[[Doctor], list[Finding]]], ...] = (
    ("town", check_town),
    ("rigs", check_rigs),
    ("database", check_database),
    ("ledger", check_ledger),
    ("tools", check_tools),
    ("repos", check_repos),
    ("worktrees", check_worktrees),
    ("crew", check_crew),
    ("branches", check_branches),
    ("sessions", check_sessions),
    ("locks", check_locks),
    ("gates", check_gates),
    ("agents", check_agents),
)
#: Checks that set up the state later checks use; they run on every examination.
SETUP_CHECKS = ("town", "rigs", "database")
#: The order repairs run in: stale locks first (a git lock blocks the ledger commit), the ledger last
#: (the deacon's release of a stranded bead changes beads).
REPAIR_ORDER = ("town", "database", "locks", "gates", "worktrees", "branches", "sessions", "ledger")
#: Checks no repair affects (and the slow ones: a remote's timeout, agent CLIs): not run again after repairs.
UNREPAIRED = ("tools", "repos", "agents", "crew")
#: Repair rounds at most: a repair may uncover another problem (a removed worktree's merged branch).
REPAIR_ROUNDS = 3
