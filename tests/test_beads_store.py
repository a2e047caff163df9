"""The bead store on a real SQLite file: records, the audit trail, claims, blocking and ready work."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.actor import current_actor
from core.beads import BeadStore, ids
from core.beads.model import Issue, format_ts, now_ns
from core.errors import Conflict, GtError, NotFound
from core.events import query
from tests.conftest import dump


@pytest.fixture
def store(tmp_path: Path):
    s = BeadStore.open(tmp_path / "town.db")
    yield s
    s.disconnect()


def ready_ids(store: BeadStore, **kw) -> list[str]:
    return [i.id for i in store.ready(**kw)]


def test_create_get_and_the_classic_json_shape(store: BeadStore) -> None:
    a = store.create(
        "Fix login",
        actor="mayor",
        prefix="mp",
        description="Details",
        priority="P1",
        labels=["ui", "auth"],
        metadata='{"k": 1}',
        acceptance_criteria="works",
        notes="n",
    )
    assert a.id.startswith("mp-") and len(a.id) == 6
    got = store.get(a.id).as_dict()
    for key in (
        "id",
        "title",
        "description",
        "status",
        "priority",
        "issue_type",
        "assignee",
        "labels",
        "dependencies",
        "comments",
        "notes",
        "acceptance_criteria",
        "metadata",
    ):
        assert key in got
    assert got["priority"] == 1 and got["labels"] == ["auth", "ui"] and got["metadata"] == {"k": 1}
    assert got["created_by"] == "mayor" and got["status"] == "open" and got["closed_at"] is None
    assert [e.type for e in store.events(a.id)] == ["created"]


def test_explicit_id_custom_middle_and_duplicates(store: BeadStore) -> None:
    cv = store.create("Convoy", actor="mayor", prefix="hq", id_middle="cv", issue_type="convoy")
    assert cv.id.startswith("hq-cv-") and len(cv.id) == len("hq-cv-") + 3
    with store.transaction():
        made = store.make_id("hq", middle="cv", title="Other", actor="mayor")
        store.create("Other", actor="mayor", id=made, issue_type="convoy")
    assert store.get(made).title == "Other"
    with pytest.raises(Conflict):
        store.create("Again", actor="mayor", id=made)


def test_children_are_numbered_and_depth_is_limited(store: BeadStore) -> None:
    epic = store.create("Epic", actor="a", prefix="mp", issue_type="epic")
    kids = [store.create(f"k{n}", actor="a", parent=epic.id) for n in range(3)]
    assert [k.id for k in kids] == [f"{epic.id}.{n}" for n in (1, 2, 3)]
    assert kids[0].parent == epic.id
    assert [c.id for c in store.children(epic.id)] == [k.id for k in kids]
    deep = store.create("d2", actor="a", parent=kids[0].id)
    deeper = store.create("d3", actor="a", parent=deep.id)
    assert deeper.id == f"{epic.id}.1.1.1"
    with pytest.raises(GtError, match="3 levels"):
        store.create("d4", actor="a", parent=deeper.id)
    with pytest.raises(NotFound):
        store.create("orphan", actor="a", parent="mp-nope")


def test_update_records_changes_and_status_rules(store: BeadStore) -> None:
    a = store.create("A", actor="x", prefix="mp")
    same = store.update(a.id, "y", title="A")
    assert [e.type for e in store.events(a.id)] == ["created"] and same.updated_at == a.updated_at
    b = store.update(a.id, "y", title="B", priority=0, status="in_progress")
    assert (b.title, b.priority, b.status) == ("B", 0, "in_progress") and b.started_at
    c = store.update(a.id, "y", status="closed", close_reason="done")
    assert c.closed_at and c.close_reason == "done"
    d = store.update(a.id, "y", status="open")
    assert d.closed_at is None and d.close_reason == ""
    types = [e.type for e in store.events(a.id)]
    assert types == ["created", "updated", "status_changed", "updated", "closed", "reopened"]
    upd = query(store.db, bead=a.id, types=("updated",))[0]
    assert upd.payload["fields"]["title"] == {"old": "A", "new": "B"} and upd.actor == "y"
    with pytest.raises(GtError):
        store.update(a.id, "y", nonsense=1)


def test_close_reopen_and_refusals(store: BeadStore) -> None:
    blocker = store.create("blocker", actor="a", prefix="mp")
    held = store.create("held", actor="a", prefix="mp", deps=[blocker.id])
    with pytest.raises(Conflict, match="blocked by open"):
        store.close(held.id, "a")
    forced = store.close(held.id, "a", reason="wontfix", force=True)
    assert forced.status == "closed" and forced.close_reason == "wontfix"
    assert store.close(held.id, "a").closed_at == forced.closed_at  # closing twice changes nothing
    epic = store.create("epic", actor="a", prefix="mp", issue_type="epic")
    store.create("kid", actor="a", parent=epic.id)
    with pytest.raises(Conflict, match="open children"):
        store.close(epic.id, "a")
    with pytest.raises(Conflict):
        store.reopen(blocker.id, "a")
    again = store.reopen(held.id, "a", reason="oops")
    assert again.status == "open" and again.closed_at is None


def test_claim_is_a_compare_and_swap(store: BeadStore) -> None:
    a = store.create("A", actor="x", prefix="mp")
    got = store.claim(a.id, "rig/polecats/ace")
    assert got.status == "in_progress" and got.assignee == "rig/polecats/ace" and got.started_at
    assert store.claim(a.id, "rig/polecats/ace").updated_at == got.updated_at  # idempotent, no new event
    with pytest.raises(Conflict, match="already claimed by rig/polecats/ace"):
        store.claim(a.id, "rig/polecats/bob")
    pre = store.create("pre-assigned", actor="x", prefix="mp", assignee="bob")
    with pytest.raises(Conflict):
        store.claim(pre.id, "carol")
    assert store.claim(pre.id, "bob").status == "in_progress"
    assert [e.type for e in store.events(a.id)] == ["created", "claimed"]


def test_hook_and_cas_status(store: BeadStore) -> None:
    a = store.create("A", actor="x", prefix="mp")
    hooked = store.hook(a.id, "rig/polecats/ace", "mayor")
    assert hooked.status == "hooked" and hooked.assignee == "rig/polecats/ace"
    assert store.hook(a.id, "rig/polecats/ace", "mayor").status == "hooked"
    with pytest.raises(Conflict):
        store.hook(a.id, "rig/polecats/bob", "mayor")
    assert not store.cas_status(a.id, {"open"}, "in_progress", "w")
    assert not store.cas_status(a.id, {"hooked"}, "open", "w", expected_assignee="rig/polecats/bob")
    assert store.cas_status(a.id, {"hooked"}, "in_progress", "rig/polecats/ace")
    assert store.get(a.id).started_at
    assert store.cas_status(a.id, {"in_progress"}, "open", "deacon", assignee=None, note="session died")
    back = store.get(a.id)
    assert back.status == "open" and back.assignee == ""
    ev = query(store.db, bead=a.id, types=("status_changed",))[-1]
    assert ev.payload["note"] == "session died" and ev.actor == "deacon"
    with pytest.raises(GtError):
        store.cas_status(a.id, {"open"}, "bogus", "w")


def test_ready_excludes_blocked_deferred_ephemeral_and_plumbing(store: BeadStore) -> None:
    mk = lambda title, **kw: store.create(title, actor="a", prefix="mp", **kw).id  # noqa: E731
    free = mk("free")
    blocker = mk("blocker")
    blocked = mk("blocked", deps=[blocker])
    cond = mk("conditional", deps=[f"conditional-blocks:{blocker}"])
    related = mk("related only", deps=[f"related:{blocker}"])
    mk("ephemeral", ephemeral=True)
    mk("a message", issue_type="message")
    mk("a convoy", issue_type="convoy")
    mk("later", defer_until=format_ts(now_ns() + 3600 * 10**9))
    past = mk("was deferred", defer_until="2020-01-01T00:00:00Z")
    progress = mk("in progress", status="in_progress")
    assert set(ready_ids(store)) == {free, blocker, related, past}
    assert store.is_blocked(blocked) and store.is_blocked(cond) and not store.is_blocked(free)
    assert {b.issue.id: b.blocked_by for b in store.blocked()} == {blocked: [blocker], cond: [blocker]}
    store.close(blocker, "a")
    assert {blocked, cond} <= set(ready_ids(store)) and store.blocked() == []
    assert progress not in ready_ids(store)


def test_blocking_through_parents_and_waits_for(store: BeadStore) -> None:
    mk = lambda title, **kw: store.create(title, actor="a", prefix="mp", **kw).id  # noqa: E731
    gate = mk("gate")
    epic = mk("epic", issue_type="epic", deps=[gate])
    kid = mk("kid", parent=epic)
    grandkid = mk("grandkid", parent=kid)
    assert store.is_blocked(grandkid) and grandkid not in ready_ids(store)
    assert {b.issue.id: b.blocked_by for b in store.blocked()}[grandkid] == [kid]
    store.close(gate, "a")
    assert {epic, kid, grandkid} <= set(ready_ids(store))
    # waits-for: blocked while the target has an open child
    fanout = mk("fanout", issue_type="epic")
    step = mk("step", parent=fanout)
    join = mk("join")
    store.add_dependency(join, fanout, "waits-for", actor="a")
    assert store.is_blocked(join) and store.blockers(join) == [fanout]
    store.close(step, "a")
    assert not store.is_blocked(join)
    # a pinned bead is never blocked
    pinned = mk("pinned", status="pinned", deps=[mk("x")])
    assert not store.is_blocked(pinned)


def test_ready_order_filters_and_claim(store: BeadStore) -> None:
    low = store.create("low", actor="a", prefix="mp", priority=3).id
    old = store.create("old", actor="a", prefix="mp", priority=1, labels=["ui"]).id
    new = store.create("new", actor="a", prefix="mp", priority=1).id
    other = store.create("other rig", actor="a", prefix="zz", priority=0).id
    assert ready_ids(store) == [other, old, new, low]
    assert ready_ids(store, sort="oldest") == [low, old, new, other]
    assert ready_ids(store, sort="newest") == [other, new, old, low]
    assert ready_ids(store, prefix="mp", limit=2) == [old, new]
    assert ready_ids(store, labels=["ui"]) == [old]
    with pytest.raises(GtError):
        store.ready(sort="random")
    claimed = store.ready(claim="ace", prefix="mp")
    assert [i.id for i in claimed] == [old] and claimed[0].assignee == "ace"
    store.create("mine", actor="a", prefix="qq", assignee="bob")
    store.create("theirs", actor="a", prefix="qq", assignee="carol", priority=0)
    assert [i.title for i in store.ready(claim="bob", prefix="qq")] == ["mine"]
    assert store.ready(claim="bob", prefix="qq") == []


def test_dependencies_cycles_and_self_edges(store: BeadStore) -> None:
    a, b, c = (store.create(t, actor="x", prefix="mp").id for t in "abc")
    assert store.add_dependency(a, b, actor="x") and store.add_dependency(b, c, actor="x")
    assert not store.add_dependency(a, b, actor="x")
    before = dump(Path(store.db.conn.execute("PRAGMA database_list").fetchone()[2]))
    with pytest.raises(GtError, match="cycle"):
        store.add_dependency(c, a, actor="x")
    with pytest.raises(GtError, match="itself"):
        store.add_dependency(a, a, actor="x")
    with pytest.raises(NotFound):
        store.add_dependency(a, "mp-zzz", actor="x")
    assert dump(Path(store.db.conn.execute("PRAGMA database_list").fetchone()[2])) == before
    assert store.add_dependency(c, a, "related", actor="x")  # non-ordering edges may loop
    assert [i.id for i in store.dependents(b)] == [a]
    assert [i.id for i in store.dependents(a, "related")] == [c]
    assert store.remove_dependency(a, b, actor="x") == 1
    with pytest.raises(NotFound):
        store.remove_dependency(a, b, actor="x")
    types = [e.type for e in store.events(a)]
    assert types == ["created", "dependency_added", "dependency_removed"]


def test_labels_comments_and_list_filters(store: BeadStore) -> None:
    a = store.create("A", actor="x", prefix="mp", issue_type="bug").id
    b = store.create("B", actor="x", prefix="zz").id
    assert store.add_label(a, "urgent", "x") and not store.add_label(a, "urgent", "x")
    with pytest.raises(GtError):
        store.add_label(a, "has space", "x")
    c = store.add_comment(a, "first!", "ace")
    c2 = store.add_comment(b, "second", "bob")
    assert (c.id, c2.id) == (1, 2) and store.get(a).comments[0].text == "first!"
    assert [i.id for i in store.list(labels=["urgent"])] == [a]
    assert [i.id for i in store.list(prefix="zz")] == [b]
    assert [i.id for i in store.list(issue_type="bug")] == [a]
    store.claim(b, "bob")
    assert [i.id for i in store.list(status="in_progress", assignee="bob")] == [b]
    assert store.remove_label(a, "urgent", "x") and not store.remove_label(a, "urgent", "x")
    with pytest.raises(GtError):
        store.list(status="nope")
    assert [e.type for e in store.events(a)] == ["created", "label_added", "commented", "label_removed"]


def test_resolve_partial_ids(store: BeadStore) -> None:
    a = store.create("A", actor="x", id="mp-abc1")
    store.create("B", actor="x", id="mp-abc2")
    store.create("C", actor="x", id="zz-q9")
    assert store.resolve("mp-abc1") == a.id
    assert store.resolve("q9") == "zz-q9"
    assert store.resolve("bc1") == "mp-abc1"
    with pytest.raises(GtError, match="ambiguous.*mp-abc1, mp-abc2"):
        store.resolve("abc")
    with pytest.raises(NotFound):
        store.resolve("nothing")


def test_bad_input_leaves_the_database_unchanged(store: BeadStore, tmp_path: Path) -> None:
    a = store.create("A", actor="x", prefix="mp").id
    before = dump(tmp_path / "town.db")
    bad = [
        lambda: store.create("x" * 501, actor="x"),
        lambda: store.create("", actor="x"),
        lambda: store.create("t", actor="x", priority=5),
        lambda: store.create("t", actor="x", priority="high"),
        lambda: store.create("t", actor="x", issue_type="saga"),
        lambda: store.create("t", actor="x", metadata="{not json"),
        lambda: store.create("t", actor="x", metadata="[1]"),
        lambda: store.create("t", actor="x", deps=["mp-missing"]),
        lambda: store.create("t", actor="x", deps=["sideways:" + a]),
        lambda: store.update(a, "x", status="done"),
        lambda: store.update(a, "x", priority=-1),
        lambda: store.update(a, "x", defer_until="2999-01-01T00:00:00Z"),
        lambda: store.update(a, "x", due_at="1200-01-01T00:00:00Z"),
        lambda: store.create("t", actor="x", defer_until="2262-04-12T00:00:00Z"),
        lambda: store.get("mp-nope"),
        lambda: store.claim("mp-nope", "x"),
    ]
    for call in bad:
        with pytest.raises(GtError):
            call()
    assert dump(tmp_path / "town.db") == before


def test_a_time_past_2262_is_refused_in_one_line_naming_the_field(store: BeadStore, tmp_path: Path) -> None:
    """defer_until is stored as int64 nanoseconds too: a time SQLite's integer cannot hold (after
    2262-04-11) is refused with the field and the years allowed, nothing stored changed; the last
    years that fit are kept."""
    a = store.create("A", actor="x", prefix="mp").id
    before = dump(tmp_path / "town.db")
    with pytest.raises(GtError) as err:
        store.update(a, "x", defer_until="2999-01-01T00:00:00Z")
    assert str(err.value) == "defer_until '2999-01-01T00:00:00Z' is out of range: use a time in the years 1678-2261"
    with pytest.raises(GtError, match=r"^defer_until .* out of range: use a time in the years 1678-2261$"):
        store.create("B", actor="x", defer_until="1600-01-01T00:00:00Z")
    assert dump(tmp_path / "town.db") == before
    last = "2261-12-31T23:59:59Z"
    assert store.update(a, "x", defer_until=last).defer_until == last
    assert store.get(a).defer_until == last and a not in ready_ids(store)  # deferred: not ready work yet


def _top_level(store: BeadStore, prefix: str) -> tuple[int | None, int]:
    """(the id counter of ``prefix``, or None without its row; the top-level ids counted in the ledger)."""
    row = store.db.execute("SELECT top_level FROM id_counters WHERE prefix = ?", [prefix]).fetchone()
    truth = store.db.execute(
        "SELECT count(*) FROM issues WHERE id GLOB ? AND instr(id, '.') = 0", [prefix + "-*"]
    ).fetchone()[0]
    return (row[0] if row else None), truth


def test_the_id_counter_follows_every_way_a_bead_arrives_or_goes(store: BeadStore, tmp_path: Path) -> None:
    """The per-prefix count of top-level ids that sizes a new hash id is kept by the database itself:
    creates (children and convoys' ``hq-cv`` middle counted as the range query counts them), an
    import, a raw INSERT, DELETE or rename by another tool; a missing counter row (a town older than
    the table, or a prefix never minted) is counted from the ledger once."""
    epic = store.create("Epic", actor="a", prefix="mp").id
    store.create("kid", actor="a", parent=epic)
    store.create("Convoy", actor="a", prefix="mp", id_middle="cv")
    assert _top_level(store, "mp") == (2, 2) and _top_level(store, "mp-cv") == (1, 1)
    store.upsert([Issue(id=f"mp-imp{k}", title="i", created_at=format_ts(now_ns()), updated_at="") for k in range(5)])
    store.upsert([Issue(id="mp-imp1", title="again", created_at="", updated_at="")])  # replaced: no new id
    assert _top_level(store, "mp") == (7, 7)
    conn = store.db.conn
    conn.execute("INSERT INTO issues (id, title, created_at, created_ns, updated_at) VALUES ('mp-raw', 'r', '', 0, '')")
    conn.execute(
        "INSERT INTO issues (id, title, created_at, created_ns, updated_at) VALUES ('mp-raw.1', 'r', '', 0, '')"
    )
    conn.execute("INSERT INTO issues (id, title, created_at, created_ns, updated_at) VALUES ('mpx-1', 'r', '', 0, '')")
    assert _top_level(store, "mp") == (8, 8)
    conn.execute("UPDATE issues SET id = 'mp-cv-moved' WHERE id = 'mp-imp0'")
    assert _top_level(store, "mp") == (8, 8) and _top_level(store, "mp-cv") == (2, 2)
    conn.execute("UPDATE issues SET id = 'zz-gone' WHERE id = 'mp-imp2'")
    conn.execute("DELETE FROM issues WHERE id IN ('mp-imp3', 'mp-raw.1')")
    assert _top_level(store, "mp") == (6, 6) and _top_level(store, "zz") == (None, 1)
    conn.execute("DELETE FROM id_counters")  # as in a town database made before the counter existed
    store.create("After", actor="a", prefix="mp")
    assert _top_level(store, "mp") == (7, 7) and _top_level(store, "mp-cv") == (None, 2)


def test_the_id_length_grows_with_the_counted_ids_and_no_taken_id_is_handed_out(store: BeadStore) -> None:
    """163 top-level ids keep 3 characters, the 164th pushes the next to 4 (beads' birthday bound),
    whether the ids were created or imported; an id in use is never handed out, even when the
    counter is wrong (it only sizes the id)."""
    store.create("first", actor="a", prefix="mp")
    store.upsert([Issue(id=f"mp-i{k:03d}", title="i", created_at="", updated_at="") for k in range(162)])
    third = store.create("163rd", actor="a", prefix="mp").id
    fourth = store.create("164th", actor="a", prefix="mp").id
    assert len(third) == len("mp-") + 3 and len(fourth) == len("mp-") + 4
    ns = now_ns()
    taken = ids.bead_id("mp", "Same", "", "a", ns, 3)
    with store.transaction():
        store.db.execute(
            "INSERT INTO issues (id, title, created_at, created_ns, updated_at) VALUES (?, 'x', '', 0, '')", [taken]
        )
        store.db.execute("UPDATE id_counters SET top_level = 0 WHERE prefix = 'mp'")
        minted = store.make_id("mp", title="Same", actor="a", created_ns=ns)
    assert minted == ids.bead_id("mp", "Same", "", "a", ns, 3, nonce=1) and not store.exists(minted)


def test_a_database_from_before_the_id_counter_gets_it_on_open(tmp_path: Path) -> None:
    """A town database without ``id_counters`` and its triggers (made by an older gt) gets them when
    opened, and its first create counts the ids already there."""
    path = tmp_path / "old.db"
    with BeadStore.open(path) as old:
        old.upsert([Issue(id=f"mp-o{k}", title="o", created_at="", updated_at="") for k in range(3)])
        for name in ("id_counted_added", "id_counted_deleted", "id_counted_renamed"):
            old.db.execute(f"DROP TRIGGER {name}")
        old.db.execute("DROP TABLE id_counters")
    with BeadStore.open(path) as store:
        store.create("new", actor="a", prefix="mp")
        store.upsert([Issue(id="mp-late", title="l", created_at="", updated_at="")])
        assert _top_level(store, "mp") == (5, 5)


def test_outer_transaction_rolls_back_every_mutation(store: BeadStore, tmp_path: Path) -> None:
    a = store.create("A", actor="x", prefix="mp").id
    before = dump(tmp_path / "town.db")
    with pytest.raises(Conflict):
        with store.transaction():
            store.claim(a, "ace")
            store.add_label(a, "taken", "ace")
            store.create("B", actor="x", prefix="mp")
            store.claim(a, "bob")  # loses: the whole block is undone
    assert dump(tmp_path / "town.db") == before


def test_mutations_mark_beads_dirty_for_the_ledger_sync(store: BeadStore) -> None:
    a = store.create("A", actor="x", prefix="mp").id
    store.add_comment(a, "hi", "x")
    seen = store.dirty()
    assert [b for b, _ in seen] == [a]
    store.clear_dirty(seen)
    assert store.dirty() == []


def test_actor_resolution_order() -> None:
    assert current_actor("explicit", {"BD_ACTOR": "bd"}) == "explicit"
    assert current_actor(None, {"BD_ACTOR": "bd", "GT_ROLE": "mayor"}) == "bd"
    assert current_actor(None, {"GT_RIG": "mp", "GT_POLECAT": "ace", "USER": "u"}) == "mp/polecats/ace"
    assert current_actor(None, {"GT_RIG": "mp", "GT_CREW": "joe"}) == "mp/crew/joe"
    assert current_actor(None, {"GT_ROLE": "mayor", "USER": "u"}) == "mayor"
    assert current_actor(None, {"GT_ROLE": "witness", "GT_RIG": "mp"}) == "mp/witness"
    assert current_actor(None, {"USER": "alice"}) == "alice"
    assert current_actor(None, {})  # falls back to the login name, never empty
