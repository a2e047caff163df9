"""town.toml and rig.toml: the typed schema of every setting, the templates rendered from it, loading
that validates each file once with errors naming the file, key and value, and edits through tomlkit
that keep comments and ordering. Reading parses with the stdlib's ``tomllib`` (:func:`read_toml`):
every ``gt`` process reads town.toml, agents' per-prompt hooks included, and tomlkit's import costs
more than the parse; tomlkit is imported only to edit (:func:`edit_toml`).

The schema (:data:`TOWN_SETTINGS`, :data:`RIG_SETTINGS`) is the one owner of each setting's type,
default and comment: :data:`TOWN_TEMPLATE` and :data:`RIG_TEMPLATE` (what ``gt install`` and
``gt rig add`` write) are rendered from it, so a missing key in a user's file falls back to exactly
what the file documents; :func:`load_town_config` and :func:`load_rig_config` check every value
against its :class:`Kind` at load (one ConfigError line: file, key, the bad value, what is expected
and the fix); :func:`setting` (``town.setting``, ``rig.setting``) returns the value as its type
(seconds and fractions as float, counts and sizes as int, strings, lists of strings). A new setting is
one :class:`Setting` line here (with its comment) and a README line.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from core.atomic import atomic_write_text
from core.errors import ConfigError
from core.names import PREFIX
from core.records import Frozen

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

    from tomlkit.exceptions import ParseError
    from tomlkit.toml_document import TOMLDocument

# --------------------------------------------------------------------------------------------------
# Kinds: how a setting's value is checked and converted.


class Kind:
    """The type of a setting: :meth:`convert` checks a plain value and returns it typed,
    ``expected`` says what a good value is (for error lines), :meth:`fix` how to write one."""

    expected = "a value"

    def convert(self, value: Any) -> Any:
        """The typed value of ``value`` (plain Python, tomlkit items unwrapped). Raises ValueError or
        TypeError when it is not one."""
        return value

    def fix(self, key: str, default: Any) -> str:
        """The fix named in an error line for ``key``, with ``default`` (may be None) as example."""
        return f"set it to {_toml(default)}" if default is not None else "fix the value"

    def check(self, value: Any, path: str, label: str, default: Any) -> Any:
        """:meth:`convert`, or ConfigError ``PATH: LABEL must be EXPECTED, not VALUE: FIX``. path: the
        file ("" when unknown); label: the key as written in messages (``[witness] stall_after``)."""
        value = _plain(value)
        try:
            return self.convert(value)
        except (ValueError, TypeError):
            raise ConfigError(
                f"{_where(path, label)} must be {self.expected}, not {_show(value)}: "
                f"{self.fix(label.split()[-1], default)}"
            ) from None


class Number(Kind):
    """A finite number >= 0 (never a boolean or a quoted number), returned as float; ``whole``:
    a whole number, returned as int. unit: named in messages (``seconds``, ``bytes``)."""

    def __init__(self, unit: str = "", whole: bool = False) -> None:
        self.unit, self.whole = unit, whole
        of = f" of {unit}" if unit else ""
        self.expected = f"a whole number{of} >= 0" if whole else f"a finite number{of} >= 0"

    def convert(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(value)
        if not math.isfinite(value) or value < 0 or (self.whole and not float(value).is_integer()):
            raise ValueError(value)
        return int(value) if self.whole else float(value)

    def fix(self, key: str, default: Any) -> str:
        return f"set it to a number such as {default} (no quotes)"


SECONDS = Number("seconds")
COUNT = Number(whole=True)
BYTES = Number("bytes", whole=True)
FRACTION = Number()
USD = Number("US dollars")


class Text(Kind):
    """A string; ``choices``: one of them."""

    def __init__(self, choices: tuple[str, ...] = ()) -> None:
        self.choices = choices
        self.expected = "one of " + ", ".join(f'"{c}"' for c in choices) if choices else "a string"

    def convert(self, value: Any) -> Any:
        if not isinstance(value, str) or (self.choices and value not in self.choices):
            raise ValueError(value)
        return value

    def fix(self, key: str, default: Any) -> str:
        if self.choices:
            return f'set it to one of them, e.g. {key} = "{default if default is not None else self.choices[0]}"'
        return f'quote it, e.g. {key} = "{default if default is not None else "..."}"'


class Prefix(Kind):
    """A bead prefix (:data:`core.names.PREFIX`: 2-8 characters, a lowercase letter, then a-z 0-9)."""

    expected = "a bead prefix of 2-8 characters (a lowercase letter, then a-z 0-9)"

    def convert(self, value: Any) -> Any:
        if not isinstance(value, str) or not PREFIX.fullmatch(value):
            raise ValueError(value)
        return value

    def fix(self, key: str, default: Any) -> str:
        return f'set it to "{default}"' if default else f'set {key} = "xx" (the prefix of the rig\'s bead ids)'


class Branch(Kind):
    """A git branch name (:func:`check_branch_name`)."""

    def check(self, value: Any, path: str, label: str, default: Any) -> Any:
        return check_branch_name(_plain(value), _where(path, label))


class Strings(Kind):
    """A list of non-empty strings (glob patterns)."""

    expected = "a list of non-empty strings"

    def convert(self, value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError(value)
        return list(value)

    def check(self, value: Any, path: str, label: str, default: Any) -> Any:
        value = _plain(value)
        try:
            return self.convert(value)
        except (ValueError, TypeError):
            example = _toml(default[:2]) if default else '[".env*", "*.pem"]'
            raise ConfigError(
                f"{_where(path, label)} must be {self.expected} such as {example}, not {_show(value)}: fix it"
            ) from None


class CopyPaths(Kind):
    """``[worktree] copy``: a list of paths inside the checkout (:func:`check_copy_path`)."""

    expected = "a list"

    def check(self, value: Any, path: str, label: str, default: Any) -> Any:
        value = _plain(value)
        if not isinstance(value, list):
            raise ConfigError(f"{_where(path, label)} must be a list, not {_show(value)}: write it as [...]")
        for rel in value:
            check_copy_path(rel, path or "rig.toml")
        return list(value)


class Commands(Kind):
    """``[worktree] setup``: a list of argv lists of strings (or one command string each)."""

    expected = "a list"

    def check(self, value: Any, path: str, label: str, default: Any) -> Any:
        value = _plain(value)
        where = _where(path, label)
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, not {_show(value)}: write it as [...]")
        for argv in value:
            if not (isinstance(argv, str) and argv) and not (
                isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)
            ):
                raise ConfigError(
                    f'{where} entries must be argv lists of strings such as ["npm", "ci"] '
                    f"(got {_show(argv)}): fix the entry"
                )
        return list(value)


# --------------------------------------------------------------------------------------------------
# The schema: every setting of town.toml and rig.toml, in file order.


class Setting(Frozen):
    """One setting: its ``key``, :class:`Kind`, ``default`` (None: none), the ``comment`` written above
    it in the template (lines joined by newlines, without the ``# ``). required: it must be in the file
    (rig.toml's git_url, default_branch, prefix). written: False for a setting only shown as a commented
    example (a rig's own ``[secrets] patterns``), which then has no default."""

    __slots__ = _FIELDS = ("key", "kind", "default", "comment", "required", "written")
    key: str
    kind: Kind
    default: Any
    comment: str
    required: bool
    written: bool

    def __init__(
        self,
        key: str,
        kind: Kind,
        default: Any = None,
        comment: str = "",
        required: bool = False,
        written: bool = True,
    ) -> None:
        self._set(key, kind, default, comment, required, written)


class Section(Frozen):
    """A ``[name]`` table of settings (name None: the top-level keys). lead: comment lines written
    above the table's header. owner: the module that checks the table itself (``[gates]``:
    core.gates, ``[agents]``: core.runtimes); its keys are not settings here. header: False when the
    table is only shown in comments."""

    __slots__ = _FIELDS = ("name", "settings", "lead", "owner", "header")
    name: str | None
    settings: tuple[Setting, ...]
    lead: str
    owner: str
    header: bool

    def __init__(
        self,
        name: str | None,
        settings: tuple[Setting, ...] = (),
        lead: str = "",
        owner: str = "",
        header: bool = True,
    ) -> None:
        self._set(name, settings, lead, owner, header)

    def get(self, key: str) -> Setting | None:
        """The setting ``key`` of this table, or None."""
        return next((s for s in self.settings if s.key == key), None)


class Schema(Frozen):
    """The settings of one file (``name``: ``town.toml`` or ``rig.toml``): ``head``, comment lines
    opening the file; ``sections`` in file order."""

    __slots__ = _FIELDS = ("name", "head", "sections")
    name: str
    head: str
    sections: tuple[Section, ...]

    def __init__(self, name: str, head: str, sections: tuple[Section, ...]) -> None:
        self._set(name, head, sections)

    def section(self, name: str | None) -> Section | None:
        """The table ``name`` (None: top level), or None when the schema has no such table."""
        return next((s for s in self.sections if s.name == name), None)

    def setting(self, section: str | None, key: str) -> Setting | None:
        """The setting ``[section] key``, or None when the schema does not know it."""
        sec = self.section(section)
        return sec.get(key) if sec is not None and not sec.owner else None


#: The landing strategies of ``[merge_queue] strategy`` (:mod:`core.upstream`).
STRATEGIES = ("direct", "local", "pr")
#: Polecat name pools (the names themselves: core.namepool.THEMES).
NAME_POOLS = ("mad-max", "minerals", "birds")

TOWN_SETTINGS = Schema(
    "town.toml",
    """\
gastown-tui town configuration. Edit freely: gt keeps your comments and ordering.
Every setting is written out with its default; times are in seconds.""",
    (
        Section(
            None,
            (
                Setting(
                    "default_agent",
                    Text(),
                    "auto",
                    """\
Agent runtime used when `gt sling` gets no --agent. "auto" picks the first installed agent CLI
(claude, codex, gemini, ...) and falls back to the built-in "sim" agent.""",
                ),
                Setting(
                    "theme",
                    Text(),
                    "gastown",
                    """\
Cockpit theme: "gastown" (dark) or "gastown-light". The cockpit remembers your choice here.""",
                ),
            ),
        ),
        Section(
            "town",
            (
                Setting(
                    "prefix",
                    Prefix(),
                    "hq",
                    "Bead prefix of town-level beads (convoys, mail, escalations): ids look like hq-a3f8.",
                ),
            ),
        ),
        Section(
            "scheduler",
            (
                Setting("max_polecats", COUNT, 8, "Most polecats working at once in the whole town."),
                Setting("max_polecats_per_rig", COUNT, 4, "Most polecats working at once in any one rig."),
                Setting(
                    "spawn_delay",
                    SECONDS,
                    1.0,
                    "Pause between two session starts, so a burst of slings does not stampede the machine.",
                ),
            ),
        ),
        Section(
            "polecats",
            (
                Setting(
                    "namepool",
                    Text(NAME_POOLS),
                    "mad-max",
                    "Name pool polecats are named from: mad-max, minerals or birds.",
                ),
            ),
        ),
        Section(
            "witness",
            (
                Setting("patrol_interval", SECONDS, 30, "How often each rig's witness looks at its polecats."),
                Setting(
                    "spawn_grace",
                    SECONDS,
                    60,
                    'A polecat still "spawning" this long after its sling began is restarted (the sling died '
                    "half-way).",
                ),
                Setting(
                    "active_window", SECONDS, 60, 'A polecat whose transcript grew within this window is "working".'
                ),
                Setting("stall_after", SECONDS, 900, 'Hooked but silent this long: "stalled", nudged once per window.'),
                Setting(
                    "gupp_after", SECONDS, 1800, "Hooked with no commit, event or output this long: a GUPP violation."
                ),
                Setting(
                    "max_respawns",
                    COUNT,
                    3,
                    "Restarts of a dead session on the same bead before the bead is marked stuck and escalated.",
                ),
                Setting(
                    "stuck_retry_after",
                    SECONDS,
                    300,
                    """\
A stuck polecat is tried again after this long, doubling after each try (at most 3 tries), so one
stuck in a passing outage (a full disk) recovers; then it waits for a human.""",
                ),
            ),
        ),
        Section(
            "deacon",
            (
                Setting(
                    "patrol_interval",
                    SECONDS,
                    30,
                    "How often the town-level deacon reconciles hooks, convoys and escalations.",
                ),
                Setting(
                    "stale_after",
                    SECONDS,
                    3600,
                    "An unacknowledged escalation is raised again, one severity higher, after this long.",
                ),
                Setting(
                    "checkpoint_interval",
                    SECONDS,
                    300,
                    "Dirty polecat worktrees get a WIP checkpoint commit this often.",
                ),
            ),
        ),
        Section(
            "board",
            (
                Setting(
                    "town",
                    Text(),
                    "",
                    """\
This town's name on shared boards (gt board): lower-case letters, digits and "-". Empty: the town
directory's name.""",
                ),
                Setting(
                    "claim_ttl",
                    SECONDS,
                    300,
                    """\
A board claim expires this long after its last renewal; the engine renews this town's claims while
it runs, so a dead town's items return to the board.""",
                ),
                Setting("poll_interval", SECONDS, 30, "How often the engine fetches each board and acts on it."),
                Setting("timeout", SECONDS, 60, "Seconds a board fetch or push may take."),
            ),
        ),
        Section(
            "ledger",
            (
                Setting(
                    "commit_debounce",
                    SECONDS,
                    5.0,
                    "The beads ledger (.beads/issues.jsonl) is exported and committed this long after the last change.",
                ),
                Setting(
                    "shrink_guard_fraction",
                    FRACTION,
                    0.5,
                    """\
An export that would drop more than this fraction of the committed ledger's beads (and more than
shrink_guard_beads of them) is refused: a lost database must not wipe the ledger. Pass
--allow-shrink to gt bead export/sync when a shrink is meant.""",
                ),
                Setting("shrink_guard_beads", COUNT, 5, "... and more than this many beads."),
            ),
        ),
        Section(
            "logs",
            (
                Setting(
                    "max_bytes",
                    BYTES,
                    4194304,
                    "Each session transcript in .gastown/logs is rotated at this size (bytes).",
                ),
                Setting("keep", COUNT, 2, "Rotated transcripts kept per session."),
            ),
        ),
        Section(
            "secrets",
            (
                Setting(
                    "patterns",
                    Strings(),
                    [
                        ".env*",
                        "!.env.example",
                        "!.env.sample",
                        "*.pem",
                        "*.key",
                        "id_rsa*",
                        "id_dsa*",
                        "id_ecdsa*",
                        "id_ed25519*",
                    ],
                    """\
Files `gt done` refuses to commit or submit for merging, as globs: a pattern without "/" matches a
file's name in any directory, one with "/" the path from the worktree root, "!" exempts. A rig may set
its own list in its rig.toml ([secrets] patterns), which then replaces this one.""",
                ),
            ),
        ),
        Section(
            "budget",
            (
                Setting(
                    "per_day",
                    USD,
                    0,
                    "US dollars the town's agents may spend a day (UTC); once spent, slings are refused and the\n"
                    "Mayor gets a high escalation (gt costs shows the spending). 0: no limit.",
                ),
                Setting("per_convoy", USD, 0, "US dollars the beads of one convoy may spend (0: no limit)."),
            ),
        ),
        Section(
            "cockpit",
            (
                Setting(
                    "notify",
                    Text(("bell", "desktop", "off")),
                    "bell",
                    """\
When an agent starts waiting for input (a question, a permission prompt): "bell" rings the terminal
bell once, "desktop" also shows a desktop notification (notify-send, when installed), "off" neither.
The agents tree shows a "waiting for input" badge either way.""",
                ),
            ),
        ),
        Section(
            "costs",
            owner="core.costs",
            header=False,
            lead="""\
Prices in US dollars per million tokens by model (exact name or glob), over the built-in list prices:
  [costs.prices."claude-sonnet-*"]
  input = 3.0
  output = 15.0
  cache_read = 0.3
  cache_write = 3.75""",
        ),
        Section(
            "keys",
            owner="gastown_tui.screens.keys",
            header=False,
            lead="""\
Cockpit keys, rebound by binding id (the cockpit's help, `?`, lists every id), e.g.:
  [keys]
  sling = "S"
  detach = "ctrl+b"
  panel_agents = "1,a\"""",
        ),
        Section(
            "agents",
            owner="core.runtimes",
            lead="""\
Agent runtime presets. Add one or override a built-in, e.g.:
  [agents.claude]
  argv = ["claude", "--dangerously-skip-permissions", "--model", "opus"]
`gt config agent set NAME "CMD ARGS"` writes these for you.""",
        ),
    ),
)

RIG_SETTINGS = Schema(
    "rig.toml",
    "",
    (
        Section(
            None,
            (
                Setting(
                    "git_url",
                    Text(),
                    "",
                    'The repository: fetched from, and (strategy "direct" or "pr") pushed to.',
                    required=True,
                ),
                Setting(
                    "push_url",
                    Text(),
                    "",
                    """\
Push there instead of git_url when set (e.g. an SSH URL beside an HTTPS git_url). Credentials are
git's own (credential helpers, the SSH agent): gastown-tui never stores any.""",
                ),
                Setting("default_branch", Branch(), "main", required=True),
                Setting(
                    "prefix",
                    Prefix(),
                    "",
                    "Bead prefix of this rig: its beads are named like {prefix}-a3f8.",
                    required=True,
                ),
            ),
            lead="Rig {name}: one git repository and its agents.",
        ),
        Section(
            "gates",
            owner="core.gates",
            lead="""\
Verification gates, run in this order by the refinery on each batch before the default branch moves.
cmd is an argv list (no shell); timeout is in seconds. With no gates, a clean merge alone is enough.
  [gates.test]
  cmd = ["python", "-m", "pytest", "-q"]
  timeout = 600
Extra environment for the gates (they otherwise run with a clean environment):
  [gates.env]
  PYTHONDONTWRITEBYTECODE = "1\"""",
        ),
        Section(
            "merge_queue",
            (
                Setting(
                    "max_batch_size",
                    COUNT,
                    4,
                    "Merge requests merged and gated together; a red batch is bisected to find the culprits.",
                ),
                Setting(
                    "retry_flaky",
                    COUNT,
                    1,
                    "Run red gates again this many times before bisecting, and before a red half blames an MR "
                    "(flaky tests).",
                ),
                Setting(
                    "aging_step",
                    SECONDS,
                    3600,
                    """\
Queue order is priority, then age; a waiting MR gains one priority level per this many seconds,
so old MRs never starve behind a stream of urgent ones.""",
                ),
                Setting(
                    "strategy",
                    Text(STRATEGIES),
                    "direct",
                    """\
Where merged work lands. "direct": fetch the upstream default branch before each batch, stack the
batch on its tip, push the green tip there as a fast-forward (never a force push); a push refused
because upstream moved rebuilds the batch. "local": land in the rig's bare clone (.repo.git) only,
never writing the repository. "pr": push each branch upstream and open a pull request with gh.
gt rig add writes "direct" when git may push to the repository, else "local".""",
                ),
            ),
        ),
        Section(
            "upstream",
            (
                Setting(
                    "fetch_interval",
                    SECONDS,
                    300,
                    """\
How often the engine fetches the upstream default branch (0: only before a batch, on a sling and
on gt rig sync). The cockpit shows how far the rig is behind it.""",
                ),
                Setting("timeout", SECONDS, 120, "Seconds a fetch or a push may take."),
                Setting(
                    "sling_timeout",
                    SECONDS,
                    5,
                    """\
A sling fetches first (unless the last fetch is under 30 s old), waiting at most this long; offline
it starts from the rig's own tip, with an upstream_fetch_failed event.""",
                ),
                Setting(
                    "retry_after",
                    SECONDS,
                    30,
                    "After a refused or failed push the batch is tried again after this long, doubling per failure.",
                ),
                Setting("escalate_after", COUNT, 3, "Failed landings in a row before the Mayor gets an escalation."),
            ),
        ),
        Section(
            "worktree",
            (
                Setting(
                    "setup",
                    Commands(),
                    [],
                    'Commands run (argv lists) in each new polecat worktree, e.g. [["npm", "ci"]].',
                ),
                Setting(
                    "copy",
                    CopyPaths(),
                    [],
                    """\
Files copied into each new worktree from the rig's source checkout, e.g. [".env"]: paths inside the
checkout (no absolute paths, no ".."). They are listed in the repository's info/exclude, so no commit
picks them up.""",
                ),
            ),
        ),
        Section(
            "secrets",
            (Setting("patterns", Strings(), written=False),),
            header=False,
            lead="""\
Secret patterns of this rig, replacing the town's [secrets] patterns (town.toml), e.g.:
  [secrets]
  patterns = [".env*", "*.pem", "*.key", "id_rsa*", "config/credentials.json"]""",
        ),
    ),
)


def _toml(value: Any) -> str:
    """``value`` (str, bool, int, float or a list of them) written as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def _comment(text: str) -> list[str]:
    return [f"# {line}" if line else "#" for line in text.splitlines()]


def render_template(schema: Schema) -> str:
    """The file ``schema`` describes with every written setting at its default under its comment,
    tables separated by a blank line (:data:`TOWN_TEMPLATE`, :data:`RIG_TEMPLATE`)."""
    blocks = ["\n".join(_comment(schema.head))] if schema.head else []
    for section in schema.sections:
        lines = _comment(section.lead)
        if section.name is not None and section.header:
            lines.append(f"[{section.name}]")
        for s in section.settings:
            if s.written:
                lines += _comment(s.comment) + [f"{s.key} = {_toml(s.default)}"]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def defaults(schema: Schema) -> dict[str, Any]:
    """The default settings of ``schema`` as a plain dict: top-level keys, then one dict per table
    (empty for the tables their owner checks), as ``tomllib`` reads the rendered template."""
    out: dict[str, Any] = {}
    for section in schema.sections:
        values = {s.key: _copy(s.default) for s in section.settings if s.written}
        if section.name is None:
            out.update(values)
        elif section.header:
            out[section.name] = values
    return out


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


#: What ``gt install`` writes as ``town.toml`` (rendered from :data:`TOWN_SETTINGS`).
TOWN_TEMPLATE = render_template(TOWN_SETTINGS)
#: What ``gt rig add`` writes as ``rig.toml``, with ``{name}`` and ``{prefix}`` to format
#: (rendered from :data:`RIG_SETTINGS`).
RIG_TEMPLATE = render_template(RIG_SETTINGS)


def town_defaults() -> dict[str, Any]:
    """The default town settings as a plain dict (:data:`TOWN_SETTINGS`)."""
    return defaults(TOWN_SETTINGS)


def rig_defaults() -> dict[str, Any]:
    """The default rig settings as a plain dict (:data:`RIG_SETTINGS`)."""
    return defaults(RIG_SETTINGS)


def _read_text(p: Path) -> str:
    """The text of the config file ``p``. Raises ConfigError when it is missing, unreadable or not UTF-8."""
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{p} is missing: run 'gt install' to create the town") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start}): save the file as UTF-8") from exc
    except OSError as exc:
        raise ConfigError(f"{p}: cannot be read ({exc.strerror or exc}): check the file and its permissions") from exc


def load_toml(path: str | os.PathLike[str]) -> TOMLDocument:
    """Parse the TOML file at ``path`` with tomlkit (comments kept), to edit it (:func:`edit_toml`).

    Raises ConfigError naming the file and line when it is malformed, missing, unreadable or not UTF-8.
    """
    import tomlkit
    from tomlkit.exceptions import ParseError, TOMLKitError

    p = Path(path)
    text = _read_text(p)
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


#: Where tomllib's error message says the error is (Python 3.11-3.13: "... (at line 3, column 7)").
_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)$")


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse the TOML file at ``path`` with the stdlib's ``tomllib`` (TOML 1.0), for reading: plain
    Python values, no comments kept (to edit, :func:`edit_toml`).

    Raises ConfigError naming the file and line when it is malformed, missing, unreadable or not UTF-8,
    with the same lines as :func:`load_toml`.
    """
    import tomllib  # only for a command that reads a setting

    p = Path(path)
    text = _read_text(p)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        at = _AT_LINE.search(reason)
        if at is None:
            raise ConfigError(f"{p}: malformed TOML ({_one_line(exc)}): fix the file") from exc
        raise ConfigError(
            f"{p}:{at.group(1)}: malformed TOML ({_one_line(reason[: at.start()])}): fix that line"
        ) from exc
    except RecursionError as exc:
        raise ConfigError(f"{p}: malformed TOML (nested too deeply): flatten the nested arrays or tables") from exc


def _one_line(exc: BaseException | str) -> str:
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
    import tomlkit

    doc = load_toml(path)
    yield doc
    atomic_write_text(path, tomlkit.dumps(doc))


def setting(doc: Mapping[str, Any], section: str | None, key: str, schema: Schema | None = None) -> Any:
    """Value of ``[section] key`` (or a top-level ``key`` when section is None) of ``doc`` as its
    type (its :class:`Kind`: seconds and fractions float, counts and sizes int, ...), or its default
    when ``doc`` does not set it. schema: :data:`TOWN_SETTINGS` (the default) or :data:`RIG_SETTINGS`.
    A key the schema does not know is returned as written (plain Python values).

    Raises ConfigError for a bad value (only in a document not loaded by :func:`load_town_config` or
    :func:`load_rig_config`, which check every value) or a missing key without a default.
    """
    schema = TOWN_SETTINGS if schema is None else schema
    spec = schema.setting(section, key)
    src: Any = doc if section is None else doc.get(section, {})
    label = f"[{section}] {key}" if section else key
    if key in src:
        return spec.kind.check(src[key], "", label, spec.default) if spec is not None else _plain(src[key])
    if spec is not None and spec.default is not None:
        return spec.kind.convert(_copy(spec.default))
    raise ConfigError(f"setting {label} is missing and has no default: add it to the config file")


def load_town_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and validate ``town.toml`` at ``path`` (:func:`read_toml`, :func:`validate_settings`
    against :data:`TOWN_SETTINGS`; ``[agents]`` is checked by ``core.runtimes`` when presets are read).

    Raises ConfigError: one line naming the file, the key, the bad value and the fix."""
    doc = read_toml(path)
    validate_settings(doc, TOWN_SETTINGS, Path(path))
    keys_table(doc, Path(path))
    return doc


def keys_table(doc: Any, path: str | os.PathLike[str] = "") -> dict[str, str]:
    """The ``[keys]`` table of town.toml ``doc`` as {binding id: keys} ({} when there is none).

    Here only its shape is checked: a table whose keys are binding ids (letters, digits, ``_``,
    ``.``) and whose values are non-empty strings of comma-separated key names without spaces. The
    cockpit checks the ids and key names against its key table (``gastown_tui.screens.keys.keymap``).
    Raises ConfigError naming the file, the entry and the fix."""
    table = doc.get("keys") if hasattr(doc, "get") else None
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"{_where(str(path), '[keys]')} must be a table, not {_show(table)}: write a [keys] section")
    out: dict[str, str] = {}
    for kid, value in table.items():
        value = _plain(value)
        good = bool(kid) and all(c.isascii() and (c.isalnum() or c in "_.") for c in kid)
        label = f"[keys] {kid if good else _show(kid)}"
        if not good:
            raise ConfigError(f"{_where(str(path), label)}: not a binding id: ids are like sling, panel_agents")
        if not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value.strip()):
            raise ConfigError(
                f'{_where(str(path), label)} must be key names like "S" or "ctrl+b,f5", not {_show(value)}: '
                "quote it, comma-separated, no spaces"
            )
        out[str(kid)] = value.strip()
    return out


def load_rig_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse and validate a ``rig.toml`` at ``path``: every setting of :data:`RIG_SETTINGS` of its
    kind (``git_url``, ``default_branch`` and ``prefix`` present, the branch well-formed
    (:func:`check_branch_name`), ``[worktree] copy`` inside the worktree (:func:`check_copy_path`),
    ``[worktree] setup`` argv lists, ``[secrets] patterns`` a list of strings), ``[gates]`` as
    :func:`core.gates.load_gates` wants. Raises ConfigError naming the file, the key and the fix."""
    p = Path(path)
    doc = read_toml(p)
    validate_settings(doc, RIG_SETTINGS, p)
    if doc.get("gates", {}) != {}:  # none or an empty table: nothing to check (core.gates imports subprocess, uuid)
        from core.gates import load_gates  # the [gates] rules live with the gates

        load_gates(doc, str(p))
    return doc


def validate_settings(doc: Any, schema: Schema, path: Path) -> None:
    """Check every setting of ``doc`` that ``schema`` knows with its :class:`Kind` (numbers finite
    and >= 0, whole numbers for counts; strings, choices, prefixes, branch names; lists of strings),
    that each known table is a table and that required keys are there. Keys the schema does not know,
    and tables checked by their owner (``[gates]``, ``[agents]``), are left alone.

    Raises ConfigError naming ``path``, the key, the bad value, what is expected and the fix.
    """
    for section in schema.sections:
        if section.owner:
            continue
        table: Any = doc
        if section.name is not None:
            if section.name not in doc:
                continue
            table = doc[section.name]
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{path}: [{section.name}] must be a table, not {_show(table)}: write it as a "
                    f"[{section.name}] section"
                )
        for s in section.settings:
            label = f"[{section.name}] {s.key}" if section.name else s.key
            if s.key in table:
                s.kind.check(table[s.key], str(path), label, s.default)
            elif s.required:
                example = _toml(s.default) if s.default else '"..."'
                raise ConfigError(f"{path}: {label} is missing: add {s.key} = {example} (see 'gt rig add')")


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def _where(path: str, label: str) -> str:
    return f"{path}: {label}" if path else label


def _show(value: Any) -> str:
    """A short, escaped rendering of a config value for an error line."""
    text = repr(_plain(value))
    return text if len(text) <= 60 else text[:57] + "..."


def check_copy_path(rel: Any, path: str | os.PathLike[str]) -> str:
    """Check one ``[worktree] copy`` entry of the rig.toml at ``path``: a non-empty relative path, no
    ``..`` part, no backslash or control character. Returns it (``/``-separated). Raises ConfigError.
    Symlinks leading out are refused when copying (:func:`core.worktrees.copy_files`)."""
    if not isinstance(rel, str) or not rel.strip():
        raise ConfigError(f"{path}: [worktree] copy entries must be non-empty paths, not {_show(rel)}: fix the entry")
    parts = rel.split("/")
    bad = (
        rel.startswith(("/", "~"))
        or "\\" in rel
        or ".." in parts
        or any(ord(c) < 32 or ord(c) == 127 for c in rel)
        or all(part in ("", ".") for part in parts)
    )
    if bad:
        raise ConfigError(
            f"{path}: [worktree] copy entry {_show(rel)} reaches outside the worktree: give a path "
            'inside the checkout, such as ".env" or "config/local.json"'
        )
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
            name.startswith("-")
            or name in ("HEAD", "@")
            or "@{" in name
            or ".." in name
            or name.endswith(("/", "."))
            or any(ord(c) < 32 or c in _REF_BAD_CHARS for c in name)
            or any(not part or part.startswith(".") or part.endswith(".lock") for part in parts)
        )
    if not ok:
        raise ConfigError(
            f"{where} {_show(name)} is not a valid git branch name: use a branch name such as "
            "\"main\" (no leading '-', spaces, '..', '~^:?*[' or '@{')"
        )
    return str(name)
