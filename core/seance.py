"""Seance (Gas Town's ``gt seance``): what the predecessor sessions of a bead or a polecat did, read
from their runtimes' own conversation records, and one question asked of such a session.

The predecessors are the sessions :mod:`core.usage` attributed to the bead (or to the polecat),
oldest first: each names its runtime, its conversation id, the file it was read from and its working
directory. :func:`conversation` reads a session's entries from that file (Claude Code 2.1 session
JSONL: ``user``/``assistant`` lines with text, ``tool_use`` and ``tool_result`` blocks; Codex 0.17x
rollouts: ``response_item`` lines of type ``message``, ``function_call`` and
``function_call_output``), and :func:`render` writes them as Markdown for an agent to read. Everything
in a conversation is agent-written: control and escape sequences are removed and tool output is
fenced with a fence longer than any backtick run inside it.

:func:`ask` resumes the session in a short-lived, non-interactive process of the same CLI, in the
session's own working directory, with one question: Claude Code ``-p QUESTION --resume ID
--fork-session`` (the predecessor's conversation is left as it was), Codex ``exec resume ID
QUESTION`` (Codex appends the exchange to the predecessor's rollout; it offers no fork there).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import polecats
from core.beads.store import BeadStore
from core.errors import GtError, NotFound
from core.plaintext import strip_controls
from core.town import Town
from core.usage import TOKENS, decode, read_lines, scan

#: At most this many entries of one session are rendered (the newest; the rest are counted).
MAX_ENTRIES = 200
#: A rendered text or tool output is cut to this many characters.
MAX_TEXT = 2000
#: Seconds :func:`ask` waits for the CLI's answer.
ASK_TIMEOUT_S = 300.0
#: Codex's own opening messages (instructions, environment) that no agent wrote.
_CODEX_PREAMBLE = ("# AGENTS.md instructions", "<environment_context>", "<user_instructions>", "<permissions")


@dataclass(frozen=True)
class Predecessor:
    """One earlier session: runtime (``claude`` | ``codex``), its conversation id, the record file
    (``source``), its working directory (``cwd``, "" when unknown), the agent and bead it worked for,
    first and last response (Unix seconds) and its tokens (all kinds)."""

    runtime: str
    session: str
    source: Path
    cwd: str
    agent: str
    bead: str
    started: float
    ended: float
    tokens: int


@dataclass(frozen=True)
class Entry:
    """One step of a conversation: kind ``prompt`` (a user message), ``said`` (the agent's text),
    ``ran`` (a tool call, its command or arguments) or ``output`` (a tool's result)."""

    kind: str
    text: str


def _target(town: Town, store: BeadStore, target: str) -> tuple[str, str]:
    """(column, value) of the usage rows of ``target``: a bead id (or unique partial id), a polecat
    address ``<rig>/polecats/<name>``, ``<rig>/<name>`` or a polecat name unique in the town; a bead
    id or agent address the usage table holds is taken as written."""
    for column in ("bead", "agent"):  # recorded under that name (a bead since deleted, a polecat nuked)
        if store.db.execute(f"SELECT 1 FROM usage WHERE {column} = ? LIMIT 1", [target]).fetchone():
            return column, target
    parts = target.split("/")
    if len(parts) in (2, 3) and (len(parts) == 2 or parts[1] == "polecats"):
        p = polecats.require(store.db, parts[0], parts[-1])
        return "agent", f"{p.rig}/polecats/{p.name}"
    try:
        return "bead", store.resolve(target)
    except NotFound:
        found = [p for p in polecats.list_polecats(store.db) if p.name == target]
        if len(found) == 1:
            return "agent", f"{found[0].rig}/polecats/{found[0].name}"
        raise NotFound(
            f"no bead or polecat {target!r}: give a bead id or <rig>/polecats/<name> (gt polecat list)"
        ) from None


def predecessors(town: Town, store: BeadStore, target: str, env: dict[str, str] | None = None) -> list[Predecessor]:
    """The sessions that worked on ``target`` (see :func:`_target`), oldest first, after reading
    what the runtimes wrote since the last scan (``env``: where to look, as :func:`core.usage.scan`).
    Raises NotFound for an unknown bead or polecat."""
    scan(town, store.db, env)
    column, value = _target(town, store, target)
    cwds = {
        r["path"]: json.loads(r["state"]).get("cwd", "")
        for r in store.db.query("SELECT path, state FROM usage_sources")
    }
    sql = (
        f"SELECT runtime, session, source, agent, bead, MIN(at) AS started, MAX(at) AS ended, "
        f"SUM({' + '.join(TOKENS)}) AS tokens FROM usage WHERE {column} = ? "
        "GROUP BY runtime, session, source ORDER BY started"
    )
    return [
        Predecessor(
            r["runtime"],
            r["session"],
            Path(r["source"]),
            cwds.get(r["source"], ""),
            r["agent"],
            r["bead"],
            r["started"],
            r["ended"],
            r["tokens"] or 0,
        )
        for r in store.db.query(sql, [value])
    ]


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a session's record file (:func:`core.usage.read_lines`). Raises GtError
    when it cannot be read."""
    try:
        for _, raw in read_lines(path):
            obj = decode(raw)
            if obj is not None:
                yield obj
    except OSError as exc:
        raise GtError(f"cannot read session file {path}: {exc.strerror}") from None


def _text(value: Any) -> str:
    """The text of a content value: a string, or the text parts of a list of blocks."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(v.get("text") if isinstance(v, dict) else v) for v in value)
    return ""


def _claude(pred: Predecessor) -> Iterator[Entry]:
    for obj in _lines(pred.source):
        if obj.get("sessionId") not in (pred.session, None) or obj.get("isSidechain") or obj.get("isMeta"):
            continue
        msg = obj.get("message")
        if obj.get("type") not in ("user", "assistant") or not isinstance(msg, dict):
            continue
        content = msg.get("content")
        if isinstance(content, str):
            yield Entry("prompt" if obj["type"] == "user" else "said", content)
            continue
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                yield Entry("prompt" if obj["type"] == "user" else "said", _text(block.get("text")))
            elif kind == "tool_use":
                given = block.get("input")
                command = given.get("command") if isinstance(given, dict) else None
                yield Entry("ran", command if isinstance(command, str) else json.dumps(given, ensure_ascii=False))
            elif kind == "tool_result":
                yield Entry("output", _text(block.get("content")))


def _codex(pred: Predecessor) -> Iterator[Entry]:
    for obj in _lines(pred.source):
        payload = obj.get("payload")
        if obj.get("type") != "response_item" or not isinstance(payload, dict):
            continue
        kind = payload.get("type")
        if kind == "message" and payload.get("role") in ("user", "assistant"):
            text = _text(payload.get("content"))
            if payload["role"] == "user" and text.lstrip().startswith(_CODEX_PREAMBLE):
                continue
            yield Entry("prompt" if payload["role"] == "user" else "said", text)
        elif kind == "function_call":
            try:
                args = json.loads(payload.get("arguments") or "{}")
            except ValueError:
                args = payload.get("arguments")
            command = args.get("cmd") or args.get("command") if isinstance(args, dict) else None
            if isinstance(command, list):
                command = " ".join(str(c) for c in command)
            yield Entry("ran", command if isinstance(command, str) else json.dumps(args, ensure_ascii=False))
        elif kind == "function_call_output":
            yield Entry("output", _text(payload.get("output")))


def conversation(pred: Predecessor) -> list[Entry]:
    """The entries of ``pred``'s conversation, oldest first (empty texts left out). Raises GtError
    when its file cannot be read."""
    reader = {"claude": _claude, "codex": _codex}.get(pred.runtime)
    if reader is None:
        raise GtError(f"session {pred.session}: no reader for runtime {pred.runtime!r}")
    return [e for e in reader(pred) if e.text.strip()]


def _clean(text: str) -> str:
    text = strip_controls(text).strip()
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n… ({len(text) - MAX_TEXT} more characters)"


def _fenced(text: str) -> str:
    """``text`` in a code fence no backtick run inside it can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def _quoted(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(at))


def render(title: str, found: list[tuple[Predecessor, list[Entry]]]) -> str:
    """Markdown for an agent to read: a heading naming ``title`` (plain text), then each session with
    its runtime, conversation id, agent, times and tokens, and its steps (prompts and the agent's
    words quoted, commands inline, outputs fenced); a session's newest :data:`MAX_ENTRIES` steps."""
    out = [f"# Seance: {_clean(title)}", ""]
    if not found:
        out.append("No earlier session of a recorded runtime (Claude Code, Codex) worked on it.")
        return "\n".join(out) + "\n"
    for n, (pred, entries) in enumerate(found, 1):
        out += [
            f"## Session {n}: {pred.runtime} {pred.session}",
            "",
            f"- agent: {pred.agent}, bead: {pred.bead or '(none)'}",
            f"- from {_when(pred.started)} to {_when(pred.ended)}, {pred.tokens:,} tokens",
            f'- ask it: `gt seance {pred.bead or pred.agent} --session {pred.session} --ask "..."`',
            "",
        ]
        if len(entries) > MAX_ENTRIES:
            out += [f"({len(entries) - MAX_ENTRIES} earlier steps left out)", ""]
            entries = entries[-MAX_ENTRIES:]
        for e in entries:
            text = _clean(e.text)
            if e.kind == "prompt":
                out += ["**Prompt:**", _quoted(text), ""]
            elif e.kind == "said":
                out += ["**Agent:**", _quoted(text), ""]
            elif e.kind == "ran":
                out += ["**Ran:**", _fenced(text), ""]
            else:
                out += ["**Output:**", _fenced(text), ""]
    return "\n".join(out).rstrip() + "\n"


def _argv(town: Town, pred: Predecessor, question: str) -> list[str]:
    """The command line asking ``question`` of ``pred`` with its runtime's installed CLI."""
    from core.runtimes import presets

    found = presets(town)
    preset = found.get(pred.runtime) or next((p for p in found.values() if p.runtime == pred.runtime), None)
    if preset is None or not preset.installed():
        raise GtError(f"{pred.runtime} is not installed: seance --ask needs the CLI that ran session {pred.session}")
    if pred.runtime == "claude":
        return [preset.binary, "-p", question, "--resume", pred.session, "--fork-session"]
    from core.runtimes.codex import overrides

    return [
        preset.binary,
        "exec",
        *overrides(Path(pred.cwd), None)[:2],
        "-c",
        'sandbox_mode="read-only"',
        "resume",
        pred.session,
        question,
    ]


def ask(
    town: Town, pred: Predecessor, question: str, env: dict[str, str] | None = None, timeout: float = ASK_TIMEOUT_S
) -> str:
    """Ask ``question`` (one line or more) of ``pred``'s conversation in a short-lived process of
    its runtime (see the module docstring), in the session's working directory, with ``env`` (default:
    this process's environment); returns the answer as plain text (controls removed). Raises GtError
    for an empty question, a working directory that is gone, a CLI that is not installed, fails or
    takes longer than ``timeout`` seconds."""
    if not question.strip():
        raise GtError('an empty question: give one with --ask "what did you try?"')
    if not pred.cwd or not Path(pred.cwd).is_dir():
        raise GtError(
            f"session {pred.session} ran in {pred.cwd or 'an unknown folder'}, which is gone: "
            "its CLI finds the conversation only from there"
        )
    argv = _argv(town, pred, question)
    try:
        done = subprocess.run(
            argv,
            cwd=pred.cwd,
            env=dict(os.environ) if env is None else env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise GtError(f"{pred.runtime} did not answer within {timeout:.0f} s: ask again, or read 'gt seance'") from None
    except OSError as exc:
        raise GtError(f"cannot run {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        last = strip_controls(done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise GtError(f"{pred.runtime} exited {done.returncode} answering the seance: {last[0][:300]}")
    return strip_controls(done.stdout).strip()
