"""``gt board add|remove|list|post|items|claim|release|stamps``: shared wanted boards (core.board)."""

from __future__ import annotations

import time

import click

from gastown_tui.clikit import emit_json, json_option, print_table, town_from


@click.group("board")
def board_group() -> None:
    """Shared wanted boards over plain git: post beads, claim other towns' items, get work back as MRs."""


def _store(ctx: click.Context):  # type: ignore[no-untyped-def]
    from core.beads.store import BeadStore

    return BeadStore(town_from(ctx))


@board_group.command("add")
@click.argument("name")
@click.argument("url")
@json_option
@click.pass_context
def board_add(ctx: click.Context, name: str, url: str, as_json: bool) -> None:
    """Register board NAME at git URL (any remote this town may fetch from and push to)."""
    from core import board

    info = board.add(_store(ctx).db, name, url, actor="gt")
    if as_json:
        emit_json(info.as_dict())
        return
    click.echo(f"board {info.name}: {info.url} (this town is {board.town_name(town_from(ctx))} there)")


@board_group.command("remove")
@click.argument("name")
@click.pass_context
def board_remove(ctx: click.Context, name: str) -> None:
    """Forget board NAME (the board and its items are left as they are)."""
    from core import board

    board.remove(_store(ctx).db, name, actor="gt")
    click.echo(f"board {name} removed")


@board_group.command("list")
@json_option
@click.pass_context
def board_list(ctx: click.Context, as_json: bool) -> None:
    """List this town's boards (no network), with the last poll error of each."""
    from core import board, board_work

    db = _store(ctx).db
    found, faults = board.boards(db), board_work.faults(db)
    if as_json:
        emit_json([{**b.as_dict(), "error": faults.get(b.name, "")} for b in found])
        return
    print_table(["board", "url", "last error"], [[b.name, b.url, faults.get(b.name, "")] for b in found])


@board_group.command("post")
@click.argument("bead")
@click.option("--board", "board_name", help="The board (default: the only one).")
@json_option
@click.pass_context
def board_post(ctx: click.Context, bead: str, board_name: str | None, as_json: bool) -> None:
    """Publish BEAD to a board as a wanted item that other towns may claim."""
    from core import board

    item = board.post(town_from(ctx), _store(ctx), bead, board_name, actor="gt")
    if as_json:
        emit_json(item.as_dict())
        return
    click.echo(f"posted {item.id}: {item.title}")


@board_group.command("items")
@click.option("--board", "board_name", help="Only this board.")
@click.option("--all", "everything", is_flag=True, help="Closed items too.")
@json_option
@click.pass_context
def board_items(ctx: click.Context, board_name: str | None, everything: bool, as_json: bool) -> None:
    """List the boards' open items with their claims (fetches each board)."""
    from core import board_work

    town = town_from(ctx)
    found = board_work.rows(town, _store(ctx).db, board_name, everything=everything)
    if as_json:
        emit_json([r.as_dict() for r in found])
        return
    now = time.time()

    def claim(r: board_work.Row) -> str:
        if r.claim is None:
            return "-"
        left = r.claim.expires_at - now
        return f"{r.claim.town} ({left:.0f}s)" if left > 0 else f"{r.claim.town} (expired)"

    print_table(
        ["board", "item", "status", "from", "claim", "mine", "title"],
        [
            [
                r.board,
                r.item.id,
                r.item.status,
                r.item.town,
                claim(r),
                r.link.state if r.link else "",
                r.item.title[:60],
            ]
            for r in found
        ],
    )


@board_group.command("claim")
@click.argument("item")
@click.option("--rig", "rig_name", required=True, help="The rig (of the item's repository) that works it.")
@click.option("--board", "board_name", help="The board (default: the only one).")
@json_option
@click.pass_context
def board_claim(ctx: click.Context, item: str, rig_name: str, board_name: str | None, as_json: bool) -> None:
    """Claim ITEM for this town and import it as a bead of RIG (exactly one town wins)."""
    from core import board_work

    wanted, claim, bead = board_work.claim(town_from(ctx), _store(ctx), item, rig_name, board_name, actor="gt")
    if as_json:
        emit_json({"item": wanted.as_dict(), "claim": claim.as_dict(), "bead": bead})
        return
    click.echo(f"claimed {wanted.id} until {time.strftime('%H:%M:%S', time.localtime(claim.expires_at))}: bead {bead}")


@board_group.command("release")
@click.argument("item")
@click.option("--board", "board_name", help="The board (default: the only one).")
@click.pass_context
def board_release(ctx: click.Context, item: str, board_name: str | None) -> None:
    """Give this town's claim on ITEM back to the board."""
    from core import board_work

    board_work.release(town_from(ctx), _store(ctx), item, board_name, actor="gt")
    click.echo(f"released {item}")


@board_group.command("stamps")
@click.option("--board", "board_name", help="The board (default: the only one).")
@json_option
@click.pass_context
def board_stamps(ctx: click.Context, board_name: str | None, as_json: bool) -> None:
    """List the board's stamps: one per completed item (who, what, gates passed)."""
    from core import board, board_work

    town = town_from(ctx)
    mirror = board.Mirror(town, board.pick(_store(ctx).db, board_name))
    mirror.fetch()
    found = board_work.stamps(mirror)
    if as_json:
        emit_json(found)
        return
    print_table(
        ["item", "town", "owner", "merged", "title"],
        [[s.get("item"), s.get("town"), s.get("owner"), str(s.get("merged"))[:12], s.get("title")] for s in found],
    )


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(board_group)
