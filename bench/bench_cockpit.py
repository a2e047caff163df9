"""The cockpit under load: busy ``sim`` polecats (30 by default), each printing about 50 lines a second,
against a baseline measured in the same run with no polecats at all.

The cockpit runs as its own process (``gastown-tui --town T``, engine in-process) in a 160x50
pseudo-terminal whose output is drained by a reader thread, like a real terminal would. One cockpit
lives through four phases:

1. ``no polecats``: the town has a rig and the Mayor only (the baseline);
2. ``N idle polecats``: N polecats slung, each waiting (sleeping) for a flag file;
3. ``N busy polecats``: the flag is created, every polecat prints ``line i xxx...`` every 20 ms;
4. ``N busy, polecat streaming``: the cursor moved to the first polecat, whose terminal now streams.

Measured in each phase:

- the cockpit process's CPU share (utime + stime of every thread, ``/proc/PID/stat``, in % of one
  core), the share of wall time its main thread (the event loop) was runnable but waiting for a CPU
  (``/proc/PID/schedstat``: a starved process shows up here, not in its CPU share), the machine's
  busy share (``/proc/stat``, all cores, every process) and the 1-minute load average;
- key press to screen update, median and p95 over the rounds, for two probes:
  ``help``: write ``?``, wait for the help screen's title (a modal screen composed and drawn whole;
  escape closes it and the main screen is redrawn before the next round);
  ``cursor``: write down / up in the agents tree (focused), wait for the rig row / the Mayor row drawn
  in the cursor's colour (two lines redrawn: the commonest thing a user does). Not measured while a
  polecat streams: moving the cursor there switches terminals.
- the floor: the same round trip through a raw-mode echo program in its own pty (a process that
  does nothing else), so a slow figure can be told apart from a machine that cannot do better.

Latency is counted from the write to the pty (pexpect's default 50 ms sleep before each send is
turned off). The machine is shared: the no-polecats baseline of the same run, the load average and
the floor say how busy it was.

Then, on a quiet machine (the polecats told to stop printing and sleep, still hooked; the first
cockpit closed), issue 21 part 8:

- ``start-up``: a whole cockpit process started in a fresh pty until its first frame shows the town's
  agents (the rig's row counting all N polecats), median and slowest of ``BENCH_COCKPIT_STARTS``
  starts, against ``python -c pass`` started the same way (the interpreter's own floor), and the
  CPU time the cockpit had used by then (a busy machine stretches wall time far more); and
  ``import gastown_tui.app`` alone, the import share of it;
- ``screens``: key to screen, median and p95, for each entry of :data:`SCREENS` (a key, and a text only
  that screen draws; escape goes back), in the last started cockpit, against the echo floor.

The latency rows carry the no-polecats figure as their baseline, so ``make bench`` prints the ratio.
Goals (issue 9): under one core, p95 under 100 ms. The polecats' work is a Python loop (``print``,
``sleep 0.02``), so the load is the cockpit's, not fork storms.

Smaller runs while iterating: ``BENCH_COCKPIT_QUICK=1`` (10 polecats, 8 rounds, 4 s windows), or set
``BENCH_COCKPIT_POLECATS``, ``BENCH_COCKPIT_ROUNDS``, ``BENCH_COCKPIT_WINDOW`` (seconds),
``BENCH_COCKPIT_STARTS`` one by one; ``BENCH_COCKPIT_ONLY_STARTUP=1`` skips the four load phases.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect

from core import mayor
from core.beads.store import BeadStore
from core.config import edit_toml
from core.rigs import add_rig
from core.sessions import SessionHost
from core.sling import Slinger
from core.town import install_town

QUICK = os.environ.get("BENCH_COCKPIT_QUICK", "") not in ("", "0")
POLECATS = int(os.environ.get("BENCH_COCKPIT_POLECATS", 10 if QUICK else 30))
ROUNDS = int(os.environ.get("BENCH_COCKPIT_ROUNDS", 8 if QUICK else 20))
WINDOW_S = float(os.environ.get("BENCH_COCKPIT_WINDOW", 4.0 if QUICK else 8.0))
STARTS = int(os.environ.get("BENCH_COCKPIT_STARTS", 3 if QUICK else 5))
ONLY_STARTUP = os.environ.get("BENCH_COCKPIT_ONLY_STARTUP", "") not in ("", "0")
HELP_MARK = b"cockpit: keys"
MAIN_MARK = b"Ready beads"  # a panel title the help screen covers: drawn again once it closes
READY_MARK = b"bench-ready"
DOWN, UP, ESCAPE = "\x1b[B", "\x1b[A", "\x1b"
#: The polecats' work: say ready, sleep until FLAG exists, then print a line every 20 ms until STOP
#: exists, then sleep (hooked and alive, quiet: the start-up runs).
BUSY = (
    "```sh\npython3 - <<'EOF'\nimport os, time\nprint('bench-' + 'ready', flush=True)\n"
    "while not os.path.exists({flag!r}):\n    time.sleep(0.2)\nfor i in range(10**7):\n"
    "    if os.path.exists({stop!r}):\n        break\n"
    "    print(f'line {{i}} ' + 'x' * 60, flush=True)\n    time.sleep(0.02)\n"
    "while True:\n    time.sleep(3600)\nEOF\n```\n"
)


@dataclass(frozen=True)
class ScreenProbe:
    """One screen of the key-to-screen rows: ``key`` (bytes written to the pty) opens it, ``mark`` is
    a text only that screen draws, ``close`` goes back to the main screen. ``setup``: keys written
    first, untimed, each followed by a short pause (e.g. moving the cursor to a polecat)."""

    name: str
    key: str
    mark: bytes
    close: str = "\x1b"
    setup: tuple[str, ...] = ()


#: The screens measured (add one entry per screen; the detail screens' come with them).
SCREENS = (
    ScreenProbe("help", "?", HELP_MARK),
    ScreenProbe("problems", "p", b"detail"),  # its table's last column
    ScreenProbe("mail", "m", b"Mail: mayor/"),
    ScreenProbe("grid", "g", b"Grid: live previews"),
)
#: The first frame with the town's agents: the rig's row counts every polecat (``k/N working``).
AGENTS_MARK = "/{n} working"


class _Reader(threading.Thread):
    """Drains the cockpit's pty; ``wait_for(mark, after)`` waits for ``mark`` in output read after
    byte offset ``after``."""

    def __init__(self, child: pexpect.spawn) -> None:
        super().__init__(daemon=True)
        self.child = child
        self.buf = bytearray()
        self.dropped = 0  # bytes dropped from the front of buf (offsets stay absolute)
        self.cond = threading.Condition()

    def run(self) -> None:
        while True:
            try:
                data = self.child.read_nonblocking(65536, timeout=1)
            except pexpect.TIMEOUT:
                continue
            except (pexpect.EOF, OSError):
                return
            with self.cond:
                self.buf += data
                if len(self.buf) > 8 << 20:
                    del self.buf[: 4 << 20]
                    self.dropped += 4 << 20
                self.cond.notify_all()

    def offset(self) -> int:
        with self.cond:
            return self.dropped + len(self.buf)

    def tail(self, after: int) -> bytes:
        """The output read after absolute offset ``after`` (what is still kept of it)."""
        with self.cond:
            return bytes(self.buf[max(0, after - self.dropped) :])

    def wait_for(self, mark: bytes, after: int, timeout: float = 5.0) -> float | None:
        """perf_counter time at which ``mark`` was seen after offset ``after``, or None on timeout."""
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                start = max(0, after - self.dropped - len(mark) + 1)
                if self.buf.find(mark, start) >= 0:
                    return time.perf_counter()
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.cond.wait(left)


@dataclass
class _Usage:
    """One window: cockpit CPU (% of a core), its main thread's run-queue wait (% of wall time),
    the machine's busy share (% of all cores) and the 1-minute load average."""

    cpu: float
    wait: float
    machine: float
    load: float


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_seconds(pid: int) -> float:
    """Seconds the main thread of ``pid`` spent runnable on a run queue (``/proc/PID/schedstat``)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def _machine_sample() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values), values[3] + values[4]  # total, idle + iowait


def _usage(pid: int, window: float) -> _Usage:
    c0, w0, m0, t0 = _cpu_seconds(pid), _wait_seconds(pid), _machine_sample(), time.perf_counter()
    time.sleep(window)
    c1, w1, m1, t1 = _cpu_seconds(pid), _wait_seconds(pid), _machine_sample(), time.perf_counter()
    busy = 100.0 * (1 - (m1[1] - m0[1]) / max(1, m1[0] - m0[0]))
    return _Usage(
        100.0 * (c1 - c0) / (t1 - t0),
        100.0 * (w1 - w0) / (t1 - t0),
        busy,
        float(Path("/proc/loadavg").read_text().split()[0]),
    )


class _Probe:
    """Key round trips on the cockpit in ``child``, read back through ``reader``."""

    def __init__(self, child: pexpect.spawn, reader: _Reader, cursor_style: bytes) -> None:
        self.child = child
        self.reader = reader
        self.rig_mark = cursor_style + b"mbench"
        self.mayor_mark = cursor_style + b"mMayor"
        self.rng = random.Random(9)

    def _press(self, key: str, mark: bytes) -> float | None:
        after = self.reader.offset()
        t0 = time.perf_counter()
        self.child.send(key)
        t1 = self.reader.wait_for(mark, after)
        return None if t1 is None else t1 - t0

    def _pause(self) -> None:
        time.sleep(self.rng.uniform(0.3, 0.6))  # not in step with the cockpit's 1 s snapshot cycle

    def screen(self, entry: ScreenProbe, rounds: int = ROUNDS) -> list[float]:
        """``entry.key`` until ``entry.mark`` is drawn; close it and wait for the main screen."""
        out = []
        for _ in range(rounds):
            for key in entry.setup:
                self.child.send(key)
                time.sleep(0.2)
            took = self._press(entry.key, entry.mark)
            if took is not None:
                out.append(took)
            self._press(entry.close, MAIN_MARK)
            self._pause()
        return out

    def help(self) -> list[float]:
        """``?`` until the help screen's title is drawn; escape and wait for the main screen."""
        return self.screen(SCREENS[0])

    def cursor(self) -> list[float]:
        """Down (Mayor -> rig row) and up again, each until the row is drawn under the cursor."""
        out = []
        for _ in range(ROUNDS):
            for key, mark in ((DOWN, self.rig_mark), (UP, self.mayor_mark)):
                took = self._press(key, mark)
                if took is not None:
                    out.append(took)
                self._pause()
        return out


