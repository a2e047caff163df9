"""Import a ``.beads/backup/`` dump: bd's row-per-table backup of its Dolt tables (``bd backup``, 2026).

The directory holds one JSONL file per table, one row a line with the keys sorted: ``issues.jsonl``
(every column, ``0``/``1`` for flags, ``null`` and ``""`` for unset ones), ``dependencies.jsonl``,
``labels.jsonl``, ``comments.jsonl``, ``events.jsonl`` (the audit trail), ``config.jsonl`` (the config
table, ``{"key":K,"value":V}``, memories as ``kv.memory.<key>``) and ``backup_state.json``.

Each issue row becomes the bead ``bd export`` would write for it (Go ``omitempty``: unset columns
left out; flags as booleans; ``content_hash`` and ``source_repo``, which bd never exports, dropped;
``timeout_ns`` as ``timeout``), with its labels, dependencies and comments joined on ``issue_id``, and
is then validated and written like a JSONL ledger (:func:`core.beads.jsonl.apply_ledger`: one
transaction, all or nothing; an error names the table file and line). Memories go to the memories
table; ``status.custom``, ``types.custom`` and ``types.infra`` join the store's config. The audit
events are not imported (this project's event log has its own shape); their count is reported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.beads import jsonl
from core.beads.model import custom_names
from core.beads.store import BeadStore
from core.errors import GtError

TABLES = ("issues", "dependencies", "labels", "comments", "config")
#: Columns bd stores as 0/1 and exports as ``omitempty`` booleans.
FLAGS = frozenset({"ephemeral", "is_template", "pinned", "no_history", "crystallizes"})
#: Columns bd never exports (``json:"-"`` in beads' ``types.Issue``).
NOT_EXPORTED = frozenset({"content_hash", "source_repo"})
#: Columns bd always exports, even when empty.
ALWAYS = frozenset({"id", "title", "status", "priority", "issue_type", "created_at", "updated_at"})
MEMORY_PREFIX = "kv.memory."


def is_backup(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a directory holding a backup dump (an ``issues.jsonl`` and a ``config.jsonl``
    or ``backup_state.json`` beside it)."""
    p = Path(path)
    return (p / "issues.jsonl").is_file() and ((p / "config.jsonl").is_file() or (p / "backup_state.json").is_file())


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row object) of one table file ([] when absent). Raises GtError for a bad line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise GtError(f"cannot read {path}: {exc.strerror}; nothing was imported") from None
    text = jsonl.decode_ledger(data, str(path))
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        obj = jsonl.decode_line(line, n, str(path))
        if not isinstance(obj, dict):
            raise GtError(f"{path} line {n}: expected a JSON object (a table row); nothing was imported")
        out.append((n, obj))
    return out


def issue_record(row: dict[str, Any]) -> dict[str, Any]:
    """The bead ``bd export`` writes for one ``issues.jsonl`` row (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key in NOT_EXPORTED:
            continue
        if key in FLAGS and isinstance(value, int) and not isinstance(value, bool):
            value = bool(value)
        if key == "timeout_ns":
            key = "timeout"
        if key == "waiters" and isinstance(value, str) and value.startswith("["):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        if key in ALWAYS or value not in (None, "", 0, False, []) or key == "priority":
            out[key] = value
    return out


def _owner(obj: dict[str, Any], path: Path, n: int) -> str:
    bead = obj.get("issue_id")
    if not isinstance(bead, str) or not bead:
        raise GtError(f"{path} line {n}: a row needs an issue_id string; nothing was imported")
    return bead


def read_backup(directory: str | os.PathLike[str], custom_statuses: tuple[str, ...] = ()) -> tuple[jsonl.Ledger, int]:
    """Parse the backup dump in ``directory`` into a :class:`core.beads.jsonl.Ledger` (line numbers of
    ``issues.jsonl``) and the number of audit events it holds (not imported). Statuses accepted besides
    the built-in ones: ``custom_statuses`` and the dump's own ``status.custom``.

    Raises GtError naming the table file and line for a bad row, or when there is no ``issues.jsonl``.
    """
    base = Path(directory)
    if not (base / "issues.jsonl").is_file():
        raise GtError(f"{base} holds no issues.jsonl: give a .beads/backup directory or an issues.jsonl file")
    tables = {name: _rows(base / f"{name}.jsonl") for name in TABLES}
    ledger = jsonl.Ledger()
    for _, row in tables["config"]:
        key, value = row.get("key"), row.get("value")
        if not isinstance(key, str) or not isinstance(value, str):
            continue
        if key.startswith(MEMORY_PREFIX) and value:
            ledger.memories[key[len(MEMORY_PREFIX) :]] = value
        elif key in jsonl.CONFIG_KEYS:
            ledger.config[key] = value
    joined: dict[str, dict[str, list[Any]]] = {}
    for table, field, pick in (
        ("labels", "labels", lambda r: r.get("label")),
        ("dependencies", "dependencies", lambda r: {k: v for k, v in r.items() if v is not None}),
        ("comments", "comments", lambda r: r),
    ):
        for n, row in tables[table]:
            joined.setdefault(_owner(row, base / f"{table}.jsonl", n), {}).setdefault(field, []).append(pick(row))
    declared = custom_names(ledger.config.get("status.custom"))
    statuses = custom_statuses + tuple(n for n in declared if n not in custom_statuses)
    source = str(base / "issues.jsonl")
    for n, row in tables["issues"]:
        record = {**issue_record(row), **joined.get(str(row.get("id")), {})}
        try:
            jsonl.add_record(ledger, record, n, source, statuses)
        except GtError as exc:
            raise GtError(f"{source} line {n}: {exc}; fix the row, nothing was imported") from None
    events = sum(1 for line in _lines(base / "events.jsonl") if line.strip())
    return ledger, events


def _lines(path: Path) -> list[bytes]:
    try:
        return path.read_bytes().split(b"\n")
    except OSError:
        return []


def import_backup(
    store: BeadStore, directory: str | os.PathLike[str], actor: str = "", merge: bool = False
) -> jsonl.ImportResult:
    """Import the backup dump in ``directory`` into ``store`` in one transaction (all or nothing), as
    :func:`core.beads.jsonl.import_ledger` imports a file: beads upserted (with ``merge`` only new or
    newer), memories and declared config kept. The result's warnings say how many audit events were
    left out.

    Raises GtError (nothing imported) for a bad row, a duplicate id or a dependency cycle.
    """
    ledger, events = read_backup(directory, store.custom_statuses())
    result = jsonl.apply_ledger(store, ledger, source=str(Path(directory) / "issues.jsonl"), actor=actor, merge=merge)
    if events:
        result.warnings.append(f"{directory}: {events} audit events in events.jsonl were not imported")
    return result
