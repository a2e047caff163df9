"""Convoys on a real town database: tracking, progress, landing (race-free across connections), the
notification mail, and ``gt convoy ...`` as a real process."""

from __future__ import annotations

import json
import re
import threading

import pytest

from core import convoys, events, mail, mq
from core.beads import BeadStore
from core.errors import Conflict, GtError, NotFound

CONVOY_ID = re.compile(r"^hq-cv-[0-9a-z]{3,8}$")


@pytest.fixture
def store(town):
    s = BeadStore(town)
    yield s
    s.disconnect()


def beads(store: BeadStore, n: int, prefix: str = "hq") -> list[str]:
    return [store.create(f"work {i}", actor="t", prefix=prefix).id for i in range(n)]


def test_create_tracks_beads_without_blocking_them(store) -> None:
    a, b = beads(store, 2)
    c = convoys.create(store, "ship it", [a, b], actor="mayor")
    assert CONVOY_ID.match(c.id)
    issue = store.get(c.id)
    assert issue.issue_type == "convoy" and issue.status == "open" and issue.title == "ship it"
    assert sorted(issue.depends_on("tracks")) == sorted([a, b])
    assert (c.state, c.done, c.total) == ("open", 0, 2)
    ready = {i.id for i in store.ready()}
    assert {a, b} <= ready and c.id not in ready  # tracks edges never block; convoys are not work
    assert [e.type for e in events.query(store.db, bead=c.id)][-1] == "convoy_created"


def test_create_resolves_partial_ids_and_refuses_unknown_beads(store) -> None:
    (a,) = beads(store, 1)
    c = convoys.create(store, "partial", [a.split("-", 1)[1]], actor="t")
    assert [t.id for t in c.tracked] == [a]
    before = len(store.list(issue_type="convoy"))
    with pytest.raises(NotFound):
        convoys.create(store, "bad", [a, "hq-nope"], actor="t")
    assert len(store.list(issue_type="convoy")) == before  # nothing half-made
    with pytest.raises(GtError, match="needs a name"):
        convoys.create(store, "  ", [a], actor="t")
    with pytest.raises(GtError, match="invalid mail address"):
        convoys.create(store, "x", [a], actor="t", notify="../etc")


def test_show_progress_polecat_and_merge_request(town, store) -> None:
    a, b, c = beads(store, 3)
    conv = convoys.create(store, "three", [a, b, c], actor="t")
    store.hook(b, "proj/polecats/nux", actor="t")
    store.close(a, "t", reason="done")
    mq.submit(store.db, "proj", b, "proj/polecats/nux", "polecat/nux/" + b, "a" * 40)
    shown = convoys.get(store, conv.id, mr_lookup=convoys.mr_lookup(store.db))
    rows = {t.id: t for t in shown.tracked}
    assert (shown.done, shown.total) == (1, 3)
    assert rows[a].status == "closed" and rows[a].polecat is None
    assert (rows[b].status, rows[b].polecat, rows[b].mr, rows[b].mr_status) == (
        "hooked",
        "proj/polecats/nux",
        "mr-1",
        "queued",
    )
    assert rows[c].mr is None
    assert {t["id"]: t["polecat"] for t in shown.as_dict()["tracked"]}[b] == "proj/polecats/nux"


def test_add_reopens_a_closed_convoy_and_ignores_duplicates(store) -> None:
    a, b = beads(store, 2)
    conv = convoys.create(store, "grow", [a], actor="t")
    store.close(a, "t")
    assert convoys.check_landed(store, conv.id, actor="deacon")
    grown = convoys.add(store, conv.id, [b, a], actor="t")
    assert (grown.state, grown.done, grown.total) == ("open", 1, 2)
    with pytest.raises(GtError, match="not a convoy"):
        convoys.add(store, a, [b], actor="t")
    with pytest.raises(GtError, match="cannot track itself"):
        convoys.add(store, conv.id, [conv.id], actor="t")
    with pytest.raises(NotFound, match="no convoy"):
        convoys.get(store, "hq-cv-zzzz")


def test_land_needs_every_bead_closed_and_notifies_once(town, store) -> None:
    a, b = beads(store, 2)
    conv = convoys.create(store, "notify me", [a, b], actor="mayor", notify="mayor/")
    with pytest.raises(Conflict, match=f"has open beads \\({', '.join(sorted([a, b]))}\\)"):
        convoys.land(store, conv.id, actor="t")
    store.close(a, "t")
    store.close(b, "t")
    landed = convoys.land(store, conv.id, actor="deacon")
    assert (landed.state, landed.close_reason, landed.done) == ("landed", "landed", 2)
    assert convoys.land(store, conv.id, actor="t").state == "landed"  # idempotent
    assert not convoys.check_landed(store, conv.id)
    inbox = mail.inbox(town, "mayor/", db=store.db)
    assert [m.subject for m in inbox] == ["Convoy landed: notify me"]
    assert a in inbox[0].body and b in inbox[0].body
    assert len(events.query(store.db, types=("convoy_landed",), bead=conv.id)) == 1


