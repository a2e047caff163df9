"""The terminal widget and its emulator: real pseudo-terminals, real child processes, real tmux.

Each test drives a small Textual app with ``App.run_test()`` and ``Pilot``; children are short Python
scripts (run with this interpreter), ``cat``, ``stty`` or a tmux client on a private socket that the
test kills in teardown.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pyte
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.color import Color
from textual.app import App, ComposeResult

from widgets.emulator import Emulator
from tests.conftest import run_async, wait_until
from widgets.terminal import MAX_FPS, MIN_FPS, TerminalView, encode_key, pyte_color

PY = sys.executable


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
    argv = script(
        tmp_path,
        r"""
        import sys, time
        sys.stdout.write("plain \x1b[31mred\x1b[0m \x1b[1;33mboldbrown\x1b[0m \x1b[38;2;10;20;30mrgb\x1b[0m"
                         " \x1b[7mrev\x1b[0m \x1b[4;3munder\x1b[0m\n")
        sys.stdout.flush()
        time.sleep(30)
    """,
    )
    app = TermApp(argv)
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "under"), what="coloured line")
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
        await wait_until(pilot, lambda: screen_has(term, "READY"), what="READY")
        term.attach()  # focusing alone no longer attaches (issue 21)
        await pilot.pause()
        await pilot.press(
            "h", "ctrl+a", "up", "f5", "alt+x", "tab", "backspace", "enter", "escape", "shift+up", "pageup"
        )
        expected = [
            "b'h'",
            "b'\\x01'",
            "b'\\x1b[A'",
            "b'\\x1b[15~'",
            "b'\\x1bx'",
            "b'\\t'",
            "b'\\x7f'",
            "b'\\r'",
            "b'\\x1b'",
            "b'\\x1b[1;2A'",
            "b'\\x1b[5~'",
        ]
        await wait_until(pilot, lambda: screen_has(term, expected[-1]), what="all keys echoed")
        shown = [line.strip() for line in term.screen_text() if line.startswith("b'")]
        assert shown == expected
        term.stop()


@run_async
async def test_arrows_follow_application_cursor_mode(tmp_path):
    app = TermApp(script(tmp_path, RAW_ECHO.replace('os.write(1, b"READY', 'os.write(1, b"\\x1b[?1hREADY')))
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "READY"), what="READY")
        assert term.emulator.application_cursor_keys
        term.attach()  # focusing alone no longer attaches (issue 21)
        await pilot.press("up", "left", "home")
        await wait_until(pilot, lambda: screen_has(term, "b'\\x1bOH'"), what="home in SS3 form")
        shown = [line.strip() for line in term.screen_text() if line.startswith("b'")]
        assert shown == ["b'\\x1bOA'", "b'\\x1bOD'", "b'\\x1bOH'"]
        term.stop()


@run_async
async def test_priority_bindings_do_not_steal_keys_while_attached(tmp_path):
    app = TermApp(script(tmp_path, RAW_ECHO))
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "READY"), what="READY")
        term.attach()  # focusing alone no longer attaches (issue 21)
        await pilot.pause()
        await pilot.press("ctrl+q", "ctrl+p", "ctrl+c", "tab")
        await wait_until(pilot, lambda: screen_has(term, "b'\\t'"), what="tab echoed")
        shown = [line.strip() for line in term.screen_text() if line.startswith("b'")]
        assert shown == ["b'\\x11'", "b'\\x10'", "b'\\x03'", "b'\\t'"]
        assert app.is_running and app.focused is term
        assert not any(type(s).__name__ == "CommandPalette" for s in app.screen_stack)
        term.stop()


@run_async
async def test_detach_chord_leaves_and_app_bindings_work_again(tmp_path):
    app = TermApp(script(tmp_path, RAW_ECHO))
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "READY"), what="READY")
        term.attach()  # focusing alone no longer attaches (issue 21)
        await pilot.press("a", "ctrl+right_square_bracket")
        await wait_until(pilot, lambda: app.detached == 1, what="Detached message")
        assert app.focused is None
        await pilot.press("b")  # not attached any more: this key must not reach the child
        await wait_until(pilot, lambda: screen_has(term, "b'a'"), what="a echoed")
        await pilot.pause(0.2)
        assert not screen_has(term, "b'b'") and not screen_has(term, "b'\\x1d'")
        term.stop()
        await pilot.press("ctrl+q")  # the app's quit binding is back
        await pilot.pause()
    assert not app.is_running


@run_async
async def test_resize_changes_the_childs_tty_size(tmp_path):
    argv = script(
        tmp_path,
        r"""
        import os, signal, sys, time
        def show(*_):
            rows, cols = os.get_terminal_size(0).lines, os.get_terminal_size(0).columns
            sys.stdout.write(f"\x1b[2J\x1b[Hsize {rows}x{cols}\n"); sys.stdout.flush()
        signal.signal(signal.SIGWINCH, show)
        show()
        while True:
            time.sleep(1)
    """,
    )
    app = TermApp(argv)
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "size 24x80"), what="initial size")
        await pilot.resize_terminal(100, 30)
        await wait_until(pilot, lambda: screen_has(term, "size 30x100"), what="resized")
        assert term.emulator.size == (30, 100)
        assert len(term.screen_text()) == 30 and len(term.screen_text()[0]) == 100
        term.stop()


@run_async
async def test_stty_size_after_resize(tmp_path):
    app = TermApp(["bash", "--norc", "--noprofile"], env={"PATH": "/usr/bin:/bin", "PS1": "$ "})
    async with app.run_test(size=(90, 20)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "$"), what="bash prompt")
        await pilot.resize_terminal(70, 15)
        await pilot.pause(0.1)
        term.send_text("stty size\r")
        await wait_until(pilot, lambda: screen_has(term, "15 70"), what="stty size 15 70")
        term.stop()


@run_async
async def test_modkeys_sequence_and_alternate_screen_keep_the_main_screen(tmp_path):
    argv = script(
        tmp_path,
        r"""
        import sys, time
        w = sys.stdout.write
        w("main line one\r\nmain line two\r\n")
        w("\x1b[>4;2m\x1b[?4m\x1b[?1;2r")                   # XTMODKEYS, private SGR, private margins
        w("\x1b[?1049h\x1b[2J\x1b[Hfull screen app\x1b[5;5Hx")   # enter the alternate screen
        w("\x1b[?1049l")                                      # and leave it
        w("after\r\n"); sys.stdout.flush()
        time.sleep(30)
    """,
    )
    app = TermApp(argv)
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "after"), what="after")
        await pilot.pause(0.1)
        lines = [line.rstrip() for line in term.screen_text()]
        assert lines[:3] == ["main line one", "main line two", "after"]
        assert not screen_has(term, "full screen app")
        after = term.render_line(2)
        assert not any(seg.style and seg.style.underline for seg in after if seg.text.strip())
        term.stop()


@run_async
async def test_cursor_position_query_is_answered(tmp_path):
    argv = script(
        tmp_path,
        r"""
        import os, sys, tty
        tty.setraw(0)
        os.write(1, b"\x1b[5;10Habc\x1b[6n")
        reply = b""
        while not reply.endswith(b"R"):
            reply += os.read(0, 32)
        os.write(1, b"\x1b[1;1Hreply " + repr(reply).encode())
        os.read(0, 1)
    """,
    )
    app = TermApp(argv)
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "reply"), what="reply")
        assert term.screen_text()[0].rstrip() == "reply b'\\x1b[5;13R'"
        term.stop()


@run_async
async def test_exit_posts_exited_with_the_return_code(tmp_path):
    app = TermApp(script(tmp_path, "import sys; print('bye'); sys.exit(3)\n"))
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: app.exited == [3], what="Exited(3)")
        assert screen_has(term, "bye") and not term.running


@run_async
async def test_leaving_the_app_ends_the_child():
    app = TermApp(["sleep", "100"])
    async with app.run_test(size=(40, 10)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: term.running, what="child started")
        pid = term._child.pid
    assert not Path(f"/proc/{pid}").exists()  # closed on unmount and reaped


@run_async
async def test_a_command_that_cannot_run_is_reported_not_raised(tmp_path):
    app = TermApp([str(tmp_path / "no-such-program")])
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: app.exited == [127], what="Exited(127)")
        await wait_until(pilot, lambda: screen_has(term, "cannot run"), what="error shown")
        assert app.is_running and not term.running


@run_async
async def test_paste_is_bracketed_when_the_child_asks(tmp_path):
    app = TermApp(script(tmp_path, RAW_ECHO.replace('os.write(1, b"READY', 'os.write(1, b"\\x1b[?2004hREADY')))
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "READY"), what="READY")
        term.attach()  # focusing alone no longer attaches (issue 21)
        from textual import events

        term.post_message(events.Paste("one\ntwo"))
        await wait_until(pilot, lambda: screen_has(term, "201~"), what="pasted text")
        echoed = "".join(line.strip() for line in term.screen_text() if line.startswith("b'"))
        assert echoed == "b'\\x1b[200~one\\rtwo\\x1b[201~'"
        term.stop()


def stream_script(tmp_path: Path, pause: float) -> list[str]:
    """argv of a child printing ``line N`` lines for 30 s, ``pause`` seconds apart."""
    return script(
        tmp_path,
        rf"""
        import sys, time
        n = 0
        end = time.time() + 30
        while time.time() < end:
            n += 1
            sys.stdout.write(f"line {{n}}\n"); sys.stdout.flush()
            time.sleep({pause})
    """,
    )


@run_async
async def test_redraws_are_batched_and_hidden_terminals_stop_reading(tmp_path):
    app = TermApp(stream_script(tmp_path, 0.001))
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: term.frames > 0, what="first frame")
        start_frames, started = term.frames, time.monotonic()
        await pilot.pause(0.6)
        rate = (term.frames - start_frames) / (time.monotonic() - started)
        assert rate <= 31, f"{rate:.1f} redraws per second"
        term.display = False
        await pilot.pause(0.2)
        assert not term._reading
        frozen = term.screen_text()
        await pilot.pause(0.3)
        assert term.screen_text() == frozen  # nothing is emulated while hidden
        term.display = True
        await wait_until(pilot, lambda: term.screen_text() != frozen, what="output after show")
        assert term._reading
        term.stop()


@run_async
async def test_a_stream_is_drawn_less_often_while_redraws_come_late(tmp_path):
    app = TermApp(stream_script(tmp_path, 0.002))
    async with app.run_test(size=(80, 24)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: term.frames > 0, what="first frame")
        busy = app.set_interval(0.02, lambda: time.sleep(0.15))  # the event loop keeps falling behind
        await wait_until(pilot, lambda: term.frame_interval == pytest.approx(1 / MIN_FPS), what="backing off")
        busy.stop()
        await wait_until(pilot, lambda: term.frame_interval < 0.5 / MIN_FPS + 0.5 / MAX_FPS, what="catching up")
        term.stop()


@run_async
async def test_only_dirty_lines_are_rebuilt_and_the_cursor_shows_when_focused(tmp_path):
    argv = script(
        tmp_path,
        r"""
        import sys, time
        sys.stdout.write("\x1b[2J\x1b[Hstatic header\r\n" + "filler\r\n" * 10); sys.stdout.flush()
        for n in range(600):
            sys.stdout.write(f"\x1b[5;1Hcounter {n}"); sys.stdout.flush()
            time.sleep(0.05)
    """,
    )
    app = TermApp(argv)
    async with app.run_test(size=(60, 20)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "counter 3"), what="counter running")
        rebuilt: list[int] = []
        render_row = term._render_row
        term._render_row = lambda y, base: rebuilt.append(y) or render_row(y, base)
        await wait_until(pilot, lambda: screen_has(term, "counter 9"), what="more counts")
        assert rebuilt and set(rebuilt) == {4}
        cursor_cells = lambda: [seg.text for seg in term.render_line(4) if seg.style and seg.style.reverse]  # noqa: E731
        term.blur()  # the app focused it on start (Textual's AUTO_FOCUS)
        await pilot.pause()
        assert cursor_cells() == []
        term.attach()  # focusing alone no longer attaches (issue 21)
        await pilot.pause()
        assert cursor_cells() == [" "]  # the block cursor after "counter N"
        term.stop()


@pytest.fixture
def tmux_socket():
    """A private tmux socket name; the server on it is killed in teardown."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    name = f"gt-test-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True)


