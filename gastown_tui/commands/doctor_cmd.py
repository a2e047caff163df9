"""``gt doctor [--fix] [--json]``: check the town and repair what is safe (:mod:`core.doctor`).

Exit status: 0 when no check failed (warnings allowed), 1 when a failure remains (after the repairs
with ``--fix``), 2 for a usage error or no town.
"""

from __future__ import annotations

import click

from gastown_tui.clikit import emit_json, json_option

MARKS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


def line(f) -> str:  # noqa: ANN001 - a core.doctor.Finding
    """One finding as one plain line: ``MARK check subject: message; fix: ...`` (no colour)."""
    text = f"{MARKS[f.verdict]} {f.check:<9} {f.subject}: {f.message}"
    if f.verdict != "ok" and f.fix and not f.fixed:
        text += f"; fix: {f.fix}"
    return text


@click.command()
@click.option(
    "--fix",
    is_flag=True,
    help="Repair what is safe (orphaned clean worktrees, stale locks and pid files, the ledger export, "
    "dead sessions' hooks as the witness would) and list what is left for a human.",
)
@json_option
@click.pass_context
def doctor(ctx: click.Context, fix: bool, as_json: bool) -> None:
    """Check the town: config, database and ledger, repositories, worktrees, sessions, locks, tools and agents.

    One line per finding (ok, warn, FAIL) with the fix. Exits 0 when nothing failed (warnings
    allowed), 1 when a failure remains (after the repairs, with --fix), 2 for a usage error.
    """
    from core import doctor as core_doctor
    from core.town import find_town

    # The town is found here, not through clikit.town_from: that would make the command line's
    # after-command hook open the database with the ledger guard, which raises on the very faults
    # doctor reports (exit 1), turning them into a refusal (exit 2).
    town = find_town(ctx.find_root().ensure_object(dict).get("town_path"))
    report = core_doctor.run(town, fix=fix)
    if as_json:
        emit_json([f.as_dict() for f in report.findings])
    else:
        for f in report.findings:
            click.echo(line(f))
            if f.outcome:
                click.echo(f"     {'fixed' if f.fixed else 'not fixed'}: {f.outcome}")
        counts = report.counts()
        summary = f"doctor: {counts['ok']} ok, {counts['warn']} warn, {counts['fail']} fail"
        if fix:
            summary += f"; {counts['fixed']} fixed, {counts['left']} left for a human"
        else:
            fixable = sum(1 for f in report.findings if f.fixable)
            if fixable:
                summary += f"; 'gt doctor --fix' repairs {fixable}"
        click.echo(summary)
        if fix and report.left:
            click.echo("left for a human:")
            for f in report.left:
                click.echo(f"  {line(f)}")
    if report.exit_code:
        raise SystemExit(report.exit_code)


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(doctor)
