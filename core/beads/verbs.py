"""The bd verbs' rules that ``gt bead`` and ``bd`` share: comma label lists, appended notes, several
ids per command, and bd's JSON shapes.

Where the rules come from: beads' ``cmd/bd`` (v1.0, Go): ``create``/``update``/``list`` take labels as a
cobra ``StringSlice`` (``-l a,b -l c``); ``update --append-notes`` joins with a newline
(``update.go``); ``show``/``update``/``close``/``reopen`` take several ids and go on past one that
fails, exiting 1 only when none succeeded; the JSON of ``show`` is a list of ``IssueDetails``, of
``list``/``ready`` a list of ``IssueWithCounts``, of ``dep tree`` a flat list of ``TreeNode``
(``internal/types/types.go``). ``gt bead`` takes the same flags but keeps its own all-or-nothing rule
for several ids (one transaction; the first refusal changes nothing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from core.beads.model import Issue, now_ns, parse_ts
from core.beads.store import BeadStore
from core.errors import GtError
from core.records import Record

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

#: bd's JSON schema version (``cmd/bd/output.go`` JSONSchemaVersion), put into every JSON object it prints.
SCHEMA_VERSION = 1


def comma_list(values: Iterable[str]) -> list[str]:
    """Labels (or statuses, types) given as bd takes them: each value a comma-separated list
    (``-l a,b -l c`` -> a, b, c), spaces around each item removed, empty items dropped, duplicates
    kept once, in the order given.

    The items themselves are checked where they are used (e.g. :func:`core.beads.store.check_label`).
    """
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            label = part.strip()
            if label and label not in out:
                out.append(label)
    return out


def pick_title(positional: str | None, flag: str | None) -> str:
    """The title of ``create``: the positional TITLE or ``--title`` (both may be given when they are the
    same, as bd allows). Raises GtError when neither is given or they differ."""
    if positional is not None and flag is not None and positional != flag:
        raise GtError(f"two different titles given ({positional[:60]!r} and --title {flag[:60]!r}): give one of them")
    title = positional if positional is not None else flag
    if title is None:
        raise GtError("a bead needs a title: give TITLE or --title TITLE")
    return title


def appended(notes: str, text: str) -> str:
    """``notes`` with ``text`` appended on a new line (bd ``update --append-notes``; no separator when
    there were no notes)."""
    return f"{notes}\n{text}" if notes else text


class Changes(Record):
    """What ``update`` changes on a bead. fields: column -> new value (``store.update``'s keywords);
    append_notes: text added after the notes; add_labels/remove_labels: label names. A mutable
    record (:class:`core.records.Record`)."""

    __slots__ = _FIELDS = ("claim", "fields", "append_notes", "add_labels", "remove_labels")
    claim: bool
    fields: dict[str, Any]
    append_notes: str | None
    add_labels: list[str]
    remove_labels: list[str]

    def __init__(
        self,
        claim: bool = False,
        fields: dict[str, Any] | None = None,
        append_notes: str | None = None,
        add_labels: list[str] | None = None,
        remove_labels: list[str] | None = None,
    ) -> None:
        self.claim, self.append_notes = claim, append_notes
        self.fields = {} if fields is None else fields
        self.add_labels = [] if add_labels is None else add_labels
        self.remove_labels = [] if remove_labels is None else remove_labels

    def check(self) -> None:
        """Raises GtError for changes that contradict each other (``--notes`` with ``--append-notes``)."""
        if self.append_notes is not None and "notes" in self.fields:
            raise GtError("--notes and --append-notes both given: pass one of them")


def update_bead(store: BeadStore, bead: str, actor: str, changes: Changes) -> Issue:
    """Apply ``changes`` to ``bead`` (a full id) in one transaction: claim first, then the fields, the
    appended notes and the labels. Returns the bead as stored.

    Raises NotFound, GtError for bad values, Conflict for a refused claim (nothing changed).
    """
    changes.check()
    with store.transaction():
        if changes.claim:
            store.claim(bead, actor)
        fields = dict(changes.fields)
        if changes.append_notes is not None:
            fields["notes"] = appended(store.get(bead).notes, changes.append_notes)
        if fields:
            store.update(bead, actor, **fields)
        for label in changes.add_labels:
            store.add_label(bead, label, actor)
        for label in changes.remove_labels:
            store.remove_label(bead, label, actor)
        return store.get(bead)


class Outcome(Record):
    """What a verb did to several beads: done (the beads after it, in the order given) and refused
    (``(id as given, one-line reason)``, only when not atomic). A mutable record."""

    __slots__ = _FIELDS = ("done", "refused")
    done: list[Issue]
    refused: list[tuple[str, str]]

    def __init__(self, done: list[Issue] | None = None, refused: list[tuple[str, str]] | None = None) -> None:
        self.done = [] if done is None else done
        self.refused = [] if refused is None else refused


def each(store: BeadStore, beads: Iterable[str], action: Callable[[str], Issue], *, atomic: bool) -> Outcome:
    """Run ``action(full_id)`` on each of ``beads`` (partial ids resolved by ``store.resolve``).

    atomic (``gt bead``): one transaction; the first refusal raises and nothing is changed. Not atomic
    (``bd``): each bead on its own; a refused one (NotFound, GtError, Conflict) is recorded in
    ``Outcome.refused`` and the others go on. Raises GtError when ``beads`` is empty.
    """
    given = list(beads)
    if not given:
        raise GtError("no bead id given: pass one or more ids such as mp-a3f8")
    out = Outcome()
    if atomic:
        with store.transaction():
            out.done = [action(store.resolve(b)) for b in given]
        return out
    for b in given:
        try:
            out.done.append(action(store.resolve(b)))
        except GtError as exc:
            out.refused.append((b, str(exc)))
    return out


def show_beads(store: BeadStore, beads: Iterable[str], *, atomic: bool) -> Outcome:
    """The beads ``beads`` (partial ids allowed), see :func:`each`."""
    return each(store, beads, store.get, atomic=atomic)


def close_beads(
    store: BeadStore, beads: Iterable[str], actor: str, *, reason: str = "", force: bool = False, atomic: bool
) -> Outcome:
    """Close each of ``beads`` with ``reason`` (``store.close``: refused while blocked, or an epic with
    open children, unless ``force``), see :func:`each`."""
    return each(store, beads, lambda b: store.close(b, actor, reason=reason, force=force), atomic=atomic)


def reopen_beads(store: BeadStore, beads: Iterable[str], actor: str, *, reason: str = "", atomic: bool) -> Outcome:
    """Reopen each of ``beads`` (``store.reopen``: refused when not closed), see :func:`each`."""
    return each(store, beads, lambda b: store.reopen(b, actor, reason=reason), atomic=atomic)


def update_beads(store: BeadStore, beads: Iterable[str], actor: str, changes: Changes, *, atomic: bool) -> Outcome:
    """:func:`update_bead` on each of ``beads``, see :func:`each`. Raises GtError for contradicting
    changes before touching any bead."""
    changes.check()
    return each(store, beads, lambda b: update_bead(store, b, actor, changes), atomic=atomic)


# ---------------------------------------------------------------- bd list's filters

_RELATIVE = re.compile(r"^([+-])(\d{1,6})([mhdw])$")
_UNIT_NS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, name: str, now: int | None = None) -> int:
    """A time as bd's ``--created-after`` and friends take it, in Unix nanoseconds: RFC 3339
    (``2026-01-02T03:04:05Z``), a date (``2026-01-02``, midnight UTC), or relative to ``now``
    (``-1d``, ``+6h``, ``-30m``, ``-2w``; beads ``internal/timeparsing`` compact durations).

    Raises GtError naming the option ``name``.
    """
    value = text.strip()
    rel = _RELATIVE.match(value)
    if rel:
        sign = -1 if rel.group(1) == "-" else 1
        return (now_ns() if now is None else now) + sign * int(rel.group(2)) * _UNIT_NS[rel.group(3)] * 10**9
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        value += "T00:00:00Z"
    try:
        return parse_ts(value)
    except ValueError:
        raise GtError(
            f"{name} {text[:40]!r} is not a time: use 2026-01-02, 2026-01-02T03:04:05Z or -1d / +6h"
        ) from None


class ListFilter(Record):
    """bd list's filters that the store does not index: times (Unix ns; a bound is exclusive, as bd's
    ``After``/``Before``) and case-insensitive substrings of the title, description and notes. A
    mutable record."""

    __slots__ = _FIELDS = (
        "created_after",
        "created_before",
        "updated_after",
        "updated_before",
        "closed_after",
        "closed_before",
        "title_contains",
        "desc_contains",
        "notes_contains",
    )
    created_after: int | None
    created_before: int | None
    updated_after: int | None
    updated_before: int | None
    closed_after: int | None
    closed_before: int | None
    title_contains: str
    desc_contains: str
    notes_contains: str

    def __init__(
        self,
        created_after: int | None = None,
        created_before: int | None = None,
        updated_after: int | None = None,
        updated_before: int | None = None,
        closed_after: int | None = None,
        closed_before: int | None = None,
        title_contains: str = "",
        desc_contains: str = "",
        notes_contains: str = "",
    ) -> None:
        self.created_after, self.created_before = created_after, created_before
        self.updated_after, self.updated_before = updated_after, updated_before
        self.closed_after, self.closed_before = closed_after, closed_before
        self.title_contains, self.desc_contains, self.notes_contains = title_contains, desc_contains, notes_contains

    def matches(self, issue: Issue) -> bool:
        """True when ``issue`` passes every filter set (a bead without the time fails a bound on it)."""
        for stamp, after, before in (
            (issue.created_at, self.created_after, self.created_before),
            (issue.updated_at, self.updated_after, self.updated_before),
            (issue.closed_at, self.closed_after, self.closed_before),
        ):
            if after is None and before is None:
                continue
            try:
                ns = parse_ts(stamp or "")
            except ValueError:
                return False
            if (after is not None and ns <= after) or (before is not None and ns >= before):
                return False
        for needle, hay in (
            (self.title_contains, issue.title),
            (self.desc_contains, issue.description),
            (self.notes_contains, issue.notes),
        ):
            if needle and needle.casefold() not in hay.casefold():
                return False
        return True


# ---------------------------------------------------------------- bd's JSON shapes


def issue_json(issue: Issue) -> dict[str, Any]:
    """A bead as bd's ``types.Issue`` JSON: the ledger record (empty fields left out, as Go's
    ``omitempty``; :meth:`Issue.to_jsonl`)."""
    return issue.to_jsonl()


def _dependent_counts(store: BeadStore, ids: list[str]) -> dict[str, int]:
    rows = store.db.execute(
        "SELECT depends_on_id, count(*) FROM dependencies WHERE depends_on_id IN (SELECT value FROM json_each(?)) "
        "GROUP BY depends_on_id",
        [json.dumps(ids)],
    ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def with_counts(store: BeadStore, issues: list[Issue]) -> list[dict[str, Any]]:
    """Beads as bd's ``IssueWithCounts`` (``bd list --json``, ``bd ready --json``): the issue, then
    ``dependency_count``, ``dependent_count``, ``comment_count`` and ``parent`` when it has one."""
    counts = _dependent_counts(store, [i.id for i in issues])
    out = []
    for issue in issues:
        row = issue_json(issue)
        row["dependency_count"] = len(issue.dependencies)
        row["dependent_count"] = counts.get(issue.id, 0)
        row["comment_count"] = len(issue.comments)
        if issue.parent is not None:
            row["parent"] = issue.parent
        out.append(row)
    return out


def details(store: BeadStore, issue: Issue, include_comments: bool = False) -> dict[str, Any]:
    """A bead as bd's ``IssueDetails`` (``bd show --json``): the issue with ``dependencies`` as the
    beads it depends on (each with ``dependency_type``), the three counts, ``parent``; ``comments``
    only with ``include_comments`` (bd's ``--include-comments``)."""
    row = issue_json(issue)
    row.pop("comments", None)
    deps = []
    for dep in issue.dependencies:
        if store.exists(dep.depends_on_id):
            target = issue_json(store.get(dep.depends_on_id))
            for key in ("dependencies", "comments"):
                target.pop(key, None)
            deps.append({**target, "dependency_type": dep.type})
    if deps:
        row["dependencies"] = deps
    else:
        row.pop("dependencies", None)
    if include_comments and issue.comments:
        row["comments"] = [c.as_dict() for c in issue.comments]
    if issue.parent is not None:
        row["parent"] = issue.parent
    row["dependent_count"] = _dependent_counts(store, [issue.id]).get(issue.id, 0)
    row["dependency_count"] = len(issue.dependencies)
    row["comment_count"] = len(issue.comments)
    return row


def tree_nodes(store: BeadStore, bead: str, *, reverse: bool = False, max_depth: int = 50) -> list[dict[str, Any]]:
    """The dependency tree of ``bead`` (a full id) as bd's flat list of ``TreeNode`` (``bd dep tree
    --json``): each bead once, depth first, with ``depth``, ``parent_id`` (the node it hangs from),
    ``edge_from_parent`` and ``truncated`` (``max_depth`` reached). reverse: what depends on it.

    Iterative (a deep chain does not recurse). Raises NotFound.
    """
    nodes: list[dict[str, Any]] = []
    seen: set[str] = set()
    stack: list[tuple[str, int, str, str]] = [(bead, 0, "", "")]
    while stack:
        current, depth, parent_id, edge = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        issue = store.get(current)
        row = issue_json(issue)
        for key in ("dependencies", "comments"):
            row.pop(key, None)
        row.update(depth=depth, parent_id=parent_id, truncated=depth >= max_depth)
        if edge:
            row["edge_from_parent"] = edge
        nodes.append(row)
        if depth >= max_depth:
            continue
        if reverse:
            nxt = [
                (d.id, t.type) for d in store.dependents(current) for t in d.dependencies if t.depends_on_id == current
            ]
        else:
            nxt = [(d.depends_on_id, d.type) for d in issue.dependencies]
        for target, kind in reversed(nxt):
            if target not in seen and store.exists(target):
                stack.append((target, depth + 1, current, kind))
    return nodes
