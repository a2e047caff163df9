"""Upstream: the rig's own repository, where merged work lands and whose new commits polecats start
from (issue 16; DESIGN section 6, "Landing").

Which repository: ``git_url`` in ``rig.toml`` is fetched from, ``push_url`` (when set) is pushed to,
else ``git_url``. Credentials are git's own (credential helpers, the SSH agent, ``gh auth`` for pull
requests): gastown-tui never stores, reads or passes any. Every fetch and push is the git CLI with an
argv list and a timeout (``[upstream] timeout`` seconds; ``GIT_TERMINAL_PROMPT=0``, no stdin, so a
missing credential fails instead of waiting for a password).

How merged work lands, ``[merge_queue] strategy`` (:func:`strategy`):

- ``direct``: before each batch the refinery fetches the upstream default branch (:func:`batch_base`),
  stacks the batch on the later of the upstream tip and the rig's own default branch, gates it, and
  pushes exactly the gated tip as ``git push URL <tip>:refs/heads/<default>`` (:func:`push`), never
  with ``--force`` or a lease: git itself refuses a push that is not a fast-forward, so a commit a
  human pushed upstream meanwhile is never lost or rewritten. A push refused because upstream moved
  returns False: the refinery rebuilds the batch on the new tip and gates it again. Any other refusal
  (permissions, a protected branch, a hook), a network failure or a deleted remote raises
  :class:`UpstreamError` with the remote's own message on one line (:func:`remote_message`;
  remote text is hostile: control sequences are stripped); the batch does not land and nothing
  local moves.
- ``local``: the batch lands in the rig's bare clone ``<rig>/.repo.git`` only; the source repository
  is never written (and not fetched by the refinery).
- ``pr``: each MR's branch is pushed upstream (never forced) and a pull request is opened with the
  GitHub CLI (:func:`open_pr`: ``gh`` found on PATH; the argv is built by :func:`pr_argv`). The
  forge's checks gate and merge it; the refinery records the PR's URL.

``gt rig add`` picks ``direct`` when git may push to the repository (:func:`can_push`, a
``git push --dry-run``), else ``local``. A local checkout (a non-bare repository given by path) is
pushed to with ``receive.denyCurrentBranch=updateInstead`` for that push: git moves its checked-out
branch and files only when the checkout is clean, and refuses otherwise (the MRs then wait, saying
why) - it never makes a checkout's files disagree with its branch.

Refs: the upstream default branch is fetched into the bare clone's remote-tracking ref
``refs/remotes/origin/<default>`` (:func:`tracking_ref`, force-updated: it mirrors upstream). Only
the refinery moves the rig's own ``refs/heads/<default>``. New polecat worktrees start from
:func:`start_point`: the tracking tip when it is ahead of the rig's default branch.

State: one row per rig in the ``upstream`` table (:class:`UpstreamState`): the last fetch (time, tip,
error), how far the rig's default branch is behind and ahead of upstream, and the landing failures in
a row with the time of the next try (:func:`retry_in`: the wait doubles from ``[upstream]
retry_after``, at most :data:`MAX_RETRY_S`) and the escalation raised after ``escalate_after`` of
them (:func:`landing_failed`).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any


from core import events, git
from core.db import Database, ensure_schema, register_schema, transaction
from core.errors import GitError
from core.plaintext import one_line, strip_controls
from core.remote import is_local, local_checkout, may_push, remote_message

if TYPE_CHECKING:
    from core.rigs import Rig
    from core.town import Town

#: The longest wait between two landing tries after failures, in seconds.
MAX_RETRY_S = 600.0
#: A sling does not fetch again when the last fetch is younger than this (seconds).
SLING_FRESH_S = 30.0
#: The receive-pack that pushes into a non-bare local checkout (see the module docstring).
CHECKOUT_RECEIVE_PACK = "git -c receive.denyCurrentBranch=updateInstead receive-pack"

_DDL = """
CREATE TABLE IF NOT EXISTS upstream (
    rig TEXT PRIMARY KEY,
    fetched_at REAL,
    fetch_error TEXT NOT NULL DEFAULT '',
    tip TEXT,
    behind INTEGER,
    ahead INTEGER,
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    retry_at REAL NOT NULL DEFAULT 0,
    escalation TEXT,
    updated_at REAL NOT NULL
)
"""
register_schema("upstream", _DDL)


class UpstreamError(GitError):
    """The upstream refused a push or fetch, or could not be reached. The message is one line: what
    failed, the remote's own words (sanitised) and the fix. Exit status 1: not the caller's input."""

    exit_code = 1


@dataclass
class UpstreamState:
    """A rig's upstream row. Times are Unix seconds (None: never). ``behind``/``ahead``: commits the
    rig's default branch lacks / has over the fetched upstream tip (None: unknown). ``failures``:
    landing failures in a row; ``retry_at``: no landing is tried before it; ``escalation``: the bead
    of the escalation raised for this run of failures."""

    rig: str
    fetched_at: float | None = None
    fetch_error: str = ""
    tip: str | None = None
    behind: int | None = None
    ahead: int | None = None
    failures: int = 0
    last_error: str = ""
    retry_at: float = 0.0
    escalation: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# -- configuration ------------------------------------------------------------------------------


def strategy(rig: Rig) -> str:
    """The rig's ``[merge_queue] strategy``: one of :data:`core.config.STRATEGIES` (checked when rig.toml loads)."""
    return str(rig.setting("merge_queue", "strategy"))


