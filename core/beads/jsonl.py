"""The classic beads JSONL ledger: ``.beads/issues.jsonl``, one issue a line, sorted by id.

Export writes what beads' Go exporter wrote in the sqlite era (``encoding/json``: compact, ``<``, ``>``,
``&``, U+2028 and U+2029 escaped, UTF-8 otherwise; known keys in struct order with ``omitempty``; labels,
dependencies and comments embedded), to a temporary file renamed over the target. Exporting the
sqlite-era fixture after importing it gives back the same bytes.

Import validates the whole file first (a malformed line is reported with its line number and nothing
is imported), then upserts every issue by id in one transaction. Keys it does not know are kept
verbatim and written back on export. It reads every era of beads' own files (:func:`parse_ledger`):
``status: "tombstone"`` rows are skipped and counted, string (UUID v7) comment ids and proto-step ids
(``mol-deacon-patrol.context-check``) kept, ``_type``/``_schema`` records and memories kept, empty or
padded labels kept, the legacy ``wisp: true`` read as ephemeral, custom statuses accepted when the
ledger's config (``status.custom`` in the ``config.yaml`` beside the file, or the store's) declares
them and refused with their line number otherwise. A ``.beads/backup/`` directory is read by
:mod:`core.beads.backup`.

:func:`export` writes what ``bd export`` writes: the kept header, the beads without infra types,
templates and wisps unless ``include_all`` (which adds the memories); the town's own ledger
(:func:`snapshot_lines`) holds every bead.

Hostile input is one line and nothing imported: bytes that are not UTF-8 (with the line), JSON nested
past Python's limit, ``NaN``/``Infinity`` (not JSON), integers too long to parse or too large for
SQLite, timestamps outside what the database can order (years 1678-2261, as nanoseconds in 64
bits). A lone UTF-16 surrogate escape becomes U+FFFD, as Go's ``encoding/json`` (beads) decodes it.

The graph is validated as beads' own tools judge it (:func:`check_graph`): a duplicate id refuses the
import (two lines cannot both be the truth; ``--merge`` keeps the newer by ``updated_at``, which is
how both sides of a git merge are joined), an ordering-dependency cycle refuses it (its beads could
never become ready, and the store refuses to create one), and a dependency on a bead neither in the
file nor in the database is a warning (beads keeps such edges: the other bead may live in another
clone or be imported later; ``bd doctor`` only reports them). Every finding names its lines.
With ``merge``, a file holding git conflict markers is read as both of its sides.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dataclasses import dataclass, field

from core import git
from core.atomic import atomic_write_bytes
from core.beads import guard
from core.beads import ids as idgen
from core.beads.model import (
    INFRA_TYPES,
    KNOWN_FIELDS,
    MAX_TITLE,
    ORDERING_DEP_TYPES,
    STATUSES,
    TS_RANGE_NS,
    Comment,
    Dependency,
    Issue,
    check_issue_type,
    custom_names,
    parse_ts,
)
from core.beads.store import BeadStore
from core.errors import GtError
from core.plaintext import strip_controls

if TYPE_CHECKING:
    from core.atomic import Chunks

_SURROGATE = re.compile("[\ud800-\udfff]")
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_DEP_KEYS = ("issue_id", "depends_on_id", "type", "created_at", "created_by")
_COMMENT_KEYS = ("id", "issue_id", "author", "text", "created_at")
_TEXT = (
    "title",
    "description",
    "design",
    "acceptance_criteria",
    "notes",
    "assignee",
    "owner",
    "created_by",
    "close_reason",
    "external_ref",
)
_TIMES = ("created_at", "updated_at", "started_at", "closed_at", "defer_until", "due_at")
#: A comment id's range: SQLite's 64-bit integer.
_INT64 = 2**63
#: A ledger id: a bead id (:func:`core.beads.ids.check_id`) or a proto step of a formula
#: (``mol-deacon-patrol.context-check``, ``prefix-name.step.sub``: Gas Town pours step ids by name).
_LEDGER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*-[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
#: The status beads before v0.50 exported for deleted issues; ``bd import`` skips such rows.
TOMBSTONE = "tombstone"
#: bd config keys a ledger may declare (``bd config set``, or flat in ``.beads/config.yaml``).
CONFIG_KEYS = ("status.custom", "types.custom", "types.infra")
#: Where the ledger's ``{"_schema": ...}`` header line is kept (``beads_config``, as JSON).
HEADER_KEY = "jsonl.header"


def encode_line(issue: Issue) -> str:
    """One JSONL line (no newline) for ``issue``, as Go's ``encoding/json`` would write it."""
    return go_json(issue.to_jsonl())


