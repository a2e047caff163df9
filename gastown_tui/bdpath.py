"""``bd``'s verbs agents run most, on a lean path without click (issue 19), run by the console script
:mod:`gastown_tui.bd` (every other command line goes through :func:`gastown_tui.bd_cli.main`, bd's
verbs and flags; the rules both need live here).

``bd ready --json``, ``bd show ID... --json``, ``bd close ID...`` and ``bd update ID... --status
STATUS`` (exactly those shapes, optionally after ``--town PATH``) run here through the same calls as
their click verbs (:mod:`core.beads.verbs`), print what those print (:func:`bd_json`,
:func:`refusal_lines`, :func:`feedback`) through the same output boundary (escape sequences and
controls removed) and end as :func:`gastown_tui.bd_cli.main` ends: an error is bd's (its JSON error
object on stdout with ``--json``, else ``Error: ...`` on stderr) and exit 1, else
:func:`gastown_tui.hookpath.after_command` asks for the ledger sync if beads changed. Anything else (another verb, an option, ``--help``, an id that looks like a flag,
an argument that is not UTF-8) goes to click. tests/test_hook_path_imports.py compares both paths' answers.
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
    from core.beads.verbs import Outcome
    from core.town import Town

#: ``bd ready``'s default ``--limit`` (its click option's default too).
READY_LIMIT = 100


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
        return lambda: _run(town_path, True, _ready)
    verb, ids = rest[:1], rest[1:-1]
    if verb == ["show"] and rest[-1:] == ["--json"] and _plain_ids(ids):
        return lambda: _run(town_path, True, lambda town: _show(town, ids))
    if verb == ["close"] and _plain_ids(rest[1:]):
        return lambda: _run(town_path, False, lambda town: _close(town, rest[1:]))
    if verb == ["update"] and rest[-2:-1] == ["--status"] and _plain_ids(rest[1:-2]) and _plain_ids(rest[-1:]):
        return lambda: _run(town_path, False, lambda town: _update_status(town, rest[1:-2], rest[-1]))
    return None


def _plain_ids(values: list[str]) -> bool:
    """True for one or more arguments none of which looks like a flag (click decides those)."""
    return bool(values) and not any(v.startswith("-") for v in values)


def _run(town_path: str | None, as_json: bool, body: Callable[[Town], tuple[str, int]]) -> int:
    """Run a lean verb as :func:`gastown_tui.bd_cli.main` runs it: ``body(town)`` gives (text for
    stdout, exit status); then the ledger check, also after an exit 1 for beads all refused (the
    verb ran to its end). A GtError is bd's error (:func:`error_text`) and exit 1, with no check."""
    from core.errors import GtError
    from core.plaintext import one_line
    from core.town import find_town

    try:
        town = find_town(town_path_of(town_path))
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
    after_command(town)
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
