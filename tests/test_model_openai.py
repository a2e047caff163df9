"""The OpenAI Responses side of the scripted model (tests/model_openai.py), over plain HTTP: request
parsing, the shell-tool mapping, and the SSE stream Codex reads. Bodies are trimmed copies of what the
real Codex CLI 0.171 sends (see tests/NOTES-codex.md)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests import model_openai as mo
from tests.model_script import Reply, Script, Shell, Turn, polecat_script

EXEC_COMMAND = {
    "type": "function",
    "name": "exec_command",
    "strict": False,
    "description": "Runs a command in a PTY, returning output or a session ID for ongoing interaction.",
    "parameters": {
        "type": "object",
        "required": ["cmd"],
        "additionalProperties": False,
        "properties": {
            "cmd": {"type": "string"},
            "login": {"type": "boolean"},
            "workdir": {"type": "string"},
            "yield_time_ms": {"type": "number"},
            "tty": {"type": "boolean"},
        },
    },
}
WRITE_STDIN = {
    "type": "function",
    "name": "write_stdin",
    "parameters": {"type": "object", "properties": {"session_id": {"type": "number"}, "chars": {"type": "string"}}},
}


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def codex_body(*items: dict[str, Any], tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Codex-0.171-shaped request: system prompt as developer messages, AGENTS.md as a user message."""
    return {
        "model": "scripted-model",
        "stream": True,
        "tool_choice": "auto",
        "parallel_tool_calls": True,
        "reasoning": {"summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "tools": [EXEC_COMMAND, WRITE_STDIN, {"type": "web_search"}] if tools is None else tools,
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "You are a coding agent running in the Codex CLI."}],
            },
            {
                "type": "message",
                "role": "developer",
                "content": [
                    {"type": "input_text", "text": "DEVINSTR"},
                    {"type": "input_text", "text": "<skills_instructions>"},
                ],
            },
            {
                "type": "message",
                "role": "user",
                "content": [
                    {
                        "type": "input_text",
                        "text": "# AGENTS.md instructions for /w\n\n<INSTRUCTIONS>\nbe brief\n</INSTRUCTIONS>",
                    },
                    {"type": "input_text", "text": "<environment_context>\n  <cwd>/w</cwd>\n</environment_context>"},
                ],
            },
            *items,
        ],
    }


def exec_call(cmd: str, call_id: str) -> list[dict[str, Any]]:
    return [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "On it."}]},
        {"type": "function_call", "name": "exec_command", "arguments": json.dumps({"cmd": cmd}), "call_id": call_id},
    ]


def exec_output(call_id: str, out: str) -> dict[str, Any]:
    return {
        "type": "function_call_output",
        "call_id": call_id,
        "output": f"Chunk ID: 8af28e\nWall time: 0.0000 seconds\nProcess exited with code 0\nOutput:\n{out}",
    }


# -- parsing --------------------------------------------------------------------------------------------


def test_parse_codex_request() -> None:
    body = codex_body(
        user("fix the bug"),
        *exec_call("gt prime", "c1"),
        exec_output("c1", "hook: gt-1"),
        {"type": "reasoning", "summary": [], "encrypted_content": "x"},
        {"type": "local_shell_call", "call_id": "c2", "action": {"type": "exec", "command": ["bash", "-lc", "ls -a"]}},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "a b"},
    )
    turn = mo.parse_responses(body, {"x-a": "1"})
    assert turn.api == "openai"
    assert "You are a coding agent" in turn.system and "DEVINSTR" in turn.system
    assert turn.tools == ["exec_command", "write_stdin", "web_search"]
    assert turn.last_user_text == "fix the bug"
    assert [m.role for m in turn.messages] == ["user", "user", "assistant", "tool", "assistant", "tool"]
    assert turn.messages[2].text == "On it." and turn.messages[2].shell == ("gt prime",)
    assert turn.shell_calls() == ["gt prime", "ls -a"]
    assert [r.call_id for r in turn.results()] == ["c1", "c2"]
    assert "hook: gt-1" in turn.all_text and "be brief" in turn.all_text
    assert turn.headers == {"x-a": "1"}


