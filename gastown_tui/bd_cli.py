"""``bd``'s click commands: the beads command line as Gas Town's templates and agents call it, over
the town's ledger (the console script is :mod:`gastown_tui.bd`, which runs the most frequent verbs
itself: :mod:`gastown_tui.bdpath`, which holds the rules both need, ``create``'s options among them).

It speaks bd's own verbs and flags (beads ``cmd/bd``, v1.0): ``ready``, ``list``, ``show ID...``,
``create``, ``update ID...``, ``close ID...``, ``reopen ID...``, ``blocked``, ``dep add/remove/tree``,
``comments``, ``import``, ``export``, ``sync``, with ``--json`` anywhere on the line. Each verb maps
onto the same :mod:`core.beads` calls as ``gt bead`` (:mod:`core.beads.verbs` holds the rules both
need). Where bd differs from gt, bd's behaviour wins:

- exit status 1 for every error (gt: 2), printed ``Error: ...`` on stderr; with ``--json`` the error
  is ``{"error": ..., "schema_version": 1}`` on stdout (bd's ``FatalErrorRespectJSON``);
- several ids: each bead on its own, a refused one reported on stderr, exit 1 only when none succeeded;
- JSON shapes: objects carry ``schema_version``; ``show``/``update``/``close``/``reopen`` print lists;
  ``BD_JSON_ENVELOPE=1`` wraps every output as ``{"schema_version": 1, "data": ...}``.

The town is ``--town``, else ``$GT_TOWN``, else the parent of ``$BEADS_DIR``, else the town holding the
current directory. The actor is ``--actor``, else ``$BEADS_ACTOR``, else gt's (:func:`core.actor.current_actor`:
``$BD_ACTOR``, the session role, the user). Start-up is fast: the ledger modules are imported inside
the verb that uses them, so ``bd --help`` loads none of them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from core.errors import GtError
from core.plaintext import one_line
from gastown_tui import __version__
from gastown_tui.bdpath import (
    ACTOR,
    CREATE_OPTIONS,
    READY_LIMIT,
    actor_of,
    bd_json,
    create,
    description_of,
    feedback,
    refusal_lines,
    town_path_of,
)
from gastown_tui.clikit import count_type, plain_output, town_from
from gastown_tui.hookpath import after_command, undecodable_argument

if TYPE_CHECKING:
    from core.beads.model import Issue
    from core.beads.store import BeadStore
    from core.beads.verbs import Outcome
    from core.town import Town

#: What one ``bd`` run shares: the root context's object (``town_path``, ``town`` once opened, ``json``).
State = dict[str, Any]


def _state(ctx: click.Context) -> State:
    state: State = ctx.find_root().ensure_object(dict)
    return state


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        _state(ctx)["json"] = True
    return value


def json_flag(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--json`` to a verb (bd takes it anywhere on the line; the root group has it too)."""
    return click.option("--json", "as_json", is_flag=True, expose_value=False, callback=_set_json, help="Print JSON.")(
        func
    )


