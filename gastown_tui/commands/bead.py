"""``gt bead ...`` (create, show, list, ready, blocked, update, close, reopen, dep, comment, import,
export, sync, rebuild) and the ``gt ready`` shortcut: thin handlers over :mod:`core.beads`.

Every mutating command takes ``--actor`` (else ``BD_ACTOR``, else the session role, else the user)
and ``gt`` asks for a ledger sync after it (:func:`core.beads.sync.after_change`, in
:mod:`gastown_tui.cli`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from core.actor import current_actor
from core.beads import verbs
from core.beads.model import ISSUE_TYPES, STATUSES, Issue
from core.beads.ready import SORTS
from core.beads.store import BeadStore, default_prefix
from core.errors import GtError
from core.town import Town
from gastown_tui.hookpath import READY_LIMIT
from gastown_tui.clikit import count_type, emit_json, json_option, print_table, town_from


def _open(ctx: click.Context) -> tuple[Town, BeadStore]:
    town = town_from(ctx)
    store = BeadStore(town)
    ctx.call_on_close(store.disconnect)
    return town, store


def actor_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--actor`` (who is acting; default BD_ACTOR, the session role, or the user name)."""
    return click.option("--actor", default=None, help="Who is acting (default: $BD_ACTOR, the role, the user).")(func)


def _issue_line(issue: Issue) -> list[str]:
    return [issue.id, f"P{issue.priority}", issue.status, issue.issue_type, issue.assignee or "-", issue.title]


def _print_issues(issues: list[Issue], empty: str) -> None:
    print_table(["id", "pri", "status", "type", "assignee", "title"], [_issue_line(i) for i in issues], empty=empty)


def print_issue(issue: Issue) -> None:
    """Print a bead for people (header, set fields, texts, comments), as ``gt bead show`` and ``bd show`` do."""
    click.echo(f"{issue.id}  [P{issue.priority} {issue.issue_type}] {issue.status}  {issue.title}")
    for label, value in (
        ("assignee", issue.assignee),
        ("owner", issue.owner),
        ("created", issue.created_at),
        ("created by", issue.created_by),
        ("updated", issue.updated_at),
        ("closed", issue.closed_at),
        ("close reason", issue.close_reason),
        ("labels", ", ".join(issue.labels)),
    ):
        if value:
            click.echo(f"  {label}: {value}")
    for dep in issue.dependencies:
        click.echo(f"  depends on: {dep.depends_on_id} ({dep.type})")
    for title, text in (
        ("description", issue.description),
        ("design", issue.design),
        ("acceptance criteria", issue.acceptance_criteria),
        ("notes", issue.notes),
    ):
        if text:
            click.echo(f"\n{title}:")
            for line in text.splitlines():
                click.echo(f"  {line}")
    if issue.comments:
        click.echo("\ncomments:")
        for c in issue.comments:
            click.echo(f"  [{c.author} {c.created_at}] {c.text}")


@click.group()
def bead() -> None:
    """Beads: the town's issue ledger (create, list, ready, claim, close, dependencies)."""


