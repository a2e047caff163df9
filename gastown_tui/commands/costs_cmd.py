"""``gt costs [--by bead|convoy|rig|agent|day|model] [--since DURATION] [--json]`` (:mod:`core.costs`)."""

from __future__ import annotations

import time

import click

from core.costs import GROUPS, money
from gastown_tui.clikit import emit_json, json_option, print_table, town_from


@click.command("costs")
@click.option("--by", "by", type=click.Choice(GROUPS), default="bead", show_default=True, help="Group by.")
@click.option("--since", metavar="DURATION", help="Only usage newer than this (e.g. 30m, 2h, 1d).")
@json_option
@click.pass_context
def costs(ctx: click.Context, by: str, since: str | None, as_json: bool) -> None:
    """Tokens and US dollars the town's agents spent, per bead, convoy, rig, agent, day or model.

    Read from each runtime's own records (Claude Code's session files, Codex's rollouts) in this
    user's home; prices per million tokens are the built-in list prices unless town.toml's
    [costs.prices] sets them. A cost of "?" means a model has no price.
    """
    from core import costs as core_costs
    from core.beads.store import BeadStore
    from core.feed import parse_duration

    town = town_from(ctx)
    since_ts = time.time() - parse_duration(since) if since else None
    rows = core_costs.report(town, BeadStore(town), by, since_ts)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    total = sum(r.cost or 0.0 for r in rows)
    print_table(
        [by.upper(), "INPUT", "CACHE_READ", "CACHE_WRITE", "OUTPUT", "SESSIONS", "COST"],
        (
            [
                r.key or "(none)",
                r.tokens["input"],
                r.tokens["cache_read"],
                r.tokens["cache_write"],
                r.tokens["output"],
                r.sessions,
                money(r.cost),
            ]
            for r in rows
        ),
        empty="(no usage recorded)",
    )
    if rows:
        unpriced = sorted({m for r in rows for m in r.unpriced})
        click.echo(f"total {money(total)}" + (f" (no price for {', '.join(unpriced)})" if unpriced else ""))


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(costs)
