"""Shared pieces of the convoy-run tests (no tests here): a town whose rig has a real gate, test
formulas written into ``<town>/.beads/formulas``, and ``gastown-tui --no-ui run`` as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core import events
from core.beads.store import BeadStore
from core.config import edit_toml
from core.rigs import Rig, add_rig
from core.sessions import SessionHost
from core.town import Town
from tests.conftest import VENV_BIN, make_repo
from tests.test_engine_support import configure

__all__ = ["CHECK", "SETTINGS", "gated_town", "write_formula", "run_headless", "run_events", "diamond", "load"]

#: The rig's gate: fails when any .txt file of the tree says BROKEN, or when a part exists without
#: the part it builds on (so a merge out of DAG order would be red too).
CHECK = """\
import pathlib, sys
tree = pathlib.Path(".")
bad = [str(p) for p in tree.rglob("*.txt") if "BROKEN" in p.read_text()]
needs = {"b.txt": ["a.txt"], "c.txt": ["a.txt"], "d.txt": ["b.txt", "c.txt"]}
bad += [f"{part} without {n}" for part, ns in needs.items() if (tree / part).exists()
        for n in ns if not (tree / n).exists()]
print("gate check:", bad or "ok")
sys.exit(1 if bad else 0)
"""

SETTINGS = {
    "scheduler": {"spawn_delay": 0.2},
    "deacon": {"patrol_interval": 1},
    "ledger": {"commit_debounce": 0.5},
}

STEP = '''
[[steps]]
id = "{id}"
title = "Part {id}"
needs = [{needs}]
description = """
```sh
{sh}
```
"""
'''


def diamond(b_sh: str = "sleep 2\necho b > b.txt") -> dict[str, tuple[list[str], str]]:
    """The diamond: ``b`` and ``c`` need ``a``, ``d`` needs both; each writes its part file (b and c
    take a moment, so that their sessions overlap). b_sh: the shell of step b."""
    return {
        "a": ([], "echo a > a.txt"),
        "b": (["a"], f"test -f a.txt\n{b_sh}"),
        "c": (["a"], "test -f a.txt\nsleep 2\necho c > c.txt"),
        "d": (["b", "c"], "test -f b.txt && test -f c.txt\ncat b.txt c.txt > d.txt"),
    }


def write_formula(town: Town, name: str, steps: dict[str, tuple[list[str], str]], header: str = "") -> Path:
    """Write ``<town>/.beads/formulas/NAME.formula.toml`` with ``steps`` (id -> (needs, sh block))."""
    text = f'formula = "{name}"\ndescription = "test formula {name}"\nversion = 1\ntype = "workflow"\n{header}\n'
    for sid, (needs, sh) in steps.items():
        text += STEP.format(id=sid, needs=", ".join(f'"{n}"' for n in needs), sh=sh)
    path = town.formulas_dir / f"{name}.formula.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def gated_town(town: Town, tmp_path: Path) -> Iterator[tuple[Town, Rig]]:
    """A town with quick scheduler/deacon settings and rig ``demo`` whose repository holds
    ``check.py``, run as the rig's ``test`` gate. The town's tmux server is killed at teardown."""
    configure(town, SETTINGS)
    repo = make_repo(tmp_path / "src", {"README.md": "# project\n", "check.py": CHECK})
    rig = add_rig(town, "demo", str(repo))
    with edit_toml(rig.path / "rig.toml") as doc:
        doc["gates"]["test"] = {"cmd": [sys.executable, "check.py"], "timeout": 60}
    yield town, rig
    SessionHost(town).kill_server()


def run_headless(
    gt_env: dict[str, str], town: Town, *args: str, timeout: float = 120, tty: bool = False
) -> subprocess.CompletedProcess[str]:
    """``gastown-tui --no-ui run ARGS...`` as a real process in the town (engine tick 0.25 s)."""
    return subprocess.run(
        [str(VENV_BIN / "gastown-tui"), "--no-ui", "run", "--tick", "0.25", *args],
        cwd=town.root,
        env=gt_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_events(town: Town, kinds: tuple[str, ...] | None = None) -> list[events.Event]:
    """Every event of the town (of ``kinds``), oldest first."""
    with BeadStore(town) as store:
        return events.query(store.db, types=kinds)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
