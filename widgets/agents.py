"""The agents tree: the Mayor, then each rig with its witness, refinery, polecats and crew workspaces,
each with a state badge (a polecat's hooked bead and what it has cost, :mod:`core.costs`; a crew
workspace's session state) (DESIGN section 9); a rig's row says how far it is behind its upstream and when landing there failed
(:mod:`core.upstream`). Fed :class:`core.townview.TownSnapshot` values.

Node data is the agent's key (:attr:`core.townview.Agent.key`); the tree keeps the cursor on the
same agent across updates and rebuilds only when the set of agents changes (labels update in place).
Names, states and bead ids come from the town's database, which agents can write: every label is
built from :func:`widgets.safe_text.plain` pieces (text, never markup).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree

from widgets.listfilter import LIST_BINDINGS, matches
from widgets.safe_text import plain
from core.costs import money
from core.townview import Agent, TownSnapshot, age

#: Badge glyph of each state (a polecat's are :data:`core.witness.POLECAT_STATES`), and the theme
#: variable that colours it.
BADGES: dict[str, tuple[str, str]] = {
    "working": ("●", "badge-working"),
    "spawning": ("◌", "badge-working"),
    "running": ("●", "badge-working"),
    "idle": ("○", "badge-idle"),
    "done": ("✓", "badge-idle"),
    "absent": ("○", "badge-zombie"),
    "waiting": ("?", "badge-stalled"),
    "quiet": ("●", "badge-idle"),
    "stalled": ("◐", "badge-stalled"),
    "gupp_violation": ("‼", "badge-stalled"),
    "stuck": ("■", "badge-zombie"),
    "zombie": ("✖", "badge-zombie"),
    "exited": ("✖", "badge-zombie"),
    "worktree_lost": ("✖", "badge-zombie"),
}


class AgentsTree(Tree[str]):
    """Mayor, rigs (witness, refinery, polecats, crew) with badges. ``selected_key``: the agent under the cursor.
    ``filter``: the ``/`` filter (:func:`widgets.listfilter.matches` on the agent's key, kind, state and
    bead; a rig shows when one of its agents matches). ``j``/``k`` move the cursor. The cockpit adds its
    keys (attach, nudge, nuke) in a subclass (:mod:`gastown_tui.screens.panels`)."""

    BINDINGS = LIST_BINDINGS

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("town", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._shape: tuple[str, ...] = ()
        self._snapshot: TownSnapshot | None = None
        self._want: str | None = None
        self._costs: dict[str, float | None] = {}
        self.filter = ""

    @property
    def selected_key(self) -> str | None:
        """Key of the agent under the cursor (None on a rig row or an empty tree)."""
        node = self.cursor_node
        return node.data if node is not None and node.data and not node.data.startswith("rig:") else None

    def update_from(self, snap: TownSnapshot) -> None:
        """Show ``snap``: rebuild if agents came or went, else relabel the nodes in place."""
        self._snapshot = snap
        self._costs = snap.costs
        agents = ([snap.mayor] if snap.mayor else []) + snap.agents
        agents = [a for a in agents if matches(self.filter, a.key, a.kind, a.state, a.bead)]
        rigs = [r for r in snap.rigs if not self.filter or any(a.rig == r for a in agents)]
        shape = tuple(f"rig:{r}" for r in rigs) + tuple(a.key for a in agents)
        if shape != self._shape:
            self._rebuild(snap, agents, rigs)
            self._shape = shape
            return
        labels = {a.key: self._label(a) for a in agents}
        self._walk_relabel(labels, snap)

    def set_filter(self, text: str) -> None:
        """Show only the agents matching ``text`` (the ``/`` filter; "" shows them all)."""
        self.filter = text
        if self._snapshot is not None:
            self.update_from(self._snapshot)

    def relabel(self) -> None:
        """Redraw the labels (after a theme switch: badge colours come from the theme)."""
        if self._snapshot is not None:
            self._shape = ()
            self.update_from(self._snapshot)

    def select_key(self, key: str) -> None:
        """Put the cursor on agent ``key`` once the tree has laid out its lines (this wins over the
        cursor placement of a rebuild still pending)."""
        self._want = key
        self.call_after_refresh(self._move_to_want)

    def _move_to_want(self) -> None:
        key, self._want = self._want, None
        node = self._find(key) if key else None
        if node is not None and node is not self.cursor_node:
            self.move_cursor(node)

    def _find(self, key: str):
        stack = list(self.root.children)
        while stack:
            node = stack.pop()
            if node.data == key:
                return node
            stack.extend(node.children)
        return None

    def _rebuild(self, snap: TownSnapshot, agents: list[Agent], rigs: list[str]) -> None:
        keep = self.cursor_node.data if self.cursor_node else None
        self.clear()
        if snap.mayor is not None and snap.mayor in agents:
            self.root.add_leaf(self._label(snap.mayor), data=snap.mayor.key)
        for rig in rigs:
            rig_node = self.root.add(self._rig_label(rig, snap), data=f"rig:{rig}", expand=True)
            for a in agents:
                if a.rig == rig:
                    rig_node.add_leaf(self._label(a), data=a.key)
        if self._want is None:
            # the Mayor is where the cursor goes when the agent it was on is gone
            found = keep if keep and self._find(keep) else (snap.mayor.key if snap.mayor in agents else None)
            node = self._find(found) if found else None
            # at once, not after the next refresh: a key handled right after the rebuild (``k`` after
            # escape cleared the filter) moves from there. ``last_line`` lays the new lines out, so the
            # node knows its line.
            if node is not None and self.last_line >= 0:
                self.move_cursor(node)

    def _walk_relabel(self, labels: dict[str, Text], snap: TownSnapshot) -> None:
        """Set the labels that changed (each ``set_label`` redraws its line, even with the same text)."""
        stack = list(self.root.children)
        while stack:
            node = stack.pop()
            data = node.data or ""
            if data.startswith("rig:"):
                label = self._rig_label(data[4:], snap)
                stack.extend(node.children)
            elif data in labels:
                label = labels[data]
            else:
                continue
            if label != node.label:
                node.set_label(label)

    def _colour(self, variable: str) -> str:
        try:
            return self.app.current_theme.variables.get(variable, "")
        except Exception:  # noqa: BLE001 - no app yet (unit use): plain text
            return ""

    def _rig_label(self, rig: str, snap: TownSnapshot) -> Text:
        mine = [a for a in snap.agents if a.rig == rig and a.kind == "polecat"]
        working = sum(1 for a in mine if a.state in ("working", "quiet"))
        text = plain(rig, "bold")
        text.append(f"  {working}/{len(mine)} working", style="dim")
        up = snap.upstream.get(rig)
        if up is not None and up.behind:
            text.append(f"  {up.behind} behind upstream", style="dim")
        if up is not None and up.failures:
            text.append("  landing failed", style="bold")
        return text

    def _label(self, a: Agent) -> Text:
        glyph, variable = BADGES.get(a.state, ("·", "badge-idle"))
        text = Text()
        text.append(glyph + " ", style=self._colour(variable))
        if a.kind == "mayor":
            text.append("Mayor", style="bold")
            text.append_text(plain(f"  {a.state}", "dim"))
            return text
        if a.kind == "crew":
            text.append("crew ", style="dim")
        text.append_text(plain(a.name, "bold" if a.kind in ("polecat", "crew") else "italic"))
        if a.kind != "polecat":
            text.append_text(plain(f"  {a.state}", "dim"))
            return text
        if a.state == "waiting":  # the badge: it needs an answer from a human
            text.append_text(plain(" waiting for input", f"bold {self._colour(variable)}".strip()))
        else:
            text.append_text(plain(f" {a.state.replace('_', ' ')}", self._colour(variable)))
        if a.bead:
            text.append_text(plain(f"  {a.bead}"))
        if a.idle_s is not None and a.state in ("stalled", "gupp_violation"):
            text.append(f"  quiet {age(a.idle_s)}", style="dim")
        if a.key in self._costs:
            text.append(f"  {money(self._costs[a.key])}", style="dim")
        return text
