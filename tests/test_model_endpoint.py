"""The scripted model endpoint over plain HTTP (no agent CLI): routing, the Anthropic Messages adapter in
JSON and SSE, tool-call round trips of :func:`~tests.model_script.polecat_script`, errors, delays."""

from __future__ import annotations

import http.client
import json
import threading
import time
from typing import Any

import pytest

from tests.model_anthropic import COMPACT_MARKER, is_compact_request, parse_messages
from tests.model_endpoint import ModelEndpoint
from tests.model_script import Reply, Shell, polecat_script

BASH = [
    {"name": "Bash", "description": "run a command", "input_schema": {"type": "object"}},
    {"name": "Read", "description": "read a file", "input_schema": {"type": "object"}},
]
PRIME = "You are polecat nux. Your hook holds bead gt-abc1, assigned to you.\n\n```sh\necho hello > out.txt\n```\n"


def post(ep: ModelEndpoint, path: str, body: Any, method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(ep.host, ep.port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", "x-api-key": "sk-ant-test"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def sse_events(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for chunk in raw.decode().split("\n\n"):
        if not chunk.strip():
            continue
        lines = dict(line.split(": ", 1) for line in chunk.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def assemble(events: list[tuple[str, dict[str, Any]]]) -> tuple[list[dict[str, Any]], str]:
    """Rebuild the message content from the stream, as an SDK does; return (blocks, stop_reason)."""
    blocks: dict[int, dict[str, Any]] = {}
    partial: dict[int, str] = {}
    stop = ""
    for kind, data in events:
        if kind == "content_block_start":
            blocks[data["index"]] = dict(data["content_block"])
        elif kind == "content_block_delta":
            d = data["delta"]
            if d["type"] == "text_delta":
                blocks[data["index"]]["text"] += d["text"]
            else:
                partial[data["index"]] = partial.get(data["index"], "") + d["partial_json"]
        elif kind == "content_block_stop" and data["index"] in partial:
            blocks[data["index"]]["input"] = json.loads(partial[data["index"]])
        elif kind == "message_delta":
            stop = data["delta"]["stop_reason"]
    return [blocks[i] for i in sorted(blocks)], stop


def test_polecat_round_trip_over_sse() -> None:
    """A whole polecat conversation, fed back as Claude Code would: gt prime, the bead's sh block,
    gt done, then a closing text with stop_reason end_turn."""
    outputs = {"gt prime": PRIME, "echo hello > out.txt": "", "gt done": "pushed"}
    messages: list[dict[str, Any]] = [{"role": "user", "content": [{"type": "text", "text": "Run gt prime."}]}]
    system = [{"type": "text", "text": "You are Claude Code."}, {"type": "text", "text": "Be brief."}]
    ran = []
    with ModelEndpoint(script=polecat_script) as ep:
        for _ in range(5):
            status, headers, raw = post(
                ep,
                "/v1/messages?beta=true",
                {
                    "model": "claude-opus-5-5",
                    "stream": True,
                    "system": system,
                    "tools": BASH,
                    "messages": messages,
                    "max_tokens": 1000,
                },
            )
            assert status == 200 and headers["content-type"].startswith("text/event-stream")
            events = sse_events(raw)
            kinds = [k for k, _ in events]
            assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
            usage = events[0][1]["message"]["usage"]
            assert usage["input_tokens"] > 0 and "cache_read_input_tokens" in usage
            blocks, stop = assemble(events)
            messages.append({"role": "assistant", "content": blocks})
            calls = [b for b in blocks if b["type"] == "tool_use"]
            if stop == "end_turn":
                assert not calls and "merge queue" in blocks[0]["text"]
                break
            assert stop == "tool_use" and calls and calls[0]["name"] == "Bash"
            cmd = calls[0]["input"]["command"]
            assert calls[0]["input"]["description"]
            ran.append(cmd)
            messages.append(
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": calls[0]["id"], "content": outputs[cmd]}],
                }
            )
        assert ran == ["gt prime", "echo hello > out.txt", "gt done"]
        assert len(ep.turns) == 4 and ep.turns[0].system == "You are Claude Code.\nBe brief."
        assert ep.turns[-1].shell_calls() == ran
        assert ep.turns[-1].results()[0].output == PRIME
        assert [r["api"] for r in ep.requests] == ["anthropic"] * 4
        assert ep.requests[0]["query"] == "beta=true" and ep.requests[0]["headers"]["x-api-key"] == "sk-ant-test"


def test_non_streaming_json_and_side_request() -> None:
    with ModelEndpoint() as ep:
        status, _, raw = post(ep, "/v1/messages", {"model": "m", "messages": [{"role": "user", "content": "title?"}]})
        assert status == 200
        msg = json.loads(raw)
        assert msg["type"] == "message" and msg["model"] == "m" and msg["stop_reason"] == "end_turn"
        assert msg["content"] == [{"type": "text", "text": "Polecat work"}]
        assert ep.turns == [] and len(ep.all_turns) == 1  # no shell tool: a side request


def test_structured_output_is_fitted_to_the_schema() -> None:
    """Claude Code's session-title request asks for {"title": string} via output_config.format."""
    fmt = {
        "type": "json_schema",
        "schema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]},
    }
    with ModelEndpoint() as ep:
        _, _, raw = post(
            ep,
            "/v1/messages",
            {"model": "m", "output_config": {"format": fmt}, "messages": [{"role": "user", "content": "name it"}]},
        )
        assert json.loads(json.loads(raw)["content"][0]["text"]) == {"title": "Polecat work"}


def test_parse_messages_blocks() -> None:
    turn = parse_messages(
        {
            "system": "sys",
            "tools": BASH,
            "messages": [
                {"role": "user", "content": "hello"},
                {"role": "system", "content": [{"type": "text", "text": "SessionStart:startup hook success: X"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hm"},
                        {"type": "text", "text": "Running."},
                        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "gt prime"}},
                        {"type": "tool_use", "id": "t2", "name": "Read", "input": {"file_path": "/x"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "primed"}]},
                        {"type": "tool_result", "tool_use_id": "t2", "content": "file", "is_error": False},
                        {"type": "text", "text": "and more"},
                    ],
                },
            ],
        },
        {"x-app": "cli"},
    )
    assert turn.api == "anthropic" and turn.system == "sys" and turn.tools == ["Bash", "Read"]
    assert [m.role for m in turn.messages] == ["user", "system", "assistant", "tool", "user"]
    assert turn.shell_calls() == ["gt prime"]
    assert [(r.call_id, r.output) for r in turn.results()] == [("t1", "primed"), ("t2", "file")]
    assert turn.last_user_text == "and more" and "hook success: X" in turn.all_text
    assert turn.headers == {"x-app": "cli"}
    assert not is_compact_request(turn)
    compact = parse_messages(
        {
            "tools": BASH,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": "x"},
                        {"type": "text", "text": COMPACT_MARKER + "\n\n- Do NOT use Read, Bash..."},
                    ],
                }
            ],
        }
    )
    assert is_compact_request(compact)


