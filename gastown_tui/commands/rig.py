"""``gt rig add|list|remove|sync``."""

from __future__ import annotations

import click

from core.config import STRATEGIES
from core.rigs import add_rig, list_rigs, load_rig, remove_rig
from gastown_tui.clikit import emit_json, json_option, print_table, town_from


@click.group()
def rig() -> None:
    """Rigs: the projects (git repositories) of the town."""


@rig.command("add")
@click.argument("name")
@click.argument("url_or_path")
@click.option("--prefix", help="Bead prefix (2-8 chars); derived from NAME when omitted.")
@click.option("--branch", help="Default branch (detected from the repository when omitted).")
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    help="Where merged work lands: direct (push upstream), local (the rig's bare clone only) or pr "
    "(pull requests with gh). Default: direct when git may push to the repository, else local.",
)
@click.option("--push-url", help="Push merged work here instead of URL_OR_PATH.")
@click.pass_context
def rig_add(
    ctx: click.Context,
    name: str,
    url_or_path: str,
    prefix: str | None,
    branch: str | None,
    strategy: str | None,
    push_url: str | None,
) -> None:
    """Add rig NAME from a git URL or local path (cloned bare into NAME/.repo.git)."""
    r = add_rig(town_from(ctx), name, url_or_path, prefix=prefix, branch=branch, strategy=strategy, push_url=push_url)
    info = r.as_dict()
    where = {
        "direct": f"pushed to {info['push_url'] or r.git_url}",
        "local": f"kept in {r.repo_path}",
        "pr": f"pull requests on {info['push_url'] or r.git_url}",
    }[info["strategy"]]
    click.echo(
        f"Added rig {r.name} (prefix {r.prefix}, default branch {r.default_branch}); "
        f"landing {info['strategy']}: merged work is {where}"
    )


@rig.command("list")
@json_option
@click.pass_context
def rig_list(ctx: click.Context, as_json: bool) -> None:
    """List the rigs."""
    rigs = [r.as_dict() for r in list_rigs(town_from(ctx))]
    if as_json:
        emit_json(rigs)
        return
    print_table(
        ["name", "prefix", "branch", "gates", "landing", "url"],
        [
            [r["name"], r["prefix"], r["default_branch"], ",".join(r["gates"]) or "-", r["strategy"], r["git_url"]]
            for r in rigs
        ],
        empty="No rigs yet: gt rig add NAME URL_OR_PATH",
    )


@rig.command("sync")
@click.argument("name")
@json_option
@click.pass_context
def rig_sync(ctx: click.Context, name: str, as_json: bool) -> None:
    """Fetch rig NAME's upstream default branch now (new polecat worktrees start from it)."""
    from core import upstream
    from core.actor import current_actor
    from core.db import connect

    town = town_from(ctx)
    r = load_rig(town, name)
    st = upstream.sync(town, r, connect(town.db_path), actor=current_actor())
    if as_json:
        emit_json({**st.as_dict(), "url": upstream.fetch_url(r), "strategy": upstream.strategy(r)})
        return
    behind = "?" if st.behind is None else st.behind
    ahead = "?" if st.ahead is None else st.ahead
    click.echo(
        f"Fetched {r.default_branch} of {upstream.fetch_url(r)}: at {(st.tip or '?')[:12]}; the rig's "
        f"{r.default_branch} is {behind} behind, {ahead} ahead"
    )


@rig.command("remove")
@click.argument("name")
@click.option("--force", is_flag=True, help="Remove even while polecats or crew workspaces hold work.")
@click.pass_context
def rig_remove(ctx: click.Context, name: str, force: bool) -> None:
    """Remove rig NAME and its worktrees."""
    remove_rig(town_from(ctx), name, force=force)
    click.echo(f"Removed rig {name}")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(rig)
