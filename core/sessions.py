"""The session host: agents run in tmux sessions on a private server per town (DESIGN section 4).

One tmux server per town, on the socket ``tmux -L gt-<10 hex of sha1(town root)>``, never the user's
default server, so the agents outlive the cockpit. Session names come from roles (:func:`session_name`):
``mayor``, ``deacon``, ``<rig>-<polecat>``, ``<rig>-refinery``, ``<rig>-witness``, ``<rig>-crew-<name>``.

No shell ever parses agent or user text here. tmux's own argument parser treats an argument that ends
in ``;`` as a command separator, so the agent's argv, cwd and environment never reach tmux at all:
:meth:`SessionHost.start` writes them to a JSON spec file and tmux runs :mod:`core.session_launch` as a
launcher (``python -P -S .../core/session_launch.py SPEC``) that reads the spec, changes directory and
``execve``s the agent (same pid, so the pane's pid is the agent's). Text typed into a session goes through ``send-keys -l``
with the trailing ``;`` escaped the way tmux documents (``\\;``).

Every session's output is piped to ``.gastown/logs/<session>.log`` (:mod:`core.transcripts`).

Window sizes: a session's window has its own size (``size`` at start, or the last :meth:`SessionHost.
resize`). While clients are attached it follows the latest one (``window-size latest``), so an agent
viewed in the cockpit draws for the cells the cockpit shows; when a client detaches, a
``client-detached`` hook of the session (:func:`size_hook`) puts the window back to its own size, or
to the size of a client still attached, so ``gt peek`` and other clients never keep the cockpit's size.
tmux looks the hook up in the client's session only while the client still has one: a client that
detaches itself (``prefix d``, a hang-up) has left it first, and the hook run is the most recently used
session's (tmux 3.3 ``server-client.c``), so the cockpit kills its own clients instead
(:mod:`widgets.sessionpane`).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core import proctree, session_launch, transcripts
from core.atomic import atomic_write_text
from core.errors import Conflict, GtError, NotFound
from core.pidfile import pid_alive
from core.session_launch import PANE_VARS as PANE_VARS  # re-exported: the launcher owns the list
from core.plaintext import one_line
from core.session_names import ROLE_SUFFIXES as ROLE_SUFFIXES  # re-exported: callers name them from here too
from core.session_names import SESSION_NAME as SESSION_NAME
from core.session_names import check_session_name as check_session_name
from core.session_names import session_name as session_name

if TYPE_CHECKING:
    from core.town import Town

KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]{0,31}$")
DEFAULT_SIZE = (200, 50)
SEND_CHUNK = 256
#: Tries at starting a session when the town's tmux server exits under us (see :meth:`SessionHost.start`).
START_ATTEMPTS = 3
HISTORY_LIMIT = 50000
#: Interactive shells by process name: text typed into one runs as a command (see :meth:`SessionHost.shell_of`).
SHELLS = frozenset(
    {
        "sh",
        "bash",
        "zsh",
        "fish",
        "dash",
        "ksh",
        "mksh",
        "oksh",
        "tcsh",
        "csh",
        "ash",
        "busybox",
        "nu",
        "xonsh",
        "elvish",
        "pwsh",
        "yash",
        "rc",
        "es",
    }
)

# Server options, applied (idempotently) before every session start, with default-terminal
# (tmux-256color, or screen-256color where terminfo lacks it). The server is started with
# -f /dev/null so no user ~/.tmux.conf changes what the cockpit relies on.
SERVER_OPTIONS: tuple[tuple[str, ...], ...] = (
    ("set-option", "-g", "status", "off"),
    ("set-option", "-g", "history-limit", str(HISTORY_LIMIT)),
    ("set-option", "-g", "remain-on-exit", "on"),
    ("set-option", "-g", "destroy-unattached", "off"),
    ("set-option", "-g", "exit-empty", "on"),
    ("set-option", "-g", "allow-rename", "off"),
    ("set-option", "-s", "escape-time", "0"),
    # pass the cockpit's focus in/out reports (CSI I / CSI O) on to the agents: Claude Code asks for them
    ("set-option", "-s", "focus-events", "on"),
)


@dataclass(frozen=True)
class SessionInfo:
    """One session as tmux reports it.

    pid: the agent's process (the pane's first process). alive: the pane has not exited.
    exit_status: the agent's exit code once dead, else None (tmux 3.3 reports it a moment after
    the pane dies, and under load sometimes not at all: measured 3 of 60 lost). created: Unix seconds.
    cols/rows: window size in cells. attached: number of tmux clients attached. instance: this start
    of the session (a later session of the same name has another), "" for one we did not start.
    tmux_id: tmux's own id of the session (``$3``), never reused by a running server.
    """

    name: str
    pid: int
    alive: bool
    exit_status: int | None
    created: float
    cols: int
    rows: int
    attached: int
    instance: str = ""
    tmux_id: str = ""

    def as_dict(self) -> dict[str, object]:
        """JSON-ready view."""
        return dict(self.__dict__)


def user_shell() -> str:
    """The human's shell for a shell session (the sim-town Mayor, a crew workspace): ``$SHELL`` when
    it is installed, else ``bash``."""
    shell = os.environ.get("SHELL") or ""
    return shell if shell and shutil.which(shell) is not None else "bash"


def socket_name(root: str | os.PathLike[str]) -> str:
    """The tmux socket name of the town at ``root``: ``gt-`` + the first 10 hex digits of
    sha1(absolute path)."""
    digest = hashlib.sha1(str(Path(root).resolve()).encode("utf-8")).hexdigest()
    return f"gt-{digest[:10]}"


def size_hook(name: str, cols: int, rows: int) -> list[str]:
    """tmux arguments setting session ``name``'s ``client-detached`` hook: resize its window to
    ``cols`` x ``rows`` (its own size), then ``window-size latest`` again (``resize-window`` sets it to
    manual), so a client still attached takes the window back at once and with none left it keeps its
    own size (tmux(1), HOOKS and ``resize-window``). The command is tmux's to parse: only the checked
    name and two integers go into it. Raises GtError for a bad name or size."""
    target = f"={check_session_name(name)}:"
    cols, rows = _check_size((cols, rows))
    restore = f"resize-window -t {target} -x {cols} -y {rows} ; set-option -w -t {target} window-size latest"
    return ["set-hook", "-t", target, "client-detached", restore]


def tmux_arg(text: str) -> str:
    """``text`` made safe as one tmux argument: tmux splits commands at an argument ending in ``;``
    and turns a trailing ``\\;`` into ``;`` (tmux(1), COMMAND PARSING), so a trailing ``;`` gets a
    backslash."""
    return text[:-1] + "\\;" if text.endswith(";") else text


class _ServerDown(GtError):
    """No tmux server is running on the socket."""


class SessionHost:
    """The tmux server of one town and the sessions on it.

    town: the Town (logs go to ``town.logs_dir``, launcher specs to ``town.state_dir/sessions``,
    transcript cap from ``[logs] max_bytes/keep``). socket: tmux socket name (default
    :func:`socket_name` of the town root; tests pass their own). Raises GtError if tmux is missing.
    """

    def __init__(self, town: Town, socket: str | None = None) -> None:
        self.town = town
        self.socket = socket or socket_name(town.root)
        if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", self.socket):
            raise GtError(f"invalid tmux socket name {self.socket!r}: use letters, digits, . _ -")
        tmux = shutil.which("tmux")
        if tmux is None:
            raise GtError("tmux is not installed: install it (e.g. sudo apt-get install tmux)")
        self.tmux = tmux
        self.logs_dir = town.logs_dir
        self.specs_dir = town.state_dir / "sessions"

    # -- tmux plumbing ---------------------------------------------------------------------------

    def _run(self, *args: str, check: bool = True, timeout: float = 10) -> subprocess.CompletedProcess[str]:
        """Run ``tmux -L SOCKET -f /dev/null ARGS`` (argv list). Raises _ServerDown, NotFound or GtError."""
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        proc = subprocess.run(
            [self.tmux, "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            err = (proc.stderr or proc.stdout).strip().splitlines()
            msg = err[-1] if err else f"exit status {proc.returncode}"
            if (
                "no server running" in msg
                or "error connecting to" in msg
                or "no current target" in msg
                or "server exited unexpectedly" in msg
            ):
                # the last two: a server with no session left, exiting (exit-empty) as we asked it
                raise _ServerDown(f"no tmux server on socket {self.socket}: no session is running")
            if "can't find" in msg or "no such" in msg or "session not found" in msg:
                raise NotFound(f"no session found ({msg}): see the running ones with 'gt peek'")
            raise GtError(f"tmux {args[0]} failed: {msg}")
        return proc

    def _target(self, name: str) -> str:
        """Exact-match target of the session's (single) pane: ``=name:``."""
        return f"={check_session_name(name)}:"

    def _need(self, name: str) -> SessionInfo:
        info = self.info(name)
        if info is None:
            raise NotFound(
                f"no session {name!r} on tmux socket {self.socket}: start it first "
                "(see the running ones with 'gt peek')"
            )
        return info

    # -- queries ---------------------------------------------------------------------------------

    def list(self) -> list[SessionInfo]:
        """Every session on this town's server, sorted by name ([] when the server is not running)."""
        fmt = "\t".join(
            [
                "#{session_name}",
                "#{pane_pid}",
                "#{pane_dead}",
                "#{pane_dead_status}",
                "#{session_created}",
                "#{window_width}",
                "#{window_height}",
                "#{session_attached}",
                "#{pane_index}",
                "#{@gt_instance}",
                "#{session_id}",
            ]
        )
        try:
            proc = self._run("list-panes", "-a", "-F", fmt)
        except _ServerDown:
            return []
        out: dict[str, SessionInfo] = {}
        for line in proc.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) != 11 or parts[0] in out:
                continue
            name, pid, dead, status, created, cols, rows, attached, _, instance, tmux_id = parts
            out[name] = SessionInfo(
                name=name,
                pid=int(pid or 0),
                alive=dead != "1",
                exit_status=int(status) if dead == "1" and status.lstrip("-").isdigit() else None,
                created=float(created or 0),
                cols=int(cols or 0),
                rows=int(rows or 0),
                attached=int(attached or 0),
                instance=instance,
                tmux_id=tmux_id,
            )
        return [out[k] for k in sorted(out)]

    def info(self, name: str) -> SessionInfo | None:
        """The session ``name``, or None if it does not exist."""
        check_session_name(name)
        for s in self.list():
            if s.name == name:
                return s
        return None

    def exists(self, name: str) -> bool:
        """True if a session ``name`` exists (alive or with a dead pane kept by remain-on-exit)."""
        return self.info(name) is not None

    def is_alive(self, name: str, process_names: tuple[str, ...] | builtins.list[str] = ()) -> bool:
        """True if the session exists, its pane has not exited and its process is running.

        process_names: if given (a preset's ``process_names``), also require one process of the
        session whose name is in the list (tells a live agent from the bare shell it left behind).
        """
        info = self.info(name)
        if info is None or not info.alive or not pid_alive(info.pid):
            return False
        if not process_names:
            return True
        wanted = set(process_names)
        return any(p.comm in wanted for p in proctree.members(info.pid))

    def pid(self, name: str) -> int | None:
        """The pid of the session's agent process, or None once it has exited. Raises NotFound."""
        info = self._need(name)
        return info.pid if info.alive else None

    def capture(self, name: str, ansi: bool = False, lines: int | None = None) -> str:
        """The session's screen as text (``capture-pane -p``), trailing blank lines removed.

        ansi: keep colours and attributes as escape sequences (``-e``), for previews.
        lines: the last N lines of history plus screen (default: the visible screen).
        Raises NotFound if there is no such session.
        """
        self._need(name)
        args = ["capture-pane", "-p", "-t", self._target(name)]
        if ansi:
            args.append("-e")
        if lines is not None:
            if lines < 1:
                raise GtError(f"lines must be at least 1 (got {lines})")
            args += ["-S", f"-{int(lines)}"]
        try:
            text = self._run(*args).stdout
        except _ServerDown as exc:
            raise NotFound(f"no session {name!r}: the tmux server stopped") from exc
        rows = text.split("\n")
        while rows and not _visible(rows[-1]):
            rows.pop()
        if lines is not None:
            rows = rows[-lines:]
        return "\n".join(rows)

    def wait_for_text(self, name: str, needle: str, timeout: float = 10.0, lines: int = 200) -> bool:
        """Poll the session's last ``lines`` lines until ``needle`` appears; False after ``timeout`` s.

        tmux drops trailing spaces from captured lines, so a needle's trailing whitespace is ignored
        (a ready glyph like ``"❯ "`` matches ``"❯"`` at the end of a line).
        """
        needle = needle.rstrip() or needle
        deadline = time.monotonic() + timeout
        while True:
            try:
                if needle in self.capture(name, lines=lines):
                    return True
            except NotFound:
                return False
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def log_path(self, name: str) -> Path:
        """The transcript file of session ``name`` (``.gastown/logs/<name>.log``)."""
        return transcripts.log_path(self.logs_dir, check_session_name(name))

    def last_activity(self, name: str) -> float | None:
        """Unix seconds of the transcript's last growth, or None if the session never printed."""
        return transcripts.last_activity(self.log_path(name))

    def attach_argv(self, name: str) -> builtins.list[str]:
        """The argv a terminal runs to show the session: ``tmux -L SOCKET attach-session -t =NAME``."""
        return [self.tmux, "-L", self.socket, "attach-session", "-t", f"={check_session_name(name)}"]

    # -- actions ---------------------------------------------------------------------------------

    def start(
        self,
        name: str,
        argv: builtins.list[str],
        cwd: str | os.PathLike[str],
        env: dict[str, str] | None = None,
        size: tuple[int, int] = DEFAULT_SIZE,
    ) -> SessionInfo:
        """Start session ``name`` running ``argv`` in ``cwd``, output piped to its transcript.

        argv: the agent command as a list (never parsed by a shell or by tmux). env: variables set on
        top of the caller's environment (:func:`caller_env`: this process's, not the tmux server's,
        so a key or ``IS_SANDBOX`` exported after the server started reaches new agents; inherited
        GT_* and BD_* variables are dropped, so a session only has the identity it is given); PATH
        gets the directory of the running ``gt`` first. size: (cols, rows) of the window.
        Raises GtError for a bad name, argv or cwd, or a binary not on PATH; Conflict if the session
        exists. On any error nothing is left running.
        """
        check_session_name(name)
        if not argv or not all(isinstance(a, str) and a for a in argv) or any("\0" in a for a in argv):
            raise GtError(f"cannot start session {name}: the command must be a non-empty list of arguments")
        cols, rows = _check_size(size)
        workdir = Path(cwd)
        if not workdir.is_dir():
            raise GtError(f"cannot start session {name}: working directory {workdir} does not exist")
        full_env = caller_env()
        full_env.update({str(k): str(v) for k, v in (env or {}).items()})
        instance = uuid.uuid4().hex[:12]
        # finds orphans (kill), and only this start's: a new session of the same name has another
        full_env.update({"GT_SESSION": name, "GT_SOCKET": self.socket, "GT_SESSION_INSTANCE": instance})
        base_path = full_env.get("PATH") or os.defpath
        full_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base_path])
        binary = shutil.which(argv[0], path=full_env["PATH"])
        if binary is None:
            raise GtError(
                f"cannot start session {name}: {argv[0]!r} is not installed (not on PATH): "
                "install it or choose another agent"
            )
        # no exists() first: tmux refuses a duplicate name itself (below), and the commands after the
        # refused new-session are not run (tmux drops the rest of a failed command list)
        self.specs_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        spec = self.specs_dir / f"{name}.{instance}.json"
        atomic_write_text(
            spec,
            json.dumps({"argv": [binary, *argv[1:]], "argv0": argv[0], "cwd": str(workdir.resolve()), "env": full_env}),
            mode=0o600,
        )
        log = self.log_path(name)
        pipe = transcripts.pipe_command(
            log, int(self.town.setting("logs", "max_bytes")), int(self.town.setting("logs", "keep"))
        )
        args: list[str] = []
        for opt in (*SERVER_OPTIONS, ("set-option", "-g", "default-terminal", _default_terminal())):
            args += [*opt, ";"]
        # python -P (3.11+): the caller's directory is not put on sys.path, so a ``core`` package of
        # the project the caller stands in cannot replace ours.
        args += [
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            str(cols),
            "-y",
            str(rows),
            "--",
            sys.executable,
            "-P",
            "-S",
            session_launch.__file__,
            str(spec),
            ";",
            "set-option",
            "-t",
            self._target(name),
            "@gt_instance",
            instance,
            ";",
            "pipe-pane",
            "-O",
            "-t",
            self._target(name),
            pipe,
            ";",
            *size_hook(name, cols, rows),
        ]
        try:
            for attempt in range(START_ATTEMPTS):
                try:
                    self._run(*args)
                    break
                except _ServerDown:
                    # the server was exiting (exit-empty: its last session just ended) as we connected;
                    # nothing was created, and the next attempt starts a new server
                    if attempt == START_ATTEMPTS - 1:
                        raise
                    time.sleep(0.1 * (attempt + 1))
        except GtError as exc:
            spec.unlink(missing_ok=True)
            if "duplicate session" in str(exc):
                raise Conflict(f"session {name!r} already exists: stop it first (or attach to it)") from exc
            if self.exists(name):
                self.kill(name)
            raise GtError(f"cannot start session {name}: {exc}") from exc
        return self._need(name)

    def send_text(self, name: str, text: str, submit: bool = True, verify_timeout: float = 3.0) -> None:
        """Type ``text`` into the session (a nudge): literal ``send-keys -l`` in chunks, then verify
        the text was taken (the screen changed), then Enter when ``submit``.

        Only text is typed, never keys: ``text`` goes through :func:`core.plaintext.one_line` first
        (escape sequences and control characters such as Ctrl-C ``\\x03``, Ctrl-D ``\\x04``, ESC and
        NUL removed; tabs and newlines become spaces, so the text is submitted once, by the Enter).
        Raises GtError when nothing printable is left of a non-empty ``text``, NotFound for no session,
        GtError if the pane is dead or the screen did not change within ``verify_timeout`` seconds (the
        text was not taken; nothing is submitted then).
        Method after Gas Town's nudge (internal/tmux/nudge.go: inject, verify, then Enter).
        """
        info = self._need(name)
        if not info.alive:
            raise GtError(f"session {name!r} has exited (status {info.exit_status}): restart it before nudging")
        typed = one_line(text)
        if text and not typed.strip():
            raise GtError(
                f"nothing to type into session {name!r}: the text {text[:40]!r} has only control "
                "characters, and a nudge types text, never keys"
            )
        target = self._target(name)
        if typed:
            before = self._run("capture-pane", "-p", "-t", target).stdout
            for i in range(0, len(typed), SEND_CHUNK):
                self._run("send-keys", "-t", target, "-l", "--", tmux_arg(typed[i : i + SEND_CHUNK]))
            deadline = time.monotonic() + verify_timeout
            while self._run("capture-pane", "-p", "-t", target).stdout == before:
                if time.monotonic() >= deadline:
                    raise GtError(
                        f"session {name!r} did not take the text (screen unchanged after "
                        f"{verify_timeout:g} s): check it with 'gt peek {name}'"
                    )
                time.sleep(0.03)
        if submit:
            self._run("send-keys", "-t", target, "Enter")

    def shell_of(self, name: str) -> str | None:
        """The interactive shell (a name in :data:`SHELLS`) that session ``name`` runs, or None: its
        pane's first process is one (a plain-shell Mayor, whatever it runs in the foreground), or its
        foreground process is one (tmux ``pane_current_command``). Text typed into a shell runs as a
        command, so nudges never type into one. None for a dead pane. Raises NotFound for no session.
        """
        info = self._need(name)
        if not info.alive:
            return None
        try:
            current = self._run(
                "display-message", "-p", "-t", self._target(name), "#{pane_current_command}"
            ).stdout.strip()
        except _ServerDown as exc:
            raise NotFound(f"no session {name!r}: the tmux server stopped") from exc
        for candidate in (_comm(info.pid), current):
            shell = Path(candidate.lstrip("-")).name
            if shell in SHELLS:
                return shell
        return None

    def send_keys(self, name: str, *keys: str) -> None:
        """Send tmux key names (``Enter``, ``C-c``, ``Escape``, ``Up``, ``M-x``...) to the session.

        Raises GtError for a malformed key name, NotFound for no session.
        """
        for key in keys:
            if not KEY_NAME.match(key):
                raise GtError(f"invalid key name {key!r}: use tmux key names like Enter, C-c, Escape, Up")
        self._need(name)
        if keys:
            self._run("send-keys", "-t", self._target(name), *keys)

    def resize(self, name: str, cols: int, rows: int) -> None:
        """Resize the session's window to ``cols`` x ``rows`` cells, its own size from now on (the
        size a detaching client leaves it at, :func:`size_hook`). The window then follows the
        latest attached client again (``window-size latest``). Raises NotFound, GtError."""
        cols, rows = _check_size((cols, rows))
        self._need(name)
        target = self._target(name)
        self._run(
            "resize-window",
            "-t",
            target,
            "-x",
            str(cols),
            "-y",
            str(rows),
            ";",
            "set-option",
            "-w",
            "-t",
            target,
            "window-size",
            "latest",
            ";",
            *size_hook(name, cols, rows),
        )

    def kill(self, name: str, timeout: float = 5.0, instance: str | None = None) -> None:
        """Stop session ``name`` and every process it started: the pane's session and process group,
        its descendants, and processes that left both (an agent CLI's tool commands run in groups of
        their own and outlive a killed agent) but carry the session's ``GT_SESSION``/``GT_SOCKET``
        (every process's environment is read for that, so only before each signal). SIGHUP (tmux
        closes the pane), then SIGTERM, then SIGKILL after 1 s; verified gone (zombies count as gone). Method after Gas Town (internal/tmux: kill the process
        group, TERM then KILL).

        instance: stop the session only if it is still that start of it (:attr:`SessionInfo.instance`,
        as seen by a caller that decided to stop it), never a new session of the same name.

        Raises NotFound for no session (or another start of it), GtError if a process survives
        ``timeout`` seconds.
        """
        info = self._need(name)
        if instance is not None and info.instance != instance:
            raise NotFound(f"session {name!r} was started again meanwhile: not stopped")
        root = info.pid
        tag = _tag(name, self.socket, info.instance)
        members = {p.pid for p in proctree.members(root, tag)}
        if pid_alive(root):
            members.add(root)
        try:
            self._run("kill-session", "-t", info.tmux_id or f"={name}")  # this session, not a successor
        except (NotFound, _ServerDown):
            pass
        deadline = time.monotonic() + timeout
        term_at = time.monotonic() + 0.2
        kill_at = time.monotonic() + 1.0
        sent_term = sent_kill = False
        while True:
            now = time.monotonic()
            signalling = (now >= term_at and not sent_term) or (now >= kill_at and not sent_kill)
            members |= {p.pid for p in proctree.members(root, tag if signalling else None)}
            left = {pid for pid in members if pid_alive(pid)}
            if not left:
                return
            if now >= deadline:
                raise GtError(
                    f"session {name!r}: processes {sorted(left)} survived SIGKILL: "
                    "check them with ps and kill them by hand"
                )
            if now >= term_at and not sent_term:
                proctree.signal_all(left, signal.SIGTERM)
                sent_term = True
            elif now >= kill_at and not sent_kill:
                proctree.signal_all(left, signal.SIGKILL)
                sent_kill = True
            time.sleep(0.02)

    def kill_server(self) -> None:
        """Kill every session (as :meth:`kill` does), then the tmux server, and remove its socket
        file (tmux leaves it behind); a no-op if no server runs."""
        for s in self.list():
            try:
                self.kill(s.name)
            except NotFound:
                pass
        try:
            self._run("kill-server")
        except GtError:
            pass
        self.socket_path().unlink(missing_ok=True)

    def socket_path(self) -> Path:
        """The socket file: ``$TMUX_TMPDIR`` (default ``/tmp``) ``/tmux-UID/SOCKET``, as tmux(1) places it."""
        return Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / self.socket


