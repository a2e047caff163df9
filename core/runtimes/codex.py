"""Codex CLI (``codex``, 0.17x) as a runtime: unattended start, notify, resume (issue 14).

Everything goes on the command line as ``-c key=value`` overrides, so the user's
``~/.codex/config.toml`` is never written by us:

- ``--no-daemon``: without it Codex may start a shared background server whose environment (not the
  session's) its shell commands would get, and which outlives the session;
- folder trust: ``projects={"<worktree>"={trust_level="trusted"}}`` (an inline table: the dotted
  ``projects."<path>".trust_level`` form does not skip the dialog in 0.171); trust is per folder or
  per git repository root, never inherited from a plain parent;
- ``allow_login_shell=false``: a login shell resets PATH and ``gt`` would not be found;
- ``disable_paste_burst=true``: typed text followed at once by Enter (a nudge) is submitted instead
  of being held as a paste;
- ``check_for_update_on_startup=false``, ``tui.show_tooltips=false``;
- ``notify=["<gt>", "agent", "hook", "codex-notify"]``: called with a JSON argument at every turn end
  (``agent-turn-complete``, ``thread-id``): the agent's state and its conversation id;
- role context: AGENTS.md in the worktree, or ``developer_instructions`` when the project tracks its
  own AGENTS.md.

The first prompt is the last argument (``codex [PROMPT]``); it was taken once the session's rollout
file ``$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`` exists (Codex creates it when
the first prompt is submitted). A restart runs ``codex resume <thread id>`` with the same overrides.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from core.runtimes.base import Check, Launch, LaunchContext, Runtime

LOGIN_FIX = (
    "Codex has no key or login here: run 'codex login' once, or set the key its model provider "
    "names (env_key in ~/.codex/config.toml), then sling again"
)


def codex_home(env: dict[str, str]) -> Path:
    """Codex's home: ``$CODEX_HOME``, else ``$HOME/.codex``."""
    if env.get("CODEX_HOME"):
        return Path(env["CODEX_HOME"])
    return Path(env.get("HOME") or os.path.expanduser("~")) / ".codex"


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(text, ensure_ascii=False)


def overrides(cwd: Path, context: str | None) -> list[str]:
    """The ``-c`` arguments of a session in ``cwd`` (see the module docstring)."""
    gt = str(Path(sys.executable).parent / "gt")
    notify = "[" + ", ".join(toml_string(a) for a in (gt, "agent", "hook", "codex-notify")) + "]"
    pairs = [
        f'projects={{{toml_string(str(cwd.resolve()))}={{trust_level="trusted"}}}}',
        "allow_login_shell=false",
        "disable_paste_burst=true",
        "check_for_update_on_startup=false",
        "tui.show_tooltips=false",
        f"notify={notify}",
    ]
    if context:
        pairs.append(f"developer_instructions={toml_string(context)}")
    out = []
    for pair in pairs:
        out += ["-c", pair]
    return out


def rollouts(env: dict[str, str], since: float) -> list[Path]:
    """Rollout files written since ``since`` (Unix seconds), newest first."""
    root = codex_home(env) / "sessions"
    found = []
    day = time.gmtime(since)
    for stamp in {
        time.strftime("%Y/%m/%d", day),
        time.strftime("%Y/%m/%d", time.localtime(since)),
        time.strftime("%Y/%m/%d", time.localtime()),
    }:
        folder = root / stamp
        if folder.is_dir():
            found += [p for p in folder.glob("rollout-*.jsonl") if p.stat().st_mtime >= since - 1]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def rollout_cwd(path: Path) -> str | None:
    """The cwd recorded on a rollout file's first line (``session_meta``), or None."""
    try:
        with path.open(encoding="utf-8") as fh:
            first = json.loads(fh.readline() or "{}")
    except (OSError, ValueError):
        return None
    payload = first.get("payload") or {}
    return payload.get("cwd") if isinstance(payload, dict) else None


class CodexRuntime(Runtime):
    """Codex CLI: see the module docstring."""

    name = "codex"
    has_hooks = True

    def launch(self, ctx: LaunchContext) -> Launch:
        argv = list(ctx.preset.argv)
        if "--no-daemon" not in argv:
            argv.insert(1, "--no-daemon")
        context = ctx.context if "AGENTS.md" not in ctx.context_files else None
        argv += overrides(ctx.cwd, context)
        if ctx.conversation:
            argv[1:1] = ["resume", ctx.conversation]
        if ctx.prompt:
            argv.append(ctx.prompt)
        return Launch(argv, conversation=ctx.conversation)

    def prompt_taken(self, ctx: LaunchContext, launch: Launch, screen: str, hooked_prompt: bool) -> bool:
        """Taken once a rollout file of this cwd holding the prompt (of the resumed thread, when
        resuming) was written since the launch; its name gives the thread id, kept as the conversation."""
        cwd = str(ctx.cwd.resolve())
        said = json.dumps((ctx.prompt or "")[:60], ensure_ascii=False)[1:-1]  # as the rollout's JSON holds it
        for path in rollouts(ctx.env, launch.started):
            if ctx.conversation and ctx.conversation not in path.name:
                continue
            if rollout_cwd(path) == cwd and said in path.read_text(errors="replace"):
                launch.conversation = "-".join(path.stem.split("-")[-5:])  # rollout-<time>-<uuid>
                return True
        return False

    def diagnose(self, screen: str) -> str | None:
        if "Missing environment variable" in screen or "codex login" in screen.lower() or "Sign in with" in screen:
            return LOGIN_FIX
        if "Trust this folder?" in screen:
            return (
                "Codex asks whether to trust the folder although gt passed it as trusted: check that "
                "this Codex takes -c projects={...} (0.17x does)"
            )
        return None

    def checks(self) -> list[Check]:
        env = dict(os.environ)
        home = codex_home(env)
        config = home / "config.toml"
        text = config.read_text(encoding="utf-8") if config.exists() else ""
        logged_in = (home / "auth.json").exists() or bool(env.get("OPENAI_API_KEY")) or "env_key" in text
        return [Check("login", logged_in, "a login, OPENAI_API_KEY or a provider key" if logged_in else LOGIN_FIX)]
