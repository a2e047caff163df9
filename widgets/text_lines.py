"""A scrollable view of many lines of Rich ``Text`` (a diff, a log), drawn only where visible.

Toolong's shape (``log_lines.py``, STYLE.md): a ``ScrollView`` with the line API whose virtual size is
the lines' count and widest line; :meth:`TextLines.render_line` renders a line the first time it is
shown and keeps its ``Strip`` in an LRU cache, so a 5,000-line diff costs what the visible 40 lines
cost, where a ``Static`` holding it wraps and measures every line at each layout. Lines never wrap
(``left``/``right`` scroll). A line is a ``Text`` given by the caller, shown as it is, or a ``str``
made a ``Text`` only when it is first drawn, by the caller's ``styler`` (a diff's lines are
highlighted one by one as they scroll into view, not all up front) or as plain text. Neither is ever
parsed as markup (agent-written ``Text`` is made with :func:`widgets.safe_text.plain`; a ``str``
line must hold no control characters: :func:`core.plaintext.strip_controls`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: Rendered lines kept.
CACHED_LINES = 1024

#: Makes a ``str`` line the ``Text`` drawn (one line, no newline in it).
Styler = Callable[[str], Text]


class TextLines(ScrollView, can_focus=True):
    """Lines of ``Text``, one row each, scrolled with the keys and the mouse (ScrollView's)."""

    DEFAULT_CSS = """
    TextLines {
        background: $surface;
        overflow: auto auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._lines: Sequence[Text | str] = []
        self._styler: Styler = Text
        self._strips: LRUCache[int, Strip] = LRUCache(CACHED_LINES)

    @property
    def lines(self) -> Sequence[Text | str]:
        """The lines shown (as given to :meth:`set_lines`, tabs expanded)."""
        return self._lines

    @property
    def plain(self) -> str:
        """The lines' characters, joined with newlines."""
        return "\n".join(line if isinstance(line, str) else line.plain for line in self._lines)

    def line_text(self, index: int) -> Text:
        """The ``Text`` line ``index`` is drawn as (a ``str`` line through the styler). IndexError
        outside the lines."""
        line = self._lines[index]
        return self._styler(line) if isinstance(line, str) else line

    def set_lines(self, lines: Sequence[Text | str], styler: Styler | None = None) -> None:
        """Show ``lines`` (one row each; tabs expanded), scrolled to the top. ``styler`` makes each
        ``str`` line its ``Text`` when it is first drawn (default: the characters, unstyled)."""
        shown: list[Text | str] = []
        for line in lines:
            if isinstance(line, str):
                shown.append(line.expandtabs() if "\t" in line else line)
            else:
                line.expand_tabs()
                shown.append(line)
        self._lines = shown
        self._styler = styler or Text
        self._strips.clear()
        widest = max((cell_len(line) if isinstance(line, str) else line.cell_len for line in shown), default=0)
        self.virtual_size = Size(widest, len(shown))
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def notify_style_update(self) -> None:
        """The theme or the styles changed: render the lines again with the new background."""
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        if not 0 <= index < len(self._lines):
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None:
            segments = self.line_text(index).render(self.app.console, end="")
            strip = Strip(list(Segment.apply_style(segments, style)))
            self._strips[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style)
