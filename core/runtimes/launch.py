"""Starting an agent CLI in a session and making sure it took its first prompt (issue 14).

:func:`start_agent` is the one way an agent is started (sling, resume, the Mayor): the runtime family
builds the command (first-run overrides, hooks, conversation id), the session host starts it, a
``nudge``-mode prompt is typed once the CLI is ready, and then it waits for a positive signal that the
prompt was submitted (the runtime's hooks, its own transcript, or its screen). An agent that exits or
never takes its prompt is stopped and reported with its last screen lines and the fix: nothing is left
running, and the caller rolls back what it claimed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import agent_state
from core.errors import AgentStartError, GtError, NotFound
from core.plaintext import strip_controls
from core.runtimes.base import LaunchContext, Runtime
from core.runtimes.presets import Preset
from core.sessions import caller_env

if TYPE_CHECKING:
    from core.db import Database
    from core.sessions import SessionHost, SessionInfo
    from core.town import Town

#: Screen lines quoted in a start failure.
EXCERPT_LINES = 12
#: Pauses between looks at a starting agent's screen (seconds): short first, since a fast CLI is
#: ready within tens of ms of its start, then every POLL_S (each look runs tmux twice).
FIRST_POLL_S = 0.02
POLL_S = 0.1


def _pauses() -> Iterator[float]:
    """FIRST_POLL_S, doubling up to POLL_S, then POLL_S for ever."""
    pause = FIRST_POLL_S
    while True:
        yield pause
        pause = min(POLL_S, pause * 2)


def runtime_for(preset: Preset) -> Runtime:
    """The runtime family object of ``preset`` (``preset.runtime``: claude, codex, generic)."""
    if preset.runtime == "claude":
        from core.runtimes.claude import ClaudeRuntime

        return ClaudeRuntime()
    if preset.runtime == "codex":
        from core.runtimes.codex import CodexRuntime

        return CodexRuntime()
    return Runtime()


def start_agent(
    host: SessionHost,
    name: str,
    preset: Preset,
    prompt: str | None,
    cwd: str | Path,
    env: dict[str, str] | None = None,
    size: tuple[int, int] | None = None,
    *,
    town: Town | None = None,
    db: Database | None = None,
    bead: str | None = None,
    resume: bool = False,
    context: str = "",
    context_files: tuple[str, ...] = (),
    timeout: float | None = None,
    heartbeat: Callable[[], None] | None = None,
) -> SessionInfo:
    """Start ``preset`` in session ``name`` of ``host`` and wait until it took ``prompt``.

    env: session variables on top of the preset's ``env``. size: (cols, rows). town/db: the town and
    its database (the agent's hooks report there; default: the host's town, and no hook signals).
    bead: the hooked bead. resume: continue the agent's recorded conversation for this session and
    bead where the runtime can. context: role instructions for runtimes that take them as a flag.
    timeout: seconds to wait for the prompt to be taken (default: the preset's ``start_timeout``).
    heartbeat: called about every second while waiting (the caller tells others it is alive).

    Returns the SessionInfo. Raises GtError when the binary is missing, Conflict when the session
    exists, AgentStartError (exit code 1) when the agent exited or did not take its prompt: the
    session is then stopped, and the message holds the fix and the agent's last screen lines.
    """
    town = town or host.town
    runtime = runtime_for(preset)
    conversation = agent_state.conversation_for(db, name, bead) if (resume and db is not None) else None
    ctx = LaunchContext(
        town=town,
        preset=preset,
        session=name,
        cwd=Path(cwd),
        prompt=prompt,
        env={**caller_env(), **preset.env, **(env or {})},
        bead=bead,
        conversation=conversation,
        context=context,
        context_files=context_files,
    )
    launch = runtime.launch(ctx)
    if db is not None:
        agent_state.started(db, name, preset.name, bead, launch.conversation)
    t0 = launch.started = time.time()
    kwargs: dict[str, Any] = {"env": {**ctx.env, **launch.env}}
    if size is not None:
        kwargs["size"] = size
    info = host.start(name, launch.argv, cwd, **kwargs)
    try:
        if launch.typed_prompt:
            _type_prompt(host, name, preset, runtime, launch.typed_prompt)
        if prompt:
            _wait_taken(
                host,
                name,
                ctx,
                runtime,
                launch,
                db,
                t0,
                preset.start_timeout if timeout is None else timeout,
                heartbeat,
            )
    except GtError as exc:
        _stop(host, name)
        if db is not None:
            agent_state.record(db, name, "exited", f"start failed: {exc}"[:500])
        raise
    if db is not None and launch.conversation:
        agent_state.note(db, name, "took its first prompt", launch.conversation)
    if db is not None and prompt:
        row = agent_state.get(db, name)
        if row is not None and row.state == "starting":
            agent_state.record(db, name, "working", "took its first prompt")
    return host.info(name) or info


def _type_prompt(host: SessionHost, name: str, preset: Preset, runtime: Runtime, text: str) -> None:
    """Wait (up to ``ready_delay``) for the CLI's input prompt, then type ``text`` and submit it.

    Never into a shell, the rule every nudge follows (:meth:`core.sessions.SessionHost.shell_of`,
    :mod:`core.nudge`): the prompt carries agent text (a bead id, a predecessor's handoff note) and a
    shell would run it. A wrapper that ``exec``s the agent is waited for; a pane still running a
    shell at the deadline raises AgentStartError with nothing typed (the caller stops the session)."""
    deadline = time.monotonic() + preset.ready_delay
    info = None
    pauses = _pauses()
    while time.monotonic() < deadline:
        info = host.info(name)
        if info is None or not info.alive:
            raise _failure(host, name, runtime, preset, "exited before its prompt could be typed", info)
        if runtime.screen_state(_screen(host, name), preset.ready_glyph) == "idle" and host.shell_of(name) is None:
            break
        time.sleep(next(pauses))
    if (shell := host.shell_of(name)) is not None:
        raise _failure(
            host,
            name,
            runtime,
            preset,
            f"runs a shell ({shell}), so its first prompt was not typed (text typed into a shell runs as a "
            f"command): make [agents.{preset.name}] argv the agent CLI itself (or exec it), or take the prompt "
            'with prompt = "arg" or "flag"',
            info,
        )
    host.send_text(name, text)


def _wait_taken(
    host: SessionHost,
    name: str,
    ctx: LaunchContext,
    runtime: Runtime,
    launch: Any,
    db: Database | None,
    t0: float,
    timeout: float,
    heartbeat: Callable[[], None] | None,
) -> None:
    """Poll until the runtime sees its prompt taken; raise AgentStartError on exit or timeout."""
    deadline = time.monotonic() + timeout
    beat = time.monotonic() + 1.0
    pauses = _pauses()
    while True:
        if heartbeat is not None and time.monotonic() >= beat:
            heartbeat()
            beat = time.monotonic() + 1.0
        screen = _screen(host, name)
        row = agent_state.get(db, name) if db is not None else None
        hooked = bool(row and row.prompt_at and row.prompt_at >= t0)
        if runtime.prompt_taken(ctx, launch, screen, hooked):
            return
        info = host.info(name)  # after the screen: an agent that exited once it was captured is seen
        if info is None or not info.alive:
            status = "" if info is None or info.exit_status is None else f" (exit status {info.exit_status})"
            raise _failure(host, name, runtime, ctx.preset, f"exited at start{status}", info, screen)
        if time.monotonic() >= deadline:
            raise _failure(
                host,
                name,
                runtime,
                ctx.preset,
                f"did not take its first prompt within {timeout:g} s (a dialog or a login may wait "
                f"on its screen; raise [agents.{ctx.preset.name}] start_timeout if it is just slow)",
                info,
                screen,
            )
        time.sleep(next(pauses))


def _screen(host: SessionHost, name: str) -> str:
    try:
        return host.capture(name, lines=200)
    except NotFound:
        return ""


def _failure(
    host: SessionHost, name: str, runtime: Runtime, preset: Preset, what: str, info: Any, screen: str | None = None
) -> AgentStartError:
    screen = _screen(host, name) if screen is None else screen
    fix = runtime.diagnose(screen) or f"its whole output is in {host.log_path(name)}"
    return AgentStartError(f"agent {preset.name!r} in session {name} {what}: {fix}\n" + excerpt(screen, EXCERPT_LINES))


def excerpt(screen: str, lines: int) -> str:
    """The last ``lines`` non-blank lines of ``screen``, indented, as plain text (control characters
    and escape sequences removed: the screen is the agent's, untrusted)."""
    rows = [strip_controls(ln).rstrip() for ln in screen.splitlines()]
    rows = [r for r in rows if r.strip()][-lines:]
    return "\n".join("  | " + r for r in rows) if rows else "  | (the screen was empty)"


def _stop(host: SessionHost, name: str) -> None:
    try:
        if host.exists(name):
            host.kill(name)
    except GtError:
        pass
