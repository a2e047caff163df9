"""``gt done`` and checkpoints: a polecat's end of work, and never losing what it has written.

done (DESIGN section 5): commit leftovers (safety net), require at least one commit ahead of the
default branch, make sure the branch is in the rig's bare repository (worktrees share its refs, so
the branch is already there), detach the worktree's HEAD (so the refinery may delete the branch once
merged), queue a merge request (idempotent per branch and sha), mark the bead awaiting merge
(``in_progress`` with a comment naming the MR), append a ``done`` event and set the polecat idle.
ESCALATED and DEFERRED record the reason and release the bead without an MR; ESCALATED
also raises a high escalation about the bead (:func:`core.escalation.escalate`: the escalation bead,
the Mayor's mail and the ``escalation`` event), as the witness does for a polecat it gives up on.

Crash windows: the worktree is detached before the MR exists, so no MR is ever queued for a branch
still checked out (the refinery would delete it under the worktree: an unborn HEAD). A ``gt done``
killed after detaching is simply run again: a detached HEAD at its branch's tip, or at the commit
of its MR, is recognised (:func:`_detached_branch`), the MR found again, and the bead settled; an MR
already merged just sets the polecat idle. When the agent does not run it again, the witness
settles the interrupted done itself (:func:`finish_interrupted`).

Checkpoints: uncommitted work is committed as a WIP commit on the polecat's branch when the agent
itself asks (``gt checkpoint``) or its session is dead; while the agent runs, the engine's periodic
checkpoint is a snapshot commit on ``refs/checkpoints/<polecat>/<bead>`` made with a temporary index,
so the agent's branch, HEAD and index never move under it. Either way a deleted worktree loses nothing.
"""

from __future__ import annotations

from core import events, git, mq, polecats
from core.beads.store import BeadStore
from core.board import held_for_board
from core.convoys import convoys_tracking
from core.errors import GtError, NotFound
from core.records import Record
from core.rigs import load_rig
from core.secrets import refuse_secrets
from core.upstream import start_point
from core.worktrees import branch_name, worktree_path

TYPE_CHECKING = False  # typing's import is not worth it for every gt done (mypy reads the block)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from core.polecats import Polecat
    from core.rigs import Rig
    from core.roles import Role
    from core.town import Town

STATUSES = ("COMPLETED", "ESCALATED", "DEFERRED")


class DoneResult(Record):
    """What ``gt done`` did: status, bead, polecat address, and for COMPLETED the MR id, branch, head sha
    and the number of commits ahead of the default branch."""

    __slots__ = _FIELDS = ("status", "bead", "polecat", "mr", "branch", "head_sha", "commits")
    status: str
    bead: str
    polecat: str
    mr: str | None
    branch: str | None
    head_sha: str | None
    commits: int

    def __init__(
        self,
        status: str,
        bead: str,
        polecat: str,
        mr: str | None = None,
        branch: str | None = None,
        head_sha: str | None = None,
        commits: int = 0,
    ) -> None:
        self.status, self.bead, self.polecat = status, bead, polecat
        self.mr, self.branch, self.head_sha, self.commits = mr, branch, head_sha, commits

    def as_dict(self) -> dict[str, Any]:
        """The fields by name, in order (``gt done --json``)."""
        return {field: getattr(self, field) for field in self._FIELDS}


def author_env(rig: str, polecat: str) -> dict[str, str]:
    """Git author/committer variables of a polecat (``<rig>/polecats/<name>``)."""
    address = f"{rig}/polecats/{polecat}"
    email = f"{polecat}@{rig}.gastown"
    return {
        "GIT_AUTHOR_NAME": address,
        "GIT_COMMITTER_NAME": address,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_EMAIL": email,
    }


def _polecat_of(store: BeadStore, role: Role) -> tuple[Polecat, Rig, Path]:
    p = polecats.get(store.db, role.rig or "", role.name or "")
    if p is None:
        raise NotFound(f"{role.address} is not a known polecat: polecats are made by 'gt sling'")
    assert store.town is not None
    rig = load_rig(store.town, p.rig)
    path = worktree_path(rig, p.name)
    if not path.is_dir():
        raise GtError(f"the worktree of {p.address} ({path}) is gone: resume with 'gt sling --resume BEAD'")
    return p, rig, path


