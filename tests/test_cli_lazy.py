"""The ``gt`` root group loads subcommands lazily: the static map in ``gastown_tui.cli`` must match what
the command modules register, ``--help`` and completion must read as if everything were loaded, and
start-up must not pull in the heavy libraries."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from core.beads.store import BeadStore
from core.town import Town
from gastown_tui import cli, commands

HEAVY = ("textual", "rich", "pyte", "dulwich", "sqlite_utils", "tomlkit")


def _registered() -> dict[str, tuple[str, click.Command]]:
    """name -> (module name, command) for everything the command modules' ``register`` adds."""
    found: dict[str, tuple[str, click.Command]] = {}
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        group = click.Group()
        module.register(group)
        for name, command in group.commands.items():
            assert name not in found, f"gt {name} is registered by {found[name][0]} and {module.__name__}"
            found[name] = (module.__name__, command)
    return found


def test_the_static_map_matches_what_the_command_modules_register() -> None:
    registered = _registered()
    missing = sorted(set(registered) - set(cli.COMMANDS))
    stale = sorted(set(cli.COMMANDS) - set(registered))
    assert not missing, f"commands missing from gastown_tui.cli.COMMANDS (add them there): {missing}"
    assert not stale, f"gastown_tui.cli.COMMANDS names commands no module registers: {stale}"
    for name, (module_name, command) in registered.items():
        spec = cli.COMMANDS[name]
        assert spec.module == module_name, f"gt {name}: COMMANDS says {spec.module}, registered by {module_name}"
        assert getattr(importlib.import_module(spec.module), spec.attribute) is command, (
            f"gt {name}: {spec.module}.{spec.attribute} is not the registered command"
        )
        assert spec.help == command.get_short_help_str(limit=10**6), f"gt {name}: help in COMMANDS is stale"
        assert not command.hidden and not command.deprecated, f"gt {name}: the lazy listing shows every command"
    eager = {name for name, command in cli.cli.commands.items() if command.callback.__module__ == cli.__name__}
    assert eager and not eager & set(cli.COMMANDS), f"an eager command of gastown_tui.cli shadows a lazy one: {eager}"


@pytest.mark.parametrize("width", [50, 80, 200])
def test_help_and_completion_list_what_an_eager_group_would(width: int) -> None:
    lazy = cli.LazyGroup(name="gt", lazy_commands=cli.COMMANDS)
    lazy.add_command(cli.completion)
    ctx = click.Context(lazy, info_name="gt")

    def listing(format_commands) -> str:
        formatter = click.HelpFormatter(width=width)
        format_commands(lazy, ctx, formatter)
        return formatter.getvalue()

    def completions(shell_complete, incomplete: str) -> list[tuple[str, str | None]]:
        return [(item.value, item.help) for item in shell_complete(lazy, ctx, incomplete)]

    from_map = listing(cli.LazyGroup.format_commands)
    completed_from_map = {p: completions(cli.LazyGroup.shell_complete, p) for p in ("", "s", "-")}
    assert set(lazy.commands) == {"completion"}, "listing must not import the command modules"
    assert from_map == listing(click.Group.format_commands)  # click's own, which loads every command
    assert set(lazy.commands) == {"completion", *cli.COMMANDS}
    for prefix, items in completed_from_map.items():
        assert items == completions(click.Group.shell_complete, prefix)
    assert listing(cli.LazyGroup.format_commands) == from_map  # loaded commands list the same


def _modules_after(argv: list[str], cwd: Path | None = None) -> tuple[str, set[str]]:
    """Run ``gastown_tui.cli.main(argv)`` in a fresh interpreter; return (stdout, modules imported)."""
    code = (
        "import json, sys\n"
        "from gastown_tui.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('\\nMODULES', json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**{k: v for k, v in os.environ.items() if not k.startswith(("GT_", "BD_"))}, "GT_LEDGER_SYNC": "off"},
    )
    assert proc.returncode == 0, proc.stderr
    out, _, modules = proc.stdout.rpartition("\nMODULES ")
    return out, set(json.loads(modules))


def test_gt_help_imports_no_command_module_nor_heavy_library() -> None:
    out, modules = _modules_after(["--help"])
    assert "prime" in out and "completion" in out
    assert not sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not sorted(m for m in modules if m.startswith("gastown_tui.commands."))


def test_a_command_imports_only_its_own_module(town: Town) -> None:
    out, modules = _modules_after(["--town", str(town.root), "bead", "ready", "--json"])
    assert json.loads(out) == []
    assert sorted(m for m in modules if m.startswith("gastown_tui.commands.")) == ["gastown_tui.commands.bead"]
    assert not sorted(m for m in modules if m.split(".")[0] in ("textual", "rich", "pyte"))


def test_the_ledger_sync_still_follows_a_command_that_changed_beads(run_gt, town: Town) -> None:
    """``gt mail send`` writes a message bead without syncing itself: the root group's callback does."""
    res = run_gt("mail", "send", "mayor/", "-s", "lazy hello", cwd=town.root, env={"GT_LEDGER_SYNC": "now"})
    assert res.returncode == 0, res.stderr
    with BeadStore(town) as store:
        assert store.dirty() == []
    assert "lazy hello" in (town.root / ".beads" / "issues.jsonl").read_text(encoding="utf-8")
