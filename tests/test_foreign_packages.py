"""The agents' repositories cannot break us (issue 17): every Python gastown-tui starts runs with ``-P``,
so a rig repository (and a town directory) with its own top-level ``core/``, ``widgets/`` and
``themes/`` packages never shadows ours. Each of those packages records its import and exits 99, so
any leak fails loudly: the demo's setup and its ``demo-check`` gate, ``gt up --detach``, ``gt bead
create``, ``gt sling`` and the sim agent's ``gt done`` run from inside such a checkout, the refinery's
gates in its worktree, and a headless ``gastown-tui --no-ui run``, all with the sim agent."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import mq
from core.beads.store import BeadStore
from core.rigs import load_rig
from core.sessions import SessionHost
from core.town import Town
from gastown_tui import demo
from tests.conftest import VENV_BIN, make_repo
from tests.test_engine_support import SH, configure, wait_for
from tests.test_headless_support import SETTINGS, write_formula

FOREIGN = ("core", "widgets", "themes")


def _poison(leaks: Path) -> str:
    """An ``__init__.py`` that records its import in ``leaks`` and exits 99."""
    return (
        f"import pathlib, sys\nwith pathlib.Path({str(leaks)!r}).open('a') as f:\n"
        "    f.write(f'{__name__} imported from {__file__} by {sys.argv}\\n')\nsys.exit(99)\n"
    )


@pytest.fixture
def foreign(tmp_path: Path) -> Iterator[tuple[Town, str, Path, Path]]:
    """The demo town (``demo.prepare`` with ``--repo``) on a repository whose top level holds
    poisoned ``core``/``widgets``/``themes`` packages (the town directory gets them too). Yields
    (town, rig name, a checkout of the repository, the leak log). tmux is stopped at teardown."""
    leaks = tmp_path / "leaks.log"
    poison = _poison(leaks)
    files = {f"{name}/__init__.py": poison for name in FOREIGN}
    files |= {"README.md": "# shadow\n", "check.py": "import sys\nprint('project gate ok')\nsys.exit(0)\n"}
    src = make_repo(tmp_path / "shadow", files)
    out = io.StringIO()
    plan = demo.prepare(tmp_path / "demo-town", repo=src, agents=2, gate=f"{sys.executable} -P check.py", out=out)
    town = plan.town
    for name in FOREIGN:
        (town.root / name).mkdir()
        (town.root / name / "__init__.py").write_text(poison)
    configure(town, SETTINGS)
    try:
        yield town, plan.rig, src, leaks
    finally:
        SessionHost(town).kill_server()


def _merged(town: Town, rig: str, bead: str) -> bool:
    with BeadStore(town) as store:
        return any(m.bead == bead and m.status == "merged" for m in mq.list_mrs(store.db, rig=rig))


def test_a_repository_with_its_own_core_widgets_and_themes_packages(foreign, gt_env) -> None:
    town, rig, src, leaks = foreign
    gates = load_rig(town, rig).config["gates"]
    assert gates["demo-check"]["cmd"][:2] == [sys.executable, "-P"]  # the demo's own gate, as it wrote it

    def gt(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(VENV_BIN / "gt"), "--town", str(town.root), *args],
            cwd=src,
            env=gt_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert res.returncode == 0, (args, res.stdout, res.stderr, leaks.read_text() if leaks.exists() else "")
        return res

    gt("up", "--detach", "--tick", "0.25")
    try:
        prefix = load_rig(town, rig).prefix
        res = gt("bead", "create", "Write one", "-d", SH.format("echo one > one.txt"), "--rig", rig, "--json")
        bead = res.stdout.split('"id": "', 1)[1].split('"', 1)[0]
        assert bead.startswith(prefix + "-")
        gt("sling", bead, rig, "--agent", "sim")
        wait_for(lambda: _merged(town, rig, bead) or leaks.exists(), timeout=60)
    finally:
        gt("down")
    assert not leaks.exists(), leaks.read_text()
    assert _merged(town, rig, bead)

    write_formula(town, "tiny", {"two": ([], "echo two > two.txt")})
    res = subprocess.run(
        [
            str(VENV_BIN / "gastown-tui"),
            "--town",
            str(town.root),
            "--no-ui",
            "run",
            "--tick",
            "0.25",
            "--formula",
            "tiny",
            "--rig",
            rig,
            "--agent",
            "sim",
            "--timeout",
            "60",
        ],
        cwd=src,
        env=gt_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr + (leaks.read_text() if leaks.exists() else "")
    assert not leaks.exists(), leaks.read_text()
    logs = [p.read_text(errors="replace") for p in (town.logs_dir / "gates").rglob("*") if p.is_file()]
    assert sum("demo-check: ok" in text for text in logs) >= 2  # the demo gate ran on both merges
    assert sum("project gate ok" in text for text in logs) >= 2
