"""Telling the human an agent waits for input (issue 21, part 4): the terminal bell, once per agent
each time it starts waiting, and optionally a desktop notification (``[cockpit] notify``).

:class:`WaitingAlerts` compares two snapshots (:class:`core.townview.TownSnapshot`): an agent whose
state became ``waiting`` (the witness's rule: its turn ended with work on its hook, or a dialog
shows) is a transition; one still waiting is not, so the bell rings once per transition, never
every second. The first snapshot is the baseline (the badge in the agents tree shows who waits).

The desktop notification runs ``notify-send`` with an argv list (never a shell), its text made of
the agent's key and a fixed sentence with every control character removed
(:func:`core.plaintext.one_line`), after ``--`` so no text is read as an option.
"""

from __future__ import annotations

import shutil
import subprocess

from core.plaintext import one_line
from core.townview import Agent, TownSnapshot

#: ``[cockpit] notify`` values.
NOTIFY_MODES = ("bell", "desktop", "off")
#: Seconds a notify-send call may take.
NOTIFY_TIMEOUT_S = 5.0


class WaitingAlerts:
    """The agents that started waiting between two snapshots (see the module docstring)."""

    def __init__(self) -> None:
        self._waiting: set[str] | None = None

    def update(self, snap: TownSnapshot) -> list[Agent]:
        """The agents of ``snap`` that wait for input now and did not in the previous snapshot
        ([] for the first snapshot, the baseline)."""
        agents = [a for a in ([snap.mayor] if snap.mayor else []) + snap.agents if a.state == "waiting"]
        now = {a.key for a in agents}
        before, self._waiting = self._waiting, now
        if before is None:
            return []
        return [a for a in agents if a.key not in before]


def waiting_text(agent: Agent) -> str:
    """The one line that says ``agent`` waits (no control characters)."""
    what = f" on {agent.bead}" if agent.bead else ""
    return one_line(f"{agent.key} waits for input{what}")


def desktop_notify(title: str, body: str) -> bool:
    """Show a desktop notification with ``notify-send`` (argv, no shell; ``--`` ends its options).
    Returns False when notify-send is not installed or failed (the caller rings the bell instead).
    Blocks up to :data:`NOTIFY_TIMEOUT_S` seconds: call it from a thread."""
    exe = shutil.which("notify-send")
    if exe is None:
        return False
    try:
        proc = subprocess.run(
            [exe, "--app-name=gastown-tui", "--", one_line(title), one_line(body)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=NOTIFY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0
