"""The cockpit's dialogs: sling, new bead, new convoy, run formula, nudge and confirm (the bead and
mail dialogs of the detail views are :mod:`gastown_tui.screens.ledger_dialogs`).

Each is a ``ModalScreen`` that dismisses with what the user chose (or None on escape); the main screen
does the work in a thread worker, except for the dialogs that act themselves and show a refusal in
place (:class:`ActingDialog`: the new-bead dialog). Names, bead ids, formula descriptions and questions are shown as
text, never markup (:func:`widgets.safe_text.plain`): agents can write all of them. Keyboard first: defaults are preselected, Enter confirms, Tab moves
between fields, Escape cancels.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from core.beads import verbs
from core.errors import GtError
from gastown_tui.actions import FormulaRun, NewBead, SlingChoice
from gastown_tui.screens.keys import bindings
from widgets.safe_text import plain

__all__ = [
    "ActingDialog",
    "ConfirmModal",
    "FormulaModal",
    "FormulaRun",
    "NewBead",
    "NewBeadModal",
    "NewConvoyModal",
    "NudgeModal",
    "SlingChoice",
    "SlingModal",
]

AUTO_POLECAT = "(auto: an idle polecat, else a new name)"


def _options(items: list[str], default: str | None) -> tuple[list[Option], int]:
    options = [Option(plain(item), id=item) for item in items]
    index = items.index(default) if default in items else 0
    return options, index


class _Dialog(ModalScreen):
    """Shared look and the escape binding."""

    BINDINGS = bindings("dialog")

    def action_cancel(self) -> None:
        self.dismiss(None)


class SlingModal(_Dialog):
    """Pick rig, agent preset and polecat for ``beads``; Enter in any list confirms.

    rigs/agents: names shown, with ``default_rig``/``default_agent`` preselected. idle: the idle
    polecats of each rig (offered after the auto choice; only when slinging a single bead).
    Dismisses with a :class:`SlingChoice` or None.
    """

    def __init__(
        self,
        beads: list[str],
        rigs: list[str],
        default_rig: str | None,
        agents: list[str],
        default_agent: str | None,
        idle: dict[str, list[str]],
    ) -> None:
        super().__init__()
        self.beads = beads
        self.rigs = rigs
        self.default_rig = default_rig
        self.agents = agents
        self.default_agent = default_agent
        self.idle = idle

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            what = (
                self.beads[0]
                if len(self.beads) == 1
                else f"{len(self.beads)} beads ({', '.join(self.beads[:4])}"
                + (", ..." if len(self.beads) > 4 else "")
                + ")"
            )
            yield Static(plain(f"Sling {what}"), classes="dialog-title")
            with Horizontal(id="sling-columns"):
                with Vertical(classes="column"):
                    yield Label("rig")
                    yield OptionList(id="sling-rig")
                with Vertical(classes="column"):
                    yield Label("agent")
                    yield OptionList(id="sling-agent")
                with Vertical(classes="column wide-column"):
                    yield Label("polecat")
                    yield OptionList(id="sling-polecat")
            yield Static("enter sling · tab next list · ↑↓ choose · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        rig_list = self.query_one("#sling-rig", OptionList)
        options, index = _options(self.rigs, self.default_rig)
        rig_list.add_options(options)
        rig_list.highlighted = index if options else None
        agent_list = self.query_one("#sling-agent", OptionList)
        options, index = _options(self.agents, self.default_agent)
        agent_list.add_options(options)
        agent_list.highlighted = index if options else None
        self._fill_polecats()
        rig_list.focus()

    def _fill_polecats(self) -> None:
        polecat_list = self.query_one("#sling-polecat", OptionList)
        polecat_list.clear_options()
        names = self.idle.get(self._value("#sling-rig") or "", []) if len(self.beads) == 1 else []
        polecat_list.add_options([Option(AUTO_POLECAT, id=""), *(Option(plain(n), id=n) for n in names)])
        polecat_list.highlighted = 0

    def _value(self, selector: str) -> str | None:
        widget = self.query_one(selector, OptionList)
        if widget.highlighted is None or widget.option_count == 0:
            return None
        return widget.get_option_at_index(widget.highlighted).id

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "sling-rig":
            self._fill_polecats()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_confirm()

    def action_confirm(self) -> None:
        """Dismiss with the highlighted rig, agent and polecat (nothing happens without a rig)."""
        rig, agent = self._value("#sling-rig"), self._value("#sling-agent")
        if not rig or not agent:
            self.notify("add a rig first: gt rig add NAME GIT_URL", severity="warning")
            return
        self.dismiss(SlingChoice(rig, agent, self._value("#sling-polecat") or None))


class ActingDialog(_Dialog):
    """A dialog that does its work itself, through a cockpit action given ``done`` and ``refused``
    (:meth:`gastown_tui.actions.CockpitActions.attempt`): it dismisses when the action is done and
    stays open on a refusal, showing the reason (the core's one-line error) in its ``.dialog-error``
    line. ``busy``: an action is under way (a second Enter does nothing)."""

    busy = False

    def begin(self) -> bool:
        """Start an action: False when one is already under way; else clears the error line."""
        if self.busy:
            return False
        self.busy = True
        self.query_one(".dialog-error", Static).update("")
        return True

    def refused(self, exc: GtError) -> None:
        """Show the refusal ``exc`` (text, never markup: it may quote agent-written ids) and stay open."""
        self.busy = False
        self.query_one(".dialog-error", Static).update(plain(str(exc), "bold"))

    def finished(self, result: object) -> None:
        """The action is done: dismiss with its ``result``."""
        self.busy = False
        self.dismiss(result)


#: The issue types the new-bead dialog offers, the usual first (``gt bead create -t`` takes any of
#: :data:`core.beads.model.ISSUE_TYPES`; messages, molecules, gates and MRs are made by the system).
NEW_BEAD_TYPES = ("task", "bug", "feature", "epic", "chore", "decision", "spike", "story", "milestone")

#: Files a bead: ``create(bead, done, refused)`` (:meth:`gastown_tui.actions.CockpitActions.create_bead`).
CreateBead = Callable[[NewBead, Callable[[str], None], Callable[[GtError], None]], None]


class NewBeadModal(ActingDialog):
    """Title, description, rig, priority, type, labels (comma separated) and dependencies (bead ids
    it depends on, comma separated; ``TYPE:ID`` for another edge type) of a new bead. Enter in a
    one-line field (or ctrl+s) files it with ``create`` (:data:`CreateBead`); a refusal (an unknown
    dependency, a bad label) is shown in the dialog, which stays open. Dismisses with the new id."""

    BINDINGS = bindings("new_bead")

    def __init__(self, rigs: list[str], default_rig: str | None, create: CreateBead) -> None:
        super().__init__()
        self.rigs = rigs
        self.default_rig = default_rig
        self.create = create

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static("New bead", classes="dialog-title")
            yield Input(placeholder="title", id="bead-title")
            yield TextArea(id="bead-description", soft_wrap=True)
            with Horizontal(classes="row"):
                yield Label("rig ")
                yield OptionList(id="bead-rig")
                with Vertical(id="bead-fields"):
                    with Horizontal(classes="field"):
                        yield Label("priority ", classes="field-label")
                        yield Input("2", id="bead-priority", restrict=r"[0-4]?", max_length=1)
                    with Horizontal(classes="field"):
                        yield Label("type ", classes="field-label")
                        yield Select([(t, t) for t in NEW_BEAD_TYPES], value="task", allow_blank=False, id="bead-type")
            yield Input(placeholder="labels, comma separated (e.g. ui,urgent)", id="bead-labels")
            yield Input(
                placeholder="depends on: bead ids, comma separated (TYPE:ID for another edge type)", id="bead-deps"
            )
            yield Static("", classes="dialog-error")
            yield Static(
                "enter/ctrl+s create · the description's ```sh blocks are what the sim agent runs · esc cancel",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        rigs = ["(town)", *self.rigs]
        options, index = _options(rigs, self.default_rig)
        self.query_one("#bead-rig", OptionList).add_options(options)
        self.query_one("#bead-rig", OptionList).highlighted = index
        self.query_one("#bead-title", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_create()

    def bead(self) -> NewBead | None:
        """What the fields hold as a :class:`NewBead` (None, with a warning, when the title is empty)."""
        title = self.query_one("#bead-title", Input).value.strip()
        if not title:
            self.notify("a bead needs a title", severity="warning")
            return None
        rig_list = self.query_one("#bead-rig", OptionList)
        rig = rig_list.get_option_at_index(rig_list.highlighted or 0).id
        priority = self.query_one("#bead-priority", Input).value or "2"
        return NewBead(
            title,
            self.query_one("#bead-description", TextArea).text,
            None if rig == "(town)" else rig,
            int(priority),
            str(self.query_one("#bead-type", Select).value),
            tuple(verbs.comma_list([self.query_one("#bead-labels", Input).value])),
            tuple(verbs.comma_list([self.query_one("#bead-deps", Input).value])),
        )

    def action_create(self) -> None:
        """File the bead (refused with a toast when the title is empty; the ledger's refusal shows
        in the dialog)."""
        bead = self.bead()
        if bead is not None and self.begin():
            self.create(bead, self.finished, self.refused)


class NewConvoyModal(_Dialog):
    """The name of a convoy tracking ``beads``; Enter creates it. Dismisses with the name or None."""

    def __init__(self, beads: list[str], default_name: str) -> None:
        super().__init__()
        self.beads = beads
        self.default_name = default_name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"New convoy of {len(self.beads)} bead(s)", classes="dialog-title")
            yield Static(plain(", ".join(self.beads)), classes="dialog-body")
            yield Input(self.default_name, placeholder="convoy name", id="convoy-name")
            yield Static("enter create · esc cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if not name:
            self.notify("a convoy needs a name", severity="warning")
            return
        self.dismiss(name)


class FormulaModal(_Dialog):
    """Pick a formula (Enter), then fill its vars and pour (Enter in the last field, or ctrl+s).

    formulas: (name, one-line description) pairs. vars_of: formula name -> [(var, default or "",
    required)], called on the event loop (parses one small TOML file). rigs/default_rig: where to pour.
    """

    BINDINGS = bindings("formula")

    def __init__(
        self,
        formulas: list[tuple[str, str]],
        vars_of: Callable[[str], list[tuple[str, str, bool]]],
        rigs: list[str],
        default_rig: str | None,
    ) -> None:
        super().__init__()
        self.formulas = formulas
        self.vars_of = vars_of
        self.rigs = rigs
        self.default_rig = default_rig
        self.chosen: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="wide"):
            yield Static("Run a formula", classes="dialog-title")
            yield OptionList(
                *(Option(plain(f"{n}  {d}" if d else n), id=n) for n, d in self.formulas), id="formula-list"
            )
            with VerticalScroll(id="formula-vars"):
                pass
            yield Static("enter pick · then fill vars, enter pour · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#formula-list", OptionList).focus()

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_list.id == "formula-list":
            await self._show_vars(str(event.option.id))
        else:
            self.action_pour()

    async def _show_vars(self, name: str) -> None:
        try:
            variables = self.vars_of(name)
        except Exception as exc:  # noqa: BLE001 - a broken formula file is reported, not fatal
            self.notify(str(exc), title=f"formula {name}", severity="error")
            return
        self.chosen = name
        box = self.query_one("#formula-vars", VerticalScroll)
        await box.remove_children()
        widgets = [Static(plain(f"formula {name}"), classes="dialog-body")]
        for var, default, required in variables:
            widgets.append(Label(plain(f"{var}{' (required)' if required else ''}")))
            widgets.append(Input(default, placeholder=var, id=f"var-{var}", classes="var"))
        widgets.append(Label("rig"))
        rig_list = OptionList(*(Option(plain(r), id=r) for r in ["(town)", *self.rigs]), id="formula-rig")
        widgets.append(rig_list)
        await box.mount_all(widgets)
        rig_list.highlighted = ["(town)", *self.rigs].index(self.default_rig) if self.default_rig in self.rigs else 0
        inputs = list(box.query(Input))
        (inputs[0] if inputs else rig_list).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_pour()

    def action_pour(self) -> None:
        """Dismiss with a :class:`FormulaRun` for the chosen formula."""
        if self.chosen is None:
            return
        values = {str(i.id)[4:]: i.value for i in self.query("Input.var") if isinstance(i, Input) and i.value != ""}
        rig_list = self.query_one("#formula-rig", OptionList)
        rig = rig_list.get_option_at_index(rig_list.highlighted or 0).id
        self.dismiss(FormulaRun(self.chosen, values, None if rig == "(town)" else rig))


class NudgeModal(_Dialog):
    """Text to type into ``target``'s session; Enter sends. Dismisses with the text or None."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(plain(f"Nudge {self.target}"), classes="dialog-title")
            yield Input(placeholder="message (typed into the session, then Enter)", id="nudge-text")
            yield Static("enter send · esc cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.dismiss(event.value)


class ConfirmModal(_Dialog):
    """A yes/no question: y or Enter confirms (True), n or Escape refuses (None)."""

    BINDINGS = bindings("confirm")

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(plain(self.question), classes="dialog-title")
            if self.detail:
                yield Static(plain(self.detail), classes="dialog-body")
            yield Static("y/enter yes · n/esc no", classes="dialog-hint")

    def action_yes(self) -> None:
        self.dismiss(True)
