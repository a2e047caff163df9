"""The cockpit's actions without a screen (issue 17): :class:`gastown_tui.actions.CockpitActions` on a
real town (SQLite, git) with a runner that runs each job at once, as the app's thread worker would
(a refusal becomes a toast); the key table that makes every binding; the screens' imports."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from core import convoys
from core.beads.store import BeadStore
from core.errors import GtError
from core.sessions import SessionHost
from core.town import Town
from gastown_tui.actions import CockpitActions, FormulaRun, NewBead

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


class Cockpit:
    """A runner and a toast list: what the app gives the actions (``run_blocking``, ``notify``)."""

    def __init__(self) -> None:
        self.toasts: list[tuple[str, str, str]] = []

    def run(self, what: str, fn: Callable[[], T], done: Callable[[T], None] | None = None) -> None:
        try:
            result = fn()
        except GtError as exc:
            self.notify(str(exc), title=f"{what}: refused", severity="error")
            return
        if done is not None:
            done(result)

    def notify(
        self, message: str, *, title: str = "", severity: Any = "information", timeout: float | None = None
    ) -> None:
        self.toasts.append((title, message, severity))


@pytest.fixture
def acting(town: Town, monkeypatch: pytest.MonkeyPatch) -> tuple[CockpitActions, Cockpit]:
    monkeypatch.setenv("GT_LEDGER_SYNC", "now")
    monkeypatch.setenv("BD_ACTOR", "tester")
    cockpit = Cockpit()
    return CockpitActions(town, SessionHost(town), cockpit.run, cockpit.notify), cockpit


def test_an_action_is_followed_by_the_ledger_sync_as_a_gt_command_is(town: Town, acting) -> None:
    actions, cockpit = acting
    actions.create_bead(NewBead("Filed in the cockpit [b]not markup[/b]", "", None, 1))
    ((title, bead, _),) = cockpit.toasts
    assert title == "bead created"
    ledger = [json.loads(line) for line in town.ledger_path.read_text(encoding="utf-8").splitlines()]
    assert any(row["id"] == bead and row["title"].startswith("Filed in the cockpit") for row in ledger)
    with BeadStore(town) as store:
        assert store.dirty() == []


def test_a_ledger_commit_that_waits_is_a_warning_toast_and_a_refusal_asks_nothing(town: Town, acting) -> None:
    actions, cockpit = acting
    lock = town.root / ".git" / "index.lock"
    lock.write_bytes(b"")  # a crashed git command's lock: the ledger commit waits
    actions.create_convoy("held up", [])
    assert [t[0] for t in cockpit.toasts] == ["ledger", "convoy created"]
    assert "index.lock" in cockpit.toasts[0][1] and cockpit.toasts[0][2] == "warning"
    cockpit.toasts.clear()
    actions.acknowledge("hq-nosuch")  # refused: nothing changed, no sync asked, one toast
    assert [(t[0], t[2]) for t in cockpit.toasts] == [("acknowledge: refused", "error")]


def test_the_cockpit_pours_through_the_pipeline_gt_formula_pour_uses(town: Town, acting, run_gt) -> None:
    actions, cockpit = acting
    actions.pour(FormulaRun("shiny", {"feature": "dark mode"}, None))
    ((title, what, _),) = cockpit.toasts
    assert title == "poured shiny"
    res = run_gt("formula", "pour", "shiny", "--var", "feature=dark mode", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    by_cli = json.loads(res.stdout)
    with BeadStore(town) as store:
        cockpit_root = what.split()[0]
        cockpit_steps = store.get(cockpit_root).metadata
        cli_root = store.get(by_cli["root"])
        assert cockpit_steps["formula"] == cli_root.metadata["formula"] == "shiny"
        assert cockpit_steps["vars"] == cli_root.metadata["vars"]
        assert f"({len(by_cli['steps'])} steps)" in what
        assert len(convoys.convoys_tracking(store, f"{cockpit_root}.1")) == 1


def test_every_binding_comes_from_the_key_table_with_its_id() -> None:
    """The app's, the screens' and the panels' BINDINGS are the key table's rows (same key, same id),
    and the widgets bind no cockpit action of their own."""
    from gastown_tui.app import CockpitApp
    from gastown_tui.screens import bead, convoy, grid, help, keys, ledger_dialogs, mail, main, modals, panels, problems
    from widgets.agents import AgentsTree
    from widgets.beads import ReadyBeads
    from widgets.convoys import ConvoyList
    from widgets.refinery import RefineryQueue

    rows = {k.id: k for k in keys.KEYS}
    assert len(rows) == len(keys.KEYS)
    owners = [
        CockpitApp,
        main.MainScreen,
        panels.AgentsPanel,
        panels.ReadyPanel,
        panels.RefineryPanel,
        panels.ConvoysPanel,
        problems.ProblemsScreen,
        grid.GridScreen,
        mail.MailScreen,
        help.HelpScreen,
        modals._Dialog,
        modals.NewBeadModal,
        modals.FormulaModal,
        modals.ConfirmModal,
        bead.BeadScreen,
        bead.DepsTable,
        convoy.ConvoyScreen,
        convoy.TrackedTable,
        ledger_dialogs.BeadEditModal,
        ledger_dialogs.CommentModal,
        ledger_dialogs.ComposeMailModal,
    ]
    for owner in owners:
        assert owner.BINDINGS, owner
        for b in owner.BINDINGS:
            assert b.id in rows and rows[b.id].key == b.key, (owner, b)
    for widget in (AgentsTree, ReadyBeads, RefineryQueue, ConvoyList):
        assert not any(b.action.startswith("screen.") for b in widget.__dict__.get("BINDINGS", [])), widget
    # one id moves a key everywhere it is bound: sling on the main screen and on the ready panel
    assert {b.action for o in owners for b in o.BINDINGS if b.id == "sling"} == {"sling", "screen.sling"}


def test_no_screen_imports_the_app() -> None:
    """The app imports the screens; the screens reach it through gastown_tui.actions.Cockpit only."""
    for path in sorted((ROOT / "gastown_tui" / "screens").glob("*.py")) + [ROOT / "gastown_tui" / "actions.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert "gastown_tui.app" not in imported, path
