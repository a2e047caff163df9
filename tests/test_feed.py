"""The feed: durations, formatting, ``gt feed`` (recent, --since, --problems, --json, --follow) and the
asyncio subscriptions, against a real town database written by real processes (issue 7)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import events, feed
from core.beads.store import BeadStore
from core.db import transaction
from core.errors import GtError
from tests.conftest import VENV_BIN


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("90", 90),
        ("30s", 30),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
        ("1.5h", 5400),
        (" 10m ", 600),
        ("2w", 1209600),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert feed.parse_duration(text) == seconds


@given(st.text(max_size=12))
def test_bad_durations_raise_gt_error(text: str) -> None:
    try:
        assert feed.parse_duration(text) >= 0
    except GtError as exc:
        assert "invalid duration" in str(exc)


def test_format_event_names_type_bead_rig_actor_and_reason() -> None:
    ev = events.Event(
        7,
        time.time(),
        "stalled",
        "demo/witness",
        "demo",
        "de-a1",
        {"polecat": "nux", "reason": "no output for 900s", "action": "nudge"},
    )
    line = feed.format_event(ev)
    for part in ("!", "stalled", "de-a1", "[demo]", "by demo/witness", "polecat=nux", "reason=no output for 900s"):
        assert part in line


def _append(town, kind: str, ts: float | None = None, bead: str | None = None) -> int:
    with BeadStore(town) as store, transaction(store.db):
        return events.append(store.db, kind, "t", bead=bead, ts=ts, payload={"reason": kind})


def test_gt_feed_recent_since_problems_and_json(town, run_gt) -> None:
    _append(town, "sling", ts=time.time() - 7200, bead="old")
    _append(town, "merged", bead="new")
    _append(town, "merge_failed", bead="bad")
    res = run_gt("feed", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["bead"] for r in rows] == ["old", "new", "bad"]
    res = run_gt("feed", "--since", "1h", "--json", cwd=town.root)
    assert [json.loads(line)["bead"] for line in res.stdout.splitlines()] == ["new", "bad"]
    res = run_gt("feed", "--problems", cwd=town.root)
    assert "merge_failed" in res.stdout and "merged " not in res.stdout
    res = run_gt("feed", "-n", "1", "--json", cwd=town.root)
    assert [json.loads(line)["bead"] for line in res.stdout.splitlines()] == ["bad"]
    res = run_gt("feed", "--since", "yesterday", cwd=town.root)
    assert res.returncode == 2 and "invalid duration" in res.stderr


def test_gt_feed_follow_prints_events_from_other_processes(town, run_gt, gt_env) -> None:
    proc = subprocess.Popen(
        [str(VENV_BIN / "gt"), "feed", "--follow", "--json"],
        cwd=town.root,
        env=gt_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        res = run_gt("bead", "create", "Followed", "--json", cwd=town.root)
        bead = json.loads(res.stdout)["id"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line and json.loads(line)["bead"] == bead:
                break
        else:
            pytest.fail("gt feed --follow did not print the new bead's event")
        assert json.loads(line)["type"] == "created"
    finally:
        proc.terminate()
        proc.wait(10)


def test_subscriptions_fan_out_new_events_in_order(town) -> None:
    async def main() -> None:
        first = _append(town, "before")
        subs = feed.Subscriptions(BeadStore(town).db)
        a, b = subs.subscribe(backlog=1), subs.subscribe()
        assert a.get_nowait().id == first and b.empty()
        ids = [_append(town, "sling", bead=f"b{n}") for n in range(3)]
        subs.publish(subs.poll())
        for q in (a, b):
            assert [q.get_nowait().id for _ in range(3)] == ids
        subs.unsubscribe(b)
        _append(town, "after")
        subs.publish(subs.poll())
        assert a.get_nowait().type == "after" and b.empty()
        subs.db.conn.close()

    asyncio.run(main())
