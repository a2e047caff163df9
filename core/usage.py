"""Token usage of agent sessions, read from each runtime's own records into the town database.

Sources, read incrementally (from the byte offset reached last time; a file that shrank is read again
from its start, and a line not yet ended by a newline waits for the next scan):

- Claude Code (2.1): ``<config home>/projects/<cwd, non-alphanumerics as ->/<session>.jsonl`` and the
  subagent files below such a folder. ``type: "assistant"`` lines carry ``message.id``,
  ``message.model``, ``message.usage`` (``input_tokens``, ``cache_creation_input_tokens``,
  ``cache_read_input_tokens``, ``output_tokens``), ``cwd``, ``gitBranch``, ``sessionId`` and
  ``timestamp``. One API message is written once per content block, each line repeating its usage:
  a message counts once, by its id.
- Codex CLI (0.17x): ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl``: a ``session_meta`` line
  (``payload.id``, ``cwd``, ``git.branch``), ``turn_context`` lines (``payload.model``) and
  ``event_msg`` lines of payload type ``token_count`` whose ``info.total_token_usage`` is cumulative
  for the session (``input_tokens`` includes ``cached_input_tokens``): each event counts as its
  increase over the one before.

Every row has the same token columns whatever the runtime: ``input`` (excluding cache reads and
writes), ``cache_read``, ``cache_write``, ``output``. Rows are attributed when read: the agent and rig
from the session's working directory (``<town>/<rig>/polecats/<name>``, ``<town>/<rig>/crew/<name>``,
``<town>/mayor``), the bead from its branch (``polecat/<name>/<bead>``). A later line on another
branch (the detached ``HEAD`` after ``gt done``) stays with the session's last bead. Sessions whose
working directory is outside the town are never read past their first line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath
from typing import Any

from core.db import Database, register_schema, transaction
from core.runtimes.claude import config_home
from core.runtimes.codex import codex_home
from core.town import Town

register_schema(
    "usage",
    """
CREATE TABLE IF NOT EXISTS usage (
    runtime TEXT NOT NULL,
    session TEXT NOT NULL,
    record TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    input INTEGER NOT NULL DEFAULT 0,
    cache_read INTEGER NOT NULL DEFAULT 0,
    cache_write INTEGER NOT NULL DEFAULT 0,
    output INTEGER NOT NULL DEFAULT 0,
    at REAL NOT NULL,
    agent TEXT NOT NULL DEFAULT '',
    rig TEXT NOT NULL DEFAULT '',
    bead TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL,
    PRIMARY KEY (runtime, session, record)
);
CREATE INDEX IF NOT EXISTS usage_bead ON usage (bead);
CREATE INDEX IF NOT EXISTS usage_at ON usage (at);
CREATE TABLE IF NOT EXISTS usage_sources (
    path TEXT PRIMARY KEY,
    runtime TEXT NOT NULL,
    offset INTEGER NOT NULL DEFAULT 0,
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '{}'
)
""",
)

_POLECAT_BRANCH = re.compile(r"^polecat/[^/]+/(.+)$")
#: The token columns of a usage row, in order.
TOKENS = ("input", "cache_read", "cache_write", "output")


@dataclass
class Usage:
    """One model response's tokens. record: its id within the session (Claude: the message id; Codex:
    the byte offset of its ``token_count`` line). at: Unix seconds. agent: ``<rig>/polecats/<name>``,
    ``<rig>/crew/<name>``, ``mayor`` or ``town``; bead: "" when the branch names none."""

    runtime: str
    session: str
    record: str
    model: str
    input: int
    cache_read: int
    cache_write: int
    output: int
    at: float
    agent: str
    rig: str
    bead: str


@dataclass
class _Source:
    """Where a file's reading stopped and what its earlier lines said (session, cwd, bead, model,
    Codex's last cumulative totals); ``foreign``: its session is not in this town."""

    offset: int = 0
    session: str = ""
    cwd: str = ""
    bead: str = ""
    model: str = ""
    totals: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    foreign: bool = False


