"""The feed: the town's events as one line each, newest at the bottom (DESIGN section 1, ``feed``)."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from core.events import Event
from core.feed import PROBLEM_TYPES
from widgets.safe_text import plain

#: Event types worth a line in the feed (the beads audit trail's field edits are left out).
FEED_TYPES = frozenset(
    {
        "sling",
        "spawn",
        "respawn",
        "done",
        "unsling",
        "nuke",
        "nudge",
        "merged",
        "merge_failed",
        "merge_conflict",
        "mr_submitted",
        "mr_retry",
        "mr_rejected",
        "escalation",
        "convoy_created",
        "convoy_landed",
        "convoy_closed",
        "molecule_poured",
        "created",
        "closed",
        "checkpoint",
        "engine_started",
        "engine_stopped",
        "crew_added",
        "crew_removed",
        "crew_started",
        "crew_synced",
        *PROBLEM_TYPES,
    }
)
MAX_LINES = 1000


def describe(e: Event) -> str:
    """One line about event ``e`` (without time and type): bead, polecat and the payload's gist."""
    p = e.payload
    parts = []
    if e.rig:
        parts.append(e.rig)
    who = p.get("polecat") or (f"crew/{p['crew']}" if p.get("crew") else None)
    if who:
        parts.append(str(who))
    if e.bead:
        parts.append(e.bead)
    for key in ("mr", "name", "reason", "gate", "text", "status", "error"):
        value = p.get(key)
        if value:
            parts.append(str(value).splitlines()[0][:80])
    if not parts and e.actor:
        parts.append(e.actor)
    return "  ".join(parts)


def feed_line(e: Event) -> Text:
    """``HH:MM:SS type  details`` for event ``e`` (local time), the type in bold; problem events
    (:data:`core.feed.PROBLEM_TYPES`) marked with ``!`` in reverse video. Type and details are
    agent-written: text, never markup, without control characters."""
    text = Text(time.strftime("%H:%M:%S", time.localtime(e.ts)), style="dim")
    problem = e.type in PROBLEM_TYPES
    text.append(" !" if problem else "  ", style="bold reverse" if problem else "")
    text.append_text(plain(f" {e.type:<14}", "bold"))
    text.append_text(plain(describe(e)))
    return text


class Feed(RichLog):
    """The event feed (at most MAX_LINES lines kept)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=MAX_LINES, wrap=False, markup=False, auto_scroll=True)
        self.last_id = 0

    def add_events(self, events: list[Event]) -> None:
        """Append the feed-worthy events of ``events`` (ids above the last shown)."""
        for e in events:
            if e.id <= self.last_id:
                continue
            self.last_id = e.id
            if e.type in FEED_TYPES:
                self.write(feed_line(e))