@run_async
async def test_attach_to_a_real_tmux_session(tmux_socket):
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PS1": "tmux$ ", "LC_ALL": "C.UTF-8"}
    subprocess.run(
        [
            "tmux",
            "-L",
            tmux_socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "x",
            "-x",
            "80",
            "-y",
            "24",
            "--",
            "bash",
            "--norc",
            "--noprofile",
        ],
        check=True,
        env={**env, "TERM": "xterm-256color"},
    )
    app = TermApp(["tmux", "-L", tmux_socket, "attach", "-t", "=x"], env=env)
    async with app.run_test(size=(100, 30)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "tmux$"), what="bash prompt through tmux")
        status = term.render_line(29)  # tmux's status line: black on green by default
        assert "[x]" in term.screen_text()[29]
        assert list(status)[0].style.bgcolor == Color.from_ansi(2)
        term.attach()  # focusing alone no longer attaches (issue 21)
        await pilot.press(*"echo hi", "enter")
        await wait_until(pilot, lambda: any(line.rstrip() == "hi" for line in term.screen_text()), what="hi printed")
        await pilot.press(*"echo 'né 日本'", "enter")
        await wait_until(
            pilot, lambda: any(line.rstrip() == "né 日本" for line in term.screen_text()), what="UTF-8 through tmux"
        )
        await pilot.press("ctrl+right_square_bracket")
        await wait_until(pilot, lambda: app.detached == 1, what="detached")
        term.stop()  # closing the pty detaches the client; the session lives on
    alive = subprocess.run(["tmux", "-L", tmux_socket, "has-session", "-t", "=x"], capture_output=True)
    assert alive.returncode == 0