def _count(value: Any) -> int:
    """A token count from a third-party record: a non-negative int, else 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _time(stamp: Any, default: float) -> float:
    """Unix seconds of an ISO-8601 ``stamp`` (``...Z``), else ``default``."""
    if isinstance(stamp, str):
        try:
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    return default


def attribute(root: Path, cwd: str) -> tuple[str, str] | None:
    """(agent, rig) of a session started in ``cwd`` (an absolute path) for the town at ``root``
    (resolved), or None when ``cwd`` is outside the town."""
    try:
        parts = PurePath(cwd).relative_to(root).parts
    except ValueError:
        return None
    if parts[:1] == ("mayor",):
        return "mayor", ""
    if len(parts) >= 3 and parts[1] in ("polecats", "crew"):
        return f"{parts[0]}/{parts[1]}/{parts[2]}", parts[0]
    return "town", ""


def bead_of_branch(branch: Any) -> str | None:
    """The bead of a polecat work branch ``polecat/<name>/<bead>``, else None."""
    match = _POLECAT_BRANCH.match(branch) if isinstance(branch, str) else None
    return match.group(1) if match else None


def read_lines(path: Path, offset: int = 0) -> Iterator[tuple[int, bytes]]:
    """(offset, line) of each complete (newline-ended) line of ``path`` from byte ``offset`` on.
    Raises OSError when the file cannot be read."""
    with path.open("rb") as fh:
        fh.seek(offset)
        for line in fh:
            if not line.endswith(b"\n"):
                return
            yield offset, line
            offset += len(line)


def decode(line: bytes) -> dict[str, Any] | None:
    """The JSON object on ``line``, or None for anything else (a third-party record file)."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _claude(root: Path, path: Path, src: _Source, mtime: float) -> Iterator[tuple[int, Usage | None]]:
    """Usage rows of a Claude Code session file, from ``src.offset`` (see the module docstring)."""
    for offset, line in read_lines(path, src.offset):
        obj = decode(line)
        yield offset + len(line), None
        if obj is None:
            continue
        if isinstance(obj.get("cwd"), str):
            src.cwd = obj["cwd"]
        src.session = str(obj.get("sessionId") or src.session or path.stem)
        bead = bead_of_branch(obj.get("gitBranch"))
        if bead:
            src.bead = bead
        msg = obj.get("message")
        if obj.get("type") != "assistant" or not isinstance(msg, dict) or not src.cwd:
            continue
        usage, mid = msg.get("usage"), msg.get("id")
        where = attribute(root, src.cwd)
        if where is None:
            src.foreign = True
            return
        if not isinstance(usage, dict) or not isinstance(mid, str):
            continue
        row = Usage(
            "claude",
            src.session,
            mid,
            str(msg.get("model") or ""),
            _count(usage.get("input_tokens")),
            _count(usage.get("cache_read_input_tokens")),
            _count(usage.get("cache_creation_input_tokens")),
            _count(usage.get("output_tokens")),
            _time(obj.get("timestamp"), mtime),
            where[0],
            where[1],
            src.bead,
        )
        if any(getattr(row, t) for t in TOKENS):
            yield offset + len(line), row


def _codex(root: Path, path: Path, src: _Source, mtime: float) -> Iterator[tuple[int, Usage | None]]:
    """Usage rows of a Codex rollout file, from ``src.offset`` (see the module docstring)."""
    for offset, line in read_lines(path, src.offset):
        obj = decode(line)
        yield offset + len(line), None
        payload = obj.get("payload") if obj else None
        if obj is None or not isinstance(payload, dict):
            continue
        kind = obj.get("type")
        if kind in ("session_meta", "turn_context"):
            if kind == "session_meta":
                src.session = str(payload.get("id") or path.stem)
                git = payload.get("git")
                src.bead = bead_of_branch(git.get("branch") if isinstance(git, dict) else None) or src.bead
            if isinstance(payload.get("cwd"), str):
                src.cwd = payload["cwd"]
            if isinstance(payload.get("model"), str):
                src.model = payload["model"]
            if src.cwd and attribute(root, src.cwd) is None:
                src.foreign = True
                return
            continue
        if kind != "event_msg" or payload.get("type") != "token_count" or not src.cwd:
            continue
        info = payload.get("info")
        total = info.get("total_token_usage") if isinstance(info, dict) else None
        if not isinstance(total, dict):
            continue
        cached = _count(total.get("cached_input_tokens"))
        now = [
            max(0, _count(total.get("input_tokens")) - cached),
            cached,
            _count(total.get("cache_write_input_tokens")),
            _count(total.get("output_tokens")),
        ]
        delta = [n - o for n, o in zip(now, src.totals, strict=True)]
        if any(d < 0 for d in delta):  # the totals restarted: count the new ones whole
            delta = now
        src.totals = now
        if not any(delta):
            continue
        where = attribute(root, src.cwd) or ("town", "")
        at = _time(obj.get("timestamp"), mtime)
        inp, read, write, out = delta
        row = Usage(
            "codex", src.session or path.stem, str(offset), src.model, inp, read, write, out, at, *where, src.bead
        )
        yield offset + len(line), row


