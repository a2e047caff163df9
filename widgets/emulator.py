"""The terminal emulator behind the terminal widget: pyte 0.8.2, patched for what a tmux client sends.

``Emulator`` is the small interface the cockpit's terminal widget uses (feed bytes, resize, read the
grid, the modes that change how keys are encoded); a faster emulator can replace pyte behind it.

What stock pyte 0.8.2 gets wrong, and what ``TerminalScreen``/``TerminalStream`` do instead:

- The alternate screen (private modes 1049, 1047, 47) is not implemented: full-screen programs
  (tmux itself, vim, less) overwrite the shell's screen. Here a blank second buffer is swapped in and
  the main screen comes back intact when the program leaves it (1049 also saves and restores the
  cursor). The alternate buffer is not kept between two uses.
- ``CSI ? ... m`` (private SGR) and ``CSI ? ... r`` (private margins, XTRESTORE) raise ``TypeError``
  and reset the parser. ``CSI > 4;2 m`` (xterm XTMODKEYS, which tmux and editors send) does not crash
  in 0.8.2, but the ``>`` is dropped and it is applied as SGR 4;2, i.e. everything drawn afterwards is
  underlined. Here every sequence with a ``<``, ``=`` or ``>`` marker, or with an intermediate byte
  (``CSI 2 SP q`` cursor shape, ``CSI ? 2026 $ p`` DECRQM), is ignored, as are private SGR and margins.
- Colon sub-parameters (``CSI 4:3 m`` curly underline, ``CSI 38:2::r:g:b m``) end the sequence in
  stock pyte and the rest is drawn as text; here they are parsed (ITU T.416 form, as xterm does).
- DCS, APC, PM and SOS strings (``ESC P ... ESC \\``, tmux passthrough, XTGETTCAP) are drawn as text by
  stock pyte; here they are swallowed up to the string terminator.
- OSC codes with more than one digit (OSC 52, OSC 133) are misread as OSC 1; here the whole code is
  read and only 0, 1 and 2 (icon name, title) are used.
- The DEC special graphics set (``ESC ( 0``, line drawing) is ignored in UTF-8 mode; here it is honoured.
- ``CSI n S`` / ``CSI n T`` (scroll up/down, terminfo indn/rin) and ``CSI n b`` (REP, repeat the last
  character) are missing, and xterm-256color, the TERM given to the child, advertises all three.
- Cursor-position reports (``CSI 6 n`` -> ``CSI row;col R``) and device status go to a ``respond``
  callback that writes them back to the pseudo-terminal.
- SGR 2 (faint, "dim") is dropped: pyte's ``Char`` has no field for it. Here every cell is a
  :class:`Cell`, pyte's fields plus ``dim``, set by SGR 2 and cleared by SGR 22 (normal intensity,
  which also ends bold) and SGR 0; the terminal widget draws it with Rich's ``dim``.
- Printable ASCII runs are drawn through a per-attribute cache of cells instead of one
  ``wcwidth`` call and one ``namedtuple._replace`` per character (see ``bench/bench_terminal.py``).

Sequence references: xterm's ctlseqs (https://invisible-island.net/xterm/ctlseqs/ctlseqs.html) and
ECMA-48 for the CSI byte classes (parameter bytes 0x30-0x3F, intermediates 0x20-0x2F, final 0x40-0x7E).
"""

from __future__ import annotations

import codecs
import copy
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import pyte
from pyte import control as ctrl
from pyte.charsets import LAT1_MAP
from pyte import modes as mo
from pyte.screens import StaticDefaultDict
from wcwidth import wcwidth

#: DEC private modes, shifted the way pyte stores them (``mode << 5``).
DECCKM = 1 << 5  # application cursor keys: arrows send ESC O A instead of CSI A
ALT_SCREEN_47 = 47 << 5  # alternate screen, kept as it is
ALT_SCREEN_1047 = 1047 << 5  # alternate screen, cleared when leaving
ALT_SCREEN_1049 = 1049 << 5  # save cursor, alternate screen cleared on entry
BRACKETED_PASTE = 2004 << 5  # wrap pasted text in CSI 200 ~ ... CSI 201 ~
FOCUS_EVENTS = 1004 << 5  # report focus in and out as CSI I / CSI O
_ALT_MODES = (ALT_SCREEN_47, ALT_SCREEN_1047, ALT_SCREEN_1049)

