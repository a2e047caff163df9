"""The refinery queue: merge requests of every rig (DESIGN section 6), live ones first (merging,
queued, failed, conflict), then the last few merged or rejected (the cockpit's ``r`` retries the MR under the cursor)."""

from __future__ import annotations

from core.mq import MR
from widgets.listfilter import matches
from widgets.safe_text import plain
from widgets.tables import PlainTable, size_columns

#: Style of each MR status: weight, reverse video and strike only, so the words read in any theme.
STATUS_STYLE = {
    "merging": "bold",
    "queued": "",
    "failed": "bold reverse",
    "conflict": "bold reverse",
    "merged": "dim",
    "rejected": "dim strike",
    "pr_open": "dim",
}


class RefineryQueue(PlainTable):
    """Merge requests, one row each: MR id, rig, bead, state, gate runs, reason (all shown as text);
    ``filter``: the ``/`` filter (:func:`widgets.listfilter.matches` on id, rig, bead, state, reason).
    The cockpit adds its retry key in a subclass (:mod:`gastown_tui.screens.panels`)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.filter = ""
        self._mrs: list[MR] = []
        self._shown: tuple = ()

    def on_mount(self) -> None:
        for label, key in (
            ("MR", "id"),
            ("rig", "rig"),
            ("bead", "bead"),
            ("state", "state"),
            ("gates", "gates"),
            ("note", "note"),
        ):
            self.add_column(label, key=key)

    def update_from(self, mrs: list[MR]) -> None:
        """Show ``mrs`` that pass the filter, in order, keeping the cursor on the same MR."""
        self._mrs = list(mrs)
        mrs = [m for m in mrs if matches(self.filter, m.id, m.rig, m.bead, m.status, m.reason)]
        shown = tuple((m.id, m.status, m.gate_runs, m.reason) for m in mrs)
        if shown == self._shown:
            return
        self._shown = shown
        keep = self.cursor_mr
        self.clear()
        for m in mrs:
            self.add_row(
                m.id,
                m.rig,
                m.bead or "",
                plain(m.status, STATUS_STYLE.get(m.status, "")),
                str(m.gate_runs),
                (m.reason or "").splitlines()[0][:60] if m.reason else "",
                key=m.id,
            )
        size_columns(self)
        if keep is not None and keep in {m.id for m in mrs}:
            self.move_cursor(row=self.get_row_index(keep))

    def set_filter(self, text: str) -> None:
        """Show only the merge requests matching ``text`` (the ``/`` filter; "" shows them all)."""
        self.filter = text
        self.update_from(self._mrs)

    @property
    def cursor_mr(self) -> str | None:
        """The MR id under the cursor, or None."""
        return self.cursor_key