#: A raw-mode echo program: the key round trip of a process that does nothing else (the floor).
ECHO = (
    "import os, tty\ntty.setraw(0)\nwhile True:\n    data = os.read(0, 64)\n    if not data or data == b'q':\n"
    "        break\n    os.write(1, b'echo:' + data)\n"
)


def _echo_floor(rounds: int) -> list[float]:
    """Key round trips of :data:`ECHO` in its own pty (same reader, same pauses as the probes)."""
    child = pexpect.spawn(sys.executable, ["-c", ECHO], dimensions=(24, 80))
    child.delaybeforesend = None
    reader = _Reader(child)
    reader.start()
    rng = random.Random(9)
    out = []
    try:
        for _ in range(rounds):
            after = reader.offset()
            t0 = time.perf_counter()
            child.send("x")
            t1 = reader.wait_for(b"echo:x", after)
            if t1 is not None:
                out.append(t1 - t0)
            time.sleep(rng.uniform(0.1, 0.3))
    finally:
        child.send("q")
        child.close(force=True)
    return out


def _cursor_style(reader: _Reader) -> bytes:
    """The SGR background of the tree cursor (the Mayor row has the cursor at start), as ``48;...``."""
    found = re.findall(rb"(48;[0-9;]+)mMayor", reader.tail(0))
    plain = re.findall(rb"(48;[0-9;]+)mbench", reader.tail(0))
    if not found or not plain or found[-1] == plain[-1]:
        raise RuntimeError("cannot tell the tree cursor's colour from the cockpit's first frames")
    return found[-1]


