"""One rule for a polecat's state (issue 17): :func:`core.witness.polecat_state`, which the witness acts
on and the cockpit shows (:func:`core.townview.read_snapshot`). The rule's table in-process, then the
witness and the cockpit on one real town (SQLite, tmux on the town's private server) naming every
polecat's state alike."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from core import polecats
from core.beads.store import BeadStore
from core.config import edit_toml
from core.polecats import Polecat
from core.rigs import add_rig
from core.sessions import SessionHost
from core.sling import Slinger
from core.town import Town
from core.townview import read_snapshot
from core.witness import POLECAT_STATES, Witness, polecat_state, thresholds

NOW = 1_800_000_000.0
TH = {
    "active_window": 60.0,
    "stall_after": 900.0,
    "gupp_after": 1800.0,
    "max_respawns": 3.0,
    "spawn_grace": 60.0,
    "stuck_retry_after": 300.0,
}


@dataclass
class Seen:
    """What a caller observed of one polecat (the rule's input), recording what the rule asked."""

    alive_: bool = True
    status: str = "hooked"
    lost: str | None = None
    output: float | None = NOW - 5
    waiting: str | None = None
    progress: float = 0.0
    asked: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        self.asked.append("alive")
        return self.alive_

    def bead_status(self) -> str:
        self.asked.append("bead_status")
        return self.status

    def worktree_lost(self) -> str | None:
        self.asked.append("worktree_lost")
        return self.lost

    def last_output(self) -> float | None:
        self.asked.append("last_output")
        return self.output

    def agent_waiting(self) -> str | None:
        self.asked.append("agent_waiting")
        return self.waiting

    def last_progress(self) -> float:
        self.asked.append("last_progress")
        return self.progress


def polecat(
    state: str = "working",
    hook: str | None = "de-1",
    worktree: str | None = "/w/nux",
    started: float = NOW - 3000,
    updated: float = NOW - 3000,
) -> Polecat:
    return Polecat("demo", "nux", state, hook, "demo-nux", None, worktree, "sim", 0, NOW - 4000, updated, started)


@pytest.mark.parametrize(
    ("p", "seen", "state", "cause"),
    [
        (polecat(state="stuck"), Seen(alive_=False), "stuck", ""),
        (polecat(state="idle", hook=None), Seen(), "idle", ""),
        (polecat(state="spawning", updated=NOW - 10), Seen(), "spawning", ""),
        (polecat(state="spawning", updated=NOW - 61), Seen(), "zombie", "spawn_unfinished"),
        (polecat(), Seen(status="closed"), "zombie", "bead_closed"),
        (polecat(), Seen(status="missing"), "zombie", "bead_missing"),
        (polecat(), Seen(lost="its worktree /w/nux is gone"), "worktree_lost", ""),
        (polecat(worktree=None), Seen(lost="its worktree /w/nux is gone"), "working", ""),  # none recorded
        (polecat(), Seen(alive_=False), "zombie", "session_dead"),
        (polecat(), Seen(waiting="a question", output=NOW - 5000), "waiting", ""),
        (polecat(), Seen(output=NOW - 2000, progress=NOW - 1900), "gupp_violation", ""),
        (polecat(), Seen(output=NOW - 2000, progress=NOW - 100), "stalled", ""),  # a commit or event: progress
        (polecat(), Seen(output=NOW - 1000), "stalled", ""),
        (polecat(), Seen(output=NOW - 30), "working", ""),
        (polecat(), Seen(output=NOW - 200), "quiet", ""),
        (polecat(started=NOW - 20), Seen(output=NOW - 5000), "working", ""),  # an old transcript, a new session
    ],
)
def test_the_rule_names_each_state(p: Polecat, seen: Seen, state: str, cause: str) -> None:
    got = polecat_state(p, seen, TH, NOW)
    assert (got.state, got.cause) == (state, cause), got
    assert got.state in POLECAT_STATES and got.reason


def test_progress_is_looked_up_only_for_a_polecat_silent_past_gupp_after() -> None:
    """The costly probe (events, a git process) is asked only when a GUPP violation is possible:
    the cockpit reads every polecat every second."""
    seen = Seen(output=NOW - 1000)
    assert polecat_state(polecat(), seen, TH, NOW).state == "stalled"
    assert "last_progress" not in seen.asked
    seen = Seen(output=NOW - 1900)
    polecat_state(polecat(), seen, TH, NOW)
    assert seen.asked.count("last_progress") == 1


@pytest.fixture
def shared_town(town: Town, git_repo) -> Iterator[Town]:
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    add_rig(town, "demo", str(git_repo))
    yield town
    SessionHost(town).kill_server()


def test_the_witness_and_the_cockpit_name_every_polecat_alike(shared_town: Town, monkeypatch) -> None:
    """Five polecats on live sessions and one without: working, quiet, stalled, GUPP violation, a
    closed bead, a dead session (out of restarts). The cockpit's snapshot and the witness's patrol
    (a clock 5000 s ahead, so the ledger's events are old) give each the same state."""
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    town, host = shared_town, SessionHost(shared_town)
    now = time.time() + 5000
    # (name, seconds since output, bead closed, session alive)
    cases = [
        ("nux", 5, False, True),
        ("slit", 300, False, True),
        ("jam", 1000, False, True),
        ("fury", 2500, False, True),
        ("ace", 5, True, True),
        ("ghost", 5, False, False),
    ]
    with BeadStore(town) as store:
        for name, silent, closed, alive in cases:
            bead = store.create(f"Work of {name}", actor="tester", prefix=town.prefix).id
            store.hook(bead, f"demo/polecats/{name}", "tester")
            if closed:
                store.close(bead, "tester", reason="done elsewhere", force=True)
            # ghost used up its restarts: the witness sets it stuck instead of starting an agent
            polecats.upsert(
                store.db,
                "demo",
                name,
                state="working",
                hook_bead=bead,
                session=f"demo-{name}",
                agent="sim",
                started_at=now - 3000,
                respawns=0 if alive else 3,
            )
            if alive:
                host.start(f"demo-{name}", ["sh", "-c", "exec sleep 3600"], town.rig_dir("demo"))
                log = host.log_path(f"demo-{name}")
                log.parent.mkdir(parents=True, exist_ok=True)
                log.touch()
                os.utime(log, (now - silent, now - silent))
        snap = read_snapshot(town, store.db, host, now=now)
        cockpit = {a.name: a.state for a in snap.agents if a.kind == "polecat"}
        assert cockpit == {
            "nux": "working",
            "slit": "quiet",
            "jam": "stalled",
            "fury": "gupp_violation",
            "ace": "zombie",
            "ghost": "zombie",
        }, cockpit
        assert snap.count("working") == 2 and snap.count("stalled") == 2
        assert {p.polecat: p.kind for p in snap.problems if p.polecat} == {
            "jam": "stalled",
            "fury": "gupp_violation",
            "ace": "zombie",
            "ghost": "zombie",
        }
        assert thresholds(town)["spawn_grace"] == 60.0
        slinger = Slinger(town, host=host, store=store, actor="demo/witness")
        witness = Witness(town, "demo", slinger, clock=lambda: now)
        decided = {d.polecat.rsplit("/", 1)[-1]: d.state for d in witness.patrol()}
    assert decided == cockpit, (decided, cockpit)
