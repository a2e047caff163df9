"""``bd``'s verbs agents run most, on a lean path without click (issue 19), run by the console script
:mod:`gastown_tui.bd` (every other command line goes through :func:`gastown_tui.bd_cli.main`, bd's
verbs and flags; the rules both need live here).

``bd ready --json``, ``bd show ID... --json``, ``bd close ID...`` and ``bd update ID... --status
STATUS`` (exactly those shapes, optionally after ``--town PATH``), and ``bd create`` with any of its
options (:data:`CREATE_OPTIONS`, the table its click command is built from, parsed here as click
parses them: :func:`create_args`), run here through the same calls as their click verbs
(:mod:`core.beads.verbs`, :func:`create`), print what those print (:func:`bd_json`,
:func:`refusal_lines`, :func:`feedback`) through the same output boundary (escape sequences and
controls removed) and end as :func:`gastown_tui.bd_cli.main` ends: an error is bd's (its JSON error
object on stdout with ``--json``, else ``Error: ...`` on stderr) and exit 1, else
:func:`gastown_tui.hookpath.after_command` asks for the ledger sync if beads changed. Anything else
(another verb or option, ``--help``, an id that looks like a flag, an argument that is not UTF-8) goes
to click. tests/test_hook_path_imports.py compares both paths' answers.
"""

from __future__ import annotations

import os
import sys

from gastown_tui.hookpath import after_command, defer_imports, split_town, undecodable_argument, write_plain

TYPE_CHECKING = False  # typing's import costs every bd process more than its use (mypy reads the block)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from core.beads.model import Issue
    from core.beads.store import BeadStore
    from core.beads.verbs import Outcome
    from core.town import Town

#: ``bd ready``'s default ``--limit`` (its click option's default too).
READY_LIMIT = 100


class Option:
    """One option of a bd verb as its click command and the lean path both read it.

    flags: its names (``("-t", "--type")``); kind: ``"value"`` (one text; given twice, the last wins),
    ``"multiple"`` (repeatable: a tuple of texts, ``()`` when not given) or ``"flag"`` (True when given);
    default: the value when not given; help: the text of ``--help``; hidden: left out of ``--help``.
    """

    __slots__ = ("flags", "kind", "default", "help", "hidden")

    def __init__(self, flags: tuple[str, ...], kind: str, default: Any, help: str, hidden: bool = False) -> None:
        self.flags, self.kind, self.default, self.help, self.hidden = flags, kind, default, help, hidden


#: ``--actor``, which every writing verb takes (default: $BEADS_ACTOR, then :func:`actor_of`'s chain).
ACTOR = Option(("--actor",), "value", None, "Who is acting (default: $BEADS_ACTOR, $BD_ACTOR, the user).")

#: ``bd create``'s options (beads ``cmd/bd/create.go``), by the keyword :func:`create` reads, in
#: ``--help`` order: the one table of their names and defaults (``bd_cli``'s create command is built
#: from it, :func:`create_args` parses by it). ``--json`` and ``--actor`` (:data:`ACTOR`) come on top.
CREATE_OPTIONS: dict[str, Option] = {
    "title_flag": Option(("--title",), "value", None, "Title (instead of the TITLE argument)."),
    "issue_type": Option(("-t", "--type"), "value", "task", "Issue type."),
    "priority": Option(("-p", "--priority"), "value", "2", "Priority 0-4 or P0-P4 (0: highest)."),
    "assignee": Option(("-a", "--assignee"), "value", "", "Assignee."),
    "labels": Option(("-l", "--labels"), "multiple", (), "Labels, comma-separated (repeatable)."),
    "label_alias": Option(("--label",), "multiple", (), "Alias for --labels.", hidden=True),
    "deps": Option(("--deps",), "multiple", (), "Dependencies 'type:id' or 'id', comma-separated (repeatable)."),
    "parent": Option(("--parent",), "value", None, "Parent bead: the new bead becomes PARENT.N."),
    "description": Option(("-d", "--description"), "value", None, "Description ('-' reads stdin)."),
    "body_file": Option(("--body-file",), "value", None, "Read the description from a file ('-': stdin)."),
    "stdin": Option(("--stdin",), "flag", False, "Read the description from stdin."),
    "design": Option(("--design",), "value", "", "Design notes."),
    "acceptance": Option(("--acceptance",), "value", "", "Acceptance criteria."),
    "notes": Option(("--notes",), "value", "", "Notes."),
    "explicit_id": Option(("--id",), "value", None, "Explicit id instead of a hash id."),
    "rig": Option(
        ("--rig",), "value", None, "Rig whose prefix the bead gets (default: the current rig, the only rig, else hq)."
    ),
    "prefix": Option(("--prefix",), "value", None, "Id prefix for the bead (e.g. hq-)."),
    "ephemeral": Option(("--ephemeral",), "flag", False, "Ephemeral (a wisp: never offered as ready work)."),
    "metadata": Option(("--metadata",), "value", None, "Metadata as a JSON object."),
    "silent": Option(("--silent",), "flag", False, "Print only the new id."),
}


