"""Verification gates: the commands a rig's refinery runs on a batch before the default branch moves.

Configured in ``rig.toml`` as an ordered table (the order of the file is the run order)::

    [gates.lint]
    cmd = ["ruff", "check", "."]      # argv list, never a shell string
    timeout = 120                     # seconds; a gate that times out has failed
    [gates.env]                       # extra environment (the gates otherwise get PATH, HOME, LANG only)
    PYTHONDONTWRITEBYTECODE = "1"

Each gate runs in its own process group in the given directory with that clean environment; its
stdout and stderr go to ``.gastown/logs/gates/<label>-<gate>-<n>.log``. The gates of one run stop at
the first failure. When a gate finishes or times out, its whole process tree is killed (SIGKILL):
its process group and session, every descendant, and processes that left both (``setsid``,
double-forked daemons) but carry the run's tag in their environment (``GT_GATE``, the one
variable besides PATH, HOME, LANG and ``[gates.env]`` a gate inherits; the process table and
environments are read from /proc, as :meth:`core.sessions.SessionHost.kill` does for sessions). So a
gate's children cannot linger, hold the worktree or be counted by the next gate.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import atomic_write_text
from core import proctree
from core.errors import ConfigError
from core.filemodes import open_private, private_dir

DEFAULT_TIMEOUT_S = 600.0
KEPT_ENV = ("PATH", "HOME", "LANG")
TAG_VAR = "GT_GATE"
KILL_TIMEOUT_S = 5.0
_GATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Gate:
    """One gate: ``name`` (from rig.toml), ``cmd`` (argv tuple), ``timeout`` (seconds)."""

    name: str
    cmd: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class GateConfig:
    """A rig's gates in run order, and the extra environment ``env`` given to every gate."""

    gates: tuple[Gate, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.gates)

    def describe(self) -> str:
        """One line for humans: the gate names in order, or that a clean merge alone is enough."""
        if not self.gates:
            return "no gates: MRs merge on a clean merge alone"
        return "gates: " + ", ".join(f"{g.name} ({g.timeout:g}s)" for g in self.gates)


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate process. duration_s: wall seconds; returncode None if it never started
    (missing executable) or was killed at its timeout."""

    gate: str
    ok: bool
    returncode: int | None
    timed_out: bool
    duration_s: float
    log_path: Path

    @property
    def how(self) -> str:
        """How it ended: ``passed``, ``exit 1``, ``timed out after 30s`` or ``could not start``."""
        if self.ok:
            return "passed"
        if self.timed_out:
            return f"timed out after {self.duration_s:.0f}s"
        if self.returncode is None:
            return "could not start"
        return f"exit {self.returncode}"

    def summary(self) -> str:
        """``lint: exit 1`` / ``test: timed out after 30s`` / ``build: passed``."""
        return f"{self.gate}: {self.how}"


@dataclass(frozen=True)
class GateRun:
    """All gates of one run, in order, up to the first failure. ``ok`` when every gate passed."""

    results: tuple[GateResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> GateResult | None:
        """The gate that failed, or None."""
        return next((r for r in self.results if not r.ok), None)

    @property
    def log_paths(self) -> list[str]:
        return [str(r.log_path) for r in self.results]


def load_gates(config: Any, where: str = "rig.toml") -> GateConfig:
    """Parse the ``[gates]`` table of a rig config (tomlkit document or dict).

    Raises ConfigError naming ``where`` and the gate for a missing or non-list ``cmd``, a non-positive
    ``timeout``, a bad gate name, or a non-string ``[gates.env]`` value.
    """
    table = config.get("gates", {}) if config is not None else {}
    gates: list[Gate] = []
    env: dict[str, str] = {}
    for name, spec in table.items():
        name = str(name)
        if name == "env":
            if not hasattr(spec, "items"):
                raise ConfigError(f'{where}: [gates.env] must be a table of NAME = "value"')
            for k, v in spec.items():
                if not isinstance(v, str):
                    raise ConfigError(f"{where}: [gates.env] {k} must be a string: quote the value")
                env[str(k)] = str(v)
            continue
        if not _GATE_NAME.match(name):
            raise ConfigError(f"{where}: invalid gate name {name!r}: use letters, digits, '.', '_' and '-'")
        if not hasattr(spec, "get"):
            raise ConfigError(f"{where}: [gates.{name}] must be a table with cmd = [argv] and timeout = seconds")
        cmd = spec.get("cmd")
        if not isinstance(cmd, list) or not cmd or not all(isinstance(a, str) for a in cmd):
            raise ConfigError(f"{where}: [gates.{name}] cmd must be a non-empty list of strings (an argv, no shell)")
        timeout = spec.get("timeout", DEFAULT_TIMEOUT_S)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            raise ConfigError(
                f"{where}: [gates.{name}] timeout must be a positive number of seconds (e.g. timeout = 600)"
            )
        gates.append(Gate(name, tuple(str(a) for a in cmd), float(timeout)))
    return GateConfig(tuple(gates), env)


def gate_env(extra: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The clean gate environment: PATH, HOME and LANG from ``base`` (default: this process), then ``extra``."""
    base = os.environ if base is None else base
    env = {k: base[k] for k in KEPT_ENV if k in base}
    env.setdefault("PATH", os.defpath)
    env.update(extra)
    return env