def _town(tmp: Path):
    town, _ = install_town(tmp / "town")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
        doc["scheduler"]["max_polecats"] = POLECATS + 2
        doc["scheduler"]["max_polecats_per_rig"] = POLECATS + 2
    town.reload()
    repo = tmp / "src"
    repo.mkdir()
    (repo / "README.md").write_text("# bench\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"],
    ):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
    add_rig(town, "bench", str(repo))
    return town


def _sling_polecats(town, host: SessionHost, flag: Path, stop: Path) -> None:
    """Sling POLECATS busy beads and wait until every polecat has printed that it is ready."""
    work = BUSY.format(flag=str(flag), stop=str(stop))
    with BeadStore(town) as store:
        beads = [store.create(f"busy {i}", actor="bench", prefix="be", description=work).id for i in range(POLECATS)]
    slinger = Slinger(town, host=host)
    try:
        sessions = [slinger.sling(bead, "bench").session for bead in beads]
    finally:
        slinger.store.disconnect()
    deadline = time.monotonic() + 60 + 4 * POLECATS
    while time.monotonic() < deadline:
        ready = sum(1 for s in sessions if host.log_path(s).exists() and READY_MARK in host.log_path(s).read_bytes())
        if ready == len(sessions):
            return
        time.sleep(1)
    raise RuntimeError(f"only {ready}/{len(sessions)} polecats started their work in time")