def fetch_url(rig: Rig) -> str:
    """The URL (or path) upstream is fetched from: ``git_url``."""
    return rig.git_url


def push_url(rig: Rig) -> str:
    """The URL (or path) merged work is pushed to: ``push_url``, else ``git_url``."""
    return str(rig.setting(None, "push_url") or "") or rig.git_url


def tracking_ref(rig: Rig) -> str:
    """The bare clone's remote-tracking ref of the upstream default branch."""
    return f"refs/remotes/origin/{rig.default_branch}"


def _timeout(rig: Rig) -> float:
    return float(rig.setting("upstream", "timeout"))


def _remote_git(rig: Rig, args: list[str], timeout: float | None, what: str) -> subprocess.CompletedProcess[str]:
    """Run a networked git command in the rig's bare clone; a timeout or a failure to start is an
    UpstreamError naming ``what``."""
    limit = _timeout(rig) if timeout is None else timeout
    try:
        return git.run_git(args, cwd=rig.repo_path, check=False, timeout=limit)
    except subprocess.TimeoutExpired:
        raise UpstreamError(
            f"{what} timed out after {limit:g} s: check the network and the remote, or raise "
            f"[upstream] timeout in {rig.path / 'rig.toml'}"
        ) from None
    except OSError as exc:
        raise UpstreamError(f"{what} could not run git: {one_line(str(exc))}") from None


# -- fetch ----------------------------------------------------------------------------------------


def fetch(rig: Rig, timeout: float | None = None) -> str:
    """Fetch the upstream default branch into :func:`tracking_ref` (forced: it mirrors upstream).

    timeout: seconds (default ``[upstream] timeout``). Returns the upstream tip's sha.
    Raises UpstreamError naming the URL and the remote's message when the fetch fails.
    """
    url, branch = fetch_url(rig), rig.default_branch
    proc = _remote_git(
        rig,
        [
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
            url,
            f"+refs/heads/{branch}:{tracking_ref(rig)}",
        ],
        timeout,
        f"fetching {url}",
    )
    if proc.returncode != 0:
        raise UpstreamError(
            f"cannot fetch {branch} from {url}: {remote_message(proc)}: check git_url in "
            f"{rig.path / 'rig.toml'} and that the remote is reachable"
        )
    sha = git.rev_parse(rig.repo_path, tracking_ref(rig))
    if sha is None:
        raise UpstreamError(f"fetching {branch} from {url} left no {tracking_ref(rig)}: run gt rig sync {rig.name}")
    return sha


