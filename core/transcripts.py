"""Session transcripts: every byte a session prints, kept in ``.gastown/logs/<session>.log``.

tmux ``pipe-pane`` feeds a session's raw output (what the agent wrote to its terminal, before tmux
renders it) into :func:`write_stream`, run as ``python -P -m core.transcripts LOG MAX_BYTES KEEP``. The
log is capped: when it reaches ``MAX_BYTES`` it is rotated like logrotate does (``.log`` ->
``.log.1`` -> ... -> ``.log.KEEP``, the oldest dropped). The log's modification time
is the session's "last activity" (DESIGN section 4): it moves exactly when the agent prints.

This module imports only the standard library: tmux starts it once per session.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

CHUNK = 65536


def log_path(logs_dir: str | os.PathLike[str], session: str) -> Path:
    """Path of the transcript of ``session`` (an already validated session name) in ``logs_dir``."""
    return Path(logs_dir) / f"{session}.log"


def rotated_paths(path: str | os.PathLike[str], keep: int) -> list[Path]:
    """The transcript files of one session, oldest first: ``.log.KEEP`` ... ``.log.1``, ``.log``."""
    p = Path(path)
    return [p.with_name(f"{p.name}.{i}") for i in range(keep, 0, -1)] + [p]


def rotate(path: str | os.PathLike[str], keep: int) -> None:
    """Shift ``path`` to ``path.1`` (and ``.1`` to ``.2``, up to ``keep``; the oldest is dropped).

    keep: rotated files kept (0: the log is simply removed). Each step is an atomic rename.
    """
    p = Path(path)
    if keep <= 0:
        p.unlink(missing_ok=True)
        return
    for i in range(keep - 1, 0, -1):
        older = p.with_name(f"{p.name}.{i}")
        if older.exists():
            os.replace(older, p.with_name(f"{p.name}.{i + 1}"))
    if p.exists():
        os.replace(p, p.with_name(f"{p.name}.1"))


def write_stream(fd_in: int, path: str | os.PathLike[str], max_bytes: int, keep: int) -> int:
    """Append everything read from file descriptor ``fd_in`` to ``path`` until end of file, rotating
    whenever the log reaches ``max_bytes`` (bytes; a chunk is split across the rotation, so no file
    exceeds the cap). The log is 0600 (its directory made 0700 when created). Each chunk is written
    unbuffered, so the log's mtime is the time of the last output. Returns the number of bytes written.
    """
    p = Path(path)
    p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    max_bytes = max(1, int(max_bytes))
    total = 0
    fd = _open_log(p)
    try:
        size = os.fstat(fd).st_size
        while True:
            try:
                data = os.read(fd_in, CHUNK)
            except InterruptedError:
                continue
            if not data:
                break
            view = memoryview(data)
            while view:
                if size >= max_bytes:
                    os.close(fd)
                    rotate(p, keep)
                    fd = _open_log(p)
                    size = 0
                n = os.write(fd, view[: max_bytes - size])
                view = view[n:]
                size += n
            total += len(data)
    finally:
        os.close(fd)
    return total


def _open_log(path: Path) -> int:
    """Open the transcript for appending, private to its owner (0600 whatever the umask; an older,
    looser file is tightened): it holds everything the agent printed (the same rule as
    :func:`core.filemodes.open_private`, repeated here to keep this module standard library only)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    if os.fstat(fd).st_mode & 0o777 != 0o600:
        os.fchmod(fd, 0o600)
    return fd


def pipe_command(path: str | os.PathLike[str], max_bytes: int, keep: int) -> str:
    """The command tmux ``pipe-pane`` runs (tmux hands it to ``/bin/sh -c``, so it must be a string).

    Built only from this interpreter's path, the log path (under the town, from a validated session
    name) and two integers, each quoted with :func:`shlex.quote`: no agent or user text. ``-P`` keeps
    the directory tmux runs it in off ``sys.path`` (a project's own ``core`` package is not imported).
    """
    return shlex.join([sys.executable, "-P", "-m", "core.transcripts", str(path), str(int(max_bytes)), str(int(keep))])


def last_activity(path: str | os.PathLike[str]) -> float | None:
    """Unix time (seconds) of the transcript's last growth (its mtime), or None when there is none."""
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return None


def tail(path: str | os.PathLike[str], max_bytes: int = 65536, keep: int = 2) -> bytes:
    """The last ``max_bytes`` bytes a session printed, read across the rotated files (oldest first)."""
    out = b""
    for p in reversed(rotated_paths(path, keep)):
        try:
            with open(p, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                want = max_bytes - len(out)
                fh.seek(max(0, size - want))
                out = fh.read() + out
        except FileNotFoundError:
            continue
        if len(out) >= max_bytes:
            break
    return out[-max_bytes:] if max_bytes else b""


def main(argv: list[str] | None = None) -> int:
    """``python -m core.transcripts LOG MAX_BYTES KEEP``: copy stdin into LOG (see :func:`write_stream`)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m core.transcripts LOG MAX_BYTES KEEP", file=sys.stderr)
        return 2
    write_stream(sys.stdin.fileno(), args[0], int(args[1]), int(args[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
