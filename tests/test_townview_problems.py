"""The problems rule (issue 21, part 4): :func:`core.townview.read_snapshot` lists failed and
conflicting merge requests (the newest of their bead only), waiting and stuck agents and open
escalations, most urgent first; the header count and the problems view both read ``snap.problems``.

Real SQLite, real tmux on a private socket (the waiting agent's session), real escalation beads.
"""

from __future__ import annotations

import time

from core import agent_state, escalation, mq, polecats
from core.beads.store import BeadStore
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import Town
from core.townview import PROBLEM_KINDS, read_snapshot

HOSTILE = "gate test: exit 1\n\x1b[2J[red]boom[/]"


def test_failed_and_conflicting_mrs_waiting_agents_and_escalations_are_problems(
    town: Town, host: SessionHost, git_repo
) -> None:
    add_rig(town, "demo", str(git_repo), prefix="de")
    now = time.time()
    with BeadStore(town) as store:
        db = store.db
        ids = {name: store.create(f"Work {name}", actor="tester", prefix="de").id for name in "abcdew"}
        failed = mq.submit(db, "demo", ids["a"], "nux", "polecat/nux/a", "1" * 40)
        mq.finish(db, failed.id, "failed", HOSTILE)
        conflict = mq.submit(db, "demo", ids["b"], "slit", "polecat/slit/b", "2" * 40)
        mq.finish(db, conflict.id, "conflict", "conflicts in app.py")
        old = mq.submit(db, "demo", ids["c"], "jam", "polecat/jam/c", "3" * 40)
        mq.finish(db, old.id, "failed", "gate test failed")
        mq.submit(db, "demo", ids["c"], "jam", "polecat/jam/c", "4" * 40)  # fixed and submitted again
        rejected = mq.submit(db, "demo", ids["d"], "ace", "polecat/ace/d", "5" * 40)
        mq.finish(db, rejected.id, "rejected", "not wanted")
        retried = mq.submit(db, "demo", ids["e"], "fury", "polecat/fury/e", "6" * 40)
        mq.finish(db, retried.id, "failed", "gate lint failed")
        mq.retry(db, retried.id, actor="tester")  # back in the queue: no longer a problem
        # a polecat whose agent ended its turn with work on its hook: it waits for an answer
        store.hook(ids["w"], "demo/polecats/wez", "tester")
        polecats.upsert(
            db, "demo", "wez", state="working", hook_bead=ids["w"], session="demo-wez", agent="sim", started_at=now
        )
        host.start("demo-wez", ["sh", "-c", "exec sleep 3600"], town.rig_dir("demo"))
        agent_state.record(db, "demo-wez", "waiting", "asked which database to use")
        esc = escalation.escalate(store, "the gates need a database", "high", actor="demo/polecats/wez")
        snap = read_snapshot(town, db, host, now=now)
    kinds = [(p.kind, p.bead) for p in snap.problems]
    assert kinds == [
        ("escalation", esc.id),
        ("merge_failed", ids["a"]),
        ("merge_conflict", ids["b"]),
        ("waiting", ids["w"]),
    ], kinds
    by_kind = {p.kind: p for p in snap.problems}
    mr = by_kind["merge_failed"]
    assert mr.mr == failed.id and mr.rig == "demo" and mr.polecat == "nux"
    assert "\n" not in mr.detail and "\x1b" not in mr.detail and "[red]boom[/]" in mr.detail  # one line, as text
    assert by_kind["merge_conflict"].mr == conflict.id and "conflicts in app.py" in by_kind["merge_conflict"].detail
    waiting = by_kind["waiting"]
    assert waiting.polecat == "wez" and waiting.session == "demo-wez"
    assert "waits for an answer" in waiting.detail
    assert [a.state for a in snap.agents if a.name == "wez"] == ["waiting"]
    assert all(p.kind in PROBLEM_KINDS for p in snap.problems)
