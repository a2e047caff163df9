"""The agent state of a session, the one rule the witness, nudges and the cockpit share (issue 14).

The runtime's hooks are believed first (:mod:`core.agent_state`: Claude Code's UserPromptSubmit/Stop/
Notification hooks, Codex's notify); the screen, read with the runtime's patterns, decides when there
are no hooks, and a dialog on screen always wins (a hook cannot see it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core import agent_state
from core.errors import GtError, NotFound
from core.runtimes.launch import runtime_for
from core.runtimes.presets import Preset

if TYPE_CHECKING:
    from core.db import Database
    from core.sessions import SessionHost


@dataclass(frozen=True)
class State:
    """``state``: one of :data:`core.agent_state.STATES`; ``source``: hook | screen | session;
    ``detail``: why, in a few words."""

    state: str
    source: str
    detail: str = ""

    @property
    def takes_input(self) -> bool:
        """True when text typed now reaches the agent as a prompt: at its prompt (idle), or turn
        ended while it waits for an answer; never while a dialog is on screen."""
        return self.state == "idle" or (self.state == "waiting" and self.source == "hook")


def session_state(host: SessionHost, db: Database | None, session: str, preset: Preset | None) -> State:
    """The state of the agent in ``session`` run by ``preset`` (None: unknown CLI, screen only with
    no prompt glyph). Never raises for a missing session: that is ``exited``."""
    try:
        info = host.info(session)
    except GtError:
        info = None
    if info is None or not info.alive:
        return State("exited", "session", "no live session")
    runtime = runtime_for(preset) if preset is not None else None
    try:
        screen = host.capture(session)
    except NotFound:
        return State("exited", "session", "no live session")
    seen = runtime.screen_state(screen, preset.ready_glyph) if runtime and preset else None
    if seen == "waiting":
        return State("waiting", "screen", "a dialog or question on screen")
    row = agent_state.get(db, session) if db is not None else None
    if runtime is not None and runtime.has_hooks and row is not None and row.state != "starting":
        return State(row.state, "hook", row.detail)
    if seen is not None:
        return State(seen, "screen", "")
    if row is not None and row.state in ("working", "waiting", "idle"):
        return State(row.state, "hook", row.detail)
    return State("working" if row is None or row.state != "starting" else "starting", "screen", "")