def go_json(obj: Any) -> str:
    """``obj`` as compact JSON the way Go's ``encoding/json`` writes it (``<``, ``>``, ``&``, U+2028 and
    U+2029 escaped; UTF-8 otherwise), keys in the dict's order. No newline."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if _SURROGATE.search(text):  # lone surrogates cannot be UTF-8: escape everything non-ASCII
        text = json.dumps(obj, separators=(",", ":"))
    for raw, escaped in _GO_ESCAPES.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def dumps(issues: list[Issue]) -> str:
    """The ledger text for ``issues`` (sorted by id here), one line each, newline-terminated."""
    return "".join(encode_line(i) + "\n" for i in sorted(issues, key=lambda i: i.id))


def check_ledger_id(bead: Any) -> str:
    """Return ``bead`` if it is a bead id (:func:`core.beads.ids.check_id`) or a formula proto-step id
    (``mol-deacon-patrol.context-check``); raises GtError otherwise."""
    if isinstance(bead, str) and len(bead) <= 200 and _LEDGER_ID.match(bead):
        return bead
    return idgen.check_id(bead)


def parse_record(obj: Any, custom_statuses: tuple[str, ...] = ()) -> Issue:
    """An :class:`Issue` from one decoded JSONL object; unknown keys go to ``extra`` verbatim.

    custom_statuses: statuses the ledger's config declares (bd ``status.custom``) besides STATUSES.
    The legacy ``wisp: true`` flag (beads v0.35-v0.37) sets ``ephemeral`` and stays in ``extra``.
    Raises GtError naming the bad field (the caller adds the line number).
    """
    if not isinstance(obj, dict):
        raise GtError("expected a JSON object")
    for key in ("id", "title"):
        if key not in obj:
            raise GtError(f"missing {key!r}")
    bead = check_ledger_id(obj["id"])
    title = obj["title"]
    if not isinstance(title, str) or not title or len(title) > MAX_TITLE:
        raise GtError(f"title must be 1-{MAX_TITLE} characters")
    fields: dict[str, Any] = {}
    for key in _TEXT:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise GtError(f"{key} must be a string")
        if key != "external_ref":
            fields[key] = value or ""
        else:
            fields[key] = value
    fields["title"] = title
    for key in _TIMES:
        value = obj.get(key)
        if value in (None, ""):
            fields[key] = "" if key in ("created_at", "updated_at") else None
            continue
        try:
            ns = parse_ts(value)
        except (ValueError, OverflowError):
            raise GtError(f"{key} {_short(value)} is not an RFC 3339 timestamp") from None
        if not TS_RANGE_NS[0] <= ns <= TS_RANGE_NS[1]:
            raise GtError(f"{key} {_short(value)} is out of range (years 1678-2261)")
        fields[key] = value
    status = obj.get("status", "open")
    if status not in STATUSES and status not in custom_statuses:
        raise GtError(
            f"unknown status {_short(status)} (use one of {', '.join(STATUSES + custom_statuses)}, or declare "
            "it in the ledger's config: status.custom in the config.yaml beside the file)"
        )
    priority = obj.get("priority", 0)  # bd import: a missing priority is 0 (older bd wrote it omitempty)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 4:
        raise GtError(f"priority {priority!r} is not 0-4")
    issue_type = check_issue_type(obj.get("issue_type", "task"), strict=False)
    ephemeral = obj.get("ephemeral", False)
    if not isinstance(ephemeral, bool):
        raise GtError("ephemeral must be true or false")
    if obj.get("wisp") is True:
        ephemeral = True
    metadata = obj.get("metadata")
    if isinstance(metadata, str) and metadata:
        try:
            metadata = json.loads(metadata)
        except json.JSONDecodeError:
            raise GtError("metadata is not valid JSON") from None
    if metadata is not None and not isinstance(metadata, dict):
        raise GtError("metadata must be a JSON object")
    labels = obj.get("labels") or []  # kept as bd keeps them: "" and padded labels included
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise GtError("labels must be a list of strings")
    deps = [_parse_dep(bead, d) for d in _list(obj, "dependencies")]
    comments = [_parse_comment(bead, c) for c in _list(obj, "comments")]
    extra = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS}
    return Issue(
        id=bead,
        status=status,
        priority=priority,
        issue_type=issue_type,
        ephemeral=ephemeral,
        metadata=metadata,
        labels=sorted(set(labels)),
        dependencies=deps,
        comments=comments,
        extra=extra,
        **fields,
    )


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise GtError(f"{key} must be a list")
    return value


def _parse_dep(bead: str, dep: Any) -> Dependency:
    if not isinstance(dep, dict) or not isinstance(dep.get("depends_on_id"), str) or not dep["depends_on_id"]:
        raise GtError("each dependency needs a depends_on_id string")
    dep_type = dep.get("type", "blocks")
    if not isinstance(dep_type, str) or not dep_type:
        raise GtError("dependency type must be a string")
    for key in ("created_at", "created_by"):
        if dep.get(key) is not None and not isinstance(dep[key], str):
            raise GtError(f"dependency {key} must be a string")
    return Dependency(
        bead,
        dep["depends_on_id"],
        dep_type,
        dep.get("created_at") or "",
        dep.get("created_by") or "",
        {k: v for k, v in dep.items() if k not in _DEP_KEYS},
    )


def _parse_comment(bead: str, comment: Any) -> Comment:
    if not isinstance(comment, dict) or not isinstance(comment.get("text"), str):
        raise GtError("each comment needs a text string")
    cid = comment.get("id", 0)
    if isinstance(cid, str):  # bd v1.0+: a UUID v7 string
        if not cid or len(cid) > 200:
            raise GtError("comment id must be a 64-bit integer or a string of 1-200 characters")
    elif isinstance(cid, bool) or not isinstance(cid, int) or not -_INT64 <= cid < _INT64:
        raise GtError("comment id must be a 64-bit integer or a string of 1-200 characters")
    return Comment(
        cid,
        bead,
        str(comment.get("author") or ""),
        comment["text"],
        str(comment.get("created_at") or ""),
        {k: v for k, v in comment.items() if k not in _COMMENT_KEYS},
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _fix_surrogates(obj: Any) -> Any:
    if isinstance(obj, str):
        return _SURROGATE.sub("\ufffd", obj)
    if isinstance(obj, list):
        return [_fix_surrogates(v) for v in obj]
    if isinstance(obj, dict):
        return {_fix_surrogates(k): _fix_surrogates(v) for k, v in obj.items()}
    return obj


#: Deepest nesting of arrays and objects a ledger line may hold. Beads nest two or three levels; a
#: line accepted near Python's recursion limit could be stored but then not read back or exported.
MAX_DEPTH = 64


def _too_deep(obj: Any, limit: int = MAX_DEPTH) -> bool:
    """True if ``obj`` (decoded JSON) nests arrays/objects more than ``limit`` levels (iterative walk)."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _decode(line: str) -> Any:
    """One JSON line -> object. Raises ValueError (bad JSON, NaN, huge integer) or RecursionError (also
    for nesting deeper than MAX_DEPTH)."""
    obj = json.loads(line, parse_constant=_reject_constant)
    if _too_deep(obj):
        raise RecursionError(f"nested deeper than {MAX_DEPTH} levels")
    if "\\u" in line and _SURROGATE.search(json.dumps(obj, ensure_ascii=False)):
        obj = _fix_surrogates(obj)
    return obj


