"""``gt handoff [-m NOTE]`` (:mod:`core.handoff`): end this polecat session and start a fresh one on the
same hook, carrying the note."""

from __future__ import annotations

import sys

import click

from gastown_tui.clikit import count_type, town_from


@click.command("handoff")
@click.option("-m", "--message", "note", default="", help="The note for your successor (what is done, what is next).")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the note from standard input.")
@click.option("--cycle", "cycle_bead", metavar="BEAD", hidden=True, help="Internal: the detached cycler.")
@click.option("--after", "after_pid", type=count_type(1), hidden=True, help="Internal: the pid the cycler waits for.")
@click.pass_context
def handoff(ctx: click.Context, note: str, from_stdin: bool, cycle_bead: str | None, after_pid: int | None) -> None:
    """End this polecat session and start a fresh one on the same hook, carrying NOTE.

    Run it from inside a polecat session (its worktree). The note goes on the hooked bead (a comment
    too); the new session's first prompt and its gt prime carry it. Work in the worktree stays.
    """
    from core import handoff as core_handoff
    from core import roles
    from core.beads.store import BeadStore

    town = town_from(ctx)
    if cycle_bead is not None:
        result = core_handoff.cycle(town, cycle_bead, after_pid)
        click.echo(f"{cycle_bead}: fresh session {result.session} for {result.polecat}")
        return
    if from_stdin:
        note = sys.stdin.read()
    role = roles.require_polecat(town)
    store = BeadStore(town)
    core_handoff.request(town, store, role, note)
    click.echo(f"{role.address}: handing off; this session ends in a moment and a fresh one takes the hook")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(handoff)
