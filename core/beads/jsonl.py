"""The classic beads JSONL ledger: ``.beads/issues.jsonl``, one issue a line, sorted by id.

Export writes what beads' Go exporter wrote in the sqlite era (``encoding/json``: compact, ``<``, ``>``,
``&``, U+2028 and U+2029 escaped, UTF-8 otherwise; known keys in struct order with ``omitempty``; labels,
dependencies and comments embedded), to a temporary file renamed over the target. Exporting the
sqlite-era fixture after importing it gives back the same bytes.

Import validates the whole file first (a malformed line is reported with its line number and nothing
is imported), then upserts every issue by id in one transaction. Keys it does not know are kept
verbatim and written back on export.

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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dataclasses import dataclass, field

from core import git
from core.atomic import atomic_write_bytes
from core.beads import guard
from core.beads import ids as idgen
from core.beads.model import (
    KNOWN_FIELDS,
    MAX_TITLE,
    ORDERING_DEP_TYPES,
    STATUSES,
    Comment,
    Dependency,
    Issue,
    check_issue_type,
    parse_ts,
)
from core.beads.store import BeadStore
from core.errors import GtError
from core.plaintext import strip_controls

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
_INT64 = 2**63


def encode_line(issue: Issue) -> str:
    """One JSONL line (no newline) for ``issue``, as Go's ``encoding/json`` would write it."""
    text = json.dumps(issue.to_jsonl(), ensure_ascii=False, separators=(",", ":"))
    if _SURROGATE.search(text):  # lone surrogates cannot be UTF-8: escape everything non-ASCII
        text = json.dumps(issue.to_jsonl(), separators=(",", ":"))
    for raw, escaped in _GO_ESCAPES.items():
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def dumps(issues: list[Issue]) -> str:
    """The ledger text for ``issues`` (sorted by id here), one line each, newline-terminated."""
    return "".join(encode_line(i) + "\n" for i in sorted(issues, key=lambda i: i.id))


def parse_record(obj: Any) -> Issue:
    """An :class:`Issue` from one decoded JSONL object; unknown keys go to ``extra`` verbatim.

    Raises GtError naming the bad field (the caller adds the line number).
    """
    if not isinstance(obj, dict):
        raise GtError("expected a JSON object")
    for key in ("id", "title"):
        if key not in obj:
            raise GtError(f"missing {key!r}")
    bead = idgen.check_id(obj["id"])
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
        if not -_INT64 <= ns < _INT64:
            raise GtError(f"{key} {_short(value)} is out of range (years 1678-2261)")
        fields[key] = value
    status = obj.get("status", "open")
    if status not in STATUSES:
        raise GtError(f"unknown status {status!r} (use one of {', '.join(STATUSES)})")
    priority = obj.get("priority", 2)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 4:
        raise GtError(f"priority {priority!r} is not 0-4")
    issue_type = check_issue_type(obj.get("issue_type", "task"), strict=False)
    ephemeral = obj.get("ephemeral", False)
    if not isinstance(ephemeral, bool):
        raise GtError("ephemeral must be true or false")
    metadata = obj.get("metadata")
    if isinstance(metadata, str) and metadata:
        try:
            metadata = json.loads(metadata)
        except json.JSONDecodeError:
            raise GtError("metadata is not valid JSON") from None
    if metadata is not None and not isinstance(metadata, dict):
        raise GtError("metadata must be a JSON object")
    labels = obj.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
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
    if isinstance(cid, bool) or not isinstance(cid, int) or not -_INT64 <= cid < _INT64:
        raise GtError("comment id must be a 64-bit integer")
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


