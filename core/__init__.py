"""The UI-free engine of gastown-tui: towns, rigs, beads, worktrees, sessions, refinery, monitors.

Nothing under ``core`` imports textual, rich or pyte.
"""
