"""The witness's own nudges are not progress (issue 21, part 4): a hung agent's terminal echoes every
nudge typed into it, and that echo must not count as output, so an agent that answers nudges with
silence goes from stalled to a GUPP violation and is escalated after ``gupp_after``.

Real engine, real tmux and the sim agent (``sim:hang``: after its first step it never prints again);
the rule itself (:func:`core.witness.last_output`) is also checked on a real transcript file.
"""

from __future__ import annotations

import json
import os
import time

from core import escalation, events, mail, polecats
from core.beads.store import BeadStore
from core.db import transaction
from core.sessions import SessionHost
from core.townview import read_snapshot
from core.witness import ECHO_SLACK, last_output
from tests.test_engine_support import SH, configure, create_bead, wait_for


def _events(town, kind: str, bead: str) -> list[events.Event]:
    with BeadStore(town) as store:
        return events.query(store.db, types=(kind,), bead=bead)


def test_a_hung_agent_that_only_echoes_the_nudges_is_escalated_after_gupp_after(
    fast_town, demo_rig, engine, run_gt
) -> None:
    configure(fast_town, {"witness": {"stall_after": 2, "gupp_after": 7}})
    bead = create_bead(
        run_gt, fast_town, "Hangs for good", SH.format("echo started > started.txt"), labels=("sim:hang",)
    )
    assert run_gt("sling", bead, "demo", cwd=fast_town.root).returncode == 0
    p = wait_for(lambda: polecats.by_bead(BeadStore(fast_town).db, bead), timeout=30)
    host = SessionHost(fast_town)
    # the witness nudges, the nudge shows in the hung agent's terminal (its echo grows the transcript)
    first = wait_for(
        lambda: [e for e in _events(fast_town, "stalled", bead) if e.payload["action"] == "nudge"],
        timeout=60,
        what="the first stall nudge",
    )[0]
    assert host.wait_for_text(p.session, "witness: you have been silent", timeout=20)
    log = host.log_path(p.session)
    wait_for(lambda: log.stat().st_size > first.payload["log_bytes"], timeout=20, what="the echo in the transcript")
    assert b"you have been silent" in log.read_bytes()[first.payload["log_bytes"] :]
    # GUPP fires: nothing moved for gupp_after, the nudges' echoes notwithstanding
    gupp = wait_for(
        lambda: [e for e in _events(fast_town, "gupp_violation", bead) if e.payload["action"] == "nudge"],
        timeout=90,
        what="the GUPP violation",
    )[0]
    assert "escalated" in gupp.payload["reason"] and "gupp_after 7s" in gupp.payload["reason"]
    with BeadStore(fast_town) as store:
        open_ = [e for e in escalation.list_open(store) if e.about == bead]
    assert len(open_) == 1 and open_[0].severity == "high" and "breaks GUPP" in open_[0].text
    assert any(bead in m.body and "GUPP" in m.body for m in mail.inbox(fast_town, "mayor/"))
    # the witness never took an echo for work: no flip back to working after it first saw the stall
    states = [e.payload["state"] for e in _events(fast_town, "witness_state", bead)]
    after = states[states.index("stalled") :]
    assert "working" not in after and "gupp_violation" in after, states
    # and the agent is still alive and hooked: a GUPP violation is nudged and escalated, not restarted
    assert host.is_alive(p.session) and _events(fast_town, "respawn", bead) == []


def test_last_output_leaves_out_the_echo_but_counts_real_output(town, tmp_path) -> None:
    """The rule on a real transcript: growth within the echo allowance after a witness nudge keeps the
    earlier output time; more growth, or no nudge at all, is output."""
    log = tmp_path / "demo-nux.log"
    log.write_bytes(b"agent output\n")
    quiet_since = time.time() - 500
    os.utime(log, (quiet_since, quiet_since))
    with BeadStore(town) as store:
        db = store.db
        assert last_output(db, "demo", "de-1", log) == quiet_since  # no nudge: the mtime
        assert last_output(db, "demo", "de-1", tmp_path / "none.log") is None
        text = "[GAS TOWN] witness: you have been silent"
        with transaction(db):
            events.append(
                db,
                "stalled",
                "demo/witness",
                rig="demo",
                bead="de-1",
                payload={
                    "action": "nudge",
                    "log_bytes": log.stat().st_size,
                    "typed_bytes": len(text),
                    "quiet_since": quiet_since,
                },
            )
        with open(log, "ab") as fh:
            fh.write(text.encode() + b"\r\n")  # the terminal's echo of the nudge
        assert last_output(db, "demo", "de-1", log) == quiet_since
        assert last_output(db, "demo", "other", log) == log.stat().st_mtime  # another bead's nudge: not this one
        with open(log, "ab") as fh:
            fh.write(b"x" * (ECHO_SLACK + 4 * len(text)))  # the agent works again: real output
        assert last_output(db, "demo", "de-1", log) == log.stat().st_mtime
        # a witness nudge recorded without a baseline (before this rule): its growth counts as output
        with transaction(db):
            events.append(
                db, "stalled", "demo/witness", rig="demo", bead="de-2", payload=json.loads('{"action": "nudge"}')
            )
        assert last_output(db, "demo", "de-2", log) == log.stat().st_mtime


def test_the_snapshot_counts_silence_through_the_echo_like_the_witness(fast_town, demo_rig, run_gt) -> None:
    """The cockpit's snapshot applies the same rule: a polecat whose transcript only grew by a nudge's
    echo stays stalled there too, with its silence counted from before the nudge."""
    configure(fast_town, {"witness": {"stall_after": 100, "gupp_after": 1000}})
    host = SessionHost(fast_town)
    now = time.time()
    with BeadStore(fast_town) as store:
        bead = store.create("Quiet work", actor="tester", prefix=demo_rig.prefix).id
        store.hook(bead, "demo/polecats/jam", "tester")
        polecats.upsert(
            store.db,
            "demo",
            "jam",
            state="working",
            hook_bead=bead,
            session="demo-jam",
            agent="sim",
            started_at=now - 900,
        )
        host.start("demo-jam", ["sh", "-c", "exec sleep 3600"], fast_town.rig_dir("demo"))
        log = host.log_path("demo-jam")
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_bytes(b"started\n")
        os.utime(log, (now - 300, now - 300))
        with transaction(store.db):
            events.append(
                store.db,
                "stalled",
                "demo/witness",
                rig="demo",
                bead=bead,
                ts=now - 10,
                payload={
                    "action": "nudge",
                    "log_bytes": log.stat().st_size,
                    "typed_bytes": 40,
                    "quiet_since": now - 300,
                },
            )
        with open(log, "ab") as fh:
            fh.write(b"[GAS TOWN] witness: you have been silent\r\n")
        snap = read_snapshot(fast_town, store.db, host, now=now)
    [jam] = [a for a in snap.agents if a.name == "jam"]
    assert jam.state == "stalled" and jam.idle_s is not None and jam.idle_s >= 299
    assert [p.kind for p in snap.problems if p.polecat == "jam"] == ["stalled"]
