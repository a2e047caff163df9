"""The process tree of an agent session or a gate: found, and signalled, including escapees.

A pane's agent (or a gate's command) may start children that leave its process group or session
(``setsid``, a double fork, a daemonising tool). They are still found: by their session id or
process group, as descendants, and (given a tag) by environment entries every process of the tree
inherits (``GT_SESSION``/``GT_SOCKET`` for sessions, ``GT_GATE`` for gates). Reading every process's
environment costs a /proc read per process, so callers pass the tag only when about to signal.
Method after Gas Town (internal/tmux: kill the process group, TERM then KILL).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    """One row of the process table: ids, the state letter (``Z`` for a zombie) and the command name."""

    pid: int
    ppid: int
    pgid: int
    sid: int
    state: str
    comm: str


def processes() -> list[Proc]:
    """The process table: /proc on Linux, else ``ps`` (where the session id is the process group)."""
    procs: list[Proc] = []
    if Path("/proc/self/stat").exists():
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                raw = Path(f"/proc/{entry}/stat").read_text(errors="replace")
            except OSError:
                continue
            comm = raw[raw.find("(") + 1 : raw.rfind(")")]
            fields = raw[raw.rfind(")") + 2 :].split()
            procs.append(Proc(int(entry), int(fields[1]), int(fields[2]), int(fields[3]), fields[0], comm))
        return procs
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,pgid=,stat=,comm="], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5:
            pid, ppid, pgid = int(parts[0]), int(parts[1]), int(parts[2])
            procs.append(Proc(pid, ppid, pgid, pgid, parts[3][:1], Path(parts[4]).name))
    return procs


def tagged(pid: int, tag: Iterable[bytes]) -> bool:
    """True if process ``pid`` (one of ours) carries every ``KEY=value`` entry of ``tag`` in its
    environment (read from /proc; False when it cannot be read)."""
    try:
        env = b"\0" + Path(f"/proc/{pid}/environ").read_bytes() + b"\0"
    except OSError:
        return False
    return all(b"\0" + entry + b"\0" in env for entry in tag)


def members(root: int, tag: Iterable[bytes] | None = None) -> list[Proc]:
    """Live (not zombie) processes of the tree whose first process is ``root``: same session id or
    process group (tmux makes a pane's process a session leader), descendants of ``root``, and,
    with ``tag`` (environment entries, all required, see :func:`tagged`), processes carrying it and
    their descendants. This process is never a tagged member. A ``root`` below 2 (-1; or 0 and 1,
    which a pane not yet (or no longer) reporting its pid gives, and whose trees are the kernel's
    and init's: every process) follows the tag only."""
    if root < 2:
        root = -1
    procs = [p for p in processes() if p.state != "Z"]
    found = {p.pid for p in procs if p.sid == root or p.pgid == root or p.pid == root}
    if tag is not None:
        entries = tuple(tag)
        me = os.getpid()
        found |= {p.pid for p in procs if p.pid != me and p.pid not in found and tagged(p.pid, entries)}
    children: dict[int, list[int]] = {}
    for p in procs:
        children.setdefault(p.ppid, []).append(p.pid)
    stack = [root, *found]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return [p for p in procs if p.pid in found]


def signal_all(pids: Iterable[int], sig: int) -> None:
    """Send ``sig`` to each of ``pids``; one already gone (or not ours) is skipped, and so are this
    process and pids below 2 (``kill(0)`` would signal our own group, ``kill(-1)`` every process)."""
    me = os.getpid()
    for pid in pids:
        if pid < 2 or pid == me:
            continue
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
