"""Atomic file writes: a temporary file in the same directory, fsync, then rename over the target.

A reader (or a crash) sees either the old content or the new one, never a half-written file.
"""

from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    #: Bytes, or bytes in parts (views into a buffer the caller holds) that stand for their join.
    Chunks = bytes | Sequence[bytes | memoryview]


def chunks(data: Chunks) -> Sequence[bytes | memoryview]:
    """``data`` (:data:`Chunks`) as a sequence of parts: bytes become one part."""
    return (data,) if isinstance(data, bytes) else data


def atomic_write_bytes(
    path: str | os.PathLike[str],
    data: Chunks,
    mode: int | None = None,
    before_rename: Callable[[], None] | None = None,
) -> None:
    """Replace ``path`` with ``data`` (bytes, or parts written one after the other) atomically (temp
    file + fsync + rename).

    mode: permission bits for the new file (default: keep the old file's, else 0o644).
    before_rename: called once the temp file is written and synced, just before the rename (a
    ledger export records what it is about to put in place); what it raises aborts the write.
    Raises OSError if the directory is not writable; the old file is then untouched.
    """
    import tempfile  # and shutil, random: only for a process that writes a file

    target = Path(path)
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.writelines(chunks(data))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if before_rename is not None:
            before_rename()
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, mode: int | None = None) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)
