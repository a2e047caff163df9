"""The sim agent on real beads (``gt bead create``), in a real worktree, inside a real tmux session."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import git, make_repo
from core.sim import note_path, note_text, sh_blocks, Bead
from tests.conftest import wait_for

TWO_STEPS = """Make two files.

```sh
echo one > a.txt
echo "step one printed"
```

Some prose, and a block that is not shell:

```python
print("not run")
```

```sh
echo two >> a.txt
mkdir -p docs && echo doc > docs/b.txt
```
"""


@pytest.fixture
def worktree(tmp_path):
    return make_repo(tmp_path / "wt", {"README.md": "# wt\n"})


@pytest.fixture
def new_bead(run_gt, town):
    def create(title: str, description: str = "", labels: tuple[str, ...] = ()) -> str:
        args = ["--town", str(town.root), "bead", "create", title, "-d", description, "--json"]
        for label in labels:
            args += ["-l", label]
        proc = run_gt(*args)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["id"]

    return create


def start_sim(host, town, worktree, bead_id=None, env=None, name="rig1-sim"):
    argv = ["gt", "agent", "sim"] + (["--bead", bead_id] if bead_id else [])
    host.start(name, argv, cwd=worktree, env={"GT_TOWN": str(town.root), **(env or {})})
    return name


def head(repo):
    return git(repo, "rev-parse", "HEAD").strip()


def test_two_sh_blocks_change_files_and_commit(host, town, worktree, new_bead):
    base = head(worktree)
    bead = new_bead("Make two files", TWO_STEPS)
    name = start_sim(host, town, worktree, bead)
    assert host.wait_for_text(name, "❯", timeout=30), host.capture(name, lines=60)
    screen = host.capture(name, lines=100)
    for expected in (
        "sim agent",
        "reading hook",
        f"hooked: {bead}",
        "gt prime",
        "step 1/2",
        "step one printed",
        "step 2/2",
        "✓ committed",
        "gt done",
    ):
        assert expected in screen, (expected, screen)
    assert "not run" not in screen
    assert (worktree / "a.txt").read_text() == "one\ntwo\n"
    assert (worktree / "docs" / "b.txt").read_text() == "doc\n"
    assert git(worktree, "log", "-1", "--format=%s").strip() == f"{bead}: Make two files"
    assert git(worktree, "rev-parse", "HEAD~1").strip() == base
    assert git(worktree, "status", "--porcelain") == ""
    assert b"step 2/2" in host.log_path(name).read_bytes()
    # a nudge of "work" re-checks the hook; "exit" ends the agent
    host.send_text(name, "work")
    assert host.wait_for_text(name, "done already")
    assert head(worktree) != base and git(worktree, "rev-list", "--count", f"{base}..HEAD").strip() == "1"
    host.send_text(name, "exit")
    wait_for(lambda: not host.info(name).alive)


def test_bead_from_env_without_sh_blocks_writes_a_note(host, town, worktree, new_bead):
    bead = new_bead("Think about it", "No shell here.\n\n```text\nnope\n```\n")
    name = start_sim(host, town, worktree, env={"GT_BEAD": bead})
    assert host.wait_for_text(name, "❯", timeout=30), host.capture(name, lines=60)
    note = worktree / note_path(bead)
    assert note.read_text() == note_text(Bead(bead, "Think about it", "", "open"))
    assert git(worktree, "log", "-1", "--format=%s").strip() == f"{bead}: Think about it"
    assert git(worktree, "status", "--porcelain") == ""


def test_fail_label_reports_failure_without_done(host, town, worktree, new_bead):
    base = head(worktree)
    bead = new_bead("Doomed", TWO_STEPS, labels=("sim:fail",))
    name = start_sim(host, town, worktree, bead)
    assert host.wait_for_text(name, "❯", timeout=30), host.capture(name, lines=60)
    screen = host.capture(name, lines=100)
    assert "injected failure" in screen and "failed at step 2 (exit 1)" in screen
    assert "● gt done" not in screen and "committed" not in screen
    assert head(worktree) == base
    assert host.is_alive(name)  # it waits at the prompt for a nudge


def test_crash_label_exits_leaving_uncommitted_changes(host, town, worktree, new_bead):
    base = head(worktree)
    bead = new_bead("Crashy", TWO_STEPS, labels=("sim:crash",))
    name = start_sim(host, town, worktree, bead)
    wait_for(lambda: not host.info(name).alive, timeout=30, what="the sim agent to exit")
    assert host.info(name).exit_status in (3, None)  # tmux sometimes loses the status (see test_sessions)
    assert head(worktree) == base
    dirty = git(worktree, "status", "--porcelain")
    assert "a.txt" in dirty and "step 2/2" not in host.capture(name, lines=100)
    assert (worktree / "a.txt").read_text() == "one\n"


def test_hang_label_stops_printing(host, town, worktree, new_bead):
    bead = new_bead("Hangs", TWO_STEPS, labels=("sim:hang",))
    name = start_sim(host, town, worktree, bead)
    assert host.wait_for_text(name, "step 1/2 done", timeout=30), host.capture(name, lines=60)
    log = host.log_path(name)
    time.sleep(0.3)
    size = log.stat().st_size
    seen = host.last_activity(name)
    time.sleep(1.0)
    assert log.stat().st_size == size and host.last_activity(name) == seen
    assert host.is_alive(name) and "❯" not in host.capture(name, lines=100)
    assert "step 2/2" not in host.capture(name, lines=100)


def test_slow_label_pauses_between_steps(host, town, worktree, new_bead):
    bead = new_bead("Slow", TWO_STEPS, labels=("sim:slow",))
    name = start_sim(host, town, worktree, bead, env={"GT_SIM_SLOW_SECONDS": "1"})
    assert host.wait_for_text(name, "thinking for 1 s (sim:slow)", timeout=30), host.capture(name, lines=60)
    assert "step 2/2" not in host.capture(name, lines=100)  # still pausing
    assert host.wait_for_text(name, "✓ committed", timeout=30)
    assert (worktree / "a.txt").read_text() == "one\ntwo\n"


def test_empty_hook_and_prompt_over_a_pipe(run_gt, town, worktree):
    proc = run_gt("--town", str(town.root), "agent", "sim", cwd=worktree, input="hello\nwork\nexit\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("hook is empty") == 2
    assert "I understand 'gt prime', 'work' and 'exit'" in proc.stdout and "bye" in proc.stdout


def test_unknown_bead_and_not_a_worktree(run_gt, town, tmp_path, new_bead):
    proc = run_gt("--town", str(town.root), "agent", "sim", "--bead", "hq-zzzz", cwd=tmp_path, input="")
    assert proc.returncode == 0 and "cannot read hq-zzzz" in proc.stdout
    bead = new_bead("Somewhere", TWO_STEPS)
    plain = tmp_path / "plain"
    plain.mkdir()
    proc = run_gt("--town", str(town.root), "agent", "sim", "--bead", bead, cwd=plain, input="")
    assert "is not a git worktree" in proc.stdout and not (plain / "a.txt").exists()


def test_sh_blocks_parsing():
    assert sh_blocks(TWO_STEPS) == [
        'echo one > a.txt\necho "step one printed"\n',
        "echo two >> a.txt\nmkdir -p docs && echo doc > docs/b.txt\n",
    ]
    text = "~~~bash\necho tilde\n~~~\n````markdown\n```sh\necho nested\n```\n````\n```sh\necho open"
    assert sh_blocks(text) == ["echo tilde\n", "echo open\n"]
    assert sh_blocks("no fences at all") == []
    assert sh_blocks("```SH\nx\n```") == ["x\n"]
    assert sh_blocks("```shell-session\nx\n```") == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_characters="`~\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"), max_size=30),
        max_size=5,
    ),
    st.text(alphabet="abc \n", max_size=40),
)
def test_sh_blocks_round_trip(bodies, prose):
    doc = prose.replace("```", "") + "\n" + "".join(f"```sh\n{b}\n```\n{prose}\n" for b in bodies)
    assert sh_blocks(doc) == [b + "\n" for b in bodies]