#: CSI handlers that take a ``private=True`` keyword (``CSI ? ...``); other private sequences are ignored.
_PRIVATE_OK = frozenset(
    {
        "set_mode",
        "reset_mode",
        "erase_in_display",
        "erase_in_line",
        "report_device_attributes",
        "report_device_status",
        "select_graphic_rendition",
        "set_margins",
    }
)
#: Longest OSC / DCS payload kept, in characters (OSC 52 clipboard data can be large; it is not used).
_MAX_STRING = 4096


class Cell(NamedTuple):
    """One cell: pyte's ``Char`` fields (text, colours, attributes) plus ``dim`` (SGR 2, faint), in
    that order, so ``cell[1:]`` is the cell's style key (:func:`widgets.terminal.cell_style`)."""

    data: str
    fg: str = "default"
    bg: str = "default"
    bold: bool = False
    italics: bool = False
    underscore: bool = False
    strikethrough: bool = False
    reverse: bool = False
    blink: bool = False
    dim: bool = False


#: SGR codes that take sub-parameters: ``38;5;n`` / ``48;5;n`` (one more) and ``38;2;r;g;b`` (three).
_SGR_COLOUR = (38, 48)


def sgr_dim(attrs: Iterable[int], dim: bool) -> bool:
    """Whether text is faint after SGR ``attrs`` (the numbers of one ``CSI ... m``), given ``dim``
    before: 2 sets it, 0 and 22 clear it; the parameters of 38/48 colours (``38;5;2`` is colour 2,
    not faint) are skipped. An empty list is SGR 0. Codes after ECMA-48 8.3.117 and xterm's ctlseqs."""
    codes = list(attrs) or [0]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code in _SGR_COLOUR and i + 1 < len(codes):
            i += {5: 2, 2: 4}.get(codes[i + 1], 1)
        elif code == 2:
            dim = True
        elif code in (0, 22):
            dim = False
        i += 1
    return dim


class DirtyLines(set):
    """pyte's ``dirty`` set of line numbers that also notes which line objects changed in place.

    Every pyte method that changes a line marks its number here (``add``/``update``); the line
    object at that number is then noted in ``changed`` (by ``id``). A scroll
    (:meth:`TerminalScreen.index`, :meth:`TerminalScreen.reverse_index`) moves line objects to other
    numbers and marks those with :meth:`moved`, which does not note them: a drawing cache keyed by
    line object (:meth:`Emulator.line_key`) keeps every line that only moved.
    """

    def __init__(self, screen: pyte.Screen) -> None:
        super().__init__()
        self.screen = screen
        self.changed: set[int] = set()

    def add(self, y: int) -> None:
        """Line ``y`` changed (its content, not just its place)."""
        super().add(y)
        line = self.screen.buffer.get(y)
        if line is not None:
            self.changed.add(id(line))

    def update(self, *rows: Iterable[int]) -> None:
        """Every line of ``rows`` changed."""
        for group in rows:
            for y in group:
                self.add(y)

    def moved(self, rows: Iterable[int]) -> None:
        """Lines ``rows`` show other line objects now, unchanged ones (a scroll)."""
        super().update(rows)


