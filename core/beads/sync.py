"""Ledger sync: export the beads to ``.beads/issues.jsonl`` and commit it to the town repository.

Every bead mutation marks the bead in ``ledger_dirty`` (same transaction). :func:`sync` exports the
whole ledger atomically, commits it with dulwich (message listing the changed ids; nothing changed,
no commit) and clears the marks it covered. A file lock (``.gastown/ledger.lock``) keeps two syncs
from racing on the git index.

Who syncs (DESIGN section 4): the engine calls :func:`sync` on a timer while it runs (it writes its
pid to ``.gastown/engine.pid``; a missing file or a dead pid means no engine). Without an engine a
command calls :func:`request_sync` after its mutation: that starts one detached flusher process per
burst (``python -m core.beads.sync --town ROOT``) which waits until the ledger has been quiet for
``DEBOUNCE_S`` (at most ``MAX_DELAY_S`` after the oldest change), syncs, and exits when nothing is left
dirty. So a burst of commands makes one commit and each command returns without paying for an export.
``GT_LEDGER_SYNC=now`` syncs inline instead; ``GT_LEDGER_SYNC=off`` leaves it to ``gt bead sync``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from core import git
from core.beads import jsonl
from core.beads.store import BeadStore
from core.pidfile import engine_pid
from core.town import Town, is_town

DEBOUNCE_S = 1.0
MAX_DELAY_S = 10.0
#: A pending flusher that has not shown a heartbeat for this long is presumed dead.
STALE_S = 30.0
PENDING_KEY = "sync.pending"
LEDGER_REL = ".beads/issues.jsonl"
MODES = ("auto", "now", "off")


@dataclass
class SyncResult:
    """What a sync did. commit: the new commit sha (hex) or None; changed: ids marked dirty;
    exported: number of beads written to the JSONL file (0 when nothing was exported)."""

    commit: str | None = None
    changed: list[str] = field(default_factory=list)
    exported: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"commit": self.commit, "changed": self.changed, "exported": self.exported}


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


def sync(town: Town, force: bool = False, store: BeadStore | None = None) -> SyncResult:
    """Export the ledger to ``.beads/issues.jsonl`` and commit it to the town repository (dulwich).

    Does nothing unless some bead is dirty or ``force``. The commit is skipped when the file did not
    change or the town is not a git repository. Raises GitError if the commit fails.
    """
    own = store is None
    store = store or BeadStore(town)
    try:
        with FileLock(str(town.state_dir / "ledger.lock"), timeout=120):
            dirty = store.dirty()
            if not dirty and not force:
                return SyncResult()
            count = jsonl.export(store, town.ledger_path)
            changed = sorted({bead for bead, _ in dirty})
            sha = None
            if git.is_repo(town.root):
                sha = git.commit_paths(town.root, [LEDGER_REL], commit_message(changed))
            store.clear_dirty(dirty)
            return SyncResult(sha, changed, count)
    finally:
        if own:
            store.disconnect()


def request_sync(town: Town, store: BeadStore | None = None, env: Mapping[str, str] | None = None) -> str:
    """Ask for the ledger to be synced after a mutation; cheap. Returns what happened:
    ``engine`` (the running engine will), ``pending`` (a flusher is already waiting), ``scheduled``
    (a detached flusher was started), ``synced`` (``GT_LEDGER_SYNC=now``) or ``off``.
    """
    mode = sync_mode(env)
    if mode == "off":
        return "off"
    if engine_pid(town) is not None:
        return "engine"
    if mode == "now":
        sync(town, store=store)
        return "synced"
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
    subprocess.Popen([sys.executable, "-m", "core.beads.sync", "--town", str(town.root)], cwd=str(town.root),
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)
    return "scheduled"


def flush(town: Town, debounce: float = DEBOUNCE_S, max_delay: float = MAX_DELAY_S) -> int:
    """The detached flusher: wait for a quiet ledger, sync, repeat until nothing is dirty, then clear
    the pending mark (in the same transaction as the last dirty check, so no request is lost).

    Returns the number of syncs that committed.
    """
    commits = 0
    with BeadStore(town) as store:
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
                if sync(town, store=store).commit:
                    commits += 1
            with store.transaction():
                if not store.dirty():
                    store.config_set(PENDING_KEY, None)
                    return commits


def main(argv: list[str] | None = None) -> int:
    """``python -m core.beads.sync --town ROOT``: run the flusher (quietly exits if the town is gone)."""
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
