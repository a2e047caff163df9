"""Session names: which tmux session a role runs in (``mayor``, ``deacon``, ``<rig>-<polecat>``,
``<rig>-refinery``, ``<rig>-witness``, ``<rig>-crew-<name>``), and the rule a name must follow.

Apart from :mod:`core.sessions` (which re-exports these) so that the commands that only name a
session (an agent's per-prompt hook draining its nudges, the nudge queue) need not import the tmux
host and its subprocess machinery.
"""

from __future__ import annotations

import re

from core.errors import GtError

SESSION_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,79}$")
ROLE_SUFFIXES = ("refinery", "witness", "crew")


def check_session_name(name: str) -> str:
    """Return ``name`` if it is a valid session name (``^[a-z][a-z0-9_-]{0,79}$``: no ``.``, ``:`` or
    spaces, which tmux reads as window/pane separators). Raises GtError otherwise."""
    if not SESSION_NAME.match(name or ""):
        raise GtError(
            f"invalid session name {name!r}: use a lowercase letter first, then a-z 0-9 _ - "
            "(e.g. mayor, myrig-toast, myrig-refinery)"
        )
    return name


def session_name(role: str, rig: str | None = None, name: str | None = None) -> str:
    """The session name of a role: ``mayor``/``deacon``; ``polecat`` -> ``<rig>-<name>``;
    ``refinery``/``witness`` -> ``<rig>-<role>``; ``crew`` -> ``<rig>-crew-<name>``.

    Raises GtError for an unknown role, a missing rig/name, or a polecat named like a rig role
    (``refinery``, ``witness``, ``crew``), which would collide with that role's session.
    """
    from core.names import check_polecat_name, check_rig_name

    if role in ("mayor", "deacon"):
        return role
    if not rig:
        raise GtError(f"role {role!r} needs a rig: pass the rig name")
    check_rig_name(rig)
    if role in ("refinery", "witness"):
        return check_session_name(f"{rig}-{role}")
    if role not in ("polecat", "crew") or not name:
        raise GtError(
            f"unknown role {role!r} or missing name: use mayor, deacon, polecat, crew, "
            "refinery or witness (polecat and crew need a name)"
        )
    check_polecat_name(name)
    if role == "crew":
        return check_session_name(f"{rig}-crew-{name}")
    if name in ROLE_SUFFIXES:
        raise GtError(f"polecat name {name!r} is reserved for the rig's {name} session: choose another name")
    return check_session_name(f"{rig}-{name}")
