"""A scripted model endpoint (test support, not product): a local HTTP server that plays the model for real
agent CLIs (Claude Code, Codex...) pointed at it with ``ANTHROPIC_BASE_URL`` / an OpenAI base URL.

    with ModelEndpoint(script=polecat_script) as ep:
        env["ANTHROPIC_BASE_URL"] = ep.url
        ...start the CLI...
        turn = ep.wait_for(lambda ep: ep.last_turn(lambda t: "gt done" in t.shell_calls()), timeout=60)

Routes (the query string is ignored for routing, so ``/v1/messages?beta=true`` is ``/v1/messages``):

- ``POST /v1/messages`` -> ``tests.model_anthropic.handle_messages(endpoint, handler, body)``
  (api ``"anthropic"``)
- ``POST /v1/messages/count_tokens`` -> ``{"input_tokens": N}`` (api ``"anthropic-count"``)
- any method on a path ending ``/responses`` (``/v1/responses``, ``/responses``) ->
  ``tests.model_openai.handle_responses(handler, body, script, record)``; a path ending
  ``/chat/completions`` -> ``tests.model_openai.handle_chat_completions(handler, body, script, record)``
  (api ``"openai"``); imported lazily, 501 while that module or function is missing.
- anything else (start-up probes): recorded with api ``"probe"``, answered ``200 {}`` for ``HEAD``,
  ``OPTIONS``, ``/`` and a few known harmless paths, else ``404`` in Anthropic's error shape.

OpenAI adapter contract: ``handler`` is the request's :class:`BaseHTTPRequestHandler` (body already read
and parsed into ``body``); the function writes the whole answer itself. ``script`` is
:meth:`ModelEndpoint.run_script` (runs the current script, records the reply, turns an exception into a
500 reply; it does NOT sleep ``Reply.delay``: the adapter does). ``record`` is
:meth:`ModelEndpoint.record_turn`, called with the parsed Turn before the script.

Anthropic adapter: :func:`tests.model_anthropic.handle_messages` calls ``endpoint.answer(turn)``
(record_turn + run_script + interruptible sleep of ``reply.delay``) and writes with the helpers here:
:func:`send_json`, :func:`start_sse`, :func:`send_sse`. ``endpoint.new_id(prefix)`` gives unique ids.
The request itself is recorded in ``endpoint.requests`` before any adapter is called.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit

try:  # run as ``python -m tests.model_endpoint`` or imported as ``tests.model_endpoint``
    from tests.model_script import Reply, Script, Turn, is_side_request, polecat_script
except ImportError:  # pragma: no cover - imported with tests/ itself on sys.path
    from model_script import Reply, Script, Turn, is_side_request, polecat_script  # type: ignore[no-redef]

T = TypeVar("T")

#: GET/POST paths Claude Code (or the Anthropic SDK) may probe at start-up that we answer ``200 {}``.
HARMLESS_PATHS = ("/api/hello", "/v1/models", "/api/oauth", "/api/claude_cli", "/api/eval", "/api/event_logging")


def _sibling(name: str) -> Any:
    """Import a sibling module of this one (``tests.<name>``, or ``<name>`` when tests/ is on sys.path)."""
    return importlib.import_module(f"{__package__}.{name}" if __package__ else name)


# --- wire helpers shared by the adapters ---------------------------------------------------------------


def send_json(handler: BaseHTTPRequestHandler, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
    """Write a complete JSON response (with Content-Length, so the connection may be kept alive)."""
    data = json.dumps(obj).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
    handler.wfile.flush()


def start_sse(handler: BaseHTTPRequestHandler, headers: dict[str, str] | None = None) -> None:
    """Start a ``text/event-stream`` response; its body ends when the connection closes."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream; charset=utf-8")
    handler.send_header("Cache-Control", "no-cache")
    handler.send_header("Connection", "close")
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    handler.close_connection = True
    handler.wfile.flush()


def send_sse(handler: BaseHTTPRequestHandler, event: str | None, data: Any) -> None:
    """Write one server-sent event (``data`` JSON-encoded unless already a string) and flush it."""
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    handler.wfile.write(f"{head}data: {payload}\n\n".encode())
    handler.wfile.flush()


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request body, by Content-Length or chunked transfer encoding."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        out = bytearray()
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


