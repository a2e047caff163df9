"""The generic runtime: how any agent CLI is launched, told its first prompt and read from its screen.

A runtime family module (``claude``, ``codex``) subclasses :class:`Runtime` and overrides what its CLI
does better: command-line overrides for first-run dialogs (never edits of the user's own files), hooks
that report its state, its own conversation id for resume, and the signal that its first prompt was
submitted. Screen patterns are the fallback every runtime shares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.runtimes.presets import Preset
    from core.town import Town

#: Shown by agent CLIs while a turn runs (Claude Code, Codex, Gemini CLI).
WORKING_PATTERNS = (re.compile(r"esc to (interrupt|cancel)", re.I),)
#: Dialogs and questions that need an answer before the agent goes on.
WAITING_PATTERNS = (
    re.compile(r"Do you trust the (files|contents) in this (folder|directory)", re.I),
    re.compile(r"Do you want to (proceed|allow|make this edit|run)", re.I),
    re.compile(r"Allow (this|command|once)", re.I),
    re.compile(r"\b(Yes|No), (I accept|exit|continue|allow)\b", re.I),
    re.compile(r"Press enter to continue", re.I),
)
#: How many of the screen's last non-blank lines may hold the input prompt (a footer sits below it).
PROMPT_SEARCH_LINES = 8


@dataclass(frozen=True)
class Check:
    """One check of ``gt agent check`` (:mod:`core.runtimes.check`): ``name``, whether it passed
    (``ok``), and a one-line ``detail`` (the fix when not ok)."""

    name: str
    ok: bool
    detail: str


@dataclass
class LaunchContext:
    """What a launch needs. session: tmux session name. cwd: the agent's directory (a worktree, or
    ``mayor/``). prompt: the first prompt (None: none). env: the session's environment (identity
    variables and the caller's environment, see :meth:`core.sessions.SessionHost.start`). bead: the
    hooked bead (None for the Mayor). conversation: the agent's own conversation id to resume, or
    None for a new conversation. context: role instructions for the agent (the CLAUDE.md/AGENTS.md
    text); context_files: the context files written into ``cwd`` (where one the CLI reads is
    missing, the runtime passes ``context`` on the command line if the CLI takes it)."""

    town: Town
    preset: Preset
    session: str
    cwd: Path
    prompt: str | None
    env: dict[str, str]
    bead: str | None = None
    conversation: str | None = None
    context: str = ""
    context_files: tuple[str, ...] = ()


@dataclass
class Launch:
    """How a runtime starts its CLI: ``argv`` and extra ``env``; ``conversation``: the conversation id
    the CLI was told to use (None: it picks one, learnt later from its hooks); ``typed_prompt``: a
    prompt to type once the CLI is ready (prompt mode ``nudge``) instead of passing it in argv;
    ``started``: Unix seconds of the launch (set by start_agent). A runtime that learns the
    conversation id only once the prompt is taken sets ``conversation`` in :meth:`Runtime.prompt_taken`."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    conversation: str | None = None
    typed_prompt: str | None = None
    started: float = 0.0


class Runtime:
    """The generic runtime: the preset's argv and prompt mode, screen patterns for state."""

    name = "generic"
    #: The runtime reports prompt submission and turn ends through hooks (:mod:`core.agent_state`).
    has_hooks = False

    def launch(self, ctx: LaunchContext) -> Launch:
        """The command for ``ctx``: the preset's argv with the prompt as its mode says."""
        preset = ctx.preset
        if preset.prompt == "nudge":
            return Launch(list(preset.argv), typed_prompt=ctx.prompt)
        return Launch(preset.command(ctx.prompt))

    def prompt_taken(self, ctx: LaunchContext, launch: Launch, screen: str, hooked_prompt: bool) -> bool:
        """True once the agent has visibly taken its first prompt. screen: the current screen text;
        hooked_prompt: the agent's hooks reported a prompt submission since the launch. Generic: the
        agent printed anything (its prompt was in argv, or was typed and verified on screen)."""
        return hooked_prompt or bool(screen.strip())

    def screen_state(self, screen: str, glyph: str) -> str | None:
        """The state the screen shows: ``working`` (a turn runs), ``waiting`` (a dialog or question),
        ``idle`` (the input prompt ``glyph`` on one of the last lines, above any footer), else None."""
        lines = [ln for ln in screen.splitlines() if ln.strip()]
        tail = lines[-PROMPT_SEARCH_LINES:]
        text = "\n".join(tail)
        if any(p.search(text) for p in WORKING_PATTERNS):
            return "working"
        if any(p.search(text) for p in WAITING_PATTERNS):
            return "waiting"
        mark = glyph.strip()
        if mark and any(_prompt_line(ln, mark) for ln in tail):
            return "idle"
        return None

    def diagnose(self, screen: str) -> str | None:
        """A one-line fix for a known start-up failure shown on ``screen``, or None."""
        return None

    def checks(self) -> list[Check]:
        """The family's own checks for ``gt agent check`` (:class:`Check` rows). Generic: none."""
        return []


def _prompt_line(line: str, mark: str) -> bool:
    """True if ``line`` is an input line: the prompt mark first, after box borders and spaces."""
    return line.lstrip(" │┃|\t").startswith(mark)
