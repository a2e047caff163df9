"""``gt``: the command line that humans and agents call (``gt sling``, ``gt done``, ``gt bead ...``).

Thin by design: each command parses its arguments, calls one ``core`` function and prints. Every
refused operation is a :class:`core.errors.GtError`, printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import click

from core.errors import GtError
from gastown_tui import __version__
from gastown_tui import commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gt")
@click.option("--town", "town_path", metavar="PATH", envvar=None,
              help="Town directory (default: $GT_TOWN, else the town containing the current directory).")
@click.pass_context
def cli(ctx: click.Context, town_path: str | None) -> None:
    """Gas Town command line: towns, rigs, beads, polecats, convoys and the merge queue."""
    ctx.ensure_object(dict)["town_path"] = town_path


@cli.result_callback()
@click.pass_context
def _after_command(ctx: click.Context, *_: object, **__: object) -> None:
    """After any command that used a town: if it changed beads, ask for the ledger to be committed
    (debounced; the running engine does it when there is one)."""
    town = ctx.find_root().ensure_object(dict).get("town")
    if town is None or not town.db_path.exists():
        return
    from core.beads import sync
    from core.beads.store import BeadStore

    with BeadStore(town) as store:
        if store.dirty():
            sync.request_sync(town, store)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (e.g. eval "$(gt completion bash)")."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # click ships bash, zsh and fish
    comp = cls(cli, {}, "gt", "_GT_COMPLETE")
    click.echo(comp.source())


def _register_commands() -> None:
    """Add every ``gastown_tui.commands`` module's commands (each module has ``register(group)``)."""
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(cli)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gt`` console script. Exits 0 on success, 2 on bad input or refusal."""
    try:
        rc = cli.main(args=argv, prog_name="gt", standalone_mode=False)
    except GtError as exc:
        click.echo(f"gt: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("gt: aborted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
