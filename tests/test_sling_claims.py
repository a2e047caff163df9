"""A claim is a claim (issue 15, item 3): ``gt sling`` takes over only work proven stopped.

Real parts: a real town and rig, the sim agent in real tmux sessions, ``gt`` run as real processes.
A bead claimed by a human or an agent is refused without ``--force``; a bead awaiting merge (after the
sim agent's ``gt done``) is never slung again; a polecat whose session tmux says is gone is taken over
with a comment saying exactly that. 15 claimers and 15 slingers racing on 5 beads take each exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core import events, mq, polecats
from core.beads.store import BeadStore
from core.db import transaction
from core.errors import Conflict
from core.sessions import SessionHost
from core.sling import Slinger
from tests.conftest import VENV_BIN
from tests.conftest import wait_for
from tests.test_sling import SH, create


def _raise_capacity(town, n: int = 20) -> None:
    text = town.config_path.read_text()
    text = text.replace("max_polecats = 8", f"max_polecats = {n}")
    town.config_path.write_text(text.replace("max_polecats_per_rig = 4", f"max_polecats_per_rig = {n}"))


def _comments(store: BeadStore, bead: str) -> list[str]:
    return [c.text for c in store.get(bead).comments]


def test_a_human_claim_is_refused_without_force_and_taken_over_with_it(town, rig, store, run_gt) -> None:
    bead = create(run_gt, town, "Claimed by a human", SH.format("echo x > x.txt"))
    res = run_gt("bead", "ready", "--claim", "--json", cwd=town.root, env={"BD_ACTOR": "alice"})
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["id"] == bead
    before = store.get(bead)
    assert (before.status, before.assignee) == ("in_progress", "alice")
    res = run_gt("sling", bead, "demo", cwd=town.root)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert f"{bead} is claimed by alice" in res.stderr and "--force" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    after = store.get(bead)
    assert (after.status, after.assignee) == ("in_progress", "alice")
    assert polecats.list_polecats(store.db) == [] and not events.query(store.db, types=("sling",))
    # --force takes it over, and the comment says what was seen
    res = run_gt("sling", bead, "demo", "--force", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    (result,) = json.loads(res.stdout)
    assert result["took_over_from"] == "alice"
    assert store.get(bead).assignee == result["polecat"]
    [note] = [c for c in _comments(store, bead) if c.startswith("Taken over")]
    assert "alice claimed it (in_progress" in note and "--force" in note
    [ev] = events.query(store.db, types=("takeover",))
    assert ev.payload["from"] == "alice" and "alice claimed it" in ev.payload["seen"]


def test_an_agent_claiming_a_second_bead_keeps_it(town, rig, store, run_gt) -> None:
    """A polecat's agent (BD_ACTOR demo/polecats/nux, its hook on another bead) claims a bead with
    ``gt bead update --claim``: that polecat is alive and working, so a sling must not take it."""
    own = create(run_gt, town, "Nux's own", "No sh blocks.")
    extra = create(run_gt, town, "Claimed on the side", SH.format("echo y > y.txt"))
    store.hook(own, "demo/polecats/nux", actor="t")
    polecats.upsert(store.db, "demo", "nux", state="working", hook_bead=own)
    res = run_gt("bead", "update", extra, "--claim", cwd=town.root, env={"BD_ACTOR": "demo/polecats/nux"})
    assert res.returncode == 0, res.stderr
    res = run_gt("sling", extra, "demo", cwd=town.root)
    assert res.returncode == 2 and f"{extra} is claimed by demo/polecats/nux" in res.stderr, res.stderr
    assert "an agent's" in res.stderr
    assert store.get(extra).assignee == "demo/polecats/nux"


def test_a_dead_polecat_is_taken_over_saying_what_tmux_showed(town, rig, store, run_gt) -> None:
    bead = create(
        run_gt,
        town,
        "Crashes",
        SH.format("echo one > one.txt") + SH.format("echo two > two.txt"),
        labels=("sim:crash",),
    )
    res = run_gt("sling", bead, "demo", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    (first,) = json.loads(res.stdout)
    host = SessionHost(town)
    wait_for(lambda: not host.is_alive(first["session"]), timeout=30)
    old_name = first["polecat"].rsplit("/", 1)[-1]
    store.remove_label(bead, "sim:crash", actor="test")
    res = run_gt("sling", bead, "demo", "--polecat", "relief", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    (second,) = json.loads(res.stdout)
    assert second["took_over_from"] == first["polecat"] and second["polecat"] == "demo/polecats/relief"
    [note] = [c for c in _comments(store, bead) if c.startswith("Taken over")]
    assert (
        f"{first['polecat']} holds it on its hook and the pane of session {first['session']} is dead" in note
        or f"{first['polecat']} holds it on its hook and tmux has no session {first['session']}" in note
    ), note
    old = polecats.get(store.db, "demo", old_name)
    assert old.hook_bead is None and old.state == "idle"  # one holder only
    assert [p.name for p in polecats.list_polecats(store.db) if p.hook_bead == bead] in (["relief"], [])
    status = [
        e
        for e in events.query(store.db, bead=bead, types=("status_changed",))
        if (e.payload.get("note") or "").startswith("taken over")
    ]
    assert status and any(s in status[-1].payload["note"] for s in ("is dead", "no session"))


def test_a_live_polecat_or_an_unreadable_tmux_is_never_taken_over(town, rig, store, run_gt) -> None:
    bead = create(run_gt, town, "Slow", SH.format("sleep 60"))
    res = run_gt("sling", bead, "demo", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    (first,) = json.loads(res.stdout)
    wait_for(lambda: (p := polecats.by_bead(store.db, bead)) and p.state == "working")
    for extra in ((), ("--force",), ("--polecat", "thief", "--force")):
        res = run_gt("sling", bead, "demo", *extra, cwd=town.root)
        assert res.returncode == 2 and "already hooked" in res.stderr and "is running" in res.stderr, res.stderr
    # tmux cannot be asked (a tmux that fails): that proves nothing, so the sling is refused
    slinger = Slinger(town, store=store)
    slinger.host.tmux = "/bin/false"
    with pytest.raises(Conflict, match="tmux could not tell"):
        slinger.sling(bead, "demo", polecat="thief", force=True)
    assert store.get(bead).assignee == first["polecat"]
    assert not events.query(store.db, types=("takeover",))


def test_a_bead_awaiting_merge_is_not_slung_again(town, rig, store, run_gt) -> None:
    bead = create(run_gt, town, "Quick", SH.format("echo q > q.txt"))
    res = run_gt("sling", bead, "demo", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    [mr] = wait_for(lambda: mq.list_mrs(store.db, rig="demo"))  # the sim ran gt done
    wait_for(lambda: polecats.by_bead(store.db, bead) is None)
    issue = store.get(bead)
    assert issue.status == "in_progress" and mr.status == "queued"
    for extra in ((), ("--force",), ("--polecat", "second", "--force")):
        res = run_gt("sling", bead, "demo", *extra, cwd=town.root)
        assert res.returncode == 2, (extra, res.stdout, res.stderr)
        assert f"{bead} awaits merge: {mr.id}" in res.stderr and "is queued" in res.stderr
        assert f"gt mq reject {mr.id}" in res.stderr
    # even set back to open by hand, it awaits merge: the scheduler's sling is refused the same way
    assert run_gt("bead", "update", bead, "--status", "open", cwd=town.root).returncode == 0
    res = run_gt("sling", bead, "demo", cwd=town.root)
    assert res.returncode == 2 and "awaits merge" in res.stderr
    assert len(mq.list_mrs(store.db, rig="demo")) == 1
    assert [e.type for e in events.query(store.db, bead=bead)].count("sling") == 1
    # once the refinery failed it, the polecat that finished it no longer holds it: a new sling may
    with transaction(store.db):
        mq.finish(store.db, mr.id, "failed", "gate red")
    store.update(bead, "t", status="in_progress")
    res = run_gt("sling", bead, "demo", "--polecat", "second", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["took_over_from"] == f"demo/polecats/{mr.polecat}"
    [note] = [c for c in _comments(store, bead) if c.startswith("Taken over")]
    assert f"{mr.id} failed" in note and "finished it with gt done" in note


CLAIMER = textwrap.dedent("""
    import json, sys
    from core.beads import BeadStore
    from core.errors import Conflict
    db_path, actor, bead = sys.argv[1:4]
    store = BeadStore.open(db_path)
    try:
        issue = store.claim(bead, actor)
        print(json.dumps({"who": actor, "bead": issue.id}))
    except Conflict as exc:
        print(json.dumps({"who": actor, "bead": None, "error": str(exc)}))
