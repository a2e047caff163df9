"""Merged work lands on the rig's own repository, served for real over git:// on 127.0.0.1 (issue 16,
parts 1 and 2, "Done when").

The remote is a bare repository behind ``git daemon`` (:mod:`tests.git_server`); humans push to it
from their own clones while the refinery works. The gate is the refinery tests' recording script
(``tests.test_refinery.GATE_SCRIPT``: it writes the commit it judged), so every test can check that
the commit on the remote is exactly one the gate passed. Remote messages are hostile: a hook prints
escape sequences, and the MRs' notes must hold its words without them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from core import convoys, escalation, events, git, mq, upstream
from core.beads import BeadStore
from core.config import edit_toml, load_rig_config
from core.errors import ConfigError
from core.rigs import add_rig, load_rig
from core.sessions import SessionHost
from core.sling import Slinger
from core.worktrees import ensure_worktree
from tests.conftest import git as sh_git
from tests.conftest import make_repo
from tests.git_server import GitServer
from tests.test_engine_support import EngineThread, configure, wait_for
from tests.test_refinery import Lab
from tests.test_refinery_effects import _bead, _mr

FILES = {"README.md": "# proj\nline one\n", "app.txt": "app\n"}
REMOTE = "owner/proj"
HOSTILE_HOOK = (
    'printf "protected branch main: \\033[31mpushes need a review\\033[0m\\033]0;pwned\\007\\n" >&2\nexit 1\n'
)


@pytest.fixture
def lab(town, tmp_path, git_server):
    """A gated rig ``proj`` added from the remote ``owner/proj`` (strategy chosen by gt rig add)."""
    git_server.create(REMOTE, FILES)
    return Lab(town, tmp_path, url=git_server.url(REMOTE))


def human_push(server: GitServer, tmp_path: Path, files: dict[str, str], message: str = "human commit") -> str:
    """A human commits ``files`` in their own clone of the remote and pushes it to main. Returns the sha."""
    clone = tmp_path / "human"
    if not clone.exists():
        sh_git(tmp_path, "clone", "-q", server.url(REMOTE), str(clone))
    sh_git(clone, "pull", "-q", "--ff-only", "origin", "main")
    for name, text in files.items():
        (clone / name).write_text(text)
    sh_git(clone, "add", "-A")
    sh_git(clone, "commit", "-q", "-m", message)
    sh_git(clone, "push", "-q", "origin", "HEAD:main")
    return sh_git(clone, "rev-parse", "HEAD").strip()


def on_remote(server: GitServer, ancestor: str, tip: str) -> bool:
    """True if commit ``ancestor`` is in the history of ``tip`` in the server's repository."""
    return (
        git.is_ancestor(server.path(REMOTE), ancestor, tip)
        if git.commit_exists(server.path(REMOTE), ancestor)
        else False
    )


# -- direct: the Done-when cases -------------------------------------------------------------------


def test_a_convoy_of_three_beads_lands_on_the_remote_gated_on_exactly_the_pushed_commit(lab, git_server, tmp_path):
    assert load_rig(lab.town, "proj").setting("merge_queue", "strategy") == "direct"  # git may push there
    store = BeadStore(lab.town, db=lab.db)
    beads = [_bead(lab, f"part {i}") for i in range(3)]
    convoy = convoys.create(store, "release", beads, actor="mayor", notify="mayor/").id
    mrs = [_mr(lab, b, f"p{i}", {f"f{i}.txt": f"{i}\n"}) for i, b in enumerate(beads)]
    before = git_server.refs(REMOTE)
    result = lab.step()
    pushed = git_server.head(REMOTE)
    assert result.outcome == "green" and result.merged == [m.id for m in mrs] and result.landed == [convoy]
    assert pushed == result.tip == lab.main() != lab.initial
    assert result.gate_runs == 1 and lab.verdicts()["green"] == {pushed}  # gated once, on exactly that commit
    assert on_remote(git_server, lab.initial, pushed)  # a fast-forward of what was there
    # only main moved on the remote: no polecat branch, no other ref
    assert [line for line in before.splitlines() if "refs/heads/main" not in line] == [
        line for line in git_server.refs(REMOTE).splitlines() if "refs/heads/main" not in line
    ]
    reader = tmp_path / "reader"
    sh_git(tmp_path, "clone", "-q", git_server.url(REMOTE), str(reader))
    assert {"f0.txt", "f1.txt", "f2.txt"} <= {p.name for p in reader.iterdir()}
    assert store.get(convoy).status == "closed" and all(store.get(b).status == "closed" for b in beads)
    state = upstream.state(lab.db, "proj")
    assert (state.behind, state.ahead, state.failures) == (0, 0, 0)