def test_parse_output_shapes_and_string_input() -> None:
    body = {
        "instructions": "SYS",
        "input": [
            {
                "type": "function_call",
                "name": "shell",
                "arguments": '{"command": ["bash", "-lc", "echo hi"]}',
                "call_id": "a",
            },
            {"type": "function_call_output", "call_id": "a", "output": {"content": "hi", "success": True}},
            {"type": "function_call", "name": "shell_command", "arguments": '{"command": "pwd"}', "call_id": "b"},
            {"type": "function_call_output", "call_id": "b", "output": [{"type": "input_text", "text": "/w"}]},
            {"type": "function_call", "name": "view_image", "arguments": '{"path": "x"}', "call_id": "c"},
        ],
    }
    turn = mo.parse_responses(body)
    assert turn.system == "SYS"
    assert turn.shell_calls() == ["echo hi", "pwd"]
    assert [r.output for r in turn.results()] == ["hi", "/w"]
    assert mo.parse_responses({"input": "just text"}).last_user_text == "just text"


# -- shell tool mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "name", "args"),
    [
        (EXEC_COMMAND, "exec_command", {"cmd": "gt done", "yield_time_ms": mo.EXEC_YIELD_MS}),
        (
            {
                "type": "function",
                "name": "shell",
                "parameters": {
                    "type": "object",
                    "properties": {"command": {"type": "array", "items": {"type": "string"}}},
                },
            },
            "shell",
            {"command": ["bash", "-lc", "gt done"]},
        ),
        (
            {
                "type": "function",
                "name": "shell_command",
                "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
            },
            "shell_command",
            {"command": "gt done"},
        ),
    ],
)
def test_shell_call_item_follows_schema(tool: dict[str, Any], name: str, args: dict[str, Any]) -> None:
    item = mo.shell_call_item({"tools": [WRITE_STDIN, tool]}, "gt done", "call_x")
    assert item["type"] == "function_call" and item["name"] == name and item["call_id"] == "call_x"
    assert json.loads(item["arguments"]) == args


def test_local_shell_and_no_shell() -> None:
    item = mo.shell_call_item({"tools": [{"type": "local_shell"}]}, "ls")
    assert item["type"] == "local_shell_call" and item["action"]["command"] == ["bash", "-lc", "ls"]
    with pytest.raises(ValueError):
        mo.shell_call_item({"tools": [WRITE_STDIN]}, "ls")
    # a Shell reply to a request without a shell tool degrades to text
    events = mo.responses_events({"tools": []}, Reply(text="hm", calls=(Shell("ls"),)))
    done = events[-1][1]["response"]["output"]
    assert [i["type"] for i in done] == ["message"] and "$ ls" in done[0]["content"][0]["text"]


# -- HTTP -----------------------------------------------------------------------------------------------