def town_path_of(town_path: str | None, env: dict[str, str] | None = None) -> str | None:
    """The town directory bd was given: ``--town`` (``town_path``), else None when ``$GT_TOWN`` is set
    (:func:`core.town.find_town` reads it), else the parent of ``$BEADS_DIR`` (bd's own variable),
    else None (the town holding the current directory)."""
    env = dict(os.environ) if env is None else env
    beads_dir = env.get("BEADS_DIR", "").strip()
    if town_path is None and not env.get("GT_TOWN") and beads_dir:
        from pathlib import Path

        return str(Path(beads_dir).expanduser().resolve().parent)
    return town_path


def bd_json(value: Any) -> str:
    """``value`` as bd prints it (``cmd/bd/output.go``): indented; an object gets ``schema_version``,
    a list is printed as it is; ``BD_JSON_ENVELOPE=1`` wraps everything in ``{schema_version, data}``."""
    from core.beads.verbs import SCHEMA_VERSION
    from gastown_tui.hookpath import json_text

    if os.environ.get("BD_JSON_ENVELOPE") == "1":
        value = {"schema_version": SCHEMA_VERSION, "data": value}
    elif isinstance(value, dict):
        value = {**value, "schema_version": SCHEMA_VERSION}
    elif value is None:
        value = {"schema_version": SCHEMA_VERSION}
    return json_text(value)


def refusal_lines(outcome: Outcome, verb: str) -> list[str]:
    """The line bd prints on stderr for each bead of ``outcome`` that ``verb`` refused."""
    from core.plaintext import one_line

    return [f"Error: cannot {verb} {one_line(given)}: {one_line(reason)}" for given, reason in outcome.refused]


def actor_of(explicit: str | None) -> str:
    """Who a bd verb acts as: ``--actor`` (``explicit``), else ``$BEADS_ACTOR``, else gt's
    (:func:`core.actor.current_actor`: ``$BD_ACTOR``, the session role, the user)."""
    from core.actor import current_actor

    return current_actor(explicit or os.environ.get("BEADS_ACTOR"))


def feedback(issue: Issue) -> str:
    """``id — title``, as bd's feedback lines name a bead (``formatFeedbackID``)."""
    from core.plaintext import one_line

    return f"{issue.id} — {one_line(issue.title)}" if issue.title else issue.id


def fast_command(args: list[str]) -> Callable[[], int] | None:
    """The lean verb ``args`` (``bd``'s arguments) name, ready to run (it returns the exit status), or
    None for anything else (:func:`gastown_tui.bd_cli.main` runs those)."""
    if undecodable_argument(args) is not None:
        return None
    split = split_town(args)
    if split is None:
        return None
    town_path, rest = split
    run = _lean(town_path, rest)
    if run is not None:
        defer_imports()  # dataclasses' inspect and copy: no lean verb uses them
    return run


def _lean(town_path: str | None, rest: list[str]) -> Callable[[], int] | None:
    """The lean verb of ``rest`` (``bd``'s arguments after ``--town PATH``), or None."""
    if rest == ["ready", "--json"]:
        return lambda: _run(town_path, True, lambda town: _ready(town()))
    verb, ids = rest[:1], rest[1:-1]
    if verb == ["show"] and rest[-1:] == ["--json"] and _plain_ids(ids):
        return lambda: _run(town_path, True, lambda town: _show(town(), ids))
    if verb == ["close"] and _plain_ids(rest[1:]):
        return lambda: _run(town_path, False, lambda town: _close(town(), rest[1:]))
    if verb == ["update"] and rest[-2:-1] == ["--status"] and _plain_ids(rest[1:-2]) and _plain_ids(rest[-1:]):
        return lambda: _run(town_path, False, lambda town: _update_status(town(), rest[1:-2], rest[-1]))
    parsed = create_args(rest[1:]) if verb == ["create"] else None
    if parsed is not None:
        title, values, as_json = parsed
        return lambda: _run(town_path, as_json, lambda town: (_create(town, title, values, as_json), 0))
    return None