def test_error_status_and_count_tokens_and_probes() -> None:
    with ModelEndpoint(script=lambda t: Reply(text="overloaded, try later", status=529)) as ep:
        status, headers, raw = post(ep, "/v1/messages", {"model": "m", "messages": [], "tools": BASH})
        assert status == 529 and headers["x-should-retry"] == "false"
        assert json.loads(raw) == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "overloaded, try later"},
        }
        status, _, raw = post(ep, "/v1/messages/count_tokens?beta=true", {"model": "m", "messages": []})
        assert status == 200 and json.loads(raw)["input_tokens"] > 0
        assert post(ep, "/api/hello", None, method="HEAD")[0] == 200
        assert post(ep, "/nowhere", None, method="GET")[0] == 404
        assert [r["api"] for r in ep.requests] == ["anthropic", "anthropic-count", "probe", "probe"]


def test_responses_route_reaches_the_openai_adapter() -> None:
    """/v1/responses and /responses go to tests.model_openai (501 only while it is missing)."""
    with ModelEndpoint() as ep:
        for path in ("/v1/responses", "/responses"):
            status, _, _ = post(ep, path, {"model": "gpt", "input": "hi", "stream": False})
            assert status in (200, 501)
        assert [r["api"] for r in ep.requests] == ["openai", "openai"]


def test_wait_for_wakes_on_request_and_script_is_settable() -> None:
    with ModelEndpoint() as ep:
        ep.script = lambda t: Reply(text="late", calls=(Shell("ls"),), delay=0.3)
        started = time.monotonic()
        result: dict[str, Any] = {}
        t = threading.Thread(
            target=lambda: result.update(
                r=post(
                    ep, "/v1/messages", {"model": "m", "tools": BASH, "messages": [{"role": "user", "content": "x"}]}
                )
            )
        )
        t.start()
        turn = ep.wait_for(lambda e: e.last_turn(), timeout=5)
        assert turn.last_user_text == "x"
        ep.wait_for(lambda e: e.replies, timeout=5)
        t.join(5)
        assert time.monotonic() - started >= 0.3
        body = json.loads(result["r"][2])
        assert body["stop_reason"] == "tool_use" and body["content"][1]["input"]["command"] == "ls"
        with pytest.raises(TimeoutError):
            ep.wait_for(lambda e: len(e.requests) > 5, timeout=0.1)


def test_chunked_request_body() -> None:
    with ModelEndpoint() as ep:
        conn = http.client.HTTPConnection(ep.host, ep.port, timeout=10)
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "chunked"}]}).encode()
        conn.request(
            "POST",
            "/v1/messages",
            body=iter([body[:10], body[10:]]),
            encode_chunked=True,
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        )
        assert conn.getresponse().status == 200
        conn.close()
        assert ep.all_turns[0].last_user_text == "chunked"


def test_stop_cuts_a_long_delay() -> None:
    ep = ModelEndpoint(script=lambda t: Reply(text="never", delay=60))
    t = threading.Thread(target=lambda: post(ep, "/v1/messages", {"model": "m", "messages": []}), daemon=True)
    t.start()
    ep.wait_for(lambda e: e.all_turns, timeout=5)
    started = time.monotonic()
    ep.stop()
    t.join(10)
    assert time.monotonic() - started < 10
