"""The refinery: a rig's Bors-style merge queue that never lands a red default branch (DESIGN section 6).

One batch (:meth:`Refinery.process_once`):

1. Crash recovery: a gate process group orphaned by a dead refinery is killed, and MRs it left
   ``merging`` go back to ``queued``.
2. Take up to ``[merge_queue] max_batch_size`` queued MRs in queue order (``core.mq``).
3. Find the base ``T``. Strategy ``local``: the default branch's tip. ``direct``: fetch the upstream
   default branch first (:func:`core.upstream.batch_base`) and stack on its tip (or on the default
   branch when that is ahead of upstream; diverged histories are refused). Stack the MRs on ``T``:
   ``T <- MR1 <- ... <- MRn``, one merge commit per MR.
   Each merge is first a dry run (``git merge-tree --write-tree``) in the rig's bare repository; a
   conflicting MR leaves the batch (status ``conflict``). Clean merges become commits with
   ``git commit-tree`` without moving any ref.
4. Check the tip out in the scratch worktree ``<rig>/refinery`` (detached HEAD, forced, cleaned; the
   worktree is rebuilt when broken) and run the gates once (``core.gates``).
5. Green, ``local``: compare-and-swap ``refs/heads/<default>`` from ``T`` to the tip (``git update-ref
   NEW OLD``). ``direct``: push exactly that gated tip upstream as a fast-forward
   (:func:`core.upstream.push`, never forced), then compare-and-swap the default branch to it. If
   the branch (or upstream: the push is refused as not a fast-forward because a human pushed) moved
   meanwhile, the whole batch is rebuilt on the new tip and gated again (up to 3 times; then the MRs
   go back to the queue with a note).
6. Red: run the gates again ``retry_flaky`` times (flaky tests); still red: bisect. The left half is
   stacked on the current base and gated; a green half becomes the new base, a red one is split
   again, until single culprits remain. The right half is then stacked on whatever base survived.
   Gate results are cached by tree sha, so the tree already known red (the whole batch after a green
   left half) is not gated again while bisecting; but before an MR is blamed, its tree must have been
   red in ``1 + retry_flaky`` runs with it as the only suspect (it is gated again up to that; the
   red of a bigger stack that singled it out does not count), so a flaky red half does not blame a
   good MR. The branch moves to the last green base: the good set,
   whose exact commit passed the gates in this run.

Landing elsewhere: when upstream refuses the push (permissions, a protected branch, a hook), the
network fails, the remote is gone or its history diverged, the batch does not land: nothing local
moves, its MRs go back to the queue with the remote's one-line message, an ``upstream_failed`` event
is written and the next batch waits (doubling, :func:`core.upstream.landing_failed`; ``gt mq process``
tries at once), with an escalation to the Mayor after ``[upstream] escalate_after`` failures in a row.
A batch whose base holds upstream commits no gate here has judged is not allowed to blame its MRs
for them: when it turns up culprits, the base is gated alone first, and a red upstream holds the
batch instead (:meth:`_Batch._vet_upstream`). Strategy ``pr`` does not merge at all: it pushes each MR's branch and opens a pull request
(:class:`_PullRequests`).

Safety: the default branch only ever moves to a commit that passed every gate in this run (checked
again just before the push and the compare-and-swap), or to a clean merge when the rig has no gates;
with ``direct`` it also follows upstream forward (fast-forward only) when a batch finds upstream
ahead, since upstream is then where the default branch lives. Upstream only ever receives that
gated commit, as a fast-forward, so a commit a human pushed there is never lost or rewritten. Human
worktrees are never touched: the refinery has its own. Queue state lives in the town database, so a
crash anywhere resumes cleanly; an MR whose commit already reached the default branch (a crash after
the swap) is recognised as merged before anything is stacked or gated, with the merge commit that
names it as its merge sha, so a gate that turned red meanwhile can never blame work already landed.

Effects of a settled batch, in one database transaction: MR statuses, the batch metrics row, the
feed events ``merged`` / ``merge_failed`` / ``merge_conflict``, and the bead and mail effects: a merged
MR's bead is closed with the merge sha in the reason and its polecat gets a MERGED mail; a culprit is
isolated and its follow-up filed: its bead gets the failing gate's log tail as a comment, a P1 bug bead
"Fix <gate> failure: <title>" is filed (naming the MR, the gate and the log, holding the log tail) and
its polecat gets a FIX_NEEDED mail naming it (the branch stays); a conflicting MR's bead gets a note, a
P1 "resolve conflicts" bead is filed and its polecat is mailed. Follow-up beads have the rig's prefix,
are ``discovered-from`` the original bead and are filed once per MR and kind: while one is not closed,
the same MR failing again (``gt mq retry``) adds a comment to it instead; the ``merge_failed`` and
``merge_conflict`` events name it (``follow_up``, ``conflict_bead``); when the bead finally merges,
its open follow-ups are closed with it. Then, outside the transaction:
merged branches are deleted (compare-and-swap), except one still checked out in a worktree.
Convoys tracking a merged bead (or named by its MR)
land in the same transaction when all their beads are closed (``core.convoys.check_landed``).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import filelock

from core import convoys, escalation, events, git, mail, mq, upstream
from core.beads import BeadStore
from core.beads.model import MAX_TITLE
from core.db import Database, connect, transaction
from core.errors import Conflict, GitError, GtError
from core.gates import GateConfig, GateResult, GateRun, kill_leftover, load_gates, log_tail, read_log, run_gates
from core.plaintext import one_line
from core.rigs import Rig, load_rig
from core.town import Town
from core.upstream import UpstreamError

MAX_CAS_ATTEMPTS = 3


@dataclass
class Culprit:
    """An MR whose merge turned the gates red: ``run`` is the red gate run that convicted it."""

    mr: mq.MR
    run: GateRun


@dataclass
class ConflictReport:
    """An MR that does not merge cleanly onto ``base``; ``files`` are the conflicted paths."""

    mr: mq.MR
    base: str
    files: list[str]
    after: list[str] = field(default_factory=list)  # culprit MR ids whose removal exposed the conflict


@dataclass
class BatchResult:
    """The outcome of one batch. Lists hold MR ids. wall_s: seconds. ``tip`` is where the default
    branch points after the batch; ``moved`` whether this batch moved it; ``rebuilds`` how many times
    the batch was rebuilt because the branch moved during it; ``landed`` the convoys this batch
    completed; ``note`` why nothing landed (MRs back in the queue: ``lost_race``,
    ``upstream_failed``) or why nothing ran (``waiting``); ``pull_requests`` the PRs opened (``pr``).
    batch 0 means nothing was queued (or the refinery waits for upstream)."""

    batch: int
    rig: str
    mrs: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    gate_runs: int = 0
    wall_s: float = 0.0
    base: str | None = None
    tip: str | None = None
    moved: bool = False
    rebuilds: int = 0
    landed: list[str] = field(default_factory=list)
    outcome: str = "empty"
    note: str = ""
    pull_requests: dict[str, str] = field(default_factory=dict)  # MR id -> PR URL (strategy "pr")

    @property
    def empty(self) -> bool:
        return self.batch == 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Refinery:
    """The merge queue engine of one rig. ``rig``: a Rig or a rig name; ``db``: the town database
    (opened from ``town.db_path`` when None). One refinery runs per rig at a time (a lock file)."""

    def __init__(self, town: Town, rig: Rig | str, db: Database | None = None) -> None:
        self.town = town
        self.rig_name = rig.name if isinstance(rig, Rig) else rig
        self.db = db if db is not None else connect(town.db_path)
        self._lock = filelock.FileLock(str(town.state_dir / f"refinery-{self.rig_name}.lock"))
        self.gate_pidfile = town.state_dir / f"refinery-{self.rig_name}.gate.pid"

    @property
    def actor(self) -> str:
        return f"{self.rig_name}/refinery"

    def process_all(self, max_batches: int | None = None, retry_now: bool = False) -> list[BatchResult]:
        """Run batches until the queue is empty, or waits for upstream (or ``max_batches`` ran).
        retry_now: the first batch ignores the wait after upstream failures. Returns the non-empty
        results."""
        out: list[BatchResult] = []
        while max_batches is None or len(out) < max_batches:
            result = self.process_once(retry_now=retry_now and not out)
            if result.empty:
                break
            out.append(result)
        return out

    def process_once(self, retry_now: bool = False) -> BatchResult:
        """Run one batch (see the module docstring) and return its result.

        After upstream failures the next batch waits (:func:`core.upstream.retry_in`): until then the
        result is empty with outcome ``waiting``, unless ``retry_now`` (a human asked).
        Raises Conflict if another refinery of this rig holds the lock, GitError if the rig's
        repository is unusable (the batch's MRs are then back in the queue).
        """
        wait = 0.0 if retry_now else upstream.retry_in(self.db, self.rig_name)
        if wait > 0:
            return BatchResult(0, self.rig_name, outcome="waiting", note=f"upstream retry in {wait:.0f} s")
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout as exc:
            raise Conflict(f"the refinery of rig {self.rig_name!r} is already running: wait for it") from exc
        try:
            rig = load_rig(self.town, self.rig_name)
            kill_leftover(self.gate_pidfile, rig.refinery_dir)  # a gate orphaned by a crashed refinery
            mq.requeue_merging(self.db, rig.name)
            batch, mrs = mq.claim_batch(
                self.db, rig.name, int(rig.setting("merge_queue", "max_batch_size")), aging_step=_aging_step(rig)
            )
            if not mrs:
                return BatchResult(0, rig.name)
            try:
                if upstream.strategy(rig) == "pr":
                    result = _PullRequests(self, rig, batch, mrs).run()
                else:
                    result = _Batch(self, rig, batch, mrs).run()
            except Exception:
                mq.requeue_merging(self.db, rig.name)
                raise
        finally:
            self._lock.release()
        return result


def _landing_failed(town: Town, db: Database, rig: Rig, error: str, actor: str) -> None:
    """:func:`core.upstream.landing_failed`, its escalation a high one to the Mayor (core.escalation)."""

    def escalate(text: str) -> str:
        return escalation.escalate(BeadStore(town, db=db), text, "high", actor=actor, rig=rig.name).id

    upstream.landing_failed(town, db, rig, error, actor, escalate)


def _aging_step(rig: Rig) -> float:
    """``[merge_queue] aging_step`` in seconds (the default when it is not a positive number)."""
    value = rig.setting("merge_queue", "aging_step")
    return (
        float(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        else mq.AGING_STEP_S
    )


class _Batch:
    """One batch in flight: stacks, gates, bisects and settles its MRs."""

    def __init__(self, refinery: Refinery, rig: Rig, batch: int, mrs: list[mq.MR]) -> None:
        self.refinery, self.db, self.rig, self.batch, self.mrs = refinery, refinery.db, rig, batch, mrs
        self.repo = rig.repo_path
        self.ref = f"refs/heads/{rig.default_branch}"
        self.gates: GateConfig = load_gates(rig.config, str(rig.path / "rig.toml"))
        self.retry_flaky = max(0, int(rig.setting("merge_queue", "retry_flaky")))
        self.logs_dir = refinery.town.logs_dir / "gates"
        self.direct = upstream.strategy(rig) == "direct"
        self.gate_runs = 0
        self._merges: dict[tuple[str, str], str] = {}  # (base commit, MR head) -> merge commit
        self._runs: dict[str, GateRun] = {}  # tree sha -> gate run
        self._reds: dict[str, int] = {}  # tree sha -> red runs with a single suspect
        self._green: set[str] = set()  # commits whose gates passed in this run
        self._worktree_ready = False

    # -- the batch ------------------------------------------------------------------------------

    def run(self) -> BatchResult:
        started = time.monotonic()
        result = BatchResult(self.batch, self.rig.name, mrs=[m.id for m in self.mrs])
        missing = [m for m in self.mrs if not git.commit_exists(self.repo, m.head_sha)]
        candidates = [m for m in self.mrs if m not in missing]
        try:
            for _ in range(MAX_CAS_ATTEMPTS):
                target, local = self._base()
                self.culprits: list[Culprit] = []
                self.conflicts: list[ConflictReport] = []
                landed = [m for m in candidates if git.is_ancestor(self.repo, m.head_sha, target)]
                self.accepted: list[tuple[mq.MR, str]] = [(m, self._landed_at(m, target)) for m in landed]
                tip = self._resolve(target, [m for m in candidates if m not in landed], first=True)
                self._vet_upstream(target, local)
                moved = self._land(target, local, tip)
                if moved is None:
                    result.rebuilds += 1
                    continue
                result.base, result.tip, result.moved = target, tip, moved
                break
            else:
                moving = "upstream" if self.direct else "the default branch"
                note = (
                    f"{moving} kept moving while the batch was gated ({MAX_CAS_ATTEMPTS} tries): "
                    "it is tried again in the next batch"
                )
                self._requeue(result, started, "lost_race", note)
                if self.direct:  # counted like a refusal: a push_url that never takes our tip escalates
                    _landing_failed(self.refinery.town, self.db, self.rig, note, self.refinery.actor)
                return result
        except UpstreamError as exc:
            return self._upstream_failed(result, started, str(exc))
        if self.direct:
            upstream.landing_ok(self.db, self.rig)
        result.merged = [m.id for m, _ in self.accepted]
        result.failed = [c.mr.id for c in self.culprits] + [m.id for m in missing]
        result.conflicts = [c.mr.id for c in self.conflicts]
        result.gate_runs = self.gate_runs
        if not result.failed and not result.conflicts:
            result.outcome = "green"
        else:
            result.outcome = "partial" if result.merged else "red"
        result.wall_s = time.monotonic() - started
        self._settle(result, missing)
        self._delete_merged_branches()
        return result

    def _base(self) -> tuple[str, str | None]:
        """(base, local): the commit the batch stacks on and the default branch's commit now. ``local``
        strategy: both the default branch; ``direct``: :func:`core.upstream.batch_base` (fetches)."""
        if self.direct:
            return upstream.batch_base(self.rig)
        target = git.rev_parse(self.repo, self.ref)
        if target is None:
            raise GitError(
                f"rig {self.rig.name} has no branch {self.rig.default_branch!r}: fix default_branch in rig.toml"
            )
        return target, target

    def _vet_upstream(self, base: str, local: str | None) -> None:
        """``direct``: before MRs are blamed on a base holding upstream commits no gate of this rig
        has judged (humans' pushes), gate the base alone. Raises UpstreamError when it is red itself:
        nothing is blamed or landed, the MRs wait for upstream to be fixed."""
        if not (self.direct and self.culprits and self.gates and local is not None and base != local):
            return
        run = self._gate(base, [], retries=self.retry_flaky)
        if run is not None and not run.ok:
            failed = run.failed
            raise UpstreamError(
                f"upstream {self.rig.default_branch} is red at {base[:12]} without any MR "
                f"({failed.summary() if failed else 'a gate failed'}): nothing is blamed or landed; "
                f"fix {self.rig.default_branch} upstream and the MRs merge on the next try"
            )

    def _land(self, base: str, local: str | None, tip: str) -> bool | None:
        """Land ``tip`` (stacked on ``base``): push it upstream first (``direct``, exactly the gated
        commit, fast-forward only), then compare-and-swap the default branch from ``local``.
        Returns whether the default branch moved, or None when the batch must be rebuilt (the branch,
        or upstream, moved meanwhile). Raises UpstreamError when upstream refuses or fails."""
        if tip != base and tip not in self._green and self.gates:
            raise AssertionError(f"refinery bug: {tip} was not gated green in this run")
        if not self.direct:
            if tip == base:
                return False
            return True if git.update_ref(self.repo, self.ref, tip, base) else None
        if git.rev_parse(self.repo, self.ref) != local:
            return None  # the default branch was moved here meanwhile: rebuild on it
        if tip != base and not upstream.push(self.rig, tip, self.rig.default_branch):
            return None  # upstream moved since the fetch: rebuild on its new tip, gate again
        if local == tip:
            return False
        # upstream has tip now (pushed, or base itself): the default branch follows it, fast-forward only
        current = local
        for _ in range(MAX_CAS_ATTEMPTS):
            if current is not None and not git.is_ancestor(self.repo, current, tip):
                return False  # moved by hand meanwhile: left alone (the next batch reports a divergence)
            if git.update_ref(self.repo, self.ref, tip, current or ""):
                return True
            current = git.rev_parse(self.repo, self.ref)
        return False

    def _requeue(self, result: BatchResult, started: float, outcome: str, note: str) -> BatchResult:
        """Put every MR of the batch back in the queue with ``note`` as its reason (nothing landed)."""
        result.outcome, result.note = outcome, note
        result.gate_runs = self.gate_runs
        result.wall_s = time.monotonic() - started
        with transaction(self.db):
            for m in self.mrs:
                self.db.execute(
                    "UPDATE merge_requests SET status = 'queued', reason = ?, updated_at = ? WHERE id = ?",
                    [note, time.time(), m.id],
                )
            mq.finish_batch(self.db, self.batch, outcome, 0, 0, 0, self.gate_runs, None, None)
        return result

    def _upstream_failed(self, result: BatchResult, started: float, error: str) -> BatchResult:
        """Upstream refused or failed (``error``: one line): the batch does not land, its MRs wait in
        the queue with the remote's message, the failure is counted (backoff, then an escalation:
        :func:`core.upstream.landing_failed`) and an ``upstream_failed`` event names it."""
        self._requeue(result, started, "upstream_failed", f"not landed: {error}")
        with transaction(self.db):
            events.append(
                self.db,
                "upstream_failed",
                self.refinery.actor,
                rig=self.rig.name,
                payload={
                    "batch": self.batch,
                    "mrs": [m.id for m in self.mrs],
                    "error": error,
                    "url": upstream.push_url(self.rig),
                },
            )
        _landing_failed(self.refinery.town, self.db, self.rig, error, self.refinery.actor)
        return result

    def _delete_merged_branches(self) -> None:
        """Delete the accepted MRs' branches (compare-and-swap on their head), except a branch still
        checked out in a worktree: deleting it there would leave that worktree on an unborn HEAD
        (a ``gt done`` interrupted before it detached). Such a branch is kept, with a ``branch_kept``
        event; it is merged, so nothing is lost."""
        listing = git.run_git(["worktree", "list", "--porcelain"], cwd=self.repo, check=False).stdout
        checked_out = {line[len("branch ") :] for line in listing.splitlines() if line.startswith("branch ")}
        for m, _ in self.accepted:
            ref = f"refs/heads/{m.branch}"
            if ref not in checked_out:
                git.delete_ref(self.repo, ref, m.head_sha)
                continue
            with transaction(self.db):
                events.append(
                    self.db,
                    "branch_kept",
                    self.refinery.actor,
                    rig=self.rig.name,
                    bead=m.bead,
                    payload={"mr": m.id, "branch": m.branch, "reason": "checked out in a worktree"},
                )

    def _landed_at(self, m: mq.MR, target: str) -> str:
        """The merge commit that landed MR ``m`` (already in ``target``, the default branch): the
        newest first-parent commit whose message names it (``Merge <branch> (<mr>, <bead>)``, as
        :meth:`_merge` writes), else ``target`` itself (merged by other means)."""
        out = git.run_git(
            [
                "log",
                "--first-parent",
                "--format=%H",
                "-n",
                "1",
                "--fixed-strings",
                f"--grep=Merge {m.branch} ({m.id}",
                target,
            ],
            cwd=self.repo,
            check=False,
        ).stdout.split()
        return out[0] if out else target

    def _resolve(self, base: str, mrs: list[mq.MR], first: bool = False) -> str:
        """Accept the good MRs of ``mrs`` on top of ``base`` (bisecting red stacks); return the new base."""
        stack = self._stack(base, mrs)
        if not stack:
            return base
        tip = stack[-1][1]
        run = self._gate(tip, [m for m, _ in stack], retries=self.retry_flaky if first else 0)
        if run is None or run.ok:
            self.accepted.extend(stack)
            return tip
        members = [m for m, _ in stack]
        if len(members) == 1:
            run = self._confirm_red(tip, members)
            if run is None or run.ok:  # the red was flaky: a retry passed
                self.accepted.extend(stack)
                return tip
            self.culprits.append(Culprit(members[0], run))
            return base
        mid = len(members) // 2
        base = self._resolve(base, members[:mid])
        return self._resolve(base, members[mid:])

    def _stack(self, base: str, mrs: list[mq.MR]) -> list[tuple[mq.MR, str]]:
        """Merge ``mrs`` in order onto ``base``: [(MR, commit after its merge)]; conflicts are recorded
        and left out."""
        out: list[tuple[mq.MR, str]] = []
        tip = base
        for m in mrs:
            key = (tip, m.head_sha)
            if key not in self._merges:
                self._merges[key] = self._merge(tip, m)
            commit = self._merges[key]
            if commit.startswith("conflict:"):
                files = commit[len("conflict:") :].split("\0") if len(commit) > len("conflict:") else []
                after = [c.mr.id for c in self.culprits]
                self.conflicts.append(ConflictReport(m, tip, files, after))
                continue
            out.append((m, commit))
            tip = commit
        return out

    def _merge(self, tip: str, m: mq.MR) -> str:
        """The merge commit of MR ``m`` onto ``tip`` (``tip`` itself when already merged), or
        ``conflict:<paths NUL-separated>``."""
        if git.is_ancestor(self.repo, m.head_sha, tip):
            return tip
        tree, files = git.merge_tree(self.repo, tip, m.head_sha)
        if tree is None:
            return "conflict:" + "\0".join(files)
        bead = f", {m.bead}" if m.bead else ""
        message = f"Merge {m.branch} ({m.id}{bead})\n\nMerged by the {self.rig.name} refinery, batch {self.batch}."
        return git.commit_tree(
            self.repo,
            tree,
            [tip, m.head_sha],
            message,
            name=self.refinery.actor,
            email=f"refinery@{self.rig.name}.gastown",
        )

    # -- gates ----------------------------------------------------------------------------------

    def _gate(self, commit: str, members: list[mq.MR], retries: int = 0) -> GateRun | None:
        """Gate ``commit`` (None when the rig has no gates), retrying red runs ``retries`` times.
        Results are cached by tree: a tree is gated at most once per batch (plus flaky retries, and
        the retries of :meth:`_confirm_red` before a red tree blames an MR)."""
        if not self.gates:
            return None
        tree = self._tree(commit)
        run = self._runs.get(tree)
        if run is None:
            run = self._retry(commit, tree, members, retries + 1)
        if run.ok:
            self._green.add(commit)
        return run

    def _confirm_red(self, commit: str, members: list[mq.MR]) -> GateRun | None:
        """Before blaming ``members`` (one MR) for the red tree of ``commit``: gate it again until it has
        been red in ``1 + retry_flaky`` runs that had it as the only suspect (``retry_flaky = 0``: any
        red is believed). A red seen while the tree
        was a bigger stack (the cached red half of a bisection, or the whole batch) is what singled
        it out, not evidence against it, so it does not count. Returns the final run (green when a
        retry passed)."""
        tree = self._tree(commit)
        need = self.retry_flaky + 1 - self._reds.get(tree, 0) if self.retry_flaky else 0  # 0: reds are believed
        run = self._runs.get(tree)
        if need > 0:
            run = self._retry(commit, tree, members, need)
        if run is not None and run.ok:
            self._green.add(commit)
        return run

    def _retry(self, commit: str, tree: str, members: list[mq.MR], attempts: int) -> GateRun:
        """Gate ``commit`` up to ``attempts`` times, stopping at the first green run; cache the last run
        under ``tree`` and count its red runs when ``members`` is a single suspect."""
        label = members[0].id if len(members) == 1 else f"batch-{self.batch}"
        run: GateRun | None = None
        for _ in range(max(1, attempts)):
            run = self._run_gates(commit, label, members)
            if run.ok:
                break
            if len(members) == 1:
                self._reds[tree] = self._reds.get(tree, 0) + 1
        assert run is not None
        self._runs[tree] = run
        return run

    def _tree(self, commit: str) -> str:
        return git.run_git(["rev-parse", f"{commit}^{{tree}}"], cwd=self.repo).stdout.strip()

    def _run_gates(self, commit: str, label: str, members: list[mq.MR]) -> GateRun:
        worktree = self._checkout(commit)
        run = run_gates(self.gates, worktree, self.logs_dir, label, pidfile=self.refinery.gate_pidfile)
        self.gate_runs += 1
        with transaction(self.db):
            mq.record_gate_run(self.db, [m.id for m in members], run.log_paths)
        return run

    def _checkout(self, commit: str) -> Path:
        """Put the scratch worktree at ``commit`` (rebuilding it once if it is missing or broken)."""
        path = self.rig.refinery_dir
        for attempt in range(2):
            try:
                if not self._worktree_ready and not git.worktree_valid(path, self.repo):
                    self._rebuild_worktree(path, commit)
                git.checkout_clean(path, commit)
                self._worktree_ready = True
                return path
            except GitError:
                if attempt:
                    raise
                self._worktree_ready = False
                self._rebuild_worktree(path, commit)
        return path

    def _rebuild_worktree(self, path: Path, commit: str) -> None:
        if path.exists():
            shutil.rmtree(path)
        git.worktree_add_detached(self.repo, path, commit)

    # -- settling -------------------------------------------------------------------------------

    def _settle(self, result: BatchResult, missing: list[mq.MR]) -> None:
        """Record every MR's final status, the batch metrics, the feed events and the bead and mail
        effects in one transaction (all or nothing; a crash before it leaves the MRs ``merging``)."""
        rig, actor = self.rig.name, self.refinery.actor
        fx = _Effects(self.refinery.town, self.db, self.rig)
        with transaction(self.db):
            for m, sha in self.accepted:
                mq.finish(self.db, m.id, "merged", f"merged into {self.rig.default_branch} at {sha[:12]}", sha)
                events.append(
                    self.db,
                    "merged",
                    actor,
                    rig=rig,
                    bead=m.bead,
                    payload={
                        "mr": m.id,
                        "branch": m.branch,
                        "merge_sha": sha,
                        "tip": result.tip,
                        "batch": self.batch,
                        "polecat": m.polecat,
                        "convoy": m.convoy,
                    },
                )
                fx.merged(m, sha)
            for c in self.culprits:
                failed = c.run.failed
                tail = log_tail(failed.log_path, 20) if failed else ""
                reason = failure_note(failed)
                mq.finish(self.db, c.mr.id, "failed", reason)
                follow_up = fx.failed(c.mr, reason, tail, failed)
                events.append(
                    self.db,
                    "merge_failed",
                    actor,
                    rig=rig,
                    bead=c.mr.bead,
                    payload={
                        "mr": c.mr.id,
                        "branch": c.mr.branch,
                        "batch": self.batch,
                        "gate": failed.gate if failed else None,
                        "log": str(failed.log_path) if failed else None,
                        "tail": tail,
                        "polecat": c.mr.polecat,
                        "follow_up": follow_up,
                    },
                )
            for m in missing:
                reason = f"commit {m.head_sha[:12]} is not in the rig repository: push the branch again"
                mq.finish(self.db, m.id, "failed", reason)
                events.append(
                    self.db,
                    "merge_failed",
                    actor,
                    rig=rig,
                    bead=m.bead,
                    payload={
                        "mr": m.id,
                        "branch": m.branch,
                        "batch": self.batch,
                        "missing": True,
                        "polecat": m.polecat,
                    },
                )
                fx.failed(m, reason, "")
            for r in self.conflicts:  # a ConflictReport (c above is a Culprit)
                why = f"conflicts with {self.rig.default_branch} in {', '.join(r.files) or 'the tree'}"
                if r.after:
                    why += f" once {', '.join(r.after)} left the batch"
                mq.finish(self.db, r.mr.id, "conflict", why)
                resolver = fx.conflict(r.mr, why, r.files)
                events.append(
                    self.db,
                    "merge_conflict",
                    actor,
                    rig=rig,
                    bead=r.mr.bead,
                    payload={
                        "mr": r.mr.id,
                        "branch": r.mr.branch,
                        "batch": self.batch,
                        "files": r.files,
                        "base": r.base,
                        "polecat": r.mr.polecat,
                        "conflict_bead": resolver,
                    },
                )
            result.landed = fx.land_convoys()
            mq.finish_batch(
                self.db,
                self.batch,
                result.outcome,
                len(result.merged),
                len(result.failed),
                len(result.conflicts),
                result.gate_runs,
                result.base,
                result.tip,
            )


class _PullRequests:
    """A batch of a ``pr`` rig: each MR's branch is pushed upstream (never forced) and a pull request
    is opened with ``gh`` (:func:`core.upstream.open_pr`); the forge's checks gate and merge it. An
    opened MR gets status ``pr_open`` with the PR's URL as its reason, its bead a comment naming the
    URL, and a ``pr_opened`` event. A failure leaves that MR and the rest queued with the one-line
    message (counted like a refused push: :func:`core.upstream.landing_failed`)."""

    def __init__(self, refinery: Refinery, rig: Rig, batch: int, mrs: list[mq.MR]) -> None:
        self.refinery, self.db, self.rig, self.batch, self.mrs = refinery, refinery.db, rig, batch, mrs

    def run(self) -> BatchResult:
        started = time.monotonic()
        result = BatchResult(self.batch, self.rig.name, mrs=[m.id for m in self.mrs], outcome="pull_requests")
        store = BeadStore(self.refinery.town, db=self.db)
        actor = self.refinery.actor
        for i, m in enumerate(self.mrs):
            try:
                if not git.commit_exists(self.rig.repo_path, m.head_sha):
                    raise GtError(f"commit {m.head_sha[:12]} is not in the rig repository: push the branch again")
                if not upstream.push(self.rig, m.head_sha, m.branch):
                    raise GtError(
                        f"upstream branch {m.branch} has commits this MR lacks (not a fast-forward): "
                        "merge them into the branch and run gt done again"
                    )
                title = store.get(m.bead).title if m.bead and store.exists(m.bead) else m.branch
                body = (
                    f"{m.bead or m.branch}: {title}\n\nMerge request {m.id} of rig {self.rig.name}, "
                    f"branch {m.branch} at {m.head_sha}, opened by the gastown-tui refinery."
                )
                url = upstream.open_pr(self.rig, m.branch, f"{m.bead}: {title}" if m.bead else title, body)
            except UpstreamError as exc:
                rest = self.mrs[i:]
                note = f"not landed: {exc}"
                with transaction(self.db):
                    for r in rest:
                        self.db.execute(
                            "UPDATE merge_requests SET status = 'queued', reason = ?, updated_at = ? WHERE id = ?",
                            [note, time.time(), r.id],
                        )
                    events.append(
                        self.db,
                        "upstream_failed",
                        actor,
                        rig=self.rig.name,
                        payload={
                            "batch": self.batch,
                            "mrs": [r.id for r in rest],
                            "error": str(exc),
                            "url": upstream.push_url(self.rig),
                        },
                    )
                _landing_failed(self.refinery.town, self.db, self.rig, str(exc), actor)
                result.outcome, result.note = "upstream_failed", note
                break
            except GtError as exc:
                with transaction(self.db):
                    mq.finish(self.db, m.id, "failed", str(exc))
                    events.append(
                        self.db,
                        "merge_failed",
                        actor,
                        rig=self.rig.name,
                        bead=m.bead,
                        payload={
                            "mr": m.id,
                            "branch": m.branch,
                            "batch": self.batch,
                            "reason": str(exc),
                            "polecat": m.polecat,
                        },
                    )
                result.failed.append(m.id)
                continue
            with transaction(self.db):
                mq.finish(self.db, m.id, "pr_open", f"pull request {url}")
                if m.bead and store.exists(m.bead):
                    store.add_comment(m.bead, f"{m.id}: pull request opened: {url}", actor)
                events.append(
                    self.db,
                    "pr_opened",
                    actor,
                    rig=self.rig.name,
                    bead=m.bead,
                    payload={"mr": m.id, "branch": m.branch, "head": m.head_sha, "url": url, "polecat": m.polecat},
                )
            result.pull_requests[m.id] = url
        else:
            upstream.landing_ok(self.db, self.rig)
        result.wall_s = time.monotonic() - started
        with transaction(self.db):
            mq.finish_batch(self.db, self.batch, result.outcome, 0, len(result.failed), 0, 0, None, None)
        return result


class _Effects:
    """Bead and mail effects of settled MRs (joins the caller's transaction; all plain SQL through
    the shared connection). MRs without a known bead or polecat skip those effects."""

    def __init__(self, town: Town, db: Database, rig: Rig) -> None:
        self.town, self.db, self.rig = town, db, rig
        self.store = BeadStore(town, db=db)
        self.actor = f"{rig.name}/refinery"
        self.convoys: set[str] = set()

    def _bead(self, m: mq.MR) -> str | None:
        """The id of the MR's bead when it names one that exists, else None."""
        return m.bead if m.bead and self.store.exists(m.bead) else None

    def _mail(self, m: mq.MR, subject: str, body: str) -> None:
        if not m.polecat:
            return
        try:
            to = mail.parse_address(f"{m.rig}/polecats/{m.polecat}")
        except GtError:
            return
        mail.send(self.town, to, subject, body, self.actor, db=self.db, priority=1)

    def merged(self, m: mq.MR, sha: str) -> None:
        """Close the MR's bead with the merge sha in the reason, and the follow-ups the refinery filed
        for its earlier failed or conflicting MRs that are still open; mail MERGED to its polecat."""
        if (bead := self._bead(m)) is not None:
            reason = f"merged {m.id} into {self.rig.default_branch} at {sha}"
            self.store.close(bead, self.actor, reason=reason, force=True)
            rows = self.db.execute(
                "SELECT i.id FROM issues i JOIN dependencies d ON d.issue_id = i.id WHERE d.depends_on_id = ? "
                "AND d.type = 'discovered-from' AND i.external_ref LIKE 'gt-mr:%' AND i.status != 'closed'",
                [bead],
            ).fetchall()
            for (follow_up,) in rows:
                self.store.close(str(follow_up), self.actor, reason=f"fixed: {bead} {reason}", force=True)
            self.convoys.update(convoys.convoys_tracking(self.store, bead))
        if m.convoy and self.store.exists(m.convoy) and self.store.get(m.convoy).issue_type == "convoy":
            self.convoys.add(m.convoy)
        self._mail(
            m, f"MERGED {m.bead or m.branch}", f"{m.id} ({m.branch}) merged into {self.rig.default_branch} at {sha}."
        )

    def land_convoys(self) -> list[str]:
        """Land the convoys of the merged beads whose tracked beads are now all closed
        (``core.convoys.check_landed``, race-free). Returns the ids landed."""
        return [c for c in sorted(self.convoys) if convoys.check_landed(self.store, c, actor=self.actor)]

    def failed(self, m: mq.MR, reason: str, tail: str, gate: GateResult | None = None) -> str | None:
        """Note the failure (with the failing gate's log tail) on the bead; with ``gate`` (the gate that
        convicted the MR) file its P1 "Fix <gate> failure" bug bead (:meth:`_follow_up`); mail
        FIX_NEEDED naming it (branch kept). Returns the follow-up's id (None without a gate or an
        original bead)."""
        text = f"{m.id} failed in the refinery: {reason}"
        if gate is not None:
            text += f"\n\nlog: {gate.log_path}"
        if tail:
            text += f"\n\nlog tail:\n{tail}"
        follow_up = None
        if (bead := self._bead(m)) is not None:
            self.store.add_comment(bead, text, self.actor)
            if gate is not None:
                follow_up = self._follow_up(
                    m,
                    "failed",
                    f"Fix {gate.gate} failure: {self.store.get(bead).title}",
                    text,
                    issue_type="bug",
                    description=(
                        f"{m.id} ({m.branch} at {m.head_sha}) of {m.bead} failed the {gate.gate} gate "
                        f"in the {self.rig.name} refinery ({gate.summary()}).\n\nLog: {gate.log_path}\n\n"
                        f"Log tail:\n{tail or '-'}\n\nFix the branch, commit and run gt done again "
                        f"(or gt mq retry {m.id} if the gate was flaky)."
                    ),
                )
        self._mail(
            m,
            f"FIX_NEEDED {m.bead or m.branch}",
            f"{text}\n\n"
            + (f"Filed {follow_up} to track the fix. " if follow_up else "")
            + f"Your branch {m.branch} is kept: fix it, commit and run gt done again.",
        )
        return follow_up

    def conflict(self, m: mq.MR, why: str, files: list[str]) -> str | None:
        """Note the conflict on the bead, file its P1 "resolve conflicts" task bead (:meth:`_follow_up`),
        mail the polecat. Returns the follow-up's id (None without an original bead)."""
        resolver = None
        if (bead := self._bead(m)) is not None:
            note = f"{m.id} {why}"
            self.store.add_comment(bead, note, self.actor)
            resolver = self._follow_up(
                m,
                "conflict",
                f"Resolve merge conflicts of {m.bead} ({m.branch})",
                note,
                issue_type="task",
                description=(
                    f"{m.id} ({m.branch} at {m.head_sha}) {why}.\n\nConflicted paths: "
                    f"{', '.join(files) or '-'}.\nMerge {self.rig.default_branch} into the branch, "
                    "resolve the conflicts, commit and run gt done again."
                ),
            )
        self._mail(
            m,
            f"CONFLICT {m.bead or m.branch}",
            f"{m.id} ({m.branch}) {why}." + (f" Filed {resolver} to resolve it." if resolver else ""),
        )
        return resolver

    def _follow_up(self, m: mq.MR, kind: str, title: str, note: str, *, issue_type: str, description: str) -> str:
        """The follow-up bead of ``kind`` for MR ``m`` (whose bead exists): while the last one filed
        (``external_ref`` ``gt-mr:<mr>:<kind>``) is not closed, ``note`` is added to it as a comment;
        otherwise a new P1 bead of ``issue_type`` is filed with the rig's prefix, ``discovered-from``
        the MR's bead (``title`` cut to the bead title limit). Returns its id."""
        assert m.bead is not None
        ref = f"gt-mr:{m.id}:{kind}"
        row = self.db.execute(
            "SELECT id FROM issues WHERE external_ref = ? AND status != 'closed' ORDER BY created_ns DESC LIMIT 1",
            [ref],
        ).fetchone()
        if row is not None:
            self.store.add_comment(str(row[0]), note, self.actor)
            return str(row[0])
        return self.store.create(
            title[:MAX_TITLE],
            actor=self.actor,
            prefix=self.rig.prefix,
            issue_type=issue_type,
            priority=1,
            external_ref=ref,
            deps=[(m.bead, "discovered-from")],
            description=description,
        ).id


#: Characters of the failing line quoted in an MR's note.
NOTE_QUOTE = 120


def failure_note(failed: GateResult | None) -> str:
    """The note of an MR its gate convicted: which gate failed and how, then the first line of its log
    that reports the failure (:func:`core.gates.read_log`), e.g. ``test gate failed (exit 1):
    FAILED tests/test_cache.py::test_ttl - assert 2 == 1``. The log itself is the MR's (the detail
    view shows it), so its path is not repeated here."""
    if failed is None:
        return "a gate failed"
    note = f"{failed.gate} gate failed ({failed.how})"
    log = read_log(failed.log_path)
    if log.failing:
        note += f": {one_line(log.failing[0]).strip()[:NOTE_QUOTE]}"
    return note