def start_point(rig: Rig) -> str | None:
    """The commit (sha) a new polecat worktree starts from, and ``gt done`` counts its work from: the
    rig's default branch, or with ``direct``/``pr`` the fetched upstream tip when it is ahead of it
    (a descendant). None when neither exists."""
    local = git.rev_parse(rig.repo_path, f"refs/heads/{rig.default_branch}")
    if strategy(rig) == "local":
        return local
    remote = git.rev_parse(rig.repo_path, tracking_ref(rig))
    if remote is None:
        return local
    if local is None or (remote != local and git.is_ancestor(rig.repo_path, local, remote)):
        return remote
    return local


def batch_base(rig: Rig) -> tuple[str, str | None]:
    """For a ``direct`` batch: fetch upstream, then (base, local) where ``local`` is the rig's default
    branch now and ``base`` what the batch stacks on: the upstream tip, or ``local`` when it is ahead
    of upstream (work that landed here and was not pushed yet, e.g. under ``local``).

    Raises UpstreamError when the fetch fails or the two have diverged (upstream was rewritten:
    landing would need a force push, which is never done).
    """
    remote = fetch(rig)
    local = git.rev_parse(rig.repo_path, f"refs/heads/{rig.default_branch}")
    if local is None or local == remote or git.is_ancestor(rig.repo_path, local, remote):
        return remote, local
    if git.is_ancestor(rig.repo_path, remote, local):
        return local, local
    raise UpstreamError(
        f"upstream {rig.default_branch} ({remote[:12]}) and the rig's {rig.default_branch} ({local[:12]}) have "
        f"diverged (was upstream rewritten?): nothing is pushed; inspect both in {rig.repo_path} and move the rig's "
        f'branch by hand (git update-ref refs/heads/{rig.default_branch} SHA), or set strategy = "local"'
    )


def behind_ahead(rig: Rig) -> tuple[int, int] | None:
    """(behind, ahead): commits the fetched upstream tip has that the rig's default branch lacks, and
    the reverse; None before the first fetch or when a ref is missing."""
    local = git.rev_parse(rig.repo_path, f"refs/heads/{rig.default_branch}")
    remote = git.rev_parse(rig.repo_path, tracking_ref(rig))
    if local is None or remote is None:
        return None
    if local == remote:
        return 0, 0
    proc = git.run_git(["rev-list", "--left-right", "--count", f"{local}...{remote}"], cwd=rig.repo_path, check=False)
    try:
        ahead, behind = (int(x) for x in proc.stdout.split())
    except ValueError:
        return None
    return behind, ahead


# -- push -----------------------------------------------------------------------------------------


def push(rig: Rig, sha: str, branch: str, timeout: float | None = None) -> bool:
    """Push commit ``sha`` to ``refs/heads/<branch>`` of :func:`push_url`, never forced (so only a
    fast-forward or a new branch is accepted). A local checkout gets :data:`CHECKOUT_RECEIVE_PACK`.

    timeout: seconds (default ``[upstream] timeout``). Returns True when upstream's branch is at
    ``sha`` now (for the default branch :func:`tracking_ref` then records it), False when it was
    refused because upstream moved (not a fast-forward).
    Raises UpstreamError for any other refusal or failure, with the remote's one-line message.
    """
    url = push_url(rig)
    args = ["push", "--porcelain"]
    if local_checkout(url):
        args.append(f"--receive-pack={CHECKOUT_RECEIVE_PACK}")
    dest = f"refs/heads/{branch}"
    proc = _remote_git(rig, [*args, "--", url, f"{sha}:{dest}"], timeout, f"pushing to {url}")
    status = None
    for line in proc.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[1].endswith(f":{dest}"):
            status = (fields[0], fields[2])
    if (status is not None and status[0] in (" ", "*", "=")) or (proc.returncode == 0 and status is None):
        if branch == rig.default_branch:  # what upstream has now, as a fetch would record it
            git.run_git(["update-ref", "-m", "gastown: pushed", tracking_ref(rig), sha], cwd=rig.repo_path)
        return True
    if (
        status is not None
        and status[0] == "!"
        and status[1].startswith("[rejected]")
        and any(w in status[1] for w in ("non-fast-forward", "fetch first", "stale info"))
    ):
        return False
    toml = rig.path / "rig.toml"
    if status is not None and status[0] == "!":
        raise UpstreamError(
            f"{url} refused the push of {branch}: {remote_message(proc)}: grant the push on the "
            f"remote, or change push_url or [merge_queue] strategy in {toml}"
        )
    raise UpstreamError(
        f"pushing {branch} to {url} failed: {remote_message(proc)}: check the network and the "
        f"remote (push_url or git_url in {toml})"
    )