# --- the server --------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    endpoint: ModelEndpoint


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.endpoint.verbose:
            sys.stderr.write("model-endpoint: " + format % args + "\n")

    def do_GET(self) -> None:
        self.server.endpoint._dispatch(self)

    do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = do_GET


class ModelEndpoint:
    """The scripted model server: ``ModelEndpoint(script=polecat_script)``, a context manager (or call
    :meth:`stop`). ``url`` is ``http://127.0.0.1:PORT`` (no trailing slash, no ``/v1``). ``script`` may be
    replaced at any time; the next request uses the new one.

    ``requests``: a snapshot list of every request, each ``{"api", "method", "path", "query", "body",
    "headers", "time"}`` (``body``: parsed JSON, or the raw text if not JSON, or ``None``; ``headers``:
    lower-case names; ``time``: ``time.monotonic()``). ``all_turns``: every normalised model request
    (side requests too); ``turns``: those of the agent loop only (a shell tool offered, see
    :func:`~tests.model_script.is_side_request`); ``replies``: ``(turn, reply)`` pairs in answer order.
    """

    def __init__(
        self, script: Script = polecat_script, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ) -> None:
        self.script: Script = script
        self.verbose = verbose
        self._cond = threading.Condition()
        self._requests: list[dict[str, Any]] = []
        self._turns: list[Turn] = []
        self._replies: list[tuple[Turn, Reply]] = []
        self._served: list[tuple[Turn, dict[str, int]]] = []
        self._ids = itertools.count(1)
        self._stopped = threading.Event()
        self._server = _Server((host, port), _Handler)
        self._server.endpoint = self
        self.host, self.port = self._server.server_address[:2]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"model-endpoint:{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- lifecycle

    def __enter__(self) -> ModelEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving (idempotent); pending ``Reply.delay`` sleeps end at once."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- what was seen

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._requests)

    @property
    def all_turns(self) -> list[Turn]:
        with self._cond:
            return list(self._turns)

    @property
    def turns(self) -> list[Turn]:
        with self._cond:
            return [t for t in self._turns if not is_side_request(t)]

    @property
    def replies(self) -> list[tuple[Turn, Reply]]:
        with self._cond:
            return list(self._replies)

    @property
    def served(self) -> list[tuple[Turn, dict[str, int]]]:
        """(turn, usage) of every answer sent with a usage block: the endpoint's own token totals,
        in the Anthropic or OpenAI shape of that turn's API (what a CLI's records should add up to)."""
        with self._cond:
            return list(self._served)

    def last_turn(self, predicate: Callable[[Turn], bool] = lambda t: True) -> Turn | None:
        """The newest agent turn matching ``predicate`` (None if none)."""
        return next((t for t in reversed(self.turns) if predicate(t)), None)

    def wait_for(self, predicate: Callable[[ModelEndpoint], T], timeout: float = 30.0) -> T:
        """Block until ``predicate(self)`` is truthy (re-checked on each request, turn and reply);
        return its value. Raises ``TimeoutError`` listing the requests seen so far."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0 or self._stopped.is_set():
                    seen = [f"{r['method']} {r['path']} ({r['api']})" for r in self._requests]
                    raise TimeoutError(f"model endpoint: condition not met in {timeout}s; requests: {seen}")
                self._cond.wait(left)

    def wait_for_requests(self, n: int, api: str | None = None, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` requests (of ``api`` if given) were recorded; return them."""

        def enough(ep: ModelEndpoint) -> list[dict[str, Any]] | None:
            got = [r for r in ep._requests if api is None or r["api"] == api]
            return got if len(got) >= n else None

        return self.wait_for(enough, timeout)

    # -- for adapters

    def new_id(self, prefix: str) -> str:
        """A unique id such as ``toolu_01…`` (24 characters after the prefix)."""
        return f"{prefix}{self.port:05d}{next(self._ids):019d}"

    def record_turn(self, turn: Turn) -> None:
        """Record a normalised model request and wake the waiters (adapters call it before the script)."""
        with self._cond:
            self._turns.append(turn)
            self._cond.notify_all()

    def run_script(self, turn: Turn) -> Reply:
        """Run the current script on ``turn`` and record the reply (no delay). A script that raises
        answers 500 with the exception text (and the traceback is printed)."""
        try:
            reply = self.script(turn)
        except Exception as e:  # noqa: BLE001 - the CLI should see a server error, the test a traceback
            import traceback

            traceback.print_exc()
            reply = Reply(text=f"script error: {e!r}", status=500)
        with self._cond:
            self._replies.append((turn, reply))
            self._cond.notify_all()
        return reply

    def record_usage(self, turn: Turn, usage: dict[str, int]) -> None:
        """Record the usage block sent with the answer to ``turn`` (adapters call it)."""
        with self._cond:
            self._served.append((turn, dict(usage)))
            self._cond.notify_all()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` (a ``Reply.delay``), cut short by :meth:`stop`."""
        if seconds > 0:
            self._stopped.wait(seconds)

    def answer(self, turn: Turn) -> Reply:
        """:meth:`record_turn`, :meth:`run_script`, then sleep ``reply.delay``; return the reply."""
        self.record_turn(turn)
        reply = self.run_script(turn)
        self.sleep(reply.delay)
        return reply

    # -- dispatch

    def _record(self, api: str, handler: BaseHTTPRequestHandler, path: str, query: str, body: Any) -> None:
        entry = {
            "api": api,
            "method": handler.command,
            "path": path,
            "query": query,
            "body": body,
            "headers": {k.lower(): v for k, v in handler.headers.items()},
            "time": time.monotonic(),
        }
        with self._cond:
            self._requests.append(entry)
            self._cond.notify_all()

    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = parts.path.rstrip("/") or "/"
        raw = _read_body(handler)
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        method = handler.command
        try:
            if method == "POST" and path.endswith("/v1/messages"):
                self._record("anthropic", handler, path, parts.query, body)
                _sibling("model_anthropic").handle_messages(self, handler, body if isinstance(body, dict) else {})
            elif method == "POST" and path.endswith("/v1/messages/count_tokens"):
                self._record("anthropic-count", handler, path, parts.query, body)
                send_json(handler, 200, {"input_tokens": max(1, len(raw) // 4)})
            elif path.endswith(("/responses", "/chat/completions")):
                self._record("openai", handler, path, parts.query, body)
                name = "handle_responses" if path.endswith("/responses") else "handle_chat_completions"
                try:
                    handle = getattr(_sibling("model_openai"), name)
                except (ImportError, AttributeError) as e:
                    send_json(
                        handler,
                        501,
                        {
                            "error": {
                                "message": f"tests.model_openai.{name} unavailable: {e}",
                                "type": "server_error",
                                "code": "not_implemented",
                            }
                        },
                    )
                    return
                extra = {"served": self.record_usage} if name == "handle_responses" else {}
                handle(handler, body if isinstance(body, dict) else {}, self.run_script, self.record_turn, **extra)
            else:
                self._record("probe", handler, path, parts.query, body)
                if self.verbose or not self._quiet_probe(path):
                    sys.stderr.write(f"model-endpoint: unknown {method} {handler.path}\n")
                if method in ("HEAD", "OPTIONS") or path == "/" or path.startswith(HARMLESS_PATHS):
                    send_json(handler, 200, {})
                else:
                    send_json(
                        handler,
                        404,
                        {
                            "type": "error",
                            "error": {
                                "type": "not_found_error",
                                "message": f"scripted endpoint: no route {method} {path}",
                            },
                        },
                    )
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True

    @staticmethod
    def _quiet_probe(path: str) -> bool:
        return path.startswith(HARMLESS_PATHS)


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.model_endpoint --port N``: serve ``polecat_script`` (or ``--echo``) until ^C,
    printing each request."""
    ap = argparse.ArgumentParser(prog="python -m tests.model_endpoint", description=main.__doc__)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--dump", metavar="FILE", help="append every request as one JSON line to FILE")
    args = ap.parse_args(argv)
    ep = ModelEndpoint(host=args.host, port=args.port, verbose=True)
    print(f"model endpoint on {ep.url}  (ANTHROPIC_BASE_URL={ep.url})", flush=True)
    seen = 0
    try:
        while True:
            reqs = ep.wait_for(lambda e, seen=seen: e.requests if len(e.requests) > seen else None, timeout=3600)
            for r in reqs[seen:]:
                print(f"{r['method']} {r['path']} api={r['api']}", flush=True)
                if args.dump:
                    with open(args.dump, "a") as f:
                        f.write(json.dumps(r) + "\n")
            seen = len(reqs)
    except (KeyboardInterrupt, TimeoutError):
        pass
    finally:
        ep.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
