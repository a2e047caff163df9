"""Handoff (Gas Town's ``gt handoff``): a polecat ends its session cleanly and a fresh session starts on
the same hook, its first prompt and its ``gt prime`` carrying the note the predecessor left.

:func:`request` runs inside the polecat's session: it writes the note on the hooked bead (metadata
``handoff``: note, author, Unix time; and a comment ``handoff: NOTE`` for the bead's history) and
starts a detached process (its own session, without the session's ``GT_SESSION``/``GT_SOCKET`` tags,
so stopping the session does not stop it) that runs :func:`cycle`: once the calling ``gt handoff``
has exited, it stops the session and starts a new one on the same worktree, branch and bead
(:meth:`core.sling.Slinger.resume` with the note: a new conversation, no respawn counted, a
``handoff`` event). Its output goes to ``.gastown/logs/handoff-<rig>-<polecat>.log``.
"""

from __future__ import annotations

import os
import sys
import time

from core.beads.model import Issue
from core.beads.store import BeadStore
from core.errors import GtError, NotFound
from core.roles import Role
from core.town import Town

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

#: Seconds :func:`cycle` waits for the calling ``gt handoff`` to exit before it stops the session anyway.
WAIT_S = 30.0
#: The most characters of a note kept.
MAX_NOTE = 4000
#: Environment variables that tag a process as the session's (core.sessions): a detached cycler drops them.
_SESSION_TAGS = ("GT_SESSION", "GT_SOCKET", "GT_SESSION_INSTANCE")


def note_of(issue: Issue) -> str | None:
    """The latest handoff note on ``issue`` ("" for a handoff without a note), or None."""
    entry = (issue.metadata or {}).get("handoff")
    return str(entry.get("note", "")) if isinstance(entry, dict) else None


def record(store: BeadStore, bead: str, note: str, actor: str) -> None:
    """Write ``note`` (cut to :data:`MAX_NOTE` characters) on ``bead`` as its handoff note and as a
    comment, in one transaction."""
    note = note.strip()[:MAX_NOTE]
    with store.transaction():
        issue = store.get(bead)
        meta = {**(issue.metadata or {}), "handoff": {"note": note, "by": actor, "at": time.time()}}
        store.update(bead, actor, metadata=meta)
        store.add_comment(bead, f"handoff: {note}" if note else "handoff (no note)", actor)


def request(town: Town, store: BeadStore, role: Role, note: str, env: dict[str, str] | None = None) -> int:
    """Hand off the calling polecat (``role``): record ``note`` on its hooked bead and start the
    detached cycler (see the module docstring); returns the cycler's pid. Raises GtError when the
    polecat has nothing hooked or no session to cycle."""
    import subprocess  # gt prime reads handoff notes from here; only a handoff starts a process

    from core import polecats

    p = polecats.get(store.db, role.rig or "", role.name or "")
    if p is None or not p.hook_bead:
        raise GtError(f"{role.address} has nothing on its hook: there is no work to hand off")
    if not p.session:
        raise GtError(f"{role.address} has no session to hand off: start it with 'gt sling --resume {p.hook_bead}'")
    record(store, p.hook_bead, note, role.address)
    child_env = {k: v for k, v in (os.environ if env is None else env).items() if k not in _SESSION_TAGS}
    town.logs_dir.mkdir(parents=True, exist_ok=True)
    log = town.logs_dir / f"handoff-{p.rig}-{p.name}.log"
    argv = [sys.executable, "-P", "-m", "gastown_tui.cli", "--town", str(town.root), "handoff"]
    argv += ["--cycle", p.hook_bead, "--after", str(os.getpid())]
    with log.open("ab") as out:
        child = subprocess.Popen(
            argv,
            cwd=town.root,
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return child.pid


def cycle(town: Town, bead: str, after: int | None = None, timeout: float = WAIT_S) -> Any:
    """Wait until process ``after`` (the calling ``gt handoff``) has exited (at most ``timeout``
    seconds), stop the session of the polecat holding ``bead`` and start a fresh one with the bead's
    handoff note; returns the :class:`core.sling.SlingResult`. Raises NotFound when no polecat holds
    the bead any more, GtError/Conflict/AgentStartError as :meth:`core.sling.Slinger.resume`."""
    from core import polecats
    from core.pidfile import pid_alive  # fcntl, signal: only the cycler waits on a pid
    from core.sling import Slinger

    deadline = time.monotonic() + timeout
    while after is not None and pid_alive(after) and time.monotonic() < deadline:
        time.sleep(0.05)
    store = BeadStore(town)
    holder = polecats.by_bead(store.db, bead)
    if holder is None:
        raise NotFound(f"no polecat holds {bead} any more: nothing to hand off")
    slinger = Slinger(town, store=store, actor=holder.address)
    # The witness leaves a spawning polecat alone (core.polecats.sling_starting): marked before its
    # session stops, or the witness restarts the dead session as a crash first, without the note.
    with store.transaction():
        polecats.upsert(store.db, holder.rig, holder.name, state="spawning")
    if holder.session and slinger.host.exists(holder.session):
        slinger.host.kill(holder.session)
    return slinger.resume(bead, handoff=note_of(store.get(bead)) or "", own_start=True)
