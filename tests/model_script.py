"""The script side of the scripted model endpoint (test support, not product): what a request looks like
once normalised, and what the script answers.

The endpoint (:mod:`tests.model_endpoint`) speaks the Anthropic Messages API (``tests.model_anthropic``)
and the OpenAI Responses API (``tests.model_openai``). Each adapter turns a request body into a
:class:`Turn` (API-neutral), asks the script for a :class:`Reply`, and encodes the reply in its own wire
format (streaming SSE or JSON), mapping a :class:`Shell` call onto the CLI's own shell tool (Claude Code's
``Bash``, Codex's ``shell``/``exec_command``...) by looking at the tools the request offers.

A script is a callable ``script(turn) -> Reply``. :func:`polecat_script` is the default one: it plays a
polecat that runs ``gt prime``, the fenced ``sh`` blocks of its bead (found in the prime output, as the
``sim`` agent does), then ``gt done``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolResult:
    """The output of one tool call the agent ran, as the agent sent it back. call_id: the id we gave."""

    call_id: str
    output: str


@dataclass(frozen=True)
class Message:
    """One conversation item, API-neutral. role: user | assistant | tool | system (Claude Code 2.1 sends
    hook output and its environment as system messages). text: its text parts joined (a user
    message may hold reminders before the prompt: test with ``in``);
    shell: the shell commands of an assistant turn's tool calls; results: a tool turn's results."""

    role: str
    text: str = ""
    shell: tuple[str, ...] = ()
    results: tuple[ToolResult, ...] = ()


@dataclass
class Turn:
    """One model request. api: "anthropic" | "openai". system: the system/instructions text.
    messages: the conversation so far (oldest first). tools: names of the tools offered.
    body: the raw JSON body. headers: request headers (lower-case names)."""

    api: str
    system: str
    messages: list[Message]
    tools: list[str]
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def all_text(self) -> str:
        """Everything the agent was told in this request: system, messages and tool results."""
        parts = [self.system]
        for m in self.messages:
            parts.append(m.text)
            parts.extend(r.output for r in m.results)
        return "\n".join(parts)

    @property
    def last_user_text(self) -> str:
        """The text of the newest user message ("" if none)."""
        for m in reversed(self.messages):
            if m.role == "user" and m.text:
                return m.text
        return ""

    def shell_calls(self) -> list[str]:
        """Every shell command the assistant ran so far, in order."""
        return [c for m in self.messages if m.role == "assistant" for c in m.shell]

    def results(self) -> list[ToolResult]:
        """Every tool result so far, in order."""
        return [r for m in self.messages for r in m.results]


@dataclass(frozen=True)
class Shell:
    """Run ``command`` with the CLI's shell tool (one string, the CLI's shell parses it)."""

    command: str


@dataclass(frozen=True)
class Reply:
    """What the model answers: ``text`` (may be empty), then ``calls`` (shell calls; none ends the turn).
    delay: seconds to wait before answering (a long think). status: an HTTP error status to answer
    instead (e.g. 500), with ``text`` as the error message."""

    text: str = ""
    calls: tuple[Shell, ...] = ()
    delay: float = 0.0
    status: int = 200


Script = Callable[[Turn], Reply]


def fit_to_schema(schema: dict[str, Any], text: str) -> str:
    """``text`` as an answer to a structured-output request whose JSON ``schema`` is given (the CLIs'
    title requests ask ``{"title": string}``): kept when it already is JSON, else an object whose
    required (or, none listed, every) string property is ``text`` cut to its ``maxLength``, and
    whose other such properties are null."""
    try:
        json.loads(text)
        return text
    except ValueError:
        pass
    props = schema.get("properties") or {}
    obj: dict[str, Any] = {}
    for name in schema.get("required") or list(props):
        spec = props.get(name) or {}
        limit = spec.get("maxLength")
        obj[name] = (
            (text[:limit] if isinstance(limit, int) else text) if spec.get("type", "string") == "string" else None
        )
    return json.dumps(obj)


SH_FENCE = re.compile(r"^```(?:sh|bash)[ \t]*\n(.*?)^```", re.S | re.M)


def is_side_request(turn: Turn) -> bool:
    """True for requests a CLI makes besides the agent loop (titles, summaries, quota probes): no
    shell tool offered."""
    return not any(t in SHELL_TOOLS for t in turn.tools)


#: Names of shell tools across CLIs: Claude Code, Codex (several generations), Gemini CLI.
SHELL_TOOLS = ("Bash", "shell", "exec_command", "shell_command", "local_shell", "run_shell_command")


#: What a CLI's compaction request says (Claude Code 2.1: "CRITICAL: Respond with TEXT ONLY. Do NOT
#: call any tools."): it offers every tool but wants a summary.
COMPACTION_MARKER = "Respond with TEXT ONLY"


def is_compaction(turn: Turn) -> bool:
    """True for a request that asks for a summary of the conversation (a compaction)."""
    return COMPACTION_MARKER in turn.last_user_text


def polecat_script(turn: Turn) -> Reply:
    """A polecat: ``gt prime``; then each ``sh`` block of the bead description in the prime output;
    then ``gt done``; then a closing text. A request without a shell tool, or a compaction, gets a
    short text."""
    if is_side_request(turn):
        return Reply(text="Polecat work")
    if is_compaction(turn):
        return Reply(text="Summary: a polecat working the bead on its hook.")
    ran = turn.shell_calls()
    if "gt prime" not in ran:
        return Reply(text="Reading my hook.", calls=(Shell("gt prime"),))
    prime = next((r.output for r in turn.results() if "assigned" in r.output or "hook" in r.output.lower()), "")
    blocks = [b.strip() for b in SH_FENCE.findall(prime) if b.strip()]
    for block in blocks:
        if block not in ran:
            return Reply(text="Working.", calls=(Shell(block),))
    if "gt done" not in ran:
        return Reply(text="Submitting.", calls=(Shell("gt done"),))
    return Reply(text="Done: my branch is in the merge queue.")