def actor_flag(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--actor`` (:data:`gastown_tui.bdpath.ACTOR`: default ``$BEADS_ACTOR``, else ``$BD_ACTOR``,
    the session role, the user)."""
    return click.option(*ACTOR.flags, "actor", default=ACTOR.default, help=ACTOR.help)(func)


def _open(ctx: click.Context) -> tuple[Town, BeadStore]:
    from core.beads.store import BeadStore

    town = town_from(ctx)
    store = BeadStore(town)
    ctx.call_on_close(store.disconnect)
    return town, store


def _json_wanted(ctx: click.Context) -> bool:
    return bool(_state(ctx).get("json"))


def _emit(value: Any) -> None:
    """Print ``value`` as bd does (:func:`gastown_tui.bdpath.bd_json`)."""
    click.echo(bd_json(value))


def _refusals(outcome: Outcome, verb: str, exit: bool = True) -> None:
    """Print each refused bead as bd does (one line on stderr); with ``exit``, exit 1 when no bead was done."""
    for line in refusal_lines(outcome, verb):
        click.echo(line, err=True)
    if exit and not outcome.done:
        raise click.exceptions.Exit(1)


def _line(issue: Issue) -> str:
    return f"{issue.id} [P{issue.priority}] [{issue.issue_type}] {issue.status} - {one_line(issue.title)}"


def _sort(value: str) -> str:
    """bd's ready sort policies onto ours: ``hybrid`` (bd's priority-then-age mix) is ``priority``."""
    return "priority" if value == "hybrid" else value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="bd")
@click.option(
    "--town", "town_path", metavar="PATH", help="Town directory (default: $GT_TOWN, $BEADS_DIR/.., the current town)."
)
@json_flag
@click.pass_context
def bd(ctx: click.Context, town_path: str | None) -> None:
    """bd: the town's beads (issues), with bd's own verbs and flags."""
    _state(ctx)["town_path"] = town_path_of(town_path)


# ---------------------------------------------------------------- reading


@bd.command("ready")
@click.option(
    "-n", "--limit", type=count_type(), default=READY_LIMIT, show_default=True, help="At most this many (0: all)."
)
@click.option("-a", "--assignee", help="Only beads assigned to this actor.")
@click.option("-u", "--unassigned", is_flag=True, help="Only unassigned beads.")
@click.option("-s", "--sort", default="priority", show_default=True, help="priority, hybrid, oldest or newest.")
@click.option("-l", "--label", "labels", multiple=True, help="Labels the beads must have, comma-separated.")
@click.option("-t", "--type", "issue_type", help="Issue type.")
@click.option("-p", "--priority", type=click.IntRange(0, 4), help="Only this priority.")
@click.option("--claim", is_flag=True, help="Claim the first ready bead (compare-and-swap) and print it.")
@actor_flag
@json_flag
@click.pass_context
def ready_cmd(
    ctx: click.Context,
    limit: int,
    assignee: str | None,
    unassigned: bool,
    sort: str,
    labels: tuple[str, ...],
    issue_type: str | None,
    priority: int | None,
    claim: bool,
    actor: str | None,
) -> None:
    """Ready work: open, unblocked, not deferred beads (by priority, then oldest)."""
    from core.beads import verbs

    _, store = _open(ctx)
    wanted = verbs.comma_list(labels)
    if claim:
        if assignee:
            raise GtError("--claim cannot be combined with --assignee: drop one of them")
        issues = store.ready(
            claim=actor_of(actor), sort=_sort(sort), labels=wanted, issue_type=issue_type, priority=priority
        )
    else:
        issues = store.ready(
            limit=limit or None,
            sort=_sort(sort),
            assignee=assignee,
            unassigned=unassigned,
            labels=wanted,
            issue_type=issue_type,
            priority=priority,
        )
    if _json_wanted(ctx):
        _emit(verbs.with_counts(store, issues))
    elif claim:
        click.echo(f"✓ Claimed {feedback(issues[0])}" if issues else "No ready issues to claim.")
    elif not issues:
        click.echo("✨ No open issues")
    else:
        click.echo(f"📋 Ready work ({len(issues)} issues with no blockers):\n")
        for n, issue in enumerate(issues, 1):
            click.echo(f"{n}. [P{issue.priority}] [{issue.issue_type}] {issue.id}: {one_line(issue.title)}")


def _list_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    for name in ("created", "updated", "closed"):
        for side in ("after", "before"):
            func = click.option(
                f"--{name}-{side}", help=f"Only beads {name} {side} this time (2026-01-02, RFC 3339, -1d)."
            )(func)
    for name, what in (("title", "title"), ("desc", "description"), ("notes", "notes")):
        func = click.option(f"--{name}-contains", help=f"Only beads whose {what} contains this (any case).")(func)
    return func


@bd.command("list")
@click.option("-s", "--status", "statuses", multiple=True, help="Statuses, comma-separated (default: not closed).")
@click.option("-a", "--assignee", help="Assignee.")
@click.option("-t", "--type", "issue_type", help="Issue type.")
@click.option("-l", "--label", "labels", multiple=True, help="Labels the beads must all have, comma-separated.")
@click.option("--parent", help="Only the children of this bead.")
@click.option("-n", "--limit", type=count_type(), default=50, show_default=True, help="At most this many (0: all).")
@click.option("--all", "show_all", is_flag=True, help="Include closed beads.")
@_list_filters
@json_flag
@click.pass_context
def list_cmd(
    ctx: click.Context,
    statuses: tuple[str, ...],
    assignee: str | None,
    issue_type: str | None,
    labels: tuple[str, ...],
    parent: str | None,
    limit: int,
    show_all: bool,
    **filters: str | None,
) -> None:
    """List beads (not closed ones unless --all or --status)."""
    from core.beads import verbs
    from core.beads.model import STATUSES

    wanted = verbs.ListFilter(
        **{
            k: (verbs.parse_when(v, "--" + k.replace("_", "-")) if not k.endswith("contains") else v)
            for k, v in filters.items()
            if v is not None
        }
    )
    _, store = _open(ctx)
    chosen = verbs.comma_list(statuses)
    status = chosen or (
        None if show_all or wanted.closed_after or wanted.closed_before else [s for s in STATUSES if s != "closed"]
    )
    found = store.list(
        status=status,
        assignee=assignee,
        issue_type=issue_type,
        labels=verbs.comma_list(labels),
        parent=store.resolve(parent) if parent else None,
    )
    issues = [i for i in found if wanted.matches(i)][: limit or None]
    if _json_wanted(ctx):
        _emit(verbs.with_counts(store, issues))
        return
    if not issues:
        click.echo("No issues found.")
    for issue in issues:
        click.echo(_line(issue))


@bd.command("show")
@click.argument("bead_ids", nargs=-1, required=True)
@click.option("--include-comments", is_flag=True, help="Put the comments in the JSON output.")
@json_flag
@click.pass_context
def show_cmd(ctx: click.Context, bead_ids: tuple[str, ...], include_comments: bool) -> None:
    """Show one or more beads (a partial id is enough when unique)."""
    from core.beads import verbs

    _, store = _open(ctx)
    outcome = verbs.show_beads(store, bead_ids, atomic=False)
    if _json_wanted(ctx) and not outcome.done:  # bd: a JSON error on stdout, so a consumer parses something
        _refusals(outcome, "show", exit=False)
        raise GtError("no issues found matching the provided IDs")
    _refusals(outcome, "show")
    if _json_wanted(ctx):
        _emit([verbs.details(store, issue, include_comments) for issue in outcome.done])
        return
    from gastown_tui.commands.bead import print_issue  # gt's bead commands: only to print for people

    for n, issue in enumerate(outcome.done):
        if n:
            click.echo("\n" + "─" * 60 + "\n")
        print_issue(issue)


@bd.command("blocked")
@json_flag
@click.pass_context
def blocked_cmd(ctx: click.Context) -> None:
    """Blocked beads and what blocks them."""
    from core.beads import verbs

    _, store = _open(ctx)
    found = store.blocked()
    if _json_wanted(ctx):
        _emit(
            [
                {**verbs.issue_json(b.issue), "blocked_by_count": len(b.blocked_by), "blocked_by": b.blocked_by}
                for b in found
            ]
        )
        return
    if not found:
        click.echo("✨ No blocked issues")
        return
    click.echo(f"🚫 Blocked issues ({len(found)}):\n")
    for b in found:
        click.echo(f"[P{b.issue.priority}] {b.issue.id}: {one_line(b.issue.title)}")
        click.echo(f"  Blocked by {len(b.blocked_by)} open dependencies: {', '.join(b.blocked_by)}")


# ---------------------------------------------------------------- writing


def create_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``bd create``'s options (:data:`gastown_tui.bdpath.CREATE_OPTIONS`, the table the lean path
    parses by too) to a command, in the table's order; a non-empty default text is shown in ``--help``."""
    for key, option in reversed(CREATE_OPTIONS.items()):
        func = click.option(
            *option.flags,
            key,
            default=option.default,
            is_flag=option.kind == "flag",
            multiple=option.kind == "multiple",
            show_default=bool(option.kind == "value" and option.default),
            hidden=option.hidden,
            help=option.help,
        )(func)
    return func