_Phase = tuple[_Usage, list[float], list[float], list[float]]


def _measure(pid: int, probe: _Probe, cursor: bool = True) -> _Phase:
    """Usage over a window, then the help probe, the cursor probe, and the echo floor."""
    usage = _usage(pid, WINDOW_S)
    return usage, probe.help(), probe.cursor() if cursor else [], _echo_floor(2 * ROUNDS)


def _spawn(program: str, args: list[str], env: dict[str, str], cwd: str) -> tuple[pexpect.spawn, _Reader]:
    """``program args`` in a fresh 160x50 pty whose output a :class:`_Reader` drains."""
    child = pexpect.spawn(program, args, dimensions=(50, 160), env=env, cwd=cwd)
    child.delaybeforesend = None  # pexpect sleeps 50 ms before each send by default
    reader = _Reader(child)
    reader.start()
    return child, reader


def _close(child: pexpect.spawn) -> None:
    """Quit a cockpit (``q``; the engine it runs stops first) and wait for it to exit."""
    if child.isalive():
        child.send("q")
        try:
            child.expect(pexpect.EOF, timeout=30)
        except pexpect.TIMEOUT:
            child.close(force=True)


def _wait_quiet(host: SessionHost, sessions: list[str], timeout: float = 30.0) -> None:
    """Wait until no polecat transcript grew for a second (the polecats got the stop flag)."""
    sizes: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = [host.log_path(s).stat().st_size if host.log_path(s).exists() else 0 for s in sessions]
        if now == sizes:
            return
        sizes = now
        time.sleep(1)


@dataclass
class _Startup:
    """Seconds to the first frame with the agents (one per start) and the CPU seconds the cockpit
    process had used by then (every thread), of ``python -c pass`` to its exit and of ``import
    gastown_tui.app``; key-to-screen seconds per screen; the echo floor."""

    cockpit: list[float]
    cpu: list[float]
    python: list[float]
    imports: list[float]
    screens: dict[str, list[float]]
    floor: list[float]


def _startup(town, env: dict[str, str], cwd: str) -> _Startup:
    """STARTS cockpit starts on the quiet town; the last one stays open for the SCREENS probes."""
    gastown_tui = str(Path(sys.executable).parent / "gastown-tui")
    mark = AGENTS_MARK.format(n=POLECATS).encode()
    # byte-compiled as an installed package is (pip compiles at install; an editable install under
    # PYTHONDONTWRITEBYTECODE would compile every module at every start)
    root = Path(__file__).resolve().parents[1]
    packages = [str(root / p) for p in ("core", "widgets", "gastown_tui", "themes")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *packages], check=True, capture_output=True)
    python, imports, cockpit, cpu = [], [], [], []
    for _ in range(STARTS):
        t0 = time.perf_counter()
        child, _reader = _spawn(sys.executable, ["-P", "-c", "pass"], env, cwd)
        child.expect(pexpect.EOF, timeout=30)
        python.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-P", "-c", "import gastown_tui.app"], env=env, cwd=cwd, check=True)
        imports.append(time.perf_counter() - t0)
    child = None
    try:
        for i in range(STARTS):
            t0 = time.perf_counter()
            child, reader = _spawn(gastown_tui, ["--town", str(town.root)], env, cwd)
            t1 = reader.wait_for(mark, 0, timeout=60)
            if t1 is None:
                raise RuntimeError(f"the cockpit did not draw {mark!r} within 60 s")
            cockpit.append(t1 - t0)
            cpu.append(_cpu_seconds(child.pid))
            if i < STARTS - 1:
                _close(child)
        assert child is not None
        time.sleep(3)  # the first snapshots settle
        probe = _Probe(child, reader, b"")
        screens = {entry.name: probe.screen(entry) for entry in SCREENS}
    finally:
        if child is not None:
            _close(child)
    return _Startup(cockpit, cpu, python, imports, screens, _echo_floor(2 * ROUNDS))