class _Harness:
    """A tiny server routing /responses and /chat/completions to the adapter, like tests.model_endpoint."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.turns: list[Turn] = []
        harness = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                handle = mo.handle_responses if self.path.endswith("/responses") else mo.handle_chat_completions
                handle(self, body, harness.script, harness.turns.append)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, str, str]:
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": "Bearer k"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read().decode()


@pytest.fixture
def harness() -> Iterator[_Harness]:
    h = _Harness(polecat_script)
    yield h
    h.server.shutdown()
    h.server.server_close()


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(lines["data"])
        assert data["type"] == lines["event"]
        out.append((lines["event"], data))
    return out


def test_stream_tool_call(harness: _Harness) -> None:
    status, ctype, text = harness.post("/v1/responses", codex_body(user("go")))
    assert status == 200 and ctype.startswith("text/event-stream")
    events = sse_events(text)
    kinds = [k for k, _ in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.output_item.added") == kinds.count("response.output_item.done") == 2
    assert "response.output_text.delta" in kinds
    deltas = "".join(d["delta"] for k, d in events if k == "response.output_text.delta")
    assert deltas == "Reading my hook."
    call = [d["item"] for k, d in events if k == "response.output_item.done"][1]
    assert call["type"] == "function_call" and call["name"] == "exec_command"
    assert json.loads(call["arguments"])["cmd"] == "gt prime"
    completed = events[-1][1]["response"]
    assert completed["status"] == "completed" and completed["output"][1] == call
    usage = completed["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
    assert [s for _, d in events for s in [d["sequence_number"]]] == list(range(len(events)))
    assert harness.turns[0].last_user_text == "go"


def test_polecat_round_trip(harness: _Harness) -> None:
    """Feed each answer back the way Codex does until the script ends the turn (no call)."""
    prime = "You are polecat nux. Your hook: gt-1 is assigned to you.\n\n```sh\necho STEP > s.txt\n```\n"
    items: list[dict[str, Any]] = [user("work your hook")]
    ran = []
    for _ in range(6):
        events = sse_events(harness.post("/v1/responses", codex_body(*items))[2])
        output = events[-1][1]["response"]["output"]
        calls = [i for i in output if i["type"] == "function_call"]
        items += output
        if not calls:
            break
        for c in calls:
            cmd = json.loads(c["arguments"])["cmd"]
            ran.append(cmd)
            items.append(exec_output(c["call_id"], prime if cmd == "gt prime" else "ok"))
    assert ran == ["gt prime", "echo STEP > s.txt", "gt done"]
    assert output[-1]["content"][0]["text"].startswith("Done")


def test_status_and_delay(harness: _Harness) -> None:
    harness.script = lambda turn: Reply(text="overloaded", status=500)
    status, ctype, text = harness.post("/v1/responses", codex_body(user("x")))
    assert status == 500 and json.loads(text)["error"]["message"] == "overloaded"
    harness.script = lambda turn: Reply(text="slow", delay=0.3)
    start = time.monotonic()
    status, _, text = harness.post("/v1/responses", codex_body(user("x")))
    assert status == 200 and time.monotonic() - start >= 0.3
    assert sse_events(text)[-1][1]["response"]["output"][0]["content"][0]["text"] == "slow"


def test_title_request_gets_schema_json(harness: _Harness) -> None:
    """Codex's thread-title side request (no tools, json_schema output) gets {"title": ...}, cut to the
    schema's maxLength; a reply that already is JSON is kept."""
    harness.script = lambda turn: Reply(text="Polecat work on the bead on its hook, at length")
    body = codex_body(user("Generate a concise, single-line task title...\n\nUser prompt:\ngo"), tools=[])
    body["text"] = {
        "format": {
            "type": "json_schema",
            "name": "codex_output_schema",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"title": {"type": "string", "maxLength": 36}},
                "required": ["title"],
            },
        }
    }
    events = sse_events(harness.post("/v1/responses", body)[2])
    text = events[-1][1]["response"]["output"][0]["content"][0]["text"]
    assert json.loads(text) == {"title": "Polecat work on the bead on its hook"[:36]}
    harness.script = lambda turn: Reply(text='{"title": "Mine"}')
    events = sse_events(harness.post("/v1/responses", body)[2])
    assert events[-1][1]["response"]["output"][0]["content"][0]["text"] == '{"title": "Mine"}'


def test_chat_completions_stream(harness: _Harness) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "shell",
            "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}},
        },
    }
    body = {
        "model": "m",
        "stream": True,
        "tools": [tool],
        "messages": [{"role": "system", "content": "SYS"}, {"role": "user", "content": "go"}],
    }
    status, ctype, text = harness.post("/v1/chat/completions", body)
    assert status == 200 and ctype.startswith("text/event-stream")
    lines = [line[6:] for line in text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(x) for x in lines[:-1]]
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert json.loads(calls[0]["function"]["arguments"]) == {"command": ["bash", "-lc", "gt prime"]}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert harness.turns[0].system == "SYS" and harness.turns[0].last_user_text == "go"
