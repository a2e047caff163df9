"""The main screen: header, agents tree, the live terminal of the selected agent (the Mayor by default),
convoys, ready beads, the refinery queue and the feed; the footer shows the focused panel's keys
(DESIGN section 9, issue 9).

Layouts (issue 21): the selected terminal is the main view, as wide as the screen allows, so an agent
CLI gets the 80+ columns it draws for. :func:`layout_for` picks one from the screen size, set as a
class on the screen (``-full``, ``-compact``, plus ``-side`` when the agents fit beside the terminal;
styles in ``main.tcss``):

- full (from :data:`FULL_WIDTH` columns and :data:`FULL_HEIGHT` rows): agents and convoys in a left
  column, the terminal beside them, ready beads, refinery queue and feed in a row below it;
- compact (smaller): one panel at a time under a tab bar (``Tabs``; ``[``/``]`` or the arrows on the
  bar switch, :meth:`MainScreen.show_panel` from code; each list's tab shows its row count); from
  :data:`SIDE_WIDTH` columns (a framed terminal of 80 beside a tree of 32) the agents tree stays
  beside it. At 80x24 the terminal gets the whole width, framed by its title line only.

The header and the footer always fit: the header picks the longest of its wordings that fits, the
footer turns compact and drops the palette hint on narrow screens, then the words of its last keys
(:class:`widgets.footer.CockpitFooter`).

Every action key lives here, made from the key table (:mod:`gastown_tui.screens.keys`; the panels
re-bind theirs as ``screen.<action>`` so the footer shows them where they apply). The work itself
(sling, nuke, nudge, SQLite writes, tmux) is the cockpit's actions (:class:`gastown_tui.actions.
CockpitActions`), run in a thread worker whose errors become toasts.
"""

from __future__ import annotations

import gc

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static, Tab, Tabs, Tree

from core import nudge
from core.beads import routes
from core.events import Event
from core.plaintext import one_line
from core.townview import MAYOR_SESSION, Agent, TownSnapshot
from gastown_tui.actions import Cockpit, FormulaRun, SlingChoice, cockpit_of
from gastown_tui.screens.keys import bindings
from gastown_tui.screens.modals import ConfirmModal, FormulaModal, NewBeadModal, NewConvoyModal, NudgeModal, SlingModal
from gastown_tui.screens.panels import AgentsPanel, ConvoysPanel, ReadyPanel, RefineryPanel
from widgets.agents import AgentsTree
from widgets.beads import ReadyBeads
from widgets.convoys import ConvoyList
from widgets.feed import Feed
from widgets.footer import CockpitFooter
from widgets.listfilter import FilterInput
from widgets.refinery import RefineryQueue
from widgets.safe_text import plain
from widgets.sessionpane import SessionPane
from widgets.terminal import TerminalView

#: Name of the installed help screen.
HELP_SCREEN = "help"
#: The full layout from this many columns and rows (cells); below either, the compact one.
FULL_WIDTH, FULL_HEIGHT = 140, 32
#: In the compact layout, the agents tree stays beside the terminal from this many columns.
SIDE_WIDTH = 114  # the tree (32) and a framed terminal of 80 columns
#: Below this many columns the footer is compact and shows no palette hint.
NARROW_FOOTER = 120
#: The panels (widget id, border title, tab label), in the compact layout's tab order.
PANELS: tuple[tuple[str, str, str], ...] = (
    ("session", "Session", "Session"),
    ("agents", "Agents", "Agents"),
    ("convoys", "Convoys", "Convoys"),
    ("ready", "Ready beads", "Ready"),
    ("refinery", "Refinery queue", "Refinery"),
    ("feed", "Feed", "Feed"),
)
PANEL_IDS = tuple(key for key, _title, _label in PANELS)


def layout_for(width: int, height: int) -> tuple[str, bool]:
    """The layout of a ``width`` x ``height`` (cells) main screen: ``("full", True)`` from
    :data:`FULL_WIDTH` x :data:`FULL_HEIGHT`, else ``("compact", side)`` where ``side`` says whether
    the agents tree stays beside the terminal (from :data:`SIDE_WIDTH` columns)."""
    if width >= FULL_WIDTH and height >= FULL_HEIGHT:
        return "full", True
    return "compact", width >= SIDE_WIDTH