def _sides(lines: list[str], source: str, merge: bool) -> list[tuple[int, str]]:
    """(line number, text) of the bead lines; with ``merge`` both sides of git conflict blocks (the
    diff3 base section dropped), without it a conflict marker is an error."""
    out = []
    in_base = False
    for n, line in enumerate(lines, start=1):
        marker = guard.conflict_line(line.encode("utf-8", "surrogatepass")) is not None
        if marker:
            if not merge:
                raise GtError(
                    f"{source} line {n}: git conflict marker: resolve it, or run 'gt bead import --merge' "
                    "to keep both sides; nothing was imported"
                )
            in_base = line.startswith("|||||||")
            continue
        if not in_base:
            out.append((n, line))
    return out


@dataclass
class Ledger:
    """One ledger file, parsed: its beads as (line number, issue), the ids of the tombstone rows
    skipped, the memory records (key -> value), the ``{"_schema": ...}`` header (or None), the bd
    config it declares (:data:`CONFIG_KEYS`) and one line per other record skipped."""

    pairs: list[tuple[int, Issue]] = field(default_factory=list)
    tombstones: list[str] = field(default_factory=list)
    memories: dict[str, str] = field(default_factory=dict)
    header: dict[str, Any] | None = None
    config: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def decode_line(line: str, n: int, source: str) -> Any:
    """Line ``n`` of ``source`` decoded. Raises GtError naming the line (nothing was imported)."""
    try:
        return _decode(line)
    except json.JSONDecodeError as exc:
        raise GtError(
            f"{source} line {n}: not valid JSON ({exc.msg} at column {exc.colno}); fix the line, nothing was imported"
        ) from None
    except RecursionError:
        raise GtError(f"{source} line {n}: JSON nested too deeply; fix the line, nothing was imported") from None
    except ValueError as exc:
        raise GtError(
            f"{source} line {n}: not valid JSON ({str(exc).splitlines()[0][:80]}); fix the line, nothing was imported"
        ) from None


