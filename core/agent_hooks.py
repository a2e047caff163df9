"""The agent CLIs' own hooks: what ``gt agent hook EVENT`` does when Claude Code or Codex calls it.

Gas Town installs per-role runtime hooks (Claude Code settings hooks; Codex ``notify``); these are
ours (issue 14). The session is ``$GT_SESSION`` (set by :func:`core.runtimes.start_agent`), the role
the usual ``GT_*`` identity. Events:

- ``session-start`` (Claude SessionStart, also ``gt prime --hook``): records the agent's conversation
  id and prints the role's ``gt prime`` brief, which the CLI adds to the model's context: at start,
  after a compaction and on resume, the agent is re-primed;
- ``prompt`` (Claude UserPromptSubmit): the agent is ``working``; prints a line about unread mail
  (a ``/command`` of the CLI itself starts no turn and changes nothing);
- ``stop`` (Claude Stop) and ``codex-notify`` (Codex ``agent-turn-complete``): the turn ended:
  ``waiting`` while work is on the hook, else ``idle``;
- ``notification`` (Claude Notification): ``waiting`` on a permission prompt or dialog;
- ``pre-compact`` (Claude PreCompact): noted; the re-prime follows with session-start. Neither
  changes the state: a compaction runs inside a turn or from the prompt, and no Stop follows it.

A hook never fails its CLI: errors go to stderr and the exit status is 0. Printed text is plain, with
control characters removed (mail subjects are written by agents).
"""

from __future__ import annotations

import json
import os

from core import agent_state
from core.plaintext import strip_controls
from core.town import Town

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

#: How every polecat's first prompt starts (core.sling.beacon).
BEACON = "[GAS TOWN]"
EVENTS = ("session-start", "prompt", "stop", "notification", "pre-compact", "codex-notify")
#: Claude Code notification types that mean a human (or a nudge) must answer.
WAITING_NOTIFICATIONS = ("permission_prompt", "elicitation_dialog")


def parse_payload(raw: str) -> dict[str, Any]:
    """The hook's JSON payload (stdin for Claude Code, the last argument for Codex); {} when empty
    or not a JSON object."""
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def handle(town: Town, event: str, payload: dict[str, Any], env: dict[str, str] | None = None) -> str:
    """Run hook ``event`` (one of :data:`EVENTS`) for the session in ``env`` (default: os.environ).
    Returns the text to print (the CLI adds it to the model's context where it does). Raises
    ValueError for an unknown event."""
    from core.db import connect
    from core.roles import detect

    if event not in EVENTS:
        raise ValueError(f"unknown hook event {event!r}: use one of {', '.join(EVENTS)}")
    env = dict(os.environ) if env is None else env
    session = env.get("GT_SESSION", "")
    role = detect(town, env)
    if event == "session-start":
        from core.beads.store import BeadStore  # first: its ledger guard then checks the one open below
        from core.prime import prime
    db = connect(town.db_path)
    try:
        conversation = _conversation(payload)
        if event == "session-start":
            if session:
                agent_state.note(db, session, f"session start ({payload.get('source') or 'startup'})", conversation)
            return prime(town, role, BeadStore(town, db=db))
        if not session:
            return ""
        if event == "prompt":
            if agent_state.is_command(str(payload.get("prompt") or "")):
                agent_state.note(db, session, "ran a command of its CLI", conversation)
                return ""
            agent_state.record(db, session, "working", "prompt submitted", conversation=conversation, prompt=True)
            return _mail_line(town, role, db)
        if event in ("stop", "codex-notify"):
            if event == "codex-notify":
                if payload.get("type") not in (None, "agent-turn-complete") or not _our_thread(db, session, payload):
                    return ""  # another thread's turn (Codex titles a new thread in a thread of its own)
            state = agent_state.turn_state(_hooked(db, role))
            agent_state.record(db, session, state, "turn ended", conversation=conversation)
            return ""
        if event == "notification":
            kind = str(payload.get("notification_type") or "")
            if kind in WAITING_NOTIFICATIONS:
                agent_state.record(db, session, "waiting", plain(str(payload.get("message") or kind))[:200])
            return ""
        agent_state.note(db, session, "compacting its context", conversation)
        return ""
    finally:
        db.conn.close()


def _our_thread(db: Any, session: str, payload: dict[str, Any]) -> bool:
    """True if a Codex notify is about the session's own thread: the recorded conversation, or (none
    recorded yet, or another one) a thread whose first prompt was a Gas Town beacon."""
    row = agent_state.get(db, session)
    thread = _conversation(payload)
    if row is not None and row.conversation and thread == row.conversation:
        return True
    prompts = payload.get("input-messages") or []
    if not isinstance(prompts, list) or not prompts:
        return row is None or not row.conversation  # nothing to tell threads apart by
    return str(prompts[0]).startswith(BEACON)


def _conversation(payload: dict[str, Any]) -> str | None:
    value = payload.get("session_id") or payload.get("thread-id") or payload.get("thread_id")
    return str(value) if value else None


def _hooked(db: Any, role: Any) -> bool:
    if role.kind != "polecat":
        return False
    row = db.execute("SELECT hook_bead FROM polecats WHERE rig = ? AND name = ?", [role.rig, role.name]).fetchone()
    return bool(row and row[0])


def _mail_line(town: Town, role: Any, db: Any) -> str:
    """One line per unread message for the calling agent (at most 5), or ""."""
    from core import mail

    if role.kind == "human":
        return ""
    try:
        unread = mail.inbox(town, role.address, db=db)
    except Exception:  # a hook never fails its CLI
        return ""
    if not unread:
        return ""
    lines = [f"[GAS TOWN] You have {len(unread)} unread mail message(s); read them with 'gt mail inbox':"]
    lines += [f"- {m.id} from {plain(m.sender)}: {plain(m.subject)}"[:200] for m in unread[:5]]
    return "\n".join(lines)


def plain(text: str) -> str:
    """``text`` without control characters (newlines become spaces)."""
    return strip_controls(text.replace("\n", " "))