def create_args(args: list[str]) -> tuple[str | None, dict[str, Any], bool] | None:
    """``bd create``'s arguments after the verb, parsed as its click command parses them: (TITLE or
    None, the value of every :data:`CREATE_OPTIONS` keyword and ``actor``, whether ``--json`` was
    anywhere, even as an option's value: :func:`gastown_tui.bd_cli.main` answers in JSON then too). An
    option's value is the next argument whatever it looks like, or follows ``=`` on a long name. None
    for anything else (an unknown option, a short option with its value attached, ``-``,
    ``--``, a second TITLE, a flag given a value, an option without its value): click answers those."""
    options = {**CREATE_OPTIONS, "actor": ACTOR}
    by_flag = {flag: (key, option) for key, option in options.items() for flag in option.flags}
    values: dict[str, Any] = {key: [] if o.kind == "multiple" else o.default for key, o in options.items()}
    title, rest = None, iter(args)
    for arg in rest:
        if arg == "--json":
            continue
        if not arg.startswith("-"):
            if title is not None:
                return None
            title = arg
            continue
        name, eq, attached = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        key, option = by_flag.get(name, (None, None))
        if option is None or (eq and option.kind == "flag"):
            return None
        if option.kind == "flag":
            values[key] = True
            continue
        value = attached if eq else next(rest, None)
        if value is None:
            return None
        if option.kind == "multiple":
            values[key].append(value)
        else:
            values[key] = value
    return title, {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}, "--json" in args


def _plain_ids(values: list[str]) -> bool:
    """True for one or more arguments none of which looks like a flag (click decides those)."""
    return bool(values) and not any(v.startswith("-") for v in values)


def _run(town_path: str | None, as_json: bool, body: Callable[[Callable[[], Town]], tuple[str, int]]) -> int:
    """Run a lean verb as :func:`gastown_tui.bd_cli.main` runs it: ``body(town)`` gives (text for
    stdout, exit status), calling ``town()`` when it needs the town (found once, as click's
    ``town_from`` finds it: after the checks that need none); then the ledger check, also after an
    exit 1 for beads all refused (the verb ran to its end). A GtError is bd's error (its JSON error
    object with ``as_json``, else ``Error: ...`` on stderr) and exit 1, with no check."""
    from core.errors import GtError
    from core.plaintext import one_line

    found: list[Town] = []

    def town() -> Town:
        if not found:
            from core.town import find_town

            found.append(find_town(town_path_of(town_path)))
        return found[0]

    try:
        text, status = body(town)
        if text:
            write_plain(sys.stdout, text + "\n")
    except GtError as exc:
        message = one_line(str(exc))
        if as_json:
            write_plain(sys.stdout, bd_json({"error": message}) + "\n")
        else:
            write_plain(sys.stderr, f"Error: {message}\n")
        return 1
    after_command(town())
    return status


def _refused(outcome: Outcome, verb: str) -> int:
    """Print the refusal lines of ``outcome`` on stderr; the exit status: 1 when no bead was done."""
    for line in refusal_lines(outcome, verb):
        write_plain(sys.stderr, line + "\n")
    return 0 if outcome.done else 1


def _ready(town: Town) -> tuple[str, int]:
    """``bd ready --json``: the first :data:`READY_LIMIT` ready beads (by priority, then oldest) with
    their counts (:func:`core.beads.verbs.with_counts`)."""
    from core.beads import verbs
    from core.beads.store import BeadStore

    with BeadStore(town) as store:
        return bd_json(verbs.with_counts(store, store.ready(limit=READY_LIMIT))), 0


def _show(town: Town, ids: list[str]) -> tuple[str, int]:
    """``bd show ID... --json``: the beads found (:func:`core.beads.verbs.details`, no comments), each
    refused id on stderr; raises GtError when none was found."""
    from core.beads import verbs
    from core.beads.store import BeadStore
    from core.errors import GtError

    with BeadStore(town) as store:
        outcome = verbs.show_beads(store, ids, atomic=False)
        if _refused(outcome, "show"):
            raise GtError("no issues found matching the provided IDs")
        return bd_json([verbs.details(store, issue, False) for issue in outcome.done]), 0


