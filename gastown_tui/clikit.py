"""Shared plumbing of the ``gt`` commands: finding the town, printing tables and JSON, and the one
boundary all their output crosses.

Output boundary (DESIGN section 7: agent text is printed without control sequences): :func:`plain_output`,
entered by :func:`gastown_tui.cli.main` around every command, puts a :class:`PlainTextWriter` in
front of stdout and stderr, so whatever a command prints (``click.echo``, ``print``, a table, an error
line) reaches the terminal through :func:`core.plaintext.strip_controls`: a bead title holding
``ESC ]0;...BEL``, ``ESC [2J`` or an OSC 52 clipboard write prints as its visible text only. JSON
output needs nothing more: ``json.dumps`` writes every control character as a ``\\u`` escape
(``ensure_ascii``), so it stays lossless. The two commands that draw a terminal on purpose say so:
:func:`own_terminal` (the sim agent in its tmux pane) and :func:`echo_with_colours` (``gt peek --ansi``).

Kept free of textual, pyte and rich so ``gt`` starts fast inside agent sessions.
"""

from __future__ import annotations

import io
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

import click

from core.plaintext import strip_controls
from gastown_tui.hookpath import clip as clip  # re-exported: the commands clip cells with it
from gastown_tui.hookpath import json_text, table_text

if TYPE_CHECKING:
    from core.town import Town


class PlainTextWriter(io.TextIOBase):
    """A text stream that writes to ``raw`` what :func:`core.plaintext.strip_controls` leaves of
    each write (chunk by chunk: a sequence split over two writes loses its ESC all the same).

    raw: the real stream (``sys.stdout``/``sys.stderr``). Encoding, errors, ``isatty`` and
    ``fileno`` are the raw stream's, so click treats it as that stream. Writing bytes raises TypeError.
    """

    def __init__(self, raw: IO[str]) -> None:
        super().__init__()
        self.raw = raw

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.raw, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.raw, "errors", None)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:  # type: ignore[override]
        """Write ``text`` stripped of escape sequences and controls; returns ``len(text)``."""
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.raw.write(strip_controls(text))
        return len(text)

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return self.raw.isatty()

    def fileno(self) -> int:
        return self.raw.fileno()


@contextmanager
def plain_output() -> Iterator[None]:
    """Within the block, ``sys.stdout`` and ``sys.stderr`` are :class:`PlainTextWriter` s over the
    streams they were (see the module docstring); restored on exit."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (s if s is None or isinstance(s, PlainTextWriter) else PlainTextWriter(s) for s in saved)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
        sys.stdout, sys.stderr = saved


def _raw(stream: Any) -> Any:
    return stream.raw if isinstance(stream, PlainTextWriter) else stream


def own_terminal() -> None:
    """Take the real stdout and stderr back for the rest of this process: for a command that is a
    terminal program drawing its own screen in its own tmux pane (``gt agent sim``, which shows bold
    text and its steps' output as any agent CLI does; tmux interprets it, and whoever shows that pane
    strips it again)."""
    sys.stdout, sys.stderr = _raw(sys.stdout), _raw(sys.stderr)


def echo_with_colours(text: str) -> None:
    """Print ``text`` (a screen capture) on stdout with its SGR colour sequences kept and every other
    escape sequence and control removed (``strip_controls(keep_sgr=True)``)."""
    out = _raw(sys.stdout)
    out.write(strip_controls(text, keep_sgr=True) + "\n")
    out.flush()


#: Largest count a ``--limit``-like option takes (more means "all" anyway; SQLite's 64-bit INTEGER takes it).
MAX_COUNT = 10**9
#: Longest duration a seconds option takes (about three years; well within what sleeps and waits accept).
MAX_SECONDS = 1e8


def count_type(min: int = 0) -> click.IntRange:
    """The type of a count option (``--limit``, ``--last``): an integer from ``min`` to :data:`MAX_COUNT`;
    anything else is a usage error (exit 2) naming the option, never an overflow deeper down."""
    return click.IntRange(min, MAX_COUNT)


class Seconds(click.FloatRange):
    """A duration in seconds: a finite number from ``min`` to :data:`MAX_SECONDS` (``nan`` and ``inf``
    are refused: a wait on them would never end). A bad value is a usage error (exit 2)."""

    name = "seconds"

    def __init__(self, min: float = 0.0) -> None:
        super().__init__(min, MAX_SECONDS)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number of seconds", param, ctx)
        return rv


def town_from(ctx: click.Context) -> Town:
    """The town for this invocation: ``--town``, else ``$GT_TOWN``, else the current directory's.

    Raises NotATown (exit 2) with how to make one.
    """
    from core.town import find_town  # tomlkit: not for gt --help

    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "town" not in obj:
        obj["town"] = find_town(obj.get("town_path"))
    return obj["town"]


def json_option(func: Any) -> Any:
    """Add ``--json`` (machine-readable output) to a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout (:func:`gastown_tui.hookpath.json_text`)."""
    click.echo(json_text(value))


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "(none)") -> None:
    """Print rows as a plain aligned text table (:func:`gastown_tui.hookpath.table_text`)."""
    click.echo(table_text(headers, rows, empty))


def fail(message: str, code: int = 2) -> None:
    """Print ``gt: message`` on stderr and exit with ``code``."""
    click.echo(f"gt: {message}", err=True)
    sys.exit(code)


class DefaultGroup(click.Group):
    """A group whose first word may be a subcommand or the start of its default form, as Gas Town's
    cobra commands take both (``gt escalate list`` and ``gt escalate "disk full"``; ``gt hook`` and
    ``gt hook BEAD``).

    default: the subcommand run when the first argument is not a subcommand's name (it gets that
    argument too). bare: the one run when there are no arguments or the first is an option
    (default: ``default``). ``-h``/``--help`` still show the group's own help.
    """

    def __init__(self, *args: Any, default: str, bare: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default = default
        self.bare = bare or default

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """``args`` with the default (or bare) subcommand's name put first when they name none."""
        if not args or args[0].startswith("-"):
            if not (args and args[0] in ctx.help_option_names):
                args = [self.bare, *args]
        elif args[0] not in self.commands:
            args = [self.default, *args]
        return super().parse_args(ctx, args)


def read_stdin() -> str:
    """All of stdin as text (``--stdin`` of ``gt mail send``, ``gt nudge``, ``gt escalate``: text
    with quotes and newlines, no shell quoting), trailing newlines removed. Raises GtError when
    stdin is a terminal (nothing was piped in)."""
    from core.errors import GtError

    if sys.stdin is None or sys.stdin.isatty():
        raise GtError("--stdin reads the text from a pipe: echo TEXT | gt ... --stdin (or use a here-document)")
    return sys.stdin.read().rstrip("\n")


def clear_screen() -> None:
    """Clear the terminal and put the cursor home (``gt status --watch`` redrawing its frame), only
    when stdout is a terminal: piped output gets the frames one after another."""
    out = _raw(sys.stdout)
    if out is not None and out.isatty():
        out.write("\x1b[H\x1b[2J")
        out.flush()
