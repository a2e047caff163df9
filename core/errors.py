"""Errors the engine raises for bad input or refused operations.

Every error carries one line that names the problem and the fix; the command line prints it on stderr
and exits with ``exit_code`` (2 for usage errors, as the gt contract says).
"""

from __future__ import annotations


class GtError(Exception):
    """A refused operation or bad input. ``str(err)`` is one line naming the problem and the fix.

    exit_code: the process exit status the command line uses (2: bad input or refused).
    """

    exit_code = 2


class NotATown(GtError):
    """No town was found (``--town``, ``GT_TOWN`` or a parent of the current directory)."""


class ConfigError(GtError):
    """A malformed ``town.toml`` or ``rig.toml``, or a bad value for a setting."""


class NotFound(GtError):
    """A named thing (rig, bead, polecat, session, preset) does not exist."""


class Conflict(GtError):
    """The operation collides with existing state (duplicate name, held work, lost a race)."""


class GitError(GtError):
    """A git operation failed (not a repository, unreachable URL, refused push)."""


class AgentStartError(GtError):
    """An agent CLI did not get past start-up: it exited, or did not take its first prompt in time.

    The message names the agent and the fix, then the agent's last screen lines (as plain text).
    """

    exit_code = 1
