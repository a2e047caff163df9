"""The problems view: stalled, GUPP-violating, zombie, stuck and waiting polecats, merge requests that
failed or conflict, and unacknowledged escalations (:class:`core.townview.Problem`, the rule of
:func:`core.townview.read_snapshot`), with actions: open the agent, its detail view, nudge, restart
(resume a zombie on its hook), nuke, retry a failed merge request, acknowledge an escalation. Details
quote escalations and bead ids that agents write: the table shows them as text (:class:`widgets.tables.PlainTable`)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from core import nudge
from core.townview import Problem, TownSnapshot, age
from gastown_tui.actions import Cockpit, cockpit_of
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.modals import ConfirmModal, NudgeModal
from widgets.tables import PlainTable

KIND_LABEL = {
    "zombie": "ZOMBIE",
    "stuck": "STUCK",
    "worktree_lost": "WORKTREE LOST",
    "escalation": "ESCALATION",
    "merge_failed": "MERGE FAILED",
    "merge_conflict": "CONFLICT",
    "gupp_violation": "GUPP",
    "stalled": "STALLED",
    "waiting": "WAITING",
}
#: Problems whose polecat holds a hook with no live session: a restart resumes it there.
RESTARTABLE = ("zombie", "stuck", "worktree_lost")


class ProblemsScreen(Screen):
    """A table of problems, most urgent first; escape or p goes back."""

    BINDINGS = bindings("problems")

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[Problem] = []
        self._shown: tuple = ()

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        yield Static("Problems", id="problems-title")
        yield PlainTable(id="problems", cursor_type="row")
        yield Static("", id="problems-empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(PlainTable)
        for label, key in (
            ("kind", "kind"),
            ("rig", "rig"),
            ("polecat", "polecat"),
            ("bead", "bead"),
            ("for", "since"),
            ("detail", "detail"),
        ):
            table.add_column(label, key=key)
        if self.cockpit.snapshot is not None:
            self.apply_snapshot(self.cockpit.snapshot)
        table.focus()

    def apply_snapshot(self, snap: TownSnapshot) -> None:
        """Show ``snap.problems``."""
        self.problems = snap.problems
        now = snap.taken_at
        shown = tuple((p.kind, p.rig, p.polecat, p.bead, p.detail) for p in snap.problems)
        table = self.query_one(PlainTable)
        self.query_one("#problems-empty", Static).update(
            ""
            if snap.problems
            else "No problems: every hooked polecat is working, no merge failed and nothing is escalated."
        )
        if shown == self._shown:
            return
        self._shown = shown
        row = table.cursor_row
        table.clear()
        for p in snap.problems:
            table.add_row(
                Text(KIND_LABEL[p.kind], style="bold"),
                p.rig or "",
                p.polecat or "",
                p.bead or "",
                age(now - p.since),
                p.detail,
            )
        if snap.problems:
            table.move_cursor(row=min(row, len(snap.problems) - 1))

    def on_data_table_row_selected(self, event: PlainTable.RowSelected) -> None:
        """Enter on a row (the table takes the key first): open its agent."""
        event.stop()
        self.action_open()

    def _current(self) -> Problem | None:
        table = self.query_one(PlainTable)
        if not self.problems or table.cursor_row >= len(self.problems):
            return None
        return self.problems[table.cursor_row]

    def action_open(self) -> None:
        """Back to the main screen with the problem's polecat selected."""
        p = self._current()
        if p is None or not p.polecat or not p.rig:
            return
        self.app.pop_screen()
        self.cockpit.select_agent(f"{p.rig}/{p.polecat}")

    def action_detail(self) -> None:
        """Open the detail view of the problem's polecat (its diff, transcript, state history)."""
        p = self._current()
        if p is None or not p.polecat or not p.rig:
            self.notify("detail applies to a polecat's problem", severity="warning")
            return
        from gastown_tui.screens.polecat import open_polecat

        open_polecat(self.app, p.rig, p.polecat)

    def action_nudge(self) -> None:
        """Nudge the problem's polecat (its session must be alive)."""
        p = self._current()
        if p is None or not p.session or p.kind in RESTARTABLE:
            self.notify("only a live session can be nudged", severity="warning")
            return
        target = nudge.target_of(f"{p.rig}/{p.polecat}" if p.rig and p.polecat else None, p.session)
        self.app.push_screen(
            NudgeModal(f"{p.rig}/{p.polecat}"), lambda text: text and self.cockpit.actions.nudge(target, text)
        )

    def action_restart(self) -> None:
        """Restart a zombie's (or a stuck polecat's) session on the same hook (``gt sling --resume``)."""
        p = self._current()
        if p is None or p.kind not in RESTARTABLE or not p.bead:
            self.notify("restart applies to zombies and stuck polecats (bead still hooked)", severity="warning")
            return
        self.cockpit.actions.resume(p.bead)

    def action_nuke(self) -> None:
        """Nuke the problem's polecat, after a confirmation."""
        p = self._current()
        if p is None or not p.polecat or not p.rig:
            return
        rig, name = p.rig, p.polecat
        self.app.push_screen(
            ConfirmModal(f"Nuke polecat {rig}/{name}?"), lambda yes: yes and self.cockpit.actions.nuke(rig, name)
        )

    def action_retry_mr(self) -> None:
        """Put the failed or conflicting merge request under the cursor back in the queue (``gt mq retry``)."""
        p = self._current()
        if p is None or p.mr is None:
            self.notify("retry applies to failed and conflicting merge requests", severity="warning")
            return
        self.cockpit.actions.retry_mr(p.mr)

    def action_acknowledge(self) -> None:
        """Acknowledge the escalation under the cursor (closes its bead)."""
        p = self._current()
        if p is None or p.kind != "escalation" or p.bead is None:
            self.notify("acknowledge applies to escalations", severity="warning")
            return
        self.cockpit.actions.acknowledge(p.bead)