@bd.command("create")
@click.argument("title", required=False)
@create_options
@actor_flag
@json_flag
@click.pass_context
def create_cmd(ctx: click.Context, title: str | None, **values: Any) -> None:
    """Create a bead titled TITLE (or --title)."""
    click.echo(create(title, values, _json_wanted(ctx), lambda: _open(ctx)))


@bd.command("update")
@click.argument("bead_ids", nargs=-1, required=True)
@click.option("--claim", is_flag=True, help="Claim it atomically (assignee = you, status in_progress).")
@click.option("-s", "--status", help="New status.")
@click.option("-p", "--priority", help="New priority 0-4 or P0-P4.")
@click.option("-a", "--assignee", help="New assignee ('' to clear).")
@click.option("--title", help="New title.")
@click.option("-t", "--type", "issue_type", help="New issue type.")
@click.option("-d", "--description", help="New description ('-' reads stdin).")
@click.option("--body-file", help="Read the new description from a file ('-': stdin).")
@click.option("--stdin", is_flag=True, help="Read the new description from stdin.")
@click.option("--design", help="New design notes.")
@click.option("--acceptance", help="New acceptance criteria.")
@click.option("--notes", help="New notes (replacing them).")
@click.option("--append-notes", help="Text appended to the notes on a new line.")
@click.option("--add-label", "add_labels", multiple=True, help="Add labels, comma-separated (repeatable).")
@click.option("--remove-label", "remove_labels", multiple=True, help="Remove labels, comma-separated (repeatable).")
@click.option("--metadata", help="New metadata (JSON object).")
@actor_flag
@json_flag
@click.pass_context
def update_cmd(
    ctx: click.Context,
    bead_ids: tuple[str, ...],
    claim: bool,
    description: str | None,
    body_file: str | None,
    stdin: bool,
    append_notes: str | None,
    add_labels: tuple[str, ...],
    remove_labels: tuple[str, ...],
    actor: str | None,
    **fields: Any,
) -> None:
    """Update one or more beads (each bead's changes in one transaction)."""
    from core.beads import verbs

    text = description_of(description, body_file, stdin)
    if text is not None:
        fields["description"] = text
    names = {"acceptance": "acceptance_criteria"}
    changes = verbs.Changes(
        claim=claim,
        fields={names.get(k, k): v for k, v in fields.items() if v is not None},
        append_notes=append_notes,
        add_labels=verbs.comma_list(add_labels),
        remove_labels=verbs.comma_list(remove_labels),
    )
    _, store = _open(ctx)
    outcome = verbs.update_beads(store, bead_ids, actor_of(actor), changes, atomic=False)
    _refusals(outcome, "update")
    if _json_wanted(ctx):
        _emit([verbs.issue_json(i) for i in outcome.done])
        return
    for issue in outcome.done:
        click.echo(f"✓ Updated issue: {feedback(issue)}")