class TerminalScreen(pyte.Screen):
    """A pyte screen with the alternate screen, REP, SU/SD and replies to the child.

    columns, lines: size in cells. respond: called with text the terminal must send back to the child
    (cursor-position and status reports); ``None`` drops replies. ``dirty`` is a :class:`DirtyLines`.
    """

    def __init__(self, columns: int, lines: int, respond: Callable[[str], None] | None = None) -> None:
        self._respond = respond
        self._main: tuple[Any, Any] | None = None  # (buffer, cursor saved by 1049) while on the alt screen
        self._last_char = ""
        self._cells: dict[Cell, dict[str, Cell]] = {}
        super().__init__(columns, lines)
        self.dirty = DirtyLines(self)
        self.dirty.update(range(self.lines))

    # ---- scrolling ----------------------------------------------------------------------------------
    def index(self) -> None:
        """IND (and a line feed on the bottom margin): pyte's, but the lines of the scroll region are
        marked as moved, not changed, and the lines outside it are left alone."""
        top, bottom = self.margins or (0, self.lines - 1)
        if self.cursor.y == bottom:
            self._scroll(bottom, top, 1)
        else:
            self.cursor_down()

    def reverse_index(self) -> None:
        """RI (and a reverse line feed on the top margin): like :meth:`index`, the other way."""
        top, bottom = self.margins or (0, self.lines - 1)
        if self.cursor.y == top:
            self._scroll(top, bottom, -1)
        else:
            self.cursor_up()

    def _scroll(self, vacated: int, filled: int, step: int) -> None:
        """Scroll the rows from ``filled`` to ``vacated``: each takes the line of the row ``step``
        further (+1: the one below, a scroll up; -1: the one above), row ``vacated`` is left blank."""
        self.dirty.moved(range(min(vacated, filled), max(vacated, filled) + 1))
        buffer = self.buffer
        for y in range(filled, vacated, step):
            buffer[y] = buffer[y + step]
        buffer.pop(vacated, None)

    @property
    def display(self) -> list[str]:
        """The screen lines as text, like pyte's, except that the stub cell a wide character leaves
        behind it, when that character was overwritten by a narrow one, shows as a space (pyte 0.8.2
        raises IndexError on it)."""

        def render(line: StaticDefaultDict[int, Cell]) -> str:
            out, skip = [], False
            for x in range(self.columns):
                data = line[x].data
                if skip and not data:
                    skip = False
                    continue
                skip = bool(data) and wcwidth(data[0]) == 2
                out.append(data or " ")
            return "".join(out)

        return [render(self.buffer[y]) for y in range(self.lines)]

    @property
    def default_char(self) -> Cell:  # type: ignore[override]
        """An empty cell with the default colours (reversed under DECSCNM), as pyte's, as a :class:`Cell`."""
        return Cell(data=" ", reverse=mo.DECSCNM in self.mode)

    # ---- alternate screen -------------------------------------------------------------------------
    @property
    def in_alternate_screen(self) -> bool:
        """True while a program (tmux, vim, less) has switched to the alternate screen."""
        return self._main is not None

    def _new_buffer(self) -> defaultdict:
        return defaultdict(lambda: StaticDefaultDict[int, Cell](self.default_char))

    def _enter_alternate(self, mode: int) -> None:
        if self._main is not None:
            return
        self._main = (self.buffer, copy.copy(self.cursor) if mode == ALT_SCREEN_1049 else None)
        self.buffer = self._new_buffer()
        self.dirty.update(range(self.lines))

    def _leave_alternate(self, mode: int) -> None:
        if self._main is None:
            return
        buffer, cursor = self._main
        self._main = None
        self.buffer = buffer
        if mode == ALT_SCREEN_1049 and cursor is not None:
            self.cursor = cursor
            self.ensure_hbounds()
            self.ensure_vbounds()
        self.dirty.update(range(self.lines))

    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        """Set modes; private 1049/1047/47 switch to the alternate screen (xterm ctlseqs, DECSET)."""
        super().set_mode(*modes, **kwargs)
        if kwargs.get("private"):
            for mode in modes:
                if mode << 5 in _ALT_MODES:
                    self._enter_alternate(mode << 5)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        """Reset modes; private 1049/1047/47 return to the main screen (xterm ctlseqs, DECRST)."""
        super().reset_mode(*modes, **kwargs)
        if kwargs.get("private"):
            for mode in modes:
                if mode << 5 in _ALT_MODES:
                    self._leave_alternate(mode << 5)

    def reset(self) -> None:
        """RIS: back to the main screen, then pyte's full reset."""
        self._main = None
        super().reset()
        self.cursor.attrs = self.default_char  # pyte's new cursor holds a Char, which has no dim

    # ---- sequences stock pyte crashes on or lacks -------------------------------------------------
    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        """SGR, with faint (:func:`sgr_dim`); the private form (``CSI ? ... m``) is ignored instead of
        raising TypeError."""
        if private:
            return
        dim = self.cursor.attrs.dim
        super().select_graphic_rendition(*attrs)
        wanted = sgr_dim(attrs, dim)
        if self.cursor.attrs.dim != wanted:
            self.cursor.attrs = self.cursor.attrs._replace(dim=wanted)

    def set_margins(self, top: int | None = None, bottom: int | None = None, *rest: int, private: bool = False) -> None:
        """DECSTBM; the private form (``CSI ? ... r``, XTRESTORE) is ignored."""
        if not private:
            super().set_margins(top, bottom)

    def report_device_status(self, mode: int = 0, *rest: int, private: bool = False) -> None:
        """DSR: 5 -> ``CSI 0 n``, 6 -> ``CSI row;col R`` (1-based), sent through ``respond``."""
        if not private:
            super().report_device_status(mode)

    def write_process_input(self, data: str) -> None:
        """Send a reply (for example a cursor-position report) back to the child."""
        if self._respond is not None:
            self._respond(data)

    def scroll_up(self, count: int | None = None, *rest: int) -> None:
        """SU (``CSI n S``): scroll the region up ``count`` lines, the cursor stays."""
        top, bottom = self.margins or (0, self.lines - 1)
        x, y = self.cursor.x, self.cursor.y
        self.cursor.y = bottom
        for _ in range(min(count or 1, bottom - top + 1)):
            self.index()
        self.cursor.x, self.cursor.y = x, y

    def scroll_down(self, count: int | None = None, *rest: int) -> None:
        """SD (``CSI n T``): scroll the region down ``count`` lines, the cursor stays."""
        top, bottom = self.margins or (0, self.lines - 1)
        x, y = self.cursor.x, self.cursor.y
        self.cursor.y = top
        for _ in range(min(count or 1, bottom - top + 1)):
            self.reverse_index()
        self.cursor.x, self.cursor.y = x, y

    def repeat_character(self, count: int | None = None, *rest: int) -> None:
        """REP (``CSI n b``): draw the last drawn character ``count`` more times."""
        if self._last_char:
            self.draw(self._last_char * min(count or 1, self.columns * self.lines))

    def erase_in_line(self, how: int = 0, private: bool = False, *rest: int) -> None:
        """EL: erase part of the cursor's line with the cursor's attributes (pyte's, one dict update)."""
        y, x = self.cursor.y, self.cursor.x
        if how == 0:
            interval = range(x, self.columns)
        elif how == 1:
            interval = range(x + 1)
        elif how == 2:
            interval = range(self.columns)
        else:
            return
        self.dirty.add(y)
        self.buffer[y].update(dict.fromkeys(interval, self.cursor.attrs))

    # ---- drawing ----------------------------------------------------------------------------------
    def draw(self, data: str) -> None:
        """Draw text at the cursor; printable ASCII takes a cached fast path, the rest goes to pyte."""
        if not data:
            return
        self._last_char = data[-1]
        if self.charset or self.g0_charset is not LAT1_MAP:
            text = data.translate(self.g1_charset if self.charset else self.g0_charset)
        else:
            text = data
        if not (text.isascii() and text.isprintable()) or mo.IRM in self.mode:
            super().draw(data)  # pyte translates the charset itself
            return
        data = text
        cursor = self.cursor
        attrs = cursor.attrs
        cells = self._cells.get(attrs)
        if cells is None:
            if len(self._cells) > 512:
                self._cells.clear()
            cells = self._cells[attrs] = {}
        columns = self.columns
        wrap = mo.DECAWM in self.mode
        start, end = 0, len(data)
        while start < end:
            if cursor.x >= columns:
                if not wrap:  # without autowrap the last column is overwritten
                    ch = data[end - 1]
                    cell = cells.get(ch) or cells.setdefault(ch, attrs._replace(data=ch))
                    self.buffer[cursor.y][columns - 1] = cell
                    self.dirty.add(cursor.y)
                    cursor.x = columns
                    break
                self.dirty.add(cursor.y)
                self.carriage_return()
                self.linefeed()
            n = min(end - start, columns - cursor.x)
            chunk = data[start : start + n]
            for ch in set(chunk).difference(cells):
                cells[ch] = attrs._replace(data=ch)
            x = cursor.x
            self.buffer[cursor.y].update(zip(range(x, x + n), map(cells.__getitem__, chunk), strict=True))
            cursor.x = x + n
            start += n
            self.dirty.add(cursor.y)


