"""The terminal widget and its emulator: real pseudo-terminals, real child processes, real tmux.

Each test drives a small Textual app with ``App.run_test()`` and ``Pilot``; children are short Python
scripts (run with this interpreter), ``cat``, ``stty`` or a tmux client on a private socket that the
test kills in teardown.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.color import Color
from textual.app import App, ComposeResult

from widgets.emulator import Emulator
from widgets.terminal import TerminalView, encode_key, pyte_color

PY = sys.executable


def run_async(test):
    """Run an ``async def`` test on a fresh asyncio loop (the suite has no asyncio pytest plugin)."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))

    return wrapper


class TermApp(App):
    """One TerminalView filling the screen; records the messages it posts."""

    def __init__(self, argv: list[str], **kwargs) -> None:
        super().__init__()
        self.argv = argv
        self.kwargs = kwargs
        self.exited: list[int] = []
        self.detached = 0

    def compose(self) -> ComposeResult:
        yield TerminalView(self.argv, **self.kwargs)

    def on_terminal_view_exited(self, message: TerminalView.Exited) -> None:
        self.exited.append(message.returncode)

    def on_terminal_view_detached(self, message: TerminalView.Detached) -> None:
        self.detached += 1


async def wait_for(pilot, predicate, timeout: float = 10.0, what: str = "condition") -> None:
    """Let the app run until ``predicate()`` is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def screen_has(term: TerminalView, text: str) -> bool:
    return any(text in line for line in term.screen_text())


def script(tmp_path: Path, body: str) -> list[str]:
    """argv running ``body`` (Python) with this interpreter."""
    path = tmp_path / f"child_{uuid.uuid4().hex[:6]}.py"
    path.write_text(textwrap.dedent(body))
    return [PY, str(path)]


# A child that switches the pty to raw mode, says READY, then prints repr() of every read.
RAW_ECHO = """
    import os, sys, tty
    tty.setraw(0)
    os.write(1, b"READY\\r\\n")
    while True:
        data = os.read(0, 1024)
        if not data:
            break
        os.write(1, repr(data).encode() + b"\\r\\n")
        if data == b"q":
            break
"""


@run_async
async def test_coloured_output_shows_with_its_colours(tmp_path):
    argv = script(tmp_path, r"""
        import sys, time
        sys.stdout.write("plain \x1b[31mred\x1b[0m \x1b[1;33mboldbrown\x1b[0m \x1b[38;2;10;20;30mrgb\x1b[0m"
                         " \x1b[7mrev\x1b[0m \x1b[4;3munder\x1b[0m\n")
        sys.stdout.flush()
        time.sleep(30)
    """)
    app = TermApp(argv)
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_for(pilot, lambda: screen_has(term, "under"), what="coloured line")
        await pilot.pause(0.1)
        assert term.screen_text()[0].startswith("plain red boldbrown rgb rev under")
        strip = term.render_line(0)
        styles = {seg.text.strip(): seg.style for seg in strip if seg.text.strip()}
        assert styles["red"].color == Color.from_ansi(1)
        assert styles["boldbrown"].color == Color.from_ansi(3) and styles["boldbrown"].bold
        assert styles["rgb"].color.triplet == (10, 20, 30)
        assert styles["rev"].reverse
        assert styles["under"].underline and styles["under"].italic
        # the default colour comes from the widget's style, not from the cell
        assert styles["plain"].color == term.visual_style.rich_style.color
        term.stop()


@run_async
async def test_keys_reach_the_child(tmp_path):
    app = TermApp(script(tmp_path, RAW_ECHO))
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_for(pilot, lambda: screen_has(term, "READY"), what="READY")
        term.focus()
        await pilot.pause()
        await pilot.press("h", "ctrl+a", "up", "f5", "alt+x", "tab", "backspace", "enter", "escape",
                          "shift+up", "pageup")
        expected = ["b'h'", "b'\\x01'", "b'\\x1b[A'", "b'\\x1b[15~'", "b'\\x1bx'", "b'\\t'", "b'\\x7f'",
                    "b'\\r'", "b'\\x1b'", "b'\\x1b[1;2A'", "b'\\x1b[5~'"]
        await wait_for(pilot, lambda: screen_has(term, expected[-1]), what="all keys echoed")
        shown = [line.strip() for line in term.screen_text() if line.startswith("b'")]
        assert shown == expected
        term.stop()