def add_record(ledger: Ledger, obj: Any, n: int, source: str, custom_statuses: tuple[str, ...]) -> None:
    """Sort one decoded record (line ``n`` of ``source``) into ``ledger``, as :func:`parse_ledger` does.
    Raises GtError without the line number (the caller adds it)."""
    if isinstance(obj, dict) and "_schema" in obj:
        if ledger.header is None:
            ledger.header = obj
        return
    kind = obj.get("_type", "issue") if isinstance(obj, dict) else "issue"
    if kind == "memory":
        key, value = obj.get("key"), obj.get("value")
        if not isinstance(key, str) or not isinstance(value, str):
            raise GtError("a memory record needs a string key and a string value")
        if key and value:  # bd skips empty ones
            ledger.memories[key] = value
        return
    if kind != "issue":
        ledger.skipped.append(
            f"{source} line {n}: skipped a record of unknown _type {strip_controls(str(kind))[:40]!r}"
        )
        return
    if isinstance(obj, dict) and obj.get("status") == TOMBSTONE:
        ledger.tombstones.append(strip_controls(str(obj.get("id")))[:200])
        return
    ledger.pairs.append((n, parse_record(obj, custom_statuses)))


def parse_ledger(
    text: str, source: str = "ledger", merge: bool = False, custom_statuses: tuple[str, ...] = ()
) -> Ledger:
    """Parse ledger ``text`` (JSONL; blank lines skipped), all or nothing.

    Besides bead lines (with or without bd's ``"_type":"issue"``) it reads what beads writes: the
    ``{"_schema":"beads-jsonl/1", ...}`` header (kept), ``{"_type":"memory","key":K,"value":V}``
    records (``bd export --include-memories``; empty ones skipped as bd does) and ``status:
    "tombstone"`` rows of deleted issues (beads before v0.50; skipped as ``bd import`` does, their ids
    reported). A record of another ``_type`` is skipped with a note. custom_statuses: the ledger's
    declared ``status.custom`` names. merge: read both sides of git conflict blocks.

    Raises GtError ``"<source> line N: <problem>; ... nothing was imported"`` for the first bad line.
    """
    ledger = Ledger()
    # JSONL lines end at "\n" only: str.splitlines() also breaks at U+0085, U+2028 and the like, which
    # JSON leaves unescaped inside strings (a title holding U+0085 made its own exported line unreadable)
    for n, line in _sides(text.split("\n"), source, merge):
        if not line.strip():
            continue
        obj = decode_line(line, n, source)
        try:
            add_record(ledger, obj, n, source, custom_statuses)
        except RecursionError:
            raise GtError(f"{source} line {n}: JSON nested too deeply; fix the line, nothing was imported") from None
        except GtError as exc:
            raise GtError(f"{source} line {n}: {exc}; fix the line, nothing was imported") from None
    return ledger


def parse_lines(text: str, source: str = "ledger", merge: bool = False) -> list[tuple[int, Issue]]:
    """The beads of ledger ``text`` as (line number, issue), all or nothing (:func:`parse_ledger`).

    Raises GtError ``"<source> line N: <problem>; ... nothing was imported"`` for the first bad line.
    """
    return parse_ledger(text, source, merge).pairs


def loads(text: str, source: str = "ledger") -> list[Issue]:
    """Parse ledger ``text`` (JSONL; blank lines skipped) into issues, all or nothing.

    Raises GtError ``"<source> line N: <problem>; nothing was imported"`` for the first bad line.
    """
    return [issue for _, issue in parse_lines(text, source)]


