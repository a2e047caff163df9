"""Session host latencies on a real tmux server: start, first output, nudge round trip, capture, kill.

The start baseline is a bare ``tmux new-session -d`` of the same command on the same server (no
launcher, no transcript pipe), measured in the same run, so the ratio is the price of the launcher and
of ``pipe-pane``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from core.sessions import SessionHost
from core.town import install_town

ROUNDS = 15
AGENT = [sys.executable, "-u", "-c", "print('ready')\nwhile True:\n    print('got: ' + input('> '))\n"]


def _ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def run() -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        town, _ = install_town(Path(tmp) / "town")
        host = SessionHost(town, socket=f"gt-bench-{uuid.uuid4().hex[:8]}")
        start, bare, first, nudge, capture, kill = [], [], [], [], [], []
        try:
            host.start("keepalive", ["sleep", "600"], cwd=tmp)  # the server stays up between rounds
            for i in range(ROUNDS):
                name = f"bench-{i}"
                t0 = time.perf_counter()
                host.start(name, AGENT, cwd=tmp)
                start.append(time.perf_counter() - t0)
                host.wait_for_text(name, "> ", timeout=10)
                first.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                host.send_text(name, f"hello {i}")
                host.wait_for_text(name, f"got: hello {i}", timeout=10)
                nudge.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                host.capture(name, lines=100)
                capture.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                host.kill(name)
                kill.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                subprocess.run(
                    [host.tmux, "-L", host.socket, "new-session", "-d", "-s", f"bare-{i}", "--", *AGENT],
                    check=True,
                    capture_output=True,
                )
                bare.append(time.perf_counter() - t0)
                subprocess.run([host.tmux, "-L", host.socket, "kill-session", "-t", f"=bare-{i}"], capture_output=True)
        finally:
            host.kill_server()
    return [
        {
            "benchmark": "sessions",
            "case": "start() call",
            "value": _ms(start),
            "unit": "ms (median)",
            "baseline": _ms(bare),
        },
        {"benchmark": "sessions", "case": "start to prompt on screen", "value": _ms(first), "unit": "ms (median)"},
        {"benchmark": "sessions", "case": "send_text + echo seen", "value": _ms(nudge), "unit": "ms (median)"},
        {"benchmark": "sessions", "case": "capture 100 lines", "value": _ms(capture), "unit": "ms (median)"},
        {"benchmark": "sessions", "case": "kill, verified gone", "value": _ms(kill), "unit": "ms (median)"},
    ]
