"""Terminal widget: emulator feed throughput against stock pyte, and the cost of one redraw.

Feed: the same bytes go through ``widgets.emulator.Emulator`` (patched pyte with the ASCII fast path)
and through stock ``pyte.ByteStream`` + ``pyte.Screen`` (the baseline), both 160x50; best of 3 runs.
Two inputs: agent-like log output (coloured lines scrolling) and a tmux-client-like redraw (cursor
positioning, SGR changes, erase to end of line for every line of the screen).

Redraw: a ``TerminalView`` at 160x50 in a headless app, its screen filled with coloured text; the
time to build every line's ``Strip`` from the emulator grid (a full frame, what a resize or a tmux
full redraw costs) and to build one changed line (the usual frame), median of many runs.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pyte

from widgets.emulator import Emulator

COLUMNS, LINES = 160, 50


def _log_output(size: int) -> bytes:
    """Lines like an agent prints: a coloured tag, plain text, sometimes bold."""
    parts, total, n = [], 0, 0
    while total < size:
        n += 1
        colour = 31 + n % 7
        line = (
            f"\x1b[{colour}m[{n:06d}]\x1b[0m running step {n % 17}: editing src/module_{n % 23}.py "
            f"\x1b[1mok\x1b[0m {'.' * (n % 40)}\r\n"
        ).encode()
        parts.append(line)
        total += len(line)
    return b"".join(parts)


def _tmux_redraw(size: int) -> bytes:
    """Whole-screen repaints like a tmux client sends: CUP, SGR, text, EL on every line."""
    parts, total, frame = [], 0, 0
    while total < size:
        frame += 1
        for y in range(1, LINES + 1):
            line = (
                f"\x1b[{y};1H\x1b[38;5;{(y + frame) % 256}m{'frame %d line %d ' % (frame, y)}"
                f"\x1b[0m{'x' * ((y * 7 + frame) % 100)}\x1b[K"
            ).encode()
            parts.append(line)
            total += len(line)
        parts.append(b"\x1b[1;1H")
    return b"".join(parts)


def _best_rate(feed, data: bytes, chunk: int = 4096, runs: int = 3) -> float:
    """Best MB/s (10^6 bytes) of ``runs`` passes feeding ``data`` in ``chunk``-byte reads."""
    best = 0.0
    for _ in range(runs):
        sink = feed()
        started = time.perf_counter()
        for i in range(0, len(data), chunk):
            sink(data[i : i + chunk])
        elapsed = time.perf_counter() - started
        best = max(best, len(data) / elapsed / 1e6)
    return best


def _ours():
    return Emulator(COLUMNS, LINES).feed


def _stock():
    return pyte.ByteStream(pyte.Screen(COLUMNS, LINES)).feed


def _feed_rows() -> list[dict]:
    rows = []
    for case, data in (
        ("agent log output, 1 MB", _log_output(1_000_000)),
        ("tmux client redraws, 1 MB", _tmux_redraw(1_000_000)),
    ):
        rows.append(
            {
                "benchmark": "emulator feed (160x50)",
                "case": case,
                "value": _best_rate(_ours, data),
                "unit": "MB/s",
                "baseline": _best_rate(_stock, data),
            }
        )
    return rows


async def _redraw_rows() -> list[dict]:
    from textual.app import App, ComposeResult

    from widgets.terminal import TerminalView

    class BenchApp(App):
        def compose(self) -> ComposeResult:
            yield TerminalView(["true"], autostart=False)

    app = BenchApp()
    async with app.run_test(size=(COLUMNS, LINES)) as pilot:
        term = app.query_one(TerminalView)
        term.emulator.resize(LINES, COLUMNS)
        term.emulator.feed(_tmux_redraw(60_000))
        await pilot.pause()
        full, one = [], []
        for _ in range(50):
            term._strips.clear()
            started = time.perf_counter()
            for y in range(LINES):
                term.render_line(y)
            full.append(time.perf_counter() - started)
        for i in range(500):
            y = i % LINES
            term._strips.discard(y)
            started = time.perf_counter()
            term.render_line(y)
            one.append(time.perf_counter() - started)
    return [
        {
            "benchmark": "terminal redraw (160x50)",
            "case": "full frame, all 50 lines",
            "value": statistics.median(full) * 1000,
            "unit": "ms/frame",
        },
        {
            "benchmark": "terminal redraw (160x50)",
            "case": "one dirty line",
            "value": statistics.median(one) * 1000,
            "unit": "ms/frame",
        },
    ]


def run() -> list[dict]:
    """Rows for ``make bench`` (see ``bench/__main__.py``)."""
    return _feed_rows() + asyncio.run(_redraw_rows())
