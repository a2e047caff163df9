"""The cockpit under load: 30 busy ``sim`` polecats, each printing about 50 lines a second.

The cockpit runs as its own process (``gastown-tui --town T``, engine in-process) in a 160x50
pseudo-terminal whose output is drained by a reader thread, like a real terminal would. Measured:

- the cockpit process's CPU share (utime + stime from ``/proc/PID/stat`` over a window, in % of one
  core), first with the Mayor's shell shown, then with a busy polecat's terminal streaming;
- key press to screen update: the time from writing ``?`` to the pty until the help screen's title
  arrives in the output (a full-screen redraw), median and p95 over the rounds; escape closes it.

Goals (issue 9): under one core, p95 under 100 ms. The machine's own load (all cores, every process:
the 30 agents, tmux, the transcript writers) is printed too: on a small machine the agents starve the
cockpit of CPU time, which shows up as latency although the cockpit itself uses little. The polecats' work is a Python loop (``print``,
``sleep 0.02``), so the load is the cockpit's, not fork storms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pexpect

from core.beads.store import BeadStore
from core.config import edit_toml
from core.rigs import add_rig
from core.sessions import SessionHost
from core.sling import Slinger
from core.town import install_town

POLECATS = 30
WINDOW_S = 10.0
ROUNDS = 20
HELP_MARK = b"cockpit: keys"
BUSY = ("```sh\npython3 - <<'EOF'\nimport time\nfor i in range(10**7):\n"
        "    print(f'line {i} ' + 'x' * 60, flush=True)\n    time.sleep(0.02)\nEOF\n```\n")


class _Reader(threading.Thread):
    """Drains the cockpit's pty; ``wait_for(mark, after)`` waits for ``mark`` in output read after
    byte offset ``after``."""

    def __init__(self, child: pexpect.spawn) -> None:
        super().__init__(daemon=True)
        self.child = child
        self.buf = bytearray()
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
                self.cond.notify_all()

    def offset(self) -> int:
        with self.cond:
            return len(self.buf)

    def wait_for(self, mark: bytes, after: int, timeout: float = 5.0) -> float | None:
        deadline = time.perf_counter() + timeout
        with self.cond:
            while True:
                start = max(0, min(after, len(self.buf)) - len(mark))
                if self.buf.find(mark, start) >= 0:
                    return time.perf_counter()
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.cond.wait(left)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_share(pid: int, window: float) -> float:
    c0, t0 = _cpu_seconds(pid), time.perf_counter()
    time.sleep(window)
    return 100.0 * (_cpu_seconds(pid) - c0) / (time.perf_counter() - t0)


def _machine_busy(window: float) -> float:
    """Share of all cores busy (``/proc/stat``) over ``window`` seconds, in %."""
    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(window)
    total1, idle1 = sample()
    return 100.0 * (1 - (idle1 - idle0) / max(1, total1 - total0))


def _latencies(child: pexpect.spawn, reader: _Reader) -> list[float]:
    out = []
    for _ in range(ROUNDS):
        after = reader.offset()
        t0 = time.perf_counter()
        child.send("?")
        t1 = reader.wait_for(HELP_MARK, after)
        if t1 is not None:
            out.append(t1 - t0)
        child.send("\x1b")
        time.sleep(0.4)
    return out


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        town, _ = install_town(Path(tmp) / "town")
        with edit_toml(town.config_path) as doc:
            doc["default_agent"] = "sim"
            doc["scheduler"]["max_polecats"] = POLECATS + 2
            doc["scheduler"]["max_polecats_per_rig"] = POLECATS + 2
        town.reload()
        repo = Path(tmp) / "src"
        repo.mkdir()
        (repo / "README.md").write_text("# bench\n")
        for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                     ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"]):
            subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)
        add_rig(town, "bench", str(repo))
        host = SessionHost(town)
        env = {**os.environ, "GT_LEDGER_SYNC": "off", "TERM": "xterm-256color", "LC_ALL": "C.UTF-8"}
        env.pop("TMUX", None)
        os.environ["GT_LEDGER_SYNC"] = "off"
        child = None
        try:
            with BeadStore(town) as store:
                beads = [store.create(f"busy {i}", actor="bench", prefix="be", description=BUSY).id
                         for i in range(POLECATS)]
            slinger = Slinger(town, host=host)
            for bead in beads:
                slinger.sling(bead, "bench")
            slinger.store.disconnect()
            gastown_tui = str(Path(sys.executable).parent / "gastown-tui")
            child = pexpect.spawn(gastown_tui, ["--town", str(town.root)], dimensions=(50, 160), env=env,
                                  cwd=tmp)
            reader = _Reader(child)
            reader.start()
            if reader.wait_for(b"Mayor", 0, timeout=30) is None:
                raise RuntimeError("the cockpit did not draw its agents tree")
            time.sleep(3)  # the Mayor starts, the first snapshots settle
            idle_cpu = _cpu_share(child.pid, WINDOW_S)
            lat_idle = _latencies(child, reader)
            for _ in range(4):  # Mayor -> rig -> witness -> refinery -> first polecat
                child.send("\x1b[B")
                time.sleep(0.2)
            time.sleep(2)
            busy_cpu = _cpu_share(child.pid, WINDOW_S)
            machine = _machine_busy(3.0)
            lat = _latencies(child, reader)
        finally:
            if child is not None:
                child.send("q")
                child.expect(pexpect.EOF, timeout=20)
            host.kill_server()
    rows = [
        {"benchmark": "cockpit", "case": f"CPU, {POLECATS} busy polecats, Mayor shown", "value": round(idle_cpu, 1),
         "unit": "% of a core"},
        {"benchmark": "cockpit", "case": f"CPU, {POLECATS} busy polecats, polecat streaming", "value": round(busy_cpu, 1),
         "unit": "% of a core"},
    ]
    rows.append({"benchmark": "cockpit", "case": f"machine CPU busy ({os.cpu_count()} cores, all processes)",
                 "value": round(machine, 1), "unit": "%"})
    for shown, samples in (("Mayor shown", lat_idle), ("polecat streaming", lat)):
        if not samples:
            continue
        ordered = sorted(samples)
        rows += [
            {"benchmark": "cockpit", "case": f"key to screen update, median, {shown}",
             "value": round(statistics.median(samples) * 1000, 1), "unit": "ms"},
            {"benchmark": "cockpit", "case": f"key to screen update, p95, {shown} ({len(samples)}/{ROUNDS} rounds)",
             "value": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1), "unit": "ms"},
        ]
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