class TerminalStream(pyte.Stream):
    """A pyte stream whose parser follows ECMA-48's CSI byte classes and ignores what it cannot do.

    Feed it text (``feed(str)``); ``Emulator`` does the incremental UTF-8 decoding.
    """

    csi = {**pyte.Stream.csi, "S": "scroll_up", "T": "scroll_down", "b": "repeat_character"}
    events = pyte.Stream.events | {"scroll_up", "scroll_down", "repeat_character"}
    #: A whole 7-bit CSI sequence without intermediates or embedded controls (the common case).
    _csi_pattern = re.compile("\x1b\\[([0-?]*)([@-~])")

    def feed(self, data: str) -> None:
        """Parse ``data``: pyte's loop (plain-text runs go straight to ``draw``) plus a fast path that
        dispatches complete CSI sequences found in one piece without stepping the parser per character."""
        if self.listener is None:
            raise RuntimeError("Listener is not set")
        send = self._send_to_parser
        draw = self.listener.draw
        match_text = self._text_pattern.match
        match_csi = self._csi_pattern.match
        dispatch_csi = self._dispatch_csi
        taking_plain_text = self._taking_plain_text
        length = len(data)
        offset = 0
        while offset < length:
            if taking_plain_text:
                match = match_text(data, offset)
                if match:
                    start, offset = match.span()
                    draw(data[start:offset])
                    continue
                match = match_csi(data, offset)
                if match:
                    offset = match.end()
                    dispatch_csi(self._csi_handlers, self.csi, match.group(1), match.group(2))
                    continue
                taking_plain_text = False
            else:
                taking_plain_text = send(data[offset : offset + 1])
                offset += 1
        self._taking_plain_text = taking_plain_text

    def _parser_fsm(self):  # type: ignore[override]
        """The parser coroutine: pyte's structure (one character per ``send``), new CSI/OSC/DCS rules."""
        listener = self.listener
        assert listener is not None
        draw = listener.draw
        basic = self.basic
        basic_dispatch = {char: getattr(listener, name) for char, name in basic.items()}
        escape_dispatch = {char: getattr(listener, name) for char, name in self.escape.items()}
        sharp_dispatch = {char: getattr(listener, name) for char, name in self.sharp.items()}
        csi_names = self.csi
        csi_dispatch = {char: getattr(listener, name) for char, name in csi_names.items()}
        self._csi_handlers = csi_dispatch

        ESC, CSI_C1, OSC_C1 = ctrl.ESC, ctrl.CSI_C1, ctrl.OSC_C1
        ST_C1, BEL = ctrl.ST_C1, ctrl.BEL
        CAN_OR_SUB = ctrl.CAN + ctrl.SUB
        IN_CSI = "".join([ctrl.BEL, ctrl.BS, ctrl.HT, ctrl.LF, ctrl.VT, ctrl.FF, ctrl.CR])
        NUL_OR_DEL = ctrl.NUL + ctrl.DEL

        while True:
            char = yield True
            if char == ESC:
                char = yield None
                if char == "[":
                    char = CSI_C1
                elif char == "]":
                    char = OSC_C1
                elif char in "P_^X":  # DCS, APC, PM, SOS: swallow up to ST
                    while True:
                        char = yield None
                        if char == ST_C1 or char in CAN_OR_SUB:
                            break
                        if char == ESC:
                            char = yield None
                            if char == "\\":
                                break
                    continue
                elif char == "#":
                    handler = sharp_dispatch.get((yield None))
                    if handler is not None:
                        handler()
                    continue
                elif char == "%":
                    self.select_other_charset((yield None))
                    continue
                elif char in "()":
                    code = yield None
                    listener.define_charset(code, mode=char)
                    continue
                else:
                    handler = escape_dispatch.get(char)
                    if handler is not None:
                        handler()
                    continue

            if char in basic:
                if (char == ctrl.SI or char == ctrl.SO) and self.use_utf8:
                    continue
                basic_dispatch[char]()
            elif char == CSI_C1:
                raw = ""
                intermediate = False
                while True:
                    char = yield None
                    if "0" <= char <= "?":  # parameter bytes: digits ; : < = > ?
                        raw += char
                    elif " " <= char <= "/":  # intermediate bytes
                        intermediate = True
                    elif char in IN_CSI:
                        basic_dispatch[char]()
                    elif char in CAN_OR_SUB or char == ESC:
                        break  # sequence aborted
                    else:
                        if not intermediate:
                            self._dispatch_csi(csi_dispatch, csi_names, raw, char)
                        break
            elif char == OSC_C1:
                param = ""
                while True:
                    char = yield None
                    if char == BEL or char == ST_C1:
                        break
                    if char == ESC:
                        char = yield None
                        if char == "\\":
                            break
                    if len(param) < _MAX_STRING:
                        param += char
                code, _, text = param.partition(";")
                if code in ("0", "1"):
                    listener.set_icon_name(text)
                if code in ("0", "2"):
                    listener.set_title(text)
            elif char not in NUL_OR_DEL:
                draw(char)

    def _dispatch_csi(self, dispatch: dict, names: dict, raw: str, final: str) -> None:
        """Run one complete CSI sequence: ``raw`` holds its parameter bytes, ``final`` its final byte."""
        handler = dispatch.get(final)
        if handler is None:
            return
        private = False
        if raw and raw[0] in "<=>?":
            if raw[0] != "?":
                return  # <, = and > sequences (XTMODKEYS, kitty keyboard, XTVERSION...) are ignored
            private = True
            raw = raw[1:]
            if names[final] not in _PRIVATE_OK:
                return
        params: list[int] = []
        try:
            for part in raw.split(";"):
                if ":" in part:
                    params.extend(_colon_params(part) if final == "m" else [int(part.split(":")[0] or 0)])
                else:
                    params.append(min(int(part or 0), 9999))
            if private:
                handler(*params, private=True)
            else:
                handler(*params)
        except (TypeError, ValueError):
            # Wrong parameter count or bytes a handler cannot use: a real terminal ignores the sequence.
            self.listener.debug(final, raw)


