"""Recovery of the beads ledger: rebuild a lost town database, merge a ledger changed elsewhere, and
reconcile either with git so already-merged work is closed, never re-worked (issue 15, item 4).

It reads every rig's repository, so it sits above both the ledger (``core.beads``, which knows no
rig) and ``core.rigs``.

- :func:`rebuild` (``gt bead rebuild``): a new ``town.db`` from the committed ledger, for a database
  that is missing, empty or corrupt (:class:`core.db.DatabaseLost`). It is built at a temporary path
  and renamed into place, so a crash leaves the previous state and the command can run again; a bad
  file is moved aside (``town.db.lost-<UTC time>``), never deleted.
- :func:`merge_ledger` (``gt bead import --merge``): merge a ledger file (both sides of git conflict
  markers included) into the existing database, the newer ``updated_at`` winning per bead.
- :func:`reconcile`: git is the record of what landed. Every merge commit on a rig's default branch
  (first parent) is written by the refinery as ``Merge <branch> (<MR id>, <bead>)``; a bead named
  there, or whose polecat branch ``polecat/<name>/<bead>`` is already contained in the default branch,
  is closed with the refinery's reason. Polecat branches not merged are reported: their work exists
  and ``gt sling --resume <bead>`` continues it.

Why ``gt bead rebuild`` and ``gt bead import --merge``: beads users restore a database with
``bd import`` from ``.beads/issues.jsonl`` and repair with ``bd doctor --fix``; the two commands sit
next to ``gt bead import`` and say what they do. A rebuild is never automatic (the issue's rule: an
explicit command), because a silent re-import is how a truncated ledger became the truth before.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import git
from core.beads import guard, jsonl
from core.beads.store import BeadStore
from core.db import DatabaseLost, connect, unusable
from core.errors import GitError, GtError
from core.rigs import list_rigs
from core.town import Town

ACTOR = "gt bead rebuild"
#: The refinery's merge commit subject (core.refinery: ``Merge <branch> (<MR id>, <bead>)``).
#: Only word characters, dots, dashes and slashes are taken from git: what reaches a close reason
#: or the terminal is never a control sequence.
MERGE_SUBJECT = re.compile(r"^Merge ([\w./-]+) \(([\w.-]+)(?:, ([\w.-]+))?\)$", re.ASCII)
POLECAT_BRANCH = re.compile(r"^polecat/[\w.-]+/([\w.-]+)$", re.ASCII)


@dataclass
class Reconciled:
    """What :func:`reconcile` found. closed: (bead, reason) closed now; unmerged: (bead, rig, branch)
    of polecat branches holding work not on the default branch; errors: rigs git could not read."""

    closed: list[tuple[str, str]] = field(default_factory=list)
    unmerged: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "closed": [{"bead": b, "reason": r} for b, r in self.closed],
            "unmerged": [{"bead": b, "rig": rig, "branch": br} for b, rig, br in self.unmerged],
            "errors": self.errors,
        }


def merged_on_git(town: Town) -> tuple[dict[str, str], list[tuple[str, str, str]], list[str]]:
    """Read every rig's repository: (bead -> close reason for beads that landed on the default branch,
    [(bead, rig, branch)] of polecat branches not contained in it, [one-line errors])."""
    landed: dict[str, str] = {}
    unmerged: list[tuple[str, str, str]] = []
    errors: list[str] = []
    for rig in list_rigs(town):
        branch = rig.default_branch
        ref = f"refs/heads/{branch}"
        try:
            if not git.branch_exists(rig.repo_path, branch):
                continue
            log = git.run_git(
                ["log", "--first-parent", "--merges", "--format=%H%x00%s", ref, "--"], cwd=rig.repo_path
            ).stdout
            for entry in log.splitlines():
                sha, _, subject = entry.partition("\0")
                m = MERGE_SUBJECT.match(subject)
                if m and m.group(3):
                    landed.setdefault(m.group(3), f"merged {m.group(2)} into {branch} at {sha}")
            refs = git.run_git(
                ["for-each-ref", "--format=%(refname:short)%00%(objectname)", "refs/heads/polecat/"], cwd=rig.repo_path
            ).stdout
            for entry in refs.splitlines():
                name, _, sha = entry.partition("\0")
                m = POLECAT_BRANCH.match(name)
                if not m:
                    continue
                if git.is_ancestor(rig.repo_path, sha, ref):
                    landed.setdefault(m.group(1), f"merged {name} into {branch} (its tip {sha[:12]} is on {branch})")
                else:
                    unmerged.append((m.group(1), rig.name, name))
        except (GitError, OSError) as exc:
            errors.append(f"rig {rig.name}: {exc}")
    return landed, unmerged, errors


def reconcile(town: Town, store: BeadStore, actor: str = ACTOR) -> Reconciled:
    """Close every bead of ``store`` that git shows as merged (see the module docstring) and report
    the unmerged polecat branches of beads that are not closed. One transaction."""
    landed, unmerged, errors = merged_on_git(town)
    out = Reconciled(errors=errors)
    with store.transaction():
        for bead, reason in sorted(landed.items()):
            if store.exists(bead) and store.get(bead).status != "closed":
                store.close(bead, actor, reason=f"{reason} (reconciled from git)", force=True)
                out.closed.append((bead, reason))
    for bead, rig, branch in unmerged:
        if bead not in landed and store.exists(bead) and store.get(bead).status != "closed":
            out.unmerged.append((bead, rig, branch))
    return out


@dataclass
class Recovery:
    """The outcome of :func:`rebuild` or :func:`merge_ledger`: the import, the reconcile, the bad
    database file moved aside (rebuild), and whether the ledger had conflict markers."""

    imported: jsonl.ImportResult
    reconciled: Reconciled
    moved_aside: str | None = None
    conflicted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.imported.as_dict(),
            **self.reconciled.as_dict(),
            "moved_aside": self.moved_aside,
            "conflicted": self.conflicted,
        }


def _ledger_bytes(town: Town) -> tuple[bytes, str]:
    try:
        return town.ledger_path.read_bytes(), str(town.ledger_path)
    except FileNotFoundError:
        data = git.read_path_at(town.root, "HEAD", ".beads/issues.jsonl") if (town.root / ".git").exists() else None
        if data is None:
            raise GtError(
                f"{town.ledger_path} is missing and the town repository has none at HEAD: "
                "restore it (git checkout -- .beads/issues.jsonl), then retry"
            ) from None
        return data, f"HEAD:.beads/issues.jsonl of {town.root}"


def db_health(town: Town) -> str | None:
    """None when the town database opens and holds beads; else why it needs a rebuild (one line)."""
    try:
        db = connect(town.db_path, check=False)
    except DatabaseLost as exc:
        return str(exc)
    try:
        if db.execute("SELECT count(*) FROM issues").fetchone()[0] == 0:
            return f"{town.db_path} holds no beads"
        if db.execute("PRAGMA quick_check(1)").fetchone()[0] != "ok":
            return f"{town.db_path} fails SQLite's quick_check"
    except sqlite3.DatabaseError as exc:
        return str(unusable(town.db_path, exc) or exc)
    finally:
        db.conn.close()
    return None


def rebuild(town: Town, actor: str = ACTOR, force: bool = False) -> Recovery:
    """Build a new town database from the committed ledger (both sides of any conflict markers),
    reconcile it with git, and rename it into place; the old file (if any) and its WAL/SHM are moved
    aside to ``town.db.lost-<UTC time>``. Refuses a healthy database (one that opens and holds
    beads) unless ``force``: runtime state (merge queue, polecats, mail) lives there too.

    Raises GtError (nothing changed) for a healthy database, a missing or malformed ledger.
    """
    db_path = town.db_path
    exists = db_path.exists() and db_path.stat().st_size > 0
    if exists and not force:
        problem = db_health(town)
        if problem is None:
            raise GtError(
                f"{db_path} is readable and holds beads: to merge the ledger into it run "
                "'gt bead import --merge'; 'gt bead rebuild --force' replaces it (losing queues and mail)"
            )
    data, source = _ledger_bytes(town)
    tmp = db_path.with_name("town.db.rebuild")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    store = BeadStore(town, db_path=tmp)
    try:
        imported = jsonl.import_ledger(store, data, source=source, actor=actor, merge=True)
        reconciled = reconcile(town, store, actor)
        if source == str(town.ledger_path):
            guard.record_seen(store.db, town.ledger_path)
    except BaseException:
        store.disconnect()
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)
        raise
    store.disconnect()
    moved = None
    if db_path.exists():
        moved = str(db_path.with_name(f"town.db.lost-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"))
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{db_path}{suffix}")
            if src.exists():
                os.replace(src, f"{moved}{suffix}")
    else:
        for suffix in ("-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    os.replace(tmp, db_path)
    return Recovery(imported, reconciled, moved, guard.conflict_line(data) is not None)


def merge_ledger(
    town: Town, store: BeadStore, path: str | os.PathLike[str] | None = None, actor: str = ACTOR
) -> Recovery:
    """Merge the ledger file at ``path`` (default: the town's ``.beads/issues.jsonl``, conflict markers
    and all) into ``store``, newer ``updated_at`` winning per bead, then :func:`reconcile` with git.
    For the town's own file, records it as seen so the guard lets the next export rewrite it.

    Raises GtError for a missing or malformed file, a dependency cycle (nothing imported).
    """
    own = path is None or Path(path).resolve() == town.ledger_path.resolve()
    if own:
        data, source = _ledger_bytes(town)
    else:
        p = Path(path)  # type: ignore[arg-type]
        try:
            data, source = p.read_bytes(), str(p)
        except OSError as exc:
            raise GtError(f"cannot read {p}: {exc.strerror}; give the path of an issues.jsonl file") from None
    imported = jsonl.import_ledger(store, data, source=source, actor=actor, merge=True)
    reconciled = reconcile(town, store, actor)
    if own and town.ledger_path.exists():
        guard.record_seen(store.db, town.ledger_path)
    return Recovery(imported, reconciled, None, guard.conflict_line(data) is not None)
