"""``gt seance BEAD|POLECAT [--session ID] [--ask QUESTION] [--json]`` (:mod:`core.seance`)."""

from __future__ import annotations

import click

from gastown_tui.clikit import emit_json, json_option, town_from


@click.command("seance")
@click.argument("target")
@click.option("--session", "session", metavar="ID", help="Only this predecessor session (its conversation id).")
@click.option("--ask", "question", metavar="QUESTION", help="Ask the (newest) predecessor session one question.")
@json_option
@click.pass_context
def seance(ctx: click.Context, target: str, session: str | None, question: str | None, as_json: bool) -> None:
    """What the sessions before you did on a bead or as a polecat, in Markdown; --ask one of them.

    TARGET is a bead id or a polecat (<rig>/polecats/<name>). The sessions come from the runtimes'
    own records (Claude Code, Codex). --ask resumes the newest one (or --session ID) in a short-lived
    process of the same CLI and prints its answer.
    """
    from core import seance as core_seance
    from core.beads.store import BeadStore
    from core.errors import NotFound

    town = town_from(ctx)
    store = BeadStore(town)
    found = core_seance.predecessors(town, store, target)
    if session is not None:
        found = [p for p in found if p.session == session]
        if not found:
            raise NotFound(f"no session {session!r} worked on {target}: 'gt seance {target}' lists them")
    if question is not None:
        if not found:
            raise NotFound(f"no recorded session worked on {target}: nothing to ask")
        answer = core_seance.ask(town, found[-1], question)
        if as_json:
            emit_json({"session": found[-1].session, "runtime": found[-1].runtime, "answer": answer})
        else:
            click.echo(answer)
        return
    entries = [(p, core_seance.conversation(p)) for p in found]
    if as_json:
        emit_json(
            [
                {
                    "runtime": p.runtime,
                    "session": p.session,
                    "agent": p.agent,
                    "bead": p.bead,
                    "cwd": p.cwd,
                    "source": str(p.source),
                    "started": p.started,
                    "ended": p.ended,
                    "tokens": p.tokens,
                    "entries": [{"kind": e.kind, "text": e.text} for e in es],
                }
                for p, es in entries
            ]
        )
        return
    click.echo(core_seance.render(target, entries), nl=False)


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(seance)