def test_a_human_commit_pushed_while_the_batch_is_gated_is_kept_and_the_batch_is_rebuilt_and_gated_again(
    lab, git_server, tmp_path
):
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(2)]
    fifo, started, mark = tmp_path / "go.fifo", tmp_path / "gate-started", tmp_path / "held-once"
    os.mkfifo(fifo)
    hold = tmp_path / "hold.sh"  # the first gate run waits for the test's signal, then gates as usual
    hold.write_text(
        f'if [ ! -e "{mark}" ]; then : > "{mark}"; git rev-parse HEAD > "{started}"; '
        f'cat "{fifo}" > /dev/null; fi\nexec sh "{tmp_path / "gate.sh"}"\n'
    )
    with edit_toml(lab.rig.path / "rig.toml") as doc:
        doc["gates"]["check"]["cmd"] = ["sh", str(hold)]
    out: list = []
    worker = threading.Thread(target=lambda: out.append(lab.refinery.process_once()), daemon=True)
    worker.start()
    wait_for(lambda: started.exists() and started.read_text().strip(), timeout=60)
    first_tip = started.read_text().strip()
    human = human_push(git_server, tmp_path, {"human.txt": "pushed by a human\n"})
    with open(fifo, "w") as f:  # release the gate
        f.write("go\n")
    worker.join(120)
    assert not worker.is_alive() and out, "the batch did not finish"
    result = out[0]
    pushed = git_server.head(REMOTE)
    assert result.rebuilds == 1 and result.gate_runs == 2 and result.base == human
    assert result.merged == [m.id for m in mrs] and pushed == result.tip == lab.main()
    assert on_remote(git_server, human, pushed)  # the human's commit is kept, as it was
    assert not on_remote(git_server, first_tip, pushed)  # the tip built before it never reached the remote
    assert pushed in lab.verdicts()["green"] and first_tip != pushed
    assert "human.txt" in lab.tree_files()


def test_a_push_refused_by_a_pre_receive_hook_leaves_the_mrs_queued_with_its_message(lab, git_server):
    git_server.hook(REMOTE, "pre-receive", HOSTILE_HOOK)
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(2)]
    before = git_server.refs(REMOTE)
    result = lab.refinery.process_once()
    assert result.outcome == "upstream_failed" and result.merged == []
    assert git_server.refs(REMOTE) == before  # the remote is unchanged
    assert lab.main() == lab.initial  # nothing moved here either
    for m in mrs:
        row = mq.get(lab.db, m.id)
        assert row.status == "queued"
        assert "protected branch main: pushes need a review" in row.reason and "pre-receive hook declined" in row.reason
        assert "\x1b" not in row.reason and "pwned" not in row.reason and "\n" not in row.reason
        assert git.rev_parse(lab.repo, f"refs/heads/{m.branch}") == m.head_sha  # branches kept
    failed = events.query(lab.db, types=("upstream_failed",))
    assert len(failed) == 1 and failed[0].payload["mrs"] == [m.id for m in mrs]
    # the next batch waits instead of hammering the remote
    waiting = lab.refinery.process_once()
    assert waiting.empty and waiting.outcome == "waiting" and upstream.retry_in(lab.db, "proj") > 0
    store = BeadStore(lab.town, db=lab.db)
    assert escalation.list_open(store) == []
    for _ in range(3):  # gt mq process tries at once; the third failure in a row escalates, once
        assert lab.refinery.process_once(retry_now=True).outcome == "upstream_failed"
    (raised,) = escalation.list_open(store)
    assert raised.severity == "high" and "cannot land" in raised.text and "protected branch" in raised.text
    assert upstream.state(lab.db, "proj").failures == 4
    # the forge lets it through: the same MRs land, the failures are forgotten
    (git_server.path(REMOTE) / "hooks" / "pre-receive").unlink()
    result = lab.refinery.process_once(retry_now=True)
    assert result.outcome == "green" and result.merged == [m.id for m in mrs]
    assert git_server.head(REMOTE) == lab.main() == result.tip
    assert upstream.state(lab.db, "proj").failures == 0 and upstream.retry_in(lab.db, "proj") == 0


