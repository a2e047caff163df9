"""Shared pieces of the tests with the real agent CLIs (no tests here): the pinned CLIs from
``agents/node_modules`` (``make agents``), a fresh HOME per CLI holding only what a returning user has,
the scripted model endpoint on 127.0.0.1, and a town whose rig has a pytest gate.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import edit_toml
from core.rigs import Rig, add_rig
from core.sessions import SessionHost
from core.town import Town
from tests.conftest import VENV_BIN, make_repo
from tests.model_endpoint import ModelEndpoint
from tests.test_engine_support import EngineThread, configure, create_bead, wait_for

#: A bead any polecat script finishes: one shell step, then gt done.
GREETING = "```sh\necho hello > greeting.txt\n```\n"

AGENTS_BIN = Path(__file__).resolve().parent.parent / "agents" / "node_modules" / ".bin"
API_KEY = "sk-ant-test-0123456789abcdefghijklmnopqrstuvwxyz"

#: Small thresholds so the witness acts within a test (stall_after stays long: a real agent's
#: quiet think must not be nudged).
SETTINGS = {
    "scheduler": {"spawn_delay": 0.2},
    "witness": {
        "patrol_interval": 0.5,
        "active_window": 5,
        "stall_after": 600,
        "gupp_after": 1200,
        "max_respawns": 3,
        "spawn_grace": 30,
    },
    "deacon": {"patrol_interval": 1},
    "ledger": {"commit_debounce": 0.5},
}

TEST_FILE = (
    "import pathlib\n\n\ndef test_no_file_says_broken():\n"
    "    assert not [p for p in pathlib.Path('.').rglob('*.txt') if 'BROKEN' in p.read_text()]\n"
)


def need(binary: str) -> Path:
    """The pinned CLI ``binary``; skips the test when ``make agents`` was not run."""
    path = AGENTS_BIN / binary
    if not path.exists():
        pytest.skip(f"{binary} is not installed: run 'make agents'")
    return path


def claude_home(home: Path) -> Path:
    """A HOME where Claude Code's onboarding is done and :data:`API_KEY` approved, nothing else."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".claude.json").write_text(
        json.dumps(
            {
                "hasCompletedOnboarding": True,
                "customApiKeyResponses": {"approved": [API_KEY[-20:]], "rejected": []},
            }
        )
    )
    return home


def claude_env(home: Path, endpoint: ModelEndpoint) -> dict[str, str]:
    """The variables a Claude Code user has: the key, the endpoint (here the scripted one), and
    IS_SANDBOX=1 since the tests run as root in CI."""
    return {
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": endpoint.url,
        "ANTHROPIC_API_KEY": API_KEY,
        "IS_SANDBOX": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "PATH": f"{AGENTS_BIN}{os.pathsep}{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def codex_home(home: Path, endpoint: ModelEndpoint) -> Path:
    """A HOME whose ``~/.codex/config.toml`` holds only a model provider (the scripted endpoint)."""
    (home / ".codex").mkdir(parents=True, exist_ok=True)
    (home / ".codex" / "config.toml").write_text(
        'model = "gpt-5-codex"\nmodel_provider = "scripted"\n\n[model_providers.scripted]\n'
        f'name = "scripted"\nbase_url = "{endpoint.url}/v1"\nwire_api = "responses"\nenv_key = "OPENAI_API_KEY"\n'
    )
    return home


def codex_env(home: Path) -> dict[str, str]:
    """The variables a Codex user has: the key of its provider."""
    return {
        "HOME": str(home),
        "OPENAI_API_KEY": "sk-test-codex",
        "PATH": f"{AGENTS_BIN}{os.pathsep}{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@pytest.fixture
def endpoint() -> Iterator[ModelEndpoint]:
    """The scripted model (polecat script) on 127.0.0.1."""
    with ModelEndpoint() as ep:
        yield ep


@pytest.fixture
def agent_rig(town: Town, tmp_path: Path) -> Iterator[tuple[Town, Rig]]:
    """A town (quick settings) with rig ``demo`` whose gate is pytest on the repository's own test.
    The town's tmux server is killed at teardown."""
    configure(town, SETTINGS)
    repo = make_repo(tmp_path / "src", {"README.md": "# project\n", "test_tree.py": TEST_FILE})
    rig = add_rig(town, "demo", str(repo))
    with edit_toml(rig.path / "rig.toml") as doc:
        doc["gates"]["test"] = {"cmd": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], "timeout": 120}
    yield town, rig
    SessionHost(town).kill_server()


def use_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Put ``env`` in this process's environment too (an in-process engine restarts agents with it)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def agent_texts(endpoint: ModelEndpoint) -> list[str]:
    """Everything each agent request told the model, in order."""
    return [t.all_text for t in endpoint.turns]


def events_of(town: Town, *kinds: str) -> list[Any]:
    """The town's events of ``kinds``, oldest first."""
    from core import events
    from core.beads.store import BeadStore

    with BeadStore(town) as store:
        return events.query(store.db, types=kinds or None)


def agent_env(
    agent: str, home: Path, endpoint: ModelEndpoint, gt_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment for real ``agent`` (``claude`` or ``codex``) with a fresh ``home`` talking to
    ``endpoint``, also put in this process's environment; skips when the CLI is not installed."""
    need(agent)
    extra = claude_env(claude_home(home), endpoint) if agent == "claude" else codex_env(codex_home(home, endpoint))
    env = {**gt_env, **extra}
    use_env(monkeypatch, env)
    return env


def work_greeting(agent: str, town: Town, env: dict[str, str], run_gt: Any) -> str:
    """File a :data:`GREETING` bead, sling it to real ``agent`` with an engine running, and wait for
    it to merge (closed); returns the bead id."""
    from core.beads.store import BeadStore

    bead = create_bead(run_gt, town, "Greeting file", GREETING)
    runner = EngineThread(town).start()
    try:
        res = run_gt("sling", bead, "demo", "--agent", agent, "--json", cwd=town.root, env=env, timeout=120)
        assert res.returncode == 0, res.stderr

        def closed() -> bool:
            with BeadStore(town) as store:
                return store.get(bead).status == "closed"

        wait_for(closed, timeout=240, what=f"{bead} merged")
    finally:
        runner.stop()
    return bead
