"""Ledger sync: export the beads to ``.beads/issues.jsonl`` and commit it to the town repository.

Every bead mutation marks the bead in ``ledger_dirty`` (same transaction). :func:`sync` exports the
ledger atomically, commits it (message listing the changed ids; nothing changed, no commit) and
clears the marks it covered. A file lock (``.gastown/ledger.lock``) keeps two syncs from racing on
the git index. The export is incremental (issue 19): when the file is the one the last export wrote
(``ledger.exported`` holds its SHA-256), only the marked beads are read and encoded and their lines
spliced into it by binary search, byte for byte what a full export writes; any doubt (an import or a
rebuild wrote the file, a crash between rename and record, a foreign line, ``force``) exports in
full. A crash leaves the old file or the new one (temp file + rename) and the marks until the commit.
The commit takes the blob from the bytes just written (:func:`core.git.commit_paths` ``contents``):
git hashes the file once, for the index entry, instead of hashing and compressing it twice. What
still grows with the ledger is the whole file's copy, write, hash and compression (0.1-0.2 s at
100k beads, 47 MB, BENCHMARKS.md): git stores the ledger as one blob per commit.

Who syncs (DESIGN section 4): the engine calls :func:`sync` on a timer while it runs (it writes its
pid to ``.gastown/engine.pid``; a missing file or a dead pid means no engine). Without an engine,
:func:`after_change` (run once after every ``gt`` command and every cockpit action) calls
:func:`request_sync` when beads changed: that starts one detached flusher process per
burst (``python -P -m core.beads.sync --town ROOT``) which waits until the ledger has been quiet for
``DEBOUNCE_S`` (at most ``MAX_DELAY_S`` after the oldest change), syncs, and exits when nothing is left
dirty. So a burst of commands makes one commit and each command returns without paying for an export.
``GT_LEDGER_SYNC=now`` syncs inline instead; ``GT_LEDGER_SYNC=off`` leaves it to ``gt bead sync``.

Guards (issue 15): a sync never exports over a ledger file the database did not write or read
(:mod:`core.beads.guard`: conflict markers, a pull, a lost WAL), never shrinks the committed file by
more than ``[ledger] shrink_guard_fraction`` (default 0.5) *and* ``shrink_guard_beads`` (default 5)
beads without ``allow_shrink`` (``gt bead sync --allow-shrink``), and commits only the ledger path
(:func:`core.git.commit_paths`: what the user staged stays out). A sync that cannot go ahead (one of
those, a held ``.git/index.lock``, a merge in progress in the town repository) keeps the dirty marks
so a later sync retries, records the reason (:func:`blocked_reason`, which commands print as a warning)
and a ``ledger_blocked`` problem event once per distinct reason.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core import events
from core.beads import guard
from core.beads.store import BeadStore
from core.errors import GtError
from core.pidfile import engine_pid
from core.town import Town, count_ledger_lines, is_town

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from core.atomic import Chunks

DEBOUNCE_S = 1.0
MAX_DELAY_S = 10.0
#: A pending flusher that has not shown a heartbeat for this long is presumed dead.
STALE_S = 30.0
PENDING_KEY = "sync.pending"
BLOCKED_KEY = "sync.blocked"
#: Waits (seconds) before giving up on a held ``.git/index.lock`` (a running ``git status`` holds it briefly).
LOCK_WAITS = (0.1, 0.2, 0.4, 0.8)
LEDGER_REL = ".beads/issues.jsonl"
#: ``beads_config`` key: ``{"sha256": hex, "count": beads}`` of the file the last export wrote.
EXPORTED_KEY = "ledger.exported"
#: ``beads_config`` key: ``{"commit": sha, "count": beads}`` of the last ledger commit a sync made.
COMMITTED_KEY = "ledger.committed"
MODES = ("auto", "now", "off")


@dataclass
class SyncResult:
    """What a sync did. commit: the new commit sha (hex) or None; changed: ids marked dirty;
    exported: number of beads written to the JSONL file (0 when nothing was exported); blocked: why
    the sync could not finish (one line naming the fix), None when it did; spliced: see below."""

    commit: str | None = None
    changed: list[str] = field(default_factory=list)
    exported: int = 0
    blocked: str | None = None
    #: True when only the changed beads were re-exported (:func:`export_ledger`'s splice).
    spliced: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"commit": self.commit, "changed": self.changed, "exported": self.exported, "blocked": self.blocked}


class ShrinkRefused(GtError):
    """An export would shrink the committed ledger past the shrink guard; nothing was written."""


def sync_mode(env: Mapping[str, str] | None = None) -> str:
    """``GT_LEDGER_SYNC`` (auto, now or off; default auto). An unknown value counts as auto."""
    value = (os.environ if env is None else env).get("GT_LEDGER_SYNC", "auto").strip().lower()
    return value if value in MODES else "auto"


def commit_message(changed: list[str]) -> str:
    """``beads: sync <ids>`` (first 8 ids, then ``+N more``), with every id in the body."""
    if not changed:
        return "beads: sync ledger"
    head = ", ".join(changed[:8]) + (f" (+{len(changed) - 8} more)" if len(changed) > 8 else "")
    return f"beads: sync {head}\n\n" + "\n".join(changed) + "\n"


def shrink_limits(town: Town) -> tuple[float, int]:
    """The shrink guard's (fraction, beads) from ``[ledger] shrink_guard_fraction`` and
    ``shrink_guard_beads`` of town.toml (defaults 0.5 and 5). Raises ConfigError for a malformed file."""
    fraction = town.setting("ledger", "shrink_guard_fraction")
    beads = town.setting("ledger", "shrink_guard_beads")
    return float(fraction), int(beads)


def check_shrink(town: Town, new_count: int, store: BeadStore | None = None) -> None:
    """Refuse an export of ``new_count`` beads that drops more than the guard's fraction *and* more
    than its number of beads from the committed ledger (at the town repository's HEAD, else the file).
    store: the town's store; when HEAD is the last ledger commit a sync made (``ledger.committed``),
    the count recorded then is used instead of reading and counting the committed file.

    Raises ShrinkRefused (one line) when it would.
    """
    from core import git  # git (and subprocess): only to read or commit the ledger, not to ask for it

    committed = _committed_count(town, store) if store is not None else None
    if committed is None:
        data = git.read_path_at(town.root, "HEAD", LEDGER_REL) if (town.root / ".git").exists() else None
        if data is None:
            try:
                data = town.ledger_path.read_bytes()
            except FileNotFoundError:
                return
        committed = count_ledger_lines(data)
    fraction, beads = shrink_limits(town)
    lost = committed - new_count
    if lost > beads and lost > committed * fraction:
        raise ShrinkRefused(
            f"refusing to shrink {town.ledger_path} from {committed} to {new_count} beads (more than "
            f"{fraction:.0%} and {beads} beads): if the database lost beads run 'gt bead rebuild' or "
            "'gt bead import --merge'; if intended run 'gt bead sync --allow-shrink'"
        )


def _committed_count(town: Town, store: BeadStore) -> int | None:
    """The bead count of the ledger at the town's HEAD when HEAD is the commit the last sync made
    (``ledger.committed``), else None."""
    from core import git

    state = _stamp(store, COMMITTED_KEY, "commit")
    if state is None or not (town.root / ".git").exists():
        return None
    return state[1] if git.rev_parse_head(town.root) == state[0] else None


def _stamp(store: BeadStore, key: str, name: str) -> tuple[str, int] | None:
    """(``name``, ``count``) of the JSON object stored under ``key`` in the ledger config (count 0
    when absent), or None when there is none or it is malformed."""
    import json

    try:
        state = json.loads(store.config_get(key) or "null")
        return (str(state[name]), int(state.get("count", 0))) if isinstance(state, dict) else None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _spliced(
    town: Town, store: BeadStore, changed: list[str], unread: bool
) -> tuple[list[bytes | memoryview], int] | None:
    """The new ledger as the last export's file with the lines of ``changed`` re-encoded and spliced
    in (:func:`core.beads.jsonl.splice_lines`), and its bead count; None when the file is not the one
    the last export wrote (an import or rebuild read it, a crash came between write and record, a
    foreign line, a bead count that disagrees with the database's): then only a full export is right.
    unread: what :func:`core.beads.guard.verify` returned for the file (True: unread since recorded)."""
    from core.beads import jsonl

    # The guard let through the file the database last recorded or the one an export was renaming
    # into place (``ledger.pending``, a crash before its record): both are full exports of a state no
    # older than the recorded one, and every change since that one is marked dirty.
    exported = _stamp(store, EXPORTED_KEY, "sha256")
    seen = _stamp(store, guard.SEEN_KEY, "sha256")
    if exported is None or seen is None or exported[0] != seen[0]:
        return None
    try:
        old = town.ledger_path.read_bytes()
    except FileNotFoundError:
        return None
    conn = store.db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # the lines and the count from one snapshot
    try:
        lines = jsonl.bead_lines(store, changed)
        beads = conn.execute("SELECT count(*) FROM issues").fetchone()[0]
    finally:
        if own:
            conn.execute("COMMIT")
    spliced = jsonl.splice_lines(old, lines)
    if spliced is None:
        return None
    # unread: the file has the stat recorded with the last export (guard.verify), so its line count is
    # that export's and the splice's delta gives the new one without counting 47 MB of lines.
    count = exported[1] + spliced[1] if unread else b"".join(spliced[0]).count(b"\n")
    if count != beads:
        return None  # beads came or went without a dirty mark (a lost database): the full export's guards judge
    return spliced[0], beads


def export_ledger(town: Town, store: BeadStore, allow_shrink: bool = False, changed: list[str] | None = None) -> int:
    """Export every bead to the town's ``.beads/issues.jsonl`` behind the guards: the file must be what
    the database last wrote or read (:func:`core.beads.guard.verify`) and the export must pass
    :func:`check_shrink` unless ``allow_shrink``. Records the new file's fingerprint and, as
    ``ledger.exported``, its SHA-256 and bead count. Returns the count.

    changed: the ids changed since the last export (the dirty marks, :meth:`BeadStore.dirty`). Given,
    and the file is the one the last export wrote, only those beads are read and encoded and their
    lines spliced into the file (:func:`_spliced`): the same bytes as a full export, at a cost that
    grows with the change (plus copying and hashing the file's bytes), not with the ledger. Otherwise
    every bead is exported. Either way the file is replaced atomically (temp file + rename).

    Raises LedgerDiverged, LedgerConflict, DatabaseLost or ShrinkRefused (nothing written).
    """
    return _export(town, store, allow_shrink, changed)[0]


def _export(town: Town, store: BeadStore, allow_shrink: bool, changed: list[str] | None) -> tuple[int, bool, Chunks]:
    """:func:`export_ledger`, also saying whether the export was spliced (True) or full, and the
    bytes written (in parts when spliced)."""
    import json

    from core.beads import jsonl  # the export: not for a command that only asks for a sync

    unread = guard.verify(store.db, town)
    spliced = _spliced(town, store, changed, unread) if changed is not None else None
    data: Chunks
    if spliced is not None:
        data, count = spliced
    else:
        lines = jsonl.snapshot_lines(store)
        data, count = "".join(lines).encode("utf-8"), len(lines)
    if not allow_shrink:
        check_shrink(town, count, store)
    sha = guard.digest_in_thread(data)  # hashed while the file is written
    jsonl.write_lines(town.ledger_path, data, before_rename=lambda: guard.record_pending(store.db, sha()))
    with store.transaction():
        guard.record_seen(store.db, town.ledger_path, sha256=sha())
        store.config_set(EXPORTED_KEY, json.dumps({"sha256": sha(), "count": count}))
    return count, spliced is not None, data


def blocked_reason(store: BeadStore) -> str | None:
    """Why the last sync could not finish (one line naming the fix), or None when it did."""
    return store.config_get(BLOCKED_KEY)


def _blocked(store: BeadStore, reason: str, result: SyncResult) -> SyncResult:
    with store.transaction():
        if store.config_get(BLOCKED_KEY) != reason:
            store.config_set(BLOCKED_KEY, reason)
            events.append(store.db, "ledger_blocked", "ledger", payload={"reason": reason})
    result.blocked = reason
    return result


def _commit(town: Town, message: str, data: Chunks) -> str | None:
    """Commit the ledger file (its bytes ``data``, just written) to the town repository, waiting out a
    briefly held index lock (:data:`LOCK_WAITS`). Raises what :func:`core.git.commit_paths` raises."""
    from core import git

    for wait in (*LOCK_WAITS, None):
        try:
            return git.commit_paths(town.root, [LEDGER_REL], message, contents={LEDGER_REL: data})
        except git.IndexLocked:
            if wait is None:
                raise
            time.sleep(wait)
    return None


def sync(town: Town, force: bool = False, store: BeadStore | None = None, allow_shrink: bool = False) -> SyncResult:
    """Export the ledger to ``.beads/issues.jsonl`` (:func:`export_ledger`) and commit that one path
    to the town repository.

    Only the dirty beads are re-exported when the file allows it (:func:`export_ledger`); ``force``
    (``gt bead sync``) always exports in full.
    Does nothing unless some bead is dirty or ``force``. The commit is skipped when the file did not
    change or the town is not a git repository. A guard's refusal, a held ``.git/index.lock`` or a
    merge in progress does not raise: the result's ``blocked`` says why, the dirty marks stay for a
    retry (see the module docstring). Raises GitError for any other failed commit.
    """
    import json

    from filelock import FileLock  # the flusher's and `gt bead sync`'s, not every command's

    from core import git

    own = store is None
    store = store or BeadStore(town, check=False)
    try:
        with FileLock(str(town.state_dir / "ledger.lock"), timeout=120):
            dirty = store.dirty()
            if not dirty and not force:
                return SyncResult()
            changed = sorted({bead for bead, _ in dirty})
            result = SyncResult(changed=changed)
            try:
                result.exported, result.spliced, data = _export(town, store, allow_shrink, None if force else changed)
            except GtError as exc:
                return _blocked(store, str(exc), result)
            if git.is_repo(town.root):
                try:
                    result.commit = _commit(town, commit_message(changed), data)
                except (git.IndexLocked, git.RepoBusy) as exc:
                    return _blocked(store, f"ledger exported but not committed: {exc}", result)
                if result.commit is not None:
                    store.config_set(COMMITTED_KEY, json.dumps({"commit": result.commit, "count": result.exported}))
            store.clear_dirty(dirty)
            if store.config_get(BLOCKED_KEY) is not None:
                store.config_set(BLOCKED_KEY, None)
            return result
    finally:
        if own:
            store.disconnect()


def request_sync(town: Town, store: BeadStore | None = None, env: Mapping[str, str] | None = None) -> str:
    """Ask for the ledger to be synced after a mutation; cheap. Returns what happened:
    ``engine`` (the running engine will), ``pending`` (a flusher is already waiting), ``scheduled``
    (a detached flusher was started), ``synced`` or ``blocked`` (``GT_LEDGER_SYNC=now``; see
    :func:`blocked_reason`) or ``off``.
    """
    mode = sync_mode(env)
    if mode == "off":
        return "off"
    if engine_pid(town) is not None:
        return "engine"
    if mode == "now":
        return "blocked" if sync(town, store=store).blocked else "synced"
    own = store is None
    store = store or BeadStore(town)
    try:
        with store.transaction():
            pending = store.config_get(PENDING_KEY)
            if pending and time.time() - float(pending) < STALE_S:
                return "pending"
            store.config_set(PENDING_KEY, repr(time.time()))
    finally:
        if own:
            store.disconnect()
    import subprocess  # only to start the flusher: an off or engine-run sync needs none

    subprocess.Popen(
        [sys.executable, "-P", "-m", "core.beads.sync", "--town", str(town.root)],
        cwd=str(town.root),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    return "scheduled"


def after_change(town: Town, store: BeadStore | None = None, env: Mapping[str, str] | None = None) -> str | None:
    """The one rule after a command or a cockpit action that may have changed beads (``gt`` runs it
    once after every command, :mod:`gastown_tui.actions` after every action): when some bead is
    dirty, ask for the ledger sync (:func:`request_sync`). Nothing dirty costs one query.

    Returns the warning to show, one line: why the ledger commit waits (:func:`blocked_reason`, e.g.
    a merge in progress in the town repository) or why the request itself failed; None when all is
    well. Never raises GtError: the change itself is saved in the database either way.
    """
    own = store is None
    try:
        store = store or BeadStore(town, check=False)
        try:
            if not store.dirty():
                return None
            request_sync(town, store, env=env)
            blocked = blocked_reason(store)
        finally:
            if own:
                store.disconnect()
    except GtError as exc:
        return f"{exc}; run 'gt bead sync'"
    return f"the change is saved, the ledger commit waits: {blocked}" if blocked else None


def flush(town: Town, debounce: float = DEBOUNCE_S, max_delay: float = MAX_DELAY_S) -> int:
    """The detached flusher: wait for a quiet ledger, sync, repeat until nothing is dirty, then clear
    the pending mark (in the same transaction as the last dirty check, so no request is lost). A
    blocked sync is tried again after 1, 2 and 4 s, then left to the next request (marks kept).

    Returns the number of syncs that committed.
    """
    commits = 0
    blocked = 0
    with BeadStore(town, check=False) as store:
        while True:
            store.config_set(PENDING_KEY, repr(time.time()))
            dirty = store.dirty()
            if dirty:
                now = time.time()
                oldest, newest = dirty[0][1], max(ts for _, ts in dirty)
                wait = min(newest + debounce, oldest + max_delay) - now
                if wait > 0:
                    time.sleep(min(wait, debounce))
                    continue
                result = sync(town, store=store)
                if result.commit:
                    commits += 1
                if result.blocked:
                    blocked += 1
                    if blocked > 3:
                        store.config_set(PENDING_KEY, None)
                        return commits
                    time.sleep(2.0 ** (blocked - 1))
                    continue
            with store.transaction():
                if not store.dirty():
                    store.config_set(PENDING_KEY, None)
                    return commits


def main(argv: list[str] | None = None) -> int:
    """``python -m core.beads.sync --town ROOT``: run the flusher (quietly exits if the town is gone)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m core.beads.sync")
    parser.add_argument("--town", required=True)
    args = parser.parse_args(argv)
    root = Path(args.town)
    if not is_town(root):
        return 0
    try:
        flush(Town(root.resolve()))
    except Exception:  # a vanished town or a failed commit: the next request retries
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