@bd.command("close")
@click.argument("bead_ids", nargs=-1, required=True)
@click.option("-r", "--reason", default="", help="Why it is closed.")
@click.option("-m", "--message", "message", default=None, hidden=True, help="Alias for --reason.")
@click.option("-f", "--force", is_flag=True, help="Close even with open blockers or open children.")
@actor_flag
@json_flag
@click.pass_context
def close_cmd(
    ctx: click.Context, bead_ids: tuple[str, ...], reason: str, message: str | None, force: bool, actor: str | None
) -> None:
    """Close one or more beads (refused while blocked, or an epic with open children, unless --force)."""
    from core.beads import verbs

    _, store = _open(ctx)
    why = reason or message or ""
    outcome = verbs.close_beads(store, bead_ids, actor_of(actor), reason=why, force=force, atomic=False)
    _refusals(outcome, "close")
    if _json_wanted(ctx):
        _emit([verbs.issue_json(i) for i in outcome.done])
        return
    for issue in outcome.done:
        click.echo(f"✓ Closed {feedback(issue)}: {one_line(issue.close_reason)}")


@bd.command("reopen")
@click.argument("bead_ids", nargs=-1, required=True)
@click.option("-r", "--reason", default="", help="Why it is reopened.")
@actor_flag
@json_flag
@click.pass_context
def reopen_cmd(ctx: click.Context, bead_ids: tuple[str, ...], reason: str, actor: str | None) -> None:
    """Reopen one or more closed beads."""
    from core.beads import verbs

    _, store = _open(ctx)
    outcome = verbs.reopen_beads(store, bead_ids, actor_of(actor), reason=reason, atomic=False)
    _refusals(outcome, "reopen")
    if _json_wanted(ctx):
        _emit([verbs.issue_json(i) for i in outcome.done])
        return
    for issue in outcome.done:
        click.echo(f"↻ Reopened {issue.id}{f': {one_line(reason)}' if reason else ''}")


# ---------------------------------------------------------------- dependencies, comments


@bd.group("dep")
def dep() -> None:
    """Dependencies: ISSUE depends on DEPENDS_ON (DEPENDS_ON blocks ISSUE)."""


@dep.command("add")
@click.argument("issue")
@click.argument("depends_on")
@click.option("-t", "--type", "dep_type", default="blocks", show_default=True, help="Dependency type.")
@actor_flag
@json_flag
@click.pass_context
def dep_add(ctx: click.Context, issue: str, depends_on: str, dep_type: str, actor: str | None) -> None:
    """ISSUE depends on DEPENDS_ON (cycles of blocking edges are refused)."""
    _, store = _open(ctx)
    issue, depends_on = store.resolve(issue), store.resolve(depends_on)
    store.add_dependency(issue, depends_on, dep_type, actor=actor_of(actor))
    if _json_wanted(ctx):
        _emit({"status": "added", "issue_id": issue, "depends_on_id": depends_on, "type": dep_type})
    else:
        click.echo(f"✓ Added dependency: {issue} depends on {depends_on} ({dep_type})")


