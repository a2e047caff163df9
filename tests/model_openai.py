"""The OpenAI side of the scripted model endpoint (test support, not product).

Speaks the OpenAI Responses API the way the Codex CLI uses it (``POST {base_url}/responses``, streamed
as server-sent events) and, as a bonus, streaming Chat Completions (``POST .../chat/completions``).

Entry points (the endpoint, :mod:`tests.model_endpoint`, calls them from its ``do_POST``)::

    handle_responses(handler, body, script, record) -> None
    handle_chat_completions(handler, body, script, record) -> None

``handler`` is the :class:`http.server.BaseHTTPRequestHandler` of the request (its body already read and
parsed into ``body``); the function writes the whole answer itself (status line, headers, SSE events)
and marks the connection to close. ``script`` is a :data:`tests.model_script.Script`; ``record`` is called
with the parsed :class:`~tests.model_script.Turn` before the script sees it.

Pure helpers, for unit tests and other adapters: :func:`parse_responses` (body -> Turn),
:func:`responses_events` (Reply -> list of SSE events), :func:`shell_call_item` (Shell -> output item for
whichever shell tool the request offers), :func:`parse_chat`, :func:`chat_chunks`.

Codex 0.171 offers ``exec_command`` (a function tool, arguments ``{"cmd": "<string>", ...}``) and, by
older generations, ``shell`` (``{"command": ["bash", "-lc", cmd]}``), ``shell_command``
(``{"command": "<string>"}``) or the built-in ``local_shell``. :func:`shell_call_item` reads the offered
tool's JSON schema, so it follows whichever the request holds.
"""

from __future__ import annotations

import itertools
import json
import shlex
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

try:  # imported as ``tests.model_openai`` or with tests/ itself on sys.path (as tests.model_endpoint does)
    from tests.model_endpoint import send_json, start_sse
    from tests.model_script import SHELL_TOOLS, Message, Reply, Script, ToolResult, Turn, fit_to_schema
except ImportError:  # pragma: no cover
    from model_endpoint import send_json, start_sse  # type: ignore[no-redef]
    from model_script import SHELL_TOOLS, Message, Reply, Script, ToolResult, Turn, fit_to_schema  # type: ignore[no-redef]

#: ``yield_time_ms`` sent with ``exec_command`` calls (when its schema has it): how long Codex waits for
#: the command before answering "Process running with session ID ..." (its default is 10000, max 30000).
EXEC_YIELD_MS = 30000

_ids = itertools.count(1)
_ids_lock = threading.Lock()
_RUN = uuid.uuid4().hex[:8]


def _new_id(prefix: str) -> str:
    with _ids_lock:
        n = next(_ids)
    return f"{prefix}_{_RUN}{n:04d}"


# --------------------------------------------------------------------------------------------------
# Request -> Turn
# --------------------------------------------------------------------------------------------------


def tool_name(tool: dict[str, Any]) -> str:
    """A Responses tool's name: ``name`` for function/custom tools, else its ``type`` (``local_shell``,
    ``web_search``...). Chat Completions tools nest the name under ``function``."""
    if tool.get("name"):
        return str(tool["name"])
    fn = tool.get("function")
    if isinstance(fn, dict) and fn.get("name"):
        return str(fn["name"])
    return str(tool.get("type", ""))