# ---- the emulator alone ------------------------------------------------------------------------------


def test_utf8_split_across_reads_and_wide_characters():
    emulator = Emulator(20, 3)
    data = "héllo 日本\r\n".encode()
    for i in range(len(data)):
        emulator.feed(data[i : i + 1])
    assert emulator.display()[0].startswith("héllo 日本")


def test_private_sgr_margins_and_modkeys_do_not_crash_or_underline():
    replies: list[str] = []
    emulator = Emulator(30, 5, replies.append)
    emulator.feed(b"\x1b[>4;2m\x1b[?4m\x1b[?1;2r\x1b[>1u\x1b[<u\x1b[=1;1u\x1b[2 q\x1b[?2026$pok\x1b[6n")
    assert emulator.display()[0].rstrip() == "ok"
    assert not emulator.screen.buffer[0][0].underscore
    assert replies == ["\x1b[1;3R"]


def test_alternate_screen_modes_restore_main_content_and_cursor():
    for mode in (1049, 1047, 47):
        emulator = Emulator(20, 4)
        emulator.feed(b"shell\r\nprompt$ ")
        emulator.feed(f"\x1b[?{mode}h\x1b[Hvim".encode())
        assert emulator.screen.in_alternate_screen and emulator.display()[0].startswith("vim")
        emulator.feed(f"\x1b[?{mode}l".encode())
        assert [line.rstrip() for line in emulator.display()[:2]] == ["shell", "prompt$"]
        if mode == 1049:
            assert (emulator.screen.cursor.y, emulator.screen.cursor.x) == (1, 8)