def done(
    town: Town,
    role: Role,
    status: str = "COMPLETED",
    message: str = "",
    actor: str | None = None,
    store: BeadStore | None = None,
) -> DoneResult:
    """Finish the work of the polecat ``role`` (see the module docstring).

    status: COMPLETED | ESCALATED | DEFERRED. message: the reason (ESCALATED/DEFERRED) or a note.
    Raises GtError for a bad status, nothing on the hook, or nothing to submit (no commit ahead of the
    default branch); SecretRefused (COMPLETED) when the leftovers or the branch hold files matching the
    secret patterns (:func:`core.secrets.refuse_secrets`); NotFound for an unknown polecat. On those
    errors nothing is changed.
    """
    status = status.upper()
    if status not in STATUSES:
        raise GtError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
    store = store or BeadStore(town)
    p, rig, path = _polecat_of(store, role)
    actor = actor or p.address
    bead = p.hook_bead or role.bead
    if not bead:
        raise GtError(f"nothing is hooked to {p.address}: there is no work to finish")
    issue = store.get(bead)
    env = author_env(p.rig, p.name)
    if status != "COMPLETED":
        return _release(store, p, rig, path, bead, status, message, actor, env)
    branch = git.current_branch(path)
    detached = branch is None
    if branch is None:
        branch = _detached_branch(store, rig, p, bead, path)
        detached = git.current_branch(path) is None  # it checks the branch out when files wait
    head = git.head_sha(path)
    merged = _mr_at(store, bead, branch, head, ("merged",))
    if merged is not None:  # an interrupted gt done whose MR the refinery merged meanwhile
        _settle_merged(store, p, bead, merged, actor)
        return DoneResult(status, bead, p.address, merged.id, branch, merged.head_sha, 0)
    base_sha = start_point(rig)  # the polecat's work starts after it (the freshest tip it could see)
    if base_sha is None:
        raise GtError(f"rig {rig.name} has no branch {rig.default_branch}: fix default_branch in rig.toml")
    status_entries = git.worktree_status(path)  # one read each of the leftovers and the branch
    commits = git.branch_commits(path, base_sha)
    refuse_secrets(rig, path, base_sha, status_entries, commits)  # before anything is committed: secrets never merge
    ahead = len(commits)
    ahead_before = None
    if status_entries:
        ahead_before = ahead
        committed = git.commit_all(path, f"{bead}: {issue.title}\n\nLeftovers committed by gt done.", env=env)
        if committed:
            ahead, head = ahead + 1, committed
    if ahead == 0:
        raise GtError(
            f"nothing to submit: {branch} has no commits ahead of {rig.default_branch}; commit your "
            f"work first, or use 'gt done --status DEFERRED -m WHY'"
        )
    if git.rev_parse(rig.repo_path, f"refs/heads/{branch}") != head and _mr_at(store, bead, branch, head) is None:
        raise GtError(f"branch {branch} is not at {head[:12]} in the rig's repository: check 'git status' in {path}")
    tracking = convoys_tracking(store, bead)
    if not detached:
        git.detach_head(path)  # frees the branch before its MR exists: the refinery deletes it once merged
    try:
        mr = mq.submit(
            store.db,
            rig,
            bead,
            p.name,
            branch,
            head,
            base_sha,
            priority=issue.priority,
            convoy=tracking[0] if tracking else None,
            actor=actor,
            status="board" if held_for_board(store.db, bead) else "queued",
        )
    except BaseException:
        if not detached:
            git.run_git(["checkout", "--quiet", branch], cwd=path)  # nothing changed: back on the branch
        raise
    # from here the MR is queued and the worktree stays detached: a failure below is finished by
    # running gt done again (or by the witness, finish_interrupted)
    _settle_done(store, p, bead, mr, branch, head, ahead, ahead_before, message, status, actor)
    return DoneResult(status, bead, p.address, mr.id, branch, head, ahead)


