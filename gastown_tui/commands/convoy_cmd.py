"""``gt convoy create|add|list|show|status|close|land|check``: tracked bundles of beads (``core.convoys``)."""

from __future__ import annotations

import click

from core import convoys
from core.actor import current_actor
from core.beads import BeadStore
from core.town import Town
from gastown_tui.clikit import clip, emit_json, json_option, print_table, town_from


def _open(ctx: click.Context) -> tuple[Town, BeadStore]:
    town = town_from(ctx)
    store = BeadStore(town)
    ctx.call_on_close(store.disconnect)
    return town, store


def _bar(done: int, total: int, width: int = 10) -> str:
    filled = round(width * done / total) if total else 0
    return "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{total}"


def _print(convoy: convoys.Convoy) -> None:
    click.echo(f"{convoy.id}  {convoy.name}  {convoy.state}  {_bar(convoy.done, convoy.total)}")
    if convoy.notify:
        click.echo(f"notify: {convoy.notify}")
    if convoy.metadata.get("molecule"):
        click.echo(f"molecule: {convoy.metadata['molecule']} (formula {convoy.metadata.get('formula', '?')})")
    print_table(
        ["bead", "status", "polecat", "mr", "title"],
        [
            [
                t.id,
                t.status,
                t.polecat or t.assignee or "-",
                f"{t.mr} ({t.mr_status})" if t.mr else "-",
                clip(t.title, 60),
            ]
            for t in convoy.tracked
        ],
        empty="(tracks no beads yet: gt convoy add ID BEAD...)",
    )


actor_option = click.option("--actor", default=None, help="Who is acting (default: $BD_ACTOR, the role, the user).")


@click.group()
def convoy() -> None:
    """Convoys: bundles of beads that land together when all are closed."""


@convoy.command("create")
@click.argument("name")
@click.argument("beads", nargs=-1)
@click.option(
    "--notify",
    default=None,
    is_flag=False,
    flag_value="mayor/",
    metavar="ADDR",
    help="Mail ADDR (default with the bare flag: mayor/) when the convoy lands.",
)
@actor_option
@json_option
@click.pass_context
def convoy_create(
    ctx: click.Context, name: str, beads: tuple[str, ...], notify: str | None, actor: str | None, as_json: bool
) -> None:
    """Create convoy NAME tracking BEADS."""
    town, store = _open(ctx)
    c = convoys.create(store, name, beads, actor=current_actor(actor), notify=notify)
    if as_json:
        emit_json(c.as_dict())
        return
    click.echo(f"Created convoy {c.id} ({c.name}) tracking {c.total} bead(s)")


@convoy.command("add")
@click.argument("convoy_id", metavar="CONVOY")
@click.argument("beads", nargs=-1, required=True)
@actor_option
@json_option
@click.pass_context
def convoy_add(ctx: click.Context, convoy_id: str, beads: tuple[str, ...], actor: str | None, as_json: bool) -> None:
    """Track BEADS with CONVOY (a landed or closed convoy is reopened)."""
    town, store = _open(ctx)
    c = convoys.add(store, convoy_id, beads, actor=current_actor(actor))
    if as_json:
        emit_json(c.as_dict())
        return
    click.echo(f"Convoy {c.id} now tracks {c.total} bead(s) ({c.done} done)")


@convoy.command("list")
@click.option("--state", "--status", type=click.Choice(["open", "landed", "closed", "all"]), default=None)
@click.option("--all", "every", is_flag=True, help="Every convoy, whatever its state (same as --state all).")
@json_option
@click.pass_context
def convoy_list(ctx: click.Context, state: str | None, every: bool, as_json: bool) -> None:
    """List convoys with their progress (open ones unless --state or --all)."""
    if every and state not in (None, "all"):
        raise click.UsageError(f"--all lists every state: drop --state {state}")
    state = "all" if every else state or "open"
    _town, store = _open(ctx)
    rows = convoys.list_convoys(store, None if state == "all" else state)
    if as_json:
        emit_json([c.as_dict() for c in rows])
        return
    print_table(
        ["id", "state", "progress", "name"],
        [[c.id, c.state, _bar(c.done, c.total), c.name] for c in rows],
        empty=f"No {'' if state == 'all' else state + ' '}convoys: gt convoy create NAME BEADS...",
    )


@convoy.command("show")
@click.argument("convoy_id", metavar="CONVOY")
@json_option
@click.pass_context
def convoy_show(ctx: click.Context, convoy_id: str, as_json: bool) -> None:
    """Show CONVOY: progress and each tracked bead's state, polecat and merge request."""
    _town, store = _open(ctx)
    c = convoys.get(store, convoy_id, mr_lookup=convoys.mr_lookup(store.db))
    if as_json:
        emit_json(c.as_dict())
        return
    _print(c)


@convoy.command("status")
@click.argument("convoy_id", metavar="[CONVOY]", required=False)
@json_option
@click.pass_context
def convoy_status(ctx: click.Context, convoy_id: str | None, as_json: bool) -> None:
    """Show CONVOY as 'show' does; without CONVOY, every open convoy (Gas Town's gt convoy status)."""
    _town, store = _open(ctx)
    lookup = convoys.mr_lookup(store.db)
    if convoy_id is not None:
        rows = [convoys.get(store, convoy_id, mr_lookup=lookup)]
    else:
        rows = convoys.list_convoys(store, "open", mr_lookup=lookup)
    if as_json:
        emit_json(rows[0].as_dict() if convoy_id is not None else [c.as_dict() for c in rows])
        return
    if not rows:
        click.echo("No open convoys: gt convoy create NAME BEADS...")
    for i, c in enumerate(rows):
        if i:
            click.echo("")
        _print(c)


@convoy.command("close")
@click.argument("convoy_id", metavar="CONVOY")
@click.option("--reason", default="closed", show_default=True, help="Why it is closed.")
@actor_option
@json_option
@click.pass_context
def convoy_close(ctx: click.Context, convoy_id: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Close CONVOY whatever the state of its beads (they are left as they are)."""
    town, store = _open(ctx)
    c = convoys.close(store, convoy_id, actor=current_actor(actor), reason=reason)
    _report(c, as_json, f"Closed convoy {c.id} ({c.done}/{c.total} done)")


@convoy.command("land")
@click.argument("convoy_id", metavar="CONVOY")
@actor_option
@json_option
@click.pass_context
def convoy_land(ctx: click.Context, convoy_id: str, actor: str | None, as_json: bool) -> None:
    """Land CONVOY: all its beads must be closed; notifies its --notify address."""
    town, store = _open(ctx)
    c = convoys.land(store, convoy_id, actor=current_actor(actor))
    _report(c, as_json, f"Convoy {c.id} landed ({c.total} beads)")


@convoy.command("check")
@actor_option
@json_option
@click.pass_context
def convoy_check(ctx: click.Context, actor: str | None, as_json: bool) -> None:
    """Land every open convoy whose beads are all closed (what the deacon does on each patrol)."""
    town, store = _open(ctx)
    landed = convoys.check_all(store, actor=current_actor(actor))
    if as_json:
        emit_json({"landed": landed})
        return
    click.echo(f"Landed {', '.join(landed)}" if landed else "No convoy ready to land")


def _report(c: convoys.Convoy, as_json: bool, text: str) -> None:
    if as_json:
        emit_json(c.as_dict())
    else:
        click.echo(text)


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(convoy)
