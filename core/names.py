"""Strict name patterns, checked before a name becomes a path, a branch or a tmux session.

Names from users or agents never reach a shell; these checks keep them from escaping their directory
(``..``, ``/``) or confusing git and tmux (``:``, ``.``, spaces).
"""

from __future__ import annotations

import re

from core.errors import GtError

RIG_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
PREFIX = re.compile(r"^[a-z][a-z0-9]{1,7}$")
POLECAT_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


def check_rig_name(name: str) -> str:
    """Return ``name`` if it is a valid rig name (``^[a-z][a-z0-9_-]{0,31}$``).

    Raises GtError naming the pattern otherwise.
    """
    if not RIG_NAME.fullmatch(name or ""):  # fullmatch: "$" alone lets a final newline through
        raise GtError(f"invalid rig name {name!r}: use 1-32 characters, a lowercase letter first, then a-z 0-9 _ -")
    return name


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid bead prefix (2-8 characters, lowercase letter first, a-z 0-9).

    Raises GtError otherwise.
    """
    if not PREFIX.fullmatch(prefix or ""):
        raise GtError(f"invalid prefix {prefix!r}: use 2-8 characters, a lowercase letter first, then a-z 0-9")
    return prefix


def check_polecat_name(name: str) -> str:
    """Return ``name`` if it is a valid polecat name (same pattern as rig names).

    Raises GtError otherwise.
    """
    if not POLECAT_NAME.fullmatch(name or ""):
        raise GtError(f"invalid polecat name {name!r}: use 1-32 characters, a lowercase letter first, then a-z 0-9 _ -")
    return name


def check_crew_name(name: str) -> str:
    """Return ``name`` if it is a valid crew workspace name (the polecat pattern,
    ``^[a-z][a-z0-9_-]{0,31}$``: it becomes a directory, the branch ``crew/<name>`` and a tmux session).

    Raises GtError otherwise.
    """
    if not POLECAT_NAME.match(name or ""):
        raise GtError(f"invalid crew name {name!r}: use 1-32 characters, a lowercase letter first, then a-z 0-9 _ -")
    return name
