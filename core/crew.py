"""Crew workspaces: a human's worktree inside a rig (DESIGN sections 1 and 3; issue 16 part 3).

A crew workspace ``NAME`` of rig ``R`` is a git worktree of the rig's bare repository
(``<town>/R/.repo.git``) at ``<town>/R/crew/NAME/``, on its own branch ``crew/NAME`` started from the
tip of the rig's default branch. The human edits and commits there with plain git, may run a tmux
session in it (``<rig>-crew-<name>`` on the town's private tmux server, :func:`start`: their shell
or an agent CLI), and hands the branch to the refinery with ``gt done`` (:func:`done`).

State owner: the filesystem and git, not the town database. A crew workspace exists exactly when
``<rig>/crew/<name>/`` is a directory (a valid worktree of the rig's repository, or reported as
broken); its branch, uncommitted files and commits ahead are read from git; its session from tmux.
Nothing about crew workspaces is stored in SQLite except what they cause elsewhere: the merge
requests their ``gt done`` queues (``merge_requests``, with ``polecat`` NULL and the branch
``crew/<name>``), the claim on a bead they finish, and feed events (``crew_added``,
``crew_removed``, ``crew_started``, ``crew_synced``, ``done`` with ``crew`` in the payload).

After the refinery merges a crew MR the branch stays: the refinery never deletes a branch checked out
in a worktree (``core.refinery``, ``branch_kept`` event). The human keeps committing on it, and
``gt crew sync NAME`` brings the merged default branch in (:func:`sync`: a fast-forward when the
branch has nothing new, else a rebase of its new commits).

Removal (:func:`remove`) refuses while the workspace holds uncommitted files, commits not on the
default branch, or a running session, unless forced; a forced removal first keeps what would be lost
(a snapshot commit of the uncommitted files, or the unmerged tip) under ``refs/crew-removed/<name>``,
so ``git branch NAME refs/crew-removed/<name>`` in the rig's repository brings it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import events, git, mq, upstream
from core.actor import current_actor
from core.errors import Conflict, GitError, GtError, NotFound
from core.names import POLECAT_NAME, check_crew_name
from core.rigs import Rig, list_rigs, load_rig
from core.roles import Role
from core.sessions import SessionHost, SessionInfo, session_name, user_shell
from core.town import Town

BRANCH_PREFIX = "crew/"
#: Where a forced removal keeps the work it would otherwise lose (one ref per crew name, overwritten).
REMOVED_REF = "refs/crew-removed/"
#: Session states of a crew workspace: no session, a live one, a dead pane (remain-on-exit).
SESSION_STATES = ("none", "running", "exited")

BANNER = """\
Gas Town crew workspace {address}
path: {path}
branch: {branch} (from {default})
Commit here with git; then:
  gt done                 queue this branch for the refinery (gt done --bead ID closes a bead on merge)
  gt crew sync {name:<10} bring the merged {default} into this branch
  gt mq list              the merge queue
"""


def branch_name(name: str) -> str:
    """The branch of crew workspace ``name``: ``crew/<name>`` (the name is validated first)."""
    return BRANCH_PREFIX + check_crew_name(name)


def crew_path(rig: Rig, name: str) -> Path:
    """``<rig>/crew/<name>`` (the name is validated first)."""
    return rig.crew_dir / check_crew_name(name)


def crew_session(rig: str, name: str) -> str:
    """The tmux session of crew workspace ``name`` of rig ``rig``: ``<rig>-crew-<name>``
    (:func:`core.sessions.session_name`)."""
    return session_name("crew", rig, check_crew_name(name))


def address(rig: str, name: str) -> str:
    """The crew workspace's address (mail, bead assignee, ``BD_ACTOR``): ``<rig>/crew/<name>``."""
    return f"{rig}/crew/{name}"


