"""``gastown-tui``: the cockpit entry point. ``--no-ui`` runs the same engine headless (for CI);
``gastown-tui demo`` runs the whole system on a built-in demo town.
"""

from __future__ import annotations

import sys

import click

from core.errors import GtError
from gastown_tui import __version__


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gastown-tui")
@click.option("--town", "town_path", metavar="PATH", help="Town directory (default: $GT_TOWN or the current town).")
@click.option("--no-ui", is_flag=True, help="Run the engine headless, without a screen.")
@click.pass_context
def cockpit(ctx: click.Context, town_path: str | None, no_ui: bool) -> None:
    """Open the gastown-tui cockpit on a town."""
    ctx.ensure_object(dict).update(town_path=town_path, no_ui=no_ui)
    if ctx.invoked_subcommand is None:
        click.echo("gastown-tui: the cockpit is not built yet (see the cockpit issue); use `gt` meanwhile.")


@cockpit.command()
@click.option("--repo", type=click.Path(exists=True, file_okay=False), help="Use this repository as the demo rig.")
@click.option("--agents", type=int, default=3, show_default=True, help="Polecats working at once.")
@click.pass_context
def demo(ctx: click.Context, repo: str | None, agents: int) -> None:
    """Run the whole system on a demo town (./demo-town)."""
    click.echo("gastown-tui demo: not yet. The environment is set up; the demo lands with the demo issue.")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gastown-tui`` console script."""
    try:
        rc = cockpit.main(args=argv, prog_name="gastown-tui", standalone_mode=False)
    except GtError as exc:
        click.echo(f"gastown-tui: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
