"""The Anthropic Messages API side of the scripted model endpoint (test support, not product).

:func:`parse_messages` turns a ``POST /v1/messages`` body into a :class:`~tests.model_script.Turn`;
:func:`handle_messages` asks the endpoint's script and answers as the real API does: one JSON message when
``stream`` is false or absent, else server-sent events (``message_start``, ``content_block_start`` /
``content_block_delta`` (``text_delta`` / ``input_json_delta``) / ``content_block_stop`` per block,
``message_delta`` with ``stop_reason`` ``"tool_use"`` or ``"end_turn"`` and usage, ``message_stop``).
A :class:`~tests.model_script.Shell` call becomes a ``tool_use`` of the offered shell tool (Claude Code's
``Bash``) with input ``{"command": ..., "description": ...}``.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

try:
    from tests.model_script import SHELL_TOOLS, Message, Reply, ToolResult, Turn, fit_to_schema
    from tests.model_endpoint import send_json, send_sse, start_sse
except ImportError:  # pragma: no cover - tests/ itself on sys.path
    from model_script import SHELL_TOOLS, Message, Reply, ToolResult, Turn, fit_to_schema  # type: ignore[no-redef]
    from model_endpoint import send_json, send_sse, start_sse  # type: ignore[no-redef]

if TYPE_CHECKING:
    from tests.model_endpoint import ModelEndpoint

#: Anthropic's error ``type`` for each HTTP status (https://docs.anthropic.com/en/api/errors).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

#: Pieces a streamed text is cut into (the real API sends a few words per delta).
CHUNK = 12


def _text_of(content: Any) -> str:
    """The text parts of a content value (a string or a list of blocks), joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text" and b.get("text")
        )
    return ""


def parse_messages(body: dict[str, Any], headers: dict[str, str] | None = None) -> Turn:
    """Normalise a Messages request. A ``system``-role message (Claude Code puts its environment block
    there) gives a Message with role ``"system"``. A user message holding ``tool_result`` blocks gives a ``tool``
    message (its results) followed by a ``user`` message if it also holds text; an assistant message
    gives one message with its text and the ``command`` of each ``tool_use`` that has one."""
    messages: list[Message] = []
    for m in body.get("messages") or []:
        role = m.get("role", "user")
        content = m.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        if role == "system":  # Claude Code 2.1 sends mid-conversation system messages (environment info)
            messages.append(Message(role="system", text=_text_of(blocks)))
            continue
        if role == "assistant":
            shell = tuple(
                str(b["input"]["command"])
                for b in blocks
                if isinstance(b, dict)
                and b.get("type") == "tool_use"
                and isinstance(b.get("input"), dict)
                and "command" in b["input"]
            )
            messages.append(Message(role="assistant", text=_text_of(blocks), shell=shell))
            continue
        results = tuple(
            ToolResult(call_id=str(b.get("tool_use_id", "")), output=_text_of(b.get("content", "")))
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "tool_result"
        )
        if results:
            messages.append(Message(role="tool", results=results))
        text = _text_of(blocks)
        if text or not results:
            messages.append(Message(role="user", text=text))
    tools = [t.get("name", "") for t in body.get("tools") or [] if isinstance(t, dict)]
    return Turn(
        api="anthropic",
        system=_text_of(body.get("system") or ""),
        messages=messages,
        tools=tools,
        body=body,
        headers=dict(headers or {}),
    )


#: The opening of the user text Claude Code 2.1 sends to compact a conversation (``/compact`` or auto):
#: the request still offers every tool (Bash included), so ``is_side_request`` does not catch it.
COMPACT_MARKER = "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools."


def is_compact_request(turn: Turn) -> bool:
    """True for Claude Code's conversation-compaction requests (answer them with text, no calls)."""
    return COMPACT_MARKER in turn.last_user_text


