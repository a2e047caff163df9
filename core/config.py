"""town.toml and rig.toml: templates with every default written out and commented, loading with
errors that name the file and line, and edits through tomlkit that keep comments and ordering.

The templates below are the single source of the defaults: :func:`town_defaults` parses the same
text the installer writes, so a missing key in a user's file falls back to exactly what is documented.
"""

from __future__ import annotations

import contextlib
import copy
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError
from tomlkit.toml_document import TOMLDocument

from core.atomic import atomic_write_text
from core.errors import ConfigError

TOWN_TEMPLATE = """\
# gastown-tui town configuration. Edit freely: gt keeps your comments and ordering.
# Every setting is written out with its default; times are in seconds.

# Agent runtime used when `gt sling` gets no --agent. "auto" picks the first installed agent CLI
# (claude, codex, gemini, ...) and falls back to the built-in "sim" agent.
default_agent = "auto"
# Cockpit theme: "gastown" (dark) or "gastown-light". The cockpit remembers your choice here.
theme = "gastown"

[town]
# Bead prefix of town-level beads (convoys, mail, escalations): ids look like hq-a3f8.
prefix = "hq"

[scheduler]
# Most polecats working at once in the whole town.
max_polecats = 8
# Most polecats working at once in any one rig.
max_polecats_per_rig = 4
# Pause between two session starts, so a burst of slings does not stampede the machine.
spawn_delay = 1.0

[witness]
# How often each rig's witness looks at its polecats.
patrol_interval = 30
# A polecat still "spawning" this long after its sling began is restarted (the sling died half-way).
spawn_grace = 60
# A polecat whose transcript grew within this window is "working".
active_window = 60
# Hooked but silent this long: "stalled", nudged once per window.
stall_after = 900
# Hooked with no commit, event or output this long: a GUPP violation.
gupp_after = 1800
# Restarts of a dead session on the same bead before the bead is marked stuck and escalated.
max_respawns = 3
# A stuck polecat is tried again after this long, doubling after each try (at most 3 tries), so one
# stuck in a passing outage (a full disk) recovers; then it waits for a human.
stuck_retry_after = 300

[deacon]
# How often the town-level deacon reconciles hooks, convoys and escalations.
patrol_interval = 30
# An unacknowledged escalation is raised again, one severity higher, after this long.
stale_after = 3600
# Dirty polecat worktrees get a WIP checkpoint commit this often.
checkpoint_interval = 300

[ledger]
# The beads ledger (.beads/issues.jsonl) is exported and committed this long after the last change.
commit_debounce = 5.0

[logs]
# Each session transcript in .gastown/logs is rotated at this size (bytes).
max_bytes = 4194304
# Rotated transcripts kept per session.
keep = 2

# Agent runtime presets. Add one or override a built-in, e.g.:
#   [agents.claude]
#   argv = ["claude", "--dangerously-skip-permissions", "--model", "opus"]
# `gt config agent set NAME "CMD ARGS"` writes these for you.
[agents]
"""

RIG_TEMPLATE = """\
# Rig {name}: one git repository and its agents.
git_url = ""
default_branch = "main"
# Bead prefix of this rig: its beads are named like {prefix}-a3f8.
prefix = ""

# Verification gates, run in this order by the refinery on each batch before the default branch moves.
# cmd is an argv list (no shell); timeout is in seconds. With no gates, a clean merge alone is enough.
#   [gates.test]
#   cmd = ["python", "-m", "pytest", "-q"]
#   timeout = 600
# Extra environment for the gates (they otherwise run with a clean environment):
#   [gates.env]
#   PYTHONDONTWRITEBYTECODE = "1"
[gates]

[merge_queue]
# Merge requests merged and gated together; a red batch is bisected to find the culprits.
max_batch_size = 4
# Run red gates again this many times before bisecting, and before a red half blames an MR (flaky tests).
retry_flaky = 1
# Queue order is priority, then age; a waiting MR gains one priority level per this many seconds,
# so old MRs never starve behind a stream of urgent ones.
aging_step = 3600

[worktree]
# Commands run (argv lists) in each new polecat worktree, e.g. [["npm", "ci"]].
setup = []
# Files copied into each new worktree from the rig's source checkout, e.g. [".env"].
copy = []
"""


def town_defaults() -> dict[str, Any]:
    """The default town settings as a plain dict (parsed from :data:`TOWN_TEMPLATE`)."""
    return copy.deepcopy(_TOWN_DEFAULTS)


def rig_defaults() -> dict[str, Any]:
    """The default rig settings as a plain dict (parsed from :data:`RIG_TEMPLATE`)."""
    return copy.deepcopy(_RIG_DEFAULTS)


def load_toml(path: str | os.PathLike[str]) -> TOMLDocument:
    """Parse the TOML file at ``path`` with tomlkit (comments kept).

    Raises ConfigError naming the file and line when it is malformed or missing.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{p} is missing: run 'gt install' to create the town") from exc
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError(f"{p}:{exc.line}: malformed TOML ({_reason(exc)}): fix that line") from exc
    except TOMLKitError as exc:
        raise ConfigError(f"{p}: malformed TOML ({exc}): fix the file") from exc


def _reason(exc: ParseError) -> str:
    text = str(exc)
    return text.split(" at line ")[0] if " at line " in text else text


@contextlib.contextmanager
def edit_toml(path: str | os.PathLike[str]) -> Iterator[TOMLDocument]:
    """Open ``path`` for editing with tomlkit; on a clean exit write it back atomically.

    If the block raises, the file is left exactly as it was. Raises ConfigError if it is malformed.
    """
    doc = load_toml(path)
    yield doc
    atomic_write_text(path, tomlkit.dumps(doc))


def setting(doc: TOMLDocument | dict[str, Any], section: str | None, key: str,
            defaults: dict[str, Any] | None = None) -> Any:
    """Value of ``[section] key`` (or a top-level ``key`` when section is None) from ``doc``,
    falling back to the town defaults (or ``defaults``). Returns plain Python values.

    Raises ConfigError if the key has no default and is missing.
    """
    base = _TOWN_DEFAULTS if defaults is None else defaults
    src: Any = doc
    dflt: Any = base
    if section is not None:
        src = doc.get(section, {})
        dflt = base.get(section, {})
    if key in src:
        value = src[key]
        return value.unwrap() if hasattr(value, "unwrap") else value
    if key in dflt:
        return copy.deepcopy(dflt[key])
    where = f"[{section}] {key}" if section else key
    raise ConfigError(f"setting {where} is missing and has no default: add it to the config file")


_TOWN_DEFAULTS = tomllib.loads(TOWN_TEMPLATE)
_RIG_DEFAULTS = tomllib.loads(RIG_TEMPLATE.format(name="x", prefix="x"))