@dataclass
class Crew:
    """One crew workspace as the filesystem, git and tmux show it.

    rig, name, path; branch: checked out (None: detached HEAD, or not a worktree); valid: ``path``
    is a working worktree of the rig's repository; dirty: number of uncommitted paths; ahead: commits
    of HEAD not on the default branch (both None when not read: ``details=False`` or not valid);
    session: its tmux session name; session_state: one of :data:`SESSION_STATES`.
    """

    rig: str
    name: str
    path: str
    branch: str | None
    valid: bool
    dirty: int | None
    ahead: int | None
    session: str
    session_state: str

    @property
    def address(self) -> str:
        return address(self.rig, self.name)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (every field plus ``address``)."""
        return {**self.__dict__, "address": self.address}


def crew_names(rig: Rig) -> list[str]:
    """Names of the crew workspaces of ``rig``: directories in ``<rig>/crew`` whose name is a valid
    crew name, sorted (filesystem only, no git call; anything else there is ignored)."""
    if not rig.crew_dir.is_dir():
        return []
    return sorted(
        p.name for p in rig.crew_dir.iterdir() if p.is_dir() and not p.is_symlink() and POLECAT_NAME.match(p.name)
    )


def _session_state(info: SessionInfo | None) -> str:
    if info is None:
        return "none"
    return "running" if info.alive else "exited"


def _read(rig: Rig, name: str, sessions: dict[str, SessionInfo], details: bool) -> Crew:
    path = crew_path(rig, name)
    session = crew_session(rig.name, name)
    state = _session_state(sessions.get(session))
    if not details:
        return Crew(rig.name, name, str(path), None, True, None, None, session, state)
    valid = git.worktree_valid(path, rig.repo_path)
    branch = dirty = ahead = None
    if valid:
        branch = git.current_branch(path)
        dirty = len(git.dirty_paths(path))
        base = git.rev_parse(rig.repo_path, rig.default_branch)
        ahead = git.count_commits(path, base, "HEAD") if base else None
    return Crew(rig.name, name, str(path), branch, valid, dirty, ahead, session, state)


def _sessions(town: Town, host: SessionHost | None) -> dict[str, SessionInfo]:
    try:
        h = host or SessionHost(town)
        return {s.name: s for s in h.list()}
    except (GtError, OSError):
        return {}  # no tmux: every session state is "none"


def list_crew(
    town: Town,
    rig: str | None = None,
    *,
    host: SessionHost | None = None,
    sessions: dict[str, SessionInfo] | None = None,
    details: bool = True,
) -> list[Crew]:
    """The crew workspaces of the town (or of ``rig``), sorted by rig then name.

    sessions: the town's tmux sessions by name, when the caller has them (else read from ``host``,
    default the town's host; no tmux means no sessions). details: read branch, dirty and ahead from git
    (three git calls per workspace); False reads the filesystem and ``sessions`` only (the cockpit's
    snapshot, every second). Raises NotFound for an unknown ``rig``.
    """
    rigs = [load_rig(town, rig)] if rig is not None else list_rigs(town)
    if sessions is None:
        sessions = _sessions(town, host)
    return [_read(r, n, sessions, details) for r in rigs for n in crew_names(r)]


def find(town: Town, name: str, rig: str | None = None) -> tuple[Rig, Path]:
    """The rig and path of crew workspace ``name`` (in ``rig``, else the only rig that has it).

    Raises GtError for a bad name, NotFound when no rig (or not ``rig``) has it or when several do.
    """
    check_crew_name(name)
    rigs = [load_rig(town, rig)] if rig is not None else list_rigs(town)
    found = [r for r in rigs if crew_path(r, name).is_dir() and not crew_path(r, name).is_symlink()]
    if not found:
        where = f"rig {rig}" if rig else "any rig"
        raise NotFound(
            f"no crew workspace {name!r} in {where}: add it with 'gt crew add {name} --rig RIG' "
            "(see them with 'gt crew list')"
        )
    if len(found) > 1:
        raise NotFound(f"crew workspace {name!r} exists in rigs {', '.join(r.name for r in found)}: pass --rig")
    return found[0], crew_path(found[0], name)


def _require_worktree(rig: Rig, name: str, path: Path) -> None:
    """Raise GtError unless ``path`` is itself (not a symlink to) a worktree of the rig's repository."""
    if path.is_symlink() or not git.worktree_valid(path, rig.repo_path):
        raise GtError(
            f"{path} is not a worktree of rig {rig.name}'s repository: move it away, then add the "
            f"workspace again with 'gt crew add {name} --rig {rig.name}'"
        )


