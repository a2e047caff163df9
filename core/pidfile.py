"""Process liveness: :func:`pid_alive` (used for sessions and the engine), and the engine's pid file
(``.gastown/engine.pid``): whether a town's engine runs, and which process it is.

Kept apart from :mod:`core.engine` so that commands asking only "is an engine up?" (``gt status``, the
ledger sync after every ``gt`` command) do not import the engine and its loops.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.town import Town

ENGINE_PID_FILE = "engine.pid"


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie (Linux /proc, else ``kill -0``)."""
    if pid <= 0:
        return False
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        return raw[raw.rfind(")") + 2:raw.rfind(")") + 3] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def engine_pid(town: Town) -> int | None:
    """The pid of the town's running engine (from ``.gastown/engine.pid``), or None."""
    try:
        pid = int((town.state_dir / ENGINE_PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None
