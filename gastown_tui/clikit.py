"""Shared plumbing of the ``gt`` commands: finding the town, printing tables and JSON.

Kept free of textual, pyte and rich so ``gt`` starts fast inside agent sessions.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from core.town import Town, find_town


def town_from(ctx: click.Context) -> Town:
    """The town for this invocation: ``--town``, else ``$GT_TOWN``, else the current directory's.

    Raises NotATown (exit 2) with how to make one.
    """
    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "town" not in obj:
        obj["town"] = find_town(obj.get("town_path"))
    return obj["town"]


pass_town = click.make_pass_decorator(Town, ensure=False)


def json_option(func: Any) -> Any:
    """Add ``--json`` (machine-readable output) to a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "(none)") -> None:
    """Print rows as a plain aligned text table (no colour, safe to pipe)."""
    rows = [["" if c is None else str(c) for c in row] for row in rows]
    if not rows:
        click.echo(empty)
        return
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join(h.upper().ljust(widths[i]) for i, h in enumerate(headers))
    click.echo(line.rstrip())
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def fail(message: str, code: int = 2) -> None:
    """Print ``gt: message`` on stderr and exit with ``code``."""
    click.echo(f"gt: {message}", err=True)
    sys.exit(code)
