"""A scrollable view of many lines of Rich ``Text`` (a diff, a log), drawn only where visible.

Toolong's shape (``log_lines.py``, STYLE.md): a ``ScrollView`` with the line API whose virtual size is
the lines' count and widest line; :meth:`TextLines.render_line` renders a line the first time it is
shown and keeps its ``Strip`` in an LRU cache, so a 5,000-line diff costs what the visible 40 lines
cost, where a ``Static`` holding it wraps and measures every line at each layout. Lines never wrap
(``left``/``right`` scroll). The lines are ``Text`` values given by the caller, shown as they are:
never parsed as markup (agent-written text is made one with :func:`widgets.safe_text.plain`).
"""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: Rendered lines kept.
CACHED_LINES = 1024


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
        self._lines: list[Text] = []
        self._strips: LRUCache[int, Strip] = LRUCache(CACHED_LINES)

    @property
    def lines(self) -> list[Text]:
        """The lines shown (the list given to :meth:`set_lines`)."""
        return self._lines

    @property
    def plain(self) -> str:
        """The lines' characters, joined with newlines."""
        return "\n".join(line.plain for line in self._lines)

    def set_lines(self, lines: list[Text]) -> None:
        """Show ``lines`` (one row each; tabs expanded), scrolled to the top."""
        for line in lines:
            line.expand_tabs()
        self._lines = lines
        self._strips.clear()
        self.virtual_size = Size(max((line.cell_len for line in lines), default=0), len(lines))
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
            segments = self._lines[index].render(self.app.console, end="")
            strip = Strip(list(Segment.apply_style(segments, style)))
            self._strips[index] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style)