def can_push(rig: Rig, timeout: float = 20.0) -> tuple[bool, str]:
    """Whether git may push to the rig's :func:`push_url` (:func:`core.remote.may_push`: a dry-run
    push of the default branch). Returns (True, "") or (False, the remote's one-line message).
    timeout: seconds."""
    return may_push(rig.repo_path, push_url(rig), rig.default_branch, timeout)


# -- pull requests ----------------------------------------------------------------------------------

_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):(.+)$")


def pr_repo(url: str) -> str | None:
    """``HOST/OWNER/REPO`` for ``gh --repo`` from a remote URL (``https://github.com/o/r.git``,
    ``git@github.com:o/r.git``, ``ssh://git@host/o/r``, ...), or None for a local path."""
    if is_local(url):
        return None
    if "://" in url:
        rest = url.split("://", 1)[1]
        host, _, path = rest.partition("/")
        host = host.rsplit("@", 1)[-1]
    else:
        m = _SCP.match(url)
        if m is None:
            return None
        host, path = m.group(1), m.group(2)
    path = path.strip("/").removesuffix(".git")
    return f"{host}/{path}" if host and path else None


def pr_argv(gh: str, rig: Rig, branch: str, title: str, body: str) -> list[str]:
    """The ``gh pr create`` argv opening a pull request of ``branch`` into the default branch of the
    rig's upstream (``--repo`` from :func:`pr_repo` of :func:`push_url`, left out for a local path).
    title and body are agent text: passed as argv items (never a shell), without control sequences,
    the title on one line."""
    argv = [gh, "pr", "create"]
    repo = pr_repo(push_url(rig))
    if repo:
        argv += ["--repo", repo]
    return argv + [
        "--base",
        rig.default_branch,
        "--head",
        branch,
        "--title",
        one_line(title)[:200] or branch,
        "--body",
        strip_controls(body),
    ]


_URL = re.compile(r"https?://[^\s'\"<>]+")


