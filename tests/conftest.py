"""Shared fixtures: real temporary git repositories and towns, and ``gt`` run as a real process."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core.town import Town, install_town

#: Modules whose fixtures every test gets without importing them (a test that imported a fixture would
#: shadow it with its own parameter): the engine's (``fast_town``, ``demo_rig``, ``engine``), the convoy
#: runs' (``gated_town``), the sling's (``rig``, ``store``) and the real agents' (``endpoint``, ``agent_rig``).
pytest_plugins = ("tests.test_engine_support", "tests.test_headless_support", "tests.test_sling", "tests.real_agents")

VENV_BIN = Path(sys.executable).parent
#: Copies of the files in the shared fixtures of the original projects (beads JSONL ledgers, formula
#: TOMLs), vendored so a clean clone tests alone; each folder's SOURCE.md says where they came from.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def git(cwd: Path, *args: str) -> str:
    """Run the git CLI in ``cwd`` with a fixed identity; return stdout."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def dump(db_path: Path) -> str:
    """Every row and schema statement of the SQLite database at ``db_path`` (its SQL dump): what a
    test compares to show nothing stored changed."""
    conn = sqlite3.connect(db_path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def make_repo(path: Path, files: dict[str, str] | None = None, branch: str = "main") -> Path:
    """Create a git repository at ``path`` with one commit holding ``files`` (name -> text)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    for name, text in (files or {"README.md": "# project\n"}).items():
        f = path / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial commit")
    return path


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A small real git repository (branch main, one commit)."""
    return make_repo(tmp_path / "src", {"README.md": "# project\n", "app.py": "print('hi')\n"})


@pytest.fixture
def town(tmp_path: Path) -> Town:
    """A freshly installed town (with its git repository) under a temporary directory."""
    t, _ = install_town(tmp_path / "town")
    return t


@pytest.fixture
def gt_env(tmp_path: Path) -> dict[str, str]:
    """Environment for running ``gt`` as a subprocess: the venv first on PATH, no inherited GT_* vars."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GT_", "BD_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


@pytest.fixture
def run_gt(gt_env: dict[str, str]):
    """Run ``gt ARGS...`` as a real process: ``run_gt(*args, cwd=None, input=None, env=None)``
    returns the CompletedProcess (text mode, never raises on a non-zero exit)."""

    def run(*args: str, cwd: Path | None = None, input: str | None = None,
            env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(VENV_BIN / "gt"), *args], cwd=cwd, input=input, capture_output=True,
                              text=True, env={**gt_env, **(env or {})}, timeout=timeout)

    return run