class TownHeader(Static):
    """One line: town, rigs, polecats working/idle/stalled, queue depth, engine state (as text: the
    town's name is its directory's, and the engine state can quote an error)."""

    def __init__(self, content: str, *, id: str | None = None) -> None:
        super().__init__(plain(content), id=id)
        self._shown = plain(content)
        self._last: tuple[TownSnapshot, str] | None = None

    def show(self, snap: TownSnapshot, engine: str) -> None:
        """Render the counts of ``snap`` and the ``engine`` state word, in the longest wording that
        fits the line (:func:`header_text`; nothing is redrawn when it reads the same as before; the
        line's height never changes, so no layout either)."""
        self._last = (snap, engine)
        text = header_text(snap, engine, self.content_size.width or 200)
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)

    def on_resize(self, event: events.Resize) -> None:
        """Another width: pick the wording again."""
        if self._last is not None:
            self.show(*self._last)


def header_text(snap: TownSnapshot, engine: str, width: int) -> Text:
    """The header line of ``snap`` with the ``engine`` state word: the longest of three wordings
    that fits ``width`` cells (the shortest one cut with an ellipsis if even that does not). Text,
    never markup: the town's name is its directory's, and the engine state can quote an error."""
    working, idle, stalled, zombie = (snap.count(s) for s in ("working", "idle", "stalled", "zombie"))
    tmux = not snap.tmux_up
    town, engine = one_line(snap.town), one_line(engine)  # one line: no newline, no escape sequence
    wordings = (
        Text.assemble(
            "⛽ Gas Town ",
            plain(town, "bold"),
            f"  ·  rigs {len(snap.rigs)}  ·  polecats ",
            (str(working), "bold"),
            f" working, {idle} idle, {stalled} stalled, {zombie} zombie  ·  queue {snap.queue_depth}"
            f"  ·  problems {len(snap.problems)}  ·  engine: ",
            plain(engine),
            "  ·  tmux: down" if tmux else "",
            end="",
        ),
        Text.assemble(
            "⛽ ",
            plain(town, "bold"),
            f" · rigs {len(snap.rigs)} · ",
            (str(working), "bold"),
            f" working {idle} idle {stalled} stalled {zombie} zombie · queue {snap.queue_depth}"
            f" · problems {len(snap.problems)} · ",
            plain(engine),
            " · tmux down" if tmux else "",
            end="",
        ),
        Text.assemble(
            "⛽ ",
            plain(town, "bold"),
            " · ",
            (str(working), "bold"),
            f" working · queue {snap.queue_depth} · problems {len(snap.problems)} · ",
            plain(engine),
            " · tmux down" if tmux else "",
            end="",
        ),
    )
    for text in wordings:
        if text.cell_len <= width:
            return text
    text = wordings[-1].copy()
    text.truncate(max(1, width), overflow="ellipsis")
    return text


