"""The boards panel: the open items of the town's shared boards, their claims and this town's part
in each (issue 22, :mod:`core.board_work`). Item titles are other towns' agent text: every cell is
plain text (:func:`widgets.safe_text.plain`), never markup.

Mounting (for the cockpit): ``BoardItems(id="board-items")`` in a panel; a timer-driven thread
worker calls ``core.board_work.rows(town, db, fetch=True)`` every ``[board] poll_interval`` seconds
(it runs git over the network: never on the UI thread) and hands the list to :meth:`update_from`.
Post, claim and release keys call ``core.board.post``, ``core.board_work.claim`` and
``core.board_work.release`` with :attr:`cursor_item` in a worker, and show a GtError as a one-line
notification.
"""

from __future__ import annotations

import time

from core.board_work import Row
from widgets.safe_text import plain
from widgets.tables import PlainTable, size_columns


class BoardItems(PlainTable):
    """Board items, one row each: board, item, posting town, claim (town and seconds left, or
    ``expired``), this town's state, title."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._shown: tuple = ()

    def on_mount(self) -> None:
        for label, key in (
            ("board", "board"),
            ("item", "item"),
            ("from", "from"),
            ("claim", "claim"),
            ("mine", "mine"),
            ("title", "title"),
        ):
            self.add_column(label, key=key)

    def update_from(self, rows: list[Row], now: float | None = None) -> None:
        """Show ``rows`` in order, keeping the cursor on the same item. now: Unix seconds (the
        claims' time left is counted from it)."""
        now = time.time() if now is None else now
        cells = []
        for r in rows:
            claim = "-"
            if r.claim is not None:
                left = r.claim.expires_at - now
                claim = f"{r.claim.town} {left:.0f}s" if left > 0 else f"{r.claim.town} expired"
            mine = f"{r.link.role} {r.link.state}" if r.link else ""
            cells.append((f"{r.board}/{r.item.id}", r.board, r.item.id, r.item.town, claim, mine, r.item.title))
        shown = tuple(cells)
        if shown == self._shown:
            return
        self._shown = shown
        keep = self.cursor_item
        self.clear()
        for key, *values in cells:
            self.add_row(*(plain(v[:60]) for v in values), key=key)
        size_columns(self)
        if keep is not None and keep in {c[0] for c in cells}:
            self.move_cursor(row=self.get_row_index(keep))

    @property
    def cursor_item(self) -> str | None:
        """``board/item`` under the cursor, or None."""
        return self.cursor_key
