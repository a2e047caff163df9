"""core.inspect, the reads behind the detail views (issue 21, part 3), on real parts: a real rig with a
polecat worktree made by the git CLI, a real SQLite town, real transcripts on disk, and merge requests
gated by the real refinery (tests/test_refinery.py's Lab). Agent-written text is hostile here:
markup, escape sequences, carriage returns and newlines in commit subjects, diffs, transcripts,
witness reasons and gate output come back as plain text without control characters."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import events, git, mq, polecats
from core.beads.store import BeadStore
from core.db import transaction
from core.gates import failing_lines, read_log
from core.inspect import mr_detail, polecat_detail, polecat_transcript, transcript_text
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import Town
from tests.conftest import git as sh_git
from tests.test_refinery import Lab

HOSTILE = "[red]x[/] \x1b[2J\x1b]0;owned\x07"


def no_controls(text: str) -> bool:
    return not any(ord(c) < 32 and c not in "\n\t" or 0x7F <= ord(c) < 0xA0 for c in text)


@pytest.fixture
def polecat_town(town: Town, git_repo: Path) -> Town:
    """Rig ``demo`` with polecat ``nux`` hooked to de-1 in its own worktree: two commits ahead of main
    (one subject hostile), one uncommitted change, witness events, a transcript and token usage."""
    rig = add_rig(town, "demo", str(git_repo), prefix="de")
    tree = rig.polecats_dir / "nux"
    git.worktree_add(rig.repo_path, tree, "polecat/nux/de-1", "main")
    (tree / "login.py").write_text("def login():\n    return '[bold]hi[/]'\n")
    sh_git(tree, "add", "-A")
    sh_git(tree, "commit", "-q", "-m", "Add the login form")
    (tree / "app.py").write_text("print('bye')\n")
    sh_git(tree, "commit", "-q", "-am", f"Say bye {HOSTILE}")
    (tree / "README.md").write_text("# project\nuncommitted line\n")
    with BeadStore(town) as store:
        store.create("Login \x1b[31mform[/]", actor="mayor", id="de-1")
        store.hook("de-1", "demo/polecats/nux", "mayor")
        polecats.upsert(
            store.db,
            "demo",
            "nux",
            state="working",
            hook_bead="de-1",
            session="demo-nux",
            branch="polecat/nux/de-1",
            worktree=str(tree),
            agent="sim",
        )
        db = store.db
        with transaction(db):
            events.append(db, "sling", "mayor", rig="demo", bead="de-1", payload={"polecat": "nux", "agent": "sim"})
            events.append(
                db,
                "stalled",
                "demo/witness",
                rig="demo",
                bead="de-1",
                payload={"polecat": "nux", "state": "stalled", "action": "nudge", "reason": f"silent 900s\n{HOSTILE}"},
            )
            events.append(db, "stalled", "demo/witness", rig="demo", bead="de-9", payload={"polecat": "other"})
            db.execute(
                "INSERT INTO usage (runtime, session, record, model, input, output, at, agent, rig, bead, source)"
                " VALUES ('claude', 's1', 'm1', 'claude-sonnet-4-5', 1000000, 0, 1.0, 'demo/polecats/nux', 'demo',"
                " 'de-1', 'fixture')"
            )
    log = SessionHost(town).log_path("demo-nux")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"\x1b[1m* sim agent\x1b[0m\r\nworking 10%\rworking 90%\r\nFAILED [red]x[/]\x1b]52;c;AAAA\x07\n")
    return town


def test_polecat_detail_reads_bead_commits_diff_transcript_history_and_cost(polecat_town: Town) -> None:
    with BeadStore(polecat_town) as store:
        d = polecat_detail(store, "demo", "nux")
    main = git.rev_parse(polecat_town.rig_dir("demo") / ".repo.git", "refs/heads/main")
    assert (d.bead, d.bead_status, d.branch, d.base) == ("de-1", "hooked", "polecat/nux/de-1", main)
    assert d.bead_title == "Login form[/]" and d.worktree == "demo/polecats/nux" and d.state == "working"
    assert [c.subject for c in d.commits] == ["Say bye [red]x[/] ", "Add the login form"]
    assert all(len(c.short) == 10 and c.sha.startswith(c.short) for c in d.commits)
    # the diff holds both commits and the uncommitted change, markup kept literally
    assert "+    return '[bold]hi[/]'" in d.diff and "+print('bye')" in d.diff and "+uncommitted line" in d.diff
    assert not d.diff_truncated and no_controls(d.diff)
    host = SessionHost(polecat_town)
    assert polecat_transcript(host, d.session) == "* sim agent\nworking 90%\nFAILED [red]x[/]\n"
    assert polecat_transcript(host, d.session, transcript_bytes=29) == "FAILED [red]x[/]\n"  # its end
    assert polecat_transcript(host, "demo-never-started") == ""
    assert [(h.kind, h.state) for h in d.history] == [("sling", "sling"), ("stalled", "stalled → nudge")]
    assert d.history[1].reason == "silent 900s [red]x[/] " and no_controls(d.history[1].reason)
    assert d.cost_known and d.cost == d.bead_cost and d.cost is not None and d.cost > 0
    assert d.notes == ()


def test_polecat_detail_caps_the_diff_in_bytes(polecat_town: Town) -> None:
    tree = polecat_town.rig_dir("demo") / "polecats" / "nux"
    (tree / "big.txt").write_text("".join(f"line {i}\n" for i in range(20_000)))
    sh_git(tree, "add", "big.txt")
    with BeadStore(polecat_town) as store:
        d = polecat_detail(store, "demo", "nux", diff_bytes=4096)
    assert d.diff_truncated and len(d.diff.encode()) <= 4096 and d.diff.endswith("\n")


def test_polecat_without_worktree_diffs_its_mr_and_says_what_is_missing(polecat_town: Town) -> None:
    rig_repo = polecat_town.rig_dir("demo") / ".repo.git"
    tree = polecat_town.rig_dir("demo") / "polecats" / "nux"
    head = git.head_sha(tree)
    main = git.rev_parse(rig_repo, "refs/heads/main")
    with BeadStore(polecat_town) as store:
        mq.submit(store.db, "demo", "de-1", "nux", "polecat/nux/de-1", head, main)
        git.worktree_remove(rig_repo, tree, force=True)
        d = polecat_detail(store, "demo", "nux")
        assert d.worktree == "" and d.base == main and len(d.commits) == 2
        assert "+print('bye')" in d.diff and "uncommitted" not in d.diff
        polecats.upsert(store.db, "demo", "slit", state="idle", agent="sim")
        idle = polecat_detail(store, "demo", "slit")
    assert idle.bead is None and idle.commits == () and idle.diff == "" and not idle.cost_known
    assert idle.notes == ("no worktree and no merge request: nothing to diff",)


def test_transcript_text_resolves_carriage_returns_and_strips_sequences() -> None:
    raw = "spin ⠋\rspin ⠙\rdone\r\n\x1b[2J\x1b[?1049hnext [b]x[/]\n".encode() + b"\xff\n"
    assert transcript_text(raw) == "done\nnext [b]x[/]\n\ufffd\n"


def test_failing_lines_pick_errors_and_skip_the_log_frame() -> None:
    text = (
        "$ pytest -q  (cwd /w, timeout 30s)\n...\n===== FAILURES =====\nE   assert 2 == 1\nFAILED tests/t.py::t\n"
        "1 failed\n\nexit 1\n"
    )
    assert failing_lines(text) == ["E   assert 2 == 1", "FAILED tests/t.py::t", "1 failed"]
    assert failing_lines("$ make\nbuilding\nlast words\n\nexit 2\n") == ["building", "last words"]


def test_read_log_outcomes(tmp_path: Path) -> None:
    cases = {
        "mr-3-test-1.log": ("$ x\nok\n\nexit 0\n", "test", "passed", True),
        "batch-12-type-check-2.log": ("$ x\nerror: bad\n\nexit 3\n", "type-check", "exit 3", False),
        "mr-1-slow-1.log": (
            "$ x\nwaiting\n\ngate slow timed out after 30s: process group killed\n",
            "slow",
            "timed out after 30s",
            False,
        ),
        "mr-1-ghost-1.log": (
            "$ x\ngate ghost could not start: [Errno 2] No such file\n",
            "ghost",
            "could not start",
            False,
        ),
        "mr-1-run-1.log": ("$ x\nstill going\n", "run", "unfinished", None),
    }
    for name, (text, gate, outcome, ok) in cases.items():
        (tmp_path / name).write_text(text)
        log = read_log(tmp_path / name)
        assert (log.gate, log.outcome, log.ok) == (gate, outcome, ok), name
        assert (log.failing == ()) == (ok is True), name
    assert read_log(tmp_path / "mr-1-ghost-1.log").failing == ("gate ghost could not start: [Errno 2] No such file",)
    assert read_log(tmp_path / "mr-1-slow-1.log").failing == ("waiting",)
    missing = read_log(tmp_path / "mr-9-test-1.log")
    assert missing.outcome == "unfinished" and "not readable" in missing.text
    big = tmp_path / "mr-2-test-1.log"
    big.write_bytes(b"$ x\n" + b"noise line\n" * 50_000 + b"\x1b[31mError: [red]boom[/]\x1b[0m\n\nexit 1\n")
    log = read_log(big, max_bytes=4096)
    assert log.truncated and log.outcome == "exit 1" and log.failing == ("Error: [red]boom[/]",)
    assert no_controls(log.text) and len(log.text) <= 4096


HOSTILE_GATE = """\
if ls ./*.bad >/dev/null 2>&1; then
  printf 'collecting\\n\\033[2J\\033]0;owned\\007FAILED test_cache [red]x[/]\\nE   assert 2 == 1\\n'; exit 1
fi
echo "all good"
"""


def test_mr_detail_of_a_culprit_isolated_by_bisection(town: Town, tmp_path: Path) -> None:
    lab = Lab(town, tmp_path, retry=0)
    (tmp_path / "gate.sh").write_text(HOSTILE_GATE)
    with BeadStore(town) as store:
        store.create("Cache TTL", actor="mayor", id="pj-c")
    good = lab.mr("a", {"a.txt": "a\n"})
    bad = lab.mr("c", {"c.bad": "broken\n"})
    lab.refinery.process_once()
    m = mq.get(lab.db, bad.id)
    assert m.status == "failed" and m.reason == "check gate failed (exit 1): FAILED test_cache [red]x[/]"
    with BeadStore(town) as store:
        d = mr_detail(store, bad.id)
        follow = store.get(d.follow_up[0]) if d.follow_up else None
    assert d.mr.id == bad.id and d.batch is not None and d.batch.mrs == 2
    assert dict(d.batch_mrs) == {good.id: "merged", bad.id: "failed"}
    assert [g.path for g in d.logs] == [Path(p) for p in reversed(m.logs)]  # newest first
    convicting = d.logs[d.convicting] if d.convicting is not None else None
    blamed = events.query(lab.db, types=("merge_failed",))[0].payload["log"]
    assert convicting is not None and convicting.path == Path(blamed) and convicting.outcome == "exit 1"
    assert convicting.failing == ("FAILED test_cache [red]x[/]", "E   assert 2 == 1")
    assert no_controls(convicting.text) and "owned" not in convicting.text
    assert d.verdict == "culprit: failed the check gate (exit 1), isolated by bisection of batch 1 of 2 MRs"
    assert follow is not None and d.follow_up == (follow.id, follow.title, "open")
    assert follow.title == "Fix check failure: Cache TTL"
    with BeadStore(town) as store:
        merged = mr_detail(store, good.id)
    assert merged.verdict.startswith("merged with batch 1 of 2 MRs at ") and merged.convicting is None


def test_mr_detail_of_a_queued_mr_and_an_unknown_one(town: Town, tmp_path: Path) -> None:
    lab = Lab(town, tmp_path)
    queued = lab.mr("a", {"a.txt": "a\n"})
    with BeadStore(town) as store:
        d = mr_detail(store, queued.id)
        assert (d.batch, d.batch_mrs, d.logs, d.convicting, d.follow_up) == (None, (), (), None, None)
        assert d.verdict == "queued: 0 gate runs so far"
        with pytest.raises(Exception, match="no merge request 'mr-99'"):
            mr_detail(store, "mr-99")
