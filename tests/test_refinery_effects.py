"""Effects of a settled batch on the beads ledger, the mail and the convoy hook (issue 6 items 3-5)."""

from __future__ import annotations

from core import convoys, events, mail, mq
from core.beads import BeadStore
from tests.test_refinery import Lab


def _bead(lab: Lab, title: str) -> str:
    store = BeadStore(lab.town, db=lab.db)
    return store.create(title, actor="mayor", prefix=lab.rig.prefix, status="in_progress").id


def _mr(lab: Lab, bead: str, polecat: str, files: dict[str, str], base: str | None = None, convoy=None) -> mq.MR:
    m = lab.mr(polecat, files, base=base)
    with lab.db.conn:
        lab.db.execute("UPDATE merge_requests SET bead = ?, convoy = ? WHERE id = ?", [bead, convoy, m.id])
    return mq.get(lab.db, m.id)


def test_merged_bead_is_closed_with_the_sha_and_the_polecat_gets_merged_mail(town, tmp_path):
    lab = Lab(town, tmp_path)
    bead = _bead(lab, "add feature")
    m = _mr(lab, bead, "nux", {"feature.txt": "x\n"})
    result = lab.step()
    sha = mq.get(lab.db, m.id).merge_sha
    closed = BeadStore(town, db=lab.db).get(bead)
    assert result.merged == [m.id] and closed.status == "closed" and sha in closed.close_reason
    inbox = mail.inbox(town, "proj/polecats/nux", db=lab.db)
    assert [x.subject for x in inbox] == [f"MERGED {bead}"] and sha in inbox[0].body
    assert inbox[0].sender == "proj/refinery"


def test_culprit_bead_gets_the_log_tail_and_the_polecat_fix_needed(town, tmp_path):
    lab = Lab(town, tmp_path)
    good, bad = _bead(lab, "good work"), _bead(lab, "bad work")
    _mr(lab, good, "ace", {"good.txt": "x\n"})
    culprit = _mr(lab, bad, "toast", {"broken.bad": "x\n"})
    result = lab.step()
    assert result.failed == [culprit.id]
    issue = BeadStore(town, db=lab.db).get(bad)
    assert issue.status == "in_progress"
    note = issue.comments[-1].text
    assert "check gate failed (exit 1): culprit change present:" in note and "broken.bad" in note
    assert f"log: {events.query(lab.db, types=('merge_failed',))[-1].payload['log']}" in note
    fix = mail.inbox(town, "proj/polecats/toast", db=lab.db)
    assert fix[0].subject == f"FIX_NEEDED {bad}" and "gt done again" in fix[0].body
    assert BeadStore(town, db=lab.db).get(good).status == "closed"


def test_culprit_gets_a_p1_follow_up_bug_filed_once_while_it_is_open(town, tmp_path):
    lab = Lab(town, tmp_path)
    store = BeadStore(town, db=lab.db)
    bad = _bead(lab, "bad work")
    _mr(lab, _bead(lab, "good work"), "ace", {"good.txt": "x\n"})
    culprit = _mr(lab, bad, "toast", {"broken.bad": "x\n"})
    lab.step()
    ev = events.query(lab.db, types=("merge_failed",))[-1]
    fix = store.get(ev.payload["follow_up"])
    assert (fix.title, fix.issue_type, fix.priority, fix.status) == ("Fix check failure: bad work", "bug", 1, "open")
    assert fix.id.startswith(lab.rig.prefix + "-") and fix.depends_on("discovered-from") == [bad]
    for needle in (culprit.id, "check: exit 1", ev.payload["log"], "culprit change present", "broken.bad"):
        assert needle in fix.description, needle
    inbox = mail.inbox(town, "proj/polecats/toast", db=lab.db)
    assert inbox[0].subject == f"FIX_NEEDED {bad}" and f"Filed {fix.id}" in inbox[0].body
    # the same MR failing again on a retry adds to the open follow-up instead of filing another
    mq.retry(lab.db, culprit.id)
    lab.step()
    again = events.query(lab.db, types=("merge_failed",))[-1]
    assert again.id != ev.id and again.payload["follow_up"] == fix.id
    assert culprit.id in store.get(fix.id).comments[-1].text
    assert [b.id for b in store.list(prefix=lab.rig.prefix, issue_type="bug")] == [fix.id]
    assert f"Filed {fix.id}" in mail.inbox(town, "proj/polecats/toast", db=lab.db)[0].body
    # once that follow-up is closed, a new failure files a new one
    store.close(fix.id, "mayor", reason="wrong diagnosis")
    mq.retry(lab.db, culprit.id)
    lab.step()
    fresh = events.query(lab.db, types=("merge_failed",))[-1].payload["follow_up"]
    assert fresh not in (None, fix.id) and store.get(fresh).depends_on("discovered-from") == [bad]
    # the polecat fixes its branch: the new MR merges, closing the bead and its open follow-up
    repaired = _mr(lab, bad, "toast", {"fixed.txt": "x\n"})
    assert lab.step().merged == [repaired.id]
    closed = store.get(fresh)
    assert closed.status == "closed" and closed.close_reason.startswith(f"fixed: {bad} merged {repaired.id}")
    assert store.get(fix.id).close_reason == "wrong diagnosis"


