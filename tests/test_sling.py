"""One bead from open to a branch waiting to merge, with the sim agent and real tmux (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import escalation, events, git, mq, polecats
from core.beads.store import BeadStore
from core.rigs import add_rig
from core.sessions import SessionHost
from tests.conftest import VENV_BIN
from tests.conftest import wait_for

SH = "```sh\n{}\n```\n"


@pytest.fixture
def rig(town, git_repo: Path) -> Iterator:
    r = add_rig(town, "demo", str(git_repo))
    yield r
    SessionHost(town).kill_server()


@pytest.fixture
def store(town) -> Iterator[BeadStore]:
    s = BeadStore(town)
    yield s
    s.disconnect()


def create(run_gt, town, title: str, description: str, labels: tuple[str, ...] = ()) -> str:
    args = ["bead", "create", title, "-d", description, "--rig", "demo", "--json"]
    for label in labels:
        args += ["--label", label]
    res = run_gt(*args, cwd=town.root)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["id"]


def polecat_of(store: BeadStore, bead: str) -> polecats.Polecat:
    return wait_for(lambda: polecats.by_bead(store.db, bead))  # type: ignore[return-value]


def test_sling_to_merge_request_end_to_end(town, rig, store, run_gt) -> None:
    bead = create(
        run_gt,
        town,
        "Add greeting",
        "Write the greeting.\n\n"
        + SH.format("echo 'hello' > greeting.txt")
        + "\n"
        + SH.format("echo more >> greeting.txt"),
    )
    res = run_gt("sling", bead, "demo", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    (result,) = json.loads(res.stdout)
    name = result["polecat"].split("/")[-1]
    branch = f"polecat/{name}/{bead}"
    assert result["branch"] == branch and result["agent"] == "sim"
    worktree = rig.polecats_dir / name
    assert git.worktree_valid(worktree, rig.repo_path)
    host = SessionHost(town)
    assert host.exists(result["session"])
    mr = wait_for(lambda: mq.list_mrs(store.db, rig="demo"))[0]
    assert (mr.bead, mr.branch, mr.polecat, mr.status) == (bead, branch, name, "queued")
    # the commit on the polecat branch, in the rig's bare repository
    head = git.rev_parse(rig.repo_path, f"refs/heads/{branch}")
    assert head == mr.head_sha
    assert git.run_git(["show", f"{head}:greeting.txt"], cwd=rig.repo_path).stdout == "hello\nmore\n"
    assert git.count_commits(rig.repo_path, "main", head) == 1
    assert "CLAUDE.md" not in git.run_git(["ls-tree", "--name-only", head], cwd=rig.repo_path).stdout
    p = wait_for(lambda: (q := polecats.get(store.db, "demo", name)) and q.state == "idle" and q)
    assert p.hook_bead is None
    issue = store.get(bead)
    assert issue.status == "in_progress" and issue.assignee == f"demo/polecats/{name}"
    assert any(mr.id in c.text for c in issue.comments)
    kinds = [e.type for e in events.query(store.db, bead=bead)]
    for kind in ("created", "hooked", "sling", "spawn", "mr_submitted", "done"):
        assert kind in kinds, (kind, kinds)
    assert kinds.index("sling") < kinds.index("spawn") < kinds.index("done")
    assert result["convoy"] and result["convoy"].startswith("hq-cv-")
    # the role context files are in the worktree, never committed
    assert (worktree / "CLAUDE.md").read_text().startswith(f"# Gas Town polecat demo/polecats/{name}")
    # prime, hook and polecat list see it
    listing = json.loads(run_gt("polecat", "list", "--json", cwd=town.root).stdout)
    assert [(p["name"], p["state"]) for p in listing] == [(name, "idle")]
    # the idle polecat is reused for the next bead, on a fresh branch from main
    bead2 = create(run_gt, town, "Second", SH.format("echo 2 > two.txt"))
    res = run_gt("sling", bead2, "demo", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)[0]["polecat"] == f"demo/polecats/{name}"


def test_crash_then_resume_keeps_work_from_both_sessions(town, rig, store, run_gt) -> None:
    steps = (
        SH.format("[ -f first.txt ] || echo first > first.txt\necho run >> runs.txt")
        + "\n"
        + SH.format("echo second > second.txt")
    )
    bead = create(run_gt, town, "Crashy", steps, labels=("sim:crash",))
    res = run_gt("sling", bead, "demo", "--json", cwd=town.root)
    assert res.returncode == 0, res.stderr
    session = json.loads(res.stdout)[0]["session"]
    p = polecat_of(store, bead)
    worktree = Path(p.worktree or rig.polecats_dir / p.name)
    host = SessionHost(town)
    wait_for(lambda: not host.is_alive(session))
    assert (worktree / "runs.txt").read_text() == "run\n"
    assert "runs.txt" in git.dirty_paths(worktree)  # the crash left its work uncommitted
    # a live session refuses resume; a dead one resumes on the same worktree and hook
    store.remove_label(bead, "sim:crash", actor="test")
    res = run_gt("sling", "--resume", bead, cwd=town.root)
    assert res.returncode == 0, res.stderr
    mr = wait_for(lambda: mq.list_mrs(store.db, rig="demo"))[0]
    head = mr.head_sha
    show = lambda f: git.run_git(["show", f"{head}:{f}"], cwd=rig.repo_path).stdout  # noqa: E731
    assert show("runs.txt") == "run\nrun\n"  # one line from before the crash, one from after
    assert show("first.txt") == "first\n" and show("second.txt") == "second\n"
    p = polecats.get(store.db, "demo", p.name)
    assert p.respawns == 1
    assert "respawn" in [e.type for e in events.query(store.db, bead=bead)]


def test_two_processes_sling_the_same_bead(town, rig, store, run_gt, gt_env) -> None:
    bead = create(run_gt, town, "Contended", SH.format("sleep 1; echo x > x.txt"))
    procs = [
        subprocess.Popen(
            [str(VENV_BIN / "gt"), "sling", bead, "demo"],
            cwd=town.root,
            env=gt_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=60), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "already" in loser and bead in loser
    holders = [p for p in polecats.list_polecats(store.db) if p.hook_bead == bead]
    assert len(holders) == 1
    assert [s.name for s in SessionHost(town).list()] == [holders[0].session]


def test_bad_input_leaves_state_unchanged(town, rig, store, run_gt, git_repo: Path, tmp_path: Path) -> None:
    add_rig(town, "other", str(git_repo))
    foreign = store.create("Other rig work", actor="t", prefix="ot").id
    bead = create(run_gt, town, "Ours", SH.format("echo a > a.txt"))
    before = [e.id for e in events.query(store.db)]
    cases = [
        (("sling", "de-nope", "demo"), "no bead matches"),
        (("sling", bead, "ghost"), "no rig named 'ghost'"),
        (("sling", foreign, "demo"), "belongs to rig other"),
        (("sling", bead, "demo", "--agent", "nosuch"), "unknown agent preset"),
        (("done",), "gt done runs inside a polecat"),
        (("sling", bead), "give the bead(s) and the rig"),
    ]
    for args, message in cases:
        res = run_gt(*args, cwd=town.root)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert message in res.stderr, (args, res.stderr)
    assert [e.id for e in events.query(store.db)] == before
    assert store.get(bead).status == "open"
    assert polecats.list_polecats(store.db) == []
    assert not any(rig.polecats_dir.iterdir())


def test_capacity_and_closed_beads_are_refused(town, rig, store, run_gt) -> None:
    town.config_path.write_text(
        town.config_path.read_text().replace("max_polecats_per_rig = 4", "max_polecats_per_rig = 1")
    )
    first = create(run_gt, town, "Slow", SH.format("sleep 30"))
    second = create(run_gt, town, "Waits", SH.format("echo b > b.txt"))
    assert run_gt("sling", first, "demo", cwd=town.root).returncode == 0
    res = run_gt("sling", second, "demo", cwd=town.root)
    assert res.returncode == 2 and "at capacity" in res.stderr
    assert store.get(second).status == "open"
    store.close(second, actor="t", reason="not needed")
    res = run_gt("sling", second, "demo", cwd=town.root)
    assert res.returncode == 2 and "is closed" in res.stderr
    res = run_gt("sling", first, "demo", cwd=town.root)
    assert res.returncode == 2 and "already hooked" in res.stderr


def test_done_with_nothing_to_submit_and_escalation(town, rig, store, run_gt) -> None:
    bead = create(run_gt, town, "Empty", "No sh blocks here.")
    store.hook(bead, "demo/polecats/nux", actor="t")
    polecats.upsert(store.db, "demo", "nux", state="working", hook_bead=bead)
    from core.worktrees import ensure_worktree

    path, _, _ = ensure_worktree(rig, "nux", bead)
    res = run_gt("done", cwd=path)
    assert res.returncode == 2 and "nothing to submit" in res.stderr
    assert store.get(bead).status == "hooked" and mq.list_mrs(store.db) == []
    res = run_gt("done", "--status", "ESCALATED", cwd=path)
    assert res.returncode == 2 and "needs a reason" in res.stderr
    res = run_gt("done", "--status", "ESCALATED", "-m", "the spec is contradictory", cwd=path)
    assert res.returncode == 0, res.stderr
    issue = store.get(bead)
    assert issue.status == "open" and issue.assignee == ""
    assert any("contradictory" in c.text for c in issue.comments)
    inbox = json.loads(run_gt("mail", "inbox", "mayor/", "--json", cwd=town.root).stdout)
    subject = f"ESCALATION [HIGH] {bead} escalated by demo/polecats/nux: the spec is contradictory"
    assert [m["subject"] for m in inbox if bead in m["subject"]] == [subject]
    # an escalation bead like the witness files, and one escalation event (from escalate(), not a second)
    [esc] = escalation.list_open(store)
    assert esc.about == bead and esc.severity == "high" and "contradictory" in esc.text
    raised = events.query(store.db, types=("escalation",))
    assert [(e.bead, e.payload["escalation"]) for e in raised] == [(bead, esc.id)]
    assert events.query(store.db, types=("done",))[-1].payload["status"] == "ESCALATED"


def test_nuke_keeps_work_and_releases_bead(town, rig, store, run_gt) -> None:
    bead = create(run_gt, town, "Nukable", "No sh blocks.")
    store.hook(bead, "demo/polecats/dag", actor="t")
    polecats.upsert(store.db, "demo", "dag", state="working", hook_bead=bead)
    from core.worktrees import ensure_worktree

    path, branch, _ = ensure_worktree(rig, "dag", bead)
    (path / "unsaved.txt").write_text("precious\n")
    res = run_gt("polecat", "nuke", "dag", cwd=town.root)
    assert res.returncode == 2 and "--force" in res.stderr and path.exists()
    res = run_gt("polecat", "nuke", "dag", "--force", cwd=town.root)
    assert res.returncode == 0, res.stderr
    assert not path.exists()
    head = git.rev_parse(rig.repo_path, f"refs/heads/{branch}")
    assert git.run_git(["show", f"{head}:unsaved.txt"], cwd=rig.repo_path).stdout == "precious\n"
    issue = store.get(bead)
    assert issue.status == "open" and any("nuked" in c.text for c in issue.comments)
    assert polecats.get(store.db, "demo", "dag").state == "nuked"


def test_an_agent_done_before_the_sling_returns_stays_idle(town, git_repo, monkeypatch):
    """A fast agent can run gt done while its sling still waits: the sling must not set it working."""
    from core import polecats as polecats_mod
    from core.beads.store import BeadStore
    from core.rigs import add_rig
    from core.runtimes import launch
    from core.sling import Slinger

    add_rig(town, "demo", str(git_repo))
    real = launch.start_agent

    def start_then_finish(host, name, *args, **kwargs):
        info = real(host, name, *args, **kwargs)
        db = kwargs["db"]
        db.execute(
            "UPDATE polecats SET state = 'idle', hook_bead = NULL WHERE session = ? OR hook_bead = ?",
            [name, kwargs["bead"]],
        )  # what gt done does, in the agent's own process
        return info

    monkeypatch.setattr("core.runtimes.start_agent", start_then_finish)
    store = BeadStore(town)
    bead = store.create("Quick", actor="t").id
    slinger = Slinger(town, store=store)
    try:
        res = slinger.sling(bead, "demo", agent="sim")
        p = polecats_mod.get(store.db, "demo", res.polecat.rsplit("/", 1)[-1])
        assert (p.state, p.hook_bead) == ("idle", None)
    finally:
        slinger.host.kill_server()


def test_slinging_several_beads_makes_one_convoy_and_a_refusal_stops_no_other(town, rig, store, run_gt) -> None:
    """``gt sling A B C RIG`` (core.sling.Slinger.sling_beads, the cockpit's rule too): each bead gets
    its own polecat, the slung ones share one convoy, and a refused bead (closed) is reported on its
    own line with exit 2 while the others go out (and the ledger sync still follows the command)."""
    a = create(run_gt, town, "Alpha", SH.format("sleep 30"))
    closed = create(run_gt, town, "Closed [red]not markup[/red]", SH.format("echo c"))
    b = create(run_gt, town, "Beta", SH.format("sleep 30"))
    store.close(closed, actor="t", reason="not needed")
    res = run_gt("sling", a, closed, b, "demo", "--json", cwd=town.root, env={"GT_LEDGER_SYNC": "now"})
    assert res.returncode == 2, res.stderr
    assert f"gt: {closed} not slung: bead {closed} is closed" in res.stderr
    slung = json.loads(res.stdout)
    assert [r["bead"] for r in slung] == [a, b]
    assert len({r["polecat"] for r in slung}) == 2
    (convoy,) = {r["convoy"] for r in slung}
    assert convoy is not None
    from core import convoys

    assert convoys.convoys_tracking(store, a) == convoys.convoys_tracking(store, b) == [convoy]
    assert convoys.convoys_tracking(store, closed) == []
    assert store.get(closed).status == "closed"
    # a command that ran to its end with its own exit status still has its changes committed
    assert convoy in town.ledger_path.read_text(encoding="utf-8")


def test_the_claim_path_imports_no_formula_machinery() -> None:
    """Everything ``core.sling`` imports runs before the claim and ``git worktree add``; the formula
    library (and dulwich, which reads the rig's formulas) is imported while git checks the tree out."""
    code = "import json, sys\nimport core.sling\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=60, check=True)
    modules = set(json.loads(proc.stdout))
    assert "core.sling" in modules
    assert not {m for m in modules if m.split(".")[0] == "dulwich" or m.startswith("core.formulas")}
