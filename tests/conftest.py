"""Shared fixtures and helpers: real temporary git repositories and towns, ``gt`` run as a real process,
sessions on a private tmux socket, and waits on a positive signal (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from core.sessions import SessionHost
from core.town import Town, install_town

T = TypeVar("T")

#: Modules whose fixtures every test gets without importing them (a test that imported a fixture would
#: shadow it with its own parameter): the engine's (``fast_town``, ``demo_rig``, ``engine``), the convoy
#: runs' (``gated_town``), the sling's (``rig``, ``store``), the real agents' (``endpoint``, ``agent_rig``)
#: and the git server's (``git_server``).
pytest_plugins = (
    "tests.test_engine_support",
    "tests.test_headless_support",
    "tests.test_sling",
    "tests.real_agents",
    "tests.git_server",
)

VENV_BIN = Path(sys.executable).parent
#: Copies of the files in the shared fixtures of the original projects (beads JSONL ledgers, formula
#: TOMLs), vendored so a clean clone tests alone; each folder's SOURCE.md says where they came from.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def git(cwd: Path, *args: str) -> str:
    """Run the git CLI in ``cwd`` with a fixed identity; return stdout."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, what: str | None = None, step: float = 0.05) -> T:
    """Poll ``predicate`` every ``step`` seconds until it returns something truthy and return that;
    raise AssertionError naming ``what`` after ``timeout`` seconds (generous: the suite also runs on a
    loaded machine, and a wait ends as soon as its signal shows)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(step)


async def wait_until(pilot, predicate: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Let a Textual app under test (``pilot``) run until ``predicate()`` is truthy and return that;
    raise AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.05)


def run_async(test):
    """Run an ``async def`` test on a fresh asyncio loop (the suite has no asyncio pytest plugin)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))

    return wrapper


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
def host(town: Town) -> Iterator[SessionHost]:
    """Sessions of ``town`` on a private tmux socket of this test (its server is killed after)."""
    h = SessionHost(town, socket=f"gt-test-{uuid.uuid4().hex[:10]}")
    yield h
    h.kill_server()


@pytest.fixture
def town_host(town: Town) -> Iterator[SessionHost]:
    """Sessions of ``town`` on the town's own socket, the one a new ``gt`` process computes (its
    server is killed after)."""
    h = SessionHost(town)
    yield h
    h.kill_server()


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

    def run(
        *args: str,
        cwd: Path | None = None,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(VENV_BIN / "gt"), *args],
            cwd=cwd,
            input=input,
            capture_output=True,
            text=True,
            env={**gt_env, **(env or {})},
            timeout=timeout,
        )

    return run


#: Test modules that drive the cockpit (Textual apps under Pilot, SVG snapshots): marker ``tui`` (and
#: every ``test_cockpit_*`` module).
TUI_MODULES = {"test_cockpit", "test_cockpit_hostile", "test_cockpit_snapshots", "test_terminal_widget", "test_demo"}
#: Fixtures that start real processes (tmux servers, ``gt`` subprocesses): a test using one is ``integration``.
PROCESS_FIXTURES = {"host", "town_host", "run_gt", "gt_env", "sim_town", "agent_rig", "git_server"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give every test one kind marker, so each kind runs alone: ``tui`` (the cockpit), ``integration``
    (real processes: tmux sessions, ``gt`` subprocesses, real agent CLIs, or a module marked
    ``pytestmark = pytest.mark.integration``) and ``unit`` (in-process; ``make test-fast``)."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module is not None else ""
        if module in TUI_MODULES or module.startswith("test_cockpit_"):
            item.add_marker(pytest.mark.tui)
        elif (
            item.get_closest_marker("integration")
            or item.get_closest_marker("real_agent")
            or PROCESS_FIXTURES & set(getattr(item, "fixturenames", ()))
        ):
            item.add_marker(pytest.mark.integration)
        else:
            item.add_marker(pytest.mark.unit)