def _colon_params(part: str) -> list[int]:
    """Turn one SGR colon group (ITU T.416: ``4:3``, ``38:5:n``, ``38:2::r:g:b``) into pyte's ``;`` form."""
    fields = [int(f) if f else 0 for f in part.split(":")]
    head = fields[0]
    if head == 4:
        return [4] if len(fields) < 2 or fields[1] else [24]
    if head in (38, 48) and len(fields) >= 3:
        if fields[1] == 5:
            return [head, 5, fields[2]]
        if fields[1] == 2:
            rgb = fields[-3:] if len(fields) >= 5 else fields[2:] + [0] * (3 - len(fields[2:]))
            return [head, 2, *rgb]
    return []  # 58 (underline colour) and unknown groups: nothing pyte can show


class Emulator:
    """A screen of ``columns`` x ``lines`` cells fed with the raw bytes a child writes to its pty.

    respond: receives the replies the child asked for (cursor-position reports) as text, to be
    written back to the pty. The emulator never blocks and never raises on any input.
    """

    def __init__(self, columns: int, lines: int, respond: Callable[[str], None] | None = None) -> None:
        self.screen = TerminalScreen(columns, lines, respond)
        self.stream = TerminalStream(self.screen)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, data: bytes) -> None:
        """Parse ``data`` (bytes, any split: a UTF-8 character may straddle two calls)."""
        text = self._decoder.decode(data)
        if text:
            self.stream.feed(text)

    def resize(self, lines: int, columns: int) -> None:
        """Change the grid to ``lines`` x ``columns`` cells (the child is told separately, by the pty)."""
        self.screen.resize(lines, columns)
        self.screen.dirty.update(range(lines))

    @property
    def size(self) -> tuple[int, int]:
        """(lines, columns)."""
        return self.screen.lines, self.screen.columns

    @property
    def application_cursor_keys(self) -> bool:
        """DECCKM: arrows, Home and End send ``ESC O x`` instead of ``CSI x``."""
        return DECCKM in self.screen.mode

    @property
    def bracketed_paste(self) -> bool:
        """Mode 2004: pasted text must be wrapped in ``CSI 200 ~`` ... ``CSI 201 ~``."""
        return BRACKETED_PASTE in self.screen.mode

    @property
    def focus_events(self) -> bool:
        """Mode 1004: the child wants ``CSI I`` when the terminal gains the focus, ``CSI O`` when it
        loses it (a tmux client asks for them when its server has ``focus-events on``)."""
        return FOCUS_EVENTS in self.screen.mode

    @property
    def title(self) -> str:
        """The window title set by OSC 0 or OSC 2 ("" until set)."""
        return self.screen.title

    def display(self) -> list[str]:
        """The visible lines as text, one string of ``columns`` cells per line."""
        return self.screen.display

    def take_dirty(self) -> set[int]:
        """The line numbers to draw again since the last call, changed or scrolled (and forget them)."""
        dirty = {y for y in self.screen.dirty if 0 <= y < self.screen.lines}
        self.screen.dirty.clear()
        return dirty

    def line_key(self, y: int) -> int | None:
        """An identity of the line shown at row ``y`` (None: a blank row never written). It follows
        the line when it scrolls to another row and is listed by :meth:`take_changed` once the line
        changes, so a picture of the line can be kept under it."""
        line = self.screen.buffer.get(y)
        return None if line is None else id(line)

    def drawn(self, key: int) -> None:
        """A picture of line ``key`` (:meth:`line_key`) was just made from its current content:
        a change to it noted since the last :meth:`take_changed` is in that picture already."""
        self.screen.dirty.changed.discard(key)

    def take_changed(self) -> set[int]:
        """The line keys (:meth:`line_key`) whose lines changed since the last call (and forget them)."""
        changed = self.screen.dirty.changed
        self.screen.dirty.changed = set()
        return changed
