"""Shared pieces of the engine tests (no tests here): an engine running in a background thread, town
config edits, and beads created the way a human would (the real ``gt``)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from core.config import edit_toml
from core.engine import Engine
from core.rigs import Rig, add_rig
from core.sessions import SessionHost
from core.town import Town
from tests.conftest import wait_for

SH = "```sh\n{}\n```\n"
FAST = {
    "scheduler": {"spawn_delay": 0.2},
    "witness": {
        "patrol_interval": 0.5,
        "active_window": 1,
        "stall_after": 3,
        "gupp_after": 600,
        "max_respawns": 3,
        "spawn_grace": 10,
    },
    "deacon": {"patrol_interval": 1, "stale_after": 3600, "checkpoint_interval": 300},
    "ledger": {"commit_debounce": 0.5},
}

__all__ = ["SH", "FAST", "configure", "EngineThread", "create_bead", "wait_for"]


def configure(town: Town, settings: dict[str, dict[str, Any]]) -> None:
    """Write ``{section: {key: value}}`` into the town's town.toml (comments kept) and reload it."""
    with edit_toml(town.config_path) as doc:
        for section, values in settings.items():
            for key, value in values.items():
                doc[section][key] = value
    town.reload()


class EngineThread:
    """A real :class:`Engine` running its asyncio loop in a background thread (as the cockpit runs it
    beside Textual). ``stop()`` asks it to stop and waits for a clean exit."""

    def __init__(self, town: Town, tick: float = 0.25) -> None:
        self.engine = Engine(town, tick=tick)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self.engine.run())
        except BaseException as exc:  # noqa: BLE001 - reported to the test by stop()
            self.error = exc

    def start(self) -> EngineThread:
        self.thread.start()
        wait_for(lambda: self.engine.running or self.error is not None, timeout=20)
        if self.error is not None:
            raise self.error
        return self

    def stop(self, timeout: float = 90) -> None:
        self.engine.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the engine did not stop"
        if self.error is not None:
            raise self.error


def create_bead(
    run_gt,
    town: Town,
    title: str,
    description: str = "",
    labels: tuple[str, ...] = (),
    rig: str = "demo",
    deps: str | None = None,
    priority: int = 2,
) -> str:
    """Create a bead with the real ``gt bead create``; returns its id."""
    args = ["bead", "create", title, "-d", description, "--rig", rig, "-p", str(priority), "--json"]
    for label in labels:
        args += ["--label", label]
    if deps:
        args += ["--deps", deps]
    res = run_gt(*args, cwd=town.root)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["id"]


@pytest.fixture
def fast_town(town: Town) -> Town:
    """The ``town`` fixture with the small thresholds of :data:`FAST`."""
    configure(town, FAST)
    return town


@pytest.fixture
def demo_rig(fast_town: Town, git_repo) -> Iterator[Rig]:
    """Rig ``demo`` on the test repository; its tmux server is killed at teardown."""
    rig = add_rig(fast_town, "demo", str(git_repo))
    yield rig
    SessionHost(fast_town).kill_server()


@pytest.fixture
def engine(fast_town: Town, demo_rig: Rig) -> Iterator[Engine]:
    """A running engine on the fast town (stopped cleanly at teardown)."""
    runner = EngineThread(fast_town).start()
    yield runner.engine
    runner.stop()
