"""``gt bead ...`` and ``gt ready`` as real processes on a real town, plus the ledger sync to git."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import filelock
import pytest

from core import git as gitmod
from core.beads import BeadStore
from core.beads import sync as ledger_sync
from core.pidfile import ENGINE_LOCK_FILE, ENGINE_PID_FILE, engine_pid
from core.rigs import add_rig
from core.town import Town
from tests.conftest import FIXTURES, dump, make_repo

OFF = {"GT_LEDGER_SYNC": "off", "BD_ACTOR": "tester"}


@pytest.fixture
def gt(run_gt, town: Town):
    """``gt(*args)`` in the town with sync off; returns the CompletedProcess."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, input: str | None = None):
        return run_gt(*args, cwd=cwd or town.root, env={**OFF, **(env or {})}, input=input)

    return run


def js(proc: subprocess.CompletedProcess[str]):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_create_show_list_json_contract(gt, town: Town) -> None:
    made = js(gt("bead", "create", "Fix login", "-d", "Details", "-p", "1", "-l", "auth", "--json"))
    assert made["id"].startswith("hq-") and made["title"] == "Fix login" and made["created_by"] == "tester"
    shown = js(gt("bead", "show", made["id"], "--json"))
    assert isinstance(shown, dict)
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
        assert key in shown
    assert shown["labels"] == ["auth"] and shown["priority"] == 1
    dep = js(gt("bead", "create", "Follow-up", "--deps", made["id"], "--json"))
    assert dep["dependencies"][0]["depends_on_id"] == made["id"] and dep["dependencies"][0]["type"] == "blocks"
    listed = js(gt("bead", "list", "--json"))
    assert [i["id"] for i in listed] == sorted([made["id"], dep["id"]])
    human = gt("bead", "list")
    assert "Fix login" in human.stdout and human.stdout.startswith("ID")
    assert "Fix login" in gt("bead", "show", made["id"][3:]).stdout  # partial id


def test_ready_claim_update_close_reopen(gt, town: Town) -> None:
    a = js(gt("bead", "create", "A", "-p", "0", "--json"))["id"]
    b = js(gt("bead", "create", "B", "-p", "1", "--json"))["id"]
    c = js(gt("bead", "create", "C", "--deps", b, "--json"))["id"]
    assert [i["id"] for i in js(gt("ready", "--json"))] == [a, b]
    assert [i["id"] for i in js(gt("bead", "blocked", "--json"))] == [c]
    got = js(gt("bead", "ready", "--claim", "--json", "--actor", "rig/polecats/ace"))
    assert got["id"] == a and got["assignee"] == "rig/polecats/ace" and got["status"] == "in_progress"
    assert js(gt("ready", "--claim", "--json", env={"BD_ACTOR": "bob"}))["id"] == b
    assert js(gt("ready", "--claim", "--json")) is None
    upd = js(
        gt("bead", "update", c, "--priority", "3", "--notes", "n", "--add-label", "x", "--add-label", "y", "--json")
    )
    assert upd["priority"] == 3 and upd["labels"] == ["x", "y"] and upd["notes"] == "n"
    refused = gt("bead", "close", c)
    assert refused.returncode == 2 and f"blocked by open {b}" in refused.stderr
    assert js(gt("bead", "close", b, "-r", "done", "--json"))["close_reason"] == "done"
    assert js(gt("bead", "close", c, "--json"))["status"] == "closed"
    assert js(gt("bead", "reopen", c, "--json"))["status"] == "open"
    claimed = js(gt("bead", "update", c, "--claim", "--actor", "zed", "--json"))
    assert claimed["assignee"] == "zed"
    lost = gt("bead", "update", c, "--claim", "--actor", "amy")
    assert lost.returncode == 2 and "already claimed by zed" in lost.stderr


