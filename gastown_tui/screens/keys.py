"""Every key of the cockpit in one table: the help screen lists it and the command palette offers it.

Each entry: (key as shown, action name on the main screen or ``app.``-prefixed, palette title, help).
"""

from __future__ import annotations

KEYMAP: tuple[tuple[str, str, str, str], ...] = (
    ("s", "sling", "Sling beads", "Sling the marked ready beads (or the one under the cursor): pick rig, agent, polecat"),
    ("space", "", "", "Mark or unmark a ready bead (slinging and convoys take the marked ones)"),
    ("b", "new_bead", "New bead", "File a new bead"),
    ("c", "new_convoy", "New convoy", "Make a convoy of the marked ready beads"),
    ("f", "run_formula", "Run formula", "Pick a formula, fill its vars and pour it into a molecule"),
    ("n", "nudge", "Nudge agent", "Type a message into the selected agent's session"),
    ("x", "nuke", "Nuke polecat", "Kill the selected polecat's session and remove its worktree (asks first)"),
    ("r", "retry_mr", "Retry merge request", "Put the failed MR under the cursor back in the refinery queue"),
    ("enter", "attach", "Attach to terminal", "Attach to the selected agent's terminal: keys go to the agent"),
    ("ctrl+]", "", "", "Leave an attached terminal (the agent keeps running)"),
    ("g", "grid", "Grid of previews", "Live previews of every session"),
    ("p", "problems", "Problems", "Stalled, zombie and GUPP-violating polecats, escalations"),
    ("m", "mail", "Mail", "The Mayor's inbox"),
    ("?", "help", "Help", "This list of keys"),
    ("ctrl+p", "", "", "Command palette: every action by name"),
    ("t", "app.toggle_theme", "Switch theme", "Switch between the dark and light theme (remembered in town.toml)"),
    ("tab", "", "", "Next panel (shift+tab: previous)"),
    ("escape", "", "", "Close a view or dialog"),
    ("q", "app.quit_cockpit", "Quit", "Quit the cockpit; the agents keep running in tmux"),
)
