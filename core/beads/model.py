"""The bead record: the classic beads issue fields, their validation and their JSON shapes.

Field set and JSON names follow beads' ``internal/types`` Issue (classic sqlite-era JSONL export):
``id, title, description, design, acceptance_criteria, notes, status, priority, issue_type, assignee,
owner, created_at, created_by, updated_at, started_at, closed_at, close_reason, defer_until, due_at,
external_ref, ephemeral, metadata, labels, dependencies, comments``. Fields this module does not know
(e.g. ``work_type``, ``estimated_minutes``, the Dolt-era ``dependency_count``/``parent`` snapshots) are
kept verbatim in ``extra`` and written back after the known ones, so importing never drops data.

Timestamps are kept as the RFC 3339 strings they arrived as (``2026-01-12T02:14:20Z``); new ones are
written like Go's ``time.RFC3339Nano`` in UTC. Their Unix-nanosecond value is used for ordering.
"""

from __future__ import annotations

import functools
import json
import re
import time
from datetime import datetime, timezone

from core.beads.routes import prefix_of
from core.errors import GtError
from core.records import Record

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

STATUSES = ("open", "in_progress", "blocked", "deferred", "closed", "pinned", "hooked")
ISSUE_TYPES = (
    "bug",
    "feature",
    "task",
    "epic",
    "chore",
    "decision",
    "message",
    "molecule",
    "gate",
    "spike",
    "story",
    "milestone",
    "merge-request",
    "convoy",
    "agent",
)
DEP_TYPES = (
    "blocks",
    "conditional-blocks",
    "waits-for",
    "parent-child",
    "related",
    "relates-to",
    "discovered-from",
    "tracks",
    "blocked-by",
    "follows",
    "replies-to",
    "duplicates",
    "supersedes",
)
#: Edge types that hold an issue back while their target is not closed.
BLOCKING_DEP_TYPES = ("blocks", "conditional-blocks")
#: Edge types checked for cycles when added (a cycle through any of them deadlocks the ready set).
ORDERING_DEP_TYPES = ("blocks", "conditional-blocks", "waits-for", "parent-child")
#: Types that are never offered as ready work (they are plumbing, not tasks): bd's ready exclusions
#: (``readyWorkExcludeTypes``: merge-request, gate, molecule, message, agent, role, rig) plus the Gas Town
#: infra types ``convoy``, ``event`` and ``slot``.
NON_WORK_TYPES = ("message", "merge-request", "gate", "molecule", "convoy", "agent", "rig", "role", "event", "slot")
#: Types ``bd export`` leaves out unless ``--all`` (beads' ``storage.DefaultInfraTypes``; a ledger's
#: ``types.infra`` config overrides them).
INFRA_TYPES = ("agent", "rig", "role", "message")
MAX_TITLE = 500
MAX_CHILD_DEPTH = 3

_NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
#: RFC 3339 as :func:`parse_ts` reads it (compiled on first use: reading beads parses no timestamp).
_TS = r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$"

# Known JSONL keys in export order (beads' Issue struct order; labels/dependencies/comments embedded).
JSONL_ORDER = (
    "id",
    "title",
    "description",
    "design",
    "acceptance_criteria",
    "notes",
    "status",
    "priority",
    "issue_type",
    "assignee",
    "owner",
    "created_at",
    "created_by",
    "updated_at",
    "started_at",
    "closed_at",
    "close_reason",
    "defer_until",
    "due_at",
    "external_ref",
    "labels",
    "dependencies",
    "comments",
    "ephemeral",
    "metadata",
)
KNOWN_FIELDS = frozenset(JSONL_ORDER)
#: Keys beads always writes (no ``omitempty``).
ALWAYS_WRITTEN = ("id", "title", "status", "priority", "issue_type")
_WRITE_EMPTY = frozenset(ALWAYS_WRITTEN)


# ---------------------------------------------------------------- timestamps


def now_ns() -> int:
    """The current time in Unix nanoseconds."""
    return time.time_ns()