def test_deps_comments_tree_import_export(gt, town: Town, tmp_path: Path) -> None:
    a = js(gt("bead", "create", "A", "--json"))["id"]
    b = js(gt("bead", "create", "B", "--json"))["id"]
    assert js(gt("bead", "dep", "add", b, a, "--json"))["added"]
    tree = js(gt("bead", "dep", "tree", b, "--json"))
    assert tree["id"] == b and tree["children"][0]["id"] == a and tree["children"][0]["type"] == "blocks"
    assert (
        a in gt("bead", "dep", "tree", a, "--reverse").stdout and b in gt("bead", "dep", "tree", a, "--reverse").stdout
    )
    comment = js(gt("bead", "comment", a, "-", "--json", input="from stdin\n"))
    assert comment["text"] == "from stdin\n" and comment["author"] == "tester"
    js(gt("bead", "dep", "remove", b, a, "--json"))
    assert js(gt("bead", "show", b, "--json"))["dependencies"] == []
    exported = js(gt("bead", "export", "--json"))
    assert exported["exported"] == 2 and Path(exported["path"]) == town.ledger_path
    src = FIXTURES / "beads" / "sqlite-era-2026-01" / "issues.jsonl"
    assert js(gt("bead", "import", str(src), "--json"))["imported"] == 485
    assert js(gt("bead", "show", "bd-03z45", "--json"))["work_type"] == "mutex"
    other = tmp_path / "copy.jsonl"
    js(gt("bead", "export", str(other), "--all", "--json"))  # --all: infra beads and wisps too
    assert len(other.read_text().splitlines()) == 487


HOSTILE = "Fix \x1b]0;owned\x07login \x1b[2J$(touch pwned) `id`"


def test_the_flags_agents_take_from_gas_towns_templates(gt, town: Town) -> None:
    # issue 18: `create --title=... -a me -l a,b`, `update ID --append-notes`, `show A B`, `close A B --reason`
    a = js(gt("bead", "create", f"--title={HOSTILE}", "--type=bug", "-a", "me", "-l", "a,b", "-l", "c", "--json"))
    assert (a["title"], a["assignee"], a["labels"], a["issue_type"]) == (HOSTILE, "me", ["a", "b", "c"], "bug")
    b = js(gt("bead", "create", "Same", "--title", "Same", "--json"))
    assert b["title"] == "Same"
    assert gt("bead", "update", a["id"], "--notes", "first").returncode == 0
    noted = js(gt("bead", "update", a["id"], "--append-notes", HOSTILE, "--add-label", "d,e", "--json"))
    assert noted["notes"] == f"first\n{HOSTILE}" and noted["labels"] == ["a", "b", "c", "d", "e"]
    assert [i["id"] for i in js(gt("bead", "list", "-l", "a,d", "--json"))] == [a["id"]]
    both = js(gt("bead", "show", a["id"], b["id"], "--json"))
    assert [i["id"] for i in both] == [a["id"], b["id"]]
    shown = gt("bead", "show", a["id"], b["id"]).stdout
    assert "Same" in shown and "login" in shown and "\x1b" not in shown and "\x07" not in shown
    closed = js(gt("bead", "close", a["id"], b["id"], "--reason", "done", "--json"))
    assert [(i["id"], i["status"], i["close_reason"]) for i in closed] == [
        (a["id"], "closed", "done"),
        (b["id"], "closed", "done"),
    ]


def test_gt_close_of_several_is_all_or_nothing(gt, town: Town) -> None:
    a = js(gt("bead", "create", "A", "--json"))["id"]
    blocker = js(gt("bead", "create", "Blocker", "--json"))["id"]
    b = js(gt("bead", "create", "B", "--deps", blocker, "--json"))["id"]
    proc = gt("bead", "close", a, b, "--reason", "batch")
    assert proc.returncode == 2 and "blocked by open" in proc.stderr
    assert js(gt("bead", "show", a, "--json"))["status"] == "open"  # gt: one transaction (bd: each on its own)


