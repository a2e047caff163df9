"""Who is acting: the name recorded on beads (``created_by``, ``assignee`` on claim) and in events.

Resolution order (as beads and Gas Town do it): an explicit ``--actor``; else ``$BD_ACTOR``; else the
role from the session environment (``GT_RIG`` + ``GT_POLECAT`` -> ``<rig>/polecats/<name>``,
``GT_RIG`` + ``GT_CREW`` -> ``<rig>/crew/<name>``, ``GT_ROLE`` = mayor/deacon -> that word,
``GT_ROLE`` = witness/refinery with ``GT_RIG`` -> ``<rig>/<role>``); else the login user name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def current_actor(explicit: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The actor name for this process (see the module docstring for the order).

    env: the environment to read (default ``os.environ``). Never raises; ``unknown`` as a last resort.
    """
    env = os.environ if env is None else env
    if explicit and explicit.strip():
        return explicit.strip()
    if env.get("BD_ACTOR", "").strip():
        return env["BD_ACTOR"].strip()
    rig = env.get("GT_RIG", "").strip()
    role = env.get("GT_ROLE", "").strip().lower()
    if rig and env.get("GT_POLECAT", "").strip():
        return f"{rig}/polecats/{env['GT_POLECAT'].strip()}"
    if rig and env.get("GT_CREW", "").strip():
        return f"{rig}/crew/{env['GT_CREW'].strip()}"
    if role in ("mayor", "deacon"):
        return role
    if rig and role in ("witness", "refinery"):
        return f"{rig}/{role}"
    for key in ("USER", "LOGNAME", "USERNAME"):
        if env.get(key, "").strip():
            return env[key].strip()
    try:
        import getpass  # termios: only when no variable names the actor

        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
