"""``gt rig add|list|remove``."""

from __future__ import annotations

import click

from core.rigs import add_rig, list_rigs, remove_rig
from gastown_tui.clikit import emit_json, json_option, print_table, town_from


@click.group()
def rig() -> None:
    """Rigs: the projects (git repositories) of the town."""


@rig.command("add")
@click.argument("name")
@click.argument("url_or_path")
@click.option("--prefix", help="Bead prefix (2-8 chars); derived from NAME when omitted.")
@click.option("--branch", help="Default branch (detected from the repository when omitted).")
@click.pass_context
def rig_add(ctx: click.Context, name: str, url_or_path: str, prefix: str | None, branch: str | None) -> None:
    """Add rig NAME from a git URL or local path (cloned bare into NAME/.repo.git)."""
    r = add_rig(town_from(ctx), name, url_or_path, prefix=prefix, branch=branch)
    click.echo(f"Added rig {r.name} (prefix {r.prefix}, default branch {r.default_branch})")


@rig.command("list")
@json_option
@click.pass_context
def rig_list(ctx: click.Context, as_json: bool) -> None:
    """List the rigs."""
    rigs = [r.as_dict() for r in list_rigs(town_from(ctx))]
    if as_json:
        emit_json(rigs)
        return
    print_table(["name", "prefix", "branch", "gates", "url"],
                [[r["name"], r["prefix"], r["default_branch"], ",".join(r["gates"]) or "-", r["git_url"]]
                 for r in rigs], empty="No rigs yet: gt rig add NAME URL_OR_PATH")


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