def test_a_missing_commit_files_no_follow_up(town, tmp_path):
    lab = Lab(town, tmp_path)
    bead = _bead(lab, "lost work")
    m = mq.submit(lab.db, "proj", bead, "nux", "polecat/nux/pj-nux", "1" * 40)
    assert lab.step().failed == [m.id]
    assert "follow_up" not in events.query(lab.db, types=("merge_failed",))[-1].payload
    assert BeadStore(town, db=lab.db).list(prefix=lab.rig.prefix, issue_type="bug") == []


def test_conflict_files_a_p1_bead_linked_to_the_original_once(town, tmp_path):
    lab = Lab(town, tmp_path)
    base = lab.main()
    a, b = _bead(lab, "edit readme one way"), _bead(lab, "edit readme another way")
    _mr(lab, a, "one", {"README.md": "# proj\none\n"}, base=base)
    clash = _mr(lab, b, "two", {"README.md": "# proj\ntwo\n"}, base=base)
    lab.step()
    store = BeadStore(town, db=lab.db)
    ev = events.query(lab.db, types=("merge_conflict",))[0]
    resolver = store.get(ev.payload["conflict_bead"])
    assert (
        resolver.priority == 1 and resolver.id.startswith(lab.rig.prefix + "-") and "README.md" in resolver.description
    )
    assert resolver.depends_on("discovered-from") == [b]
    assert "conflicts with main in README.md" in store.get(b).comments[-1].text
    assert mail.inbox(town, "proj/polecats/two", db=lab.db)[0].subject == f"CONFLICT {b}"
    # a retry that conflicts again reuses the resolver bead instead of filing a second one
    mq.retry(lab.db, clash.id)
    lab.step()
    again = events.query(lab.db, types=("merge_conflict",))[-1]
    assert again.payload["conflict_bead"] == resolver.id
    assert f"{clash.id} conflicts with main" in store.get(resolver.id).comments[-1].text
    assert len(store.list(labels=(), status=["open"], prefix=lab.rig.prefix, issue_type="task")) == 1


def test_a_convoy_lands_when_the_batch_merges_its_last_bead(town, tmp_path):
    lab = Lab(town, tmp_path, batch=1)
    store = BeadStore(town, db=lab.db)
    first, last = _bead(lab, "part one"), _bead(lab, "part two")
    convoy = convoys.create(store, "release", [first, last], actor="mayor", notify="mayor/").id
    _mr(lab, first, "nux", {"one.txt": "x\n"})
    _mr(lab, last, "ace", {"two.txt": "x\n"})
    assert lab.step().landed == [] and store.get(convoy).status != "closed"
    assert lab.step().landed == [convoy]
    assert store.get(convoy).status == "closed"
    assert [e.bead for e in events.query(lab.db, types=("convoy_landed",))] == [convoy]
    assert any(convoy in m.subject or convoy in m.body for m in mail.inbox(town, "mayor/", db=lab.db))


def test_an_mr_naming_an_unknown_convoy_still_merges(town, tmp_path):
    lab = Lab(town, tmp_path)
    m = _mr(lab, _bead(lab, "tracked"), "nux", {"c.txt": "x\n"}, convoy="hq-cv-nope")
    result = lab.step()
    assert result.merged == [m.id] and result.landed == []