def log_path(logs_dir: Path, label: str, gate: str) -> Path:
    """A fresh log file ``<logs_dir>/<label>-<gate>-<n>.log`` (n = 1, 2, ... the first free number),
    created exclusively so concurrent runs never share a file, 0600 in a 0700 directory (gate output may
    hold secrets). Raises ValueError for a bad label."""
    if not _LABEL.match(label):
        raise ValueError(f"invalid gate log label {label!r}")
    private_dir(logs_dir)
    n = 1
    while True:
        path = logs_dir / f"{label}-{gate}-{n}.log"
        try:
            os.close(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            return path
        except FileExistsError:
            n += 1


def gate_tag(cwd: str | os.PathLike[str], pidfile: Path | None = None) -> dict[str, str]:
    """The environment entry (:data:`TAG_VAR`) that marks every process of a gate run in ``cwd``.

    With ``pidfile`` (one refinery per rig holds it, under the refinery lock) the tag is derived from
    its path, so a successor of a crashed caller finds the orphans (:func:`kill_leftover`); without,
    it is unique to this call.
    """
    token = str(Path(pidfile).resolve()) if pidfile is not None else uuid.uuid4().hex
    return {TAG_VAR: f"{token}:{Path(cwd).resolve()}"}


def _tag_bytes(tag: dict[str, str]) -> tuple[bytes, ...]:
    """``tag`` as the environment entries :func:`core.proctree.members` matches."""
    return tuple(f"{key}={value}".encode() for key, value in tag.items())


def run_gates(
    config: GateConfig, cwd: str | os.PathLike[str], logs_dir: Path, label: str, pidfile: Path | None = None
) -> GateRun:
    """Run the gates of ``config`` in order in ``cwd``, stopping at the first failure.

    label: names the logs (an MR id or ``batch-12``). Each gate gets :func:`gate_env` plus the run's
    :func:`gate_tag`, stdin closed, its own session/process group, and at most its timeout (seconds);
    when it exits or times out its whole process tree is killed (:func:`kill_tree`).
    pidfile: while a gate runs, its process group id is kept there, so that a successor of a crashed
    caller can kill the orphan (:func:`kill_leftover`).
    Never raises for a failing gate: a missing executable is a failed gate with the reason in its log.
    """
    tag = gate_tag(cwd, pidfile)
    env = {**gate_env(config.env), **tag}
    results: list[GateResult] = []
    for gate in config.gates:
        result = _run_one(gate, Path(cwd), env, log_path(logs_dir, label, gate.name), pidfile, _tag_bytes(tag))
        results.append(result)
        if not result.ok:
            break
    return GateRun(tuple(results))


def _run_one(
    gate: Gate, cwd: Path, env: dict[str, str], log: Path, pidfile: Path | None, tag: tuple[bytes, ...]
) -> GateResult:
    started = time.monotonic()
    with open(log, "wb") as out:
        out.write(f"$ {' '.join(gate.cmd)}  (cwd {cwd}, timeout {gate.timeout:g}s)\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                list(gate.cmd),
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            out.write(f"gate {gate.name} could not start: {exc}\n".encode())
            return GateResult(gate.name, False, None, False, time.monotonic() - started, log)
        if pidfile is not None:
            atomic_write_text(pidfile, f"{proc.pid}\n")
        try:
            exited = _wait_exit(proc.pid, gate.timeout)
            left = kill_tree(proc.pid, tag)  # while the leader is a zombie its pid cannot be reused
            rc = proc.wait()
        except BaseException:
            kill_tree(proc.pid, tag)
            proc.wait()
            raise
        finally:
            if pidfile is not None:
                pidfile.unlink(missing_ok=True)
        if left:
            out.write(f"\ngate {gate.name}: processes {left} survived SIGKILL\n".encode())
        if not exited:
            out.write(f"\ngate {gate.name} timed out after {gate.timeout:g}s: process group killed\n".encode())
            return GateResult(gate.name, False, None, True, time.monotonic() - started, log)
        out.write(f"\nexit {rc}\n".encode())
    return GateResult(gate.name, rc == 0, rc, False, time.monotonic() - started, log)


def _wait_exit(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for child ``pid`` to exit, leaving it unreaped (``WNOWAIT``), so
    its pid still names its process group while the rest of its tree is killed. True if it exited."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)


def kill_tree(root: int, tag: tuple[bytes, ...], timeout: float = KILL_TIMEOUT_S) -> list[int]:
    """SIGKILL every live process of the gate whose leader is ``root``: its session and process
    group, their descendants, and processes carrying ``tag`` (environment entries, see
    :func:`gate_tag`) with their descendants; scanned again until none is left or ``timeout``
    seconds passed (a process may fork while it is being killed). Zombies count as gone. Returns
    the pids that survived (normally [])."""
    root = root if root > 0 else -1  # never the kernel's session 0 or init's tree
    deadline = time.monotonic() + timeout
    me = os.getpid()
    while True:
        left = {p.pid for p in proctree.members(root, tag)} - {me}
        if not left or time.monotonic() >= deadline:
            return sorted(left)
        proctree.signal_all(left, signal.SIGKILL)
        time.sleep(0.01)


def kill_leftover(pidfile: Path, cwd: Path) -> bool:
    """Kill the gate recorded in ``pidfile`` by a caller that died mid-gate: every process carrying
    the tag of gates run in ``cwd`` with that pidfile (:func:`gate_tag`), and the recorded process
    group if its leader still runs inside ``cwd`` (read from ``/proc/<pid>/cwd``, so a reused pid is
    never hit). Removes the pidfile. Returns True if a process was killed. Without a pidfile no gate
    was left running (it is removed only once the gate's tree is dead), and nothing is scanned."""
    tag = _tag_bytes(gate_tag(cwd, pidfile))
    try:
        text = pidfile.read_text()
    except OSError:
        return False
    try:
        pid: int | None = int(text.strip())
    except ValueError:
        pid = None
    root = -1  # no leader to follow: only the tagged processes and their descendants
    if pid is not None and pid > 0:
        try:
            where = Path(os.readlink(f"/proc/{pid}/cwd")).resolve()
            here = cwd.resolve()
            if where == here or here in where.parents:
                root = pid
        except OSError:
            pass
    killed = bool({p.pid for p in proctree.members(root, tag)} - {os.getpid()})
    if killed:
        kill_tree(root, tag)
    pidfile.unlink(missing_ok=True)
    return killed


def log_tail(path: str | os.PathLike[str], lines: int = 20, max_bytes: int = 8192) -> str:
    """The last ``lines`` lines (at most ``max_bytes`` bytes) of a gate log, decoded leniently; '' if missing."""
    try:
        data, _size = _read_end(path, max_bytes)
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def _read_end(path: str | os.PathLike[str], max_bytes: int) -> tuple[bytes, int]:
    """The last ``max_bytes`` bytes of the file at ``path``, and its size in bytes. Raises OSError."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - max_bytes))
        return fh.read(), size


#: Bytes of a gate log :func:`read_log` keeps (its end: where a failure is reported).
LOG_BYTES = 256 * 1024
#: Lines that report a failure in the output of common tools (pytest, unittest, ruff, mypy, tsc,
#: cargo, go test, make, shells): a word such as error/failed/traceback, pytest's ``E   `` lines.
FAILING_LINE = re.compile(
    r"(?i)\b(errors?|fail(s|ed|ure|ures)?|traceback|exception|assert(ion)?(error)?|panic(ked)?|fatal)\b"
    r"|^E {3}|✗|not found|no such file"
)
_TRAILER = re.compile(
    r"^(?:exit (?P<rc>-?\d+)|gate \S+ (?P<timeout>timed out after \S+?s)|gate \S+ (?P<nostart>could not start))"
)
_RULE = re.compile(r"^\s*[=_-]{5,}")  # a separator such as pytest's "===== FAILURES =====": not a failure itself
_LOG_NAME = re.compile(r"^(?:mr|batch)-\d+-(?P<gate>.+)-\d+\.log$")


@dataclass(frozen=True)
class GateLog:
    """One gate log read back (:func:`read_log`). gate: the gate's name (from the file name the
    refinery gives it, ``<mr-N|batch-N>-<gate>-<n>.log``). outcome: ``passed``, ``exit N``,
    ``timed out after Ns``, ``could not start``, or ``unfinished`` (no trailer: still running, or the
    run was killed); ok: None when unfinished. failing: the lines that report the failure (empty for
    a passed gate). text: the log (its last :data:`LOG_BYTES` bytes when ``truncated``), control
    characters and escape sequences removed."""

    path: Path
    gate: str
    outcome: str
    ok: bool | None
    failing: tuple[str, ...]
    text: str
    truncated: bool


def failing_lines(text: str, limit: int = 40) -> list[str]:
    """The lines of gate output ``text`` that report a failure (:data:`FAILING_LINE`), at most
    ``limit``, in order, separator rules (``===== FAILURES =====``) left out; without any, its last 10 non-empty lines (a gate whose tool says nothing
    recognisable still shows what it printed last). The log's own header (``$ cmd``) and trailer
    (``exit N``, timed out) are never counted."""
    lines = [line for line in text.splitlines() if line.strip() and not _is_frame(line)]
    found = [line for line in lines if FAILING_LINE.search(line) and not _RULE.match(line)]
    return (found or lines[-10:])[:limit]


def _is_frame(line: str) -> bool:
    """True for a line :func:`_run_one` writes around the gate's own output (its command, exit status,
    timeout and leftover processes; not "could not start", whose line says why)."""
    t = _TRAILER.match(line)
    return (
        line.startswith("$ ") or bool(t and not t.group("nostart")) or line.startswith("gate ") and "survived" in line
    )


def read_log(path: str | os.PathLike[str], max_bytes: int = LOG_BYTES) -> GateLog:
    """Read the gate log at ``path`` (its last ``max_bytes`` bytes), with its outcome from the trailer
    :func:`_run_one` writes and its failing lines (:func:`failing_lines`). A missing log reads as
    ``unfinished`` with the reason as its text. Control characters are removed
    (:func:`core.plaintext.strip_controls`): gate output is written by agents' code."""
    from core.plaintext import strip_controls

    path = Path(path)
    m = _LOG_NAME.match(path.name)
    gate = m.group("gate") if m else path.stem
    try:
        data, size = _read_end(path, max_bytes)
    except OSError as exc:
        return GateLog(path, gate, "unfinished", None, (), f"log not readable: {exc.strerror or exc}", False)
    truncated = size > max_bytes
    text = strip_controls(data.decode("utf-8", "replace").replace("\r\n", "\n"))
    if truncated:
        text = text.split("\n", 1)[-1]  # a cut first line
    outcome, ok = "unfinished", None
    for line in reversed(text.splitlines()[-5:]):
        t = _TRAILER.match(line.strip())
        if t:
            if t.group("rc") is not None:
                rc = int(t.group("rc"))
                outcome, ok = ("passed", True) if rc == 0 else (f"exit {rc}", False)
            else:
                outcome, ok = t.group("timeout") or "could not start", False
            break
    failing = () if ok else tuple(failing_lines(text))
    return GateLog(path, gate, outcome, ok, failing, text, truncated)
