"""``gt crew add|list|at|remove|start|stop|sync``: humans' worktrees inside a rig (:mod:`core.crew`)."""

from __future__ import annotations

import click

from core import crew as crew_mod
from core.actor import current_actor
from gastown_tui.clikit import emit_json, json_option, print_table, town_from


@click.group()
def crew() -> None:
    """Crew workspaces: your own worktrees of a rig, on branch crew/NAME, merged by the refinery."""


@crew.command("add")
@click.argument("name")
@click.option("--rig", required=True, help="The rig to add the workspace to.")
@json_option
@click.pass_context
def crew_add(ctx: click.Context, name: str, rig: str, as_json: bool) -> None:
    """Add crew workspace NAME to RIG: a worktree at <rig>/crew/NAME on a new branch crew/NAME."""
    c = crew_mod.add(town_from(ctx), rig, name, actor=current_actor())
    if as_json:
        emit_json(c.as_dict())
        return
    click.echo(f"Added crew workspace {c.address} on {c.branch} at {c.path}")
    click.echo(f"  cd \"$(gt crew at {c.name} --rig {c.rig})\", commit, then 'gt done' queues it for the refinery")


@crew.command("list")
@click.option("--rig", help="Only this rig.")
@json_option
@click.pass_context
def crew_list(ctx: click.Context, rig: str | None, as_json: bool) -> None:
    """List crew workspaces: branch, uncommitted files, commits ahead, session."""
    rows = crew_mod.list_crew(town_from(ctx), rig)
    if as_json:
        emit_json([c.as_dict() for c in rows])
        return

    def session(c: crew_mod.Crew) -> str:
        return "-" if c.session_state == "none" else f"{c.session} ({c.session_state})"

    print_table(
        ["crew", "branch", "dirty", "ahead", "session", "path"],
        [
            [
                c.address,
                (c.branch or "(detached)") if c.valid else "(not a worktree)",
                "-" if c.dirty is None else c.dirty,
                "-" if c.ahead is None else c.ahead,
                session(c),
                c.path,
            ]
            for c in rows
        ],
        empty="No crew workspaces yet: gt crew add NAME --rig RIG",
    )


@crew.command("at")
@click.argument("name")
@click.option("--rig", help="Rig of the workspace when the name is in several rigs.")
@click.pass_context
def crew_at(ctx: click.Context, name: str, rig: str | None) -> None:
    """Print the path of crew workspace NAME (cd "$(gt crew at NAME)")."""
    _, path = crew_mod.find(town_from(ctx), name, rig)
    click.echo(str(path))


@crew.command("remove")
@click.argument("name")
@click.option("--rig", help="Rig of the workspace when the name is in several rigs.")
@click.option(
    "--force",
    is_flag=True,
    help="Remove even with uncommitted or unmerged work or a running session (the work is kept "
    "under refs/crew-removed/NAME).",
)
@json_option
@click.pass_context
def crew_remove(ctx: click.Context, name: str, rig: str | None, force: bool, as_json: bool) -> None:
    """Remove crew workspace NAME: its session, its worktree, and its branch once merged."""
    r = crew_mod.remove(town_from(ctx), name, rig, force=force, actor=current_actor())
    if as_json:
        emit_json(r.as_dict())
        return
    branch = f"; branch {r.branch} deleted" if r.branch_deleted else f"; branch {r.branch} kept" if r.branch else ""
    click.echo(f"Removed crew workspace {crew_mod.address(r.rig, r.name)}{branch}")
    if r.kept:
        click.echo(
            f"  its unmerged work is kept at {crew_mod.REMOVED_REF}{r.name} ({r.kept[:12]}) in the rig's repository"
        )


@crew.command("start")
@click.argument("name")
@click.option("--rig", help="Rig of the workspace when the name is in several rigs.")
@click.option("--agent", help="Run this agent preset instead of your shell (see gt config agent list).")
@click.pass_context
def crew_start(ctx: click.Context, name: str, rig: str | None, agent: str | None) -> None:
    """Start a tmux session in crew workspace NAME: your shell, or --agent PRESET."""
    town = town_from(ctx)
    info = crew_mod.start(town, name, rig, agent=agent, actor=current_actor())
    click.echo(f"Started session {info.name} (pid {info.pid}); it shows in the cockpit's agents tree")


@crew.command("stop")
@click.argument("name")
@click.option("--rig", help="Rig of the workspace when the name is in several rigs.")
@click.pass_context
def crew_stop(ctx: click.Context, name: str, rig: str | None) -> None:
    """Stop the tmux session of crew workspace NAME (the worktree stays)."""
    session = crew_mod.stop(town_from(ctx), name, rig)
    click.echo(f"Stopped session {session}")


@crew.command("sync")
@click.argument("name")
@click.option("--rig", help="Rig of the workspace when the name is in several rigs.")
@json_option
@click.pass_context
def crew_sync(ctx: click.Context, name: str, rig: str | None, as_json: bool) -> None:
    """Bring the rig's merged default branch into crew workspace NAME (fast-forward or rebase)."""
    s = crew_mod.sync(town_from(ctx), name, rig, actor=current_actor())
    if as_json:
        emit_json(s.as_dict())
        return
    said = {"up_to_date": "already up to date", "fast_forward": "fast-forwarded", "rebased": "rebased"}[s.action]
    click.echo(f"{s.branch} {said} at {s.head[:12]}")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(crew)
