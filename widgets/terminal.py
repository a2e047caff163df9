"""The live terminal of a session: a child process in a pseudo-terminal, emulated and drawn by Textual.

In the cockpit the child is the session host's ``attach_argv`` (``tmux -L <sock> attach -t =<name>``),
so the agent keeps running in tmux whatever happens to this widget; any argv works (tests run
``cat`` or small Python scripts).

How it works:

- The child runs under pexpect (``pexpect.spawn``) in a pty sized to the widget, with
  ``TERM=xterm-256color`` and a UTF-8 locale when the environment has none (a tmux client without one
  replaces every non-ASCII character with ``_``). Output is read with the event loop's reader
  (``loop.add_reader`` on the non-blocking master fd) and parsed by ``widgets.emulator.Emulator``
  (pyte, patched); replies such as cursor-position reports are written straight back.
- Redraws are batched: at most ``MAX_FPS`` (30) per second, and only the lines pyte marked dirty are
  refreshed. The first change after a quiet spell is drawn at once (typing echoes without delay);
  a stream is drawn at the frame rate, which backs off towards ``MIN_FPS`` while redraws fire late
  (the event loop is busy, or the machine is: on two cores busy with thirty agents a terminal at
  30 frames a second took a fifth of a core and made the cockpit's keys wait) and comes back when
  they are on time; each line is drawn once into a ``Strip`` kept in an LRU cache (the Line API, like
  Toolong's log view) under its line object (``Emulator.line_key``), so a line that scrolled is not
  drawn again; the cursor cell is overlaid when the widget has focus.
- Watching never sends keys: the terminal is in no focus chain (``tab`` never lands on it) and takes
  the focus only through :meth:`TerminalView.attach` (the cockpit's ``enter``) or a mouse click on it,
  which posts ``TerminalView.Attached``. Attached (and only then): every key goes to the child,
  encoded as xterm does (arrows honour DECCKM, F-keys, modifiers as ``CSI 1;m x``, ctrl and alt
  combinations, bracketed paste), except the detach chord ``ctrl+]`` (``DETACH_KEY``, or what a
  keymap binds to the ``detach`` id) which posts ``TerminalView.Detached`` and gives the focus back.
  Losing the focus any other way (a click elsewhere) detaches too (``Detached`` with ``chord`` False).
  Textual's priority bindings (ctrl+q quit, ctrl+p palette, ctrl+c, tab) do not fire while attached:
  ``Screen._binding_chain`` drops every ancestor binding whose key the focused widget claims through
  ``check_consume_key``, and this widget claims every key but the chord (the mechanism Input and
  TextArea use; see ``textual/screen.py`` and ``App._check_bindings`` in Textual 8).
- Only visible terminals are emulated: on ``Hide`` (hidden, scrolled away, removed) the reader is
  removed and the child blocks once the pty buffer is full (a tmux client is simply slow; the server
  keeps the session running and drops what a slow client cannot take). On ``Show`` the reader is
  added back and the child's foreground process group gets SIGWINCH, on which tmux redraws the
  whole client, so the picture is current again at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterable, Mapping

import pexpect
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from widgets.emulator import Emulator

#: The chord that leaves an attached terminal (Textual's name for ctrl+], byte 0x1d), and its binding id
#: (a keymap entry for the id moves the chord: ``App.set_keymap``).
DETACH_KEY = "ctrl+right_square_bracket"
DETACH_ID = "detach"
#: Redraws per second at most, and the rate a stream is drawn at when redraws keep falling behind.
MAX_FPS = 30
#: Seconds after mounting when an autostart terminal starts its child even though no Resize arrived:
#: Textual sends neither Resize nor Show to a widget first laid out by a scroll-only reflow
#: (``Compositor.reflow_visible``), seen on a loaded machine as a blank Mayor pane that never started.
AUTOSTART_FALLBACK_S = 2.0
MIN_FPS = 10
#: Bytes read from the pty per reader callback.
READ_SIZE = 65536

# pyte's colour names (pyte.graphics FG_ANSI/FG_AIXTERM; 33 is "brown") -> ANSI numbers 0-15.
_ANSI_NAMES = ["black", "red", "green", "brown", "blue", "magenta", "cyan", "white"]
_NAMED_COLORS: dict[str, int] = {}
for _n, _name in enumerate(_ANSI_NAMES):
    _NAMED_COLORS[_name] = _n
    _NAMED_COLORS["bright" + _name] = _n + 8
_NAMED_COLORS["yellow"], _NAMED_COLORS["brightyellow"] = 3, 11


def pyte_color(value: str) -> Color | None:
    """A pyte cell colour as a Rich colour: ``"default"`` -> None (the widget's own colour), names
    (``"red"``, ``"brown"``, ``"brightblue"``) -> the ANSI colours 0-15, six hex digits (pyte's form
    for 256-colour and 24-bit SGR) -> that RGB colour. Anything else -> None."""
    if value == "default":
        return None
    number = _NAMED_COLORS.get(value)
    if number is not None:
        return Color.from_ansi(number)
    if len(value) == 6:
        try:
            return Color.from_rgb(int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))
        except ValueError:
            return None
    return None


def cell_style(
    fg: str,
    bg: str,
    bold: bool,
    italics: bool,
    underscore: bool,
    strikethrough: bool,
    reverse: bool,
    blink: bool,
    dim: bool = False,
) -> Style:
    """The Rich style of an emulated cell, from the fields of :class:`widgets.emulator.Cell` after
    ``data`` (pyte's ``Char`` fields, then ``dim``: SGR 2, drawn with Rich's ``dim``)."""
    return Style(
        color=pyte_color(fg),
        bgcolor=pyte_color(bg),
        bold=bold or None,
        dim=dim or None,
        italic=italics or None,
        underline=underscore or None,
        strike=strikethrough or None,
        reverse=reverse or None,
        blink=blink or None,
    )


# ---- keys --------------------------------------------------------------------------------------------
# xterm encodings (ctlseqs "PC-Style Function Keys"). Cursor keys: final byte, sent as CSI x, or SS3 x
# in application mode (DECCKM). With modifiers: CSI 1;m x where m = 1 + shift + 2*alt + 4*ctrl.
_CURSOR_KEYS = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_TILDE_KEYS = {
    "insert": 2,
    "delete": 3,
    "pageup": 5,
    "pagedown": 6,
    "f5": 15,
    "f6": 17,
    "f7": 18,
    "f8": 19,
    "f9": 20,
    "f10": 21,
    "f11": 23,
    "f12": 24,
    "f13": 25,
    "f14": 26,
    "f15": 28,
    "f16": 29,
    "f17": 31,
    "f18": 32,
    "f19": 33,
    "f20": 34,
}
_SS3_KEYS = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_SIMPLE_KEYS = {
    "enter": b"\r",
    "tab": b"\t",
    "backspace": b"\x7f",
    "escape": b"\x1b",
    "space": b" ",
    "shift+tab": b"\x1b[Z",
    "ctrl+backspace": b"\x08",
    "ctrl+h": b"\x08",
    "ctrl+space": b"\x00",
    "ctrl+@": b"\x00",
    "shift+enter": b"\r",
    "shift+space": b" ",
}
# ctrl + punctuation or digit -> C0 control byte (what xterm sends for these chords).
_CTRL_SYMBOLS = {
    "left_square_bracket": 0x1B,
    "backslash": 0x1C,
    "right_square_bracket": 0x1D,
    "circumflex_accent": 0x1E,
    "underscore": 0x1F,
    "question_mark": 0x7F,
    "at": 0x00,
    "2": 0x00,
    "3": 0x1B,
    "4": 0x1C,
    "5": 0x1D,
    "6": 0x1E,
    "7": 0x1F,
    "8": 0x7F,
}
_MODIFIER_BITS = {"shift": 1, "alt": 2, "meta": 2, "ctrl": 4}


def encode_key(key: str, character: str | None, application_cursor: bool = False) -> bytes | None:
    """The bytes xterm sends for a Textual key event; None if the key has no encoding.

    key: Textual's key name (``"up"``, ``"ctrl+q"``, ``"alt+x"``, ``"shift+f5"``). character: the
    event's character or None. application_cursor: DECCKM is set (arrows, Home, End send ``ESC O x``).
    """
    simple = _SIMPLE_KEYS.get(key)
    if simple is not None:
        return simple
    *mods, base = key.split("+")
    bits = sum(_MODIFIER_BITS.get(m, 0) for m in mods)
    if base in _CURSOR_KEYS:
        final = _CURSOR_KEYS[base]
        if bits:
            return f"\x1b[1;{bits + 1}{final}".encode()
        return f"\x1bO{final}".encode() if application_cursor else f"\x1b[{final}".encode()
    if base in _TILDE_KEYS:
        number = _TILDE_KEYS[base]
        return f"\x1b[{number};{bits + 1}~".encode() if bits else f"\x1b[{number}~".encode()
    if base in _SS3_KEYS:
        return f"\x1b[1;{bits + 1}{_SS3_KEYS[base]}".encode() if bits else f"\x1bO{_SS3_KEYS[base]}".encode()
    if "alt" in mods or "meta" in mods:
        rest = "+".join(m for m in mods if m not in ("alt", "meta"))
        inner = encode_key(f"{rest}+{base}" if rest else base, character if not rest else None, application_cursor)
        return b"\x1b" + inner if inner is not None else None
    if "ctrl" in mods:
        if len(base) == 1 and base.isalpha():
            return bytes([ord(base.lower()) & 0x1F])
        if base in _CTRL_SYMBOLS:
            return bytes([_CTRL_SYMBOLS[base]])
    if (
        character is not None
        and character != ""
        and (character.isprintable() or ord(character[0]) < 0x20 or character == "\x7f")
    ):
        return character.encode("utf-8", "replace")
    if len(base) == 1 and set(mods) <= {"shift"}:
        return (base.upper() if mods else base).encode()
    return None


class TerminalView(Widget, can_focus=True):
    """A live terminal: runs ``argv`` in a pty, emulates it with pyte and draws it with the Line API.

    argv: the command and its arguments (never a shell string). env: the child's environment (default:
    this process's), TERM is always xterm-256color. cwd: its working directory. autostart: spawn the
    child on the first layout, sized to the widget; otherwise call ``start()``. stop_signal: the
    signal :meth:`stop` sends the child before it closes the pty (None, the default: close it, and the
    kernel hangs the child up).
    Posts ``TerminalView.Exited`` when the child ends and ``TerminalView.Detached`` on the detach chord.
    """

    DEFAULT_CSS = """
    TerminalView {
        width: 1fr;
        height: 1fr;
        background: $background;
        color: $foreground;
    }
    """

    #: priority: the app runs the detach itself, before it hands the next key to anyone; as a plain
    #: binding the chord waited in this widget's queue while the keys typed after it were already
    #: forwarded here, and went to the agent (seen in tmux: ctrl+] tab typed the tab).
    BINDINGS = [Binding(DETACH_KEY, "detach", "Detach", key_display="ctrl+]", id=DETACH_ID, priority=True)]

    class Attached(Message):
        """The terminal took the keys (:meth:`TerminalView.attach`, or a click on it)."""

        def __init__(self, terminal: TerminalView) -> None:
            self.terminal = terminal
            super().__init__()

        @property
        def control(self) -> TerminalView:
            return self.terminal

    class Exited(Message):
        """The child process ended: ``returncode`` is its exit status, or -N if killed by signal N."""

        def __init__(self, terminal: TerminalView, returncode: int) -> None:
            self.terminal = terminal
            self.returncode = returncode
            super().__init__()

        @property
        def control(self) -> TerminalView:
            return self.terminal

    class Detached(Message):
        """The keys went back to the cockpit: ``chord`` True for the detach chord, False when the
        terminal lost the focus otherwise (a click on another panel)."""

        def __init__(self, terminal: TerminalView, chord: bool = True) -> None:
            self.terminal = terminal
            self.chord = chord
            super().__init__()

        @property
        def control(self) -> TerminalView:
            return self.terminal

    def __init__(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        autostart: bool = True,
        stop_signal: int | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        if not argv:
            raise ValueError("TerminalView needs a command: argv is empty")
        self.argv = list(argv)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.autostart = autostart
        self.stop_signal = stop_signal
        self.emulator = Emulator(80, 24, self._respond)
        self.frames = 0  # redraws done (for tests and benchmarks)
        self._child: pexpect.spawn | None = None
        self._spawned = False  # autostart happens once, not again after the child exits
        self._fd = -1
        self._reading = False
        self._shown = False
        self._outbox = bytearray()
        # line key (Emulator.line_key) -> (the line, its strip); the line is held so its key stays unique
        self._strips: LRUCache[int, tuple[object, Strip]] = LRUCache(512)
        self._styles: dict[tuple, Style] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._flush_due = 0.0
        self.frame_interval = 1.0 / MAX_FPS  # seconds between two redraws of a stream (adapts)
        self._cursor_drawn: tuple[int, int] | None = None
        self._reap_timer = None
        #: True while the keys go to the child (between :meth:`attach` and the detach).
        self.attached = False

    # ---- public API ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the child is attached to the pty."""
        return self._child is not None

    @property
    def title(self) -> str:
        """The title the child set with OSC 0 or OSC 2 ("" if none)."""
        return self.emulator.title

    def start(self) -> None:
        """Spawn the child in a pty the size of the widget (80x24 before layout). No-op if running.

        Raises pexpect.ExceptionPexpect if ``argv[0]`` cannot be found or run.
        """
        if self._child is not None:
            return
        lines, columns = self._grid_size()
        self.emulator.resize(lines, columns)
        env = dict(self.env)
        env["TERM"] = "xterm-256color"
        if not any("UTF-8" in env.get(k, "").upper().replace("UTF8", "UTF-8") for k in ("LC_ALL", "LC_CTYPE", "LANG")):
            env["LC_CTYPE"] = "C.UTF-8"
        child = pexpect.spawn(
            self.argv[0],
            self.argv[1:],
            dimensions=(lines, columns),
            env=env,
            cwd=None if self.cwd is None else os.fspath(self.cwd),
            echo=True,
        )
        child.delaybeforesend = None
        child.ptyproc.delayafterclose = 0.05
        child.ptyproc.delayafterterminate = 0.05
        self._child = child
        self._spawned = True
        self._fd = child.child_fd
        os.set_blocking(self._fd, False)
        self._outbox.clear()
        if self._shown or not self.is_mounted:
            self._resume()

    def stop(self) -> None:
        """End the child: send it ``stop_signal`` (if set), close the pty (SIGHUP), then SIGKILL it if
        it is still there; for ``tmux attach`` that detaches.

        No ``Exited`` message is posted for a stop asked for here.
        """
        child = self._child
        if child is None:
            return
        self._pause()
        self._stop_writer()
        if self._reap_timer is not None:
            self._reap_timer.stop()
            self._reap_timer = None
        self._child = None
        self._fd = -1
        if self.stop_signal is not None:
            try:
                os.kill(child.pid, self.stop_signal)
            except ProcessLookupError:
                pass  # it ended on its own: close() reaps it
        child.close(force=True)

    def send_text(self, text: str) -> None:
        """Type ``text`` into the child as it is (UTF-8, no key translation)."""
        self._write(text.encode("utf-8"))

    def screen_text(self) -> list[str]:
        """The lines shown now, as text (each as wide as the emulated screen)."""
        return self.emulator.display()

    def attach(self) -> bool:
        """Give the keys to the child: the terminal takes the focus (it is in no focus chain
        otherwise) and posts ``Attached``. Returns False, doing nothing, when no child runs."""
        if self._child is None:
            return False
        if not self.attached:
            self.attached = True
            self.post_message(self.Attached(self))
        # at once (``focus()`` waits a turn of the loop): the key typed right after the attach key
        # is handed to whichever widget has the focus when the app reads it
        self.screen.set_focus(self)
        return True

    @property
    def detach_keys(self) -> tuple[str, ...]:
        """The keys that detach now: ``DETACH_KEY``, or what the app's keymap binds to ``detach``."""
        try:
            bound = self.app._keymap.get(DETACH_ID)  # Textual keeps the keymap here (App.set_keymap)
        except Exception:  # noqa: BLE001 - no app (unit use)
            bound = None
        return tuple(k.strip() for k in bound.split(",")) if bound else (DETACH_KEY,)

    def action_detach(self) -> None:
        """Leave the terminal: post ``Detached`` and hand the focus, at once, to the widget the screen
        names with its ``detach_focus()`` method when it has one (the cockpit: its agents tree), else
        to the next in the focus chain. At once, never to nothing: with no focus the app read several
        keys typed after the chord before the first one's action ran (a number key, then ``enter``),
        and a focus moved later, when ``Detached`` arrived, undid a key typed meanwhile."""
        if self.attached:
            self.attached = False
            self.post_message(self.Detached(self))
        chooser = getattr(self.screen, "detach_focus", None)
        target = chooser() if callable(chooser) else None
        if isinstance(target, Widget) and target.focusable:
            self.screen.set_focus(target)
        else:
            self.blur()

    # ---- Textual hooks ------------------------------------------------------------------------------
    def allow_focus(self) -> bool:
        """Focusable only while attached: ``tab`` and ``shift+tab`` never land on a terminal."""
        return self.attached

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """While attached, every key but the detach chord belongs to the child (hides app bindings)."""
        return self.attached and self._child is not None and key not in self.detach_keys

    def on_mount(self) -> None:
        """Autostart: the first Resize starts the child; if none came within AUTOSTART_FALLBACK_S
        seconds, the child starts anyway at the size known then (a later Resize resizes it)."""
        if self.autostart:
            self.set_timer(AUTOSTART_FALLBACK_S, self._autostart)

    def on_resize(self, event: events.Resize) -> None:
        """Start the child on the first layout (autostart); later, resize the grid and the pty."""
        if self._child is None and self.autostart and not self._spawned:
            self._autostart()
            return
        lines, columns = self._grid_size()
        self.emulator.resize(lines, columns)
        if self._child is not None:
            try:
                self._child.setwinsize(lines, columns)
            except OSError:
                pass  # the child is going away; the reader will notice
        self._strips.clear()
        self.refresh()

    def _autostart(self) -> None:
        """Start the child once (autostart); a command that cannot run is shown and posted as Exited."""
        if self._spawned or not self.is_mounted:
            return
        self._spawned = True
        if self.region:
            # On the screen now. Textual sends no Show to a widget first laid out by a scroll-only
            # reflow, so the Show event alone would leave the pty unread (a blank terminal).
            self._shown = True
        try:
            self.start()
        except pexpect.ExceptionPexpect as error:
            # Shown in the terminal and reported like an exit, so the cockpit carries on.
            self.emulator.feed(f"gt: cannot run {self.argv[0]}: {error}\r\n".encode())
            self._schedule_flush()
            self.post_message(self.Exited(self, 127))

    def on_show(self) -> None:
        """Visible again: resume reading and make the child redraw (SIGWINCH)."""
        self._shown = True
        if self._child is not None:
            self._resume()
            self._signal_winch()

    def on_hide(self) -> None:
        """Hidden: stop reading, so nothing is emulated until it shows again."""
        self._shown = False
        self._pause()

    def on_unmount(self) -> None:
        """Removed from the screen: close the pty (a tmux client just detaches)."""
        self.stop()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    def on_focus(self) -> None:
        """Attached: draw the cursor."""
        self._refresh_cursor()
        self._report_focus(True)

    def on_blur(self) -> None:
        """Detached: hide the cursor; the focus went elsewhere without the chord (``chord`` False)."""
        self._refresh_cursor()
        self._report_focus(False)
        if self.attached:
            self.attached = False
            self.post_message(self.Detached(self, chord=False))

    def on_click(self, event: events.Click) -> None:
        """A click on the terminal attaches it (an explicit choice, like ``enter``)."""
        if not self.attached and self.attach():
            event.stop()

    def _report_focus(self, focused: bool) -> None:
        """Tell a child that asked (mode 1004, xterm's focus tracking) that the keys now come to it
        (``CSI I``) or no longer do (``CSI O``): tmux passes it on to the agent (``focus-events``)."""
        if self.emulator.focus_events:
            self._write(b"\x1b[I" if focused else b"\x1b[O")

    def notify_style_update(self) -> None:
        """The widget's CSS changed (theme switch): cached strips hold the old colours."""
        super().notify_style_update()
        self._strips.clear()

    def on_key(self, event: events.Key) -> None:
        """Send the key to the child, xterm-encoded; the detach chord goes on to its binding. A key
        reaches this widget only when the app read it while the terminal had the focus, i.e. while
        attached (it may be handled after a detach the app ran first: it is still the agent's)."""
        if self._child is None or event.key in self.detach_keys:
            return  # the chord bubbles on to the binding that detaches
        data = encode_key(event.key, event.character, self.emulator.application_cursor_keys)
        event.stop()
        event.prevent_default()
        if data is not None:
            self._write(data)

    def on_paste(self, event: events.Paste) -> None:
        """Send pasted text (routed here while attached, as keys are), newlines as CR, bracketed when
        the child enabled mode 2004."""
        if self._child is None:
            return
        event.stop()
        text = event.text.replace("\r\n", "\r").replace("\n", "\r")
        if self.emulator.bracketed_paste:
            text = "\x1b[200~" + text.replace("\x1b[201~", "") + "\x1b[201~"
        self._write(text.encode("utf-8"))

    # ---- drawing ------------------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the terminal: from the strip cache, with the cursor overlaid when focused."""
        width = self.size.width
        screen = self.emulator.screen
        base = self.visual_style.rich_style
        if y >= screen.lines:
            return Strip.blank(width, base)
        key = self.emulator.line_key(y)
        cached = self._strips.get(key) if key is not None else None
        if cached is None:
            strip = self._render_row(y, base).adjust_cell_length(width, base)
            if key is not None:
                self._strips[key] = (screen.buffer[y], strip)
                # built from the line as it is now: a change noted since the last flush is in it
                # already (output fed between a flush and this paint would rebuild the line again)
                self.emulator.drawn(key)
        else:
            strip = cached[1]
        cursor = screen.cursor
        if self.has_focus and not cursor.hidden and cursor.y == y and self._child is not None:
            x = min(cursor.x, screen.columns - 1, width - 1)
            if x >= 0:
                strip = _overlay_cursor(strip, x)
        return strip

    def _render_row(self, y: int, base: Style) -> Strip:
        """Build the strip of emulated line ``y``: one segment per run of cells with equal attributes."""
        screen = self.emulator.screen
        line = screen.buffer.get(y)
        if line is None:
            return Strip.blank(screen.columns, base)
        segments: list[Segment] = []
        run: list[str] = []
        run_key: tuple | None = None
        default = line.default
        for x in range(screen.columns):
            char = line.get(x, default)
            data = char.data
            if not data:
                continue  # second cell of a wide character
            key = char[1:]
            if key != run_key:
                if run:
                    segments.append(Segment("".join(run), self._style(run_key, base)))
                    run = []
                run_key = key
            run.append(data)
        if run:
            segments.append(Segment("".join(run), self._style(run_key, base)))
        return Strip(segments)

    def _style(self, key: tuple, base: Style) -> Style:
        style = self._styles.get((key, base))
        if style is None:
            if len(self._styles) > 4096:
                self._styles.clear()
            style = self._styles[(key, base)] = base + cell_style(*key)
        return style

    def _grid_size(self) -> tuple[int, int]:
        """(lines, columns) for the pty: the content size, or 24x80 before the first layout."""
        width, height = self.size
        if width <= 0 or height <= 0:
            return 24, 80
        return height, width

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None:
            return
        now = time.monotonic()
        delay = max(0.0, self._last_flush + self.frame_interval - now)
        self._flush_due = now + delay
        self._flush_handle = asyncio.get_running_loop().call_later(delay, self._flush)

    def _flush(self) -> None:
        """Repaint the dirty lines (at most MAX_FPS times a second); adapt the frame interval to how
        late this call came (more than a frame late: 1.5 times longer, up to 1/MIN_FPS; on time:
        back towards 1/MAX_FPS)."""
        self._flush_handle = None
        now = time.monotonic()
        if now - self._flush_due > 1.0 / MAX_FPS:
            self.frame_interval = min(1.0 / MIN_FPS, self.frame_interval * 1.5)
        else:
            self.frame_interval = max(1.0 / MAX_FPS, self.frame_interval * 0.9)
        self._last_flush = now
        dirty = self.emulator.take_dirty()
        cursor = self.emulator.screen.cursor
        position = (cursor.y, cursor.x)
        if position != self._cursor_drawn:
            if self._cursor_drawn is not None:
                dirty.add(self._cursor_drawn[0])
            dirty.add(cursor.y)
            self._cursor_drawn = position
        if not dirty:
            return
        self.frames += 1
        for key in self.emulator.take_changed():
            self._strips.discard(key)
        width = self.size.width
        for start, count in _runs(sorted(dirty)):
            self.refresh(Region(0, start, width, count))

    def _refresh_cursor(self) -> None:
        y = self.emulator.screen.cursor.y
        self.refresh(Region(0, y, self.size.width, 1))

    # ---- pty I/O ------------------------------------------------------------------------------------
    def _resume(self) -> None:
        if self._child is not None and not self._reading:
            asyncio.get_running_loop().add_reader(self._fd, self._on_readable)
            self._reading = True

    def _pause(self) -> None:
        if self._reading:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._reading = False

    def _signal_winch(self) -> None:
        """Ask the child's foreground job to redraw (tmux repaints the whole client on SIGWINCH)."""
        try:
            os.killpg(os.tcgetpgrp(self._fd), signal.SIGWINCH)
        except OSError:
            pass

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""  # EIO: the slave side is closed, the child is gone
        if not data:
            self._child_closed()
            return
        self.emulator.feed(data)
        self._schedule_flush()

    def _respond(self, text: str) -> None:
        self._write(text.encode("utf-8"))

    def _write(self, data: bytes) -> None:
        """Queue ``data`` for the child and write what the pty takes now (the rest when it is writable)."""
        if self._child is None:
            return
        self._outbox += data
        self._drain()

    def _drain(self) -> None:
        try:
            while self._outbox:
                written = os.write(self._fd, self._outbox)
                del self._outbox[:written]
        except BlockingIOError:
            asyncio.get_running_loop().add_writer(self._fd, self._drain)
            return
        except OSError:
            self._outbox.clear()
        self._stop_writer()

    def _stop_writer(self) -> None:
        if self._fd >= 0:
            asyncio.get_running_loop().remove_writer(self._fd)

    def _child_closed(self) -> None:
        """The pty reached end of file: stop reading, then wait for the exit status and post Exited."""
        self._pause()
        self._stop_writer()
        self._schedule_flush()
        if self._reap_timer is None:
            self._reap_timer = self.set_interval(0.02, self._reap)
            self._reap()

    def _reap(self) -> None:
        child = self._child
        if child is None:
            return
        if child.isalive():
            return
        if self._reap_timer is not None:
            self._reap_timer.stop()
            self._reap_timer = None
        self._child = None
        self._fd = -1
        child.close(force=True)
        code = child.exitstatus if child.exitstatus is not None else -(child.signalstatus or 0)
        self._refresh_cursor()
        self.post_message(self.Exited(self, code))


def _overlay_cursor(strip: Strip, x: int) -> Strip:
    """``strip`` with cell ``x`` drawn in reverse video (the block cursor)."""
    left, middle, right = strip.divide([x, x + 1, strip.cell_length])
    segments = [
        Segment(seg.text, (seg.style or Style()) + Style(reverse=not (seg.style and seg.style.reverse)))
        for seg in middle
    ]
    return Strip([*left, *segments, *right], strip.cell_length)


def _runs(rows: Iterable[int]) -> Iterable[tuple[int, int]]:
    """Consecutive integers grouped as (start, count): [1, 2, 3, 7] -> (1, 3), (7, 1)."""
    start = count = None
    for y in rows:
        if start is not None and y == start + count:
            count += 1
            continue
        if start is not None:
            yield start, count
        start, count = y, 1
    if start is not None:
        yield start, count
