"""The merge request detail view (issue 21, part 3): the MR, its batch, its gates and their logs (the
failing lines first, then the whole log, scrollable), the refinery's culprit verdict and the
follow-up bead it filed; ``r`` retries it, ``x`` rejects it with a reason (the rules ``gt mq retry``
and ``gt mq reject`` follow: :func:`core.mq.retry`, :func:`core.mq.reject`).

Opened with ``enter`` on the refinery panel (:func:`open_merge_request`); ``escape`` goes back. The
data is one :func:`core.inspect.mr_detail` read in a thread worker each time the view is shown, and
again after an action (and on ``R``).
Gate output and notes are agents' text: shown as text, never markup (the core read strips control
characters; everything is ``Text``, the log in a :class:`widgets.text_lines.TextLines`, which draws
only the lines in view). The log pane's lines are made in the worker too, for the log shown first,
so the event loop only puts them in the pane.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static

from core.beads.store import BeadStore
from core.errors import GtError
from core.gates import GateLog
from core.inspect import MRDetail, mr_detail
from core.townview import TownSnapshot
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.kept import push_kept
from gastown_tui.screens.modals import _Dialog
from widgets.footer import CockpitFooter
from widgets.safe_text import plain
from widgets.tables import PlainTable, size_columns
from widgets.text_lines import TextLines

#: Name of the installed merge request detail screen (:func:`open_merge_request`).
SCREEN = "merge-request-detail"


def log_view(log: GateLog) -> list[Text | str]:
    """The lines the log pane shows for ``log``: its outcome, the failing lines first (bold), then the
    whole log (all of it agents' text, already free of control characters, shown as text: the log's
    own lines as ``str``, made ``Text`` only when drawn, :class:`widgets.text_lines.TextLines`)."""
    lines: list[Text | str] = [
        Text.assemble((f"{log.gate}: {log.outcome}", "bold"), "    ", plain(log.path.name), end="")
    ]
    if log.failing:
        lines += [Text(""), Text("── failing lines ──", style="bold"), *(plain(f, "bold") for f in log.failing)]
    lines += [Text(""), Text("── whole log" + (" (its end)" if log.truncated else "") + " ──", style="bold")]
    lines += log.text.rstrip("\n").split("\n")
    return lines


class RejectModal(_Dialog):
    """Ask why merge request ``mr_id`` is rejected; Enter rejects. Dismisses with the reason or None."""

    def __init__(self, mr_id: str) -> None:
        super().__init__()
        self.mr_id = mr_id

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(plain(f"Reject {self.mr_id}"), classes="dialog-title")
            yield Input(placeholder="why (kept as the MR's note)", id="reject-reason")
            yield Static("enter reject · esc cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value.strip())


def open_merge_request(app: App, mr_id: str) -> None:
    """Show the detail of merge request ``mr_id`` on the kept screen
    (:func:`gastown_tui.screens.kept.push_kept`): opening it again only reads the MR and draws it."""
    push_kept(app, SCREEN, MergeRequestScreen, lambda: MergeRequestScreen(mr_id), lambda screen: screen.retarget(mr_id))


class MergeRequestScreen(Screen):
    """The detail of merge request ``mr_id``: facts, verdict, batch and follow-up on the left, the
    gate logs on the right. ``detail`` holds the last read (None before the first)."""

    BINDINGS = bindings("merge_request")

    def __init__(self, mr_id: str) -> None:
        super().__init__()
        self.mr_id = mr_id
        self.detail: MRDetail | None = None
        self._logs: dict[int, list[Text | str]] = {}  # log index -> its pane's lines (log_view)
        self._log_shown: int | None = None

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static(plain(f"Merge request {self.mr_id}"), id="mr-title")
        with Horizontal(id="mr-body"):
            with VerticalScroll(id="mr-info"):
                yield Static("reading...", id="mr-summary")
                yield Static("", id="mr-verdict")
                yield Static("", id="mr-batch")
            with Vertical(id="mr-gates"):
                yield PlainTable(id="mr-logs", cursor_type="row")
                yield TextLines(id="mr-log")
        yield CockpitFooter()

    def on_mount(self) -> None:
        table = self.query_one("#mr-logs", PlainTable)
        for label, key in (("gate", "gate"), ("outcome", "outcome"), ("log", "log")):
            table.add_column(label, key=key)
        table.border_title = "Gate runs (newest first)"
        self.query_one("#mr-verdict", Static).border_title = "Verdict"
        self.query_one("#mr-batch", Static).border_title = "Batch"

    def on_screen_resume(self) -> None:
        """Each time the view is shown: a fresh read of the MR."""
        self.query_one("#mr-logs", PlainTable).focus()
        self.load()

    def retarget(self, mr_id: str) -> None:
        """Show merge request ``mr_id`` from now on (the kept screen, :func:`open_merge_request`): what
        the view showed of the previous one is cleared until the read comes."""
        self.mr_id, self.detail = mr_id, None
        self._logs, self._log_shown = {}, None
        self.query_one("#mr-title", Static).update(plain(f"Merge request {mr_id}"))
        self.query_one("#mr-summary", Static).update("reading...")
        for part in ("#mr-verdict", "#mr-batch"):
            self.query_one(part, Static).update("")
        self.query_one("#mr-logs", PlainTable).clear()
        self.query_one("#mr-log", TextLines).set_lines([])

    # ---- data -----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="mr-detail")
    def load(self) -> None:
        """Read the MR (in a thread) and show it."""
        try:
            with BeadStore(self.cockpit.town) as store:
                detail = mr_detail(store, self.mr_id)
        except GtError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        first = self._first_log(detail)
        logs = {} if first is None else {first: log_view(detail.logs[first])}
        self.app.call_from_thread(self.show, detail, logs)

    @staticmethod
    def _first_log(d: MRDetail) -> int | None:
        """The log shown when the view opens: the one that convicted the MR, else the newest."""
        if not d.logs:
            return None
        return d.convicting if d.convicting is not None else 0

    def show(self, d: MRDetail, logs: dict[int, list[Text | str]] | None = None) -> None:
        """Render ``d``; the log pane shows the log that convicted the MR (else the newest). ``logs``:
        pane lines already made (:func:`log_view`), by log index."""
        self.detail = d
        self._logs, self._log_shown = dict(logs or {}), None
        m = d.mr
        self.query_one("#mr-title", Static).update(
            Text.assemble(
                "Merge request ",
                (m.id, "bold"),
                " · ",
                plain(m.rig),
                " · ",
                plain(m.bead or "-"),
                " · ",
                plain(m.status, "bold reverse" if m.status in ("failed", "conflict") else "bold"),
                end="",
            )
        )
        self.query_one("#mr-summary", Static).update(self._summary(d))
        self.query_one("#mr-verdict", Static).update(self._verdict(d))
        self.query_one("#mr-batch", Static).update(self._batch(d))
        table = self.query_one("#mr-logs", PlainTable)
        table.clear()
        for i, log in enumerate(d.logs):
            mark = "✗ " if i == d.convicting else ""
            table.add_row(
                plain(f"{mark}{log.gate}", "bold" if i == d.convicting else ""),
                plain(log.outcome, "bold reverse" if log.ok is False else ""),
                log.path.name,
                key=str(i),
            )
        size_columns(table)
        pick = self._first_log(d)
        if pick is not None:
            self._show_log(pick)
            table.move_cursor(row=pick)
        else:
            self.query_one("#mr-log", TextLines).set_lines([Text("no gate has run for this merge request yet")])

    def apply_snapshot(self, snap: TownSnapshot) -> None:
        """A new snapshot of the town: when it shows this MR moved on (another status, another gate
        run), read it again, so the view follows the refinery."""
        d = self.detail
        now = next((m for m in snap.mrs if m.id == self.mr_id), None)
        if d is not None and now is not None and (now.status, now.gate_runs) != (d.mr.status, d.mr.gate_runs):
            self.load()

    def _show_log(self, index: int) -> None:
        if self.detail is None or not 0 <= index < len(self.detail.logs) or index == self._log_shown:
            return
        self._log_shown = index
        lines = self._logs.get(index)
        if lines is None:
            lines = self._logs[index] = log_view(self.detail.logs[index])
        self.query_one("#mr-log", TextLines).set_lines(lines)

    def on_data_table_row_highlighted(self, event: PlainTable.RowHighlighted) -> None:
        event.stop()
        self._show_log(event.cursor_row)

    def on_data_table_row_selected(self, event: PlainTable.RowSelected) -> None:
        """Enter on a gate run: read its log."""
        event.stop()
        self.query_one("#mr-log", TextLines).focus()

    @staticmethod
    def _summary(d: MRDetail) -> Text:
        m = d.mr
        rows = [
            ("branch", m.branch),
            ("head", m.head_sha[:10]),
            ("base", (m.base_sha or "-")[:10]),
            ("polecat", m.polecat or "-"),
            ("priority", f"P{m.priority}"),
            ("retries", str(m.retry_count)),
            ("gate runs", str(m.gate_runs)),
            ("note", m.reason or "-"),
        ]
        text = Text(end="")
        for label, value in rows:
            text.append(f"{label:<10}", style="bold")
            text.append_text(plain(value))
            text.append("\n")
        text.rstrip()
        return text

    @staticmethod
    def _verdict(d: MRDetail) -> Text:
        text = plain(d.verdict, "bold")
        if d.follow_up is not None:
            bead, title, status = d.follow_up
            text.append("\nfollow-up ")
            text.append_text(plain(bead, "bold"))
            text.append_text(plain(f" [{status}] {title}"))
        return text

    @staticmethod
    def _batch(d: MRDetail) -> Text:
        b = d.batch
        if b is None:
            return Text("not in a batch yet", style="italic", end="")
        text = Text(f"batch {b.id}: {b.outcome}, {b.mrs} MRs, {b.gate_runs} gate runs", end="")
        if b.wall_s is not None:
            text.append(f", {b.wall_s:.1f} s")
        for mr_id, status in d.batch_mrs:
            text.append("\n  ")
            text.append_text(plain(mr_id, "bold" if mr_id == d.mr.id else ""))
            text.append_text(plain(f" {status}"))
        return text

    # ---- actions --------------------------------------------------------------------------------
    def action_close(self) -> None:
        self.app.pop_screen()

    def action_retry(self) -> None:
        """Put the MR back in the queue (:func:`core.mq.retry` says which MRs can be: its refusal is a
        toast)."""
        self.cockpit.actions.retry_mr(self.mr_id, done=self.load)

    def action_reject(self) -> None:
        """Ask why, then take the MR out of the queue for good (:func:`core.mq.reject`)."""
        self.app.push_screen(
            RejectModal(self.mr_id),
            lambda reason: reason and self.cockpit.actions.reject_mr(self.mr_id, reason, done=lambda _m: self.load()),
        )

    def action_refresh(self) -> None:
        self.load()
