"""The cockpit's key order (:mod:`gastown_tui.keyorder`) on a bare Textual app wired as the cockpit is:
a key whose handling is slow holds the keys read after it for as long as it takes, and each of them
then goes to the widget focused by the key before it."""

from __future__ import annotations

import asyncio
from functools import partial

from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Static

from gastown_tui import keyorder
from gastown_tui.keyorder import KeyOrder
from tests.conftest import run_async, wait_until
from tests.test_cockpit_keys import burst


class Panel(Static, can_focus=True):
    """Records the keys it is handed; ``a`` waits for the test's ``release``, then focuses ``#b``."""

    def __init__(self, id: str) -> None:
        super().__init__(id, id=id)
        self.keys: list[str] = []

    async def on_key(self, event: events.Key) -> None:
        self.keys.append(event.key)
        if event.key == "a":
            app = self.app
            assert isinstance(app, Ordered)
            await app.release.wait()
            self.screen.set_focus(app.query_one("#b"))


class Ordered(App):
    """Two panels; keys go through a :class:`KeyOrder`, as :meth:`CockpitApp.on_event` does."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.order = KeyOrder(self, partial(App.on_event, self))

    def compose(self) -> ComposeResult:
        yield Panel("a")
        yield Panel("b")

    async def on_event(self, event: events.Event) -> None:
        await self.order.on_event(event)


@run_async
async def test_a_slow_key_holds_the_next_one_until_it_is_done(monkeypatch) -> None:
    monkeypatch.setattr(keyorder, "CHECK_S", 0.05)
    app = Ordered()
    async with app.run_test() as pilot:
        a, b = app.query_one("#a", Panel), app.query_one("#b", Panel)
        app.screen.set_focus(a)
        checks, five = 0, asyncio.Event()
        check = app.order._check

        async def counted() -> None:
            nonlocal checks
            checks += 1
            if checks >= 5:
                five.set()
            await check()

        app.order._check = counted  # type: ignore[method-assign]
        burst(app, "a", "x")
        try:
            # (not wait_until: Pilot.pause waits for every widget's queue, and a's is held)
            await asyncio.wait_for(five.wait(), timeout=30)
            # the check found the panel still in the app every time: x waits, however long a takes
            assert a.keys == ["a"] and b.keys == []
        finally:
            app.release.set()
        await wait_until(pilot, lambda: b.keys == ["x"], what="x handed to the panel a focused")
        assert a.keys == ["a"]
