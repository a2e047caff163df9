"""Private state on disk (issue 15 item 10): the town's runtime state (``.gastown/``, its ``logs/``)
holds transcripts of everything agents printed, gate output and launcher specs with environments, so
it is readable by its owner only, whatever the umask: directories 0700, files 0600.

Standard library only. :mod:`core.transcripts` (started by tmux, standard library only by design)
applies the same modes itself.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: Mode of private directories (``.gastown/``, ``.gastown/logs/``).
PRIVATE_DIR_MODE = 0o700
#: Mode of private files (transcripts, gate and engine logs).
PRIVATE_FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create directory ``path`` (and missing parents) if needed and make it 0700, also when it
    already existed with a looser mode (a town made by an older version). A directory owned by
    another user is left as it is. Returns the path. Raises OSError when it cannot be created."""
    p = Path(path)
    p.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        st = p.stat()
        if st.st_uid == os.geteuid() and st.st_mode & 0o777 != PRIVATE_DIR_MODE:
            os.chmod(p, PRIVATE_DIR_MODE)
    return p


def open_private(path: str | os.PathLike[str], flags: int) -> int:
    """``os.open(path, flags | O_CLOEXEC, 0600)``, then ``fchmod`` to 0600 so that a file that existed
    with a looser mode is tightened too. Returns the file descriptor. Raises OSError."""
    fd = os.open(path, flags | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    with contextlib.suppress(OSError):
        if os.fstat(fd).st_mode & 0o777 != PRIVATE_FILE_MODE:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    return fd