@pytest.mark.parametrize("fault", ["network down", "remote deleted", "connection lost mid-push", "upstream rewritten"])
def test_a_remote_fault_lands_nothing_and_loses_nothing(lab, git_server, tmp_path, fault):
    landed = lab.mr("first", {"first.txt": "x\n"})
    assert lab.step().merged == [landed.id]
    local_before = lab.main()
    m = lab.mr("second", {"second.txt": "x\n"})
    if fault == "network down":
        git_server.stop()
    elif fault == "remote deleted":
        shutil.rmtree(git_server.path(REMOTE))
    elif fault == "connection lost mid-push":
        git_server.hook(REMOTE, "pre-receive", "kill -9 $PPID\nsleep 5\n")  # receive-pack dies under the push
    else:  # a human force-pushes a history without the landed merge
        rewritten = tmp_path / "rewrite"
        sh_git(tmp_path, "clone", "-q", git_server.url(REMOTE), str(rewritten))
        sh_git(rewritten, "reset", "-q", "--hard", lab.initial)
        (rewritten / "other.txt").write_text("rewritten\n")
        sh_git(rewritten, "add", "-A")
        sh_git(rewritten, "commit", "-q", "-m", "rewritten history")
        sh_git(rewritten, "push", "-q", "-f", "origin", "HEAD:main")
    remote_before = git_server.refs(REMOTE) if git_server.path(REMOTE).exists() else None
    result = lab.refinery.process_once()
    assert result.outcome == "upstream_failed"
    row = mq.get(lab.db, m.id)
    assert row.status == "queued" and row.reason.startswith("not landed: ") and "\n" not in row.reason
    expected = {
        "network down": "cannot fetch",
        "remote deleted": "cannot fetch",
        "connection lost mid-push": "pushing main to git://127.0.0.1",
        "upstream rewritten": "diverged",
    }[fault]
    assert expected in row.reason
    assert lab.main() == local_before  # nothing local moved or was lost
    assert git.rev_parse(lab.repo, f"refs/heads/{m.branch}") == m.head_sha
    if remote_before is not None:
        assert git_server.refs(REMOTE) == remote_before  # and the remote is as it was (never rewritten back)


# -- local and pr ---------------------------------------------------------------------------------


