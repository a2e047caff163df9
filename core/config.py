"""town.toml and rig.toml: templates with every default written out and commented, loading with
errors that name the file and line, and edits through tomlkit that keep comments and ordering.

The templates below are the single source of the defaults: :func:`town_defaults` parses the same
text the installer writes, so a missing key in a user's file falls back to exactly what is documented.
"""

from __future__ import annotations

import contextlib
import copy
import math
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
# An export that would drop more than this fraction of the committed ledger's beads (and more than
# shrink_guard_beads of them) is refused: a lost database must not wipe the ledger. Pass
# --allow-shrink to gt bead export/sync when a shrink is meant.
shrink_guard_fraction = 0.5
# ... and more than this many beads.
shrink_guard_beads = 5

[logs]
# Each session transcript in .gastown/logs is rotated at this size (bytes).
max_bytes = 4194304
# Rotated transcripts kept per session.
keep = 2

[secrets]
# Files `gt done` refuses to commit or submit for merging, as globs: a pattern without "/" matches a
# file's name in any directory, one with "/" the path from the worktree root, "!" exempts. A rig may set
# its own list in its rig.toml ([secrets] patterns), which then replaces this one.
patterns = [".env*", "!.env.example", "!.env.sample", "*.pem", "*.key", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*"]

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
# Files copied into each new worktree from the rig's source checkout, e.g. [".env"]: paths inside the
# checkout (no absolute paths, no ".."). They are listed in the repository's info/exclude, so no commit
# picks them up.
copy = []

# Secret patterns of this rig, replacing the town's [secrets] patterns (town.toml), e.g.:
#   [secrets]
#   patterns = [".env*", "*.pem", "*.key", "id_rsa*", "config/credentials.json"]
"""


def town_defaults() -> dict[str, Any]:
    """The default town settings as a plain dict (parsed from :data:`TOWN_TEMPLATE`)."""
    return copy.deepcopy(_TOWN_DEFAULTS)


def rig_defaults() -> dict[str, Any]:
    """The default rig settings as a plain dict (parsed from :data:`RIG_TEMPLATE`)."""
    return copy.deepcopy(_RIG_DEFAULTS)


def load_toml(path: str | os.PathLike[str]) -> TOMLDocument:
    """Parse the TOML file at ``path`` with tomlkit (comments kept).

    Raises ConfigError naming the file and line when it is malformed, missing, unreadable or not UTF-8.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{p} is missing: run 'gt install' to create the town") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start}): save the file as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.strerror or exc}): check the file and its permissions") from exc
    try:
        return tomlkit.parse(text)
    except ParseError as exc:
        raise ConfigError(f"{p}:{exc.line}: malformed TOML ({_reason(exc)}): fix that line") from exc
    except TOMLKitError as exc:
        raise ConfigError(f"{p}: malformed TOML ({_one_line(exc)}): fix the file") from exc
    except RecursionError as exc:
        raise ConfigError(f"{p}: malformed TOML (nested too deeply): flatten the nested arrays or tables") from exc
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:  # tomlkit's own slips on odd input
        raise ConfigError(f"{p}: malformed TOML ({type(exc).__name__}: {_one_line(exc)}): fix the file") from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 120 else text[:117] + "..."


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


#: Settings that count things: whole numbers only (every other number may have a fraction).
_COUNTS = {"max_polecats", "max_polecats_per_rig", "max_respawns", "max_bytes", "keep", "max_batch_size",
           "retry_flaky"}
#: Sections validated elsewhere (agent presets: core.runtimes; gates: core.gates).
_OWN_CHECKS = {"agents", "gates"}


def load_town_config(path: str | os.PathLike[str]) -> TOMLDocument:
    """Parse and validate ``town.toml`` at ``path`` (:func:`load_toml`, :func:`validate_settings`).

    Raises ConfigError: one line naming the file, the key and the fix."""
    doc = load_toml(path)
    validate_settings(doc, _TOWN_DEFAULTS, Path(path))
    return doc


