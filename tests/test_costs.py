"""Token usage read from the runtimes' own records (core.usage), costs per bead/convoy/rig/agent/day
(core.costs, ``gt costs``) and the budget that pauses slinging. The records are written here in the
exact shapes Claude Code 2.1 and Codex 0.17x write them (see tests/test_costs_real.py for the real CLIs)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import convoys, escalation, scheduler
from core.beads.store import BeadStore
from core.config import edit_toml
from core.costs import DEFAULT_PRICES, Price, price_for, report
from core.errors import ConfigError, GtError
from core.sling import Slinger
from core.usage import scan
from tests.test_sling import create

HOSTILE = "evil\x1b[31m-model\x07\n[bold]x[/bold]"


@pytest.fixture
def store(town) -> Iterator[BeadStore]:
    s = BeadStore(town)
    yield s
    s.disconnect()


def claude_file(home: Path, cwd: Path, session: str) -> Path:
    folder = "".join(c if c.isalnum() else "-" for c in str(cwd))
    path = home / ".claude" / "projects" / folder / f"{session}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def claude_message(cwd: Path, session: str, branch: str, mid: str, usage: dict, model="claude-sonnet-4-5") -> list[str]:
    """One API message as Claude Code writes it: one line per content block, each repeating usage."""
    line = {
        "type": "assistant",
        "sessionId": session,
        "cwd": str(cwd),
        "gitBranch": branch,
        "timestamp": "2026-12-02T10:00:00.000Z",
        "message": {"id": mid, "model": model, "role": "assistant", "usage": usage},
    }
    return [json.dumps(line), json.dumps(line)]


def append(path: Path, lines: list[str], end: str = "\n") -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + end)


def usage(inp: int, out: int, read: int = 0, write: int = 0) -> dict:
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": write,
    }


def codex_file(home: Path, cwd: Path, session: str, branch: str, totals: list[tuple[int, int, int]]) -> Path:
    """A rollout: session_meta, turn_context, then token_count events with cumulative
    (input including cached, cached, output) totals."""
    path = home / ".codex" / "sessions" / "2026" / "12" / "02" / f"rollout-2026-12-02T10-00-00-{session}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        {"type": "session_meta", "payload": {"id": session, "cwd": str(cwd), "git": {"branch": branch}}},
        {"type": "turn_context", "payload": {"cwd": str(cwd), "model": "gpt-5-codex"}},
    ]
    for inp, cached, out in totals:
        info = {"total_token_usage": {"input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out}}
        lines.append(
            {
                "timestamp": "2026-12-02T10:00:01.000Z",
                "type": "event_msg",
                "payload": {"type": "token_count", "info": info},
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def env_for(home: Path) -> dict[str, str]:
    return {"HOME": str(home)}


def by(rows, key):
    return {r.key: r for r in rows}[key]


def test_claude_messages_count_once_and_scans_are_incremental(town, store, tmp_path):
    home = tmp_path / "home"
    cwd = town.root / "demo" / "polecats" / "nux"
    path = claude_file(home, cwd, "s1")
    append(path, claude_message(cwd, "s1", "polecat/nux/de-abc", "msg_1", usage(100, 10, read=1000)))
    append(path, claude_message(cwd, "s1", "polecat/nux/de-abc", "msg_2", usage(50, 5)))
    assert scan(town, store.db, env_for(home)) > 0
    rows = report(town, store, "bead", refresh=False)
    row = by(rows, "de-abc")
    assert row.tokens == {"input": 150, "cache_read": 1000, "cache_write": 0, "output": 15}
    assert row.responses == 2 and row.sessions == 1
    price = price_for("claude-sonnet-4-5", DEFAULT_PRICES)
    assert row.cost == pytest.approx((150 * price.input + 1000 * price.cache_read + 15 * price.output) / 1e6)
    # nothing new: nothing read; a line still being written waits; after gt done the branch is HEAD
    assert scan(town, store.db, env_for(home)) == 0
    half = claude_message(cwd, "s1", "HEAD", "msg_3", usage(7, 3))[0]
    append(path, [half[:40]], end="")
    scan(town, store.db, env_for(home))
    assert by(report(town, store, "bead", refresh=False), "de-abc").responses == 2
    with path.open("a") as fh:
        fh.write(half[40:] + "\n")
    scan(town, store.db, env_for(home))
    row = by(report(town, store, "agent", refresh=False), "demo/polecats/nux")
    assert row.tokens["output"] == 18 and row.responses == 3
    assert by(report(town, store, "bead", refresh=False), "de-abc").tokens["input"] == 157


def test_a_rewritten_file_is_read_again_and_foreign_sessions_never(town, store, tmp_path):
    home = tmp_path / "home"
    cwd = town.root / "demo" / "polecats" / "nux"
    path = claude_file(home, cwd, "s1")
    append(path, claude_message(cwd, "s1", "polecat/nux/de-abc", "msg_1", usage(100, 10)))
    append(path, claude_message(cwd, "s1", "polecat/nux/de-abc", "msg_2", usage(100, 10)))
    scan(town, store.db, env_for(home))
    path.write_text("\n".join(claude_message(cwd, "s1", "polecat/nux/de-abc", "msg_9", usage(1, 1))) + "\n")
    scan(town, store.db, env_for(home))
    assert by(report(town, store, refresh=False), "de-abc").tokens["input"] == 1
    # a folder whose name starts like the town's (town2) holds another town's sessions: not counted
    other = town.root.parent / (town.root.name + "2") / "demo" / "polecats" / "ace"
    append(claude_file(home, other, "s2"), claude_message(other, "s2", "polecat/ace/de-zzz", "m", usage(5, 5)))
    codex_file(home, tmp_path / "elsewhere", "c9", "polecat/ace/de-yyy", [(10, 0, 1)])
    scan(town, store.db, env_for(home))
    assert {r.key for r in report(town, store, refresh=False)} == {"de-abc"}


def test_codex_cumulative_totals_count_as_increases(town, store, tmp_path):
    home = tmp_path / "home"
    cwd = town.root / "demo" / "polecats" / "furiosa"
    codex_file(home, cwd, "c1", "polecat/furiosa/de-cdx", [(100, 40, 5), (100, 40, 5), (250, 90, 12)])
    scan(town, store.db, env_for(home))
    row = by(report(town, store, "bead", refresh=False), "de-cdx")
    assert row.tokens == {"input": 160, "cache_read": 90, "cache_write": 0, "output": 12}
    assert row.responses == 2  # the repeated total added nothing
    assert by(report(town, store, "model", refresh=False), "gpt-5-codex").cost == pytest.approx(
        (160 * 1.25 + 90 * 0.125 + 12 * 10.0) / 1e6
    )
    assert by(report(town, store, "rig", refresh=False), "demo").responses == 2
    assert [r.key for r in report(town, store, "day", refresh=False)] == ["2026-12-02"]


def test_costs_by_convoy_and_gt_costs_prints_hostile_text_as_plain(town, rig, store, tmp_path, run_gt, gt_env):
    home = Path(gt_env["HOME"])
    a = create(run_gt, town, "Bead A", "a")
    b = create(run_gt, town, "Bead B", "b")
    convoy = convoys.create(store, "Release", [a, b], actor="mayor").id
    cwd = town.root / "demo" / "polecats" / "nux"
    path = claude_file(home, cwd, "s1")
    append(path, claude_message(cwd, "s1", f"polecat/nux/{a}", "m1", usage(1000, 100)))
    append(path, claude_message(cwd, "s1", f"polecat/nux/{b}", "m2", usage(2000, 200), model=HOSTILE))
    res = run_gt("costs", "--by", "convoy", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    (row,) = json.loads(res.stdout)
    assert row["key"] == convoy and row["input"] == 3000 and row["output"] == 300
    assert row["cost_usd"] is None and row["unpriced_models"] == [HOSTILE]  # no price: unknown, not $0
    res = run_gt("costs", cwd=town.root)
    assert res.returncode == 0, res.stderr
    assert "\x1b" not in res.stdout and "\x07" not in res.stdout
    assert a in res.stdout and "?" in res.stdout and "total $" in res.stdout
    # a price in town.toml makes it known
    with edit_toml(town.config_path) as doc:
        doc["costs"] = {"prices": {"evil*": {"input": 1.0, "output": 2.0}}}
    res = run_gt("costs", "--by", "bead", "--json", cwd=town.root)
    rows = {r["key"]: r for r in json.loads(res.stdout)}
    assert rows[b]["cost_usd"] == pytest.approx((2000 * 1.0 + 200 * 2.0) / 1e6)
    res = run_gt("costs", "--since", "forever", cwd=town.root)
    assert res.returncode == 2 and "invalid duration" in res.stderr


def test_bad_prices_are_refused_naming_the_key(town, store):
    with edit_toml(town.config_path) as doc:
        doc["costs"] = {"prices": {"m": {"input": -1}}}
    town.reload()
    with pytest.raises(ConfigError, match=r'\[costs.prices."m"\] input must be US dollars'):
        report(town, store, refresh=False)
    with edit_toml(town.config_path) as doc:
        doc["costs"] = {"prices": {"m": {"inptu": 1}}}
    town.reload()
    with pytest.raises(ConfigError, match="has no setting 'inptu'"):
        report(town, store, refresh=False)
    with pytest.raises(GtError, match="unknown cost grouping"):
        report(town, store, "colour", refresh=False)


def test_prices_match_exact_then_the_longest_pattern():
    table = {"claude-*": Price(1, 1), "claude-opus-*": Price(2, 2), "claude-opus-4-1": Price(3, 3)}
    assert price_for("claude-opus-4-1", table).input == 3
    assert price_for("claude-opus-5", table).input == 2
    assert price_for("claude-haiku", table).input == 1
    assert price_for("llama", table) is None


def test_budget_stops_new_slings_escalates_once_and_keeps_queued_beads(town, rig, store, run_gt, gt_env):
    home = Path(gt_env["HOME"])
    spent = create(run_gt, town, "Spent bead", "done")
    cwd = town.root / "demo" / "polecats" / "nux"
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    line = claude_message(cwd, "s1", f"polecat/nux/{spent}", "m1", usage(1_000_000, 100_000))
    append(claude_file(home, cwd, "s1"), [x.replace("2026-12-02T10:00:00.000Z", now) for x in line])
    with edit_toml(town.config_path) as doc:
        doc["budget"]["per_day"] = 1.0
    nxt = create(run_gt, town, "Next bead", "```sh\necho hi > hi.txt\n```")
    res = run_gt("sling", nxt, "demo", cwd=town.root)
    assert res.returncode == 2
    assert "budget for today is spent" in res.stderr and "per_day" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = run_gt("sling", nxt, "demo", cwd=town.root)
    assert res.returncode == 2
    raised = [e for e in escalation.list_open(store) if "budget" in e.text]
    assert len(raised) == 1 and raised[0].severity == "high"
    assert store.get(nxt).status == "open"  # nothing half-done
    # the queue keeps the bead while the budget is spent
    res = run_gt("sling", nxt, "demo", "--queue", cwd=town.root)
    assert res.returncode == 0, res.stderr
    town.reload()
    slinger = Slinger(town, store=store, actor="deacon")
    assert scheduler.Scheduler(town, slinger).dispatch() == []
    assert [q.bead for q in scheduler.list_queue(store.db)] == [nxt]
    # raising the budget lets slinging go on
    with edit_toml(town.config_path) as doc:
        doc["budget"]["per_day"] = 1000.0
    res = run_gt("sling", nxt, "demo", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