""")


def test_15_claimers_and_15_slingers_on_5_beads_take_each_exactly_once(
    town, rig, store, run_gt, gt_env, tmp_path: Path
) -> None:
    _raise_capacity(town)
    beads = [create(run_gt, town, f"Contended {i}", "No sh blocks.") for i in range(5)]
    script = tmp_path / "claimer.py"
    script.write_text(CLAIMER)
    root = Path(__file__).resolve().parent.parent
    gt = str(VENV_BIN / "gt")
    procs: list[tuple[str, str, subprocess.Popen[str]]] = []
    for k in range(15):
        bead = beads[k % 5]
        env = {**gt_env, "BD_ACTOR": f"human-{k:02d}"}
        if k < 10:  # claim a given bead through the store's compare-and-swap
            argv = [sys.executable, "-P", str(script), str(town.db_path), f"human-{k:02d}", bead]
            env["PYTHONPATH"] = str(root)
        else:  # gt bead ready --claim: the first ready bead
            argv = [gt, "bead", "ready", "--claim", "--json"]
        procs.append(
            (
                "claim",
                f"human-{k:02d}",
                subprocess.Popen(
                    argv, cwd=town.root, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                ),
            )
        )
        procs.append(
            (
                "sling",
                beads[(k + 2) % 5],
                subprocess.Popen(
                    [gt, "sling", beads[(k + 2) % 5], "demo", "--json"],
                    cwd=town.root,
                    env=gt_env,
                    text=True,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                ),
            )
        )
    winners: dict[str, list[str]] = {b: [] for b in beads}
    for kind, who, proc in procs:
        out, err = proc.communicate(timeout=240)
        if kind == "claim":
            assert proc.returncode == 0, err
            data = json.loads(out) if out.strip() else None
            if data and data.get("id"):  # gt bead ready --claim
                winners[data["id"]].append(who)
            elif data and data.get("bead"):  # the store's claim
                winners[data["bead"]].append(data["who"])
        elif proc.returncode == 0:
            (result,) = json.loads(out)
            assert result["took_over_from"] is None, result
            winners[who].append(result["polecat"])
        else:
            assert proc.returncode == 2, err
            assert any(
                s in err
                for s in (
                    "is claimed by",
                    "already hooked",
                    "awaits merge",
                    "already claimed",
                    "changed while slinging",
                    "only open beads",
                )
            ), err
    assert all(len(w) == 1 for w in winners.values()), winners
    for bead, [who] in winners.items():
        assert store.get(bead).assignee == who
    assert not events.query(store.db, types=("takeover",))
    assert not any(c.startswith("Taken over") for b in beads for c in _comments(store, b))
    slung = [b for b, [who] in winners.items() if "/polecats/" in who]
    wait_for(lambda: len(mq.list_mrs(store.db, rig="demo")) == len(slung), timeout=120)
    assert sorted(m.bead for m in mq.list_mrs(store.db, rig="demo")) == sorted(slung)
    # and afterwards no sling takes any of them
    for bead in beads:
        res = run_gt("sling", bead, "demo", cwd=town.root)
        assert res.returncode == 2, res.stdout
    assert os.path.exists(town.db_path)