def _newer(a: Issue, b: Issue) -> bool:
    """True if ``a`` was updated later than ``b`` (``updated_at``; a missing stamp is oldest)."""
    oldest = TS_RANGE_NS[0]
    return (parse_ts(a.updated_at) if a.updated_at else oldest) > (parse_ts(b.updated_at) if b.updated_at else oldest)


def dedupe(pairs: list[tuple[int, Issue]], source: str, merge: bool) -> list[tuple[int, Issue]]:
    """One (line, issue) per id. A duplicate id refuses (GtError naming both lines) unless ``merge``,
    which keeps the newer ``updated_at`` (on a tie, the later line)."""
    best: dict[str, tuple[int, Issue]] = {}
    for n, issue in pairs:
        if issue.id in best:
            first = best[issue.id]
            if not merge:
                raise GtError(
                    f"{source} lines {first[0]} and {n}: duplicate id {issue.id}: keep one of them, or run "
                    "'gt bead import --merge' to keep the newer; nothing was imported"
                )
            if _newer(first[1], issue):
                continue
        best[issue.id] = (n, issue)
    return sorted(best.values(), key=lambda p: p[0])


def check_graph(store: BeadStore, pairs: list[tuple[int, Issue]], source: str = "ledger") -> list[str]:
    """Validate the dependency graph the import would leave (the imported beads' edges replace their
    own in the database). Returns warnings (one line each) for dependencies on beads in neither the
    file nor the database. Raises GtError for an ordering-edge cycle, naming its beads and lines.
    """
    line_of = {issue.id: n for n, issue in pairs}
    known = set(line_of) | {r[0] for r in store.db.execute("SELECT id FROM issues")}
    edges: dict[str, list[str]] = {}
    warnings = []
    for n, issue in pairs:
        for dep in issue.dependencies:
            if dep.depends_on_id not in known and not dep.depends_on_id.startswith("external:"):
                warnings.append(
                    f"{source} line {n}: {issue.id} depends on {strip_controls(dep.depends_on_id)[:100]} "
                    f"({strip_controls(dep.type)[:40]}), which is in neither the file nor the database"
                )
            if dep.type in ORDERING_DEP_TYPES:
                edges.setdefault(issue.id, []).append(dep.depends_on_id)
    marks = ",".join("?" * len(ORDERING_DEP_TYPES))
    for a, b in store.db.execute(
        f"SELECT issue_id, depends_on_id FROM dependencies WHERE type IN ({marks})", list(ORDERING_DEP_TYPES)
    ):
        if a not in line_of:
            edges.setdefault(a, []).append(b)
    cycle = _find_cycle(edges)
    if cycle:
        where = " -> ".join(f"{b} (line {line_of[b]})" if b in line_of else f"{b} (database)" for b in cycle)
        raise GtError(f"{source}: dependency cycle {where}: remove one of these edges; nothing was imported")
    return warnings


def _find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle of ``edges`` as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for start in sorted(edges):
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            node, i = stack[-1]
            targets = edges.get(node, [])
            if i < len(targets):
                stack[-1] = (node, i + 1)
                nxt = targets[i]
                if state.get(nxt) == 1:
                    return path[path.index(nxt) :] + [nxt]
                if not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None


@dataclass
class ImportResult:
    """What an import did: ids created and updated, ids kept because the database's copy is newer
    (``merge`` only), the graph warnings and skipped records (one line each), the ids of the tombstone
    rows skipped, and how many memories were written."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    tombstones: list[str] = field(default_factory=list)
    memories: int = 0

    @property
    def count(self) -> int:
        """Beads written."""
        return len(self.created) + len(self.updated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "imported": self.count,
            "created": self.created,
            "updated": self.updated,
            "kept": self.kept,
            "warnings": self.warnings,
            "tombstones_skipped": len(self.tombstones),
            "memories": self.memories,
        }

    def summary(self) -> str:
        """What was skipped or written besides beads, for the end of a one-line report ('' if nothing):
        ``" (skipped 3 tombstones; 2 memories)"``."""
        parts = []
        if self.tombstones:
            parts.append(f"skipped {len(self.tombstones)} tombstone{'s' if len(self.tombstones) != 1 else ''}")
        if self.memories:
            parts.append(f"{self.memories} memor{'ies' if self.memories != 1 else 'y'}")
        return f" ({'; '.join(parts)})" if parts else ""


def decode_ledger(data: bytes, source: str) -> str:
    """Ledger bytes as text. Raises GtError naming the line and byte of invalid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise GtError(
            f"{source} line {line} is not UTF-8 (byte {exc.start}): fix that line, nothing was imported"
        ) from None


