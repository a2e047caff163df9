"""``gt config show|agent list|agent set|default-agent``: edit town.toml, keeping comments."""

from __future__ import annotations

import click

from core import runtimes
from gastown_tui.clikit import emit_json, json_option, print_table, town_from


@click.group()
def config() -> None:
    """Show or edit the town configuration (town.toml)."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print town.toml."""
    town = town_from(ctx)
    _ = town.config  # report a malformed file as an error, not as text
    click.echo(town.config_path.read_text(encoding="utf-8"), nl=False)


@config.group("agent")
def agent() -> None:
    """Agent runtime presets."""


@agent.command("list")
@json_option
@click.pass_context
def agent_list(ctx: click.Context, as_json: bool) -> None:
    """List agent presets and whether their CLI is installed."""
    town = town_from(ctx)
    table = runtimes.presets(town)
    default = str(town.setting(None, "default_agent"))
    effective = runtimes.resolve(town, "auto").name if default == "auto" else default
    if as_json:
        emit_json({"default_agent": default, "effective": effective, "presets": [p.as_dict() for p in table.values()]})
        return
    print_table(
        ["name", "installed", "prompt", "command"],
        [
            [
                p.name + (" *" if p.name == effective else ""),
                "yes" if p.installed() else "no",
                p.prompt,
                " ".join(p.argv),
            ]
            for p in table.values()
        ],
    )
    click.echo(f"\ndefault_agent = {default!r} (* = used by sling)")


@agent.command("set")
@click.argument("name")
@click.argument("command")
@click.pass_context
def agent_set(ctx: click.Context, name: str, command: str) -> None:
    """Set preset NAME's command, e.g. gt config agent set claude "claude --model opus"."""
    preset = runtimes.set_agent(town_from(ctx), name, command)
    click.echo(f"agent {preset.name}: {' '.join(preset.argv)}")


@config.command("default-agent")
@click.argument("name")
@click.pass_context
def default_agent(ctx: click.Context, name: str) -> None:
    """Set the agent used when sling gets no --agent ("auto" = first installed, else sim)."""
    runtimes.set_default_agent(town_from(ctx), name)
    click.echo(f"default_agent = {name!r}")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(config)
