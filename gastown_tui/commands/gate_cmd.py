"""``gt gate list|resolve``: the async gates formula steps wait on (beads ``bd gate``)."""

from __future__ import annotations

import click

from core.actor import current_actor
from gastown_tui.clikit import clip, emit_json, json_option, print_table, town_from


@click.group("gate")
def gate() -> None:
    """Async gates: gate beads that hold a formula step until resolved (timer, human, mail)."""


@gate.command("list")
@click.option("--all", "include_closed", is_flag=True, help="Include resolved gates.")
@json_option
@click.pass_context
def gate_list(ctx: click.Context, include_closed: bool, as_json: bool) -> None:
    """List gates (open ones; --all: resolved too), after resolving the timers and mails that are due."""
    from core import async_gates
    from core.beads import BeadStore

    store = BeadStore(town_from(ctx))
    try:
        async_gates.check(store)
        gates = async_gates.list_gates(store, include_closed)
    finally:
        store.disconnect()
    if as_json:
        emit_json([g.as_dict() for g in gates])
        return
    print_table(
        ["gate", "type", "waits for", "blocks", "status", "resolved by"],
        [
            [
                g.id,
                g.type,
                f"due {g.due_at}" if g.type == "timer" else clip(g.await_id, 40),
                ", ".join(g.blocks),
                g.status,
                "itself" if g.checked else "gt gate resolve",
            ]
            for g in gates
        ],
        empty="(no open gates)",
    )


@gate.command("resolve")
@click.argument("gate_id")
@click.option("--reason", default="", help="Why it is resolved (kept as the close reason).")
@click.option("--actor", default=None, help="Who is acting (default: $BD_ACTOR, the role, the user).")
@json_option
@click.pass_context
def gate_resolve(ctx: click.Context, gate_id: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Resolve gate GATE_ID by hand (any kind): the step it holds can start."""
    from core import async_gates
    from core.beads import BeadStore

    store = BeadStore(town_from(ctx))
    try:
        g = async_gates.resolve(store, gate_id, current_actor(actor), reason)
    finally:
        store.disconnect()
    if as_json:
        emit_json(g.as_dict())
        return
    click.echo(f"Resolved gate {g.id} ({g.type}); unblocked: {', '.join(g.blocks) or 'nothing'}")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(gate)