def load_rig_config(path: str | os.PathLike[str]) -> TOMLDocument:
    """Parse and validate a ``rig.toml`` at ``path``: every setting of :data:`RIG_TEMPLATE` with the
    type of its default, ``prefix`` and ``default_branch`` present and well-formed
    (:func:`check_branch_name`), ``[worktree] copy`` inside the worktree (:func:`check_copy_path`),
    ``[secrets] patterns`` a list of strings, ``[gates]`` as :func:`core.gates.load_gates` wants.
    Raises ConfigError naming the file, the key and the fix."""
    p = Path(path)
    doc = load_toml(p)
    validate_settings(doc, _RIG_DEFAULTS, p)
    for key in ("git_url", "default_branch", "prefix"):
        if key not in doc:
            raise ConfigError(f"{p}: {key} is missing: add {key} = \"...\" (see 'gt rig add')")
    if not str(doc["prefix"]).strip():
        raise ConfigError(f"{p}: prefix is empty: set prefix = \"xx\" (2-4 letters, the rig's bead prefix)")
    check_branch_name(doc["default_branch"], f"{p}: default_branch")
    for rel in setting(doc, "worktree", "copy", _RIG_DEFAULTS):
        check_copy_path(rel, p)
    setup = setting(doc, "worktree", "setup", _RIG_DEFAULTS)
    for argv in setup:
        if not (isinstance(argv, str) and argv) and not (
                isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
            raise ConfigError(f"{p}: [worktree] setup entries must be argv lists of strings such as "
                              f"[\"npm\", \"ci\"] (got {_show(argv)}): fix the entry")
    secrets = doc.get("secrets", {})
    if not isinstance(secrets, dict):
        raise ConfigError(f"{p}: [secrets] must be a table: write it as [secrets] with patterns = [...]")
    if "patterns" in secrets:
        _check_str_list(secrets["patterns"], p, "[secrets] patterns", '[".env*", "*.pem"]')
    from core.gates import load_gates  # the [gates] rules live with the gates

    load_gates(doc, str(p))
    return doc


def validate_settings(doc: Any, defaults: dict[str, Any], path: Path) -> None:
    """Check every setting of ``doc`` that ``defaults`` documents: a section must be a table, and a
    value must have its default's type (numbers finite and >= 0, whole numbers for counts; strings;
    booleans; lists, of strings when the default's items are strings). Unknown keys are left alone.

    Raises ConfigError naming ``path``, the key, what is wrong and the fix (the default as example).
    """
    for key, default in defaults.items():
        if key not in doc or key in _OWN_CHECKS:
            continue
        value = doc[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: [{key}] must be a table, not {_show(value)}: write it as a [{key}] "
                                  "section")
            for sub, sub_default in default.items():
                if sub in value:
                    _check_value(value[sub], sub_default, path, f"[{key}] {sub}", sub)
        else:
            _check_value(value, default, path, key, key)


def _check_value(value: Any, default: Any, path: Path, where: str, key: str) -> None:
    value = value.unwrap() if hasattr(value, "unwrap") else value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {where} must be true or false, not {_show(value)}: set it to "
                              f"{str(default).lower()}")
    elif isinstance(default, (int, float)):
        whole = key in _COUNTS
        ok = (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
              and value >= 0 and (not whole or float(value).is_integer()))
        if not ok:
            kind = "a whole number >= 0" if whole else "a finite number >= 0"
            raise ConfigError(f"{path}: {where} must be {kind}, not {_show(value)}: set it to a number such as "
                              f"{default} (no quotes)")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {where} must be a string, not {_show(value)}: quote it, e.g. "
                              f"{where.split()[-1]} = \"{default}\"")
    elif isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"{path}: {where} must be a list, not {_show(value)}: write it as [...]")
        if default and all(isinstance(d, str) for d in default):
            _check_str_list(value, path, where, "[" + ", ".join(f'"{d}"' for d in default[:2]) + "]")


def _check_str_list(value: Any, path: Path, where: str, example: str) -> None:
    value = value.unwrap() if hasattr(value, "unwrap") else value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{path}: {where} must be a list of non-empty strings such as {example}, not "
                          f"{_show(value)}: fix it")


def _show(value: Any) -> str:
    """A short, escaped rendering of a config value for an error line."""
    value = value.unwrap() if hasattr(value, "unwrap") else value
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_copy_path(rel: Any, path: str | os.PathLike[str]) -> str:
    """Check one ``[worktree] copy`` entry of the rig.toml at ``path``: a non-empty relative path, no
    ``..`` part, no backslash or control character. Returns it (``/``-separated). Raises ConfigError.
    Symlinks leading out are refused when copying (:func:`core.worktrees.copy_files`)."""
    if not isinstance(rel, str) or not rel.strip():
        raise ConfigError(f"{path}: [worktree] copy entries must be non-empty paths, not {_show(rel)}: fix the entry")
    parts = rel.split("/")
    bad = (rel.startswith(("/", "~")) or "\\" in rel or ".." in parts or any(ord(c) < 32 or ord(c) == 127 for c in rel)
           or all(part in ("", ".") for part in parts))
    if bad:
        raise ConfigError(f"{path}: [worktree] copy entry {_show(rel)} reaches outside the worktree: give a path "
                          "inside the checkout, such as \".env\" or \"config/local.json\"")
    return "/".join(part for part in parts if part not in ("", "."))


_REF_BAD_CHARS = set(" ~^:?*[\\\x7f")


def check_branch_name(name: Any, where: str) -> str:
    """Check that ``name`` is a valid git branch name (the rules of ``git check-ref-format --branch``),
    so a ref from a config file can never reach git as an option (``-x``, ``--upload-pack=...``) or an
    odd revision (``HEAD``, ``@{-1}``, ``a..b``). where: what to name in the error (file and key).
    Returns ``name``. Raises ConfigError."""
    ok = isinstance(name, str) and bool(name)
    if ok:
        parts = name.split("/")
        ok = not (
            name.startswith("-") or name in ("HEAD", "@") or "@{" in name or ".." in name
            or name.endswith(("/", ".")) or any(ord(c) < 32 or c in _REF_BAD_CHARS for c in name)
            or any(not part or part.startswith(".") or part.endswith(".lock") for part in parts)
        )
    if not ok:
        raise ConfigError(f"{where} {_show(name)} is not a valid git branch name: use a branch name such as "
                          "\"main\" (no leading '-', spaces, '..', '~^:?*[' or '@{')")
    return str(name)


_TOWN_DEFAULTS = tomllib.loads(TOWN_TEMPLATE)
_RIG_DEFAULTS = tomllib.loads(RIG_TEMPLATE.format(name="x", prefix="x"))