def _tokens(s: str) -> int:
    return max(1, len(s) // 4)


def _usage(body: dict[str, Any], output: int) -> dict[str, Any]:
    """Plausible usage: the prompt counted as input, its system/tools part as read from the cache."""
    total = _tokens(json.dumps(body))
    cached = _tokens(json.dumps([body.get("system"), body.get("tools")])) if body.get("tools") else 0
    cached = min(cached, total - 1) if total > 1 else 0
    return {
        "input_tokens": total - cached,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": output,
        "service_tier": "standard",
    }


def shell_tool(turn: Turn) -> str:
    """The name of the shell tool the request offers (``Bash`` for Claude Code; ``Bash`` if none)."""
    return next((t for t in turn.tools if t in SHELL_TOOLS), "Bash")


def structured_text(body: dict[str, Any], text: str) -> str:
    """``text`` fitted to a requested JSON output format (``output_config.format`` of type
    ``json_schema``, as Claude Code's session-title request asks): see :func:`fit_to_schema`."""
    fmt = (body.get("output_config") or {}).get("format") or {}
    if fmt.get("type") != "json_schema":
        return text
    return fit_to_schema(fmt.get("schema") or {}, text)


def reply_blocks(endpoint: ModelEndpoint, turn: Turn, reply: Reply) -> list[dict[str, Any]]:
    """The ``content`` blocks of the answer: the text (if any), then one ``tool_use`` per call."""
    blocks: list[dict[str, Any]] = []
    text = structured_text(turn.body, reply.text) if reply.text else ""
    if text:
        blocks.append({"type": "text", "text": text})
    tool = shell_tool(turn)
    for call in reply.calls:
        first = call.command.strip().splitlines()[0] if call.command.strip() else call.command
        blocks.append(
            {
                "type": "tool_use",
                "id": endpoint.new_id("toolu_"),
                "name": tool,
                "input": {"command": call.command, "description": f"Run {first[:60]}"},
            }
        )
    if not blocks:
        blocks.append({"type": "text", "text": ""})
    return blocks


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error shape: ``{"type": "error", "error": {"type": ..., "message": ...}}``."""
    etype = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": etype, "message": message or f"scripted error {status}"}}


def handle_messages(endpoint: ModelEndpoint, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
    """Answer one ``POST /v1/messages``."""
    headers = {k.lower(): v for k, v in handler.headers.items()}
    turn = parse_messages(body, headers)
    reply = endpoint.answer(turn)
    request_id = endpoint.new_id("req_")
    if reply.status != 200:
        # x-should-retry: false stops the Anthropic SDK's automatic retries (else 429/5xx retry with backoff)
        send_json(
            handler,
            reply.status,
            error_body(reply.status, reply.text),
            {"request-id": request_id, "x-should-retry": "false"},
        )
        return
    blocks = reply_blocks(endpoint, turn, reply)
    stop_reason = "tool_use" if reply.calls else "end_turn"
    out_tokens = _tokens(json.dumps(blocks))
    usage = _usage(body, out_tokens)
    endpoint.record_usage(turn, usage)
    message = {
        "id": endpoint.new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-sonnet-4-5"),
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }
    if not body.get("stream"):
        send_json(handler, 200, message, {"request-id": request_id})
        return
    start_sse(handler, {"request-id": request_id})
    send_sse(
        handler,
        "message_start",
        {
            "type": "message_start",
            "message": {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}},
        },
    )
    send_sse(handler, "ping", {"type": "ping"})
    for i, block in enumerate(blocks):
        if block["type"] == "text":
            send_sse(
                handler,
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}},
            )
            text = block["text"]
            for j in range(0, len(text), CHUNK):
                send_sse(
                    handler,
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "text_delta", "text": text[j : j + CHUNK]},
                    },
                )
        else:
            send_sse(
                handler,
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": i,
                    "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}},
                },
            )
            js = json.dumps(block["input"])
            for j in range(0, len(js), 4 * CHUNK):
                send_sse(
                    handler,
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": js[j : j + 4 * CHUNK]},
                    },
                )
        send_sse(handler, "content_block_stop", {"type": "content_block_stop", "index": i})
    send_sse(
        handler,
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": out_tokens},
        },
    )
    send_sse(handler, "message_stop", {"type": "message_stop"})