@dep.command("remove")
@click.argument("issue")
@click.argument("depends_on")
@actor_flag
@json_flag
@click.pass_context
def dep_remove(ctx: click.Context, issue: str, depends_on: str, actor: str | None) -> None:
    """Remove every edge ISSUE -> DEPENDS_ON."""
    _, store = _open(ctx)
    issue, depends_on = store.resolve(issue), store.resolve(depends_on)
    store.remove_dependency(issue, depends_on, actor=actor_of(actor))
    if _json_wanted(ctx):
        _emit({"status": "removed", "issue_id": issue, "depends_on_id": depends_on})
    else:
        click.echo(f"✓ Removed dependency: {issue} no longer depends on {depends_on}")


@dep.command("tree")
@click.argument("bead_id")
@click.option("--reverse", is_flag=True, help="Show what depends on the bead instead (as --direction=up).")
@click.option(
    "--direction", type=click.Choice(["down", "up"]), default=None, help="down: dependencies; up: dependents."
)
@click.option("-d", "--max-depth", type=count_type(), default=50, show_default=True, help="Deepest level shown.")
@json_flag
@click.pass_context
def dep_tree(ctx: click.Context, bead_id: str, reverse: bool, direction: str | None, max_depth: int) -> None:
    """The dependency tree of a bead."""
    from core.beads import verbs

    _, store = _open(ctx)
    nodes = verbs.tree_nodes(store, store.resolve(bead_id), reverse=reverse or direction == "up", max_depth=max_depth)
    if _json_wanted(ctx):
        _emit(nodes)
        return
    for node in nodes:
        edge = f"({node['edge_from_parent']}) " if node.get("edge_from_parent") else ""
        more = " …" if node["truncated"] else ""
        click.echo(f"{'  ' * node['depth']}{edge}{node['id']}: {one_line(node['title'])} [{node['status']}]{more}")


@bd.command("comments")
@click.argument("args", nargs=-1, required=True)
@click.option("-f", "--file", "text_file", help="With 'add': read the comment from a file ('-': stdin).")
@click.option("-a", "--author", help="With 'add': the comment's author (default: the actor).")
@actor_flag
@json_flag
@click.pass_context
def comments_cmd(
    ctx: click.Context, args: tuple[str, ...], text_file: str | None, author: str | None, actor: str | None
) -> None:
    """'bd comments ID' lists a bead's comments; 'bd comments add ID TEXT' adds one."""
    if args[0] == "add":
        _add_comment(ctx, args[1:], text_file, author or actor_of(actor))
        return
    if len(args) != 1:
        raise GtError("give one bead id: 'bd comments ID', or 'bd comments add ID TEXT'")
    _, store = _open(ctx)
    issue = store.get(store.resolve(args[0]))
    if _json_wanted(ctx):
        _emit([c.as_dict() for c in issue.comments])
        return
    if not issue.comments:
        click.echo(f"No comments on {issue.id}")
        return
    click.echo(f"\nComments on {issue.id}:\n")
    for c in issue.comments:
        click.echo(f"[{one_line(c.author)}] at {c.created_at}")
        for line in c.text.splitlines():
            click.echo(f"  {line}")
        click.echo()


def _add_comment(ctx: click.Context, args: tuple[str, ...], text_file: str | None, author: str) -> None:
    if not args or len(args) > 2 or (len(args) == 2) == (text_file is not None):
        raise GtError("give the bead id and the text once: 'bd comments add ID TEXT' or 'bd comments add ID -f FILE'")
    text = args[1] if len(args) == 2 else description_of(None, text_file, False)
    _, store = _open(ctx)
    comment = store.add_comment(store.resolve(args[0]), text or "", author)
    if _json_wanted(ctx):
        _emit(comment.as_dict())
    else:
        click.echo(f"Comment added to {comment.issue_id}")


# ---------------------------------------------------------------- the ledger file


