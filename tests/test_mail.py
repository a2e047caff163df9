"""Mail as message beads: addresses, groups, send/inbox/read/reply/archive, and ``gt mail`` as a process."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import mail, polecats
from core.beads import BeadStore
from core.db import connect
from core.errors import GtError, NotFound
from core.rigs import add_rig


@pytest.mark.parametrize(
    "addr, canon",
    [
        ("mayor", "mayor/"),
        ("mayor/", "mayor/"),
        ("deacon", "deacon/"),
        ("proj/witness", "proj/witness"),
        ("proj/refinery", "proj/refinery"),
        ("proj/polecats/nux", "proj/polecats/nux"),
        ("proj/crew/joe", "proj/crew/joe"),
        ("@town", "@town"),
        ("@rig/proj", "@rig/proj"),
        ("@polecats/proj", "@polecats/proj"),
    ],
)
def test_parse_address_accepts_the_documented_forms(addr, canon):
    assert mail.parse_address(addr) == canon


@pytest.mark.parametrize(
    "addr",
    [
        "",
        "nobody",
        "proj/polecats/../x",
        "../etc/witness",
        "proj/mayor",
        "@rig/",
        "@rig/Bad Name",
        "proj/polecats/a b",
        "proj/polecats/x/y",
    ],
)
def test_parse_address_rejects_everything_else(addr):
    with pytest.raises(GtError, match="invalid mail address"):
        mail.parse_address(addr)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_no_accepted_address_can_escape_a_directory(text):
    try:
        canon = mail.parse_address(text)
    except GtError:
        return
    assert ".." not in canon and not canon.startswith("/") and " " not in canon and "\n" not in canon


@pytest.fixture
def db(town):
    return connect(town.db_path)


def test_send_read_reply_archive_round_trip(town, db):
    sent = mail.send(town, "proj/polecats/nux", "Please rebase", "main moved", "mayor", db=db)
    assert len(sent) == 1
    msg = sent[0]
    issue = BeadStore(town, db=db).get(msg.id)
    assert issue.issue_type == "message" and issue.assignee == "proj/polecats/nux" and issue.status == "open"
    assert issue.id.startswith("hq-") and issue.created_by == "mayor"
    assert [m.id for m in mail.inbox(town, "proj/polecats/nux", db=db)] == [msg.id]
    opened = mail.read(town, msg.id, "proj/polecats/nux", db=db)
    assert opened.read and opened.body == "main moved"
    assert mail.inbox(town, "proj/polecats/nux", db=db) == []
    assert [m.id for m in mail.inbox(town, "proj/polecats/nux", db=db, include_read=True)] == [msg.id]
    answer = mail.reply(town, msg.id, "done", "proj/polecats/nux", db=db)
    assert (answer.to, answer.subject, answer.thread, answer.reply_to) == (
        "mayor/",
        "Re: Please rebase",
        msg.id,
        msg.id,
    )
    assert BeadStore(town, db=db).get(answer.id).depends_on("replies-to") == [msg.id]
    again = mail.reply(town, answer.id, "thanks", "mayor", db=db)
    assert again.subject == "Re: Please rebase" and again.thread == msg.id and again.to == "proj/polecats/nux"
    archived = mail.archive(town, answer.id, "mayor", db=db)
    assert archived.archived and archived.read
    assert mail.inbox(town, "mayor/", db=db, include_read=True) == []
    assert [m.id for m in mail.inbox(town, "mayor/", db=db, include_archived=True)] == [answer.id]


def test_group_addresses_expand_to_one_message_per_member(town, db, git_repo):
    add_rig(town, "proj", str(git_repo))
    for name in ("nux", "ace"):
        polecats.upsert(db, "proj", name)
    polecats.upsert(db, "proj", "gone", state="nuked")
    assert mail.expand(town, db, "@polecats/proj") == ["proj/polecats/nux", "proj/polecats/ace"]
    assert mail.expand(town, db, "@rig/proj")[:2] == ["proj/witness", "proj/refinery"]
    assert mail.expand(town, db, "@town")[:2] == ["mayor/", "deacon/"]
    sent = mail.send(town, "@polecats/proj", "Stand down", "", "mayor", db=db)
    assert sorted(m.to for m in sent) == ["proj/polecats/ace", "proj/polecats/nux"]
    with pytest.raises(NotFound):
        mail.expand(town, db, "@rig/nope")
    with pytest.raises(GtError, match="is a group"):
        mail.inbox(town, "@town", db=db)


def test_bad_input_is_refused(town, db):
    with pytest.raises(GtError, match="needs a subject"):
        mail.send(town, "mayor/", "  ", "x", "deacon", db=db)
    task = BeadStore(town, db=db).create("a task", actor="mayor")
    with pytest.raises(NotFound, match="not a message"):
        mail.read(town, task.id, "mayor", db=db)
    human = mail.send(town, "mayor/", "hello", "", "alice", db=db)[0]
    with pytest.raises(GtError, match="not a mail address"):
        mail.reply(town, human.id, "hi", "mayor", db=db)


def test_gt_mail_as_a_process(town, run_gt):
    env = {"BD_ACTOR": "mayor"}
    out = run_gt(
        "mail", "send", "proj/polecats/nux", "-s", "FIX_NEEDED pj-1", "-m", "lint failed", cwd=town.root, env=env
    )
    assert out.returncode == 0, out.stderr
    msg_id = out.stdout.split()[1]
    polecat = {"GT_RIG": "proj", "GT_POLECAT": "nux"}
    listed = run_gt("mail", "inbox", cwd=town.root, env=polecat)
    assert msg_id in listed.stdout and "unread" in listed.stdout and "FIX_NEEDED pj-1" in listed.stdout
    shown = run_gt("mail", "read", msg_id, cwd=town.root, env=polecat)
    assert "Subject: FIX_NEEDED pj-1" in shown.stdout and "lint failed" in shown.stdout
    replied = run_gt("mail", "reply", msg_id, "-m", "fixed", cwd=town.root, env=polecat)
    assert replied.returncode == 0 and "to mayor/" in replied.stdout
    mayor = json.loads(run_gt("mail", "inbox", "mayor/", "--json", cwd=town.root).stdout)
    assert [m["subject"] for m in mayor] == ["Re: FIX_NEEDED pj-1"]
    assert run_gt("mail", "archive", mayor[0]["id"], cwd=town.root).returncode == 0
    assert "No mail for mayor/" in run_gt("mail", "inbox", "mayor/", cwd=town.root, env=env).stdout
    bad = run_gt("mail", "send", "nobody", "-s", "x", cwd=town.root)
    assert bad.returncode == 2 and bad.stderr.startswith("gt: invalid mail address")
