"""Import a ledger from a path, whichever form it has: a beads JSONL file
(:func:`core.beads.jsonl.import_jsonl`) or a ``.beads/backup/`` row-per-table dump
(:func:`core.beads.backup.import_backup`). ``gt bead import`` and ``bd import`` call this."""

from __future__ import annotations

import os
from pathlib import Path

from core.beads import backup, jsonl
from core.beads.store import BeadStore


def import_path(
    store: BeadStore, path: str | os.PathLike[str], actor: str = "", merge: bool = False
) -> jsonl.ImportResult:
    """Import the ledger at ``path`` into ``store``: a directory as a backup dump, anything else as a
    JSONL file. Raises GtError if the path is missing or the ledger is not UTF-8 or malformed
    (nothing imported)."""
    if Path(path).is_dir():
        return backup.import_backup(store, Path(path), actor=actor, merge=merge)
    return jsonl.import_jsonl(store, path, actor=actor, merge=merge)