@bd.command("import")
@click.argument("path", required=False)
@click.option("-i", "--input", "input_path", help="The JSONL file to read (as PATH).")
@actor_flag
@json_flag
@click.pass_context
def import_cmd(ctx: click.Context, path: str | None, input_path: str | None, actor: str | None) -> None:
    """Import a beads JSONL file ('-': stdin; default: the town's .beads/issues.jsonl), upsert by id."""
    from core.beads import imports, jsonl

    source = path or input_path
    town, store = _open(ctx)
    if source == "-":
        res = jsonl.import_ledger(store, sys.stdin.buffer.read(), source="stdin", actor=actor_of(actor))
    else:
        source = source or str(town.ledger_path)
        res = imports.import_path(store, source, actor=actor_of(actor))
    for warning in res.warnings:
        click.echo(f"Warning: {one_line(warning)}", err=True)
    if _json_wanted(ctx):
        _emit(
            {
                "source": source,
                "created": len(res.created),
                "updated": len(res.updated),
                "ids": res.created + res.updated,
            }
        )
    else:
        click.echo(f"Imported {res.count} issues from {source} ({len(res.created)} new, {len(res.updated)} updated)")


@bd.command("export")
@click.option("-o", "--output", help="File to write (default: stdout).")
@click.option("--all", "include_all", is_flag=True, help="Include every record (infra beads, templates, wisps).")
@json_flag
@click.pass_context
def export_cmd(ctx: click.Context, output: str | None, include_all: bool) -> None:
    """Export the ledger as beads JSONL, to stdout or --output FILE (sorted by id; written atomically)."""
    import tempfile

    from core.beads import jsonl

    _, store = _open(ctx)
    with tempfile.TemporaryDirectory(prefix="bd-export-") as tmp:
        target = output or os.path.join(tmp, "issues.jsonl")
        n = jsonl.export(store, target, include_all=include_all)
        if output is None:
            # to a pipe or file the ledger goes byte for byte; to a terminal through the plain-text filter
            out = sys.stdout if sys.stdout.isatty() else getattr(sys.stdout, "raw", sys.stdout)
            out.write(Path(target).read_text(encoding="utf-8"))
            out.flush()
    if output is not None:
        if _json_wanted(ctx):
            _emit({"exported": n, "path": output})
        else:
            click.echo(f"Exported {n} issues to {output}", err=True)


@bd.command("sync")
@json_flag
@click.pass_context
def sync_cmd(ctx: click.Context) -> None:
    """Export the ledger and commit it to the town repository now (as 'gt bead sync')."""
    from core.beads import sync as ledger_sync

    town, store = _open(ctx)
    result = ledger_sync.sync(town, force=True, store=store)
    if result.blocked:
        raise GtError(result.blocked)
    if _json_wanted(ctx):
        _emit(result.as_dict())
    elif result.commit:
        click.echo(f"Committed the ledger ({result.exported} issues): {result.commit[:12]}")
    else:
        click.echo(f"Ledger up to date ({result.exported} issues)")


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``bd`` console script. Exits 0 on success, 1 on any error (as bd does).

    Output goes through :func:`gastown_tui.clikit.plain_output` (no escape sequences reach the
    terminal). After a verb that changed beads, the ledger commit is requested as after ``gt``.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    with plain_output():
        sys.exit(_run(args))


def _run(args: list[str]) -> int:
    """Run ``bd ARGS``; the exit status (errors printed as bd prints them)."""
    bad = undecodable_argument(args)
    if bad is not None:
        click.echo(f"Error: {bad}", err=True)
        return 1
    state: State = {"json": "--json" in args}
    rc = 0
    try:
        result = bd.main(args=args, prog_name="bd", standalone_mode=False, obj=state)
        rc = result if isinstance(result, int) else 0
        state["completed"] = True
    except click.exceptions.Exit as exc:
        rc = exc.exit_code
        state["completed"] = True
    except GtError as exc:
        _error(state, one_line(str(exc)))
        return 1
    except click.exceptions.NoArgsIsHelpError as exc:  # plain 'bd': its help, as cobra prints it
        click.echo(exc.ctx.get_help() if exc.ctx is not None else "")
        return 0
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "bd"
        click.echo(f"Error: {one_line(exc.format_message())} (see '{where} --help')", err=True)
        return 1
    except click.ClickException as exc:
        _error(state, one_line(exc.format_message()))
        return 1
    except click.Abort:
        click.echo("Error: aborted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    if state.get("completed") and state.get("town") is not None:
        after_command(state["town"])
    return rc


def _error(state: State, message: str) -> None:
    """One error as bd prints it: ``{"error", "schema_version"}`` on stdout with --json, else a line on stderr."""
    if state.get("json"):
        _emit({"error": message})
    else:
        click.echo(f"Error: {message}", err=True)


if __name__ == "__main__":
    main()