@bead.command("create")
@click.argument("title", required=False)
@click.option("--title", "title_flag", help="Title (instead of the TITLE argument, as bd takes it).")
@click.option("-d", "--description", default="", help="Description (markdown).")
@click.option("-p", "--priority", default="2", show_default=True, help="Priority 0 (critical) to 4 (backlog).")
@click.option("-t", "--type", "issue_type", default="task", show_default=True, help=f"One of {', '.join(ISSUE_TYPES)}.")
@click.option("--parent", help="Parent bead: the new bead becomes PARENT.N.")
@click.option("-l", "--label", "--labels", "labels", multiple=True, help="Labels, comma-separated (repeatable).")
@click.option("--deps", help="Dependencies: ID or TYPE:ID, comma-separated (default type blocks).")
@click.option("--rig", help="Rig whose prefix the bead gets (default: current rig, the only rig, else hq).")
@click.option("-a", "--assignee", default="", help="Assignee.")
@click.option("--design", default="", help="Design notes.")
@click.option("--acceptance", default="", help="Acceptance criteria.")
@click.option("--notes", default="", help="Notes.")
@click.option("--metadata", help="Metadata as a JSON object.")
@click.option("--ephemeral", is_flag=True, help="Ephemeral (never offered as ready work).")
@click.option("--id", "explicit_id", help="Explicit id instead of a hash id.")
@actor_option
@json_option
@click.pass_context
def create_cmd(
    ctx: click.Context,
    title: str | None,
    title_flag: str | None,
    description: str,
    priority: str,
    issue_type: str,
    parent: str | None,
    labels: tuple[str, ...],
    deps: str | None,
    rig: str | None,
    assignee: str,
    design: str,
    acceptance: str,
    notes: str,
    metadata: str | None,
    ephemeral: bool,
    explicit_id: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Create a bead titled TITLE (or --title)."""
    title = verbs.pick_title(title, title_flag)
    town, store = _open(ctx)
    if parent:
        parent = store.resolve(parent)
    issue = store.create(
        title,
        actor=current_actor(actor),
        description=description,
        priority=priority,
        issue_type=issue_type,
        parent=parent,
        labels=verbs.comma_list(labels),
        deps=[d for d in (deps or "").split(",") if d.strip()],
        assignee=assignee,
        design=design,
        acceptance_criteria=acceptance,
        notes=notes,
        metadata=metadata,
        ephemeral=ephemeral,
        id=explicit_id,
        prefix=None if parent or explicit_id else default_prefix(town, rig, os.getcwd()),
    )
    if as_json:
        emit_json(issue.as_dict())
    else:
        click.echo(f"Created {issue.id}: {issue.title}")


@bead.command("show")
@click.argument("bead_ids", nargs=-1, required=True)
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, bead_ids: tuple[str, ...], as_json: bool) -> None:
    """Show beads (a partial id is enough when unique; JSON: an object for one id, a list for several)."""
    _, store = _open(ctx)
    shown = verbs.show_beads(store, bead_ids, atomic=True).done
    if as_json:
        emit_json(shown[0].as_dict() if len(shown) == 1 else [i.as_dict() for i in shown])
        return
    for n, issue in enumerate(shown):
        if n:
            click.echo()
        print_issue(issue)


def _prefix_for(town: Town, rig: str | None, prefix: str | None) -> str | None:
    if rig:
        from core.rigs import load_rig  # rig.toml and the rig model: only for --rig

        return load_rig(town, rig).prefix
    return prefix


@bead.command("list")
@click.option(
    "-s", "--status", "statuses", multiple=True, help=f"Status, comma-separated (repeatable): {', '.join(STATUSES)}."
)
@click.option("--all", "show_all", is_flag=True, help="Include closed beads.")
@click.option(
    "-l", "--label", "labels", multiple=True, help="Labels the beads must have, comma-separated (repeatable)."
)
@click.option("-a", "--assignee", help="Assignee.")
@click.option("-t", "--type", "issue_type", help="Issue type.")
@click.option("--rig", help="Only beads with this rig's prefix.")
@click.option("--prefix", help="Only beads with this id prefix.")
@click.option("--limit", type=count_type(), help="At most this many.")
@json_option
@click.pass_context
def list_cmd(
    ctx: click.Context,
    statuses: tuple[str, ...],
    show_all: bool,
    labels: tuple[str, ...],
    assignee: str | None,
    issue_type: str | None,
    rig: str | None,
    prefix: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """List beads (not closed ones unless --all or --status)."""
    town, store = _open(ctx)
    wanted = verbs.comma_list(statuses)
    status: list[str] | None = wanted or (None if show_all else [s for s in STATUSES if s != "closed"])
    issues = store.list(
        status=status,
        labels=verbs.comma_list(labels),
        assignee=assignee,
        issue_type=issue_type,
        prefix=_prefix_for(town, rig, prefix),
        limit=limit,
    )
    if as_json:
        emit_json([i.as_dict() for i in issues])
    else:
        _print_issues(issues, "No beads.")


def _ready(
    ctx: click.Context,
    claim: bool,
    limit: int,
    sort: str,
    rig: str | None,
    labels: tuple[str, ...],
    issue_type: str | None,
    unassigned: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    town, store = _open(ctx)
    prefix = _prefix_for(town, rig, None)
    labels = tuple(verbs.comma_list(labels))
    if claim:
        claimed = store.ready(
            claim=current_actor(actor), sort=sort, prefix=prefix, labels=labels, issue_type=issue_type
        )
        if as_json:
            emit_json(claimed[0].as_dict() if claimed else None)
        elif claimed:
            click.echo(f"Claimed {claimed[0].id}: {claimed[0].title}")
        else:
            click.echo("No ready beads to claim.")
        return
    issues = store.ready(
        limit=limit or None, sort=sort, prefix=prefix, labels=labels, issue_type=issue_type, unassigned=unassigned
    )
    if as_json:
        emit_json([i.as_dict() for i in issues])
    else:
        _print_issues(issues, "No ready beads.")


def _ready_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--claim", is_flag=True, help="Claim the first ready bead (compare-and-swap) and print it."),
            click.option(
                "-n",
                "--limit",
                type=count_type(),
                default=READY_LIMIT,
                show_default=True,
                help="At most this many (0: all).",
            ),
            click.option(
                "--sort",
                default="priority",
                show_default=True,
                help=f"{' | '.join(SORTS)}: priority (then oldest), oldest or newest first.",
            ),
            click.option("--rig", help="Only beads of this rig."),
            click.option(
                "-l",
                "--label",
                "labels",
                multiple=True,
                help="Labels the beads must have, comma-separated (repeatable).",
            ),
            click.option("-t", "--type", "issue_type", help="Issue type."),
            click.option("--unassigned", is_flag=True, help="Only unassigned beads."),
            actor_option,
            json_option,
            click.pass_context,
        ]
    ):
        func = option(func)
    return func


@bead.command("ready")
@_ready_options
def ready_cmd(ctx: click.Context, **kwargs: Any) -> None:
    """Ready beads: open, unblocked, not deferred; by priority then oldest."""
    _ready(ctx, **kwargs)


@click.command("ready")
@_ready_options
def ready_shortcut(ctx: click.Context, **kwargs: Any) -> None:
    """Ready beads (shortcut for 'gt bead ready')."""
    _ready(ctx, **kwargs)


@bead.command("blocked")
@json_option
@click.pass_context
def blocked_cmd(ctx: click.Context, as_json: bool) -> None:
    """Blocked beads and what blocks them."""
    _, store = _open(ctx)
    found = store.blocked()
    if as_json:
        emit_json([b.as_dict() for b in found])
    else:
        print_table(
            ["id", "pri", "status", "blocked by", "title"],
            [
                [b.issue.id, f"P{b.issue.priority}", b.issue.status, ", ".join(b.blocked_by), b.issue.title]
                for b in found
            ],
            empty="No blocked beads.",
        )


@bead.command("update")
@click.argument("bead_id")
@click.option("--claim", is_flag=True, help="Claim it (open -> in_progress, assignee = actor), atomically.")
@click.option("-s", "--status", help=f"New status: {', '.join(STATUSES)}.")
@click.option("-p", "--priority", help="New priority 0-4.")
@click.option("-a", "--assignee", help="New assignee ('' to clear).")
@click.option("--title", help="New title.")
@click.option("-d", "--description", help="New description.")
@click.option("--design", help="New design notes.")
@click.option("--acceptance", help="New acceptance criteria.")
@click.option("--notes", help="New notes.")
@click.option("--append-notes", help="Text appended to the notes on a new line.")
@click.option("-t", "--type", "issue_type", help="New issue type.")
@click.option("--metadata", help="New metadata (JSON object).")
@click.option("--add-label", "add_labels", multiple=True, help="Add labels, comma-separated (repeatable).")
@click.option("--remove-label", "remove_labels", multiple=True, help="Remove labels, comma-separated (repeatable).")
@actor_option
@json_option
@click.pass_context
def update_cmd(
    ctx: click.Context,
    bead_id: str,
    claim: bool,
    append_notes: str | None,
    add_labels: tuple[str, ...],
    remove_labels: tuple[str, ...],
    actor: str | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Update fields of a bead (all changes in one transaction)."""
    town, store = _open(ctx)
    names = {"acceptance": "acceptance_criteria"}
    changes = verbs.Changes(
        claim=claim,
        fields={names.get(k, k): v for k, v in fields.items() if v is not None},
        append_notes=append_notes,
        add_labels=verbs.comma_list(add_labels),
        remove_labels=verbs.comma_list(remove_labels),
    )
    issue = verbs.update_beads(store, [bead_id], current_actor(actor), changes, atomic=True).done[0]
    if as_json:
        emit_json(issue.as_dict())
    else:
        click.echo(f"Updated {issue.id}: {issue.status}, P{issue.priority}, {issue.assignee or 'unassigned'}")


@bead.command("close")
@click.argument("bead_ids", nargs=-1, required=True)
@click.option("-r", "--reason", default="", help="Why it is closed.")
@click.option("--force", is_flag=True, help="Close even with open blockers or open children.")
@actor_option
@json_option
@click.pass_context
def close_cmd(
    ctx: click.Context, bead_ids: tuple[str, ...], reason: str, force: bool, actor: str | None, as_json: bool
) -> None:
    """Close beads (refused while they have open blockers, or an epic open children, unless --force)."""
    town, store = _open(ctx)
    closed = verbs.close_beads(store, bead_ids, current_actor(actor), reason=reason, force=force, atomic=True).done
    if as_json:
        emit_json(closed[0].as_dict() if len(closed) == 1 else [i.as_dict() for i in closed])
    else:
        for issue in closed:
            click.echo(f"Closed {issue.id}: {issue.title}")


@bead.command("reopen")
@click.argument("bead_id")
@click.option("-r", "--reason", default="", help="Why it is reopened.")
@actor_option
@json_option
@click.pass_context
def reopen_cmd(ctx: click.Context, bead_id: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Reopen a closed bead."""
    town, store = _open(ctx)
    issue = store.reopen(store.resolve(bead_id), current_actor(actor), reason=reason)
    if as_json:
        emit_json(issue.as_dict())
    else:
        click.echo(f"Reopened {issue.id}: {issue.title}")


@bead.group("dep")
def dep() -> None:
    """Dependencies between beads (ISSUE depends on DEPENDS_ON)."""


@dep.command("add")
@click.argument("issue")
@click.argument("depends_on")
@click.option("-t", "--type", "dep_type", default="blocks", show_default=True, help="Edge type.")
@actor_option
@json_option
@click.pass_context
def dep_add(ctx: click.Context, issue: str, depends_on: str, dep_type: str, actor: str | None, as_json: bool) -> None:
    """ISSUE depends on DEPENDS_ON (cycles of blocking edges are refused)."""
    town, store = _open(ctx)
    issue, depends_on = store.resolve(issue), store.resolve(depends_on)
    added = store.add_dependency(issue, depends_on, dep_type, actor=current_actor(actor))
    if as_json:
        emit_json({"issue_id": issue, "depends_on_id": depends_on, "type": dep_type, "added": added})
    else:
        click.echo(f"{'Added' if added else 'Already there:'} {issue} -> {depends_on} ({dep_type})")


@dep.command("remove")
@click.argument("issue")
@click.argument("depends_on")
@click.option("-t", "--type", "dep_type", default=None, help="Edge type (default: every edge between them).")
@actor_option
@json_option
@click.pass_context
def dep_remove(
    ctx: click.Context, issue: str, depends_on: str, dep_type: str | None, actor: str | None, as_json: bool
) -> None:
    """Remove the dependency ISSUE -> DEPENDS_ON."""
    town, store = _open(ctx)
    issue, depends_on = store.resolve(issue), store.resolve(depends_on)
    removed = store.remove_dependency(issue, depends_on, dep_type, actor=current_actor(actor))
    if as_json:
        emit_json({"issue_id": issue, "depends_on_id": depends_on, "type": dep_type, "removed": removed})
    else:
        click.echo(f"Removed {issue} -> {depends_on}")


def _tree(store: BeadStore, bead: str, reverse: bool, depth: int, seen: set[str]) -> dict[str, Any]:
    issue = store.get(bead)
    node: dict[str, Any] = {"id": issue.id, "title": issue.title, "status": issue.status, "children": []}
    if bead in seen or depth >= 10:
        node["truncated"] = True
        return node
    seen = seen | {bead}
    if reverse:
        edges = [(d.id, t.type) for d in store.dependents(bead) for t in d.dependencies if t.depends_on_id == bead]
    else:
        edges = [(d.depends_on_id, d.type) for d in issue.dependencies]
    for target, edge in edges:
        if store.exists(target):
            child = _tree(store, target, reverse, depth + 1, seen)
            child["type"] = edge
            node["children"].append(child)
    return node


def _print_tree(node: dict[str, Any], indent: int = 0) -> None:
    edge = f"({node['type']}) " if "type" in node else ""
    more = " ..." if node.get("truncated") else ""
    click.echo(f"{'  ' * indent}{edge}{node['id']} [{node['status']}] {node['title']}{more}")
    for child in node["children"]:
        _print_tree(child, indent + 1)


@dep.command("tree")
@click.argument("bead_id")
@click.option("--reverse", is_flag=True, help="Show what depends on the bead instead.")
@json_option
@click.pass_context
def dep_tree(ctx: click.Context, bead_id: str, reverse: bool, as_json: bool) -> None:
    """The dependency tree below a bead (10 levels at most)."""
    _, store = _open(ctx)
    node = _tree(store, store.resolve(bead_id), reverse, 0, set())
    if as_json:
        emit_json(node)
    else:
        _print_tree(node)


@bead.command("comment")
@click.argument("bead_id")
@click.argument("text")
@actor_option
@json_option
@click.pass_context
def comment_cmd(ctx: click.Context, bead_id: str, text: str, actor: str | None, as_json: bool) -> None:
    """Add a comment to a bead ('-' reads TEXT from stdin)."""
    town, store = _open(ctx)
    if text == "-":
        text = sys.stdin.read()
    comment = store.add_comment(store.resolve(bead_id), text, current_actor(actor))
    if as_json:
        emit_json(comment.as_dict())
    else:
        click.echo(f"Commented on {comment.issue_id} (#{comment.id})")


@bead.command("import")
@click.argument("path", required=False, type=click.Path())
@click.option(
    "--merge",
    is_flag=True,
    help="Merge instead of overwrite: both sides of git conflict markers, the newer updated_at wins per "
    "bead, then close beads git shows as merged (default PATH: the town's .beads/issues.jsonl).",
)
@actor_option
@json_option
@click.pass_context
def import_cmd(ctx: click.Context, path: str | None, merge: bool, actor: str | None, as_json: bool) -> None:
    """Import a beads JSONL file or a .beads/backup directory (upsert by id; a bad line, a duplicate id
    or a cycle aborts it all; tombstone rows are skipped, memories kept)."""
    from core import ledger_recovery as recover
    from core.beads import sync as ledger_sync

    if not merge and path is None:
        raise GtError(
            "give the PATH of a beads JSONL file or .beads/backup directory, or --merge to merge the town's "
            ".beads/issues.jsonl"
        )
    town = town_from(ctx)
    store = BeadStore(town, check=not merge)  # --merge repairs what the ledger guard reports
    ctx.call_on_close(store.disconnect)
    who = current_actor(actor)
    if merge:
        rec = recover.merge_ledger(town, store, path, actor=who)
        result = ledger_sync.sync(town, force=True, store=store)
        if as_json:
            emit_json({**rec.as_dict(), "path": path or str(town.ledger_path), "sync": result.as_dict()})
            return
        _print_recovery(rec, f"Merged {path or town.ledger_path}", result)
        return
    from core.beads import imports

    res = imports.import_path(store, path, actor=who)  # type: ignore[arg-type]
    if as_json:
        emit_json({**res.as_dict(), "path": path})
        return
    for warning in res.warnings:
        click.echo(f"gt: warning: {warning}", err=True)
    click.echo(f"Imported {res.count} beads from {path}{res.summary()}")


def _print_recovery(rec: Any, head: str, result: Any) -> None:
    imp = rec.imported
    click.echo(
        f"{head}: {len(imp.created)} new, {len(imp.updated)} updated, {len(imp.kept)} kept (newer in the "
        f"database); {len(rec.reconciled.closed)} closed as already merged on git"
    )
    for warning in imp.warnings + rec.reconciled.errors:
        click.echo(f"gt: warning: {warning}", err=True)
    for bead, reason in rec.reconciled.closed:
        click.echo(f"  closed {bead}: {reason}")
    for bead, rig, branch in rec.reconciled.unmerged:
        click.echo(f"  {bead}: unmerged work on {rig} branch {branch}: resume it with 'gt sling --resume {bead}'")
    if rec.moved_aside:
        click.echo(f"  the old database was moved aside to {rec.moved_aside}")
    if result.blocked:
        click.echo(f"gt: warning: the ledger commit waits: {result.blocked}", err=True)
    if rec.conflicted:
        click.echo(
            "  the ledger had git conflict markers: both sides are merged and .beads/issues.jsonl rewritten; "
            "finish the git merge with 'git add .beads/issues.jsonl' and 'git commit'"
        )


@bead.command("rebuild")
@click.option(
    "--force", is_flag=True, help="Replace even a readable database (its queues, polecats and mail are lost)."
)
@actor_option
@json_option
@click.pass_context
def rebuild_cmd(ctx: click.Context, force: bool, actor: str | None, as_json: bool) -> None:
    """Rebuild a lost, empty or corrupt town database from the committed ledger, reconciled with git."""
    from core import ledger_recovery as recover
    from core.beads import sync as ledger_sync

    town = town_from(ctx)
    rec = recover.rebuild(town, actor=current_actor(actor) if actor else recover.ACTOR, force=force)
    with BeadStore(town) as store:
        result = ledger_sync.sync(town, force=True, store=store)
    if as_json:
        emit_json({**rec.as_dict(), "sync": result.as_dict()})
        return
    _print_recovery(rec, f"Rebuilt {town.db_path} from the ledger", result)


@bead.command("export")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--allow-shrink", is_flag=True, help="Write the town's ledger even if it loses many beads.")
@click.option(
    "--all",
    "include_all",
    is_flag=True,
    help="With PATH: also infra beads (agent, rig, role, message), templates, wisps and memories, as bd export --all.",
)
@json_option
@click.pass_context
def export_cmd(ctx: click.Context, path: str | None, allow_shrink: bool, include_all: bool, as_json: bool) -> None:
    """Export the ledger as beads JSONL: to PATH as bd export writes it (no infra beads, templates or
    wisps unless --all), else every bead to the town's .beads/issues.jsonl, behind its guards."""
    from core.beads import sync as ledger_sync

    town, store = _open(ctx)
    target = path or str(town.ledger_path)
    if path is None or os.path.abspath(path) == str(town.ledger_path):
        n = ledger_sync.export_ledger(town, store, allow_shrink=allow_shrink)
    else:
        from core.beads import jsonl

        n = jsonl.export(store, target, include_all=include_all)
    if as_json:
        emit_json({"exported": n, "path": target})
    else:
        click.echo(f"Exported {n} beads to {target}")


@bead.command("sync")
@click.option("--allow-shrink", is_flag=True, help="Commit the ledger even if it loses many beads.")
@json_option
@click.pass_context
def sync_cmd(ctx: click.Context, allow_shrink: bool, as_json: bool) -> None:
    """Export the ledger and commit it to the town repository now."""
    from core.beads import sync as ledger_sync

    town, store = _open(ctx)
    result = ledger_sync.sync(town, force=True, store=store, allow_shrink=allow_shrink)
    if result.blocked:
        raise GtError(result.blocked)
    if as_json:
        emit_json(result.as_dict())
    elif result.commit:
        click.echo(
            f"Committed the ledger ({result.exported} beads, {len(result.changed)} changed): {result.commit[:12]}"
        )
    else:
        click.echo(f"Ledger up to date ({result.exported} beads)")


def register(group: click.Group) -> None:
    """Add ``gt bead`` and ``gt ready`` to the root ``gt`` group."""
    group.add_command(bead)
    group.add_command(ready_shortcut)