def _event(
    town: Town, kind: str, rig: str, payload: dict[str, Any], actor: str | None, bead: str | None = None
) -> None:
    from core.db import connect

    db = connect(town.db_path)
    try:
        events.append(db, kind, actor or current_actor(), rig=rig, bead=bead, payload=payload)
    finally:
        db.conn.close()


# ---------------------------------------------------------------------------------------- add


def add(town: Town, rig_name: str, name: str, actor: str | None = None) -> Crew:
    """Add crew workspace ``name`` to rig ``rig_name``: ``git worktree add -b crew/<name>
    <rig>/crew/<name> <default tip>`` (the commit, not the name, so a refinery moving the default
    branch meanwhile cannot split tree and branch). Appends a ``crew_added`` event.

    Raises GtError for a bad name, NotFound for an unknown rig, Conflict when the workspace, its
    directory or its branch already exists, GitError when git fails (nothing is left then).
    """
    rig = load_rig(town, rig_name)
    path = crew_path(rig, name)
    branch = branch_name(name)
    if path.exists() or path.is_symlink():
        raise Conflict(
            f"crew workspace {name!r} already exists in rig {rig.name} ({path}): use it with "
            f"cd \"$(gt crew at {name} --rig {rig.name})\", or remove it with 'gt crew remove {name}'"
        )
    if git.branch_exists(rig.repo_path, branch):
        raise Conflict(
            f"branch {branch} already exists in rig {rig.name}'s repository: choose another name, or "
            f"delete it with 'git -C {rig.repo_path} branch -D {branch}'"
        )
    base = upstream.start_point(rig)  # the freshest tip: upstream's when it is ahead
    if base is None:
        raise GtError(f"rig {rig.name} has no branch {rig.default_branch}: fix default_branch in rig.toml")
    rig.crew_dir.mkdir(parents=True, exist_ok=True)
    git.run_git(["worktree", "prune"], cwd=rig.repo_path)
    try:
        git.run_git(["worktree", "add", "--quiet", "-b", branch, str(path), base], cwd=rig.repo_path)
    except GitError:
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
        raise
    _event(town, "crew_added", rig.name, {"crew": name, "branch": branch, "path": str(path), "base": base}, actor)
    return _read(rig, name, {}, details=True)


# ------------------------------------------------------------------------------------- remove


@dataclass
class Removed:
    """What :func:`remove` did: the workspace's rig and name, whether its branch was deleted, and
    ``kept``: the commit saved under ``refs/crew-removed/<name>`` by a forced removal (None: nothing
    would have been lost)."""

    rig: str
    name: str
    branch: str | None
    branch_deleted: bool
    kept: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _checked_out(repo: Path) -> set[str]:
    """The refs (``refs/heads/...``) checked out in any worktree of the repository ``repo``."""
    listing = git.run_git(["worktree", "list", "--porcelain"], cwd=repo, check=False).stdout
    return {line[len("branch ") :] for line in listing.splitlines() if line.startswith("branch ")}


def _live_mrs(town: Town, branch: str) -> list[mq.MR]:
    """The queued or merging MRs of ``branch`` (empty when the town database has none)."""
    from core.db import connect

    db = connect(town.db_path)
    try:
        return [m for m in mq.list_mrs(db, statuses=("queued", "merging")) if m.branch == branch]
    finally:
        db.conn.close()


