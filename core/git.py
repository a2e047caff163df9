"""All git access of gastown-tui goes through this module.

Split (DESIGN section 4, measured on a 3,000-file repository): dulwich in-process for reads, clones
of rigs and the ledger commits of the town repository; the git CLI (argv lists, never a shell string)
for worktrees, merges, rebases and pushes, where dulwich is slower or unsafe.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from dulwich import porcelain
from dulwich.errors import NotGitRepository
from dulwich.repo import Repo

from core.errors import GitError

HQ_IDENTITY = b"gastown <gastown@localhost>"


@contextlib.contextmanager
def open_repo(path: str | os.PathLike[str]) -> Iterator[Repo]:
    """Open the repository at ``path`` with dulwich and close it afterwards.

    Raises GitError if ``path`` is not a git repository.
    """
    try:
        repo = Repo(str(path))
    except (NotGitRepository, FileNotFoundError, NotADirectoryError) as exc:
        raise GitError(f"{path} is not a git repository: give the path of a repository (git init)") from exc
    try:
        yield repo
    finally:
        repo.close()


def is_repo(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a git repository (work tree or bare)."""
    try:
        Repo(str(path)).close()
    except (NotGitRepository, FileNotFoundError, NotADirectoryError):
        return False
    return True


def init_repo(path: str | os.PathLike[str], branch: str = "main") -> None:
    """Create a non-bare repository at ``path`` whose HEAD points at ``branch`` (dulwich)."""
    Path(path).mkdir(parents=True, exist_ok=True)
    repo = Repo.init(str(path))
    try:
        repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/" + branch.encode())
    finally:
        repo.close()


def commit_paths(
    repo_path: str | os.PathLike[str],
    paths: Sequence[str],
    message: str,
    author: bytes = HQ_IDENTITY,
) -> str | None:
    """Stage ``paths`` (relative to the work tree; removed files are unstaged) and commit (dulwich).

    Returns the new commit sha (hex), or None when nothing changed.
    Raises GitError if ``repo_path`` is not a repository.
    """
    with open_repo(repo_path) as repo:
        root = Path(repo_path)
        present = [p for p in paths if (root / p).exists()]
        gone = [p for p in paths if not (root / p).exists()]
        if present:
            porcelain.add(repo, [str(root / p) for p in present])
        if gone:
            index = repo.open_index()
            changed = False
            for p in gone:
                key = p.encode()
                if key in index:
                    del index[key]
                    changed = True
            if changed:
                index.write()
        status = porcelain.status(repo, untracked_files="no")
        staged = status.staged
        if not any(staged[k] for k in ("add", "delete", "modify")) and _has_head(repo):
            return None
        sha = porcelain.commit(repo, message.encode(), author=author, committer=author)
        return sha.decode()


def _has_head(repo: Repo) -> bool:
    try:
        repo.head()
    except KeyError:
        return False
    return True


def log_messages(repo_path: str | os.PathLike[str], max_entries: int = 50) -> list[str]:
    """Return the first lines of the last ``max_entries`` commit messages on HEAD, newest first."""
    with open_repo(repo_path) as repo:
        if not _has_head(repo):
            return []
        out = []
        for entry in repo.get_walker(max_entries=max_entries):
            out.append(entry.commit.message.decode("utf-8", "replace").splitlines()[0])
        return out


def clone_bare(url: str, dest: str | os.PathLike[str]) -> str:
    """Clone ``url`` (a local path, ``file://`` URL or any URL dulwich speaks) bare into ``dest``.

    Every remote branch becomes a local branch of the bare repository (``refs/heads/*``), so
    worktrees and the refinery can use them directly. Returns the default branch (the remote HEAD).
    On failure ``dest`` is removed and GitError raised, naming the URL.
    """
    dest = Path(dest)
    source = url
    if "://" not in url and not url.startswith("git@"):
        local = Path(url).expanduser()
        if not local.exists():
            raise GitError(f"repository {url!r} does not exist: give a local path or a URL of a git repository")
        if not is_repo(local):
            raise GitError(f"{url} is not a git repository: run 'git init' there or give another path")
        source = str(local.resolve())
    try:
        repo = porcelain.clone(source, str(dest), bare=True, checkout=False, errstream=io.BytesIO())
    except BaseException as exc:
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise GitError(f"cannot clone {url!r}: {_one_line(exc)}; check the URL and that it is reachable") from exc
    try:
        refs = repo.refs
        remote_prefix = b"refs/remotes/origin/"
        for ref in list(refs.keys()):
            if ref.startswith(remote_prefix) and ref != remote_prefix + b"HEAD":
                local_ref = b"refs/heads/" + ref[len(remote_prefix):]
                if local_ref not in refs:
                    refs[local_ref] = refs[ref]
        symrefs = refs.get_symrefs()
        head = symrefs.get(b"HEAD", b"")
        branches = sorted(r[len(b"refs/heads/"):].decode() for r in refs.keys() if r.startswith(b"refs/heads/"))
        if head.startswith(b"refs/heads/") and head[len(b"refs/heads/"):].decode() in branches:
            default = head[len(b"refs/heads/"):].decode()
        elif branches:
            default = "main" if "main" in branches else "master" if "master" in branches else branches[0]
            refs.set_symbolic_ref(b"HEAD", b"refs/heads/" + default.encode())
        else:
            raise GitError(f"repository {url!r} has no branches: make a first commit there, then add the rig")
        return default
    except GitError:
        repo.close()
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        repo.close()


def branches(repo_path: str | os.PathLike[str]) -> list[str]:
    """Local branch names of the repository at ``repo_path``, sorted."""
    with open_repo(repo_path) as repo:
        return sorted(r[len(b"refs/heads/"):].decode() for r in repo.refs.keys() if r.startswith(b"refs/heads/"))


def rev_parse(repo_path: str | os.PathLike[str], ref: str) -> str | None:
    """The sha (hex) that ``ref`` (e.g. ``refs/heads/main`` or a branch name) points at, or None."""
    with open_repo(repo_path) as repo:
        for name in (ref, f"refs/heads/{ref}"):
            key = name.encode()
            if key in repo.refs:
                return repo.refs[key].decode()
        return None


def run_git(args: Sequence[str], cwd: str | os.PathLike[str], check: bool = True,
            env: dict[str, str] | None = None, timeout: float | None = 120) -> subprocess.CompletedProcess[str]:
    """Run the git CLI with ``args`` (an argv list, never a shell string) in ``cwd``.

    env: extra environment variables. timeout: seconds.
    Raises GitError with git's own message when ``check`` and git exits non-zero.
    """
    full_env = dict(os.environ)
    full_env.setdefault("GIT_AUTHOR_NAME", "gastown")
    full_env.setdefault("GIT_AUTHOR_EMAIL", "gastown@localhost")
    full_env.setdefault("GIT_COMMITTER_NAME", full_env["GIT_AUTHOR_NAME"])
    full_env.setdefault("GIT_COMMITTER_EMAIL", full_env["GIT_AUTHOR_EMAIL"])
    full_env["GIT_TERMINAL_PROMPT"] = "0"
    if env:
        full_env.update(env)
    proc = subprocess.run(["git", *args], cwd=str(cwd), env=full_env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {_one_line(proc.stderr or proc.stdout)}")
    return proc


def _one_line(value: object) -> str:
    text = str(value).strip().splitlines()
    return text[-1] if text else type(value).__name__