def declared_statuses(store: BeadStore, config: dict[str, str] | None = None) -> tuple[str, ...]:
    """The custom statuses an import accepts: the store's ``status.custom`` and those ``config`` (a
    ledger's bd config, :func:`read_config`) declares."""
    own = store.custom_statuses()
    return own + tuple(n for n in custom_names((config or {}).get("status.custom")) if n not in own)


def _merge_config(old: str | None, new: str) -> str:
    """bd comma-list config ``new`` joined onto ``old``: entries of new names appended (old entries win)."""
    have = custom_names(old)
    entries = [e.strip() for e in (old or "").split(",") if e.strip()]
    entries += [e.strip() for e in new.split(",") if e.strip() and e.split(":", 1)[0].strip() not in have]
    return ",".join(entries)


def import_ledger(
    store: BeadStore,
    data: bytes | str,
    source: str = "ledger",
    actor: str = "",
    merge: bool = False,
    config: dict[str, str] | None = None,
) -> ImportResult:
    """Import ledger ``data`` into ``store`` in one transaction, after validating every line and the
    graph (see the module docstring). Without ``merge`` every record wins; with ``merge`` both sides of
    conflict blocks are read and a bead is written only when it is new or its ``updated_at`` is later
    than the database's copy. config: the ledger's bd config (:func:`read_config`); its custom
    statuses are accepted and its keys joined onto the store's.

    Raises GtError (one line; nothing imported) for a bad line, a duplicate id (without ``merge``) or
    a dependency cycle.
    """
    text = decode_ledger(data, source) if isinstance(data, bytes) else data
    ledger = parse_ledger(text, source, merge=merge, custom_statuses=declared_statuses(store, config))
    ledger.config.update(config or {})
    return apply_ledger(store, ledger, source=source, actor=actor, merge=merge)


def apply_ledger(
    store: BeadStore, ledger: Ledger, source: str = "ledger", actor: str = "", merge: bool = False
) -> ImportResult:
    """Write a parsed :class:`Ledger` into ``store`` in one transaction: beads upserted (with ``merge``
    only new or newer ones), memories, the header and the declared config kept. Used by
    :func:`import_ledger` and :func:`core.beads.backup.import_backup`.

    Raises GtError (nothing imported) for a duplicate id (without ``merge``) or a dependency cycle.
    """
    pairs = dedupe(ledger.pairs, source, merge)
    result = ImportResult(tombstones=list(ledger.tombstones), memories=len(ledger.memories))
    with store.transaction():
        chosen = []
        for n, issue in pairs:
            if not store.exists(issue.id):
                result.created.append(issue.id)
            elif not merge or _newer(issue, store.get(issue.id)):
                result.updated.append(issue.id)
            else:
                result.kept.append(issue.id)
                continue
            chosen.append((n, issue))
        result.warnings = check_graph(store, pairs if not merge else chosen, source) + ledger.skipped
        store.upsert([issue for _, issue in chosen], actor=actor, source=source)
        store.put_memories(ledger.memories)
        if ledger.header is not None:
            store.config_set(HEADER_KEY, json.dumps(ledger.header))
        for key in CONFIG_KEYS:
            if ledger.config.get(key):
                store.config_set(key, _merge_config(store.config_get(key), ledger.config[key]))
    return result


def import_text(store: BeadStore, text: str, source: str = "ledger", actor: str = "") -> int:
    """Import ledger ``text`` into ``store`` (upsert by id, one transaction). Returns the issue count.

    Raises GtError for a malformed line, a duplicate id or a dependency cycle (nothing imported).
    """
    return import_ledger(store, text, source=source, actor=actor).count


def import_file(store: BeadStore, path: str | os.PathLike[str], actor: str = "") -> int:
    """Import the JSONL file at ``path`` into ``store``. Returns the issue count.

    Raises GtError if the file is missing, not UTF-8 or malformed (nothing imported).
    """
    return import_jsonl(store, path, actor=actor).count


