"""The witness with a real engine, real tmux and the sim agent: stalled, zombie, stuck (issue 7)."""

from __future__ import annotations

import json
from pathlib import Path

from core import events, git, mail, polecats
from core.beads.store import BeadStore
from core.sessions import SessionHost
from core.sling import Slinger
from core.witness import Witness
from tests.test_engine_support import SH, create_bead, wait_for


def _events(town, kind: str, bead: str | None = None) -> list[events.Event]:
    with BeadStore(town) as store:
        return events.query(store.db, types=(kind,), bead=bead)


def _polecat(town, bead: str) -> polecats.Polecat:
    def find():
        with BeadStore(town) as store:
            return polecats.by_bead(store.db, bead)

    return wait_for(find, timeout=30)  # type: ignore[return-value]


def test_hanging_polecat_is_stalled_and_nudged(fast_town, demo_rig, engine, run_gt) -> None:
    bead = create_bead(run_gt, fast_town, "Hangs", SH.format("echo started > started.txt"), labels=("sim:hang",))
    assert run_gt("sling", bead, "demo", cwd=fast_town.root).returncode == 0
    p = _polecat(fast_town, bead)
    stalled = wait_for(
        lambda: [e for e in _events(fast_town, "stalled", bead) if e.payload["action"] == "nudge"], timeout=60
    )[0]
    assert stalled.actor == "demo/witness" and stalled.rig == "demo"
    assert "no output for" in stalled.payload["reason"] and "stall_after 3s" in stalled.payload["reason"]
    assert stalled.payload["polecat"] == p.name
    host = SessionHost(fast_town)
    assert host.wait_for_text(p.session, "witness: you have been silent", timeout=10)
    # still hooked and alive: a stall is nudged, never restarted
    assert host.is_alive(p.session) and _events(fast_town, "respawn", bead) == []
    states = [e.payload["state"] for e in _events(fast_town, "witness_state", bead)]
    assert "stalled" in states


def test_killed_session_is_resumed_on_the_same_worktree_and_lands(fast_town, demo_rig, engine, run_gt) -> None:
    steps = (
        SH.format("echo one >> work.txt\nsleep 4") + "\n" + SH.format("grep -q two work.txt || echo two >> work.txt")
    )
    bead = create_bead(run_gt, fast_town, "Long work", steps)
    assert run_gt("sling", bead, "demo", cwd=fast_town.root).returncode == 0
    p = _polecat(fast_town, bead)
    worktree = Path(p.worktree)
    wait_for(lambda: (worktree / "work.txt").exists(), timeout=30)
    SessionHost(fast_town).kill(p.session)
    respawn = wait_for(lambda: _events(fast_town, "respawn", bead), timeout=60)[0]
    zombie = [e for e in _events(fast_town, "zombie", bead) if e.payload["action"] == "resume"][0]
    assert "session dead while hooked" in zombie.payload["reason"]
    assert respawn.actor == "demo/witness" and respawn.payload["respawns"] == 1
    wait_for(lambda: BeadStore(fast_town).get(bead).status == "closed", timeout=90)
    with BeadStore(fast_town) as store:
        again = polecats.get(store.db, "demo", p.name)
        issue = store.get(bead)
    assert again.worktree == str(worktree) and again.respawns == 1
    assert "merged" in issue.close_reason or issue.close_reason
    main = git.rev_parse(demo_rig.repo_path, "main")
    # both runs appended to the same file in the same worktree: the work before the kill was kept
    assert git.run_git(["show", f"{main}:work.txt"], cwd=demo_rig.repo_path).stdout == "one\none\ntwo\n"


def test_bead_crashing_four_times_is_stuck_and_escalated(fast_town, demo_rig, engine, run_gt) -> None:
    bead = create_bead(run_gt, fast_town, "Always crashes", SH.format("echo x >> crash.txt"), labels=("sim:crash",))
    assert run_gt("sling", bead, "demo", cwd=fast_town.root).returncode == 0
    p = _polecat(fast_town, bead)
    stuck = wait_for(lambda: _events(fast_town, "stuck", bead), timeout=120)[0]
    assert "max_respawns 3" in stuck.payload["reason"]
    with BeadStore(fast_town) as store:
        row = polecats.get(store.db, "demo", p.name)
        assert row.state == "stuck" and row.respawns == 3 and row.hook_bead == bead
        assert len(events.query(store.db, types=("respawn",), bead=bead)) == 3
        escalations = events.query(store.db, types=("escalation",), bead=bead)
        assert len(escalations) == 1 and escalations[0].payload["severity"] == "high"
        assert store.get(bead).status == "hooked"  # the work stays on the hook for a human
    inbox = mail.inbox(fast_town, "mayor/")
    assert any(bead in m.body and m.subject.startswith("ESCALATION [HIGH]") for m in inbox)
    res = run_gt("mail", "inbox", "mayor/", "--json", cwd=fast_town.root)
    assert any(bead in m["body"] for m in json.loads(res.stdout))
    # four runs each appended one line to the same worktree; it is never deleted
    assert (Path(row.worktree) / "crash.txt").read_text() == "x\n" * 4


def test_patrol_classifies_idle_and_cleans_up_a_closed_beads_session(fast_town, demo_rig, run_gt) -> None:
    bead = create_bead(run_gt, fast_town, "Quick", "No steps: the sim writes a note.")
    assert run_gt("sling", bead, "demo", cwd=fast_town.root).returncode == 0
    p = _polecat(fast_town, bead)
    store = BeadStore(fast_town)
    try:
        wait_for(lambda: polecats.get(store.db, "demo", p.name).state == "idle", timeout=60)
        witness = Witness(fast_town, "demo", Slinger(fast_town, store=store, actor="demo/witness"))
        (decision,) = witness.patrol()
        assert (decision.state, decision.action) == ("idle", "none")
        # a hook whose bead was closed meanwhile, with the session still up: a zombie to clean up
        polecats.upsert(store.db, "demo", p.name, state="working", hook_bead=bead)
        store.close(bead, actor="t", reason="done elsewhere", force=True)
        (decision,) = witness.patrol()
        assert (decision.state, decision.action) == ("zombie", "cleanup")
        assert "alive while its bead is closed" in decision.reason
        assert not SessionHost(fast_town).exists(p.session)
        row = polecats.get(store.db, "demo", p.name)
        assert row.state == "idle" and row.hook_bead is None and Path(row.worktree).is_dir()
    finally:
        store.disconnect()
