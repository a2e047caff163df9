"""Every key of the cockpit in one table (:data:`KEYS`): each screen's and panel's ``BINDINGS`` are made
from it (:func:`bindings`), the help screen lists it and the command palette offers it (:data:`KEYMAP`).

A row is one key with a binding id (``Binding.id``): every binding made from the row carries that id,
so a keymap (Textual's ``App.set_keymap({id: keys})``, Posting's habit) moves the key everywhere it is
bound at once, e.g. ``sling`` on the main screen and on the ready-beads panel. ``binds``: where it is
bound, as (scope, action, shown in the footer); a panel re-binds a screen action as ``screen.<action>``
so the footer shows it where it applies. A row without ``binds`` is bound by a widget itself (its
key comes from the widget: :data:`widgets.beads.MARK_KEY`, :data:`widgets.terminal.DETACH_KEY`,
:data:`widgets.listfilter.CLEAR_KEY`) or by Textual (``tab``, ``ctrl+p``) and is only listed. Rows with ``help`` text are the main help list, in
order; the other rows are the views' own keys (README "Keys", checked by ``tests/test_readme.py``).

Rebinding: a ``[keys]`` table in ``town.toml`` maps binding ids to keys (``sling = "S"``,
``detach = "ctrl+b"``); :func:`keymap` checks it (every id a row that something binds, every key a
key Textual knows) and the cockpit hands it to ``App.set_keymap`` at mount; the help list, the
palette and the footer then show the rebound keys (:func:`help_rows`, :func:`key_display`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType
from textual.keys import Keys, _character_to_key, format_key

from core.errors import ConfigError
from widgets.beads import MARK_KEY
from widgets.listfilter import CLEAR_ID, CLEAR_KEY, DOWN_ID, DOWN_KEY, KEEP_ID, KEEP_KEY, UP_ID, UP_KEY
from widgets.sessionpane import ATTACH_ID, ATTACH_KEY
from widgets.terminal import DETACH_ID, DETACH_KEY

#: Scopes a row can bind in: the app, the main screen, its panels, and the other views.
SCOPES = (
    "app",
    "main",
    "agents",
    "ready",
    "refinery",
    "convoys",
    "problems",
    "boards",
    "grid",
    "mail",
    "polecat",
    "merge_request",
    "help",
    "dialog",
    "new_bead",
    "formula",
    "confirm",
    "quit",
    "summary",
    "bead",
    "bead_deps",
    "convoy",
    "convoy_beads",
    "bead_edit",
    "comment",
    "compose",
)


#: A pseudo-scope: the row's action is the palette's (run on the main screen) but no key binds it
#: there (``enter`` attaches only from the agents panel and the session pane, never from any panel).
PALETTE = "palette"


@dataclass(frozen=True)
class Key:
    """One key of the cockpit.

    id: the binding id (unique in the table). key: Textual key names, comma-separated. label: the
    footer's word. binds: (scope in :data:`SCOPES`, action, shown in the footer) for each binding made
    (scope :data:`PALETTE`: the palette's main-screen action, bound nowhere).
    shown: the key as the help list shows it (default: ``key``). title: the command palette's entry
    ("" for none). help: the help list's line ("" for a view's own key, not in the main list).
    priority: Textual's binding priority. widget: for a row without ``binds``, the widget that binds
    the key itself under this id ("" when Textual binds it and the key cannot be rebound).
    """

    id: str
    key: str
    label: str
    binds: tuple[tuple[str, str, bool], ...] = ()
    shown: str = ""
    title: str = ""
    help: str = ""
    priority: bool = False
    widget: str = ""

    @property
    def rebindable(self) -> bool:
        """True when a ``[keys]`` entry can move this key (something binds it under its id)."""
        return bool(self.binds or self.widget)

    @property
    def display(self) -> str:
        """The key as people read it (``?`` for ``question_mark``)."""
        return self.shown or self.key

    @property
    def action(self) -> str:
        """The palette's action: the main screen's, or the app's as ``app.<name>``."""
        for scope, action, _show in self.binds:
            if scope in ("main", PALETTE):
                return action
            if scope == "app":
                return f"app.{action}"
        return ""