def test_scroll_repeat_dec_graphics_osc_and_dcs():
    emulator = Emulator(10, 3)
    emulator.feed(b"a\r\nb\r\nc\x1b[1S")
    assert [line.rstrip() for line in emulator.display()] == ["b", "c", ""]
    emulator.feed(b"\x1b[1T")
    assert [line.rstrip() for line in emulator.display()] == ["", "b", "c"]
    emulator.feed(b"\x1b[H\x1b(0lqk\x1b(B\x1bP+q544e\x1b\\x\x1b[3b\x1b]133;A\x07\x1b]2;my title\x1b\\")
    assert emulator.display()[0] == "┌─┐xxxx   "
    assert emulator.title == "my title"


def test_colour_names_map_to_rich_colours():
    assert pyte_color("default") is None
    assert pyte_color("brown") == Color.from_ansi(3)
    assert pyte_color("brightbrown") == Color.from_ansi(11)
    assert pyte_color("ff8000").triplet == (255, 128, 0)
    assert pyte_color("nonsense") is None


def test_key_encoding_table():
    assert encode_key("up", None) == b"\x1b[A"
    assert encode_key("up", None, application_cursor=True) == b"\x1bOA"
    assert encode_key("ctrl+left", None, application_cursor=True) == b"\x1b[1;5D"
    assert encode_key("end", None) == b"\x1b[F"
    assert encode_key("f1", None) == b"\x1bOP" and encode_key("f12", None) == b"\x1b[24~"
    assert encode_key("shift+f3", None) == b"\x1b[1;2R"
    assert encode_key("ctrl+pagedown", None) == b"\x1b[6;5~"
    assert encode_key("ctrl+c", None) == b"\x03" and encode_key("ctrl+backslash", None) == b"\x1c"
    assert encode_key("alt+ctrl+a", None) == b"\x1b\x01"
    assert encode_key("alt+up", None) == b"\x1b[1;3A"
    assert encode_key("A", "A") == b"A" and encode_key("eacute", "é") == "é".encode()
    assert encode_key("shift+tab", None) == b"\x1b[Z"
    assert encode_key("alt+shift+a", None) == b"\x1bA" and encode_key("shift+a", None) == b"A"
    assert encode_key("ctrl+shift+a", None) == b"\x01" and encode_key("ctrl+h", None) == b"\x08"
    assert encode_key("ctrl+f99", None) is None


