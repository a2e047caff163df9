"""``gt install``: create a town."""

from __future__ import annotations

import click

from core.town import install_town


@click.command()
@click.argument("path", type=click.Path(file_okay=True, dir_okay=True))
@click.option(
    "--git/--no-git",
    "use_git",
    default=True,
    show_default=True,
    help="Make the town a git repository (the ledger is committed there).",
)
def install(path: str, use_git: bool) -> None:
    """Create a town at PATH (idempotent on an existing town)."""
    town, created = install_town(path, use_git=use_git)
    if created:
        click.echo(f"Created town {town.root}")
        click.echo(f"Next: cd {town.root} && gt rig add NAME /path/to/repo")
    else:
        click.echo(f"{town.root} is already a town; nothing overwritten")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(install)