class MainScreen(Screen):
    """The cockpit's home screen. ``selected``: key of the agent whose terminal is shown."""

    AUTO_FOCUS = "#agents"
    BINDINGS = bindings("main")

    def __init__(self) -> None:
        super().__init__()
        self.selected: str = MAYOR_SESSION
        self.snapshot: TownSnapshot | None = None
        self._composed = False
        self._early_events: list[Event] = []

    @property
    def is_ready(self) -> bool:
        """True once the panels are mounted (snapshots before that are kept and shown then)."""
        return self._composed

    @property
    def cockpit(self) -> Cockpit:
        return cockpit_of(self.app)

    def compose(self) -> ComposeResult:
        """Every panel, in one tree for both layouts (:func:`layout_for`): a layout only shows,
        hides and sizes them (:meth:`_arrange`), so switching keeps each panel's state (the
        terminal's tmux client, the tree's cursor, the marks)."""
        panels: dict[str, Widget] = {
            "agents": AgentsPanel(id="agents"),
            "convoys": ConvoysPanel(id="convoys"),
            "session": SessionPane(id="session"),
            "feed": Feed(id="feed"),
            "ready": ReadyPanel(id="ready"),
            "refinery": RefineryPanel(id="refinery"),
        }
        for key, title, _label in PANELS:
            panels[key].border_title = title
            panels[key].add_class("panel")
        yield TownHeader("⛽ Gas Town", id="header")
        yield Tabs(*(Tab(label, id=f"tab-{key}") for key, _title, label in PANELS), id="panel-tabs")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield panels["agents"]
                yield panels["convoys"]
            with Vertical(id="center"):
                yield panels["session"]
                with Horizontal(id="lower"):
                    yield panels["ready"]
                    yield panels["refinery"]
                    yield panels["feed"]
        yield CockpitFooter()

    # ---- layout ---------------------------------------------------------------------------------
    @property
    def layout_name(self) -> str:
        """``"full"`` or ``"compact"`` (:func:`layout_for` of the screen's size)."""
        return "compact" if self.has_class("-compact") else "full"

    @property
    def active_panel(self) -> str:
        """The id of the panel the compact layout shows (its tab); ``"session"`` at first."""
        active = self.query_one("#panel-tabs", Tabs).active
        return active.removeprefix("tab-") if active else "session"

    def on_resize(self, event: events.Resize) -> None:
        self._arrange()

    def _arrange(self) -> None:
        """Apply :func:`layout_for` of the screen's size: the screen's classes, which panels show,
        the footer's style; the focus moves off a panel that was hidden."""
        width, height = self.size
        if not width or not height:
            return
        name, side = layout_for(width, height)
        compact = name == "compact"
        changed = compact != self.has_class("-compact")
        self.set_class(not compact, "-full")
        self.set_class(compact, "-compact")
        self.set_class(side, "-side")
        tabs = self.query_one("#panel-tabs", Tabs)
        if compact and side:
            tabs.hide("tab-agents")  # the tree is beside the terminal
            if tabs.active == "tab-agents":
                tabs.active = "tab-session"
        else:
            tabs.show("tab-agents")
        active = self.active_panel
        for key in PANEL_IDS:
            self.query_one(f"#{key}").display = not compact or key == active or (key == "agents" and side)
        for box in ("#left", "#lower"):
            container = self.query_one(box)
            container.display = any(child.display for child in container.children)
        footer = self.query_one(CockpitFooter)
        footer.compact = width < NARROW_FOOTER
        footer.show_command_palette = width >= NARROW_FOOTER
        focused = self.focused
        if focused is None or any(not node.display for node in focused.ancestors_with_self):
            self._focus_shown(active if compact else "agents")
        if changed:
            self.refresh_bindings()  # the tab keys come and go with the compact layout

    def _focus_shown(self, key: str) -> None:
        """Focus panel ``key`` if it is a list shown now, else the agents tree if shown, else the
        tab bar (the terminal never: watching never sends it keys). At once (``set_focus``, not
        ``focus()``, which runs later): a deferred focus overrode the one a number key gave right after
        (``2`` in the compact layout hid the focused list, and the tab bar took the focus from the pane)."""
        for widget in (self.query_one(f"#{key}"), self.query_one("#agents"), self.query_one("#panel-tabs")):
            if widget is not self.query_one(SessionPane) and widget.display and widget.focusable:
                self.set_focus(widget)
                return

    def show_panel(self, key: str) -> Widget:
        """Make panel ``key`` (an id of :data:`PANELS`) visible: in the compact layout its tab is
        selected. Returns the panel (the caller may focus it). Raises KeyError for an unknown key."""
        if key not in PANEL_IDS:
            raise KeyError(f"no panel {key!r}: one of {', '.join(PANEL_IDS)}")
        if self.layout_name == "compact" and not (key == "agents" and self.has_class("-side")):
            self.query_one("#panel-tabs", Tabs).active = f"tab-{key}"
            self._arrange()
        return self.query_one(f"#{key}")

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        """A tab was chosen (a key, a click, or :meth:`show_panel`): show its panel, and give it the
        focus when the focus was on the tab bar or on a panel now hidden."""
        event.stop()
        if self._composed:
            self._tab_shown(was_on_bar=self.focused is event.tabs)

    def _tab_shown(self, was_on_bar: bool) -> None:
        """The tab bar's active tab changed: show its panel, and focus it if ``was_on_bar`` (the focus
        was on the tab bar) or the focused panel is now hidden."""
        self._arrange()
        if was_on_bar and self.active_panel != "session":
            self._focus_shown(self.active_panel)

    def _count_tabs(self, snap: TownSnapshot) -> None:
        """Put the rows each list holds on its tab (``Ready 3``), so the compact layout tells what a
        hidden panel has; a label is set only when its count changed."""
        counts = {
            "agents": sum(1 for a in snap.agents if a.kind == "polecat"),
            "convoys": len(snap.convoys),
            "ready": len(snap.ready),
            "refinery": len(snap.mrs),
        }
        tabs = self.query_one("#panel-tabs", Tabs)
        for key, _title, label in PANELS:
            if key in counts:
                text = f"{label} {counts[key]}"
                tab = tabs.query_one(f"#tab-{key}", Tab)
                if tab.label_text != text:
                    tab.label = text

    def action_next_tab(self) -> None:
        """Compact layout: show the next panel's tab (see :meth:`_step_tab`)."""
        self._step_tab(+1)

    def action_previous_tab(self) -> None:
        """Compact layout: show the previous panel's tab (see :meth:`_step_tab`)."""
        self._step_tab(-1)

    def _step_tab(self, step: int) -> None:
        """Move the tab bar ``step`` tabs (+1 next, -1 previous) and show the panel at once, not when
        the bar's ``TabActivated`` arrives: the key read after ``]`` goes to the panel it showed."""
        tabs = self.query_one("#panel-tabs", Tabs)
        was_on_bar = self.focused is tabs
        tabs.action_next_tab() if step > 0 else tabs.action_previous_tab()
        self._tab_shown(was_on_bar)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The tab keys exist in the compact layout only."""
        if action in ("next_tab", "previous_tab"):
            return self.layout_name == "compact"
        return True

    def on_mount(self) -> None:
        self.call_after_refresh(self._ready)

    def _ready(self) -> None:
        """The panels are mounted: show what arrived before. Everything built so far (the app, its
        widgets, the engine, the imported modules) lives as long as the cockpit: it is collected
        once and frozen out of the garbage collector's view, whose full passes otherwise walked it
        all again and again, pausing the event loop 80 to 160 ms each (``bench/bench_cockpit.py``)."""
        self._composed = True
        self._arrange()
        gc.collect()
        gc.freeze()
        self.query_one(SessionPane).show_note("starting the Mayor...")
        if self.snapshot is not None:
            self.apply_snapshot(self.snapshot)
        self.add_events([])

    def on_unmount(self) -> None:
        self._composed = False

    # ---- data -----------------------------------------------------------------------------------
    def apply_snapshot(self, snap: TownSnapshot) -> None:
        """Show ``snap`` in every panel and keep the terminal on the selected agent (kept for
        :meth:`on_mount` when the first snapshot comes before the screen is composed)."""
        self.snapshot = snap
        if not self._composed:
            return
        self.query_one(TownHeader).show(snap, self.cockpit.engine_state)
        tree = self.query_one(AgentsTree)
        tree.update_from(snap)
        self.query_one(ConvoyList).update_from(snap.convoys, snap.costs)
        self.query_one(ReadyBeads).update_from(snap.ready)
        self.query_one(RefineryQueue).update_from(snap.mrs)
        self._count_tabs(snap)
        if snap.agent(self.selected) is None:
            self.selected = MAYOR_SESSION
        on_agent = tree.selected_key
        if tree.cursor_node is None or (on_agent is not None and on_agent != self.selected):
            tree.select_key(self.selected)  # the screen's choice wins over a rebuild's cursor (rig rows stay)
        self._show_selected()

    def add_events(self, new_events: list[Event]) -> None:
        """Append ``new_events`` to the feed (held until the screen is composed)."""
        self._early_events.extend(new_events)
        if self._composed and self._early_events:
            self.query_one(Feed).add_events(self._early_events)
            self._early_events = []

    def _show_selected(self) -> None:
        """Attach the pane to the selected agent's session when it has one (again after tmux restarts)."""
        snap = self.snapshot
        pane = self.query_one(SessionPane)
        agent = snap.agent(self.selected) if snap else None
        if agent is None:
            return
        session = agent.session
        info = snap.sessions.get(session) if snap and session else None
        if session and info is not None:
            pane.show_session(session, self.cockpit.host.attach_argv(session))
            pane.set_title(f"Session {session}")
            return
        pane.set_title(f"Session {agent.key}")
        pane.show_note(self._why_no_session(agent), session)

    @staticmethod
    def _why_no_session(agent: Agent) -> str:
        if agent.kind == "mayor":
            return "The Mayor is not running: it is being started (or see the toast for why not)."
        if agent.kind == "polecat":
            if agent.state == "zombie":
                return (
                    f"{agent.key}: the session is gone while {agent.bead} is hooked (zombie). "
                    "The witness restarts it; x nukes it."
                )
            return f"{agent.key} has no session ({agent.state}). Sling a bead to put it to work."
        if agent.kind == "crew":
            return (
                f"{agent.key}: crew workspace without a running session. Start one with "
                f"'gt crew start {agent.name} --rig {agent.rig}'."
            )
        return f"{agent.key}: the {agent.kind} runs inside the engine; its work shows in the feed and the queue."

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        key = event.node.data
        if key and not key.startswith("rig:") and key != self.selected:
            self.selected = key
            self._show_selected()

    def on_terminal_view_exited(self, event: TerminalView.Exited) -> None:
        """The tmux client ended (session killed, tmux server gone): say so; the next snapshot that
        sees the session alive attaches again."""
        pane = self.query_one(SessionPane)
        if event.terminal is pane.terminal:
            pane.show_note(
                f"session {pane.session} ended (status {event.returncode}); reattaching when it is back.", pane.session
            )
            self.query_one(AgentsTree).focus()

    def detach_focus(self) -> Widget:
        """Where the detach chord gives the keys back (:meth:`widgets.terminal.TerminalView.action_detach`
        asks at once, before the next key is read): the agents panel when it is shown, else (the
        compact layout's session tab) the session pane, watching. A click elsewhere keeps its focus."""
        tree = self.query_one(AgentsTree)
        return tree if tree.display else self.query_one(SessionPane)

    # ---- helpers --------------------------------------------------------------------------------
    def _agent(self) -> Agent | None:
        key = self.query_one(AgentsTree).selected_key or self.selected
        return self.snapshot.agent(key) if self.snapshot and key else None

    def _default_rig(self, beads: list[str]) -> str | None:
        snap = self.snapshot
        if not snap or not snap.rigs:
            return None
        by_prefix = {p: r for r, p in snap.rig_prefixes.items()}
        for bead in beads:
            rig = routes.rig_for(bead, by_prefix)
            if rig:
                return rig
        agent = self._agent()
        if agent is not None and agent.rig:
            return agent.rig
        return snap.rigs[0]

    # ---- actions --------------------------------------------------------------------------------
    def action_attach(self) -> None:
        """Give the keys to the selected agent's terminal (ctrl+] gives them back)."""
        self.query_one(SessionPane).action_attach()

    def action_focus_panel(self, panel: str) -> None:
        """Focus panel ``panel`` (its id: agents, session, convoys, feed, ready, refinery; the number
        keys); in the compact layout its tab is shown first (:meth:`show_panel`). The session pane takes
        the focus without attaching: watching sends no keys."""
        try:
            widget = self.show_panel(panel)
        except (KeyError, NoMatches):
            return
        if widget.display and widget.focusable:
            self.set_focus(widget)  # at once, not after a turn of the loop: the next key goes there
        else:
            self.notify(f"the {panel} panel is not shown", severity="warning")

    def _filterable(self) -> Widget | None:
        """The focused list that has a ``/`` filter (the agents tree, convoys, ready beads, refinery), or None."""
        focused = self.focused
        if isinstance(focused, FilterInput):
            return focused.target
        return focused if focused is not None and hasattr(focused, "set_filter") else None

    async def action_filter(self) -> None:
        """Open (or go back to) the filter of the focused list: an input under it that filters as you
        type. It has the focus when this returns (mounted first): the key after ``/`` is the filter's."""
        target = self._filterable()
        if target is None or target.parent is None:
            self.notify("/ filters the agents, the convoys, the ready beads or the refinery queue: focus one first")
            return
        existing = [f for f in self.query(FilterInput) if f.target is target]
        if existing:
            self.set_focus(existing[0])
            return
        box = FilterInput(target, getattr(target, "filter", ""))
        await target.parent.mount(box, after=target)
        self.set_focus(box)

    def action_back(self) -> None:
        """Escape on the main screen: clear the focused list's filter; else back to the agents panel
        (in the compact layout its tab is shown, as ``1`` does)."""
        target = self._filterable()
        if target is not None and getattr(target, "filter", ""):
            target.set_filter("")  # type: ignore[attr-defined]
            for box in [f for f in self.query(FilterInput) if f.target is target]:
                box.remove()
            return
        self.action_focus_panel("agents")

    def action_sling(self) -> None:
        """Sling the marked ready beads (or the one under the cursor): ask rig, agent, polecat."""
        beads = self.query_one(ReadyBeads).chosen()
        if not beads:
            self.notify("no ready bead to sling: file one with b", severity="warning")
            return
        snap = self.snapshot
        if not snap or not snap.rigs:
            self.notify("add a rig first: gt rig add NAME GIT_URL", severity="warning")
            return
        agents, default_agent = self.cockpit.actions.agent_choices()
        idle = {
            r: [a.name for a in snap.agents if a.rig == r and a.kind == "polecat" and a.state == "idle"]
            for r in snap.rigs
        }
        modal = SlingModal(beads, snap.rigs, self._default_rig(beads), agents, default_agent, idle)
        self.app.push_screen(modal, lambda choice: self._sling(beads, choice))

    def _sling(self, beads: list[str], choice: SlingChoice | None) -> None:
        if choice is None:
            return
        self.query_one(ReadyBeads).clear_marks()
        self.cockpit.actions.sling(beads, choice)

    def action_new_bead(self) -> None:
        """File a new bead (title, description, type, rig, priority, labels, dependencies): the dialog
        files it and shows a refusal (an unknown dependency) itself."""
        snap = self.snapshot
        rigs = snap.rigs if snap else []
        self.app.push_screen(NewBeadModal(rigs, self._default_rig([]), self.cockpit.actions.create_bead))

    def action_bead_detail(self) -> None:
        """Open the ready bead under the cursor (description, dependencies, comments, history)."""
        from gastown_tui.screens.bead import open_bead

        bead = self.query_one(ReadyBeads).cursor_bead
        if bead is None:
            self.notify("no ready bead under the cursor", severity="warning")
            return
        open_bead(self.app, bead)

    def action_convoy_detail(self) -> None:
        """Open the convoy under the cursor (its beads with status and MRs, progress, landed time)."""
        from gastown_tui.screens.convoy import open_convoy

        convoy = self.query_one(ConvoyList).cursor_key
        if convoy is None:
            self.notify("no convoy under the cursor", severity="warning")
            return
        open_convoy(self.app, convoy)

    def action_new_convoy(self) -> None:
        """Make a convoy tracking the marked ready beads (or the one under the cursor)."""
        beads = self.query_one(ReadyBeads).chosen()
        if not beads:
            self.notify("mark beads with space first", severity="warning")
            return
        name = f"{beads[0]} and {len(beads) - 1} more" if len(beads) > 1 else f"{beads[0]}"
        self.app.push_screen(
            NewConvoyModal(beads, name),
            lambda n: n and (self.query_one(ReadyBeads).clear_marks(), self.cockpit.actions.create_convoy(n, beads)),
        )

    def action_run_formula(self) -> None:
        """Pick a formula, fill its vars, preview its molecule and pour it."""
        actions = self.cockpit.actions
        formulas = actions.formula_choices()
        rigs = self.snapshot.rigs if self.snapshot else []
        modal = FormulaModal(formulas, actions.formula_vars, rigs, self._default_rig([]), actions.formula_plan)
        self.app.push_screen(modal, self._pour)

    def _pour(self, run: FormulaRun | None) -> None:
        if run is not None:
            self.cockpit.actions.pour(run)

    def action_nudge(self) -> None:
        """Type a message into the selected agent's session, by its address (:func:`core.nudge.target_of`:
        a shell gets it as mail there)."""
        agent = self._agent()
        if agent is None or not agent.session:
            self.notify("select an agent with a running session to nudge", severity="warning")
            return
        target = nudge.target_of(agent.key, agent.session)
        self.app.push_screen(NudgeModal(agent.key), lambda text: text and self.cockpit.actions.nudge(target, text))

    def action_nuke(self) -> None:
        """Nuke the selected polecat, after a confirmation."""
        agent = self._agent()
        if agent is None or agent.kind != "polecat" or agent.rig is None:
            self.notify("select a polecat to nuke", severity="warning")
            return
        rig, name = agent.rig, agent.name
        detail = (
            f"Its session is killed, {agent.bead or 'its hook'} goes back to open and its worktree is "
            "removed (uncommitted work is saved as a checkpoint commit first)."
        )
        self.app.push_screen(
            ConfirmModal(f"Nuke polecat {agent.key}?", detail), lambda yes: yes and self.cockpit.actions.nuke(rig, name)
        )

    def action_retry_mr(self) -> None:
        """Put the failed MR under the refinery cursor back in the queue."""
        mr = self.query_one(RefineryQueue).cursor_mr
        if mr is None:
            self.notify("no merge request selected", severity="warning")
            return
        self.cockpit.actions.retry_mr(mr)

    def action_polecat_detail(self) -> None:
        """Open the selected polecat's detail view (bead, commits, diff, transcript, history)."""
        agent = self._agent()
        if agent is None or agent.kind != "polecat" or agent.rig is None:
            self.notify("select a polecat to see its detail", severity="warning")
            return
        from gastown_tui.screens.polecat import open_polecat

        open_polecat(self.app, agent.rig, agent.name)

    def action_mr_detail(self) -> None:
        """Open the detail view of the merge request under the refinery cursor (gates, logs, verdict)."""
        mr = self.query_one(RefineryQueue).cursor_mr
        if mr is None:
            self.notify("no merge request selected", severity="warning")
            return
        from gastown_tui.screens.merge_request import open_merge_request

        open_merge_request(self.app, mr)

    def action_grid(self) -> None:
        from gastown_tui.screens.grid import GridScreen

        self.app.push_screen(GridScreen())

    def action_problems(self) -> None:
        from gastown_tui.screens.problems import ProblemsScreen

        self.app.push_screen(ProblemsScreen())

    def action_boards(self) -> None:
        from gastown_tui.screens.boards import BoardsScreen

        self.app.push_screen(BoardsScreen())

    def action_board_post(self) -> None:
        """Post the ready bead under the cursor to the town's board (as ``gt board post``)."""
        bead = self.query_one(ReadyBeads).cursor_bead
        if bead is None:
            self.notify("no ready bead under the cursor", severity="warning")
            return
        self.cockpit.actions.board_post(bead)

    def action_mail(self) -> None:
        from gastown_tui.screens.mail import open_mail

        open_mail(self.app)

    def action_help(self) -> None:
        """Show the keys. The help screen is built once and kept (installed): opening it again only
        draws it."""
        from gastown_tui.screens.help import HelpScreen

        if not self.app.is_screen_installed(HELP_SCREEN):
            self.app.install_screen(HelpScreen(), HELP_SCREEN)
        self.app.push_screen(HELP_SCREEN)

    def select_agent(self, key: str) -> None:
        """Show agent ``key``'s terminal and put the tree cursor on it (from the problems view)."""
        self.selected = key
        if not self._composed:
            return
        self.query_one(AgentsTree).select_key(key)
        self._show_selected()
