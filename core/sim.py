"""The ``sim`` agent: a deterministic stand-in for an AI coding agent (DESIGN section 7, issue 4).

Run as ``gt agent sim [--bead ID]`` inside a session, with the worktree as its working directory. The
hook is ``--bead``, else ``$GT_BEAD``; the bead is read through the real command line
(``gt bead show ID --json``). It then behaves like an agent would, on screen:

1. a banner, then "reading hook";
2. runs ``gt prime`` and shows it (if that command does not exist yet it says so and goes on);
3. runs the fenced sh blocks of the bead's description (info string ``sh`` or ``bash``) in order,
   each with ``bash -e FILE`` in the worktree (the block is written to a temporary file, never built
   into a command string), output shown indented, a spinner while a step is silent;
4. commits everything with the message ``<bead id>: <title>``; a bead without sh blocks (or whose
   blocks changed nothing) gets a deterministic note file, ``sim-notes/<bead id>.md``;
5. runs ``gt done`` (if that command does not exist yet it says so and stays);
6. waits at a ``❯ `` prompt reading lines: ``gt prime`` or ``work`` checks the hook again, ``exit``
   (or end of input) ends it.

Fault labels on the bead: ``sim:fail`` (a step exits 1; failure is reported, no ``gt done``),
``sim:hang`` (after the first step it stops printing forever), ``sim:crash`` (after the first step
it exits with status 3, leaving its changes uncommitted), ``sim:slow`` (it sleeps
``$GT_SIM_SLOW_SECONDS``, default 5, between steps).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from core.errors import GtError

PROMPT = "❯ "
NOTE_DIR = "sim-notes"
FAULTS = ("sim:fail", "sim:hang", "sim:crash", "sim:slow")
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
SH_INFO = ("sh", "bash")
CRASH_STATUS = 3
FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)")


@dataclass
class Bead:
    """The fields of a bead the sim uses (from ``gt bead show ID --json``)."""

    id: str
    title: str
    description: str
    status: str
    labels: list[str] = field(default_factory=list)

    def has(self, label: str) -> bool:
        return label in self.labels


def sh_blocks(markdown: str) -> list[str]:
    """The bodies of the fenced code blocks with info string ``sh`` or ``bash``, in order.

    Fences follow CommonMark: an opening line of 3+ backticks or tildes (up to 3 spaces indent) and an
    info string; the block ends at a line of at least as many of the same character, or at the end of
    the text. Other fenced blocks are skipped whole (an sh fence inside them is not a block).
    """
    blocks: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group(1), m.group(2).lower()
        close = re.compile(r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$")
        body: list[str] = []
        i += 1
        while i < len(lines) and not close.match(lines[i]):
            body.append(lines[i])
            i += 1
        i += 1
        if info in SH_INFO:
            blocks.append("\n".join(body) + "\n")
    return blocks


def note_path(bead_id: str) -> str:
    """Worktree-relative path of the note file the sim writes when it has nothing else to change."""
    return f"{NOTE_DIR}/{bead_id}.md"


def note_text(bead: Bead) -> str:
    """The deterministic content of the note file of ``bead``."""
    return f"# {bead.id}: {bead.title}\n\nWorked by the sim agent: this bead had no sh steps to run.\n"


class Sim:
    """One run of the sim agent. bead_id: the hooked bead (None: empty hook). cwd: the worktree.
    town_root: the town, exported as GT_TOWN to the ``gt`` commands and steps it runs (default: the
    inherited environment). out/inp: its terminal. gt: argv prefix that runs the ``gt`` command line."""

    def __init__(
        self,
        bead_id: str | None,
        cwd: str | os.PathLike[str],
        town_root: str | None = None,
        out: IO[str] | None = None,
        inp: IO[str] | None = None,
        gt: list[str] | None = None,
    ) -> None:
        self.bead_id = bead_id
        self.cwd = Path(cwd)
        self.env = dict(os.environ)
        if town_root:
            self.env["GT_TOWN"] = str(town_root)
        self.out = out or sys.stdout
        self.inp = inp or sys.stdin
        self.gt = gt or _gt_argv()
        self.tty = self.out.isatty()
        self.completed: set[str] = set()

    # -- screen --------------------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.tty else text

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> int:
        """Banner, work the hook once, then the prompt loop. Returns the exit status (0)."""
        self.say(self._bold("◆ sim agent") + " · gastown-tui's deterministic agent (no AI service)")
        self.say(f"  worktree {self.cwd}")
        self.work()
        return self.prompt_loop()

    def prompt_loop(self) -> int:
        """Read lines at the ``❯`` prompt: ``gt prime``/``work`` re-check the hook, ``exit`` ends."""
        while True:
            self.out.write(PROMPT)
            self.out.flush()
            line = self.inp.readline()
            if not line:
                self.say()
                return 0
            command = line.strip()
            if command == "exit":
                self.say("bye")
                return 0
            if command in ("gt prime", "work"):
                self.work()
            elif command:
                self.say(f"sim: I understand 'gt prime', 'work' and 'exit' (got {command!r})")

    def work(self) -> bool:
        """Check the hook and work the bead on it. Returns True when the work was committed."""
        self.say("● reading hook")
        if not self.bead_id:
            self.say("  hook is empty (no --bead, no GT_BEAD): nothing to do")
            return False
        if self.bead_id in self.completed:
            self.say(f"  {self.bead_id} is done already: nothing new on the hook")
            return False
        try:
            bead = self.read_bead(self.bead_id)
        except GtError as exc:
            self.say(f"  ✗ cannot read {self.bead_id}: {exc}")
            return False
        self.say(f"  hooked: {bead.id} · {bead.title} [{bead.status}]")
        faults = [f for f in FAULTS if bead.has(f)]
        if faults:
            self.say(f"  fault labels: {', '.join(faults)}")
        self.prime()
        if not _is_worktree(self.cwd):
            self.say(f"  ✗ {self.cwd} is not a git worktree: cannot work here")
            return False
        steps = sh_blocks(bead.description)
        plan = list(steps)
        if bead.has("sim:fail"):
            plan.insert(min(1, len(plan)), "echo 'sim: injected failure (sim:fail)' >&2\nexit 1\n")
        if not plan:
            self.say("● no sh steps in the bead: writing a note")
        for n, script in enumerate(plan, 1):
            if n > 1 and bead.has("sim:slow"):
                pause = float(os.environ.get("GT_SIM_SLOW_SECONDS", "5"))
                self.say(f"  … thinking for {pause:g} s (sim:slow)")
                time.sleep(pause)
            status = self.step(n, len(plan), script)
            if status != 0:
                self.say(f"✗ work on {bead.id} failed at step {n} (exit {status}): not running gt done")
                return False
            if n == 1:
                self._fault_after_first_step(bead)
        if not plan:
            self._fault_after_first_step(bead)
        sha = self.commit(bead)
        self.completed.add(bead.id)
        self.say(f"✓ committed {sha[:10]} · {bead.id}: {bead.title}")
        self.done()
        return True

    def _fault_after_first_step(self, bead: Bead) -> None:
        if bead.has("sim:crash"):
            self._write_note(bead)
            self.out.flush()
            os._exit(CRASH_STATUS)
        if bead.has("sim:hang"):
            while True:
                time.sleep(3600)

    # -- pieces ----------------------------------------------------------------------------------

    def read_bead(self, bead_id: str) -> Bead:
        """The bead through ``gt bead show ID --json``. Raises GtError with gt's message on failure."""
        proc = self._gt("bead", "show", bead_id, "--json")
        if proc.returncode != 0:
            raise GtError(
                (proc.stderr or proc.stdout).strip().splitlines()[-1]
                if (proc.stderr or proc.stdout).strip()
                else f"gt bead show exited {proc.returncode}"
            )
        try:
            data = json.loads(proc.stdout)
            return Bead(
                id=str(data["id"]),
                title=str(data.get("title", "")),
                description=str(data.get("description") or ""),
                status=str(data.get("status", "")),
                labels=[str(x) for x in data.get("labels") or []],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise GtError(f"gt bead show printed no bead JSON ({exc})") from exc

    def prime(self) -> None:
        """Run ``gt prime`` and show its output (or that it does not exist yet)."""
        self.say("● gt prime")
        proc = self._gt("prime")
        if _missing_command(proc):
            self.say("  gt prime is not available yet: going on")
            return
        self._show(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            self.say(f"  gt prime exited {proc.returncode}: going on")

    def step(self, n: int, total: int, script: str) -> int:
        """Run one sh block with ``bash -e FILE`` in the worktree, showing its output; the exit status."""
        first = next((ln.strip() for ln in script.splitlines() if ln.strip()), "(empty)")
        self.say(f"● step {n}/{total}: {first[:70]}")
        fd, path = tempfile.mkstemp(prefix="gt-sim-", suffix=".sh")
        started = time.monotonic()
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(script)
            proc = subprocess.Popen(
                ["bash", "-e", path],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            self._stream(proc, f"step {n}/{total}", started)
            status = proc.wait()
        finally:
            os.unlink(path)
        took = time.monotonic() - started
        mark = "✓" if status == 0 else "✗"
        self.say(f"  {mark} step {n}/{total} {'done' if status == 0 else f'exited {status}'} ({took:.1f} s)")
        return status

    def _stream(self, proc: subprocess.Popen[bytes], label: str, started: float) -> None:
        """Copy the step's output to the screen line by line; spin while it is silent (on a tty)."""
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        pending = b""
        frame = 0
        spinning = False
        while True:
            ready = sel.select(timeout=0.1)
            if not ready:
                if self.tty:
                    self.out.write(
                        f"\r\x1b[K  {SPINNER[frame % len(SPINNER)]} {label} ({time.monotonic() - started:.1f} s)"
                    )
                    self.out.flush()
                    spinning = True
                    frame += 1
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if spinning:
                self.out.write("\r\x1b[K")
                spinning = False
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.say("  │ " + line.decode("utf-8", "replace").rstrip("\r"))
        if pending:
            self.say("  │ " + pending.decode("utf-8", "replace"))
        sel.close()
        proc.stdout.close()

    def commit(self, bead: Bead) -> str:
        """Commit every change in the worktree as ``<id>: <title>`` (a note file if nothing changed).

        Returns the commit sha. Raises GtError when git refuses.
        """
        from core.git import run_git

        if not run_git(["status", "--porcelain"], self.cwd).stdout.strip():
            self._write_note(bead)
        run_git(["add", "-A"], self.cwd)
        run_git(["commit", "-q", "-m", f"{bead.id}: {bead.title}"], self.cwd)
        return run_git(["rev-parse", "HEAD"], self.cwd).stdout.strip()

    def _write_note(self, bead: Bead) -> None:
        path = self.cwd / note_path(bead.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(note_text(bead), encoding="utf-8")

    def done(self) -> None:
        """Run ``gt done`` (or say it does not exist yet)."""
        self.say("● gt done")
        proc = self._gt("done")
        if _missing_command(proc):
            self.say("  gt done is not available yet: staying here")
            return
        self._show(proc.stdout + proc.stderr)
        self.say("  ✓ done" if proc.returncode == 0 else f"  ✗ gt done exited {proc.returncode}")

    def _show(self, text: str, limit: int = 40) -> None:
        lines = text.rstrip("\n").splitlines()
        for line in lines[:limit]:
            self.say("  │ " + line)
        if len(lines) > limit:
            self.say(f"  │ … {len(lines) - limit} more lines")

    def _gt(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.gt, *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )


def _gt_argv() -> list[str]:
    found = shutil.which("gt")
    return [found] if found else [sys.executable, "-P", "-m", "gastown_tui.cli"]


def _missing_command(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode == 2 and "No such command" in (proc.stderr + proc.stdout)


def _is_worktree(path: Path) -> bool:
    from core.git import run_git

    return run_git(["rev-parse", "--is-inside-work-tree"], path, check=False).stdout.strip() == "true"


def run(bead_id: str | None, cwd: str | os.PathLike[str], town_root: str | None = None) -> int:
    """Entry point of ``gt agent sim``: work ``bead_id`` in the worktree ``cwd`` on this terminal,
    then wait at the prompt. town_root: see :class:`Sim`. Returns the exit status."""
    return Sim(bead_id, cwd, town_root).run()