def _close(town: Town, ids: list[str]) -> tuple[str, int]:
    """``bd close ID...``: each bead closed on its own (:func:`core.beads.verbs.close_beads`)."""
    from core.beads import verbs
    from core.beads.store import BeadStore
    from core.plaintext import one_line

    with BeadStore(town) as store:
        outcome = verbs.close_beads(store, ids, actor_of(None), reason="", force=False, atomic=False)
    status = _refused(outcome, "close")
    return "\n".join(f"✓ Closed {feedback(i)}: {one_line(i.close_reason)}" for i in outcome.done), status


def _update_status(town: Town, ids: list[str], new_status: str) -> tuple[str, int]:
    """``bd update ID... --status STATUS``: each bead updated on its own (:func:`core.beads.verbs.update_beads`)."""
    from core.beads import verbs
    from core.beads.store import BeadStore

    changes = verbs.Changes(fields={"status": new_status})
    with BeadStore(town) as store:
        outcome = verbs.update_beads(store, ids, actor_of(None), changes, atomic=False)
    status = _refused(outcome, "update")
    return "\n".join(f"✓ Updated issue: {feedback(i)}" for i in outcome.done), status


def description_of(description: str | None, body_file: str | None, stdin: bool) -> str | None:
    """The description as bd reads it: ``--stdin`` or ``--body-file -`` from stdin, ``--body-file PATH``
    from a file, ``-d -`` from stdin too, else ``-d TEXT``. Raises GtError for two sources at once."""
    from core.errors import GtError

    if sum(x is not None and x is not False for x in (description, body_file, stdin or None)) > 1:
        raise GtError("give the description once: -d TEXT, --body-file PATH or --stdin")
    if stdin or body_file == "-" or description == "-":
        return sys.stdin.read()
    if body_file is not None:
        from pathlib import Path

        try:
            return Path(body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GtError(f"cannot read --body-file {body_file!r}: {exc}: give a readable UTF-8 file") from None
    return description


def create(
    title: str | None, values: dict[str, Any], as_json: bool, opened: Callable[[], tuple[Town, BeadStore]]
) -> str:
    """``bd create``, for its click command and the lean path alike: the bead made from TITLE
    (``title``) and ``values`` (every :data:`CREATE_OPTIONS` keyword and ``actor``, as
    :func:`create_args` or click gives them), and the text to print (its JSON with ``as_json``, its id
    with ``silent``, else bd's feedback lines). ``opened()`` gives the town and its open store; it is
    called once the title and description are known.

    Raises GtError for a missing, ambiguous or flag-like title, a bad field or an unknown parent
    (NotFound), as :meth:`core.beads.store.BeadStore.create` does; nothing is stored then.
    """
    from core.beads import verbs
    from core.beads.store import default_prefix
    from core.errors import GtError

    title_flag = values["title_flag"]
    if title is not None and title_flag is None and title.startswith("-"):
        raise GtError(f"title {title!r} looks like a flag: pass it as --title={title!r}")
    title = verbs.pick_title(title, title_flag)
    text = description_of(values["description"], values["body_file"], values["stdin"])
    town, store = opened()
    parent, prefix = values["parent"], values["prefix"]
    if parent:
        parent = store.resolve(parent)
    if prefix:
        prefix = prefix.rstrip("-")
    elif not (parent or values["explicit_id"]):
        prefix = default_prefix(town, values["rig"], os.getcwd())
    issue = store.create(
        title,
        actor=actor_of(values["actor"]),
        description=text or "",
        priority=values["priority"],
        issue_type=values["issue_type"],
        parent=parent,
        labels=verbs.comma_list(values["labels"] + values["label_alias"]),
        deps=verbs.comma_list(values["deps"]),
        assignee=values["assignee"],
        design=values["design"],
        acceptance_criteria=values["acceptance"],
        notes=values["notes"],
        metadata=values["metadata"],
        ephemeral=values["ephemeral"],
        id=values["explicit_id"],
        prefix=prefix,
    )
    if as_json:
        return bd_json(verbs.issue_json(issue))
    if values["silent"]:
        return issue.id
    return f"✓ Created issue: {feedback(issue)}\n  Priority: P{issue.priority}\n  Status: {issue.status}"


def _create(town: Callable[[], Town], title: str | None, values: dict[str, Any], as_json: bool) -> str:
    """``bd create`` on the lean path: :func:`create` with a store of its own, closed afterwards."""
    from core.beads.store import BeadStore

    stores: list[BeadStore] = []

    def opened() -> tuple[Town, BeadStore]:
        found = town()
        stores.append(BeadStore(found))
        return found, stores[-1]

    try:
        return create(title, values, as_json, opened)
    finally:
        for store in stores:
            store.disconnect()