def format_ts(ns: int) -> str:
    """Unix nanoseconds -> RFC 3339 UTC with trailing fractional zeros trimmed (Go's RFC3339Nano)."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        base += "." + f"{frac:09d}".rstrip("0")
    return base + "Z"


@functools.cache
def _ts_pattern() -> re.Pattern[str]:
    return re.compile(_TS)


def parse_ts(text: str) -> int:
    """RFC 3339 timestamp (``Z`` or ``+hh:mm``; no zone means UTC; up to 9 fraction digits) -> Unix ns.

    Raises ValueError for anything else.
    """
    m = _ts_pattern().match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    y, mo, d, h, mi, s, frac, zone = m.groups()
    offset = 0
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=timezone.utc)
    secs = int(dt.timestamp()) - offset
    return secs * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)


# ---------------------------------------------------------------- validation (GtError, exit 2)


def check_title(title: Any) -> str:
    """Return ``title`` stripped; raises GtError if empty or longer than 500 characters."""
    if not isinstance(title, str) or not title.strip():
        raise GtError("a bead needs a title: give a non-empty TITLE")
    text: str = title.strip()
    if len(text) > MAX_TITLE:
        raise GtError(f"title is {len(text)} characters long: shorten it to at most {MAX_TITLE}")
    return text


def check_priority(priority: Any) -> int:
    """Return the priority as an int 0-4 (accepts ``2``, ``"2"``, ``"P2"``); raises GtError otherwise."""
    value: Any = priority
    if isinstance(value, str):
        text = value.strip().upper().removeprefix("P")
        value = int(text) if text.isdigit() else None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 4:
        raise GtError(f"priority {priority!r} is out of range: use 0 (critical) to 4 (backlog)")
    return value


def check_status(status: Any, custom: tuple[str, ...] = ()) -> str:
    """Return ``status`` if it is one of STATUSES or of ``custom`` (the ledger's declared ``status.custom``
    names, :func:`custom_names`); raises GtError listing them otherwise."""
    if status not in STATUSES and status not in custom:
        raise GtError(f"unknown status {status!r}: use one of {', '.join(STATUSES + custom)}")
    return str(status)


def custom_names(value: str | None) -> tuple[str, ...]:
    """The names of a bd ``status.custom`` / ``types.custom`` / ``types.infra`` config value: a comma
    list whose entries may carry a category (``"staged_ready:wip,on_hold"`` -> ``("staged_ready",
    "on_hold")``, beads' ``ParseCustomStatusConfig``). Blank entries are skipped; None gives ()."""
    names = (part.split(":", 1)[0].strip() for part in (value or "").split(","))
    return tuple(n for n in names if n)


def check_issue_type(issue_type: Any, strict: bool = True) -> str:
    """Return ``issue_type``. strict: one of ISSUE_TYPES (create, update); else any lowercase name
    (import keeps custom types such as ``rig``). Raises GtError otherwise."""
    if strict and issue_type not in ISSUE_TYPES:
        raise GtError(f"unknown issue type {issue_type!r}: use one of {', '.join(ISSUE_TYPES)}")
    if not isinstance(issue_type, str) or not _NAME_RE.match(issue_type):
        raise GtError(f"invalid issue type {issue_type!r}: use a lowercase name such as task or bug")
    return issue_type


def check_dep_type(dep_type: Any) -> str:
    """Return ``dep_type`` if it is one of DEP_TYPES; raises GtError listing them otherwise."""
    if dep_type not in DEP_TYPES:
        raise GtError(f"unknown dependency type {dep_type!r}: use one of {', '.join(DEP_TYPES)}")
    return str(dep_type)


#: The timestamps a bead field may hold, Unix ns: SQLite's 64-bit integer (``defer_ns``, the import's
#: ``created_ns``), so the years 1678-2261 and no later (``int64`` nanoseconds end in April 2262).
TS_RANGE_NS = (-(2**63), 2**63 - 1)


def check_timestamp(value: Any, name: str) -> str:
    """Return ``value`` if it is an RFC 3339 timestamp string within :data:`TS_RANGE_NS`; raises
    GtError naming the field (and, for a time out of range, the years allowed)."""
    try:
        ns = parse_ts(value)
    except ValueError:
        raise GtError(f"{name} {value!r} is not a timestamp: use RFC 3339, e.g. 2026-01-02T03:04:05Z") from None
    if not TS_RANGE_NS[0] <= ns <= TS_RANGE_NS[1]:
        raise GtError(f"{name} {value!r} is out of range: use a time in the years 1678-2261")
    return str(value)


def parse_metadata(value: Any) -> dict[str, Any] | None:
    """Metadata as a dict: accepts None, a dict, or a JSON object string. Raises GtError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise GtError(
                f"metadata is not valid JSON ({exc.msg} at column {exc.colno}): "
                "give a JSON object such as '{\"k\": 1}'"
            ) from None
        except (ValueError, RecursionError):  # a number of over 4300 digits, nesting deeper than Python's stack
            raise GtError(
                "metadata is not usable JSON (a number too long or nesting too deep): "
                "give a JSON object such as '{\"k\": 1}'"
            ) from None
    if not isinstance(value, dict):
        raise GtError("metadata must be a JSON object: give something like '{\"k\": 1}'")
    return value


# ---------------------------------------------------------------- records
# Records (core.records.Record): a plain dataclass's behaviour without the decorator's cost; each
# omitted list or dict argument gets a fresh one, as a dataclass default_factory gives. Slotted (no
# instance dict): a ``ready`` builds thousands of them, and a slot store costs half a dict store.


class Dependency(Record):
    """An edge ``issue_id -> depends_on_id`` of ``type`` (``blocks``: issue waits for depends_on;
    ``parent-child``: issue is a child of depends_on; ``tracks``: a convoy tracks a bead).

    created_at: RFC 3339 string. extra: unknown JSONL keys of the edge, kept verbatim.
    """

    __slots__ = _FIELDS = ("issue_id", "depends_on_id", "type", "created_at", "created_by", "extra")

    def __init__(
        self,
        issue_id: str,
        depends_on_id: str,
        type: str = "blocks",
        created_at: str = "",
        created_by: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.issue_id = issue_id
        self.depends_on_id = depends_on_id
        self.type = type
        self.created_at = created_at
        self.created_by = created_by
        self.extra: dict[str, Any] = {} if extra is None else extra

    def as_dict(self) -> dict[str, Any]:
        """The classic beads JSON object of the edge."""
        out: dict[str, Any] = {
            "issue_id": self.issue_id,
            "depends_on_id": self.depends_on_id,
            "type": self.type,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    def to_jsonl(self) -> dict[str, Any]:
        """The edge as beads' JSONL writes it: :meth:`as_dict` without an empty ``created_by`` (Go
        ``omitempty``) or an empty ``created_at`` (a file that had none gets none back)."""
        out = self.as_dict()
        for key in ("created_at", "created_by"):
            if out.get(key) == "":
                del out[key]
        return out


class Comment(Record):
    """A comment on a bead. id: an integer (beads before v1.0) or a string (a UUID v7 since bd v1.0),
    unique in the ledger, kept as it came; created_at: RFC 3339 string."""

    __slots__ = _FIELDS = ("id", "issue_id", "author", "text", "created_at", "extra")

    def __init__(
        self,
        id: int | str,
        issue_id: str,
        author: str,
        text: str,
        created_at: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.issue_id = issue_id
        self.author = author
        self.text = text
        self.created_at = created_at
        self.extra: dict[str, Any] = {} if extra is None else extra

    def as_dict(self) -> dict[str, Any]:
        """The classic beads JSON object of the comment."""
        out: dict[str, Any] = {
            "id": self.id,
            "issue_id": self.issue_id,
            "author": self.author,
            "text": self.text,
            "created_at": self.created_at,
        }
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out


class Issue(Record):
    """One bead. Text fields are '' when empty; optional timestamps None; priority 0-4;
    metadata a dict or None; extra: unknown JSONL keys, verbatim, in their original order."""

    __slots__ = _FIELDS = (
        "id",
        "title",
        "description",
        "design",
        "acceptance_criteria",
        "notes",
        "status",
        "priority",
        "issue_type",
        "assignee",
        "owner",
        "created_at",
        "created_by",
        "updated_at",
        "started_at",
        "closed_at",
        "close_reason",
        "defer_until",
        "due_at",
        "external_ref",
        "ephemeral",
        "metadata",
        "labels",
        "dependencies",
        "comments",
        "extra",
    )

    def __init__(
        self,
        id: str,
        title: str,
        description: str = "",
        design: str = "",
        acceptance_criteria: str = "",
        notes: str = "",
        status: str = "open",
        priority: int = 2,
        issue_type: str = "task",
        assignee: str = "",
        owner: str = "",
        created_at: str = "",
        created_by: str = "",
        updated_at: str = "",
        started_at: str | None = None,
        closed_at: str | None = None,
        close_reason: str = "",
        defer_until: str | None = None,
        due_at: str | None = None,
        external_ref: str | None = None,
        ephemeral: bool = False,
        metadata: dict[str, Any] | None = None,
        labels: list[str] | None = None,
        dependencies: list[Dependency] | None = None,
        comments: list[Comment] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.id = id
        self.title = title
        self.description = description
        self.design = design
        self.acceptance_criteria = acceptance_criteria
        self.notes = notes
        self.status = status
        self.priority = priority
        self.issue_type = issue_type
        self.assignee = assignee
        self.owner = owner
        self.created_at = created_at
        self.created_by = created_by
        self.updated_at = updated_at
        self.started_at = started_at
        self.closed_at = closed_at
        self.close_reason = close_reason
        self.defer_until = defer_until
        self.due_at = due_at
        self.external_ref = external_ref
        self.ephemeral = ephemeral
        self.metadata = metadata
        self.labels: list[str] = [] if labels is None else labels
        self.dependencies: list[Dependency] = [] if dependencies is None else dependencies
        self.comments: list[Comment] = [] if comments is None else comments
        self.extra: dict[str, Any] = {} if extra is None else extra

    @property
    def parent(self) -> str | None:
        """The id of the parent (target of this bead's ``parent-child`` edge), or None."""
        for dep in self.dependencies:
            if dep.type == "parent-child":
                return dep.depends_on_id
        return None

    @property
    def prefix(self) -> str:
        """The bead prefix: the id up to its first ``-`` (``mp`` for ``mp-a3f8.1``, :func:`core.beads.routes.prefix_of`)."""
        return prefix_of(self.id)

    def depends_on(self, dep_type: str | None = None) -> list[str]:
        """Ids this bead depends on (edges of ``dep_type``, or all)."""
        return [d.depends_on_id for d in self.dependencies if dep_type is None or d.type == dep_type]

    def as_dict(self) -> dict[str, Any]:
        """Every field (empty ones included), labels as strings, dependencies and comments as objects,
        ``parent`` computed, then the unknown fields. The ``gt bead show --json`` contract."""
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "design": self.design,
            "acceptance_criteria": self.acceptance_criteria,
            "notes": self.notes,
            "status": self.status,
            "priority": self.priority,
            "issue_type": self.issue_type,
            "assignee": self.assignee,
            "owner": self.owner,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason,
            "defer_until": self.defer_until,
            "due_at": self.due_at,
            "external_ref": self.external_ref,
            "ephemeral": self.ephemeral,
            "metadata": self.metadata if self.metadata is not None else {},
            "labels": list(self.labels),
            "dependencies": [d.as_dict() for d in self.dependencies],
            "comments": [c.as_dict() for c in self.comments],
            "parent": self.parent,
        }
        for k, v in self.extra.items():
            out.setdefault(k, v)
        return out

    def to_jsonl(self) -> dict[str, Any]:
        """The classic beads JSONL object: known keys in export order with Go's ``omitempty`` (empty
        strings, None, False, empty lists left out; ``priority`` always written), then ``extra``.
        A bead that came with the legacy ``wisp`` flag (bd v0.35-v0.37) writes its
        ephemeral flag back as ``wisp``."""
        full = {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "design": self.design,
            "acceptance_criteria": self.acceptance_criteria,
            "notes": self.notes,
            "status": self.status,
            "priority": self.priority,
            "issue_type": self.issue_type,
            "assignee": self.assignee,
            "owner": self.owner,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "started_at": self.started_at,
            "closed_at": self.closed_at,
            "close_reason": self.close_reason,
            "defer_until": self.defer_until,
            "due_at": self.due_at,
            "external_ref": self.external_ref,
            "labels": sorted(self.labels),
            "dependencies": [d.to_jsonl() for d in self.dependencies],
            "comments": [c.as_dict() for c in self.comments],
            "ephemeral": self.ephemeral,
            "metadata": self.metadata,
        }
        legacy_wisp = "wisp" in self.extra
        if legacy_wisp:  # beads v0.35-v0.37 named the flag "wisp": write it back under that name
            full["ephemeral"] = False
        out: dict[str, Any] = {}
        for key, value in full.items():
            if value or key in _WRITE_EMPTY or (key == "metadata" and value is not None):
                out[key] = value
        for k, v in self.extra.items():
            if k not in out:
                out[k] = self.ephemeral if legacy_wisp and k == "wisp" else v
        return out