def _main(action: str, show: bool = False, *panels: str) -> tuple[tuple[str, str, bool], ...]:
    """Bound on the main screen (footer: ``show``) and re-bound on ``panels`` as ``screen.<action>``."""
    return (("main", action, show), *((panel, f"screen.{action}", True) for panel in panels))


KEYS: tuple[Key, ...] = (
    # the main screen, in the help list's order
    Key(
        "sling",
        "s",
        "Sling",
        _main("sling", False, "ready"),
        title="Sling beads",
        help="Sling the marked ready beads (or the one under the cursor): pick rig, agent, polecat",
    ),
    Key(
        "mark",
        MARK_KEY,
        "Mark",
        help="Mark or unmark a ready bead (slinging and convoys take the marked ones)",
        widget="widgets.beads.ReadyBeads",
    ),
    Key("new_bead", "b", "New bead", _main("new_bead", False, "ready"), title="New bead", help="File a new bead"),
    Key(
        "new_convoy",
        "c",
        "Convoy",
        _main("new_convoy", False, "ready"),
        title="New convoy",
        help="Make a convoy of the marked ready beads",
    ),
    Key(
        "run_formula",
        "f",
        "Formula",
        _main("run_formula", True),
        title="Run formula",
        help="Pick a formula, fill its vars and pour it into a molecule",
    ),
    Key(
        "nudge",
        "n",
        "Nudge",
        _main("nudge", False, "agents"),
        title="Nudge agent",
        help="Type a message into the selected agent's session",
    ),
    Key(
        "nuke",
        "x",
        "Nuke",
        _main("nuke", False, "agents"),
        title="Nuke polecat",
        help="Kill the selected polecat's session and remove its worktree (asks first)",
    ),
    Key(
        "retry_mr",
        "r",
        "Retry MR",
        _main("retry_mr", False, "refinery"),
        title="Retry merge request",
        help="Put the failed MR under the cursor back in the refinery queue",
    ),
    Key(
        ATTACH_ID,
        ATTACH_KEY,
        "Attach",
        ((PALETTE, "attach", False), ("agents", "screen.attach", True)),
        title="Attach to terminal",
        help="Attach to the selected agent's terminal (on the agents panel or the focused session pane; "
        "or click the terminal): keys go to the agent",
        priority=True,  # attached before the next key is read (see widgets.sessionpane)
    ),
    Key(
        DETACH_ID,
        DETACH_KEY,
        "Detach",
        shown="ctrl+]",
        help="Leave an attached terminal (the agent keeps running)",
        widget="widgets.terminal.TerminalView",
    ),
    Key(
        "polecat_detail",
        "d",
        "Detail",
        _main("polecat_detail", False, "agents"),
        title="Polecat detail",
        help="The selected polecat's bead, branch, commits, diff, transcript, state history and cost",
    ),
    Key("grid", "g", "Grid", _main("grid", True), title="Grid of previews", help="Live previews of every session"),
    Key(
        "problems",
        "p",
        "Problems",
        _main("problems", True),
        title="Problems",
        help="Zombie, stuck, stalled, waiting and GUPP-violating polecats, lost worktrees, failed and conflicting "
        "merges, open escalations",
    ),
    Key("mail", "m", "Mail", _main("mail", True), title="Mail", help="The Mayor's inbox: read, compose, reply"),
    Key(
        "bead_detail",
        "enter",
        "Open",
        (("ready", "screen.bead_detail", True),),
        help="On the ready beads: open the bead (description, dependencies, comments, history; edit, close)",
    ),
    Key(
        "convoy_detail",
        "enter",
        "Open",
        (("convoys", "screen.convoy_detail", True),),
        help="On the convoys: open the convoy (its beads with status and MRs, progress, landed time)",
    ),
    Key(
        "boards",
        "B",
        "Boards",
        _main("boards", False),
        title="Boards",
        help="Shared boards: other towns' wanted items and their claims; claim or release them",
    ),
    Key(
        "board_post",
        "P",
        "Post",
        _main("board_post", False, "ready"),
        title="Post to board",
        help="Post the ready bead under the cursor to the town's board as a wanted item",
    ),
    Key("help", "question_mark", "Help", _main("help", True), shown="?", title="Help", help="This list of keys"),
    Key("palette", "ctrl+p", "Palette", help="Command palette: every action by name"),
    Key(
        "toggle_theme",
        "t",
        "Theme",
        (("app", "toggle_theme", True),),
        title="Switch theme",
        help="Switch between the dark and light theme (remembered in town.toml)",
    ),
    Key("focus_next", "tab", "Next", help="Next panel (shift+tab: previous); never into a terminal"),
    Key(
        "next_tab",
        "right_square_bracket",
        "Next tab",
        _main("next_tab", True),
        shown="]",
        title="Next panel tab",
        help="Compact layout (small terminals): show the next panel's tab",
    ),
    Key(
        "previous_tab",
        "left_square_bracket",
        "Prev tab",
        _main("previous_tab", False),
        shown="[",
        title="Previous panel tab",
        help="Compact layout: show the previous panel's tab",
    ),
    *(
        Key(f"panel_{panel}", str(n), panel.capitalize(), _main(f"focus_panel('{panel}')"), help=f"Jump to the {what}")
        for n, (panel, what) in enumerate(
            (
                ("agents", "agents panel"),
                ("session", "session pane (watching: enter attaches)"),
                ("convoys", "convoys panel"),
                ("feed", "feed"),
                ("ready", "ready beads"),
                ("refinery", "refinery queue"),
            ),
            1,
        )
    ),
    Key(DOWN_ID, DOWN_KEY, "Down", help="Down in a list or tree (also the arrow)", widget="widgets.listfilter"),
    Key(UP_ID, UP_KEY, "Up", help="Up in a list or tree (also the arrow)", widget="widgets.listfilter"),
    Key(
        "filter",
        "slash",
        "Filter",
        _main("filter"),
        shown="/",
        title="Filter the list",
        help="Filter the focused list (agents, convoys, ready beads, refinery) as you type; escape clears it",
    ),
    Key(
        "close",
        "escape",
        "Back",
        _main("back"),
        help="Close a view or dialog; on the main screen clear the focused list's filter, else back to the agents",
    ),
    Key(
        "quit_cockpit",
        "q",
        "Quit",
        (("app", "quit_cockpit", True),),
        title="Quit",
        help="Quit the cockpit (asks whether the engine keeps running); the agents keep running in tmux",
    ),
    # the other views' own keys
    Key(CLEAR_ID, CLEAR_KEY, "Clear filter", widget="widgets.listfilter.FilterInput"),
    Key(KEEP_ID, KEEP_KEY, "Keep filter", widget="widgets.listfilter.FilterInput"),
    Key("problems.back", "escape,p", "Back", (("problems", "app.pop_screen", True),)),
    Key("problems.open", "enter", "Open agent", (("problems", "open", True),)),
    Key("problems.nudge", "n", "Nudge", (("problems", "nudge", True),)),
    Key("problems.restart", "R", "Restart", (("problems", "restart", True),)),
    Key("problems.retry_mr", "r", "Retry MR", (("problems", "retry_mr", True),)),
    Key("problems.nuke", "x", "Nuke", (("problems", "nuke", True),)),
    Key("problems.acknowledge", "a", "Acknowledge", (("problems", "acknowledge", True),)),
    Key("problems.detail", "d", "Detail", (("problems", "detail", True),)),
    Key("mr_detail", "enter", "Detail", (("refinery", "screen.mr_detail", True),)),
    Key("polecat.back", "escape", "Back", (("polecat", "close", True),)),
    Key("polecat.diff", "1", "Diff", (("polecat", "show_tab('diff')", True),)),
    Key("polecat.transcript", "2", "Transcript", (("polecat", "show_tab('transcript')", True),)),
    Key("polecat.search", "/", "Search", (("polecat", "search", True),)),
    Key("polecat.next", "n", "Next match", (("polecat", "next_match(1)", True),)),
    Key("polecat.previous", "N", "Previous match", (("polecat", "next_match(-1)", True),)),
    Key("polecat.refresh", "R", "Refresh", (("polecat", "refresh", True),)),
    Key("polecat.edit", "e", "Editor", (("polecat", "edit", True),)),
    Key("merge_request.back", "escape", "Back", (("merge_request", "close", True),)),
    Key("merge_request.retry", "r", "Retry", (("merge_request", "retry", True),)),
    Key("merge_request.reject", "x", "Reject", (("merge_request", "reject", True),)),
    Key("merge_request.refresh", "R", "Refresh", (("merge_request", "refresh", True),)),
    Key("boards.back", "escape,B", "Back", (("boards", "app.pop_screen", True),)),
    Key("boards.claim", "c", "Claim", (("boards", "claim", True),)),
    Key("boards.release", "r", "Release", (("boards", "release", True),)),
    Key("boards.refresh", "R", "Refresh", (("boards", "refresh", True),)),
    Key("grid.back", "escape,g", "Back", (("grid", "app.pop_screen", True),)),
    Key("grid.open", "enter", "Open", (("grid", "open", True),)),
    Key("grid.left", "left", "Left", (("grid", "left", False),), priority=True),
    Key("grid.right", "right", "Right", (("grid", "right", False),), priority=True),
    Key("grid.up", "up", "Up", (("grid", "up", False),), priority=True),
    Key("grid.down", "down", "Down", (("grid", "down", False),), priority=True),
    Key("grid.mark", "space", "Mark", (("grid", "mark", True),)),
    Key("grid.nudge", "n", "Nudge marked", (("grid", "nudge", True),)),
    Key("mail.back", "escape,m", "Back", (("mail", "app.pop_screen", True),)),
    Key("mail.open", "enter", "Read", (("mail", "open", True),)),
    Key("mail.compose", "c", "Compose", (("mail", "compose", True),)),
    Key("mail.reply", "r", "Reply", (("mail", "reply", True),)),
    Key("bead.back", "escape", "Back", (("bead", "app.pop_screen", True),)),
    Key("bead.open", "enter", "Open dep", (("bead", "open", False), ("bead_deps", "screen.open", True))),
    Key("bead.edit", "e", "Edit", (("bead", "edit", True),)),
    Key("bead.comment", "c", "Comment", (("bead", "comment", True),)),
    Key("bead.close", "x", "Close bead", (("bead", "close_bead", True),)),
    Key("bead.reopen", "o", "Reopen", (("bead", "reopen", True),)),
    Key("convoy.back", "escape", "Back", (("convoy", "app.pop_screen", True),)),
    Key("convoy.open", "enter", "Open bead", (("convoy", "open", False), ("convoy_beads", "screen.open", True))),
    Key("help.close", "escape,q,question_mark", "Close", (("help", "dismiss_help", True),)),
    Key("dialog.cancel", "escape", "Cancel", (("dialog", "cancel", True),)),
    Key("new_bead.create", "ctrl+s", "Create", (("new_bead", "create", True),)),
    Key("formula.pour", "ctrl+s", "Pour", (("formula", "pour", True),)),
    Key("bead_edit.save", "ctrl+s", "Save", (("bead_edit", "submit", True),)),
    Key("comment.add", "ctrl+s", "Add", (("comment", "submit", True),)),
    Key("compose.send", "ctrl+s", "Send", (("compose", "submit", True),)),
    Key("confirm.yes", "y,enter", "Yes", (("confirm", "yes", True),)),
    Key("confirm.no", "n", "No", (("confirm", "cancel", True),)),
    Key("quit.keep", "k,enter", "Keep engine", (("quit", "keep", True),)),
    Key("quit.stop", "s", "Stop engine", (("quit", "stop", True),)),
    Key("summary.close", "enter", "Close", (("summary", "close", True),)),
)