def open_pr(rig: Rig, branch: str, title: str, body: str, timeout: float | None = None) -> str:
    """Open a pull request of ``branch`` (already pushed) with the GitHub CLI found on PATH
    (:func:`pr_argv`, run in the bare clone). Returns the PR's URL (gh prints it; an existing PR of
    the branch, which gh names in its refusal, counts). timeout: seconds.
    Raises UpstreamError when gh is missing or fails (its one-line message)."""
    gh = shutil.which("gh")
    if gh is None:
        raise UpstreamError(
            "the GitHub CLI gh is not on PATH: install it and run 'gh auth login', or set "
            f'[merge_queue] strategy = "direct" in {rig.path / "rig.toml"}'
        )
    limit = _timeout(rig) if timeout is None else timeout
    try:
        proc = subprocess.run(
            pr_argv(gh, rig, branch, title, body),
            cwd=str(rig.repo_path),
            capture_output=True,
            text=True,
            timeout=limit,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise UpstreamError(
            f"gh pr create timed out after {limit:g} s: check the network and 'gh auth status'"
        ) from None
    except OSError as exc:
        raise UpstreamError(f"gh could not run: {one_line(str(exc))}") from None
    found = _URL.findall(proc.stdout or "")
    if proc.returncode == 0 and found:
        return one_line(found[-1])
    if "already exists" in (proc.stderr or "") and _URL.findall(proc.stderr):
        return one_line(_URL.findall(proc.stderr)[-1])
    if proc.returncode == 0:
        raise UpstreamError("gh pr create printed no pull request URL: check the forge")
    raise UpstreamError(f"gh pr create failed: {remote_message(proc)}: check 'gh auth status'")


# -- state ----------------------------------------------------------------------------------------

_COLUMNS = (
    "rig",
    "fetched_at",
    "fetch_error",
    "tip",
    "behind",
    "ahead",
    "failures",
    "last_error",
    "retry_at",
    "escalation",
)


def state(db: Database, rig: str) -> UpstreamState:
    """The upstream row of ``rig`` (a blank state when there is none yet)."""
    return states(db).get(rig) or UpstreamState(rig)


def states(db: Database) -> dict[str, UpstreamState]:
    """Every rig's upstream row, by rig name (empty when the table does not exist yet)."""
    try:
        rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM upstream").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {r[0]: UpstreamState(*r) for r in rows}


def _update(db: Database, rig: str, **values: Any) -> None:
    """Upsert ``values`` into ``rig``'s row (plain SQL: joins the caller's transaction)."""
    values["updated_at"] = time.time()
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    sets = ", ".join(f"{c} = excluded.{c}" for c in values)
    db.execute(
        f"INSERT INTO upstream (rig, {cols}) VALUES (?, {marks}) ON CONFLICT(rig) DO UPDATE SET {sets}",
        [rig, *values.values()],
    )


def _ensure(db: Database) -> None:
    ensure_schema(db, _DDL)  # a connection opened before this module was imported


def record_refs(db: Database, rig: Rig) -> None:
    """Store how far the rig's default branch is behind/ahead of the fetched upstream tip."""
    counts = behind_ahead(rig)
    _ensure(db)
    with transaction(db):
        _update(
            db,
            rig.name,
            tip=git.rev_parse(rig.repo_path, tracking_ref(rig)),
            behind=counts[0] if counts else None,
            ahead=counts[1] if counts else None,
        )


def _fresh(before: UpstreamState, asked: float, fresh_for: float) -> bool:
    """True if the fetch recorded in ``before`` needs no successor: it succeeded, and it finished after
    ``asked`` (a time.time()) or less than ``fresh_for`` seconds before it."""
    return (
        before.fetched_at is not None
        and not before.fetch_error
        and (before.fetched_at >= asked or asked - before.fetched_at < fresh_for)
    )


def refresh(
    town: Town,
    rig: Rig,
    db: Database,
    *,
    timeout: float | None = None,
    fresh_for: float = 0.0,
    during: str = "timer",
    actor: str = "deacon",
) -> str | None:
    """Fetch upstream unless the last successful fetch is younger than ``fresh_for`` seconds, and
    record the outcome (state row, behind/ahead; an ``upstream_fetched`` event when the tip changed, an
    ``upstream_fetch_failed`` event for a sling's failure and for the first of a run of timer failures).
    Fetches of one rig are serialised by a lock file; a fetch another process finished meanwhile is used.

    timeout: seconds for the fetch (and the lock). during: what asked (``timer``, ``sling``, ``sync``),
    named in the events. Returns None, or the one-line error (never raises for the remote's sake).
    """
    limit = _timeout(rig) if timeout is None else timeout
    asked = time.time()
    _ensure(db)
    if _fresh(state(db, rig.name), asked, fresh_for):
        return None  # no lock (nor filelock's import) for the common case: a fetch is recent enough
    import filelock

    lock = filelock.FileLock(str(town.state_dir / f"upstream-{rig.name}.lock"))
    try:
        lock.acquire(timeout=limit)
    except filelock.Timeout:
        return _fetch_failed(db, rig, f"another fetch of {rig.name} is still running after {limit:g} s", during, actor)
    try:
        before = state(db, rig.name)
        if _fresh(before, asked, fresh_for):  # again under the lock: another process may just have fetched
            return None
        try:
            tip = fetch(rig, timeout=limit)
        except UpstreamError as exc:
            return _fetch_failed(db, rig, str(exc), during, actor, before)
        counts = behind_ahead(rig)
        with transaction(db):
            _update(
                db,
                rig.name,
                fetched_at=time.time(),
                fetch_error="",
                tip=tip,
                behind=counts[0] if counts else None,
                ahead=counts[1] if counts else None,
            )
            if tip != before.tip:
                events.append(
                    db,
                    "upstream_fetched",
                    actor,
                    rig=rig.name,
                    payload={
                        "tip": tip,
                        "previous": before.tip,
                        "behind": counts[0] if counts else None,
                        "during": during,
                    },
                )
        return None
    finally:
        lock.release()


def sync(town: Town, rig: Rig, db: Database, actor: str = "") -> UpstreamState:
    """``gt rig sync``: fetch the rig's upstream default branch now, whatever the strategy (a fetch
    never writes upstream), and record it (:func:`refresh`). Returns the new state.
    Raises UpstreamError with the one-line reason when the fetch fails."""
    error = refresh(town, rig, db, during="sync", actor=actor or "gt")
    if error is not None:
        raise UpstreamError(error)
    return state(db, rig.name)


def _fetch_failed(
    db: Database, rig: Rig, error: str, during: str, actor: str, before: UpstreamState | None = None
) -> str:
    before = before or state(db, rig.name)
    with transaction(db):
        _update(db, rig.name, fetch_error=error)
        if during != "timer" or before.fetch_error != error:
            events.append(
                db,
                "upstream_fetch_failed",
                actor,
                rig=rig.name,
                payload={
                    "error": error,
                    "during": during,
                    "fallback": git.rev_parse(rig.repo_path, f"refs/heads/{rig.default_branch}"),
                },
            )
    return error


def retry_in(db: Database, rig: str, now: float | None = None) -> float:
    """Seconds before the refinery of ``rig`` may try landing again after failures (0: now)."""
    now = time.time() if now is None else now
    return max(0.0, state(db, rig).retry_at - now)


def landing_failed(
    town: Town, db: Database, rig: Rig, error: str, actor: str, escalate: Callable[[str], str]
) -> UpstreamState:
    """Count one failed landing of ``rig`` (``error``: one line): failures + 1, the next try after
    ``[upstream] retry_after`` seconds doubled per failure (at most :data:`MAX_RETRY_S`), and once
    ``[upstream] escalate_after`` failures are reached, one escalation for the run: ``escalate(text)``,
    called inside this transaction, files it and returns its bead id (the refinery passes one that
    raises a high escalation to the Mayor, :func:`core.escalation.escalate`; this module stays below
    mail and escalations). Returns the new state. ``town`` and ``actor``: whose landing it is."""
    _ensure(db)
    with transaction(db):
        before = state(db, rig.name)
        failures = before.failures + 1
        wait = min(MAX_RETRY_S, float(rig.setting("upstream", "retry_after")) * 2 ** min(failures - 1, 16))
        esc = before.escalation
        if esc is None and failures >= max(1, int(rig.setting("upstream", "escalate_after"))):
            esc = escalate(f"the {rig.name} refinery cannot land on {push_url(rig)} ({failures} tries): {error}")
        _update(db, rig.name, failures=failures, last_error=error, retry_at=time.time() + wait, escalation=esc)
    return state(db, rig.name)


def landing_ok(db: Database, rig: Rig) -> None:
    """A landing (or a batch that needed none) went through: the failure count and wait are reset,
    and the behind/ahead counts recomputed."""
    _ensure(db)
    with contextlib.suppress(GitError):
        record_refs(db, rig)
    with transaction(db):
        _update(db, rig.name, failures=0, last_error="", retry_at=0.0, escalation=None)