def parse_lines(text: str, source: str = "ledger", merge: bool = False) -> list[tuple[int, Issue]]:
    """Parse ledger ``text`` (JSONL; blank lines skipped) into (line number, issue), all or nothing.

    merge: read both sides of git conflict blocks. Raises GtError ``"<source> line N: <problem>;
    ... nothing was imported"`` for the first bad line.
    """
    out = []
    # JSONL lines end at "\n" only: str.splitlines() also breaks at U+0085, U+2028 and the like, which
    # JSON leaves unescaped inside strings (a title holding U+0085 made its own exported line unreadable)
    for n, line in _sides(text.split("\n"), source, merge):
        if not line.strip():
            continue
        try:
            obj = _decode(line)
        except json.JSONDecodeError as exc:
            raise GtError(
                f"{source} line {n}: not valid JSON ({exc.msg} at column {exc.colno}); "
                "fix the line, nothing was imported"
            ) from None
        except RecursionError:
            raise GtError(f"{source} line {n}: JSON nested too deeply; fix the line, nothing was imported") from None
        except ValueError as exc:
            raise GtError(
                f"{source} line {n}: not valid JSON ({str(exc).splitlines()[0][:80]}); "
                "fix the line, nothing was imported"
            ) from None
        try:
            out.append((n, parse_record(obj)))
        except RecursionError:
            raise GtError(f"{source} line {n}: JSON nested too deeply; fix the line, nothing was imported") from None
        except GtError as exc:
            raise GtError(f"{source} line {n}: {exc}; fix the line, nothing was imported") from None
    return out


def loads(text: str, source: str = "ledger") -> list[Issue]:
    """Parse ledger ``text`` (JSONL; blank lines skipped) into issues, all or nothing.

    Raises GtError ``"<source> line N: <problem>; nothing was imported"`` for the first bad line.
    """
    return [issue for _, issue in parse_lines(text, source)]


def _newer(a: Issue, b: Issue) -> bool:
    """True if ``a`` was updated later than ``b`` (``updated_at``; a missing stamp is oldest)."""
    return (parse_ts(a.updated_at) if a.updated_at else -_INT64) > (parse_ts(b.updated_at) if b.updated_at else -_INT64)


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
    (``merge`` only), and the graph warnings (one line each)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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
        }


def decode_ledger(data: bytes, source: str) -> str:
    """Ledger bytes as text. Raises GtError naming the line and byte of invalid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise GtError(
            f"{source} line {line} is not UTF-8 (byte {exc.start}): fix that line, nothing was imported"
        ) from None


def import_ledger(
    store: BeadStore, data: bytes | str, source: str = "ledger", actor: str = "", merge: bool = False
) -> ImportResult:
    """Import ledger ``data`` into ``store`` in one transaction, after validating every line and the
    graph (see the module docstring). Without ``merge`` every record wins; with ``merge`` both sides of
    conflict blocks are read and a bead is written only when it is new or its ``updated_at`` is later
    than the database's copy.

    Raises GtError (one line; nothing imported) for a bad line, a duplicate id (without ``merge``) or
    a dependency cycle.
    """
    text = decode_ledger(data, source) if isinstance(data, bytes) else data
    pairs = dedupe(parse_lines(text, source, merge=merge), source, merge)
    result = ImportResult()
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
        result.warnings = check_graph(store, pairs if not merge else chosen, source)
        store.upsert([issue for _, issue in chosen], actor=actor, source=source)
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
    return import_path(store, path, actor=actor).count


def import_path(store: BeadStore, path: str | os.PathLike[str], actor: str = "", merge: bool = False) -> ImportResult:
    """Import the JSONL file at ``path`` into ``store`` (:func:`import_ledger`).

    Raises GtError if the file is missing, not UTF-8 or malformed (nothing imported).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise GtError(f"cannot read {p}: {exc.strerror}; give the path of an issues.jsonl file") from None
    return import_ledger(store, data, source=str(p), actor=actor, merge=merge)


def snapshot_lines(store: BeadStore) -> list[str]:
    """Every bead of ``store`` as ledger lines (sorted by id, newline-terminated), read from one
    consistent snapshot of the database (a read transaction unless the caller holds one)."""
    conn = store.db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        return [encode_line(issue) + "\n" for issue in store.iter_all()]
    finally:
        if own:
            conn.execute("COMMIT")


def write_lines(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ledger bytes ``data`` to ``path`` atomically (temp file + rename), creating its directory."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)


def export(store: BeadStore, path: str | os.PathLike[str]) -> int:
    """Write every bead of ``store`` to ``path`` (sorted by id; temp file + rename). Returns the count.

    No guard: the town's own ledger is written by :func:`core.beads.sync.export_ledger`.
    """
    lines = snapshot_lines(store)
    write_lines(path, "".join(lines).encode("utf-8"))
    return len(lines)


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