def _mr_at(
    store: BeadStore, bead: str, branch: str, head: str, statuses: tuple[str, ...] | None = None
) -> mq.MR | None:
    """The MR of ``bead`` for ``branch`` at commit ``head`` (with one of ``statuses``), or None."""
    return next((m for m in mq.of_bead(store.db, bead, statuses) if m.branch == branch and m.head_sha == head), None)


def _detached_branch(store: BeadStore, rig: Rig, p: Polecat, bead: str, path: Path) -> str:
    """The branch of a worktree an interrupted ``gt done`` left on a detached HEAD: its HEAD is at the
    tip of ``polecat/<name>/<bead>``, or at the commit of an MR of that branch (the refinery may have
    merged and deleted it). Uncommitted files are brought back onto the branch when it is at HEAD
    (``git checkout`` keeps them). Raises GtError for any other detached HEAD."""
    branch = branch_name(p.name, bead)
    head = git.head_sha(path)
    at_tip = git.rev_parse(rig.repo_path, f"refs/heads/{branch}") == head
    if not at_tip and _mr_at(store, bead, branch, head) is None:
        raise GtError(
            f"the worktree {path} is on a detached HEAD: check out your branch {branch} and commit your work there"
        )
    if at_tip and git.dirty_paths(path):
        git.run_git(["checkout", "--quiet", branch], cwd=path)  # leftovers are committed on the branch
    return branch


def finish_interrupted(store: BeadStore, p: Polecat, actor: str) -> mq.MR | None:
    """Settle a ``gt done`` killed after it queued its MR (the polecat still hooked, its worktree
    detached at the MR's commit): the bead awaits merge (or the polecat is just set idle when the MR
    was merged), exactly as the done would have finished. Returns the MR, or None when ``p``'s hook
    shows no such interrupted done (nothing is changed then)."""
    bead = p.hook_bead
    if not bead:
        return None
    assert store.town is not None
    try:
        rig = load_rig(store.town, p.rig)
    except GtError:
        return None
    path = worktree_path(rig, p.name)
    if not path.is_dir() or git.current_branch(path) is not None:
        return None
    try:
        head = git.head_sha(path)
    except GtError:
        return None
    mr = _mr_at(store, bead, branch_name(p.name, bead), head, ("queued", "merging", "merged"))
    if mr is None or mr.polecat != p.name:
        return None
    if mr.status == "merged":
        _settle_merged(store, p, bead, mr, actor)
    else:
        base = mr.base_sha or head
        ahead = git.count_commits(rig.repo_path, base, head) if mr.base_sha else 0
        _settle_done(
            store,
            p,
            bead,
            mr,
            mr.branch,
            head,
            ahead,
            None,
            "settled by the witness after an interrupted gt done",
            "COMPLETED",
            actor,
        )
    return mr


def _settle_merged(store: BeadStore, p: Polecat, bead: str, mr: mq.MR, actor: str) -> None:
    """An interrupted ``gt done`` whose MR already merged: the refinery closed the bead; the polecat
    goes idle and a ``done`` event says so."""
    with store.transaction():
        polecats.upsert(store.db, p.rig, p.name, state="idle", hook_bead=None)
        events.append(
            store.db,
            "done",
            actor,
            rig=p.rig,
            bead=bead,
            payload={
                "status": "COMPLETED",
                "polecat": p.name,
                "mr": mr.id,
                "branch": mr.branch,
                "head": mr.head_sha,
                "already_merged": True,
            },
        )


def _settle_done(
    store: BeadStore,
    p: Polecat,
    bead: str,
    mr: mq.MR,
    branch: str,
    head: str,
    ahead: int,
    ahead_before: int | None,
    message: str,
    status: str,
    actor: str,
) -> None:
    """The database side of a COMPLETED ``gt done``, in one transaction: bead awaiting merge, comment,
    polecat idle (a sling may reuse its worktree from then on), ``done`` event."""
    with store.transaction():
        store.cas_status(bead, {"hooked", "in_progress"}, "in_progress", actor, note=f"awaiting merge: {mr.id}")
        store.add_comment(
            bead,
            f"Awaiting merge: {mr.id} ({branch} at {head[:12]}, {ahead} commit(s))"
            + (f". {message}" if message else ""),
            actor,
        )
        polecats.upsert(store.db, p.rig, p.name, state="idle", hook_bead=None)
        events.append(
            store.db,
            "done",
            actor,
            rig=p.rig,
            bead=bead,
            payload={
                "status": status,
                "polecat": p.name,
                "mr": mr.id,
                "branch": branch,
                "head": head,
                "commits": ahead,
                "leftovers": ahead_before is not None and ahead > ahead_before,
            },
        )


