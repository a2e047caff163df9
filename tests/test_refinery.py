"""The refinery on real repositories with real gate commands (issue 6, "Done when").

Each test builds a rig from a real repository, pushes MR branches into the rig's bare repository from
a temporary clone, queues them with ``mq.submit`` and runs ``Refinery.process_once``. The gate is a
real shell script that fails whenever a culprit's change (a ``*.bad`` file) is in the tree and records
every commit it judged, so after every step the tests assert that the default branch is at a commit
the gates passed (or at the starting commit).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from core import events, git, mq
from core.config import edit_toml
from core.db import connect
from core.pidfile import pid_alive
from core.refinery import Refinery
from core.rigs import add_rig
from tests.conftest import git as sh_git
from tests.conftest import make_repo

GATE_SCRIPT = """\
# gate: red when a culprit's change (a *.bad file) is in the tree; records its verdict per commit
sha=$(git rev-parse HEAD)
if [ -n "$GATE_FLAKE" ] && [ ! -e "$GATE_FLAKE" ]; then
  : > "$GATE_FLAKE"; echo "$sha flaky" >> "$GATE_RECORD"; echo "flaky failure"; exit 1
fi
if ls ./*.bad >/dev/null 2>&1; then
  echo "$sha red" >> "$GATE_RECORD"; echo "culprit change present:"; ls ./*.bad; exit 1
fi
echo "$sha green" >> "$GATE_RECORD"; echo "all good"
"""


class Lab:
    """A rig ``proj`` with a gate script, a clone to make MR branches in, and the town database. The
    rig comes from a new local checkout ``src``, or from ``url``; ``strategy`` as ``add_rig`` takes it."""

    def __init__(
        self,
        town,
        tmp_path: Path,
        gated: bool = True,
        batch: int = 4,
        retry: int = 1,
        flaky: bool = False,
        url: str | None = None,
        strategy: str | None = None,
    ) -> None:
        self.town, self.tmp = town, tmp_path
        if url is None:  # a local checkout (tests/test_upstream.py passes a git:// URL instead)
            url = str(make_repo(tmp_path / "src", {"README.md": "# proj\nline one\n", "app.txt": "app\n"}))
        self.rig = add_rig(town, "proj", url, strategy=strategy)
        self.repo = self.rig.repo_path
        self.record = tmp_path / "gate-record.txt"
        self.record.touch()
        script = tmp_path / "gate.sh"
        script.write_text(GATE_SCRIPT)
        with edit_toml(self.rig.path / "rig.toml") as doc:
            doc["merge_queue"]["max_batch_size"] = batch
            doc["merge_queue"]["retry_flaky"] = retry
            if gated:
                doc["gates"]["check"] = {"cmd": ["sh", str(script)], "timeout": 30}
                env = {"GATE_RECORD": str(self.record)}
                if flaky:
                    env["GATE_FLAKE"] = str(tmp_path / "flake-marker")
                doc["gates"]["env"] = env
        self.work = tmp_path / "work"
        sh_git(tmp_path, "clone", "-q", str(self.repo), str(self.work))
        self.db = connect(town.db_path)
        self.initial = self.main()
        self.refinery = Refinery(town, "proj", self.db)

    def main(self) -> str:
        sha = git.rev_parse(self.repo, "refs/heads/main")
        assert sha is not None
        return sha

    def mr(self, name: str, files: dict[str, str], priority: int = 2, base: str | None = None) -> mq.MR:
        """Commit ``files`` on branch polecat/<name>/pj-<name> off ``base`` (default: main now), push, submit."""
        branch = f"polecat/{name}/pj-{name}"
        start = base or self.main()
        sh_git(self.work, "fetch", "-q", "origin")
        sh_git(self.work, "checkout", "-q", "-B", branch, start)
        for path, text in files.items():
            (self.work / path).write_text(text)
        sh_git(self.work, "add", "-A")
        sh_git(self.work, "commit", "-q", "-m", f"work of {name}")
        sh_git(self.work, "push", "-q", "-f", "origin", f"HEAD:refs/heads/{branch}")
        head = sh_git(self.work, "rev-parse", "HEAD").strip()
        return mq.submit(
            self.db, "proj", f"pj-{name}", name, branch, head, start, priority, actor=f"proj/polecats/{name}"
        )

    def verdicts(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {"green": set(), "red": set(), "flaky": set()}
        for line in self.record.read_text().splitlines():
            sha, verdict = line.split()
            out[verdict].add(sha)
        return out

    def tree_files(self, ref: str = "refs/heads/main") -> set[str]:
        return set(sh_git(self.repo, "ls-tree", "--name-only", ref).split())

    def assert_main_safe(self) -> None:
        """The default branch is at the starting commit or at a commit the gate passed, never a red one."""
        tip = self.main()
        v = self.verdicts()
        assert tip not in v["red"]
        assert tip == self.initial or tip in v["green"], f"main at {tip} which no gate passed"
        assert not any(f.endswith(".bad") for f in self.tree_files())

    def step(self):
        result = self.refinery.process_once()
        self.assert_main_safe()
        return result


@pytest.fixture
def lab(town, tmp_path):
    return Lab(town, tmp_path)


def test_eight_good_mrs_merge_in_two_batches_with_two_gate_runs(lab):
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": f"{i}\n"}) for i in range(8)]
    first = lab.step()
    second = lab.step()
    assert lab.step().empty
    assert (first.gate_runs, second.gate_runs) == (1, 1)
    assert first.merged == [m.id for m in mrs[:4]] and second.merged == [m.id for m in mrs[4:]]
    assert first.outcome == second.outcome == "green" and first.moved and second.moved
    assert {f"f{i}.txt" for i in range(8)} <= lab.tree_files()
    for m in mrs:
        done = mq.get(lab.db, m.id)
        assert done.status == "merged" and done.gate_runs == 1 and done.logs
        assert git.is_ancestor(lab.repo, done.merge_sha, lab.main())
        assert git.rev_parse(lab.repo, f"refs/heads/{m.branch}") is None  # branch deleted after merge
    # each MR is one merge commit on the first-parent history of main
    first_parents = sh_git(lab.repo, "rev-list", "--first-parent", "main").split()
    assert len(first_parents) == 1 + 8
    stats = mq.stats(lab.db, "proj")
    assert (stats["batches"], stats["merged"], stats["gate_runs"], stats["gate_runs_per_mr"]) == (2, 8, 2, 0.25)
    assert [e.payload["mr"] for e in events.query(lab.db, types=("merged",))] == [m.id for m in mrs]
    assert Path(mq.get(lab.db, mrs[0].id).logs[0]).name == "batch-1-check-1.log"


def test_one_failing_mr_fails_alone_and_the_others_merge(lab):
    mrs = [
        lab.mr("a", {"a.txt": "a\n"}),
        lab.mr("b", {"b.txt": "b\n"}),
        lab.mr("c", {"c.bad": "broken\n"}),
        lab.mr("d", {"d.txt": "d\n"}),
    ]
    result = lab.step()
    assert result.merged == [mrs[0].id, mrs[1].id, mrs[3].id]
    assert result.failed == [mrs[2].id] and result.conflicts == []
    assert result.outcome == "partial" and result.moved
    # full batch + 1 flaky retry, then bisect: [a,b] green; [c,d] on it is the cached red tree, so it is
    # split without a run: a+b+c red, and red again on its retry before c is blamed; a+b+d green
    assert result.gate_runs == 6
    culprit = mq.get(lab.db, mrs[2].id)
    assert culprit.status == "failed" and culprit.reason == "check gate failed (exit 1): culprit change present:"
    assert git.rev_parse(lab.repo, f"refs/heads/{culprit.branch}") == culprit.head_sha  # branch kept
    failed_event = events.query(lab.db, types=("merge_failed",))[0]
    assert failed_event.bead == "pj-c" and "c.bad" in failed_event.payload["tail"]
    assert {"a.txt", "b.txt", "d.txt"} <= lab.tree_files() and "c.bad" not in lab.tree_files()
    assert lab.main() in lab.verdicts()["green"]


def test_a_conflicting_mr_is_taken_out_and_reported(lab):
    base = lab.main()
    first = lab.mr("one", {"README.md": "# proj\nline one, by one\n"}, base=base)
    clash = lab.mr("two", {"README.md": "# proj\nline one, by two\n"}, base=base)
    other = lab.mr("three", {"three.txt": "3\n"}, base=base)
    result = lab.step()
    assert result.merged == [first.id, other.id] and result.conflicts == [clash.id]
    assert result.gate_runs == 1
    reported = mq.get(lab.db, clash.id)
    assert reported.status == "conflict" and "README.md" in reported.reason
    event = events.query(lab.db, types=("merge_conflict",))[0]
    assert event.payload["files"] == ["README.md"] and event.bead == "pj-two"
    assert git.rev_parse(lab.repo, f"refs/heads/{clash.branch}") == clash.head_sha


def test_a_flaky_gate_passing_on_retry_merges_everything(town, tmp_path):
    lab = Lab(town, tmp_path, flaky=True)
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(4)]
    result = lab.step()
    assert result.merged == [m.id for m in mrs] and result.gate_runs == 2
    assert len(lab.verdicts()["flaky"]) == 1 and lab.main() in lab.verdicts()["green"]


def test_without_retries_a_flaky_red_is_bisected_not_merged(town, tmp_path):
    lab = Lab(town, tmp_path, flaky=True, retry=0, batch=2)
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(2)]
    result = lab.step()
    # the flaky red is believed: bisection regates p0 alone (green) and convicts p1 from the cached red
    assert result.merged == [mrs[0].id] and result.failed == [mrs[1].id]


def test_two_culprits_in_a_batch_of_eight(town, tmp_path):
    lab = Lab(town, tmp_path, batch=8)
    bad = {1, 6}
    mrs = [lab.mr(f"p{i}", {f"f{i}.{'bad' if i in bad else 'txt'}": "x\n"}) for i in range(8)]
    result = lab.step()
    assert result.failed == [mrs[i].id for i in sorted(bad)]
    assert result.merged == [m.id for i, m in enumerate(mrs) if i not in bad]
    # full + flaky retry; [0-3] red: [0,1] red: [0] green, [1] (the cached tree of [0,1], which only
    # singled it out) red twice more on its own; [2,3] green; [4-7] red: [4,5] green, [6,7] split
    # without a run (cached tree): [6] red and red on its retry, [7] green
    assert result.gate_runs == 13


def test_random_culprit_sets_always_isolate_exactly_the_culprits(town, tmp_path):
    lab = Lab(town, tmp_path, batch=6, retry=0)
    rnd = random.Random(6)
    for round_ in range(5):
        size = rnd.randint(1, 6)
        bad = set(rnd.sample(range(size), rnd.randint(0, size)))
        mrs = [lab.mr(f"r{round_}x{i}", {f"r{round_}x{i}.{'bad' if i in bad else 'txt'}": "x\n"}) for i in range(size)]
        result = lab.step()
        assert result.failed == [mrs[i].id for i in sorted(bad)], (size, bad)
        assert result.merged == [m.id for i, m in enumerate(mrs) if i not in bad], (size, bad)


def test_no_gates_merges_on_a_clean_merge_alone(town, tmp_path):
    lab = Lab(town, tmp_path, gated=False)
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(3)]
    result = lab.refinery.process_once()
    assert result.merged == [m.id for m in mrs] and result.gate_runs == 0 and result.moved
    assert not lab.rig.refinery_dir.exists()  # nothing to check out without gates


def test_default_branch_moved_meanwhile_rebuilds_the_batch(lab):
    """A human pushes to main while the gates run: the compare-and-swap fails and the batch is rebuilt."""
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(2)]
    sh_git(lab.work, "checkout", "-q", "--detach", lab.main())
    (lab.work / "human.txt").write_text("pushed by a human\n")
    sh_git(lab.work, "add", "-A")
    sh_git(lab.work, "commit", "-q", "-m", "human push")
    human = sh_git(lab.work, "rev-parse", "HEAD").strip()
    sh_git(lab.work, "push", "-q", "origin", "HEAD:refs/human/pending")  # the object, not yet main
    racer = lab.tmp / "race.sh"
    racer.write_text(
        f'[ -e "{lab.tmp}/raced" ] || {{ : > "{lab.tmp}/raced"; '
        f'git -C "{lab.repo}" update-ref refs/heads/main {human}; }}\n'
    )
    with edit_toml(lab.rig.path / "rig.toml") as doc:
        check = doc["gates"]["check"]
        del doc["gates"]["check"]
        doc["gates"]["race"] = {"cmd": ["sh", str(racer)], "timeout": 30}
        doc["gates"]["check"] = check
        env = doc["gates"]["env"]
        del doc["gates"]["env"]
        doc["gates"]["env"] = env
    result = lab.step()
    assert result.rebuilds == 1 and result.merged == [m.id for m in mrs] and result.base == human
    assert git.is_ancestor(lab.repo, human, lab.main())
    assert result.gate_runs == 2


def test_crash_mid_batch_resumes_cleanly(lab):
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(3)]
    batch, claimed = mq.claim_batch(lab.db, "proj", 4)  # a refinery took the batch, then died
    assert [m.status for m in claimed] == ["merging"] * 3
    lab.rig.refinery_dir.mkdir()
    (lab.rig.refinery_dir / "half-built").write_text("debris of the crash\n")  # a broken scratch worktree
    result = lab.step()
    assert result.merged == [m.id for m in mrs]
    assert not (lab.rig.refinery_dir / "half-built").exists()
    assert git.worktree_valid(lab.rig.refinery_dir, lab.repo)
    assert [b.outcome for b in mq.batches(lab.db, "proj")] == ["green", "abandoned"]
    assert events.query(lab.db, types=("mq_requeued",))[0].payload["mrs"] == [m.id for m in mrs]


def test_crash_after_the_swap_recognises_merged_work(lab):
    """The branch moved but the queue was not updated: the next run marks the MRs merged, no new commit."""
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(2)]
    lab.refinery.process_once()
    tip = lab.main()
    with connect(lab.town.db_path).conn as conn:
        conn.execute("UPDATE merge_requests SET status = 'merging'")
    for m in mrs:  # the branches were not deleted yet either
        sh_git(lab.repo, "update-ref", f"refs/heads/{m.branch}", m.head_sha)
    result = lab.step()
    assert result.merged == [m.id for m in mrs] and not result.moved and lab.main() == tip


def test_mr_whose_commit_is_missing_fails_with_a_fix(lab):
    ghost = mq.submit(lab.db, "proj", "pj-ghost", "ghost", "polecat/ghost/pj-ghost", "1" * 40)
    good = lab.mr("good", {"good.txt": "x\n"})
    result = lab.step()
    assert result.merged == [good.id] and result.failed == [ghost.id]
    assert "push the branch again" in mq.get(lab.db, ghost.id).reason


def test_a_second_refinery_of_the_same_rig_is_refused(lab):
    from core.errors import Conflict

    lab.refinery._lock.acquire()
    try:
        with pytest.raises(Conflict, match="already running"):
            Refinery(lab.town, "proj", lab.db).process_once()
    finally:
        lab.refinery._lock.release()


def test_priority_orders_the_batch(town, tmp_path):
    lab = Lab(town, tmp_path, batch=2)
    low = lab.mr("low", {"low.txt": "x\n"}, priority=3)
    urgent = lab.mr("urgent", {"urgent.txt": "x\n"}, priority=0)
    mid = lab.mr("mid", {"mid.txt": "x\n"}, priority=2)
    assert lab.step().merged == [urgent.id, mid.id]
    assert lab.step().merged == [low.id]


def test_gt_mq_list_and_stats_show_the_queue(lab, run_gt):
    lab.mr("a", {"a.txt": "x\n"})
    lab.mr("b", {"b.bad": "x\n"})
    out = run_gt("mq", "list", cwd=lab.town.root)
    assert out.returncode == 0, out.stderr
    assert "gates: check (30s)" in out.stdout and "queued" in out.stdout
    done = run_gt("mq", "process", "proj", "--all", cwd=lab.town.root)
    assert done.returncode == 0, done.stderr
    assert "merged mr-1" in done.stdout and "failed mr-2" in done.stdout
    lab.assert_main_safe()
    stats = run_gt("mq", "stats", "--json", cwd=lab.town.root)
    import json

    data = json.loads(stats.stdout)
    assert data["totals"]["merged"] == 1 and data["totals"]["failed"] == 1
    # the batch red twice; a green alone; b (the batch's tree) red in two runs of its own before blamed
    assert data["batches"][0]["gate_runs"] == 5


def test_gt_mq_list_says_when_a_rig_has_no_gates(town, tmp_path, run_gt):
    Lab(town, tmp_path, gated=False)
    out = run_gt("mq", "list", cwd=town.root)
    assert "no gates: MRs merge on a clean merge alone" in out.stdout
    assert "The merge queue is empty" in out.stdout


def test_gate_env_is_clean(town, tmp_path, monkeypatch):
    lab = Lab(town, tmp_path, gated=False)
    monkeypatch.setenv("GT_SECRET_TOKEN", "leak")
    dump = tmp_path / "env.txt"
    with edit_toml(lab.rig.path / "rig.toml") as doc:
        doc["gates"]["env-dump"] = {"cmd": ["sh", "-c", f"env > {dump}"], "timeout": 10}
        doc["gates"]["env"] = {"EXTRA": "1"}
    lab.mr("a", {"a.txt": "x\n"})
    assert lab.refinery.process_once().merged
    names = {line.split("=", 1)[0] for line in dump.read_text().splitlines()}
    assert "GT_SECRET_TOKEN" not in names and "EXTRA" in names and "PATH" in names
    assert os.environ["GT_SECRET_TOKEN"] == "leak"


def test_kill_9_of_the_refinery_mid_gate_then_a_new_refinery_finishes_the_batch(town, tmp_path, gt_env):
    """A real crash: ``gt mq process`` is SIGKILLed while its gate runs. The orphaned gate is killed by
    the next refinery, the MRs go back to the queue, the worktree is rebuilt and everything merges."""
    import signal
    import subprocess
    import sys
    import time as _time

    lab = Lab(town, tmp_path)
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(2)]
    started = tmp_path / "gate-started"
    with edit_toml(lab.rig.path / "rig.toml") as doc:
        doc["gates"]["check"] = {"cmd": ["sh", "-c", f": > {started}; exec sleep 60"], "timeout": 120}
    gt = Path(sys.executable).parent / "gt"
    proc = subprocess.Popen(
        [str(gt), "mq", "process", "proj"],
        cwd=town.root,
        env=gt_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pidfile = town.state_dir / "refinery-proj.gate.pid"
    deadline = _time.monotonic() + 30
    while not (started.exists() and pidfile.exists()) and _time.monotonic() < deadline:
        _time.sleep(0.05)  # the gate runs and its refinery has recorded it (a loaded machine may lag)
    assert started.exists() and pidfile.exists(), "the gate never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    orphan = int(pidfile.read_text())
    os.kill(orphan, 0)  # the gate outlived its refinery
    assert {m.status for m in mq.list_mrs(lab.db, "proj")} == {"merging"}
    lab.assert_main_safe()
    with edit_toml(lab.rig.path / "rig.toml") as doc:
        del doc["gates"]["check"]
        doc["gates"]["check"] = {"cmd": ["sh", str(tmp_path / "gate.sh")], "timeout": 30}
    result = lab.step()
    assert result.merged == [m.id for m in mrs]
    deadline = _time.monotonic() + 5
    while pid_alive(orphan) and _time.monotonic() < deadline:
        _time.sleep(0.05)
    assert not pid_alive(orphan)
    assert [b.outcome for b in mq.batches(lab.db, "proj")] == ["green", "abandoned"]


ODD_RUNS_FLAKY_GATE = """\
# gate: red on the odd-numbered runs of each tree (a counter file per tree), and always red when a
# culprit's change (a *.bad file) is in the tree
sha=$(git rev-parse HEAD); tree=$(git rev-parse HEAD^{tree}); count="$GATE_COUNTS/$tree"
n=$(( $(cat "$count" 2>/dev/null || echo 0) + 1 )); echo "$n" > "$count"
if ls ./*.bad >/dev/null 2>&1; then echo "$sha red" >> "$GATE_RECORD"; echo "culprit"; exit 1; fi
if [ $((n % 2)) -eq 1 ]; then echo "$sha flaky" >> "$GATE_RECORD"; echo "flaky failure (run $n)"; exit 1; fi
echo "$sha green" >> "$GATE_RECORD"; echo "all good"
"""


def _odd_runs_flaky(lab: Lab) -> None:
    script = lab.tmp / "flaky-gate.sh"
    script.write_text(ODD_RUNS_FLAKY_GATE)
    counts = lab.tmp / "gate-counts"
    counts.mkdir()
    with edit_toml(lab.rig.path / "rig.toml") as doc:
        doc["gates"]["check"] = {"cmd": ["sh", str(script)], "timeout": 30}
        env = doc["gates"]["env"]
        del doc["gates"]["env"]
        doc["gates"]["env"] = {**env, "GATE_COUNTS": str(counts)}


def test_bisection_retries_a_red_half_before_blaming_good_mrs(town, tmp_path):
    """Issue 15 item 10: a flaky gate (red on every tree's first run) once made bisection blame good
    MRs, because a red half was believed at once; each red that would blame an MR is now retried
    ``retry_flaky`` times, so only the real culprit fails."""
    lab = Lab(town, tmp_path, batch=4, retry=1)
    _odd_runs_flaky(lab)
    mrs = [
        lab.mr("a", {"a.txt": "a\n"}),
        lab.mr("b", {"b.txt": "b\n"}),
        lab.mr("c", {"c.bad": "broken\n"}),
        lab.mr("d", {"d.txt": "d\n"}),
    ]
    result = lab.step()
    assert result.failed == [mrs[2].id]
    assert result.merged == [mrs[0].id, mrs[1].id, mrs[3].id]
    assert {"a.txt", "b.txt", "d.txt"} <= lab.tree_files() and "c.bad" not in lab.tree_files()
    assert lab.verdicts()["flaky"], "the gate really was flaky"
    assert not [e for e in events.query(lab.db, types=("merge_failed",)) if e.payload["mr"] != mrs[2].id]


def test_retry_flaky_zero_believes_a_red_half(town, tmp_path):
    """The same flaky gate with ``retry_flaky = 0``: reds are believed, so good MRs are blamed (the
    setting is what protects them)."""
    lab = Lab(town, tmp_path, batch=4, retry=0)
    _odd_runs_flaky(lab)
    mrs = [lab.mr("a", {"a.txt": "a\n"}), lab.mr("b", {"b.txt": "b\n"})]
    result = lab.step()
    assert result.failed == [m.id for m in mrs] and result.merged == []
    assert lab.main() == lab.initial


def test_kill_9_right_after_the_swap_then_a_red_gate_closes_the_landed_mrs_as_merged(town, tmp_path, gt_env):
    """Issue 15 item 9b: ``gt mq process`` is SIGKILLed right after its compare-and-swap moved main;
    on recovery the gate is red (the world changed). The MRs already on main are closed as merged, with
    the merge commits that name them, and nothing is gated, failed or filed as a fix."""
    import signal
    import subprocess
    import sys
    import textwrap

    from core.beads import BeadStore

    lab = Lab(town, tmp_path)
    store = BeadStore(town, db=lab.db)
    mrs = []
    for i in range(2):
        m = lab.mr(f"p{i}", {f"f{i}.txt": "x\n"})
        bead = store.create(f"work {i}", actor="mayor", prefix=lab.rig.prefix, status="in_progress").id
        with lab.db.conn:
            lab.db.execute("UPDATE merge_requests SET bead = ? WHERE id = ?", [bead, m.id])
        mrs.append(mq.get(lab.db, m.id))
    script = textwrap.dedent("""
        import os, signal, sys
        import core.git as g
        real = g.update_ref
        def swap_then_die(*args, **kwargs):
            moved = real(*args, **kwargs)
            if moved:
                os.kill(os.getpid(), signal.SIGKILL)
            return moved
        g.update_ref = swap_then_die
        from gastown_tui.cli import main
        main(["mq", "process", "proj"])
    """)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-P", "-c", script],
        cwd=town.root,
        capture_output=True,
        text=True,
        env={**gt_env, "PYTHONPATH": str(root)},
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    tip = lab.main()
    assert tip != lab.initial and tip in lab.verdicts()["green"]  # the swap happened
    assert {m.status for m in mq.list_mrs(lab.db, "proj")} == {"merging"}  # the queue never heard of it
    red = tmp_path / "red.sh"
    red.write_text('echo "$(git rev-parse HEAD) red" >> "$GATE_RECORD"; echo "the gate is red now"; exit 1\n')
    with edit_toml(lab.rig.path / "rig.toml") as doc:
        doc["gates"]["check"] = {"cmd": ["sh", str(red)], "timeout": 30}
    before = len(lab.verdicts()["red"])
    result = lab.refinery.process_once()
    assert result.merged == [m.id for m in mrs] and result.failed == [] and result.gate_runs == 0
    assert not result.moved and lab.main() == tip
    assert len(lab.verdicts()["red"]) == before, "work already on main was gated again"
    first_parents = sh_git(lab.repo, "rev-list", "--first-parent", "main").split()
    for m in mrs:
        done = mq.get(lab.db, m.id)
        assert done.status == "merged" and done.merge_sha in first_parents
        message = sh_git(lab.repo, "log", "-1", "--format=%s", done.merge_sha)
        assert message.startswith(f"Merge {m.branch} ({m.id}, {m.bead})")
        bead = store.get(m.bead)
        assert bead.status == "closed" and done.merge_sha in bead.close_reason
    assert events.query(lab.db, types=("merge_failed",)) == []
    follow_ups = lab.db.execute("SELECT count(*) FROM issues WHERE external_ref LIKE 'gt-mr:%'").fetchone()[0]
    assert follow_ups == 0


def test_a_batch_red_only_by_flakes_blames_no_one(town, tmp_path):
    """The gate fails its first two runs whatever the tree (a flaky outage): the whole batch is red on
    the run and its retry, so it is bisected. The last MR's tree is the batch's own red tree; that red
    only singled it out, so it is gated again on its own before any blame, and every MR merges."""
    lab = Lab(town, tmp_path, batch=4, retry=1)
    script = lab.tmp / "outage-gate.sh"
    counter = lab.tmp / "runs"
    script.write_text(
        f'n=$(( $(cat "{counter}" 2>/dev/null || echo 0) + 1 )); echo "$n" > "{counter}"\n'
        "sha=$(git rev-parse HEAD)\n"
        'if [ "$n" -le 2 ]; then echo "$sha flaky" >> "$GATE_RECORD"; exit 1; fi\n'
        'echo "$sha green" >> "$GATE_RECORD"\n'
    )
    with edit_toml(lab.rig.path / "rig.toml") as doc:
        doc["gates"]["check"] = {"cmd": ["sh", str(script)], "timeout": 30}
    mrs = [lab.mr(f"p{i}", {f"f{i}.txt": "x\n"}) for i in range(4)]
    result = lab.step()
    assert result.failed == [] and result.merged == [m.id for m in mrs]
    assert lab.record.read_text().count(" flaky") == 2  # the batch's run and its retry