def remove(
    town: Town,
    name: str,
    rig: str | None = None,
    force: bool = False,
    host: SessionHost | None = None,
    actor: str | None = None,
) -> Removed:
    """Remove crew workspace ``name``: stop its session, remove its worktree and delete its branch
    ``crew/<name>`` (compare-and-swap on the tip seen) when the branch is merged into the default
    branch, or when ``force`` kept its tip (below); a branch checked out in another worktree is never
    deleted.

    Without ``force`` it refuses (Conflict, nothing changed) while the workspace holds uncommitted
    files, commits not on the default branch (naming a queued MR of them), or a running session.
    With ``force`` what would be lost is kept first under ``refs/crew-removed/<name>`` (see the module
    docstring). A directory that is not a worktree of the rig is never deleted (GtError). Appends a
    ``crew_removed`` event. Raises NotFound for an unknown workspace.
    """
    r, path = find(town, name, rig)
    _require_worktree(r, name, path)
    repo = r.repo_path
    branch = branch_name(name)
    ref = f"refs/heads/{branch}"
    h = host or SessionHost(town)
    session = crew_session(r.name, name)
    info = h.info(session)
    base = git.rev_parse(repo, f"refs/heads/{r.default_branch}")
    if base is None:
        raise GtError(f"rig {r.name} has no branch {r.default_branch}: fix default_branch in rig.toml")
    dirty = git.dirty_paths(path)
    head = git.head_sha(path)
    tip = git.rev_parse(repo, ref)
    unmerged = max(git.count_commits(repo, base, head), git.count_commits(repo, base, tip) if tip else 0)
    if not force:
        if info is not None and info.alive:
            raise Conflict(
                f"crew workspace {name!r} has a running session {session}: stop it with "
                f"'gt crew stop {name}', or pass --force"
            )
        if dirty:
            shown = ", ".join(dirty[:3]) + ("..." if len(dirty) > 3 else "")
            raise Conflict(
                f"crew workspace {name!r} has {len(dirty)} uncommitted file(s) ({shown}): commit them "
                f"and finish with 'gt done', or pass --force (they are kept under {REMOVED_REF}{name})"
            )
        if unmerged:
            pending = _live_mrs(town, branch)
            wait = f" ({pending[0].id} is {pending[0].status}: wait for the refinery)" if pending else ""
            raise Conflict(
                f"crew workspace {name!r} has {unmerged} commit(s) not on {r.default_branch}{wait}: "
                f"finish with 'gt done', or pass --force (they are kept under {REMOVED_REF}{name})"
            )
    if info is not None:
        h.kill(session)
    kept = None
    if dirty:
        kept = git.snapshot_commit(path, f"crew {name}: uncommitted work at gt crew remove --force")
    if kept is None and git.count_commits(repo, base, head):
        kept = head
    if kept is not None:
        git.run_git(["update-ref", "-m", "gt crew remove --force", f"{REMOVED_REF}{name}", kept], cwd=repo)
    git.worktree_remove(repo, path, force=force)
    # the branch goes when nothing of it would be lost: merged, or its tip inside what was kept (a
    # branch the human switched away from, holding other unmerged commits, stays)
    covered = tip is not None and (
        git.is_ancestor(repo, tip, base) or (kept is not None and git.is_ancestor(repo, tip, kept))
    )
    deleted = False
    if covered and tip is not None and ref not in _checked_out(repo):
        deleted = git.delete_ref(repo, ref, tip)
    _event(
        town,
        "crew_removed",
        r.name,
        {"crew": name, "branch": branch, "branch_deleted": deleted, "kept": kept, "forced": force},
        actor,
    )
    return Removed(r.name, name, branch if tip else None, deleted, kept)


# ------------------------------------------------------------------------------ sessions


def crew_env(town: Town, rig: Rig, name: str) -> dict[str, str]:
    """The environment of a crew session: GT_TOWN, GT_ROLE=crew, GT_RIG, GT_CREW and BD_ACTOR
    ``<rig>/crew/<name>``. The git author is left to the human's own git configuration (their
    commits are theirs, not a polecat's)."""
    return {
        "GT_TOWN": str(town.root),
        "GT_ROLE": "crew",
        "GT_RIG": rig.name,
        "GT_CREW": name,
        "BD_ACTOR": address(rig.name, name),
    }


def shell_argv(rig: Rig, name: str, path: Path) -> list[str]:
    """A crew shell session: ``sh -c`` printing :data:`BANNER` then exec-ing the user's shell
    (:func:`core.sessions.user_shell`). The script is a constant; banner and shell are positional
    arguments, never spliced into it."""
    banner = BANNER.format(
        address=address(rig.name, name), path=path, branch=branch_name(name), default=rig.default_branch, name=name
    )
    return ["sh", "-c", 'printf "%s\\n" "$1"; exec "$2"', "gt-crew", banner, user_shell()]


