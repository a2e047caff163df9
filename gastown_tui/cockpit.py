"""``gastown-tui``: the cockpit entry point. ``--no-ui`` runs the same engine headless (for CI);
``gastown-tui demo`` runs the whole system on a built-in demo town.
"""

from __future__ import annotations

import sys

import click

from core.errors import GtError
from gastown_tui import __version__
from gastown_tui.clikit import Seconds


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gastown-tui")
@click.option("--town", "town_path", metavar="PATH", help="Town directory (default: $GT_TOWN or the current town).")
@click.option("--no-ui", is_flag=True, help="Run the engine headless, without a screen.")
@click.pass_context
def cockpit(ctx: click.Context, town_path: str | None, no_ui: bool) -> None:
    """Open the gastown-tui cockpit on a town."""
    ctx.ensure_object(dict).update(town_path=town_path, no_ui=no_ui)
    if ctx.invoked_subcommand is None and no_ui:
        run_headless(town_path)
    elif ctx.invoked_subcommand is None:
        open_cockpit(town_path)


def open_cockpit(town_path: str | None) -> None:
    """``gastown-tui``: open the cockpit on the town (``--town``, else $GT_TOWN, else the current
    directory's). Raises NotATown, and DatabaseLost (before any screen is drawn) for a lost or
    diverged town database. The agents keep running in tmux after it closes. The garbage collector
    is off while it starts (the imports and the first frame make many objects, none garbage; the
    cockpit turns it back on once the first snapshot is drawn)."""
    import gc

    gc.disable()
    from core.beads.store import BeadStore
    from core.town import find_town
    from gastown_tui.app import run_cockpit

    town = find_town(town_path)
    with BeadStore(town):  # its open checks: a lost database is one line and exit 2, not an empty town
        pass
    rc = run_cockpit(town)
    if rc:
        sys.exit(rc)


def run_headless(town_path: str | None) -> None:
    """``gastown-tui --no-ui``: run the town's engine without a screen until SIGTERM or Ctrl-C
    (the same engine as ``gt up``). Raises NotATown, EngineRunning."""
    from core.engine import run_foreground
    from core.town import find_town

    town = find_town(town_path)

    def started(engine: object) -> None:
        click.echo(f"gastown-tui: engine up on {town.root} (no UI); stop it with SIGTERM or Ctrl-C", err=True)

    run_foreground(town, on_start=started)


@cockpit.command("run")
@click.option("--convoy", "convoy_id", metavar="ID", help="Run this convoy's open beads to its landing.")
@click.option("--formula", "formula_name", metavar="NAME", help="Pour this formula and run its steps.")
@click.option("--var", "var_pairs", multiple=True, metavar="KEY=VALUE", help="A formula variable (repeatable).")
@click.option("--rig", "rig_name", metavar="RIG", help="Rig that works the steps (and a convoy's town-level beads).")
@click.option("--agent", metavar="PRESET", help="Agent preset for every bead (e.g. sim).")
@click.option("--timeout", type=Seconds(), metavar="SECONDS", help="Give up after this long (exit 124).")
@click.option(
    "--summary",
    "summary_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Write the JSON summary of the run here.",
)
@click.option(
    "--tick",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Base timer of the engine loops, in seconds.",
)
@click.option(
    "--keep-going",
    "-k",
    is_flag=True,
    help="After a failure, go on until every other bead has landed or waits on a failed one.",
)
@click.pass_context
def run_cmd(
    ctx: click.Context,
    convoy_id: str | None,
    formula_name: str | None,
    var_pairs: tuple[str, ...],
    rig_name: str | None,
    agent: str | None,
    timeout: float | None,
    summary_path: str | None,
    tick: float,
    keep_going: bool,
) -> int:
    """Run a convoy (or a formula) headless to its end, for CI: exit 0 landed, 1 a bead failed,
    2 bad input, 124 timeout. Never opens the screen (--no-ui is implied)."""
    from pathlib import Path

    from core.town import find_town
    from gastown_tui.commands.formula_cmd import _vars as parse_vars
    from gastown_tui.headless import RunRequest, run_convoy

    town = find_town(ctx.obj.get("town_path"))
    req = RunRequest(
        convoy=convoy_id,
        formula=formula_name,
        values=parse_vars(var_pairs),
        rig=rig_name,
        agent=agent,
        timeout=timeout,
        summary=Path(summary_path).absolute() if summary_path else None,
        tick=tick,
        keep_going=keep_going,
    )
    return run_convoy(town, req)


@cockpit.command()
@click.option(
    "--dir",
    "town_dir",
    type=click.Path(file_okay=False),
    default="demo-town",
    show_default=True,
    help="Where the demo town lives (reused on a second run).",
)
@click.option(
    "--repo",
    type=click.Path(exists=True, file_okay=False),
    help="Use this git repository as the demo rig (default: the built-in wordstats project).",
)
@click.option("--gate", metavar="CMD", help="The test command of --repo (default: detected from its files).")
@click.option("--agents", type=int, default=3, show_default=True, help="Polecats working at once (1-8).")
@click.option(
    "--agent",
    default="sim",
    show_default=True,
    metavar="PRESET",
    help="Agent preset of the polecats (sim, or a real CLI such as claude).",
)
@click.option(
    "--timeout",
    type=Seconds(min=1),
    default=300,
    show_default=True,
    help="Give up after this many seconds (headless; exit 124).",
)
@click.option("--no-ui", "no_ui", is_flag=True, help="Run headless even on a terminal (as without one).")
@click.pass_context
def demo(
    ctx: click.Context,
    town_dir: str,
    repo: str | None,
    gate: str | None,
    agents: int,
    agent: str,
    timeout: float,
    no_ui: bool,
) -> int:
    """Run the whole system on a demo town: polecats work six beads, the refinery merges five and
    isolates the broken one. Opens the cockpit on a terminal; headless (--no-ui, or no terminal)
    it prints the run and exits 0 when the demo went as designed."""
    from pathlib import Path

    from gastown_tui.demo import run_demo

    ui = False if no_ui or ctx.obj.get("no_ui") else None
    return run_demo(
        Path(town_dir), Path(repo) if repo else None, agents=agents, agent=agent, gate=gate, ui=ui, timeout=timeout
    )


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
