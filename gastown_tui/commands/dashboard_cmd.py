"""``gt dashboard``: serve the cockpit in a browser (:mod:`gastown_tui.dashboard`, issue 21 part 7)."""

from __future__ import annotations

import click

from gastown_tui.clikit import town_from


@click.command("dashboard")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback unless --allow-remote)."
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="TCP port (0: any free one)."
)
@click.option("--allow-remote", is_flag=True, help="Allow a --host that other machines can reach.")
@click.pass_context
def dashboard(ctx: click.Context, host: str, port: int, allow_remote: bool) -> None:
    """Serve the cockpit in a browser, at a URL with a secret token, until Ctrl-C.

    Each browser tab runs a cockpit of its own on the town (textual-serve); a request without the
    token is refused (403). Only loopback by default: the dashboard drives the town's agents.
    """
    from gastown_tui.dashboard import Dashboard, check_host, serve

    check_host(host, allow_remote)
    town = town_from(ctx)
    board = Dashboard(town.root, host, port)

    def ready(url: str) -> None:
        click.echo(f"gt dashboard: the cockpit of {town.root} at {url}")
        click.echo("gt dashboard: keep the URL private (its token lets anyone drive your agents); Ctrl-C stops")

    serve(board, ready)


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(dashboard)