def start(
    town: Town,
    name: str,
    rig: str | None = None,
    agent: str | None = None,
    host: SessionHost | None = None,
    actor: str | None = None,
) -> SessionInfo:
    """Start the tmux session of crew workspace ``name`` (``<rig>-crew-<name>``) in its worktree:
    the user's shell (agent None), or the agent preset ``agent`` with no first prompt (the human
    talks to it; :func:`core.runtimes.start_agent`). A dead pane left by an earlier session is
    cleared first. Appends a ``crew_started`` event.

    Raises NotFound (workspace, preset), GtError (not a worktree, binary missing), Conflict when its
    session is already running; AgentStartError when the agent exits at start.
    """
    r, path = find(town, name, rig)
    _require_worktree(r, name, path)
    h = host or SessionHost(town)
    session = crew_session(r.name, name)
    info = h.info(session)
    if info is not None and info.alive:
        raise Conflict(
            f"session {session} of crew workspace {name!r} is already running: attach with "
            f"'tmux -L {h.socket} attach -t {session}', or stop it with 'gt crew stop {name}'"
        )
    if info is not None:
        h.kill(session)  # a dead pane (remain-on-exit): sessions are cattle
    env = crew_env(town, r, name)
    if agent is None:
        started = h.start(session, shell_argv(r, name, path), path, env=env)
        preset_name = "shell"
    else:
        from core import runtimes

        preset = runtimes.resolve(town, agent)
        started = runtimes.start_agent(h, session, preset, None, path, env=env, town=town)
        preset_name = preset.name
    _event(town, "crew_started", r.name, {"crew": name, "session": session, "agent": preset_name}, actor)
    return started


def stop(town: Town, name: str, rig: str | None = None, host: SessionHost | None = None) -> str:
    """Stop the session of crew workspace ``name`` (and every process it started). Returns the
    session name. Raises NotFound when the workspace or its session does not exist."""
    r, _ = find(town, name, rig)
    h = host or SessionHost(town)
    session = crew_session(r.name, name)
    if not h.exists(session):
        raise NotFound(f"crew workspace {name!r} has no session: start one with 'gt crew start {name}'")
    h.kill(session)
    return session


# --------------------------------------------------------------------------------- sync


@dataclass
class Synced:
    """What :func:`sync` did: ``action`` is ``up_to_date`` (the default branch has nothing new),
    ``fast_forward`` (the branch had nothing of its own, e.g. right after its MR merged) or
    ``rebased`` (its own new commits replayed on the default branch); ``head``: the new HEAD."""

    rig: str
    name: str
    branch: str
    action: str
    head: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sync(town: Town, name: str, rig: str | None = None, actor: str | None = None) -> Synced:
    """Bring the rig's default branch into crew workspace ``name``'s checked-out branch (see
    :class:`Synced`). Appends a ``crew_synced`` event when the branch moved.

    Raises Conflict (nothing changed) for uncommitted files, a detached HEAD, a rebase while an MR of
    the branch is queued or merging (its commits would be replaced under the refinery), or a rebase
    that conflicts (aborted again, naming the files: rebase by hand with git); NotFound, GtError.
    """
    r, path = find(town, name, rig)
    _require_worktree(r, name, path)
    branch = git.current_branch(path)
    if branch is None:
        raise Conflict(
            f"crew workspace {name!r} is on a detached HEAD: check out a branch first (git switch {branch_name(name)})"
        )
    if git.operation_in_progress(path):
        raise Conflict(f"crew workspace {name!r} has a git operation in progress: finish or abort it first")
    dirty = git.dirty_paths(path)
    if dirty:
        raise Conflict(
            f"crew workspace {name!r} has {len(dirty)} uncommitted file(s) ({', '.join(dirty[:3])}): "
            "commit or stash them first"
        )
    base = upstream.start_point(r)  # the freshest tip: upstream's when it is ahead
    if base is None:
        raise GtError(f"rig {r.name} has no branch {r.default_branch}: fix default_branch in rig.toml")
    head = git.head_sha(path)
    if git.is_ancestor(path, base, head):
        return Synced(r.name, name, branch, "up_to_date", head)
    if git.is_ancestor(path, head, base):
        git.run_git(["merge", "--quiet", "--ff-only", base], cwd=path)
        action = "fast_forward"
    else:
        pending = _live_mrs(town, branch)
        if pending:
            raise Conflict(
                f"{branch} has {pending[0].id} {pending[0].status}: wait for the refinery to merge it "
                f"before rebasing (then 'gt crew sync {name}' fast-forwards)"
            )
        proc = git.run_git(["rebase", "--quiet", base], cwd=path, check=False)
        if proc.returncode != 0:
            files = git.run_git(["diff", "--name-only", "--diff-filter=U"], cwd=path, check=False).stdout.split()
            git.run_git(["rebase", "--abort"], cwd=path, check=False)
            where = ", ".join(files[:5]) or "some files"
            raise Conflict(
                f"rebasing {branch} onto {r.default_branch} conflicts in {where}: nothing changed; "
                f"rebase by hand in {path} (git rebase {r.default_branch})"
            )
        action = "rebased"
    new = git.head_sha(path)
    _event(town, "crew_synced", r.name, {"crew": name, "branch": branch, "action": action, "head": new}, actor)
    return Synced(r.name, name, branch, action, new)


