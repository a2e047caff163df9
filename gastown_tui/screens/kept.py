"""Detail screens built once and kept (installed, like the help screen): opening one again retargets
it and pushes it, so the key press draws a composed frame at once instead of composing and styling
the screen's widgets (a new screen with a table and a footer costs about 0.1-0.15 s on the cockpit's
160x50 screen, more than the help screen's whole open). The data still comes from the screen's own
worker read each time it is shown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from textual.app import App
from textual.screen import Screen

S = TypeVar("S", bound=Screen)


def push_kept(app: App, name: str, kind: type[S], build: Callable[[], S], retarget: Callable[[S], None]) -> None:
    """Push the screen installed as ``name`` (a ``kind``), installing ``build()`` the first time, else
    after ``retarget(screen)`` (point it at what is opened now). When that screen is already in the
    stack (a bead opened from a bead's dependencies), a new ``build()`` is pushed instead: a screen
    can be in the stack only once."""
    if not app.is_screen_installed(name):
        app.install_screen(build(), name)
    else:
        kept = app.get_screen(name)
        assert isinstance(kept, kind)
        if kept in app.screen_stack:
            app.push_screen(build())
            return
        retarget(kept)
    app.push_screen(name)