def run() -> list[dict]:
    phases: dict[str, _Phase] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        town = _town(tmp)
        host = SessionHost(town)
        env = {**os.environ, "GT_LEDGER_SYNC": "off", "TERM": "xterm-256color", "LC_ALL": "C.UTF-8"}
        env.pop("TMUX", None)
        os.environ["GT_LEDGER_SYNC"] = "off"
        flag, stop = tmp / "go", tmp / "stop"
        child = None
        try:
            if ONLY_STARTUP:
                mayor.ensure(town, host)
                _sling_polecats(town, host, flag, stop)
            else:
                gastown_tui = str(Path(sys.executable).parent / "gastown-tui")
                child, reader = _spawn(gastown_tui, ["--town", str(town.root)], env, tmp_name)
                if reader.wait_for(b"Mayor", 0, timeout=30) is None:
                    raise RuntimeError("the cockpit did not draw its agents tree")
                time.sleep(3)  # the Mayor starts, the first snapshots settle
                probe = _Probe(child, reader, _cursor_style(reader))
                phases["no polecats"] = _measure(child.pid, probe)
                _sling_polecats(town, host, flag, stop)
                time.sleep(3)
                phases[f"{POLECATS} idle polecats"] = _measure(child.pid, probe)
                flag.touch()
                time.sleep(3)
                phases[f"{POLECATS} busy polecats"] = _measure(child.pid, probe)
                for _ in range(4):  # Mayor -> rig -> witness -> refinery -> first polecat
                    child.send(DOWN)
                    time.sleep(0.2)
                time.sleep(2)
                phases[f"{POLECATS} busy, polecat streaming"] = _measure(child.pid, probe, cursor=False)
                _close(child)
            flag.touch()
            stop.touch()
            _wait_quiet(host, [s.name for s in host.list() if s.name != mayor.SESSION])
            startup = _startup(town, env, tmp_name)
        finally:
            if child is not None:
                _close(child)
            host.kill_server()
    return (_rows(phases) if phases else []) + _startup_rows(startup)


def _startup_rows(startup: _Startup) -> list[dict]:
    """Rows of the quiet start-up runs: start-up against ``python -c pass``, screens against the floor."""
    rows: list[dict] = []

    def row(case: str, seconds: float, baseline: float) -> None:
        rows.append(
            {
                "benchmark": "cockpit",
                "case": case,
                "value": round(seconds * 1000, 1),
                "unit": "ms",
                "baseline": round(baseline * 1000, 1),
            }
        )

    python = statistics.median(startup.python)
    row(
        f"{POLECATS} quiet polecats: start-up to the agents drawn, median of {len(startup.cockpit)} "
        "(baseline: python -c pass)",
        statistics.median(startup.cockpit),
        python,
    )
    row(f"{POLECATS} quiet polecats: start-up to the agents drawn, slowest", max(startup.cockpit), python)
    row(
        f"{POLECATS} quiet polecats: start-up CPU time of the cockpit by then, median (less load-sensitive)",
        statistics.median(startup.cpu),
        python,
    )
    row("import gastown_tui.app, median (baseline: python -c pass)", statistics.median(startup.imports), python)
    floor = _p95(startup.floor)
    for name, samples in startup.screens.items():
        if samples:
            row(
                f"{POLECATS} quiet polecats: key to screen, {name}, p95 ({len(samples)} samples; baseline: echo floor)",
                _p95(samples),
                floor,
            )
    return rows


def _rows(phases: dict[str, _Phase]) -> list[dict]:
    base_usage, base_help, base_cursor, base_echo = phases["no polecats"]
    rows: list[dict] = []

    def row(case: str, value: float, unit: str, baseline: float | None = None) -> None:
        rows.append(
            {
                "benchmark": "cockpit",
                "case": case,
                "value": round(value, 1),
                "unit": unit,
                **({"baseline": round(baseline, 1)} if baseline else {}),
            }
        )

    for phase, (usage, help_s, cursor_s, echo_s) in phases.items():
        first = phase == "no polecats"
        row(f"{phase}: machine CPU busy ({os.cpu_count()} cores), load avg {usage.load:.1f}", usage.machine, "%")
        row(f"{phase}: cockpit CPU", usage.cpu, "% of a core", None if first else base_usage.cpu)
        row(f"{phase}: cockpit main thread waiting for a CPU", usage.wait, "% of wall time")
        for probe, samples, base in (
            ("help", help_s, base_help),
            ("cursor", cursor_s, base_cursor),
            ("echo program (floor)", echo_s, base_echo),
        ):
            if not samples:
                continue
            row(
                f"{phase}: key to screen, {probe}, median",
                statistics.median(samples) * 1000,
                "ms",
                None if first or not base else statistics.median(base) * 1000,
            )
            row(
                f"{phase}: key to screen, {probe}, p95 ({len(samples)} samples)",
                _p95(samples) * 1000,
                "ms",
                None if first or not base else _p95(base) * 1000,
            )
    return rows


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


if __name__ == "__main__":
    for r in run():
        print(r)
