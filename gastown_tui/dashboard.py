"""``gt dashboard``: the cockpit in a browser (issue 21 part 7).

`textual-serve <https://github.com/Textualize/textual-serve>`_ serves a page with a terminal emulator
(xterm.js) and starts the app as a subprocess per browser session, from a shell command line, with
Textual's web driver; keys and output travel over one websocket (``/ws``). Here that command is this
Python with ``-P -m gastown_tui --town ROOT``: the same cockpit as in a terminal (each browser tab is
a cockpit of its own; the first one runs the engine, the others say it runs in another process).

What this module adds to textual-serve, whose routes (``/``, ``/ws``, ``/static``, ``/download``) take
no credentials:

- a random token (:func:`secrets.token_urlsafe`, 32 bytes) in the URL it prints: every request must
  carry it, as ``?token=`` or as the cookie the page's first load sets (the page's own scripts build
  the websocket's URL as ``/ws?width=..``, so the token cannot ride in that URL); anything else is
  answered 403. The cookie is ``HttpOnly`` and ``SameSite=Strict`` (another site's page can neither
  read it nor send it), named after the port (cookies do not tell the ports of one host apart);
- loopback only by default (:func:`check_host`): a dashboard drives agents that run commands, so a
  host others can reach needs ``--allow-remote``;
- ``--port 0`` picks a free port: the URL printed is the one bound.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web
from textual_serve.server import Server

from core.errors import GtError

#: Query parameter that carries the token.
TOKEN_PARAM = "token"
#: Bytes of randomness in a token (43 URL-safe characters).
TOKEN_BYTES = 32
#: Seconds :meth:`Dashboard.stop` waits for the browser sessions' cockpits to quit (an engine stops in 10).
STOP_TIMEOUT = 15.0
#: Text of the 403 answer (what a person who opened the bare address reads).
REFUSED = "gt dashboard: this address needs the token: open the URL gt dashboard printed (it ends in ?token=...)\n"


class RemoteHostRefused(GtError):
    """``--host`` names an address other machines can reach, and ``--allow-remote`` was not given."""


def is_loopback(host: str) -> bool:
    """True if every address ``host`` (an IP literal or a name) stands for is a loopback address
    (127.0.0.0/8, ::1). A name is resolved with :func:`socket.getaddrinfo`; one that does not
    resolve is not loopback."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse to serve on ``host`` when it is not loopback and ``allow_remote`` is false.

    Raises RemoteHostRefused (exit 2), one line naming ``--allow-remote``."""
    if not allow_remote and not is_loopback(host):
        raise RemoteHostRefused(
            f"--host {host} is not a loopback address: anyone who reaches it could drive your agents "
            "(with the token); serve on 127.0.0.1, or pass --allow-remote"
        )


def cockpit_command(town_root: Path) -> str:
    """The shell command line textual-serve runs per browser session: this Python, ``-P`` (the
    current directory is not on ``sys.path``), ``-m gastown_tui --town ROOT`` (quoted for the shell
    textual-serve starts it with)."""
    return shlex.join([sys.executable, "-P", "-m", "gastown_tui", "--town", str(town_root)])


def url_host(host: str) -> str:
    """``host`` as a URL spells it (an IPv6 literal in brackets)."""
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else bare


class _Server(Server):
    """textual-serve's server without its banner (``gt dashboard`` prints the URL to open)."""

    async def on_startup(self, app: web.Application) -> None:
        pass


class Dashboard:
    """A textual-serve server of the cockpit of ``town_root`` on ``host``:``port`` behind a token.

    port: a TCP port, 0 for a free one (:attr:`port` is the bound one after :meth:`start`).
    token: the token the URL carries (default: a fresh :func:`secrets.token_urlsafe`).
    command: the command line run per browser session (default: :func:`cockpit_command`).
    """

    def __init__(
        self,
        town_root: Path,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        token: str | None = None,
        command: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.token = token or secrets.token_urlsafe(TOKEN_BYTES)
        self.server = _Server(command or cockpit_command(town_root), host=host, port=port, title="gastown-tui")
        self._runner: Any = None
        self._sessions: set[asyncio.Task[Any]] = set()  # the websocket handlers: one cockpit each

    @property
    def cookie(self) -> str:
        """Name of the token's cookie (per port)."""
        return f"gt_dashboard_{self.port}"

    @property
    def url(self) -> str:
        """The URL to open: the page, with the token."""
        return f"{self.server.public_url}/?{TOKEN_PARAM}={self.token}"

    def _allowed(self, request: Any) -> bool:
        given = request.query.get(TOKEN_PARAM) or request.cookies.get(self.cookie) or ""
        return hmac.compare_digest(given.encode(), self.token.encode())

    async def _guard(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """aiohttp middleware: 403 without the token; the page's answer sets the cookie."""
        if not self._allowed(request):
            return web.Response(status=403, text=REFUSED, headers={"Cache-Control": "no-store"})
        task = asyncio.current_task()
        if request.path == "/ws" and task is not None:
            self._sessions.add(task)
        try:
            response = await handler(request)
        finally:
            self._sessions.discard(task)  # type: ignore[arg-type]
        if not response.prepared:  # a websocket or a streamed download has sent its headers already
            response.headers["Referrer-Policy"] = "no-referrer"
            response.headers["X-Frame-Options"] = "DENY"
            if TOKEN_PARAM in request.query:
                response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
        return response

    async def start(self) -> str:
        """Bind and serve; returns :attr:`url`. Raises OSError when the address cannot be bound."""
        app = await self.server._make_app()  # textual-serve's routes, templates and statics
        app.middlewares.append(web.middleware(partial(Dashboard._guard, self)))  # a new-style middleware
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=STOP_TIMEOUT)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self.server.public_url = f"http://{url_host(self.host)}:{self.port}"
        return self.url

    async def stop(self) -> None:
        """Close every browser session and the listening socket. A session's handler, cancelled,
        closes its websocket and tells its cockpit to quit (textual-serve's ``AppService.stop``),
        which stops the engine it runs; waits up to :data:`STOP_TIMEOUT` seconds for them."""
        sessions = list(self._sessions)
        for task in sessions:
            task.cancel()
        if sessions:
            await asyncio.wait(sessions, timeout=STOP_TIMEOUT)
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


def serve(dashboard: Dashboard, on_ready: Callable[[str], None]) -> None:
    """Run ``dashboard`` until SIGINT or SIGTERM; ``on_ready(url)`` once it listens.

    Raises GtError (exit 2) when the address cannot be bound (in use, not this machine's)."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            url = await dashboard.start()
        except OSError as exc:
            raise GtError(
                f"cannot listen on {dashboard.host}:{dashboard.port} ({exc.strerror or exc}): "
                "pick another --port (0 for any free one)"
            ) from exc
        on_ready(url)
        try:
            await stop.wait()
        finally:
            await dashboard.stop()

    asyncio.run(main())