BAD_INPUTS = [
    (("bead", "show", "hq-nope"), "no bead matches"),
    (("bead", "show", "hq-"), "ambiguous"),
    (("bead", "close", "hq-nope"), "no bead matches"),
    (("bead", "update", "hq-nope", "--title", "x"), "no bead matches"),
    (("bead", "create", "x", "-p", "7"), "out of range"),
    (("bead", "create", "x", "-p", "urgent"), "out of range"),
    (("bead", "create", "x" * 501), "at most 500"),
    (("bead", "create", "x", "-t", "saga"), "unknown issue type"),
    (("bead", "create", "x", "--metadata", "{{nope"), "metadata is not valid JSON"),
    (("bead", "create", "x", "--deps", "hq-nope"), "no bead"),
    (("bead", "create", "x", "--rig", "nosuchrig"), "no rig named"),
    (("bead", "list", "--status", "done"), "unknown status"),
    (("bead", "update", "{a}", "--priority", "9"), "out of range"),
    (("bead", "update", "{a}", "--status", "done"), "unknown status"),
    (("bead", "ready", "--sort", "random"), "unknown sort"),
    (("bead", "update", "{a}", "--title", ""), "needs a title"),
    (("bead", "update", "{a}", "--metadata", "[1,2]"), "JSON object"),
    (("bead", "dep", "add", "{a}", "{b}"), "cycle"),
    (("bead", "dep", "add", "{a}", "{a}"), "itself"),
    (("bead", "close", "{b}"), "blocked by open"),
    (("bead", "reopen", "{a}"), "not closed"),
    (("bead", "import", "{bad}"), "line 2"),
    (("bead", "import", "{missing}"), "cannot read"),
    (("bead", "comment", "{a}", " "), "needs text"),
    (("bead", "create", "One", "--title", "Two"), "two different titles"),
    (("bead", "create"), "needs a title"),
    (("bead", "update", "{a}", "--notes", "x", "--append-notes", "y"), "--append-notes"),
    (("bead", "show", "{a}", "hq-nope"), "no bead matches"),
    (("bead", "close", "{a}", "{b}", "hq-nope"), "no bead matches"),
    (("bead", "create", "x", "-l", "ok,bad label"), "invalid label"),
]