def _content_text(content: Any) -> str:
    """Text of a message ``content``: a string, or a list of parts (input_text/output_text/text...)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "\n".join(parts)


def _output_text(output: Any) -> str:
    """A tool output as sent back: a string, a list of content items, or ``{"content": ..., ...}``."""
    if isinstance(output, dict):
        if "content" in output:
            return _output_text(output["content"])
        if "output" in output:
            return _output_text(output["output"])
        return json.dumps(output)
    return _content_text(output)


def command_string(command: Any) -> str:
    """A shell command as the CLI sent it back, as one string: ``["bash", "-lc", "X"]`` -> ``X``; any
    other argv is shell-joined; a string is kept."""
    if isinstance(command, str):
        return command
    if isinstance(command, list) and all(isinstance(c, str) for c in command):
        if (
            len(command) == 3
            and command[1] in ("-lc", "-c", "-l -c")
            and command[0].rsplit("/", 1)[-1] in ("bash", "sh", "zsh", "dash")
        ):
            return command[2]
        return shlex.join(command)
    return ""


def _call_command(name: str, arguments: Any) -> str | None:
    """The shell command of a function call to a shell tool, or None when it is not a shell call."""
    if name not in SHELL_TOOLS:
        return None
    args = arguments
    if isinstance(arguments, str):
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            return arguments
    if not isinstance(args, dict):
        return command_string(args)
    for key in ("cmd", "command", "commands"):
        if key in args:
            return command_string(args[key])
    return ""


def parse_responses(body: dict[str, Any], headers: dict[str, str] | None = None) -> Turn:
    """A Responses API request body -> :class:`Turn`. ``system`` is ``instructions`` plus the text of
    any ``developer``/``system`` input messages; consecutive assistant items (message text, tool calls)
    merge into one assistant :class:`Message`, consecutive tool outputs into one ``tool`` message.
    Reasoning items are skipped."""
    system_parts = [body.get("instructions") or ""]
    messages: list[Message] = []
    raw_input = body.get("input") or []
    if isinstance(raw_input, str):
        raw_input = [{"type": "message", "role": "user", "content": raw_input}]

    def add(role: str, text: str = "", shell: tuple[str, ...] = (), results: tuple[ToolResult, ...] = ()) -> None:
        if messages and messages[-1].role == role and role in ("assistant", "tool"):
            prev = messages[-1]
            joined = "\n".join(t for t in (prev.text, text) if t)
            messages[-1] = Message(role, joined, prev.shell + shell, prev.results + results)
        else:
            messages.append(Message(role, text, shell, results))

    for item in raw_input:
        if not isinstance(item, dict):
            continue
        kind = item.get("type") or ("message" if "role" in item else "")
        if kind == "message":
            role = item.get("role", "user")
            text = _content_text(item.get("content"))
            if role in ("developer", "system"):
                system_parts.append(text)
            elif role == "assistant":
                add("assistant", text)
            else:
                add("user", text)
        elif kind == "function_call":
            cmd = _call_command(str(item.get("name", "")), item.get("arguments"))
            add("assistant", shell=(cmd,) if cmd is not None else ())
        elif kind == "custom_tool_call":
            cmd = _call_command(str(item.get("name", "")), item.get("input"))
            add("assistant", shell=(cmd,) if cmd is not None else ())
        elif kind == "local_shell_call":
            action = item.get("action") or {}
            add("assistant", shell=(command_string(action.get("command")),))
        elif kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            call_id = str(item.get("call_id") or item.get("id") or "")
            add("tool", results=(ToolResult(call_id, _output_text(item.get("output"))),))
        # reasoning, web_search_call, compaction...: not part of the script's view

    tools = [tool_name(t) for t in body.get("tools") or [] if isinstance(t, dict)]
    system = "\n\n".join(p for p in system_parts if p)
    return Turn("openai", system, messages, tools, body, dict(headers or {}))


# --------------------------------------------------------------------------------------------------
# Reply -> Responses output items / SSE events
# --------------------------------------------------------------------------------------------------


def _find_tool(tools: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for t in tools:
        if isinstance(t, dict) and tool_name(t) == name:
            return t
    return None


def shell_tool(body: dict[str, Any]) -> str | None:
    """The name of the shell tool the request offers (first in :data:`SHELL_TOOLS` order), or None."""
    offered = [tool_name(t) for t in body.get("tools") or [] if isinstance(t, dict)]
    for name in ("exec_command", "shell_command", "shell", "local_shell", *SHELL_TOOLS):
        if name in offered:
            return name
    return None


def shell_arguments(tool: dict[str, Any] | None, command: str) -> dict[str, Any]:
    """Arguments running ``command`` with the function tool ``tool``, read off its JSON schema: a
    ``cmd`` string (``exec_command``), a ``command`` string (``shell_command``) or a ``command`` argv
    (``shell``: ``["bash", "-lc", command]``)."""
    params = (tool or {}).get("parameters") or ((tool or {}).get("function") or {}).get("parameters") or {}
    props = params.get("properties") or {}
    if "cmd" in props:
        args: dict[str, Any] = {"cmd": command}
        if "yield_time_ms" in props and EXEC_YIELD_MS:
            args["yield_time_ms"] = EXEC_YIELD_MS
        return args
    spec = props.get("command")
    if isinstance(spec, dict) and spec.get("type") == "array":
        return {"command": ["bash", "-lc", command]}
    if isinstance(spec, dict):
        return {"command": command}
    name = tool_name(tool or {})
    if name == "exec_command":
        return {"cmd": command, "yield_time_ms": EXEC_YIELD_MS}
    if name == "shell":
        return {"command": ["bash", "-lc", command]}
    return {"command": command}


def shell_call_item(body: dict[str, Any], command: str, call_id: str | None = None) -> dict[str, Any]:
    """The output item calling the request's shell tool with ``command`` (a ``function_call``, or a
    ``local_shell_call`` for the built-in tool). Raises ValueError when the request offers no shell."""
    name = shell_tool(body)
    if name is None:
        raise ValueError("the request offers no shell tool")
    call_id = call_id or _new_id("call")
    if name == "local_shell":
        return {
            "type": "local_shell_call",
            "id": _new_id("lsh"),
            "call_id": call_id,
            "status": "completed",
            "action": {"type": "exec", "command": ["bash", "-lc", command]},
        }
    args = shell_arguments(_find_tool(body.get("tools") or [], name), command)
    return {
        "type": "function_call",
        "id": _new_id("fc"),
        "call_id": call_id,
        "name": name,
        "arguments": json.dumps(args),
        "status": "completed",
    }


def fit_output_format(body: dict[str, Any], text: str) -> str:
    """``text`` fitted to a structured-output request (``text.format.type == "json_schema"``, as Codex's
    thread-title side request): see :func:`fit_to_schema`. Other requests: ``text`` unchanged."""
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") != "json_schema" or not text:
        return text
    return fit_to_schema(fmt.get("schema") or {}, text)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def usage_for(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    """A plausible ``usage`` block: ~4 characters a token."""
    inp = _tokens(json.dumps(body.get("input") or []) + (body.get("instructions") or ""))
    out = _tokens(reply.text) + 20 * len(reply.calls)
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": inp + out,
    }


Event = tuple[str, dict[str, Any]]


def responses_events(body: dict[str, Any], reply: Reply, response_id: str | None = None) -> list[Event]:
    """The SSE events answering ``body`` with ``reply`` (after ``response.created``): per item
    ``response.output_item.added`` .. deltas .. ``response.output_item.done``, then
    ``response.completed`` carrying the output and usage. Each event is ``(type, data)``; ``data``
    holds ``type`` too. A Shell call when no shell tool is offered becomes text."""
    response_id = response_id or _new_id("resp")
    model = body.get("model", "scripted")
    events: list[Event] = []
    output: list[dict[str, Any]] = []
    text = reply.text
    calls = list(reply.calls)
    if calls and shell_tool(body) is None:
        text = "\n".join([text, *(f"$ {c.command}" for c in calls)]).strip()
        calls = []
    text = fit_output_format(body, text)

    if text:
        idx = len(output)
        msg_id = _new_id("msg")
        item = {"type": "message", "id": msg_id, "role": "assistant", "status": "in_progress", "content": []}
        events.append(("response.output_item.added", {"output_index": idx, "item": item}))
        part = {"type": "output_text", "text": "", "annotations": []}
        events.append(
            ("response.content_part.added", {"item_id": msg_id, "output_index": idx, "content_index": 0, "part": part})
        )
        for i in range(0, len(text), 64):
            events.append(
                (
                    "response.output_text.delta",
                    {"item_id": msg_id, "output_index": idx, "content_index": 0, "delta": text[i : i + 64]},
                )
            )
        events.append(
            ("response.output_text.done", {"item_id": msg_id, "output_index": idx, "content_index": 0, "text": text})
        )
        done_part = {"type": "output_text", "text": text, "annotations": []}
        events.append(
            (
                "response.content_part.done",
                {"item_id": msg_id, "output_index": idx, "content_index": 0, "part": done_part},
            )
        )
        done = {**item, "status": "completed", "content": [done_part]}
        events.append(("response.output_item.done", {"output_index": idx, "item": done}))
        output.append(done)

    for call in calls:
        idx = len(output)
        item = shell_call_item(body, call.command)
        if item["type"] == "function_call":
            events.append(
                (
                    "response.output_item.added",
                    {"output_index": idx, "item": {**item, "arguments": "", "status": "in_progress"}},
                )
            )
            events.append(
                (
                    "response.function_call_arguments.delta",
                    {"item_id": item["id"], "output_index": idx, "delta": item["arguments"]},
                )
            )
            events.append(
                (
                    "response.function_call_arguments.done",
                    {"item_id": item["id"], "output_index": idx, "arguments": item["arguments"]},
                )
            )
        else:
            events.append(("response.output_item.added", {"output_index": idx, "item": item}))
        events.append(("response.output_item.done", {"output_index": idx, "item": item}))
        output.append(item)

    response = {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": output,
        "usage": usage_for(body, reply),
    }
    events.append(("response.completed", {"response": response}))
    seq = 1
    out: list[Event] = []
    for kind, data in events:
        out.append((kind, {"type": kind, "sequence_number": seq, **data}))
        seq += 1
    return out


def sse(kind: str, data: dict[str, Any]) -> bytes:
    """One server-sent event."""
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


# --------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------


def _headers(handler: BaseHTTPRequestHandler) -> dict[str, str]:
    return {k.lower(): v for k, v in handler.headers.items()}


def _send_error(handler: BaseHTTPRequestHandler, status: int, message: str) -> None:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    if status == 429:
        kind = "rate_limit_exceeded"
    send_json(
        handler,
        status,
        {"error": {"message": message or f"scripted error {status}", "type": kind, "code": kind, "param": None}},
        {"Connection": "close"},
    )
    handler.close_connection = True


def _sleep(handler: BaseHTTPRequestHandler, seconds: float) -> None:
    """Sleep ``Reply.delay``: through ``tests.model_endpoint.ModelEndpoint.sleep`` when the handler's
    server has its endpoint (cut short when the endpoint stops), else ``time.sleep``."""
    if seconds <= 0:
        return
    endpoint = getattr(getattr(handler, "server", None), "endpoint", None)
    sleep = getattr(endpoint, "sleep", None)
    if callable(sleep):
        sleep(seconds)
    else:
        time.sleep(seconds)


def _ask(script: Script, turn: Turn) -> Reply:
    try:
        return script(turn)
    except Exception:  # noqa: BLE001 - a broken script shows up as a model error, and on stderr
        tb = traceback.format_exc()
        sys.stderr.write(tb)
        return Reply(text=f"scripted model error: {tb.splitlines()[-1]}", status=500)


def handle_responses(
    handler: BaseHTTPRequestHandler,
    body: dict[str, Any],
    script: Script,
    record: Callable[[Turn], None],
    served: Callable[[Turn, dict[str, Any]], None] | None = None,
) -> None:
    """Answer one ``POST .../responses``: parse ``body`` into a Turn, ``record`` it, ask ``script``,
    and write the reply as an SSE stream (``response.created``; after ``Reply.delay`` seconds the output
    items; ``response.completed``). ``Reply.status`` != 200: after the delay, that HTTP status with an
    OpenAI-style JSON error ``{"error": {"message": text, ...}}`` instead (Codex retries 5xx/429).
    A non-streaming request (``"stream": false``) gets the ``response`` object as JSON. ``served``, if
    given, is called with the turn and the usage block of each answer sent."""
    turn = parse_responses(body, _headers(handler))
    record(turn)
    reply = _ask(script, turn)
    try:
        if reply.status != 200:
            _sleep(handler, reply.delay)
            _send_error(handler, reply.status, reply.text)
            return
        response_id = _new_id("resp")
        events = responses_events(body, reply, response_id)
        if served is not None:
            served(turn, events[-1][1]["response"]["usage"])
        if body.get("stream") is False:
            _sleep(handler, reply.delay)
            send_json(handler, 200, events[-1][1]["response"])
            return
        start_sse(handler, {"x-request-id": _new_id("req")})
        created = {
            "id": response_id,
            "object": "response",
            "created_at": int(time.time()),
            "status": "in_progress",
            "model": body.get("model", "scripted"),
            "output": [],
        }
        handler.wfile.write(
            sse("response.created", {"type": "response.created", "sequence_number": 0, "response": created})
        )
        handler.wfile.flush()
        _sleep(handler, reply.delay)
        for kind, data in events:
            handler.wfile.write(sse(kind, data))
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the CLI hung up (interrupted, killed)


# --------------------------------------------------------------------------------------------------
# Chat Completions (streaming), for CLIs on wire_api = "chat"
# --------------------------------------------------------------------------------------------------


def parse_chat(body: dict[str, Any], headers: dict[str, str] | None = None) -> Turn:
    """A Chat Completions request body -> :class:`Turn` (api "openai")."""
    system_parts: list[str] = []
    messages: list[Message] = []
    for m in body.get("messages") or []:
        role = m.get("role", "user")
        text = _content_text(m.get("content"))
        if role in ("system", "developer"):
            system_parts.append(text)
        elif role == "assistant":
            shell = []
            for tc in m.get("tool_calls") or []:
                fn = tc.get("function") or {}
                cmd = _call_command(str(fn.get("name", "")), fn.get("arguments"))
                if cmd is not None:
                    shell.append(cmd)
            messages.append(Message("assistant", text, tuple(shell)))
        elif role == "tool":
            res = ToolResult(str(m.get("tool_call_id", "")), text)
            if messages and messages[-1].role == "tool":
                messages[-1] = Message("tool", results=messages[-1].results + (res,))
            else:
                messages.append(Message("tool", results=(res,)))
        else:
            messages.append(Message("user", text))
    tools = [tool_name(t) for t in body.get("tools") or [] if isinstance(t, dict)]
    return Turn("openai", "\n\n".join(p for p in system_parts if p), messages, tools, body, dict(headers or {}))


def chat_chunks(body: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects streaming ``reply`` (the last carries ``usage``)."""
    cid = _new_id("chatcmpl")
    model = body.get("model", "scripted")
    base = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]}]
    offered = {tool_name(t): t for t in body.get("tools") or [] if isinstance(t, dict)}
    shell_name = next((n for n in SHELL_TOOLS if n in offered), None)
    text = reply.text
    calls = list(reply.calls)
    if calls and shell_name is None:
        text = "\n".join([text, *(f"$ {c.command}" for c in calls)]).strip()
        calls = []
    for i in range(0, len(text), 64):
        chunks.append(
            {**base, "choices": [{"index": 0, "delta": {"content": text[i : i + 64]}, "finish_reason": None}]}
        )
    for n, call in enumerate(calls):
        args = shell_arguments(offered[shell_name], call.command)
        tc = {
            "index": n,
            "id": _new_id("call"),
            "type": "function",
            "function": {"name": shell_name, "arguments": json.dumps(args)},
        }
        chunks.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [tc]}, "finish_reason": None}]})
    u = usage_for({"input": body.get("messages")}, reply)
    chunks.append(
        {
            **base,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}],
            "usage": {
                "prompt_tokens": u["input_tokens"],
                "completion_tokens": u["output_tokens"],
                "total_tokens": u["total_tokens"],
            },
        }
    )
    return chunks