# --------------------------------------------------------------------------------- done


@dataclass
class CrewDone:
    """What a crew ``gt done`` did: the workspace's address, rig, branch, head sha, commits ahead of
    the default branch, the MR id and status (``queued``, or the status of the MR this branch and
    commit already had: ``gt done`` again is idempotent), and the bead it finishes (None: the MR
    closes no bead)."""

    crew: str
    rig: str
    branch: str
    head_sha: str
    commits: int
    mr: str
    mr_status: str
    bead: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def done(
    town: Town, role: Role, bead: str | None = None, message: str = "", actor: str | None = None, store: Any = None
) -> CrewDone:
    """Queue the checked-out branch of crew workspace ``role`` (``role.kind == "crew"``) for the
    refinery, as a polecat's ``gt done`` does, but for a human: nothing is committed for them (uncommitted
    files are refused), the branch stays checked out (the refinery keeps a checked-out branch after
    merging it), and no polecat goes idle.

    bead: a bead this work finishes (id or unique partial id; default ``role.bead``): it is claimed for
    ``<rig>/crew/<name>`` (``in_progress``, with a comment naming the MR) and the refinery closes it on
    merge. message: a note for that comment. The MR is idempotent per branch and commit; a newer commit
    supersedes the branch's queued MR (:func:`core.mq.submit`). Appends a ``done`` event.

    Raises GtError for uncommitted files, a detached HEAD or the default branch checked out, no commit
    ahead of the default branch, a closed bead or one of another rig; SecretRefused for files matching
    the secret patterns; Conflict for a bead claimed by someone else or awaiting another MR; NotFound.
    On any error nothing is changed.
    """
    from core.beads.store import BeadStore
    from core.convoys import convoys_tracking
    from core.secrets import refuse_secrets

    if role.kind != "crew" or not role.rig or not role.name:
        raise GtError("not inside a crew workspace: run gt done in <rig>/crew/<name>")
    rig = load_rig(town, role.rig)
    path = crew_path(rig, role.name)
    if not path.is_dir():
        raise NotFound(
            f"no crew workspace {role.name!r} in rig {rig.name}: add it with 'gt crew add {role.name} --rig {rig.name}'"
        )
    _require_worktree(rig, role.name, path)
    who = address(rig.name, role.name)
    actor = actor or who
    branch = git.current_branch(path)
    if branch is None:
        raise GtError(
            f"crew workspace {role.name!r} is on a detached HEAD: check out your branch "
            f"(git switch {branch_name(role.name)}) and commit your work there"
        )
    if branch == rig.default_branch:
        raise GtError(
            f"crew workspace {role.name!r} has {branch} checked out: the refinery merges into it; "
            f"commit on a branch of your own (git switch {branch_name(role.name)})"
        )
    dirty = git.dirty_paths(path)
    if dirty:
        shown = ", ".join(dirty[:3]) + ("..." if len(dirty) > 3 else "")
        raise GtError(
            f"crew workspace {role.name!r} has {len(dirty)} uncommitted file(s) ({shown}): commit them "
            "(git add, git commit) or stash them, then gt done again"
        )
    base = upstream.start_point(rig)  # the freshest tip: upstream's when it is ahead
    if base is None:
        raise GtError(f"rig {rig.name} has no branch {rig.default_branch}: fix default_branch in rig.toml")
    ahead = git.count_commits(path, base, "HEAD")
    if ahead == 0:
        raise GtError(
            f"nothing to submit: {branch} has no commits ahead of {rig.default_branch}; commit your work first"
        )
    refuse_secrets(rig, path, base)
    head = git.head_sha(path)
    own = store is None
    store = store or BeadStore(town)
    try:
        bead_id = store.resolve(bead or role.bead) if (bead or role.bead) else None
        with store.transaction():
            again = next(
                (m for m in mq.list_mrs(store.db, rig=rig.name) if m.branch == branch and m.head_sha == head), None
            )
            if again is not None:  # gt done run again on the same commit: the MR it already queued
                return CrewDone(who, rig.name, branch, head, ahead, again.id, again.status, again.bead)
            priority, convoy = 2, None
            if bead_id is not None:
                issue = _claimable(store, rig, bead_id, branch, who)
                priority = issue.priority
                tracking = convoys_tracking(store, bead_id)
                convoy = tracking[0] if tracking else None
            mr = mq.submit(
                store.db, rig, bead_id, None, branch, head, base, priority=priority, convoy=convoy, actor=actor
            )
            if bead_id is not None:
                store.cas_status(
                    bead_id,
                    {issue.status},
                    "in_progress",
                    actor,
                    assignee=who,
                    expected_assignee=issue.assignee,
                    note=f"awaiting merge: {mr.id}",
                )
                store.add_comment(
                    bead_id,
                    f"Awaiting merge: {mr.id} ({branch} at {head[:12]}, {ahead} commit(s)) "
                    f"from {who}" + (f". {message}" if message else ""),
                    actor,
                )
            events.append(
                store.db,
                "done",
                actor,
                rig=rig.name,
                bead=bead_id,
                payload={
                    "status": "COMPLETED",
                    "crew": role.name,
                    "mr": mr.id,
                    "branch": branch,
                    "head": head,
                    "commits": ahead,
                },
            )
    finally:
        if own:
            store.disconnect()
    return CrewDone(who, rig.name, branch, head, ahead, mr.id, mr.status, bead_id)


def _claimable(store: Any, rig: Rig, bead: str, branch: str, who: str) -> Any:
    """The bead ``bead`` if crew ``who`` may finish it with ``branch`` (inside the done's transaction):
    of this rig or the town, not closed, unassigned or already ``who``'s, no live MR of another branch.
    Raises GtError or Conflict naming the fix."""
    issue = store.get(bead)
    prefix = bead.split("-", 1)[0]
    if prefix not in (rig.prefix, store.town.prefix):
        raise GtError(f"bead {bead} belongs to another rig, not {rig.name}: finish it in that rig's crew workspace")
    if issue.status == "closed":
        raise GtError(f"bead {bead} is closed: reopen it first with 'gt bead reopen {bead}', or leave --bead out")
    if issue.assignee not in (None, "", who):
        raise Conflict(f"bead {bead} is claimed by {issue.assignee}: unsling or unclaim it first, or leave --bead out")
    for m in mq.of_bead(store.db, bead, ("queued", "merging")):
        if m.branch != branch:
            raise Conflict(
                f"bead {bead} awaits merge of {m.id} ({m.branch}): let the refinery finish it, or take "
                f"it out with 'gt mq reject {m.id} --reason WHY'"
            )
    return issue
