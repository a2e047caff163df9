"""Agent states: what the agent CLI in a session is doing, as its own hooks report it (DESIGN section 7).

States: ``starting`` (launched, prompt not yet taken), ``working`` (a turn runs), ``waiting`` (it needs
an answer: it asked a question and ended its turn with work still on its hook, or shows a permission
prompt or dialog), ``idle`` (at its prompt, turn ended, nothing on its hook), ``exited``.

The runtime's hooks (Claude Code settings hooks, Codex ``notify``) run ``gt agent hook EVENT``, which
calls :func:`record`; :func:`core.runtimes.state.session_state` reads these first, then the screen. One row per tmux session (``agent_sessions``) also keeps the agent's
own conversation id (Claude ``--session-id``, Codex thread id), so a restarted agent resumes it, and the
bead it was started for (a new bead starts a new conversation).
"""

from __future__ import annotations

import time

from core.db import Database, register_schema, transaction
from core.records import Frozen

STATES = ("starting", "working", "waiting", "idle", "exited")

DDL = """
CREATE TABLE IF NOT EXISTS agent_sessions (
    session TEXT PRIMARY KEY,
    agent TEXT NOT NULL DEFAULT '',
    bead TEXT,
    conversation TEXT,
    state TEXT NOT NULL DEFAULT 'starting',
    detail TEXT NOT NULL DEFAULT '',
    state_at REAL NOT NULL,
    started_at REAL NOT NULL,
    prompt_at REAL
)
"""
register_schema("agent_state", DDL)


class AgentSession(Frozen):
    """One row: the tmux ``session``, the preset ``agent``, the ``bead`` it was started for, the
    agent's own ``conversation`` id (or None), its ``state`` and why (``detail``); times are Unix
    seconds (``prompt_at``: when a prompt was last submitted by the agent's hooks).

    Immutable, equal and hashed by its fields (:class:`core.records.Frozen`).
    """

    __slots__ = _FIELDS = (
        "session",
        "agent",
        "bead",
        "conversation",
        "state",
        "detail",
        "state_at",
        "started_at",
        "prompt_at",
    )
    session: str
    agent: str
    bead: str | None
    conversation: str | None
    state: str
    detail: str
    state_at: float
    started_at: float
    prompt_at: float | None

    def __init__(
        self,
        session: str,
        agent: str,
        bead: str | None,
        conversation: str | None,
        state: str,
        detail: str,
        state_at: float,
        started_at: float,
        prompt_at: float | None,
    ) -> None:
        self._set(session, agent, bead, conversation, state, detail, state_at, started_at, prompt_at)


_COLS = "session, agent, bead, conversation, state, detail, state_at, started_at, prompt_at"


def get(db: Database, session: str) -> AgentSession | None:
    """The row of ``session``, or None."""
    row = db.execute(f"SELECT {_COLS} FROM agent_sessions WHERE session = ?", [session]).fetchone()
    return AgentSession(*row) if row else None


def started(db: Database, session: str, agent: str, bead: str | None, conversation: str | None) -> None:
    """Record a launch: state ``starting``; ``conversation`` is the id the agent was told to use or
    resume (None when it picks its own, learnt later through :func:`record`)."""
    now = time.time()
    with transaction(db):
        db.execute(
            "INSERT INTO agent_sessions (session, agent, bead, conversation, state, detail, state_at, "
            "started_at) VALUES (?, ?, ?, ?, 'starting', 'launched', ?, ?) ON CONFLICT(session) DO UPDATE "
            "SET agent = excluded.agent, bead = excluded.bead, conversation = excluded.conversation, "
            "state = 'starting', detail = 'launched', state_at = excluded.state_at, "
            "started_at = excluded.started_at, prompt_at = NULL",
            [session, agent, bead, conversation, now, now],
        )


def record(
    db: Database,
    session: str,
    state: str,
    detail: str = "",
    conversation: str | None = None,
    prompt: bool = False,
) -> None:
    """Set the state of ``session`` (one of :data:`STATES`), and its conversation id when given.
    prompt: a prompt was just submitted (sets ``prompt_at``). Creates the row if missing (an agent
    started before this table existed). Raises ValueError for an unknown state."""
    if state not in STATES:
        raise ValueError(f"unknown agent state {state!r}: use one of {', '.join(STATES)}")
    now = time.time()
    with transaction(db):
        db.execute(
            "INSERT OR IGNORE INTO agent_sessions (session, state, detail, state_at, started_at) "
            "VALUES (?, ?, ?, ?, ?)",
            [session, state, detail, now, now],
        )
        db.execute(
            "UPDATE agent_sessions SET state = ?, detail = ?, state_at = ?, "
            "conversation = coalesce(?, conversation), prompt_at = CASE WHEN ? THEN ? ELSE prompt_at END "
            "WHERE session = ?",
            [state, detail[:500], now, conversation, int(prompt), now, session],
        )


def note(db: Database, session: str, detail: str, conversation: str | None = None) -> None:
    """Record what happened in ``session`` (and its conversation id) without changing its state
    (a compaction or a session start says nothing about whether a turn runs)."""
    now = time.time()
    with transaction(db):
        db.execute(
            "INSERT OR IGNORE INTO agent_sessions (session, state, detail, state_at, started_at) "
            "VALUES (?, 'starting', ?, ?, ?)",
            [session, detail, now, now],
        )
        db.execute(
            "UPDATE agent_sessions SET detail = ?, conversation = coalesce(?, conversation) WHERE session = ?",
            [detail[:500], conversation, session],
        )


def is_command(prompt: str) -> bool:
    """True for a CLI's own command typed at its prompt (``/compact``): no model turn follows it, so
    no turn-end hook either (nor a state change when a nudge types it)."""
    return prompt.lstrip().startswith("/")


def turn_state(hooked: bool) -> str:
    """The state of an agent whose turn just ended: ``waiting`` while work is on its hook (it asked
    a question or stopped short: it needs an answer or a nudge), else ``idle``."""
    return "waiting" if hooked else "idle"


def conversation_for(db: Database, session: str, bead: str | None) -> str | None:
    """The conversation id to resume in ``session`` for ``bead``: the recorded one if it was started
    for the same bead, else None (a new bead starts a new conversation)."""
    row = get(db, session)
    if row is None or not row.conversation or row.bead != bead:
        return None
    return row.conversation