def _comm(pid: int) -> str:
    """The process name of ``pid`` (``/proc/PID/comm``, else ``ps``); "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text(errors="replace").strip()
    except OSError:
        if Path("/proc/self/comm").exists():
            return ""
    out = subprocess.run(
        ["ps", "-o", "comm=", "-p", str(pid)], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    return out.stdout.strip()


def _tag(name: str, socket: str, instance: str) -> tuple[bytes, ...]:
    """The environment entries every process of this start (``instance``, "" when unknown) of
    session ``name`` on ``socket`` inherits."""
    tag = (f"GT_SESSION={name}".encode(), f"GT_SOCKET={socket}".encode())
    return (*tag, f"GT_SESSION_INSTANCE={instance}".encode()) if instance else tag


def _default_terminal() -> str:
    """``tmux-256color`` when this machine's terminfo knows it, else ``screen-256color``."""
    global _TERMINAL
    if _TERMINAL is None:
        found = (
            shutil.which("infocmp")
            and subprocess.run(["infocmp", "tmux-256color"], capture_output=True, stdin=subprocess.DEVNULL).returncode
            == 0
        )
        _TERMINAL = "tmux-256color" if found else "screen-256color"
    return _TERMINAL


_TERMINAL: str | None = None


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    cols, rows = int(size[0]), int(size[1])
    if not (2 <= cols <= 10000 and 2 <= rows <= 10000):
        raise GtError(f"invalid session size {cols}x{rows}: use 2..10000 columns and rows")
    return cols, rows


def _visible(line: str) -> bool:
    return bool(re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", line).strip())


# -- what a pane's environment takes from its caller --------------------------------------------


#: A terminal's size as environment variables (``shutil.get_terminal_size`` prefers them to the
#: terminal's own): the caller's describe the caller's terminal, never a pane's, so no session gets them.
SIZE_VARS = ("COLUMNS", "LINES")


def caller_env() -> dict[str, str]:
    """The environment a session inherits: this process's, less the pane's own variables
    (:data:`PANE_VARS`), the caller's terminal size (:data:`SIZE_VARS`) and any GT_*/BD_* identity."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in PANE_VARS and k not in SIZE_VARS and not k.startswith(("GT_", "BD_"))
    }
