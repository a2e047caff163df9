"""``gt formula list|show|pour``: the formulas on the search path, their steps, and pouring them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from core.actor import current_actor
from core.errors import GtError
from core.formulas import CookedStep, Formula, FormulaLibrary, dependency_tree
from core.rigs import Rig, load_rig, rig_for_path
from core.town import Town
from gastown_tui.clikit import clip, emit_json, json_option, print_table, town_from


def _rig(town: Town, name: str | None) -> Rig | None:
    """``--rig NAME``, else the rig whose directory holds the current directory, else None."""
    if name:
        return load_rig(town, name)
    return rig_for_path(town, Path.cwd())


def _vars(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("k=v", ...)`` -> dict. Raises GtError for an item without ``=``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise GtError(f"--var {pair!r} is not KEY=VALUE: write it like --var feature=login")
        out[key.strip()] = value
    return out


rig_option = click.option(
    "--rig",
    "rig_name",
    metavar="RIG",
    help="Rig whose repository's .beads/formulas is searched (default: the rig you are in).",
)
var_option = click.option(
    "--var", "var_pairs", multiple=True, metavar="KEY=VALUE", help="Set a formula variable (repeatable)."
)


@click.group()
def formula() -> None:
    """Formulas: workflow templates (town, rig, built-in) poured into molecules of beads."""


@formula.command("list")
@rig_option
@json_option
@click.pass_context
def formula_list(ctx: click.Context, rig_name: str | None, as_json: bool) -> None:
    """List the formulas on the search path (town, rig, built-in; the first of a name wins)."""
    town = town_from(ctx)
    rows = FormulaLibrary(town, _rig(town, rig_name)).entries()
    if as_json:
        emit_json(rows)
        return
    table = []
    for r in rows:
        note = "ERROR: " + r["error"] if r["error"] else r["description"]
        if r["shadowed"]:
            note = "(shadowed) " + note
        elif r["unsupported"]:
            note += f" [{r['unsupported']} unsupported]"
        table.append([r["name"], r["type"] or "?", r["origin"], clip(note, 100)])
    print_table(
        ["name", "type", "origin", "description"], table, empty="No formulas: add NAME.formula.toml to .beads/formulas"
    )


@formula.command("show")
@click.argument("name")
@rig_option
@var_option
@json_option
@click.pass_context
def formula_show(
    ctx: click.Context, name: str, rig_name: str | None, var_pairs: tuple[str, ...], as_json: bool
) -> None:
    """Show formula NAME: its variables and its steps as a dependency tree (after extends/expansions)."""
    town = town_from(ctx)
    lib = FormulaLibrary(town, _rig(town, rig_name))
    parsed = lib.load(name)
    pours = parsed.type not in ("expansion", "aspect")
    cooked = lib.cook(name, _vars(var_pairs), check_vars=False) if pours else None
    if as_json:
        emit_json({**parsed.as_dict(), "cooked": cooked.as_dict() if cooked else None})
        return
    click.echo(f"{parsed.name}  (type {parsed.type}, version {parsed.version}, {lib.find(name).location})")
    if parsed.description.strip():
        click.echo("")
        for line in parsed.description.strip().splitlines()[:6]:
            click.echo(f"  {line}")
    declared = cooked.variables if cooked else parsed.vars
    if declared:
        click.echo("\nVariables:")
        print_table(
            ["name", "required", "default", "description"],
            [
                [v.name, "yes" if v.required else "", "" if v.default is None else v.default, clip(v.description, 70)]
                for v in declared.values()
            ],
        )
    if cooked is None:
        _show_template(parsed)
        _echo_notes(parsed.unsupported, [])
        return
    click.echo(f"\nSteps ({len(cooked.steps)}):")
    if not cooked.pour:
        click.echo("  (pour = false: a pour creates the root bead only; gt prime shows these steps)")
    if cooked.phase == "vapor":
        click.echo("  (phase = vapor: poured as ephemeral beads, wisps)")
    for line in dependency_tree(cooked.steps):
        click.echo(f"  {line}")
    _echo_notes(cooked.unsupported, cooked.warnings)


def _show_template(parsed: Formula) -> None:
    """What an expansion or aspect formula inserts, since it pours nothing by itself."""
    if parsed.type == "expansion":
        click.echo(f"\nTemplate ({len(parsed.template)} steps replacing the target step {{target}}):")
        steps = [
            CookedStep(id=t.id, title=t.title or t.id, description="", needs=list(t.needs)) for t in parsed.template
        ]
        for line in dependency_tree(steps):
            click.echo(f"  {line}")
        return
    click.echo("\nAdvice (steps inserted around matching steps {step.id}):")
    for adv in parsed.advice:
        click.echo(
            f"  {adv.target}: before {', '.join(s.id for s in adv.before) or '-'}; "
            f"after {', '.join(s.id for s in adv.after) or '-'}"
        )
    if parsed.pointcuts:
        click.echo("  pointcuts: " + ", ".join(pc.glob or pc.type or pc.label for pc in parsed.pointcuts))


def _echo_notes(unsupported: list[Any], warnings: list[str]) -> None:
    if unsupported:
        click.echo("\nUnsupported (parsed, not executed):")
        for u in unsupported:
            click.echo(f"  {u}")
    if warnings:
        click.echo("\nWarnings:")
        for w in warnings:
            click.echo(f"  {w}")


@formula.command("pour")
@click.argument("name")
@var_option
@rig_option
@click.option("--dry-run", is_flag=True, help="Print the beads that would be created; create nothing.")
@click.option("--actor", default=None, help="Who is acting (default: $BD_ACTOR, the role, the user).")
@json_option
@click.pass_context
def formula_pour(
    ctx: click.Context,
    name: str,
    var_pairs: tuple[str, ...],
    rig_name: str | None,
    dry_run: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """Pour formula NAME into a molecule: a root bead, one child bead per step, blocks edges, a convoy."""
    from core import pour

    town = town_from(ctx)
    rig = _rig(town, rig_name)
    if dry_run:
        planned = pour.plan(town, name, _vars(var_pairs), rig)
        if as_json:
            emit_json({"dry_run": True, **planned.as_dict()})
            return
        click.echo(
            f"Would pour formula {planned.formula} (prefix {planned.prefix}"
            f"{', rig ' + planned.rig if planned.rig else ''}):"
        )
        numbers = {"root": "<root>"}
        counts: dict[str, int] = {}
        for c in planned.children:  # as the store numbers children: per parent, in order
            counts[c.parent] = counts.get(c.parent, 0) + 1
            numbers[c.key] = f"{numbers[c.parent]}.{counts[c.parent]}"
        rows = [["<root>", planned.root.issue_type, planned.root.title, ""]]
        rows += [
            [numbers[c.key], c.issue_type, c.title, ", ".join(numbers[n] for n in c.needs)] for c in planned.children
        ]
        tracked = sum(c.issue_type not in ("gate", "epic") for c in planned.children) or 1  # else the root
        rows.append(["<convoy>", "convoy", planned.convoy_name, f"tracks {tracked} beads"])
        print_table(["bead", "type", "title", "blocked by"], rows)
        _echo_notes(planned.unsupported, planned.warnings)
        return
    planned, poured = pour.pour(town, name, _vars(var_pairs), rig, actor=current_actor(actor))
    if as_json:
        emit_json(poured.as_dict())
        return
    click.echo(f"Poured {planned.formula} as {poured.root} ({len(poured.steps)} steps), convoy {poured.convoy}")
    print_table(
        ["bead", "step", "title"],
        [[bead, step, c.title] for (step, bead), c in zip(poured.steps.items(), planned.children, strict=True)],
    )
    _echo_notes(planned.unsupported, planned.warnings)


@formula.command("run")
@click.argument("name")
@var_option
@rig_option
@click.option(
    "--agent",
    default=None,
    metavar="PRESET",
    help="Agent preset for every step (default: the step's, else the town's default_agent).",
)
@click.option("--actor", default=None, help="Who is acting (default: $BD_ACTOR, the role, the user).")
@json_option
@click.pass_context
def formula_run(
    ctx: click.Context,
    name: str,
    var_pairs: tuple[str, ...],
    rig_name: str | None,
    agent: str | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """Pour formula NAME and queue its steps: the engine slings each step once the steps it needs have
    merged. Prints the convoy id (follow it with 'gt convoy show ID')."""
    from core import runs
    from core.pidfile import engine_pid

    town = town_from(ctx)
    rig = _rig(town, rig_name)
    planned = runs.plan_run(town, name, _vars(var_pairs), rig.name if rig else None, agent=agent)
    started = runs.launch(town, planned, actor=current_actor(actor), agent=agent)
    pid = engine_pid(town)
    if as_json:
        emit_json({**started.as_dict(), "rig": planned.rig, "engine": {"running": pid is not None, "pid": pid}})
        return
    click.echo(started.convoy)
    click.echo(
        f"Poured {started.formula} as {started.root} ({len(started.steps)} steps); "
        f"{len(started.queued)} queued for rig {planned.rig}",
        err=True,
    )
    if pid is None:
        click.echo(
            "No engine is running: the work waits for 'gt up' (or run it to the end with "
            f"'gastown-tui --no-ui run --convoy {started.convoy}')",
            err=True,
        )


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(formula)