def test_bad_input_one_line_exit_2_database_unchanged(gt, town: Town, tmp_path: Path) -> None:
    a = js(gt("bead", "create", "A", "--id", "hq-aaa1", "--json"))["id"]
    b = js(gt("bead", "create", "B", "--id", "hq-bbb1", "--deps", a, "--json"))["id"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "hq-ok1", "title": "fine"}\n{"id": "hq-ok2", "title": \n')
    names = {"a": a, "b": b, "bad": str(bad), "missing": str(tmp_path / "missing.jsonl")}
    before = dump(town.db_path)
    for args, message in BAD_INPUTS:
        proc = gt(*[arg.format(**names) for arg in args])
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        err = proc.stderr.strip()
        assert message in err, (args, err)
        assert len(err.splitlines()) == 1 and err.startswith("gt: ") and "Traceback" not in err, (args, err)
        assert dump(town.db_path) == before, args


def test_prefix_from_rig_cwd_only_rig_or_town(gt, town: Town, tmp_path: Path) -> None:
    assert js(gt("bead", "create", "town level", "--json"))["id"].startswith("hq-")
    repo = make_repo(tmp_path / "proj")
    add_rig(town, "alpha", str(repo), prefix="al")
    assert js(gt("bead", "create", "only rig", "--json"))["id"].startswith("al-")
    add_rig(town, "beta", str(repo), prefix="be")
    assert js(gt("bead", "create", "two rigs", "--json"))["id"].startswith("hq-")
    inside = town.rig_dir("beta") / "polecats"
    assert js(gt("bead", "create", "in beta", "--json", cwd=inside))["id"].startswith("be-")
    assert js(gt("bead", "create", "explicit", "--rig", "alpha", "--json", cwd=inside))["id"].startswith("al-")
    assert [i["title"] for i in js(gt("bead", "list", "--rig", "beta", "--json"))] == ["in beta"]
    parent = js(gt("bead", "create", "epic", "--rig", "alpha", "-t", "epic", "--json"))["id"]
    assert js(gt("bead", "create", "kid", "--parent", parent, "--json"))["id"] == f"{parent}.1"


def test_rig_add_imports_the_repositorys_own_ledger(town: Town, tmp_path: Path) -> None:
    ledger = (FIXTURES / "beads" / "head" / "root-issues.jsonl").read_text()
    repo = make_repo(tmp_path / "withbeads", {"README.md": "# x\n", ".beads/issues.jsonl": ledger})
    add_rig(town, "gamma", str(repo), prefix="gm")
    with BeadStore(town) as store:
        issue = store.get("bd-main-idj")
        assert issue.status == "in_progress" and issue.extra["comment_count"] == 0
        assert [b for b, _ in store.dirty()] == ["bd-main-idj"]  # the next sync commits it to the town


def test_rig_add_with_a_malformed_ledger_adds_nothing(town: Town, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "broken", {"README.md": "# x\n", ".beads/issues.jsonl": "{not json\n"})
    with pytest.raises(Exception, match="line 1"):
        add_rig(town, "delta", str(repo), prefix="dl")
    assert not town.rig_dir("delta").exists()


def test_gt_bead_sync_commits_the_ledger_with_the_changed_ids(gt, town: Town) -> None:
    a = js(gt("bead", "create", "A", "--json"))["id"]
    b = js(gt("bead", "create", "B", "--json"))["id"]
    result = js(gt("bead", "sync", "--json"))
    assert result["commit"] and result["changed"] == sorted([a, b]) and result["exported"] == 2
    message = gitmod.log_messages(town.root, 1)[0]
    assert a in message and b in message
    lines = town.ledger_path.read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == sorted([a, b])
    assert js(gt("bead", "sync", "--json"))["commit"] is None  # nothing changed, no commit
    assert gt("bead", "show", a).returncode == 0  # reads never dirty the ledger
    assert js(gt("bead", "sync", "--json"))["commit"] is None


def _wait_flushed(town: Town, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with BeadStore(town) as store:
        while time.monotonic() < deadline:
            if store.config_get(ledger_sync.PENDING_KEY) is None and not store.dirty():
                return
            time.sleep(0.1)
    raise AssertionError("the ledger flusher did not finish")


def test_a_burst_of_mutations_makes_one_commit(town: Town, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GT_LEDGER_SYNC", "auto")
    commits_before = len(gitmod.log_messages(town.root, 100))
    outcomes = []
    with BeadStore(town) as store:
        made = []
        for n in range(5):
            made.append(store.create(f"burst {n}", actor="t", prefix="hq").id)
            outcomes.append(ledger_sync.request_sync(town, store))
    assert outcomes[0] == "scheduled" and set(outcomes[1:]) == {"pending"}
    _wait_flushed(town)
    messages = gitmod.log_messages(town.root, 100)
    assert len(messages) == commits_before + 1
    assert all(b in messages[0] or "more" in messages[0] for b in made[:3])
    full = gitmod.run_git(["log", "-1", "--format=%B"], cwd=town.root).stdout
    assert all(b in full for b in made)


def test_a_command_without_an_engine_gets_its_change_committed(run_gt, town: Town) -> None:
    proc = run_gt("bead", "create", "auto synced", "--json", cwd=town.root, env={"GT_LEDGER_SYNC": "auto"})
    bead = js(proc)["id"]
    _wait_flushed(town)
    assert bead in gitmod.log_messages(town.root, 1)[0]
    assert bead in town.ledger_path.read_text()


def test_a_live_engine_takes_over_the_sync(town: Town, tmp_path: Path) -> None:
    pid_file = town.state_dir / ENGINE_PID_FILE
    pid_file.write_text(str(os.getpid()))
    assert engine_pid(town) is None  # a pid file without the engine lock proves nothing (issue 15)
    lock = filelock.FileLock(str(town.state_dir / ENGINE_LOCK_FILE))
    with lock:  # what a live engine holds
        assert engine_pid(town) is not None
        with BeadStore(town) as store:
            store.create("x", actor="t", prefix="hq")
            assert ledger_sync.request_sync(town, store, env={"GT_LEDGER_SYNC": "auto"}) == "engine"
            assert store.config_get(ledger_sync.PENDING_KEY) is None
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    pid_file.write_text(str(dead.pid))
    assert not engine_pid(town) is not None
    pid_file.write_text("garbage")
    assert not engine_pid(town) is not None


def test_bead_commands_do_not_import_the_ui_stack() -> None:
    code = (
        "import sys, core.beads.sync, core.beads.jsonl, gastown_tui.commands.bead; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'pyte', 'rich'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
