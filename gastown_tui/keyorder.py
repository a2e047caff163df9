"""One key at a time: the app handles a key (or a paste) only after the one before it is done.

Textual runs a priority binding as soon as the app reads the key; any other key it posts to the queue of
the widget focused then, from where the key bubbles, queue by queue, up to the app, which only then
runs the binding, on the widget focused *then* (Textual issue 6605). Keys read together (a fast
typist, ``tmux send-keys`` on a busy machine) were therefore handled out of order and by the wrong
widget: a ``j`` read while ``5`` was still on its way moved the agents tree's cursor, not the ready
beads', and a ``2`` read after a ``1`` still in another panel's queue ran first, so the session pane
never got the focus and the ``enter`` after it attached nothing.

:class:`KeyOrder` holds every key read while one is on its way. A key is done when the app handled it at
once (a priority binding) or, once posted, when a callback queued behind it on each node from the
widget it went to up to the app has run (each queue is first in, first out, so the key has been handled
there, and bubbled on if it did). A key is given up, and the keys behind it go on (as Textual would
have sent them), when the node whose queue holds its callback left the app (a widget removed on the
way, its queue dropped), checked every :data:`CHECK_S` seconds, or after :data:`GIVE_UP_S` whatever
happens; a slow machine only makes the keys wait.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable

from textual import events
from textual.app import App
from textual.message_pump import MessagePump
from textual.timer import Timer

#: Seconds between two checks that the node a posted key waits on is still in the app.
CHECK_S = 2.0
#: Seconds a posted key may take to get through its queues at most before the keys read after it go on.
GIVE_UP_S = 30.0

#: What the app does with a key it read: Textual's ``App.on_event``.
Handler = Callable[[events.Event], Awaitable[None]]


class KeyOrder:
    """The keys of ``app``, in order. ``handle``: the app's own handling of an event read from the
    terminal (``App.on_event`` of Textual's class): it runs a priority binding at once or posts the
    event to the focused widget (``event.is_forwarded`` afterwards)."""

    def __init__(self, app: App, handle: Handler) -> None:
        self._app = app
        self._handle = handle
        self._pending: deque[events.Event] = deque()
        self._busy: events.Event | None = None
        self._at: MessagePump | None = None  # whose queue holds the busy key's callback
        self._since = 0.0
        self._timer: Timer | None = None

    async def on_event(self, event: events.Event) -> None:
        """The app's ``on_event``: a key or a paste read from the terminal (not one bubbling) is handled
        now or after the keys before it are done; any other event goes to ``handle`` at once."""
        if not isinstance(event, (events.Key, events.Paste)) or event.is_forwarded:
            await self._handle(event)
            return
        self._pending.append(event)
        if self._busy is None:
            await self._drain()
        else:
            self._watch()

    async def _drain(self) -> None:
        while self._busy is None and self._pending:
            event = self._pending.popleft()
            target: MessagePump = self._app.focused or self._app.screen
            await self._handle(event)
            if event.is_forwarded:
                self._busy, self._since = event, time.monotonic()
                self._behind(event, target)

    def _behind(self, event: events.Event, node: MessagePump | None) -> None:
        """Queue :meth:`_reached` behind ``event`` on ``node``, or on the first of its ancestors that
        still takes messages; past the app, the key is done."""
        while node is not None:
            if node.call_later(self._reached, event, node):
                self._at = node
                return
            node = node.parent
        self._at = self._app
        self._app.call_later(self._done, event)

    async def _reached(self, event: events.Event, node: MessagePump) -> None:
        if self._busy is not event:
            return  # given up on meanwhile
        if node is self._app:
            await self._done(event)
        else:
            self._behind(event, node.parent)

    async def _done(self, event: events.Event) -> None:
        if self._busy is event:
            self._busy = None
            await self._drain()

    def _watch(self) -> None:
        if self._timer is None:
            self._timer = self._app.set_timer(CHECK_S, self._check)

    async def _check(self) -> None:
        self._timer = None
        busy, at = self._busy, self._at
        if busy is not None:
            gone = at is None or not at.is_running or (at is not self._app and not at.is_attached)
            if gone or time.monotonic() - self._since >= GIVE_UP_S:
                await self._done(busy)
        if self._busy is not None and self._pending:
            self._watch()