def bindings(scope: str, order: tuple[str, ...] = ()) -> list[BindingType]:
    """The ``BINDINGS`` of ``scope`` (one of :data:`SCOPES`), each with its row's id, in table order
    or in ``order`` (the scope's binding ids, all of them: the footer shows them in that order).
    Raises ValueError for an unknown scope or an ``order`` that is not the scope's ids."""
    if scope not in SCOPES:
        raise ValueError(f"unknown key scope {scope!r}: one of {', '.join(SCOPES)}")
    made = {
        k.id: Binding(k.key, action, k.label, show=show, key_display=k.shown or None, priority=k.priority, id=k.id)
        for k in KEYS
        for where, action, show in k.binds
        if where == scope
    }
    if order and sorted(order) != sorted(made):
        raise ValueError(f"order {order} is not the ids of scope {scope!r}: {', '.join(made)}")
    return [made[i] for i in (order or made)]


def key_display(row: Key, keymap: Mapping[str, str] | None = None) -> str:
    """How ``row``'s key reads (``?``, ``ctrl+]``), or the key ``keymap`` (a checked :func:`keymap`)
    puts on its id, as Textual's footer shows it (``S``, ``ctrl+b``, several joined by ``,``)."""
    bound = (keymap or {}).get(row.id)
    if not bound:
        return row.display
    return ",".join(format_key(k) if len(k) > 1 and "+" not in k else k for k in bound.split(","))


