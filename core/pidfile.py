"""Process liveness: :func:`pid_alive` (used for sessions and the engine), and the engine's pid file
(``.gastown/engine.pid``): whether a town's engine runs, and which process it is.

A pid file alone proves nothing: after a ``kill -9`` or a reboot the pid it names may belong to any
other process. The engine holds ``.gastown/engine.lock`` (an ``flock``) for as long as it runs and the
kernel drops that lock when the engine dies, so :func:`engine_pid` trusts the pid file only while the
lock is held, and (on Linux) only when the process it names has the lock file open. Every "engine
running" claim and every signal to the engine (:func:`signal_engine`) goes through that check.

Kept apart from :mod:`core.engine` so that commands asking only "is an engine up?" (``gt status``, the
ledger sync after every ``gt`` command) do not import the engine and its loops.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
from pathlib import Path

from core.town import Town

ENGINE_PID_FILE = "engine.pid"
#: The engine's lock file in ``.gastown/``; held (``flock`` LOCK_EX) by the running engine.
ENGINE_LOCK_FILE = "engine.lock"


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists and is not a zombie (Linux /proc, else ``kill -0``)."""
    if pid <= 0:
        return False
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        return raw[raw.rfind(")") + 2 : raw.rfind(")") + 3] != "Z"
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


def engine_lock_held(town: Town) -> bool:
    """True if some process holds the engine lock of ``town`` (``.gastown/engine.lock``), see
    :func:`lock_held`."""
    return lock_held(town.state_dir / ENGINE_LOCK_FILE)


def lock_held(path: str | os.PathLike[str]) -> bool:
    """True if some process holds the ``flock`` lock file at ``path`` (a ``filelock.FileLock``: the
    engine's, the ledger sync's, a refinery's).

    Probes with a shared, non-blocking ``flock`` on a descriptor of its own (released at once), so
    it sees a holder in this process as well as one in another. A missing lock file: False.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        return exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _holds_open(pid: int, path: Path) -> bool | None:
    """True if process ``pid`` has ``path`` open (Linux ``/proc/<pid>/fd``), False if not, None when
    that cannot be read (no /proc, another user's process)."""
    try:
        target = os.stat(path)
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        with contextlib.suppress(OSError):
            st = os.stat(f"/proc/{pid}/fd/{fd}")
            if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
                return True
    return False


def engine_pid(town: Town) -> int | None:
    """The pid of the town's running engine, or None.

    The pid in ``.gastown/engine.pid`` counts only while the engine lock is held
    (:func:`engine_lock_held`), the process is alive and, where ``/proc`` shows it, that process has the
    lock file open: a pid file left by a killed engine, naming a process that took its number, is stale.
    """
    try:
        pid = int((town.state_dir / ENGINE_PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None
    if pid <= 0 or not pid_alive(pid) or not engine_lock_held(town):
        return None
    if _holds_open(pid, town.state_dir / ENGINE_LOCK_FILE) is False:
        return None
    return pid


def signal_engine(town: Town, sig: int = signal.SIGTERM) -> int | None:
    """Send ``sig`` to the town's engine, only after :func:`engine_pid` proved it. Returns the pid
    signalled, or None when no engine runs (nothing is signalled).

    On Linux the process is pinned with a pidfd before the check, so a pid freed and reused between
    the check and the signal is never hit.
    """
    pid = engine_pid(town)
    if pid is None:
        return None
    pidfd = None
    if hasattr(os, "pidfd_open"):
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(pid)
    try:
        if engine_pid(town) != pid:  # re-checked with the process pinned
            return None
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return None
    finally:
        if pidfd is not None:
            os.close(pidfd)
    return pid