def read_config(directory: str | os.PathLike[str]) -> dict[str, str]:
    """The bd config keys of :data:`CONFIG_KEYS` that ``directory/config.yaml`` (bd's
    ``.beads/config.yaml``) sets, flat at the top level as bd documents them
    (``types.custom: "agent,role,rig"``; quotes optional, a ``#`` comment after a space ignored).
    Other keys and nested YAML are not read. {} when there is no such file."""
    try:
        text = (Path(directory) / "config.yaml").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or key.strip() != key or key not in CONFIG_KEYS:
            continue
        value = value.strip()
        if value[:1] in ("'", '"'):
            value = value[1:].split(value[0], 1)[0]
        else:
            value = value.split(" #", 1)[0].strip()
        out[key] = value
    return out


def import_jsonl(store: BeadStore, path: str | os.PathLike[str], actor: str = "", merge: bool = False) -> ImportResult:
    """Import the JSONL ledger file at ``path`` into ``store`` (:func:`import_ledger`, with the bd
    config of the ``config.yaml`` beside it, :func:`read_config`). A ``.beads/backup/`` directory is
    :func:`core.beads.imports.import_path`'s.

    Raises GtError if the file is missing or the ledger is not UTF-8 or malformed (nothing imported).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise GtError(
            f"cannot read {p}: {exc.strerror}; give the path of an issues.jsonl file or a .beads/backup directory"
        ) from None
    return import_ledger(store, data, source=str(p), actor=actor, merge=merge, config=read_config(p.parent))


def snapshot_lines(store: BeadStore) -> list[str]:
    """Every bead of ``store`` as ledger lines (sorted by id, newline-terminated), read from one
    consistent snapshot of the database (a read transaction unless the caller holds one). The town's
    own ledger: infra beads, templates and wisps included, no header or memories."""
    conn = store.db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        return [encode_line(issue) + "\n" for issue in store.iter_all()]
    finally:
        if own:
            conn.execute("COMMIT")


def bead_lines(store: BeadStore, beads: Iterable[str]) -> dict[str, str | None]:
    """The ledger line (newline-terminated, as :func:`snapshot_lines` writes it) of each id in
    ``beads``, or None for an id the store no longer holds, read in one snapshot (the caller's
    transaction, else a read transaction of its own)."""
    wanted = sorted(set(beads))
    conn = store.db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        found = {i.id: encode_line(i) + "\n" for i in store.list(ids=wanted)} if wanted else {}
    finally:
        if own:
            conn.execute("COMMIT")
    return {bead: found.get(bead) for bead in wanted}


_LINE_HEAD = b'{"id":"'


def _line_id(data: bytes, start: int) -> bytes:
    """The id (UTF-8) of the ledger line starting at byte ``start``. Raises ValueError unless the line
    is one :func:`encode_line` wrote (``{"id":"`` first; ledger ids hold no quote or backslash)."""
    if not data.startswith(_LINE_HEAD, start):
        raise ValueError(f"byte {start}: not a line of this exporter")
    end = data.index(b'"', start + len(_LINE_HEAD))
    return data[start + len(_LINE_HEAD) : end]


def _lower_bound(data: bytes, key: bytes, lo: int) -> int:
    """The start of the first line at or after line start ``lo`` whose id is >= ``key`` (len(data)
    if none): a binary search over byte offsets of the sorted ledger ``data`` (lines end in ``\n``;
    ids compare as UTF-8 bytes, which is SQLite's and Python's order of the ids)."""
    hi = len(data)
    while lo < hi:
        mid = (lo + hi) // 2
        nl = data.rfind(b"\n", lo, mid)
        start = nl + 1 if nl >= 0 else lo
        if _line_id(data, start) < key:
            lo = data.index(b"\n", start) + 1
        else:
            hi = start
    return lo


def splice_lines(old: bytes, changes: dict[str, str | None]) -> tuple[list[bytes | memoryview], int] | None:
    """The ledger ``old`` (a file :func:`snapshot_lines` wrote, sorted by id) with the lines of
    ``changes`` (id -> new line, or None: drop the bead) replaced, inserted in id order or removed;
    the other lines are copied byte for byte, so the result is what a full export of the same beads
    writes. Each change costs one binary search (O(log n) line reads), not a pass over the beads.

    Returns (the new file's bytes as parts: views into ``old`` between the new lines, never joined
    into one 47 MB copy; change in the number of lines), or None when a line the search reads is not
    such a line (a header, a foreign line) or there is no final newline: the caller exports in full
    instead. Only the lines on the search paths are read, so the caller must know ``old`` is its own
    export (:func:`core.beads.sync.export_ledger` checks its digest and the result's line count).
    """
    if old and not old.endswith(b"\n"):
        return None
    view = memoryview(old)
    parts: list[bytes | memoryview] = []
    copied = 0  # bytes of old already placed in parts
    delta = 0
    try:
        for bead in sorted(changes, key=lambda b: b.encode("utf-8")):
            key = bead.encode("utf-8")
            pos = _lower_bound(old, key, copied)
            parts.append(view[copied:pos])
            copied = pos
            if pos < len(old) and _line_id(old, pos) == key:
                copied = old.index(b"\n", pos) + 1
                delta -= 1
            line = changes[bead]
            if line is not None:
                if not line.startswith('{"id":' + json.dumps(bead) + ",") or not line.endswith("\n"):
                    return None
                parts.append(line.encode("utf-8"))
                delta += 1
    except ValueError:
        return None
    parts.append(view[copied:])
    return parts, delta


def infra_types(store: BeadStore) -> tuple[str, ...]:
    """The types ``bd export`` leaves out by default: the ledger's ``types.infra`` config, else
    :data:`core.beads.model.INFRA_TYPES`."""
    return custom_names(store.config_get("types.infra")) or INFRA_TYPES


def exported_by_default(issue: Issue, infra: tuple[str, ...]) -> bool:
    """True if ``bd export`` without ``--all`` writes ``issue``: not of an ``infra`` type, not a
    template (``is_template``), not ephemeral (a wisp)."""
    return issue.issue_type not in infra and not issue.ephemeral and issue.extra.get("is_template") is not True


def export_lines(store: BeadStore, *, include_all: bool = False) -> tuple[list[str], int]:
    """The lines ``bd export`` would write for ``store`` (newline-terminated) and how many are beads:
    the kept ``_schema`` header first (if an import brought one), then the beads sorted by id, without
    infra types, templates and wisps unless ``include_all``; with ``include_all`` the memories follow
    as ``{"_type":"memory","key":K,"value":V}`` sorted by key (bd ``export --all``). One read snapshot.
    """
    conn = store.db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        header = store.config_get(HEADER_KEY)
        infra = infra_types(store)
        beads = [encode_line(i) + "\n" for i in store.iter_all() if include_all or exported_by_default(i, infra)]
        memories = store.memories() if include_all else {}
    finally:
        if own:
            conn.execute("COMMIT")
    head = [go_json(json.loads(header)) + "\n"] if header else []
    tail = [go_json({"_type": "memory", "key": k, "value": v}) + "\n" for k, v in memories.items()]
    return head + beads + tail, len(beads)


def export_text(store: BeadStore, *, include_all: bool = False) -> str:
    """The ledger text ``bd export`` would write (:func:`export_lines`), for printing to stdout."""
    return "".join(export_lines(store, include_all=include_all)[0])


def write_lines(path: str | os.PathLike[str], data: Chunks, before_rename: Callable[[], None] | None = None) -> None:
    """Write ledger bytes ``data`` (bytes, or parts written one after the other) to ``path`` atomically
    (temp file + rename), creating its directory. before_rename: see
    :func:`core.atomic.atomic_write_bytes`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data, before_rename=before_rename)


def export(store: BeadStore, path: str | os.PathLike[str], *, include_all: bool = False) -> int:
    """Write ``store`` to ``path`` as ``bd export`` does (:func:`export_lines`: beads sorted by id,
    infra types, templates and wisps only with ``include_all``, which adds the memories; temp file +
    rename). Returns the number of beads written.

    No guard: the town's own ledger is written by :func:`core.beads.sync.export_ledger`.
    """
    lines, beads = export_lines(store, include_all=include_all)
    write_lines(path, "".join(lines).encode("utf-8"))
    return beads


def import_repo_ledger(
    store: BeadStore, repo_path: str | os.PathLike[str], branch: str, source: str = "", actor: str = ""
) -> int:
    """Import a repository's own ``.beads/issues.jsonl`` at the tip of ``branch`` (read with dulwich,
    so a bare clone works). Returns the issue count (0 when the repository has no ledger).

    Raises GtError for a malformed ledger (nothing imported), GitError if ``repo_path`` is not a repository.
    """
    data = git.read_dir_at(repo_path, branch, ".beads").get("issues.jsonl")
    if not data:
        return 0
    label = source or f"{repo_path}:{branch}:.beads/issues.jsonl"
    return import_ledger(store, data, source=label, actor=actor).count
