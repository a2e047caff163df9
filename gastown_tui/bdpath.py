"""``bd``'s two reads agents run most, on a lean path without click (issue 19), run by the console
script :mod:`gastown_tui.bd` (every other command line goes through :func:`gastown_tui.bd_cli.main`,
bd's verbs and flags; the rules both need live here).

``bd ready --json`` and ``bd show ID... --json`` (exactly those shapes, optionally after ``--town
PATH``) run here through the same calls as their click verbs (:mod:`core.beads.verbs`), print what
those print (:func:`bd_json`, :func:`refusal_lines`) through the same output boundary (escape sequences
and controls removed) and end as :func:`gastown_tui.bd_cli.main` ends: an error is bd's JSON error
object on stdout and exit 1, else :func:`gastown_tui.hookpath.after_command` asks for the ledger sync
if beads are dirty. Anything else (another verb, an option, ``--help``, an id that looks like a flag,
an argument that is not UTF-8) goes to click. tests/test_hook_path_imports.py compares both paths' answers.
"""

from __future__ import annotations

import os
import sys

from gastown_tui.hookpath import after_command, split_town, undecodable_argument, write_plain

TYPE_CHECKING = False  # typing's import costs every bd process more than its use (mypy reads the block)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

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


def fast_command(args: list[str]) -> Callable[[], int] | None:
    """The lean read ``args`` (``bd``'s arguments) name, ready to run (it returns the exit status), or
    None for anything else (:func:`gastown_tui.bd_cli.main` runs those)."""
    if undecodable_argument(args) is not None:
        return None
    split = split_town(args)
    if split is None:
        return None
    town_path, rest = split
    if rest == ["ready", "--json"]:
        return lambda: _read(town_path, _ready)
    ids = rest[1:-1]
    if rest[:1] == ["show"] and rest[-1:] == ["--json"] and ids and not any(i.startswith("-") for i in ids):
        return lambda: _read(town_path, lambda town: _show(town, ids))
    return None


def _read(town_path: str | None, body: Callable[[Town], str]) -> int:
    """Run a lean read as :func:`gastown_tui.bd_cli.main` runs its verb with ``--json``: the JSON
    ``body(town)`` returns on stdout, then the ledger check; a GtError is bd's JSON error object on
    stdout and exit 1, with no ledger check after it."""
    from core.errors import GtError
    from core.plaintext import one_line
    from core.town import find_town

    try:
        town = find_town(town_path_of(town_path))
        write_plain(sys.stdout, body(town) + "\n")
    except GtError as exc:
        write_plain(sys.stdout, bd_json({"error": one_line(str(exc))}) + "\n")
        return 1
    after_command(town)
    return 0


def _ready(town: Town) -> str:
    """``bd ready --json``: the first :data:`READY_LIMIT` ready beads (by priority, then oldest) with
    their counts (:func:`core.beads.verbs.with_counts`)."""
    from core.beads import verbs
    from core.beads.store import BeadStore

    with BeadStore(town) as store:
        return bd_json(verbs.with_counts(store, store.ready(limit=READY_LIMIT)))


def _show(town: Town, ids: list[str]) -> str:
    """``bd show ID... --json``: the beads found (:func:`core.beads.verbs.details`, no comments), each
    refused id on stderr; raises GtError when none was found."""
    from core.beads import verbs
    from core.beads.store import BeadStore
    from core.errors import GtError

    with BeadStore(town) as store:
        outcome = verbs.show_beads(store, ids, atomic=False)
        for line in refusal_lines(outcome, "show"):
            write_plain(sys.stderr, line + "\n")
        if not outcome.done:
            raise GtError("no issues found matching the provided IDs")
        return bd_json([verbs.details(store, issue, False) for issue in outcome.done])