def help_rows(keymap: Mapping[str, str] | None = None) -> tuple[tuple[str, str, str, str], ...]:
    """The main help list with ``keymap``'s keys: (key as shown, palette action or "", palette title
    or "", help line), in table order."""
    return tuple((key_display(k, keymap), k.action if k.title else "", k.title, k.help) for k in KEYS if k.help)


#: The main help list (key as shown, palette action or "", palette title or "", help line), in order.
KEYMAP: tuple[tuple[str, str, str, str], ...] = help_rows()

_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
#: Names of keys Textual knows besides single characters: its ``Keys`` and the punctuation names.
_KEY_NAMES = frozenset(
    {k.value.rsplit("+", 1)[-1] for k in Keys}
    | {_character_to_key(chr(c)) for c in range(33, 127)}
    | {"space", "enter", "tab", "backspace", "escape", "delete", "insert"}
)


def _check_key(key: str) -> bool:
    *mods, base = key.split("+")
    return all(m in _MODIFIERS for m in mods) and (len(base) == 1 and base.isprintable() or base in _KEY_NAMES)


def keymap(table: Mapping[str, str], where: str = "town.toml") -> dict[str, str]:
    """Check a ``[keys]`` table (binding id -> keys, comma-separated Textual key names such as ``S``,
    ``ctrl+b``, ``f5``, ``?``) and return it for ``App.set_keymap``. where: the file, for messages.

    Raises ConfigError, one line naming the id or key and the fix: an id no row has, a row Textual
    binds itself (``tab``, ``ctrl+p``), a key Textual does not know, or an empty value."""
    rows = {k.id: k for k in KEYS}
    out: dict[str, str] = {}
    for kid, value in table.items():
        row = rows.get(kid)
        if row is None:
            shown = kid if kid.isidentifier() else repr(kid)
            ids = [k.id for k in KEYS if k.rebindable]
            near = difflib.get_close_matches(kid, ids, n=1)
            hint = f"did you mean {near[0]}?" if near else f"use one of {', '.join(ids)}"
            raise ConfigError(
                f"{where}: [keys] {shown}: no key has that id: {hint} (the help screen, ?, lists the ids)"
            )
        if not row.rebindable:
            raise ConfigError(f"{where}: [keys] {kid}: {row.display} is Textual's own key and cannot be rebound")
        keys = [k.strip() for k in str(value).split(",")]
        for key in keys:
            if not key or not _check_key(key):
                raise ConfigError(
                    f"{where}: [keys] {kid} = {str(value)!r}: {key!r} is not a key: write Textual key names "
                    'such as "S", "ctrl+b", "f5", "question_mark", comma-separated'
                )
        out[kid] = ",".join(keys)
    return out