def test_check_landed_skips_empty_open_and_given_up_convoys(store) -> None:
    (a,) = beads(store, 1)
    empty = convoys.create(store, "empty", [], actor="t")
    pending = convoys.create(store, "pending", [a], actor="t")
    assert not convoys.check_landed(store, empty.id)
    assert not convoys.check_landed(store, pending.id)
    with pytest.raises(Conflict, match="tracks no beads"):
        convoys.land(store, empty.id, actor="t")
    given_up = convoys.close(store, pending.id, actor="t", reason="obsolete")
    assert (given_up.state, given_up.close_reason) == ("closed", "obsolete")
    store.close(a, "t")
    assert not convoys.check_landed(store, pending.id)  # closed stays closed, never "landed" later
    with pytest.raises(Conflict, match="was closed"):
        convoys.land(store, pending.id, actor="t")
    with pytest.raises(GtError, match="reserved"):
        convoys.close(store, empty.id, actor="t", reason="landed")


def test_list_filters_by_state_and_tracking_lookup(store) -> None:
    a, b = beads(store, 2)
    c1 = convoys.create(store, "one", [a], actor="t")
    c2 = convoys.create(store, "two", [a, b], actor="t")
    c3 = convoys.create(store, "three", [b], actor="t")
    convoys.close(store, c3.id, actor="t")
    store.close(a, "t")
    assert convoys.check_all(store, actor="deacon") == [c1.id]
    assert [c.id for c in convoys.list_convoys(store)] == [c2.id]
    assert [c.id for c in convoys.list_convoys(store, "landed")] == [c1.id]
    assert [c.id for c in convoys.list_convoys(store, "closed")] == [c3.id]
    assert {c.id for c in convoys.list_convoys(store, None)} == {c1.id, c2.id, c3.id}
    assert convoys.convoys_tracking(store, b) == [c2.id]
    with pytest.raises(GtError, match="unknown convoy state"):
        convoys.list_convoys(store, "sideways")


def test_concurrent_check_landed_lands_exactly_once(town, store) -> None:
    """Eight callers, each on its own database connection, race to land the same convoys."""
    work = beads(store, 3)
    ids = [convoys.create(store, f"race {i}", work, actor="t", notify="mayor/").id for i in range(4)]
    for bead in work:
        store.close(bead, "t")
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def racer() -> None:
        s = BeadStore(town)
        try:
            barrier.wait()
            for convoy_id in ids:
                landed = convoys.check_landed(s, convoy_id, actor="deacon")
                with lock:
                    results.append((convoy_id, landed))
        finally:
            s.disconnect()

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 8 * len(ids)
    for convoy_id in ids:
        assert sum(landed for cid, landed in results if cid == convoy_id) == 1
        assert len(events.query(store.db, types=("convoy_landed",), bead=convoy_id)) == 1
        assert convoys.get(store, convoy_id).state == "landed"
    assert len(mail.inbox(town, "mayor/", db=store.db)) == len(ids)


def test_gt_convoy_commands(town, run_gt) -> None:
    env = {"GT_LEDGER_SYNC": "off", "BD_ACTOR": "mayor"}

    def gt(*args: str):
        return run_gt(*args, cwd=town.root, env=env)

    made = [json.loads(gt("bead", "create", f"task {i}", "--json").stdout)["id"] for i in range(2)]
    r = gt("convoy", "create", "release 1", made[0], "--notify", "--json")
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    cid = created["id"]
    assert CONVOY_ID.match(cid) and created["total"] == 1 and created["notify"] == "mayor/"
    r = gt("convoy", "add", cid, made[1])
    assert r.returncode == 0 and r.stdout.strip() == f"Convoy {cid} now tracks 2 bead(s) (0 done)"
    r = gt("convoy", "list")
    assert r.stdout.splitlines()[1].split() == [cid, "open", "[----------]", "0/2", "release", "1"]
    r = gt("convoy", "land", cid)
    assert r.returncode == 2 and "has open beads" in r.stderr
    assert gt("bead", "close", made[0]).returncode == 0
    r = gt("convoy", "show", cid)
    assert r.stdout.splitlines()[0] == f"{cid}  release 1  open  [#####-----] 1/2"
    assert any(line.split()[:2] == [made[1], "open"] for line in r.stdout.splitlines())
    assert gt("bead", "close", made[1]).returncode == 0
    r = gt("convoy", "check", "--json")
    assert json.loads(r.stdout) == {"landed": [cid]}
    shown = json.loads(gt("convoy", "show", cid, "--json").stdout)
    assert (shown["state"], shown["done"], shown["total"]) == ("landed", 2, 2)
    r = gt("mail", "inbox", "mayor/")
    assert "Convoy landed: release 1" in r.stdout
    other = json.loads(gt("convoy", "create", "abandon", "--json").stdout)["id"]
    r = gt("convoy", "close", other, "--reason", "not needed")
    assert r.returncode == 0 and r.stdout.startswith(f"Closed convoy {other}")
    r = gt("convoy", "list", "--state", "all", "--json")
    assert {c["id"]: c["state"] for c in json.loads(r.stdout)} == {cid: "landed", other: "closed"}
    r = gt("convoy", "show", "hq-cv-nope")
    assert r.returncode == 2 and "no convoy 'hq-cv-nope'" in r.stderr