def _fingerprint(root: Path) -> dict[str, tuple[int, str]]:
    """Every path under ``root`` (``.git`` included) with its mode and content hash."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[str(path.relative_to(root))] = (st.st_mode, digest)
    return out


def test_local_never_writes_the_source_repository(town, tmp_path):
    src = make_repo(tmp_path / "src", FILES)
    before = _fingerprint(src)
    lab = Lab(town, tmp_path, url=str(src), strategy="local")
    assert tomllib_strategy(lab) == "local"
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(2)]
    result = lab.step()
    assert result.merged == [m.id for m in mrs] and result.moved and lab.main() != lab.initial
    Slinger(town, host=SessionHost(town), store=BeadStore(town, db=lab.db))._follow_upstream(load_rig(town, "proj"))
    assert _fingerprint(src) == before  # not a byte, not a ref, not an index stat
    assert events.query(lab.db, types=("upstream_fetched", "upstream_failed")) == []


def tomllib_strategy(lab: Lab) -> str:
    return str(load_rig_config(lab.rig.path / "rig.toml")["merge_queue"]["strategy"])


def test_direct_into_a_local_checkout_moves_it_only_while_it_is_clean(town, tmp_path):
    src = make_repo(tmp_path / "src", FILES)
    lab = Lab(town, tmp_path, url=str(src))
    assert tomllib_strategy(lab) == "direct"
    first = lab.mr("one", {"one.txt": "1\n"})
    assert lab.step().merged == [first.id]
    assert sh_git(src, "rev-parse", "HEAD").strip() == lab.main()  # the reader's checkout moved with it
    assert (src / "one.txt").read_text() == "1\n" and sh_git(src, "status", "--porcelain") == ""
    (src / "app.txt").write_text("unsaved edit\n")  # the human is editing: git refuses to move the checkout
    second = lab.mr("two", {"two.txt": "2\n"})
    result = lab.refinery.process_once()
    assert result.outcome == "upstream_failed"
    assert "Working directory has unstaged changes" in mq.get(lab.db, second.id).reason
    assert (src / "app.txt").read_text() == "unsaved edit\n" and not (src / "two.txt").exists()


FAKE_GH = """#!/bin/sh
# a recording stand-in for the forge's CLI: one argument a line, then a PR URL like gh prints
for a in "$@"; do printf '%s\\n' "$a"; done > "$GH_RECORD"
echo "https://github.example/owner/proj/pull/7"
"""


def test_pr_pushes_the_branch_and_calls_gh_with_the_exact_argv(town, tmp_path, git_server, monkeypatch):  # noqa: F811
    git_server.create(REMOTE, FILES)
    lab = Lab(town, tmp_path, url=git_server.url(REMOTE), strategy="pr")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    record = tmp_path / "gh-argv.txt"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("GH_RECORD", str(record))
    title = "Add a `$(touch pwned)` greeting; rm -rf ~"  # agent text: must reach gh as one argv item
    bead = BeadStore(town, db=lab.db).create(title, actor="mayor", prefix=lab.rig.prefix, status="in_progress").id
    m = _mr(lab, bead, "nux", {"hello.txt": "hello\n"})
    main_before = git_server.head(REMOTE)
    result = lab.refinery.process_once()
    assert result.outcome == "pull_requests" and result.pull_requests == {
        m.id: "https://github.example/owner/proj/pull/7"
    }
    assert git_server.head(REMOTE, m.branch) == m.head_sha  # the branch was pushed
    assert git_server.head(REMOTE) == main_before  # main is the forge's to merge
    assert record.read_text().splitlines() == [
        "pr",
        "create",
        "--repo",
        f"127.0.0.1:{git_server.port}/{REMOTE}",
        "--base",
        "main",
        "--head",
        m.branch,
        "--title",
        f"{bead}: {title}",
        "--body",
        f"{bead}: {title}",
        "",
        f"Merge request {m.id} of rig proj, branch {m.branch} at {m.head_sha}, opened by the gastown-tui refinery.",
    ]
    assert not (tmp_path / "pwned").exists() and not (lab.repo / "pwned").exists()
    row = mq.get(lab.db, m.id)
    assert row.status == "pr_open" and row.reason == "pull request https://github.example/owner/proj/pull/7"
    comments = [c.text for c in BeadStore(town, db=lab.db).get(bead).comments]
    assert any("https://github.example/owner/proj/pull/7" in c for c in comments)
    assert events.query(lab.db, types=("pr_opened",))[0].payload["url"] == "https://github.example/owner/proj/pull/7"


def test_pr_without_gh_leaves_the_mr_queued_saying_so(town, tmp_path, git_server, monkeypatch):  # noqa: F811
    git_server.create(REMOTE, FILES)
    lab = Lab(town, tmp_path, url=git_server.url(REMOTE), strategy="pr")
    monkeypatch.setenv("PATH", str(Path(shutil.which("git") or "/usr/bin/git").parent))
    m = lab.mr("nux", {"hello.txt": "hello\n"})
    assert lab.refinery.process_once().outcome == "upstream_failed"
    row = mq.get(lab.db, m.id)
    assert row.status == "queued" and "gh is not on PATH" in row.reason


# -- following upstream ---------------------------------------------------------------------------


def test_a_new_worktree_starts_from_the_freshest_upstream_tip(lab, git_server, tmp_path):
    human = human_push(git_server, tmp_path, {"human.txt": "new upstream work\n"})
    rig = load_rig(lab.town, "proj")
    Slinger(lab.town, host=SessionHost(lab.town), store=BeadStore(lab.town, db=lab.db))._follow_upstream(rig)
    path, _, created = ensure_worktree(rig, "nux", "pj-1")
    assert created and git.head_sha(path) == human and (path / "human.txt").exists()
    assert upstream.start_point(rig) == human and lab.main() == lab.initial  # the rig's own branch waits for a batch
    (path / "work.txt").write_text("mine\n")
    git.commit_all(path, "polecat work")
    assert git.count_commits(path, upstream.start_point(rig), "HEAD") == 1  # gt done counts only the polecat's


def test_an_offline_sling_fetch_is_bounded_and_falls_back_to_the_local_tip(lab, tmp_path):
    hole = socket.socket()  # accepts connections (the kernel's backlog) and never answers
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    try:
        with edit_toml(lab.rig.path / "rig.toml") as doc:
            doc["git_url"] = f"git://127.0.0.1:{hole.getsockname()[1]}/{REMOTE}.git"
            doc["upstream"]["sling_timeout"] = 1
        rig = load_rig(lab.town, "proj")
        began = time.monotonic()
        Slinger(lab.town, host=SessionHost(lab.town), store=BeadStore(lab.town, db=lab.db))._follow_upstream(rig)
        assert time.monotonic() - began < 15
    finally:
        hole.close()
    (failed,) = events.query(lab.db, types=("upstream_fetch_failed",))
    assert failed.payload["during"] == "sling" and failed.payload["fallback"] == lab.initial
    assert "timed out after 1 s" in failed.payload["error"]
    path, _, _ = ensure_worktree(rig, "nux", "pj-1")
    assert git.head_sha(path) == lab.initial


def test_gt_rig_sync_fetches_and_the_cockpit_shows_how_far_behind(lab, git_server, tmp_path, run_gt):
    from widgets.agents import AgentsTree
    from core.townview import read_snapshot

    human_push(git_server, tmp_path, {"h1.txt": "1\n"})
    human_push(git_server, tmp_path, {"h2.txt": "2\n"})
    res = run_gt("rig", "sync", "proj", cwd=lab.town.root)
    assert res.returncode == 0, res.stderr
    assert "is 2 behind, 0 ahead" in res.stdout
    snap = read_snapshot(lab.town, lab.db, SessionHost(lab.town))
    assert snap.upstream["proj"].behind == 2
    assert "2 behind upstream" in AgentsTree()._rig_label("proj", snap).plain
    m = lab.mr("p0", {"f0.txt": "x\n"})
    assert lab.step().merged == [m.id]  # the batch stacks on the human commits and pushes
    assert upstream.state(lab.db, "proj").behind == 0
    assert "behind" not in AgentsTree()._rig_label("proj", read_snapshot(lab.town, lab.db, SessionHost(lab.town))).plain
    git_server.stop()
    res = run_gt("rig", "sync", "proj", "--json", cwd=lab.town.root)
    assert res.returncode == 1 and res.stderr.startswith("gt: cannot fetch main from git://127.0.0.1")
    assert len(res.stderr.strip().splitlines()) == 1


def test_the_engine_fetches_upstream_on_its_timer(town, tmp_path, git_server):  # noqa: F811
    configure(town, {"deacon": {"patrol_interval": 1}, "ledger": {"commit_debounce": 0.5}})
    git_server.create(REMOTE, FILES)
    rig = add_rig(town, "proj", git_server.url(REMOTE))
    with edit_toml(rig.path / "rig.toml") as doc:
        doc["upstream"]["fetch_interval"] = 0.5
    runner = EngineThread(town).start()
    try:
        with BeadStore(town) as store:
            wait_for(lambda: upstream.state(store.db, "proj").fetched_at is not None, timeout=60)
            human_push(git_server, tmp_path, {"h.txt": "1\n"})
            wait_for(lambda: upstream.state(store.db, "proj").behind == 1, timeout=60)
    finally:
        runner.stop()
        SessionHost(town).kill_server()


# -- adding rigs, config, messages ------------------------------------------------------------------


def test_gt_rig_add_picks_local_when_git_may_not_push(town, tmp_path, run_gt):
    server = GitServer(tmp_path / "ro" / "repos", push=False)
    server.start()
    try:
        server.create(REMOTE, FILES)
        res = run_gt("rig", "add", "proj", server.url(REMOTE), cwd=town.root)
        assert res.returncode == 0, res.stderr
        assert "landing local" in res.stdout
        (listed,) = json.loads(run_gt("rig", "list", "--json", cwd=town.root).stdout)
        assert listed["strategy"] == "local"
        res = run_gt(
            "rig",
            "add",
            "other",
            server.url(REMOTE),
            "--strategy",
            "pr",
            "--push-url",
            "git@github.com:owner/proj.git",
            cwd=town.root,
        )
        assert res.returncode == 0, res.stderr
        other = load_rig(town, "other")
        assert upstream.strategy(other) == "pr" and upstream.push_url(other) == "git@github.com:owner/proj.git"
        assert upstream.pr_repo(upstream.push_url(other)) == "github.com/owner/proj"
    finally:
        server.stop()


def test_an_unknown_strategy_is_refused_naming_the_file(town, git_repo):
    rig = add_rig(town, "proj", str(git_repo))
    with edit_toml(rig.path / "rig.toml") as doc:
        doc["merge_queue"]["strategy"] = "yolo"
    with pytest.raises(
        ConfigError,
        match=r'rig\.toml: \[merge_queue\] strategy must be one of "direct", "local", "pr", '
        r"not 'yolo': set it to one of them",
    ):
        load_rig(town, "proj")


@pytest.mark.parametrize(
    ("url", "repo"),
    [
        ("https://github.com/owner/proj.git", "github.com/owner/proj"),
        ("git@github.com:owner/proj.git", "github.com/owner/proj"),
        ("ssh://git@git.example.com:2222/team/proj", "git.example.com:2222/team/proj"),
        ("/home/me/src/proj", None),
        ("file:///home/me/src/proj", None),
    ],
)
def test_pr_repo_from_remote_urls(url, repo):
    assert upstream.pr_repo(url) == repo


def test_remote_message_is_one_line_without_escape_sequences_or_hints():
    import subprocess

    proc = subprocess.CompletedProcess(
        ["git", "push"],
        1,
        stdout="To git://h/r.git\n!\tabc:refs/heads/main\t[remote rejected] (pre-receive hook declined)\nDone\n",
        stderr="remote: \x1b]52;c;aGk=\x07stolen clipboard?\x1b[2J\nremote: \nremote: line\ttwo\x07\n"
        "hint: Updates were rejected\nerror: failed to push some refs to 'git://h/r.git'\n",
    )
    assert upstream.remote_message(proc) == "[remote rejected] (pre-receive hook declined); stolen clipboard?; line two"
    assert len(upstream.remote_message(subprocess.CompletedProcess([], 1, "", "remote: " + "x" * 900))) == 300


def test_a_red_upstream_blames_no_mr_and_holds_the_batch(lab, git_server, tmp_path):
    human_push(git_server, tmp_path, {"broken.bad": "a human broke main\n"})  # the gate is red on it
    m = lab.mr("good", {"good.txt": "x\n"})
    result = lab.refinery.process_once()
    assert result.outcome == "upstream_failed" and result.failed == []
    row = mq.get(lab.db, m.id)
    assert row.status == "queued" and "upstream main is red at" in row.reason and "nothing is blamed" in row.reason
    assert events.query(lab.db, types=("merge_failed",)) == []
    assert BeadStore(lab.town, db=lab.db).list(status=["open"]) == []  # no follow-up bead filed
    sh_git(tmp_path / "human", "rm", "-q", "broken.bad")
    sh_git(tmp_path / "human", "commit", "-q", "-m", "fix main")
    sh_git(tmp_path / "human", "push", "-q", "origin", "HEAD:main")
    result = lab.refinery.process_once(retry_now=True)
    assert result.merged == [m.id] and git_server.head(REMOTE) == result.tip


def test_upstream_that_keeps_moving_sends_the_batch_back_with_a_note(lab, git_server, tmp_path):
    human_push(git_server, tmp_path, {"seed.txt": "0\n"})  # the human's clone, used by the gate below
    racer = tmp_path / "race.sh"  # every gate run, a human pushes again
    racer.write_text(
        f'cd "{tmp_path / "human"}" && date +%s%N > race.txt && git add -A && '
        "git commit -q -m race && git push -q origin HEAD:main\n"
    )
    with edit_toml(lab.rig.path / "rig.toml") as doc:
        doc["gates"]["race"] = {"cmd": ["sh", str(racer)], "timeout": 30}
        doc["gates"]["env"]["GIT_AUTHOR_NAME"] = doc["gates"]["env"]["GIT_COMMITTER_NAME"] = "human"
        doc["gates"]["env"]["GIT_AUTHOR_EMAIL"] = doc["gates"]["env"]["GIT_COMMITTER_EMAIL"] = "h@h"
    m = lab.mr("p0", {"f0.txt": "x\n"})
    result = lab.refinery.process_once()
    assert result.outcome == "lost_race" and result.rebuilds == 3 and result.gate_runs == 3
    row = mq.get(lab.db, m.id)
    assert row.status == "queued" and "upstream kept moving while the batch was gated (3 tries)" in row.reason
    assert lab.main() == lab.initial and upstream.state(lab.db, "proj").failures == 1
    assert git_server.head(REMOTE) == sh_git(tmp_path / "human", "rev-parse", "HEAD").strip()  # every human push kept