def handle_chat_completions(
    handler: BaseHTTPRequestHandler, body: dict[str, Any], script: Script, record: Callable[[Turn], None]
) -> None:
    """Answer one ``POST .../chat/completions`` (streamed ``data:`` chunks then ``data: [DONE]``;
    ``"stream": false`` gets one ``chat.completion`` JSON). Delay/status as :func:`handle_responses`."""
    turn = parse_chat(body, _headers(handler))
    record(turn)
    reply = _ask(script, turn)
    try:
        _sleep(handler, reply.delay)
        if reply.status != 200:
            _send_error(handler, reply.status, reply.text)
            return
        chunks = chat_chunks(body, reply)
        if not body.get("stream"):
            msg: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
            calls = [
                c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]
            ]
            if calls:
                msg["tool_calls"] = [{k: v for k, v in tc.items() if k != "index"} for tc in calls]
            last = chunks[-1]
            send_json(
                handler,
                200,
                {
                    "id": last["id"],
                    "object": "chat.completion",
                    "created": last["created"],
                    "model": last["model"],
                    "usage": last["usage"],
                    "choices": [{"index": 0, "message": msg, "finish_reason": last["choices"][0]["finish_reason"]}],
                },
            )
            return
        start_sse(handler, {"x-request-id": _new_id("req")})
        for chunk in chunks:
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
