"""``gt``: the command line that humans and agents call (``gt sling``, ``gt done``, ``gt bead ...``).

Thin by design: each command parses its arguments, calls one ``core`` function and prints. Every
refused operation is a :class:`core.errors.GtError`, printed as one line on stderr with exit code 2.

Agents call ``gt`` constantly, so start-up matters: the root group imports a command's module only when
that command runs (:class:`LazyGroup` over the static :data:`COMMANDS` map); ``gt --help`` imports none.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from core.errors import GtError
from core.plaintext import one_line
from gastown_tui import __version__
from gastown_tui.clikit import plain_output
from gastown_tui.hookpath import after_command, error_line, report
from gastown_tui.hookpath import undecodable_argument as undecodable_argument  # re-exported (gastown_tui.bd)

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem


class LazyCommand(NamedTuple):
    """Where a lazily loaded ``gt`` subcommand lives, and its one-line help for ``gt --help``.

    module: dotted module path. attribute: the click command object in it. help: the command's short
    help as click derives it (the first sentence of its docstring), so listing needs no import.
    """

    module: str
    attribute: str
    help: str


def _cmd(module: str, attribute: str, help: str) -> LazyCommand:
    """A :class:`LazyCommand` for ``attribute`` of ``gastown_tui.commands.<module>``."""
    return LazyCommand(f"gastown_tui.commands.{module}", attribute, help)


#: Every subcommand of ``gt`` by name. tests/test_cli_lazy.py checks that this matches what each
#: ``gastown_tui.commands`` module's ``register(group)`` adds: update both when adding a command.
COMMANDS: dict[str, LazyCommand] = {
    "agent": _cmd("session_cmd", "agent", "Built-in agents."),
    "agents": _cmd(
        "session_cmd",
        "agents",
        "List the town's agents by rig: the Mayor, each rig's witness, refinery and crew (-a: polecats).",
    ),
    "board": _cmd(
        "board_cmd",
        "board_group",
        "Shared wanted boards over plain git: post beads, claim other towns' items, get work back as MRs.",
    ),
    "bead": _cmd("bead", "bead", "Beads: the town's issue ledger (create, list, ready, claim, close, dependencies)."),
    "broadcast": _cmd("nudge_cmd", "broadcast", "Nudge every working polecat with TEXT."),
    "checkpoint": _cmd(
        "polecat_cmd", "checkpoint", "Commit a polecat's uncommitted work as a WIP commit on its branch."
    ),
    "config": _cmd("config_cmd", "config", "Show or edit the town configuration (town.toml)."),
    "convoy": _cmd("convoy_cmd", "convoy", "Convoys: bundles of beads that land together when all are closed."),
    "costs": _cmd(
        "costs_cmd",
        "costs",
        "Tokens and US dollars the town's agents spent, per bead, convoy, rig, agent, day or model.",
    ),
    "crew": _cmd(
        "crew_cmd", "crew", "Crew workspaces: your own worktrees of a rig, on branch crew/NAME, merged by the refinery."
    ),
    "dashboard": _cmd(
        "dashboard_cmd", "dashboard", "Serve the cockpit in a browser, at a URL with a secret token, until Ctrl-C."
    ),
    "doctor": _cmd(
        "doctor_cmd",
        "doctor",
        "Check the town: config, database and ledger, repositories, worktrees, sessions, locks, tools and agents.",
    ),
    "done": _cmd(
        "polecat_cmd", "done_cmd", "Finish the work on the hook: commit leftovers, queue a merge request, go idle."
    ),
    "down": _cmd("engine_cmd", "down", "Stop the town's engine (SIGTERM, then wait for it to exit)."),
    "escalate": _cmd(
        "nudge_cmd",
        "escalate",
        "Raise a problem to the Mayor: an escalation bead plus mail, raised again while unacknowledged.",
    ),
    "feed": _cmd("engine_cmd", "feed_cmd", "The town's event stream, oldest first (JSON: one object per line)."),
    "formula": _cmd(
        "formula_cmd", "formula", "Formulas: workflow templates (town, rig, built-in) poured into molecules of beads."
    ),
    "gate": _cmd(
        "gate_cmd", "gate", "Async gates: gate beads that hold a formula step until resolved (timer, human, mail)."
    ),
    "handoff": _cmd(
        "handoff_cmd", "handoff", "End this polecat session and start a fresh one on the same hook, carrying NOTE."
    ),
    "hook": _cmd(
        "polecat_cmd", "hook", "Show what is on a polecat's hook, or attach work to it (gt hook BEAD [RIG/POLECAT])."
    ),
    "install": _cmd("town_cmd", "install", "Create a town at PATH (idempotent on an existing town)."),
    "mail": _cmd("mail_cmd", "mail_group", "Mail between the Mayor, the deacon, witnesses, refineries and polecats."),
    "mayor": _cmd("session_cmd", "mayor", "The Mayor: the coordinator session you talk to."),
    "mq": _cmd("mq_cmd", "mq_group", "The merge queue: merge requests waiting for each rig's refinery."),
    "namepool": _cmd("polecat_cmd", "namepool_cmd", "List the polecat name pools, or set the town's pool to THEME."),
    "nudge": _cmd(
        "nudge_cmd",
        "nudge_cmd",
        "Type TEXT into TARGET's session (a session name, mayor, <rig>/<polecat> or <rig>/polecats/<name>).",
    ),
    "peek": _cmd(
        "session_cmd", "peek", "Print the recent screen of session NAME; without NAME, list the town's sessions."
    ),
    "polecat": _cmd("polecat_cmd", "polecat", "Polecats: the worker agents of each rig."),
    "prime": _cmd(
        "polecat_cmd",
        "prime",
        "Print the brief for the calling agent: role, hooked bead, steps, mail and rules (Markdown).",
    ),
    "ready": _cmd("bead", "ready_shortcut", "Ready beads (shortcut for 'gt bead ready')."),
    "rig": _cmd("rig", "rig", "Rigs: the projects (git repositories) of the town."),
    "seance": _cmd(
        "seance_cmd",
        "seance",
        "What the sessions before you did on a bead or as a polecat, in Markdown; --ask one of them.",
    ),
    "sling": _cmd(
        "polecat_cmd", "sling", "Hook BEAD(s) to polecats of RIG and start them (gt sling --resume BEAD restarts one)."
    ),
    "status": _cmd(
        "engine_cmd", "status", "Town summary: engine, rigs, polecats by state, queues, open convoys and escalations."
    ),
    "unsling": _cmd(
        "polecat_cmd", "unsling", "Take BEAD off its polecat's hook (session stopped, bead open again, worktree kept)."
    ),
    "up": _cmd(
        "engine_cmd", "up", "Run the town's engine (scheduler, witnesses, deacon, refineries) until SIGTERM or Ctrl-C."
    ),
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that command is run or completed into.

    lazy_commands: name -> :class:`LazyCommand`. Commands added eagerly (``@group.command``) work as
    usual. ``--help`` and shell completion of command names list the lazy commands from their stored
    help, so they import none of the command modules.
    """

    def __init__(self, *args: object, lazy_commands: Mapping[str, LazyCommand], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command name, eager and lazy, sorted."""
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command called ``cmd_name`` (importing its module on first use), or None if unknown."""
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            spec = self.lazy_commands[cmd_name]
            self.add_command(getattr(importlib.import_module(spec.module), spec.attribute), cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """The command ``args[0]`` names; an unknown name is a usage error (exit 2) with click's
        "Did you mean" over every command, lazy ones included (``gt sligg`` suggests ``sling``)."""
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def _listing(self, ctx: click.Context) -> list[tuple[str, click.Command]]:
        """(name, command) of the visible commands; a lazy one not loaded yet is a help-only stand-in."""
        listing = []
        for name in self.list_commands(ctx):
            cmd = self.commands.get(name) or click.Command(name, help=self.lazy_commands[name].help)
            if not cmd.hidden:
                listing.append((name, cmd))
        return listing

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The "Commands" section of ``--help``, as click writes it, without importing lazy commands."""
        listing = self._listing(ctx)
        if not listing:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in listing)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in listing])

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        """Completions for a command name (and the group's options), without importing lazy commands."""
        from click.shell_completion import CompletionItem

        items = [
            CompletionItem(name, help=cmd.get_short_help_str())
            for name, cmd in self._listing(ctx)
            if name.startswith(incomplete)
        ]
        return items + click.Command.shell_complete(self, ctx, incomplete)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="gt")
@click.option(
    "--town",
    "town_path",
    metavar="PATH",
    envvar=None,
    help="Town directory (default: $GT_TOWN, else the town containing the current directory).",
)
@click.pass_context
def cli(ctx: click.Context, town_path: str | None) -> None:
    """Gas Town command line: towns, rigs, beads, polecats, convoys and the merge queue."""
    ctx.ensure_object(dict)["town_path"] = town_path


def _after_command(state: dict[str, object]) -> None:
    """After a command that used a town and ran to its end (a batch sling exits 2 after slinging the
    beads it could): :func:`gastown_tui.hookpath.after_command` (the ledger sync request if it
    changed beads)."""
    town: Any = state.get("town")  # a core.town.Town once a command asked for one (gt --help did not)
    if town is not None:
        after_command(town)


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (e.g. eval "$(gt completion bash)")."""
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None  # click ships bash, zsh and fish
    comp = cls(cli, {}, "gt", "_GT_COMPLETE")
    click.echo(comp.source())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gt`` console script. Exits 0 on success, 2 on bad input or refusal.

    Everything a command prints goes through :func:`gastown_tui.clikit.plain_output` (escape
    sequences and controls removed). An argument that is not valid UTF-8 is refused (exit 2) before
    any command runs; a path the system refuses (an OSError naming a file) is one line and exit 2.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    with plain_output():
        sys.exit(_run(args))


def _run(args: list[str]) -> int:
    """Run ``gt ARGS``; the exit status (errors printed as one line on stderr). Then, for a command
    that ran to its end (exit 0, or the status it chose: a refusal raises and changes nothing), the
    ledger sync request if it changed beads (:func:`_after_command`)."""
    bad = undecodable_argument(args)
    if bad is not None:
        click.echo(f"gt: {bad}", err=True)
        return 2
    state: dict[str, object] = {}
    rc = _invoke(args, state)
    if state.get("completed"):
        _after_command(state)
    return rc


def _invoke(args: list[str], state: dict[str, object]) -> int:
    """``cli.main`` on ``args`` with ``state`` as the root context's object; errors printed as one line."""
    try:
        rc = cli.main(args=args, prog_name="gt", standalone_mode=False, obj=state)
        state["completed"] = True  # its own exit status too (click's Exit): a refusal changed nothing
    except GtError as exc:
        click.echo(error_line(exc), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:  # one line, as every refusal: what is wrong and where the help is
        where = exc.ctx.command_path if exc.ctx is not None else "gt"
        click.echo(f"gt: {one_line(exc.format_message())} (see '{where} --help')", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("gt: aborted", err=True)
        return 130
    except Exception as exc:  # a closed stdout, a path the system refuses, a corrupt page met after the open
        line = report(exc)
        if line is None:
            raise
        if line[0]:
            click.echo(f"gt: {line[0]}", err=True)
        return line[1]
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    main()