def _release(
    store: BeadStore,
    p: Polecat,
    rig: Rig,
    path: Path,
    bead: str,
    status: str,
    message: str,
    actor: str,
    env: dict[str, str],
) -> DoneResult:
    if not message.strip():
        raise GtError(f'--status {status} needs a reason: pass -m "WHY"')
    if git.current_branch(path) and git.dirty_paths(path):
        git.commit_all(path, f"{bead}: WIP before {status.lower()} by gt done", env=env)
    new_status = "deferred" if status == "DEFERRED" else "open"
    with store.transaction():
        store.cas_status(bead, {"hooked", "in_progress"}, new_status, actor, assignee=None, note=f"{status}: {message}")
        store.add_comment(bead, f"{status} by {p.address}: {message}", actor)
        polecats.upsert(store.db, p.rig, p.name, state="idle", hook_bead=None)
        events.append(
            store.db,
            "done",
            actor,
            rig=p.rig,
            bead=bead,
            payload={"status": status, "polecat": p.name, "reason": message},
        )
        if status == "ESCALATED":
            from core import escalation

            escalation.escalate(
                store, f"{bead} escalated by {p.address}: {message.strip()}", "high", actor=actor, about=bead, rig=p.rig
            )
    return DoneResult(status, bead, p.address)


def checkpoint_ref(polecat: str, bead: str) -> str:
    """Where the engine keeps a running polecat's snapshot: ``refs/checkpoints/<polecat>/<bead>``."""
    return f"refs/checkpoints/{polecat}/{bead}"


def save_checkpoint(
    town: Town, rig: Rig, p: Polecat, actor: str, session_alive: bool, store: BeadStore | None = None
) -> str | None:
    """Save ``p``'s uncommitted work. session_alive False (or the agent asking): a WIP commit on its
    branch; True: a snapshot commit on :func:`checkpoint_ref`, leaving branch, HEAD and index alone.
    Returns the commit sha, or None when there was nothing to save. Appends a ``checkpoint`` event."""
    path = worktree_path(rig, p.name)
    if not path.is_dir() or not git.dirty_paths(path):
        return None
    bead = p.hook_bead or "none"
    message = f"{bead}: WIP checkpoint of {p.address}"
    if not session_alive and git.current_branch(path):
        sha = git.commit_all(path, message, env=author_env(p.rig, p.name))
        where = git.current_branch(path)
    else:
        sha = git.snapshot_commit(path, message, env=author_env(p.rig, p.name))
        where = checkpoint_ref(p.name, bead)
        if sha:
            git.run_git(["update-ref", where, sha], cwd=rig.repo_path)
    if sha:
        db = store.db if store else None
        own = None
        if db is None:
            own = BeadStore(town)
            db = own.db
        try:
            events.append(
                db,
                "checkpoint",
                actor,
                rig=p.rig,
                bead=p.hook_bead,
                payload={"polecat": p.name, "sha": sha, "ref": where},
            )
        finally:
            if own is not None:
                own.disconnect()
    return sha


def restore_checkpoint(rig: Rig, p: Polecat, bead: str) -> bool:
    """Bring back the snapshot of :func:`checkpoint_ref` into a worktree re-created after it was
    deleted: its files come back as uncommitted changes. Only when the snapshot sits on the branch's
    current head. Returns True if files were restored."""
    path = worktree_path(rig, p.name)
    ref = checkpoint_ref(p.name, bead)
    snap = git.rev_parse(rig.repo_path, ref)
    if snap is None or git.dirty_paths(path):
        return False
    parent = git.run_git(["rev-parse", f"{snap}^"], cwd=path, check=False).stdout.strip()
    if parent != git.head_sha(path):
        return False
    git.run_git(["checkout", snap, "--", "."], cwd=path)
    git.run_git(["reset", "--quiet"], cwd=path)
    return True
