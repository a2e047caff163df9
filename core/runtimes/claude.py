"""Claude Code (``claude``, 2.1.x) as a runtime: unattended start, hooks, resume (issue 14).

- Bypass warning: ``--settings`` with ``skipDangerousModePermissionPrompt: true`` (inline JSON, no file
  of the user's is written). As root Claude Code refuses ``--dangerously-skip-permissions`` unless
  ``IS_SANDBOX=1`` is set: :meth:`ClaudeRuntime.diagnose` says so when it happens, ``gt agent check``
  before.
- Folder trust: Claude asks once per folder (``~/.claude.json`` ``projects[<dir>].hasTrustDialogAccepted``,
  inherited from a parent only up to a git repository's root, so a town-wide entry does not cover
  worktrees), and no flag skips it. ``CLAUDE_CODE_SANDBOXED=1`` in the session's environment does,
  so the user's ``~/.claude.json`` is never written: Claude rewrites that whole file a dozen times
  in its first seconds, and an edit made beside a starting Claude could be lost or lose its keys.
- Hooks, in the same ``--settings``: SessionStart (``gt prime --hook``: the brief is added to the
  context at start, after a compaction and on resume), UserPromptSubmit (working; unread mail),
  Stop (turn ended), Notification (permission prompt: waiting), PreCompact. See :mod:`core.agent_hooks`.
- Conversation: ``--session-id UUID`` at start, ``--resume UUID`` on a restart when its transcript
  (``~/.claude/projects/<cwd, non-alphanumerics as ->/<UUID>.jsonl``) exists.
- Role context: CLAUDE.md, or CLAUDE.local.md when the project tracks CLAUDE.md (core.roles); else
  ``--append-system-prompt``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from core.runtimes.base import Check, Launch, LaunchContext, Runtime

HOOK_EVENTS = {
    "SessionStart": "session-start",
    "UserPromptSubmit": "prompt",
    "Stop": "stop",
    "Notification": "notification",
    "PreCompact": "pre-compact",
}
#: Claude Code 2.1 on stderr as root, exit status 1: "--dangerously-skip-permissions cannot be used
#: with root/sudo privileges for security reasons".
ROOT_REFUSAL = "cannot be used with root/sudo privileges"
ROOT_FIX = (
    "Claude Code refuses --dangerously-skip-permissions as root unless IS_SANDBOX=1 is set: "
    "export IS_SANDBOX=1 before starting gt if this machine is a sandbox or container, else run gt "
    "as a normal user"
)
LOGIN_PATTERNS = (
    re.compile(
        r"Invalid API key|Please run /login|Not logged in|Select login method|"
        r"OAuth token has expired|Detected a custom API key|"
        r"Unable to connect to Anthropic services",
        re.I,
    ),
)
LOGIN_FIX = (
    "Claude Code is not logged in here: run 'claude' once by hand and log in (or approve your "
    "ANTHROPIC_API_KEY), then sling again"
)
TRUST_PATTERN = re.compile(r"Yes, I trust this folder|Is this a project you created or one you trust", re.I)


def gt_command() -> str:
    """The ``gt`` of this installation as a shell word (Claude runs hook commands through a shell)."""
    return shlex.quote(str(Path(sys.executable).parent / "gt"))


def settings(gt: str) -> dict[str, Any]:
    """The ``--settings`` JSON of a session: the bypass warning skipped and our hooks (``gt agent hook``)."""
    hooks = {
        event: [{"hooks": [{"type": "command", "command": f"{gt} agent hook {name}", "timeout": 60}]}]
        for event, name in HOOK_EVENTS.items()
    }
    return {"skipDangerousModePermissionPrompt": True, "hooks": hooks}


def config_home(env: dict[str, str]) -> Path:
    """Claude Code's config directory: ``$CLAUDE_CONFIG_DIR``, else ``$HOME/.claude``."""
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(env["CLAUDE_CONFIG_DIR"])
    return Path(env.get("HOME") or os.path.expanduser("~")) / ".claude"