def test_stock_pyte_needs_these_patches():
    """Why the emulator subclasses pyte: if a pyte upgrade fixes these, the patches can go."""
    screen = pyte.Screen(20, 3)
    stream = pyte.Stream(screen)
    stream.feed("\x1b[>4;2mx")
    assert screen.buffer[0][0].underscore  # XTMODKEYS misread as SGR 4 (underline on)
    with pytest.raises(TypeError):
        stream.feed("\x1b[?4m")  # private SGR
    with pytest.raises(TypeError):
        stream.feed("\x1b[?1;2r")  # private margins
    stream.feed("\x1b[?1049h\x1b[Halt")
    assert screen.display[0].startswith("alt")  # no alternate screen: the main one is overwritten


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [
                    b"\x1b[",
                    b"\x1b]",
                    b"\x1bP",
                    b"\x1b[?",
                    b"\x1b[>",
                    b";",
                    b":",
                    b"1049h",
                    b"m",
                    b"r",
                    b"\x1b(0",
                    b"\x1b\\",
                    b"\x07",
                    b"6n",
                    b"38:2::1:2:3m",
                    b"\x1b[999;999H",
                    b"\x1b[0S",
                    b"b",
                    b"\xe6\x97",
                ]
            ),
        ),
        max_size=30,
    )
)
def test_emulator_never_raises_on_any_bytes(chunks):
    replies: list[str] = []
    emulator = Emulator(12, 4, replies.append)
    for chunk in chunks:
        emulator.feed(chunk)
    lines = emulator.display()
    assert len(lines) == 4
    cursor = emulator.screen.cursor
    assert 0 <= cursor.y < 4 and 0 <= cursor.x <= 12


_PIECES = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
    st.sampled_from(["\r", "\n", "\b", "\t", "\x1b[?7l", "\x1b[?7h", "\x1b[4h", "\x1b[4l", "\x1b[0m"]),
    st.builds(lambda a, b: f"\x1b[{a};{b}H", st.integers(0, 9), st.integers(0, 14)),
    st.builds(lambda n: f"\x1b[{n}K", st.integers(0, 2)),
    st.builds(lambda n: f"\x1b[{n}J", st.integers(0, 3)),
    st.builds(lambda a, b: f"\x1b[{a};{b}m", st.sampled_from([1, 4, 7, 22, 24]), st.integers(30, 47)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=40))
