"""The classic beads JSONL ledger: ``.beads/issues.jsonl``, one issue a line, sorted by id.

Export writes what beads' Go exporter wrote in the sqlite era (``encoding/json``: compact, ``<``, ``>``,
``&``, U+2028 and U+2029 escaped, UTF-8 otherwise; known keys in struct order with ``omitempty``; labels,
dependencies and comments embedded), to a temporary file renamed over the target. Exporting the
sqlite-era fixture after importing it gives back the same bytes.

Import validates the whole file first (a malformed line is reported with its line number and nothing
is imported), then upserts every issue by id in one transaction. Keys it does not know are kept
verbatim and written back on export.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from core import git
from core.atomic import atomic_write_bytes
from core.beads import ids as idgen
from core.beads.model import (
    KNOWN_FIELDS, MAX_TITLE, STATUSES, Comment, Dependency, Issue, check_issue_type, parse_ts,
)
from core.beads.store import BeadStore
from core.errors import GtError

_SURROGATE = re.compile("[\ud800-\udfff]")
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_DEP_KEYS = ("issue_id", "depends_on_id", "type", "created_at", "created_by")
_COMMENT_KEYS = ("id", "issue_id", "author", "text", "created_at")
_TEXT = ("title", "description", "design", "acceptance_criteria", "notes", "assignee", "owner", "created_by",
         "close_reason", "external_ref")
_TIMES = ("created_at", "updated_at", "started_at", "closed_at", "defer_until", "due_at")


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
            parse_ts(value)
        except ValueError:
            raise GtError(f"{key} {value!r} is not an RFC 3339 timestamp") from None
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
    return Issue(id=bead, status=status, priority=priority, issue_type=issue_type, ephemeral=ephemeral,
                 metadata=metadata, labels=sorted(set(labels)), dependencies=deps, comments=comments,
                 extra=extra, **fields)


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
    return Dependency(bead, dep["depends_on_id"], dep_type, dep.get("created_at") or "", dep.get("created_by") or "",
                      {k: v for k, v in dep.items() if k not in _DEP_KEYS})


def _parse_comment(bead: str, comment: Any) -> Comment:
    if not isinstance(comment, dict) or not isinstance(comment.get("text"), str):
        raise GtError("each comment needs a text string")
    cid = comment.get("id", 0)
    if isinstance(cid, bool) or not isinstance(cid, int):
        raise GtError("comment id must be an integer")
    return Comment(cid, bead, str(comment.get("author") or ""), comment["text"], str(comment.get("created_at") or ""),
                   {k: v for k, v in comment.items() if k not in _COMMENT_KEYS})


def loads(text: str, source: str = "ledger") -> list[Issue]:
    """Parse ledger ``text`` (JSONL; blank lines skipped) into issues, all or nothing.

    Raises GtError ``"<source> line N: <problem>; nothing was imported"`` for the first bad line.
    """
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GtError(f"{source} line {n}: not valid JSON ({exc.msg} at column {exc.colno}); "
                          "fix the line, nothing was imported") from None
        try:
            out.append(parse_record(obj))
        except GtError as exc:
            raise GtError(f"{source} line {n}: {exc}; fix the line, nothing was imported") from None
    return out


def import_text(store: BeadStore, text: str, source: str = "ledger", actor: str = "") -> int:
    """Import ledger ``text`` into ``store`` (upsert by id, one transaction). Returns the issue count.

    Raises GtError for a malformed line (nothing imported).
    """
    return store.upsert(loads(text, source), actor=actor, source=source)


def import_file(store: BeadStore, path: str | os.PathLike[str], actor: str = "") -> int:
    """Import the JSONL file at ``path`` into ``store``. Returns the issue count.

    Raises GtError if the file is missing, not UTF-8 or malformed (nothing imported).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise GtError(f"cannot read {p}: {exc.strerror}; give the path of an issues.jsonl file") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GtError(f"{p} is not UTF-8 (byte {exc.start}): give a beads JSONL file") from None
    return import_text(store, text, source=str(p), actor=actor)


def export(store: BeadStore, path: str | os.PathLike[str]) -> int:
    """Write every bead of ``store`` to ``path`` (sorted by id; temp file + rename). Returns the count.

    Reads one consistent snapshot of the database (a read transaction unless the caller holds one).
    """
    conn = store.db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        lines = [encode_line(issue) + "\n" for issue in store.iter_all()]
    finally:
        if own:
            conn.execute("COMMIT")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, "".join(lines).encode("utf-8"))
    return len(lines)


def import_repo_ledger(store: BeadStore, repo_path: str | os.PathLike[str], branch: str, source: str = "",
                       actor: str = "") -> int:
    """Import a repository's own ``.beads/issues.jsonl`` at the tip of ``branch`` (read with dulwich,
    so a bare clone works). Returns the issue count (0 when the repository has no ledger).

    Raises GtError for a malformed ledger (nothing imported), GitError if ``repo_path`` is not a repository.
    """
    data = git.read_dir_at(repo_path, branch, ".beads").get("issues.jsonl")
    if not data:
        return 0
    label = source or f"{repo_path}:{branch}:.beads/issues.jsonl"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GtError(f"{label} is not UTF-8 (byte {exc.start}): fix the ledger in that repository") from None
    return import_text(store, text, source=label, actor=actor)