def global_config(env: dict[str, str]) -> Path:
    """The file holding projects and onboarding state: ``$CLAUDE_CONFIG_DIR/.claude.json``, else
    ``$HOME/.claude.json``."""
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(env["CLAUDE_CONFIG_DIR"]) / ".claude.json"
    return Path(env.get("HOME") or os.path.expanduser("~")) / ".claude.json"


def transcript_path(env: dict[str, str], cwd: Path, conversation: str) -> Path:
    """Where Claude Code keeps the conversation ``conversation`` started in ``cwd``."""
    folder = re.sub(r"[^A-Za-z0-9]", "-", str(cwd.resolve()))
    return config_home(env) / "projects" / folder / f"{conversation}.jsonl"


class ClaudeRuntime(Runtime):
    """Claude Code: see the module docstring."""

    name = "claude"
    has_hooks = True

    def launch(self, ctx: LaunchContext) -> Launch:
        argv = [*ctx.preset.argv, "--settings", json.dumps(settings(gt_command()))]
        conversation = ctx.conversation
        if conversation and transcript_path(ctx.env, ctx.cwd, conversation).exists():
            argv += ["--resume", conversation]
        else:
            conversation = str(uuid.uuid4())
            argv += ["--session-id", conversation]
        if ctx.context and not {"CLAUDE.md", "CLAUDE.local.md"} & set(ctx.context_files):
            argv += ["--append-system-prompt", ctx.context]
        if ctx.prompt:
            argv.append(ctx.prompt)
        return Launch(argv, env={"CLAUDE_CODE_SANDBOXED": "1"}, conversation=conversation)

    def prompt_taken(self, ctx: LaunchContext, launch: Launch, screen: str, hooked_prompt: bool) -> bool:
        if hooked_prompt:
            return True
        if not launch.conversation:
            return False
        path = transcript_path(ctx.env, ctx.cwd, launch.conversation)
        try:
            return path.stat().st_mtime >= time.time() - 3600 and '"type":"user"' in path.read_text(errors="replace")
        except OSError:
            return False

    def diagnose(self, screen: str) -> str | None:
        if ROOT_REFUSAL in screen:
            return ROOT_FIX
        if any(p.search(screen) for p in LOGIN_PATTERNS):
            return LOGIN_FIX
        if TRUST_PATTERN.search(screen):
            return (
                "Claude Code stopped at its folder-trust dialog, which CLAUDE_CODE_SANDBOXED=1 skips in "
                "2.1.x: update Claude Code, or accept the dialog by hand once per folder"
            )
        return None

    def checks(self) -> list[Check]:
        env = dict(os.environ)
        out = []
        if os.geteuid() == 0:
            ok = env.get("IS_SANDBOX") == "1"
            out.append(Check("root", ok, "running as root with IS_SANDBOX=1" if ok else ROOT_FIX))
        cfg = global_config(env)
        creds = config_home(env) / ".credentials.json"
        try:
            data = json.loads(cfg.read_text(encoding="utf-8")) if cfg.exists() else {}
        except ValueError:
            data = {}
        key = env.get("ANTHROPIC_API_KEY") or env.get("ANTHROPIC_AUTH_TOKEN") or ""
        approved = key[-20:] in ((data.get("customApiKeyResponses") or {}).get("approved") or [])
        logged_in = creds.exists() or bool(data.get("oauthAccount")) or (bool(key) and approved)
        detail = "API key approved" if key and approved else "logged in" if logged_in else LOGIN_FIX
        out.append(Check("login", logged_in, detail))
        onboarded = bool(data.get("hasCompletedOnboarding"))
        out.append(
            Check(
                "onboarding",
                onboarded,
                "done" if onboarded else "run 'claude' once by hand to finish its first-run screens (theme, login)",
            )
        )
        return out