_READERS = {"claude": _claude, "codex": _codex}


def sources(town: Town, env: dict[str, str] | None = None) -> list[tuple[str, Path]]:
    """(runtime, path) of every record file that may hold this town's sessions: Claude Code's
    project folders named after a directory inside the town, and every Codex rollout."""
    env = dict(os.environ) if env is None else env
    found: list[tuple[str, Path]] = []
    projects = config_home(env) / "projects"
    prefixes = {re.sub(r"[^A-Za-z0-9]", "-", str(p)) for p in (town.root, town.root.resolve())}
    if projects.is_dir():
        for folder in sorted(projects.iterdir()):
            if any(folder.name.startswith(p) for p in prefixes) and folder.is_dir():
                found += [("claude", p) for p in sorted(folder.rglob("*.jsonl"))]
    rollouts = codex_home(env) / "sessions"
    if rollouts.is_dir():
        found += [("codex", p) for p in sorted(rollouts.rglob("rollout-*.jsonl"))]
    return found


def scan(town: Town, db: Database, env: dict[str, str] | None = None) -> int:
    """Read what the runtimes wrote since the last scan into the ``usage`` table; returns the number
    of rows added or updated. Unchanged files (same size and mtime) are not opened. Each file's rows
    and its new offset are written in one transaction, so a scan killed half-way loses nothing and
    counts nothing twice. env: where to look (``HOME``, ``CLAUDE_CONFIG_DIR``, ``CODEX_HOME``;
    default: this process's environment)."""
    root = town.root.resolve()
    known = {r["path"]: r for r in db.query("SELECT * FROM usage_sources")}
    added = 0
    for runtime, path in sources(town, env):
        try:
            st = path.stat()
        except OSError:
            continue
        row = known.get(str(path))
        if row and row["size"] == st.st_size and row["mtime"] == st.st_mtime:
            continue
        src = _Source(**json.loads(row["state"])) if row else _Source()
        src.offset = row["offset"] if row else 0
        fresh = src.offset > st.st_size  # rewritten shorter: read it again from the start
        if fresh:
            src = _Source()
        if src.foreign and not fresh:
            rows: list[Usage] = []
        else:
            rows = []
            for offset, usage in _READERS[runtime](root, path, src, st.st_mtime):
                src.offset = offset
                if usage is not None:
                    rows.append(usage)
        added += _store(db, runtime, path, st, src, rows, fresh)
    return added


def _store(
    db: Database,
    runtime: str,
    path: Path,
    st: os.stat_result,
    src: _Source,
    rows: list[Usage],
    fresh: bool,
) -> int:
    """Write one file's new rows and its reading state in one transaction; returns len(rows)."""
    state = {k: v for k, v in src.__dict__.items() if k != "offset"}
    with transaction(db):
        if fresh:
            db.execute("DELETE FROM usage WHERE source = ?", [str(path)])
        db.conn.executemany(
            "INSERT OR REPLACE INTO usage (runtime, session, record, model, input, cache_read, cache_write,"
            " output, at, agent, rig, bead, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    u.runtime,
                    u.session,
                    u.record,
                    u.model,
                    u.input,
                    u.cache_read,
                    u.cache_write,
                    u.output,
                    u.at,
                    u.agent,
                    u.rig,
                    u.bead,
                    str(path),
                )
                for u in rows
            ],
        )
        db.execute(
            "INSERT OR REPLACE INTO usage_sources (path, runtime, offset, size, mtime, state)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [str(path), runtime, src.offset, st.st_size, st.st_mtime, json.dumps(state)],
        )
    return len(rows)