def test_fast_paths_draw_exactly_what_stock_pyte_draws(pieces):
    """On input stock pyte handles correctly, the patched emulator must leave the same cells."""
    data = "".join(pieces)
    ours = Emulator(12, 6)
    ours.feed(data.encode())
    stock = pyte.Screen(12, 6)
    pyte.Stream(stock).feed(data)
    cells = lambda screen: [[tuple(screen.buffer[y][x]) for x in range(12)] for y in range(6)]  # noqa: E731
    # ours are pyte's fields plus dim (widgets.emulator.Cell), and nothing here is faint
    assert [[cell[:-1] for cell in row] for row in cells(ours.screen)] == cells(stock)
    assert not any(cell[-1] for row in cells(ours.screen) for cell in row)
    assert (ours.screen.cursor.x, ours.screen.cursor.y) == (stock.cursor.x, stock.cursor.y)


_SCROLLING = st.one_of(
    _PIECES,
    st.sampled_from(
        [
            "\r\n\r\n\r\n",
            "\x1bM",
            "\x1bD",
            "\x1b[2;4r",
            "\x1b[r",
            "\x1b[2L",
            "\x1b[M",
            "\x1b[2S",
            "\x1b[T",
            "\x1b[?1049h",
            "\x1b[?1049l",
        ]
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_SCROLLING, max_size=8), max_size=12))
def test_line_keys_follow_scrolled_lines_and_every_change_is_reported(chunks):
    """What the terminal widget's strip cache relies on: a line kept under its key is still the text
    shown wherever that key is now, unless ``take_changed`` listed the key."""
    emulator = Emulator(12, 6)
    kept: dict[int, tuple[object, str]] = {}  # key -> (the line, held so the key stays unique; its text)
    for chunk in chunks:
        emulator.feed("".join(chunk).encode())
        for key in emulator.take_changed():
            kept.pop(key, None)
        emulator.take_dirty()
        shown = emulator.display()
        for y in range(6):
            key = emulator.line_key(y)
            if key is None:
                continue
            if key in kept:
                assert kept[key][1] == shown[y], f"row {y} shows a line changed without being reported"
            kept[key] = (emulator.screen.buffer[y], shown[y])


def test_a_scroll_moves_line_keys_and_changes_only_the_new_line():
    emulator = Emulator(10, 3)
    emulator.feed(b"a\r\nb\r\nc")
    emulator.take_changed()
    emulator.take_dirty()
    keys = [emulator.line_key(y) for y in range(3)]
    emulator.feed(b"\r\nd")
    assert [emulator.line_key(0), emulator.line_key(1)] == keys[1:]
    assert emulator.take_changed() == {emulator.line_key(2)}
    assert emulator.take_dirty() == {0, 1, 2}


@run_async
async def test_scrolled_lines_are_not_drawn_again(tmp_path):
    argv = script(
        tmp_path,
        r"""
        import sys, time
        for n in range(600):
            sys.stdout.write(f"line {n}\n"); sys.stdout.flush()
            time.sleep(0.03)
    """,
    )
    app = TermApp(argv)
    async with app.run_test(size=(60, 20)) as pilot:
        term = app.query_one(TerminalView)
        await wait_until(pilot, lambda: screen_has(term, "line 25"), what="the screen scrolling")
        rebuilt: list[str] = []
        render_row = term._render_row

        def counted(y, base):
            strip = render_row(y, base)
            rebuilt.append(strip.text.strip())
            return strip

        term._render_row = counted
        await wait_until(pilot, lambda: screen_has(term, "line 40"), what="more lines")
        # each line is built once, when it appears; scrolling moves it without building it again
        # (how many appear per redraw depends on how late the redraws fire on a busy machine)
        drawn = [text for text in rebuilt if text]
        assert drawn and len(drawn) == len(set(drawn)), repr((rebuilt, term.emulator.screen.cursor.y))
        assert len(drawn) <= 40 - 25 + 20, len(drawn)
        term.stop()
