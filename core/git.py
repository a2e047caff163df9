"""All git access of gastown-tui goes through this module.

Split (DESIGN section 4, measured on a 3,000-file repository): dulwich in-process for reads and clones
of rigs; the git CLI for the town repository's path-limited commits (:func:`commit_paths`: a temporary
index, git's index lock protocol, so a user's staged files are never swept in); the git CLI (argv lists, never a shell string)
for worktrees, merges, rebases and pushes, where dulwich is slower or unsafe. dulwich is imported by
the functions that use it (about 70 ms), so a ``gt`` command that never touches git does not pay for it.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from core.errors import GitError

if TYPE_CHECKING:
    from dulwich.refs import Ref
    from dulwich.repo import Repo

    from core.atomic import Chunks

HQ_IDENTITY = b"gastown <gastown@localhost>"


def _ref(name: bytes) -> Ref:
    """``name`` as dulwich's ref name type (``dulwich.refs.Ref``, a NewType of bytes in dulwich 1.x)."""
    return cast("Ref", name)


@contextlib.contextmanager
def open_repo(path: str | os.PathLike[str]) -> Iterator[Repo]:
    """Open the repository at ``path`` with dulwich and close it afterwards.

    Raises GitError if ``path`` is not a git repository.
    """
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo

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
    from dulwich.errors import NotGitRepository
    from dulwich.repo import Repo

    try:
        Repo(str(path)).close()
    except (NotGitRepository, FileNotFoundError, NotADirectoryError):
        return False
    return True


def init_repo(path: str | os.PathLike[str], branch: str = "main") -> None:
    """Create a non-bare repository at ``path`` whose HEAD points at ``branch`` (dulwich)."""
    from dulwich.repo import Repo

    Path(path).mkdir(parents=True, exist_ok=True)
    repo = Repo.init(str(path))
    try:
        repo.refs.set_symbolic_ref(_ref(b"HEAD"), _ref(b"refs/heads/" + branch.encode()))
    finally:
        repo.close()


class IndexLocked(GitError):
    """``.git/index.lock`` exists: a git command is running in the repository, or one crashed and left
    its lock. Nothing was committed; the caller may retry later."""


class RepoBusy(GitError):
    """The repository is in the middle of a merge, rebase, cherry-pick or revert: committing now would
    slip a commit under the user's operation. Nothing was committed."""


_IN_PROGRESS = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")


def operation_in_progress(repo_path: str | os.PathLike[str]) -> str | None:
    """The name of the git operation under way in the work tree at ``repo_path`` (``MERGE_HEAD``,
    ``rebase-merge``, ...), or None. Raises GitError if it is not a repository."""
    return _operation_in(Path(run_git(["rev-parse", "--absolute-git-dir"], cwd=repo_path).stdout.strip()))


def _operation_in(git_dir: Path) -> str | None:
    """:func:`operation_in_progress` for the git directory ``git_dir`` (absolute)."""
    for name in _IN_PROGRESS:
        if (git_dir / name).exists():
            return name
    return None


def _head_and_tree(root: Path) -> tuple[str | None, str | None]:
    """(HEAD's commit sha, its tree's sha) of the work tree at ``root`` from one ``git rev-parse``;
    (None, None) while HEAD is unborn."""
    proc = run_git(["rev-parse", "HEAD^{commit}", "HEAD^{tree}", "--"], cwd=root, check=False)
    shas = proc.stdout.split() if proc.returncode == 0 else []  # the two shas, then the "--" echoed
    return (shas[0], shas[1]) if len(shas) == 3 else (None, None)


def commit_paths(
    repo_path: str | os.PathLike[str],
    paths: Sequence[str],
    message: str,
    author: bytes = HQ_IDENTITY,
    contents: dict[str, Chunks] | None = None,
) -> str | None:
    """Commit exactly ``paths`` (relative to the work tree; a removed file is removed) on HEAD: the
    commit is HEAD's tree with only those paths changed, so whatever else the user has staged stays
    staged and out of the commit. The real index gets only those paths' entries refreshed (an
    unmerged entry becomes the committed one), written under git's own lock protocol
    (``.git/index.lock`` created exclusively, then renamed), and the branch moves by compare-and-swap
    (``git update-ref``), retried when another commit raced in. Hooks do not run.

    contents: path -> the bytes the caller just wrote to that file (a 47 MB ledger; bytes or parts,
    :data:`core.atomic.Chunks`): the blob is
    written from them (:func:`write_blob`) and entered in both indexes by sha, git never reading the
    file. The real index's entry then has no file stat: the next ``git status`` hashes that file once
    to see it unchanged. A SHA-256 repository ignores ``contents``.

    Returns the new commit sha (hex), or None when those paths did not change.
    Raises IndexLocked when ``.git/index.lock`` exists, RepoBusy during a merge or rebase, GitError
    if ``repo_path`` is not a repository or git fails; nothing is committed then.
    """
    import tempfile

    root = Path(repo_path)
    git_dir_line, object_format, objects = run_git(
        ["rev-parse", "--absolute-git-dir", "--show-object-format", "--git-path", "objects"], cwd=root
    ).stdout.splitlines()
    git_dir = Path(git_dir_line.strip())
    busy = _operation_in(git_dir)
    if busy:
        raise RepoBusy(
            f"{root} is in the middle of a git operation ({busy}): finish or abort it "
            "(git commit / git merge --abort), then the commit is retried"
        )
    sha1 = object_format.strip() == "sha1"
    held = {p: write_blob(root / objects.strip(), data) for p, data in (contents or {}).items() if sha1}
    hashed = [p for p in paths if p not in held]
    entries = [a for p, sha in held.items() for a in ("--cacheinfo", f"100644,{sha},{p}")]

    def stage(index: Path) -> None:
        """Enter ``paths`` in the index file ``index``: the held ones by sha, without reading their
        files (in the real index their stat fields stay empty: the next ``git status`` hashes such a
        file once and refreshes them, finding it unchanged), the others hashed by git."""
        env = {"GIT_INDEX_FILE": str(index)}
        if hashed:
            run_git(["update-index", "--add", "--remove", "--", *hashed], cwd=root, env=env)
        if held:
            run_git(["update-index", "--add", *entries], cwd=root, env=env)

    name, _, email = author.decode("utf-8", "replace").partition(" <")
    ident = {"GIT_AUTHOR_NAME": name or "gastown", "GIT_AUTHOR_EMAIL": email.rstrip(">") or "gastown@localhost"}
    ident["GIT_COMMITTER_NAME"], ident["GIT_COMMITTER_EMAIL"] = ident["GIT_AUTHOR_NAME"], ident["GIT_AUTHOR_EMAIL"]
    lock = git_dir / "index.lock"
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise IndexLocked(
            f"{lock} exists (a git command is running, or one crashed and left it): if no git "
            "command is running remove it; the commit is retried later"
        ) from None
    renamed = False
    try:
        with tempfile.TemporaryDirectory(dir=git_dir, prefix="gt-commit-") as tmp:
            for _attempt in range(5):
                head, head_tree = _head_and_tree(root)
                index = Path(tmp) / "commit.index"
                work = {"GIT_INDEX_FILE": str(index)}
                run_git(["read-tree", head or "--empty"], cwd=root, env=work)
                stage(index)
                tree = run_git(["write-tree"], cwd=root, env=work).stdout.strip()
                if head and head_tree == tree:
                    return None
                real = Path(tmp) / "real.index"
                if (git_dir / "index").exists():
                    shutil.copyfile(git_dir / "index", real)
                stage(real)
                args = ["commit-tree", "--no-gpg-sign", tree, "-F", "-"] + (["-p", head] if head else [])
                sha = run_git(args, cwd=root, env=ident, input=message).stdout.strip()
                # The index first: should the swap below fail, the index is merely ahead of HEAD (the
                # change shows as staged), never behind it (a user commit would revert it).
                with os.fdopen(fd, "wb") as out:
                    fd = -1
                    out.write(real.read_bytes())
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(lock, git_dir / "index")
                renamed = True
                if (
                    run_git(
                        ["update-ref", "-m", "gastown: commit", "HEAD", sha, head or ""], cwd=root, check=False
                    ).returncode
                    == 0
                ):
                    return sha
                renamed = False
                try:
                    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    renamed = True  # not ours to remove
                    raise IndexLocked(f"{lock} appeared while committing: the commit is retried later") from None
            raise GitError(f"{root}: HEAD kept moving while committing {', '.join(paths)}: retry")
    finally:
        if fd >= 0:
            os.close(fd)
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()


def write_blob(objects: Path, data: Chunks) -> str:
    """Write ``data`` (bytes or parts, :data:`core.atomic.Chunks`) as a loose blob into the object
    directory ``objects`` (SHA-1 repositories;
    temp file + rename, read-only as git makes them) unless it is there already, and return its sha
    (hex). The stream is zlib (RFC 1950) from ISA-L's level 1, the counterpart of git's default
    ``core.loosecompression`` (zlib level 1) at about 4x zlib's speed; the SHA-1 runs in a second
    thread meanwhile (both release the GIL). On a 47 MB ledger: about 45 ms, where Python's zlib and
    SHA-1 one after the other take 230 ms and ``git update-index`` (SHA-1DC) 0.75 s.

    Raises OSError when the object directory is not writable."""
    import hashlib
    import threading

    from isal import isal_zlib  # python-isal: zlib-compatible, 4x faster at level 1 (issue 19)

    from core.atomic import chunks

    parts = chunks(data)
    header = b"blob %d\0" % sum(len(part) for part in parts)
    digest = hashlib.sha1(header, usedforsecurity=False)

    def hash_parts() -> None:
        for part in parts:
            digest.update(part)

    hasher = threading.Thread(target=hash_parts, name="gt-blob-sha1")
    hasher.start()
    try:
        packer = isal_zlib.compressobj(1)
        body = b"".join([packer.compress(header), *(packer.compress(part) for part in parts), packer.flush()])
    finally:
        hasher.join()
    sha = digest.hexdigest()
    target = objects / sha[:2] / sha[2:]
    if target.exists():
        return sha
    target.parent.mkdir(exist_ok=True)
    tmp = target.parent / f"tmp_obj_{os.getpid()}_{sha[:8]}"
    try:
        with open(tmp, "wb") as out:
            out.write(body)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return sha


def rev_parse_head(repo_path: str | os.PathLike[str]) -> str | None:
    """The commit sha HEAD of the work tree at ``repo_path`` points at, or None while it is unborn."""
    proc = run_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], cwd=repo_path, check=False)
    return proc.stdout.strip() or None


def read_path_at(repo_path: str | os.PathLike[str], rev: str, path: str) -> bytes | None:
    """The content of file ``path`` at ``rev`` (e.g. ``HEAD``) in the repository at ``repo_path``,
    or None when the revision or the file does not exist (``git cat-file``)."""
    proc = subprocess.run(
        ["git", "cat-file", "blob", f"{rev}:{path}"],
        cwd=str(repo_path),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    return proc.stdout if proc.returncode == 0 else None


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
    from dulwich import porcelain

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
                local_ref = _ref(b"refs/heads/" + ref[len(remote_prefix) :])
                if local_ref not in refs:
                    refs[local_ref] = refs[ref]
        symrefs = refs.get_symrefs()
        head: bytes = symrefs.get(_ref(b"HEAD"), _ref(b""))
        branches = sorted(r[len(b"refs/heads/") :].decode() for r in refs.keys() if r.startswith(b"refs/heads/"))
        if head.startswith(b"refs/heads/") and head[len(b"refs/heads/") :].decode() in branches:
            default = head[len(b"refs/heads/") :].decode()
        elif branches:
            default = "main" if "main" in branches else "master" if "master" in branches else branches[0]
            refs.set_symbolic_ref(_ref(b"HEAD"), _ref(b"refs/heads/" + default.encode()))
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
        return sorted(r[len(b"refs/heads/") :].decode() for r in repo.refs.keys() if r.startswith(b"refs/heads/"))


def rev_parse(repo_path: str | os.PathLike[str], ref: str) -> str | None:
    """The sha (hex) that ``ref`` (e.g. ``refs/heads/main`` or a branch name) points at, or None.

    A plain repository directory (a rig's bare repository, or a work tree's ``.git`` directory) is
    read directly (:func:`_read_ref`): ``gt done``, ``gt sling`` and the refinery ask this on every
    run, and dulwich's import costs more than the whole answer. Anything else (a linked worktree's
    ``.git`` file, a reftable repository, an odd ref name) is asked of dulwich.
    """
    git_dir = _plain_git_dir(Path(repo_path))
    if git_dir is not None and _SAFE_REF.fullmatch(ref) and ".." not in ref:
        for name in (ref, f"refs/heads/{ref}"):
            found = _read_ref(git_dir, name)
            if found is not None:
                return found
        return None
    with open_repo(repo_path) as repo:
        for name in (ref, f"refs/heads/{ref}"):
            key = _ref(name.encode())
            if key in repo.refs:
                return repo.refs[key].decode()
        return None


#: A ref name this module reads from disk itself (see :func:`rev_parse`); others go to dulwich.
_SAFE_REF = re.compile(r"(?:refs/)?[A-Za-z0-9_][A-Za-z0-9_./-]*")
_SHA = re.compile(rb"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def _plain_git_dir(path: Path) -> Path | None:
    """The git directory of ``path`` when it is one this module can read refs from (files ``HEAD``
    and ``packed-refs``, directory ``refs``; not a linked worktree's, not a reftable one): ``path``
    itself (bare) or its ``.git`` directory. None otherwise."""
    for git_dir in (path, path / ".git"):
        if (git_dir / "HEAD").is_file() and (git_dir / "refs").is_dir():
            if (git_dir / "commondir").exists() or (git_dir / "reftable").exists():
                return None
            return git_dir
    return None


def _read_ref(git_dir: Path, name: str, depth: int = 0) -> str | None:
    """The sha ``name`` points at in ``git_dir``, as git stores refs (gitrepository-layout(5)): the loose
    file ``<git_dir>/<name>`` (a sha, or ``ref: <other>`` for a symbolic ref, followed up to 5 deep),
    else its line ``<sha> <name>`` in ``packed-refs``. None when missing or dangling."""
    try:
        data = (git_dir / name).read_bytes().strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        data = b""
    if data.startswith(b"ref: "):
        target = data[5:].decode("utf-8", "replace")
        return _read_ref(git_dir, target, depth + 1) if depth < 5 and _SAFE_REF.fullmatch(target) else None
    if _SHA.fullmatch(data):
        return data.decode()
    try:
        packed = (git_dir / "packed-refs").read_bytes()
    except FileNotFoundError:
        return None
    wanted = name.encode()
    for line in packed.splitlines():
        sha, _, ref = line.partition(b" ")
        if ref == wanted and _SHA.fullmatch(sha):
            return sha.decode()
    return None


def read_dir_at(repo_path: str | os.PathLike[str], branch: str, directory: str) -> dict[str, bytes]:
    """The files directly inside ``directory`` (a ``/``-separated path such as ``.beads/formulas``)
    at the tip of ``branch``, read in-process with dulwich (works on bare repositories).

    Returns file name -> content bytes; empty when the branch or the directory does not exist.
    Raises GitError if ``repo_path`` is not a repository.
    """
    from dulwich.objects import Blob, Commit, Tree

    with open_repo(repo_path) as repo:
        ref = _ref(f"refs/heads/{branch}".encode())
        if ref not in repo.refs:
            return {}
        commit = repo[repo.refs[ref]]
        if not isinstance(commit, Commit):
            return {}
        tree = repo[commit.tree]
        for part in [p for p in directory.split("/") if p]:
            if not isinstance(tree, Tree) or part.encode() not in tree:
                return {}
            _mode, sha = tree[part.encode()]
            tree = repo[sha]
        if not isinstance(tree, Tree):
            return {}
        out = {}
        for entry in tree.items():
            obj = repo[entry.sha]
            if isinstance(obj, Blob):
                out[entry.path.decode("utf-8", "replace")] = obj.as_raw_string()
        return out


def git_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every git process runs with: this process's, ``GIT_TERMINAL_PROMPT=0`` (git
    never asks for a password on a terminal), then ``env``; an identity still unset is gastown's
    (``gastown <gastown@localhost>``), the committer the author's."""
    full = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
    full.setdefault("GIT_AUTHOR_NAME", "gastown")
    full.setdefault("GIT_AUTHOR_EMAIL", "gastown@localhost")
    full.setdefault("GIT_COMMITTER_NAME", full["GIT_AUTHOR_NAME"])
    full.setdefault("GIT_COMMITTER_EMAIL", full["GIT_AUTHOR_EMAIL"])
    return full


def run_git(
    args: Sequence[str],
    cwd: str | os.PathLike[str],
    check: bool = True,
    env: dict[str, str] | None = None,
    timeout: float | None = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the git CLI with ``args`` (an argv list, never a shell string) in ``cwd``.

    env: extra environment variables. timeout: seconds. input: text for git's stdin (else none).
    Raises GitError with git's own message when ``check`` and git exits non-zero.
    """
    proc = subprocess.run(
        ["git", *args],
        cwd=str(cwd),
        env=git_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        **({"input": input} if input is not None else {"stdin": subprocess.DEVNULL}),
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args[:2])} failed: {_one_line(proc.stderr or proc.stdout)}")
    return proc


# --- refinery plumbing (git CLI; the refinery assembles batches without touching any human worktree) ---


def merge_tree(repo_path: str | os.PathLike[str], ours: str, theirs: str) -> tuple[str | None, list[str]]:
    """Dry-run three-way merge of commits ``ours`` and ``theirs`` in the object store at ``repo_path``
    (``git merge-tree --write-tree``, git >= 2.38: no worktree, no index, no ref moves).

    Returns (tree sha, []) for a clean merge, (None, conflicted paths) for a conflict.
    Raises GitError if either commit is unknown.
    """
    proc = run_git(
        ["merge-tree", "--write-tree", "--name-only", "--no-messages", ours, theirs], cwd=repo_path, check=False
    )
    lines = proc.stdout.splitlines()
    if proc.returncode == 0 and lines:
        return lines[0].strip(), []
    if proc.returncode == 1 and lines:
        return None, [line for line in lines[1:] if line.strip()]
    raise GitError(f"git merge-tree {ours[:12]} {theirs[:12]} failed: {_one_line(proc.stderr or proc.stdout)}")


def commit_tree(
    repo_path: str | os.PathLike[str],
    tree: str,
    parents: Sequence[str],
    message: str,
    name: str = "gastown",
    email: str = "gastown@localhost",
) -> str:
    """Create a commit of ``tree`` with ``parents`` (first parent first) in ``repo_path`` without
    moving any ref (``git commit-tree``). Returns the new commit sha. Raises GitError."""
    args = ["commit-tree", tree, "-m", message]
    for p in parents:
        args += ["-p", p]
    ident = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    return run_git(args, cwd=repo_path, env=ident).stdout.strip()


def is_ancestor(repo_path: str | os.PathLike[str], ancestor: str, descendant: str) -> bool:
    """True if commit ``ancestor`` is reachable from ``descendant`` (``git merge-base --is-ancestor``)."""
    proc = run_git(["merge-base", "--is-ancestor", ancestor, descendant], cwd=repo_path, check=False)
    if proc.returncode in (0, 1):
        return proc.returncode == 0
    raise GitError(f"git merge-base failed: {_one_line(proc.stderr)}")


def commit_exists(repo_path: str | os.PathLike[str], sha: str) -> bool:
    """True if ``sha`` names a commit in the repository at ``repo_path``."""
    return run_git(["cat-file", "-e", f"{sha}^{{commit}}"], cwd=repo_path, check=False).returncode == 0


def update_ref(repo_path: str | os.PathLike[str], ref: str, new: str, old: str) -> bool:
    """Compare-and-swap ``ref`` (e.g. ``refs/heads/main``) from ``old`` to ``new`` (``git update-ref
    REF NEW OLD``, atomic under git's ref lock). Returns False if the ref no longer points at ``old``.

    Raises GitError for any other failure.
    """
    proc = run_git(["update-ref", "-m", "gastown refinery", ref, new, old], cwd=repo_path, check=False)
    if proc.returncode == 0:
        return True
    if rev_parse(repo_path, ref) != old:
        return False
    raise GitError(f"git update-ref {ref} failed: {_one_line(proc.stderr)}")


def delete_ref(repo_path: str | os.PathLike[str], ref: str, old: str) -> bool:
    """Delete ``ref`` only if it still points at ``old`` (compare-and-swap). Returns True if deleted."""
    return run_git(["update-ref", "-d", ref, old], cwd=repo_path, check=False).returncode == 0


def worktree_valid(path: str | os.PathLike[str], repo_path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a working worktree whose common git dir is the repository ``repo_path``:
    read from disk where :func:`_git_dirs` can (a sling reusing an idle polecat's worktree asks this
    without a git process), else ``git rev-parse --git-common-dir``."""
    if not (Path(path) / ".git").exists():
        return False
    dirs = _git_dirs(Path(path))
    if dirs is not None:
        git_dir, common = dirs
        try:
            head = (git_dir / "HEAD").read_bytes().strip()
        except OSError:
            return False
        # git takes a directory for a repository only when its HEAD is a sha or a symbolic ref
        return bool(_SHA.fullmatch(head) or head.startswith(b"ref: refs/")) and common == Path(repo_path).resolve()
    proc = run_git(["rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=path, check=False)
    if proc.returncode != 0:
        return False
    return Path(proc.stdout.strip()).resolve() == Path(repo_path).resolve()


def worktree_add_detached(repo_path: str | os.PathLike[str], path: str | os.PathLike[str], commit: str) -> None:
    """Add a worktree of ``repo_path`` at ``path`` on a detached HEAD at ``commit`` (stale registrations
    pruned first). Raises GitError."""
    run_git(["worktree", "prune"], cwd=repo_path)
    run_git(["worktree", "add", "--force", "--detach", str(path), commit], cwd=repo_path)


def checkout_clean(worktree: str | os.PathLike[str], commit: str) -> None:
    """Make ``worktree`` exactly ``commit`` on a detached HEAD: forced checkout, then remove every
    untracked and ignored file (``git clean -ffdx``). Only for scratch worktrees. Raises GitError."""
    run_git(["checkout", "--quiet", "--detach", "--force", commit], cwd=worktree)
    run_git(["clean", "-ffdxq"], cwd=worktree)


# --- polecat worktrees (git CLI: 8x faster than dulwich here, and it refuses to drop uncommitted work) ---


def branch_exists(repo_path: str | os.PathLike[str], branch: str) -> bool:
    """True if ``refs/heads/<branch>`` exists in the repository at ``repo_path`` (a repository, or a
    linked worktree: its common git directory's refs): read from disk as :func:`rev_parse` reads a
    plain repository's refs (no git process for a sling's check), else asked of ``git show-ref``."""
    ref = f"refs/heads/{branch}"
    git_dir = _plain_git_dir(Path(repo_path))
    if git_dir is None and (dirs := _git_dirs(Path(repo_path))) is not None:
        git_dir = dirs[1] if _files_refs(dirs[1]) else None
    if git_dir is not None and _SAFE_REF.fullmatch(ref) and ".." not in ref:
        return _read_ref(git_dir, ref) is not None
    return run_git(["show-ref", "--verify", "--quiet", ref], cwd=repo_path, check=False).returncode == 0


def worktree_add(repo_path: str | os.PathLike[str], path: str | os.PathLike[str], branch: str, start: str) -> None:
    """Add a worktree of ``repo_path`` at ``path`` on ``branch``: a new branch from ``start`` made by
    the same git process (``git worktree add -b``), or the existing branch when it already exists
    (resume of its work). One git process: a stale registration of ``path`` (its directory was
    deleted) is pruned (``git worktree prune``) only when git refuses because of it, and the add
    retried (git has made the new branch by then, so the retry checks it out). Raises GitError."""

    def add() -> subprocess.CompletedProcess[str]:
        args = [str(path), branch] if branch_exists(repo_path, branch) else ["-b", branch, str(path), start]
        return run_git(["worktree", "add", *args], cwd=repo_path, check=False)

    proc = add()
    if proc.returncode != 0 and "prune" in proc.stderr:  # "a missing but already registered worktree"
        run_git(["worktree", "prune"], cwd=repo_path)
        proc = add()
    if proc.returncode != 0:
        raise GitError(f"git worktree add failed: {_one_line(proc.stderr or proc.stdout)}")


def worktree_remove(repo_path: str | os.PathLike[str], path: str | os.PathLike[str], force: bool = False) -> None:
    """Remove the worktree at ``path`` (git refuses when it has uncommitted changes unless ``force``).
    Raises GitError."""
    args = ["worktree", "remove", str(path)]
    if force:
        args.insert(2, "--force")
    run_git(args, cwd=repo_path)
    run_git(["worktree", "prune"], cwd=repo_path)


def dirty_paths(worktree: str | os.PathLike[str]) -> list[str]:
    """Paths with uncommitted changes in ``worktree`` (modified, staged, untracked; ignored excluded)."""
    return [path for _, path in worktree_status(worktree)]


def worktree_status(worktree: str | os.PathLike[str]) -> list[tuple[str, str]]:
    """(status code, path) of every path with uncommitted changes in ``worktree``, one ``git status``:
    git-status(1)'s short format ``XY`` (X: index against HEAD, Y: work tree against index; ``??``
    untracked), paths relative to the worktree root, ignored files excluded, untracked files one by
    one. Renames are a deletion and an addition (``--no-renames``). Raises GitError."""
    out = run_git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"], cwd=worktree).stdout
    return [(entry[:2], entry[3:]) for entry in out.split("\0") if len(entry) > 3]


def branch_commits(worktree: str | os.PathLike[str], base: str) -> list[list[str]]:
    """The commits on ``worktree``'s HEAD since ``base`` (a sha; the commits of ``base..HEAD``, as
    ``git rev-list --count`` counts them, merges included), newest first, each as the paths it added
    or changed (deletions left out; a merge commit lists none), from one ``git log --name-status -z``.
    Raises GitError (an unknown ``base``)."""
    out = run_git(
        ["log", "--format=%x01", "--name-status", "--no-renames", "-z", f"{base}..HEAD", "--"], cwd=worktree
    ).stdout
    commits: list[list[str]] = []
    tokens = iter(out.split("\0"))
    for token in tokens:  # "\x01" opens a commit; then (status, path) pairs, a status maybe after "\n"
        if token == "\x01":
            commits.append([])
        elif token.strip("\n") and commits:
            path = next(tokens, "")
            if token.strip("\n") != "D" and path:
                commits[-1].append(path)
    return commits


def _git_dirs(worktree: Path) -> tuple[Path, Path] | None:
    """(git directory, common git directory) of ``worktree``, read from disk: its ``.git`` directory
    (both), or the ``gitdir: ...`` line of a linked worktree's ``.git`` file and that directory's
    ``commondir`` (gitrepository-layout(5)), resolved. None when the layout is anything else or a file
    cannot be read (then git itself is asked)."""
    dot = worktree / ".git"
    try:
        if dot.is_dir():
            return dot.resolve(), dot.resolve()
        line = dot.read_text(encoding="utf-8").strip()
        if not line.startswith("gitdir: "):
            return None
        git_dir = (worktree / line[8:]).resolve()
        return git_dir, (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    except (OSError, UnicodeDecodeError):
        return None


def _files_refs(common: Path) -> bool:
    """True if the common git directory ``common`` keeps its refs as files (a ``refs`` directory and
    ``packed-refs``; not reftable), which :func:`_read_ref` reads."""
    return (common / "refs").is_dir() and not (common / "reftable").exists()


def _worktree_head(worktree: Path) -> tuple[str | None, str | None] | None:
    """(branch or None when detached, sha or None when unborn) of the HEAD of ``worktree``, read from
    disk: a work tree whose ``.git`` is a directory, or a linked worktree whose ``.git`` file names
    its git directory (``gitdir: ...``, with ``commondir`` holding the shared refs; gitrepository-layout(5)).
    None when the layout is anything else (then git itself is asked)."""
    dirs = _git_dirs(worktree)
    return None if dirs is None else _head_in(*dirs)


def _head_in(git_dir: Path, common: Path) -> tuple[str | None, str | None] | None:
    """:func:`_worktree_head` of the worktree whose git directories (:func:`_git_dirs`) are
    ``git_dir`` (its HEAD) and ``common`` (the refs)."""
    try:
        head = (git_dir / "HEAD").read_bytes().strip()
    except OSError:
        return None
    if not _files_refs(common):
        return None
    if _SHA.fullmatch(head):
        return None, head.decode()
    if not head.startswith(b"ref: refs/heads/"):
        return None
    ref = head[5:].decode("utf-8", "replace")
    if not _SAFE_REF.fullmatch(ref) or ".." in ref:
        return None
    return ref.removeprefix("refs/heads/"), _read_ref(common, ref)


def head_sha(worktree: str | os.PathLike[str]) -> str:
    """The commit sha HEAD of ``worktree`` points at (read from disk as :func:`_worktree_head` can,
    else ``git rev-parse HEAD``). Raises GitError."""
    head = _worktree_head(Path(worktree))
    if head is not None and head[1] is not None:
        return head[1]
    return run_git(["rev-parse", "HEAD"], cwd=worktree).stdout.strip()


def current_branch(worktree: str | os.PathLike[str]) -> str | None:
    """The branch checked out in ``worktree``, or None on a detached HEAD (read from disk as
    :func:`_worktree_head` can, else ``git symbolic-ref``)."""
    head = _worktree_head(Path(worktree))
    if head is not None:
        return head[0]
    proc = run_git(["symbolic-ref", "--quiet", "--short", "HEAD"], cwd=worktree, check=False)
    return proc.stdout.strip() or None


def count_commits(repo_path: str | os.PathLike[str], base: str, head: str) -> int:
    """Number of commits reachable from ``head`` and not from ``base`` (``git rev-list --count``)."""
    return int(run_git(["rev-list", "--count", f"{base}..{head}"], cwd=repo_path).stdout.strip() or 0)


def commit_all(worktree: str | os.PathLike[str], message: str, env: dict[str, str] | None = None) -> str | None:
    """Stage everything in ``worktree`` (``git add -A``) and commit with ``message`` (passed on stdin
    via ``-F -``, never on a command line). env: author/committer variables. Returns the new sha, or
    None when there was nothing to commit. Raises GitError."""
    run_git(["add", "-A"], cwd=worktree, env=env)
    if run_git(["diff", "--cached", "--quiet"], cwd=worktree, check=False).returncode == 0:
        return None
    proc = subprocess.run(
        ["git", "commit", "-q", "--no-verify", "-F", "-"],
        cwd=str(worktree),
        env=git_env(env),
        input=message,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        raise GitError(f"git commit failed in {worktree}: {_one_line(proc.stderr or proc.stdout)}")
    return head_sha(worktree)


def snapshot_commit(worktree: str | os.PathLike[str], message: str, env: dict[str, str] | None = None) -> str | None:
    """A commit of the whole working tree of ``worktree`` (tracked and untracked files) parented on
    HEAD, made with a temporary index so neither HEAD, the branch nor the agent's index move.
    Returns its sha, or None when the tree equals HEAD's. Raises GitError."""
    import tempfile

    git_dir = run_git(["rev-parse", "--absolute-git-dir"], cwd=worktree).stdout.strip()
    with tempfile.NamedTemporaryFile(dir=git_dir, prefix="gt-snapshot-", suffix=".index") as tmp:
        index_env = {**(env or {}), "GIT_INDEX_FILE": tmp.name}
        run_git(["read-tree", "HEAD"], cwd=worktree, env=index_env)
        run_git(["add", "-A"], cwd=worktree, env=index_env)
        tree = run_git(["write-tree"], cwd=worktree, env=index_env).stdout.strip()
    head = head_sha(worktree)
    if run_git(["rev-parse", "HEAD^{tree}"], cwd=worktree).stdout.strip() == tree:
        return None
    return commit_tree(worktree, tree, [head], message)


def switch_new_branch(worktree: str | os.PathLike[str], branch: str, start: str) -> None:
    """In a clean ``worktree``, check out ``branch`` (created at ``start``, or the existing branch).
    Raises GitError."""
    if branch_exists(worktree, branch):
        run_git(["checkout", "--quiet", branch], cwd=worktree)
    else:
        run_git(["checkout", "--quiet", "-b", branch, start], cwd=worktree)


def detach_head(worktree: str | os.PathLike[str]) -> None:
    """Detach HEAD of ``worktree`` at its current commit, so its branch can be deleted elsewhere.

    The commit stays, so no file and no index entry changes: only HEAD. When :func:`_worktree_head`
    reads the layout and HEAD is on a branch, HEAD is rewritten here as git writes it (its lock file
    protocol, lockfile.c: ``HEAD.lock`` created exclusively, the sha written, renamed over ``HEAD``)
    and the move appended to the worktree's HEAD reflog when it keeps one (``logs/HEAD``: the line
    ``git checkout --detach`` writes, committer as :func:`run_git` sets it): no git process. Else,
    or when ``HEAD.lock`` is taken (a git command is running there), ``git checkout --detach``.
    Raises GitError.
    """
    dirs = _git_dirs(Path(worktree))
    head = None if dirs is None else _head_in(*dirs)
    if dirs is None or head is None or head[0] is None or head[1] is None:
        run_git(["checkout", "--quiet", "--detach"], cwd=worktree)
        return
    branch, sha = head
    git_dir = dirs[0]
    lock = git_dir / "HEAD.lock"
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        run_git(["checkout", "--quiet", "--detach"], cwd=worktree)  # git says who holds it
        return
    try:
        os.write(fd, f"{sha}\n".encode())
    except BaseException:
        os.close(fd)
        lock.unlink()
        raise
    os.close(fd)
    os.replace(lock, git_dir / "HEAD")
    log = git_dir / "logs" / "HEAD"
    if log.is_file():
        import time

        env = git_env()
        name, email = env["GIT_COMMITTER_NAME"], env["GIT_COMMITTER_EMAIL"]
        name, email = ("".join(c for c in v if c not in "<>\n\r") for v in (name, email))  # as git's ident
        line = f"{sha} {sha} {name} <{email}> {int(time.time())} {time.strftime('%z')}\tcheckout: moving from {branch} to HEAD\n"
        with log.open("a", encoding="utf-8") as fh:
            fh.write(line)


def delete_branch(repo_path: str | os.PathLike[str], branch: str) -> None:
    """Delete ``refs/heads/<branch>`` whatever it points at (no-op when missing)."""
    run_git(["update-ref", "-d", f"refs/heads/{branch}"], cwd=repo_path, check=False)


def _one_line(value: object) -> str:
    text = str(value).strip().splitlines()
    return text[-1] if text else type(value).__name__


# --- reads for the cockpit's detail views (core.inspect) ---


def merge_base(repo_path: str | os.PathLike[str], a: str, b: str) -> str | None:
    """The best common ancestor of commits ``a`` and ``b`` (``git merge-base``), or None when they
    share no history or either is unknown."""
    proc = run_git(["merge-base", a, b], cwd=repo_path, check=False)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def commits_between(repo_path: str | os.PathLike[str], base: str, head: str, limit: int = 200) -> list[tuple[str, str]]:
    """The commits reachable from ``head`` and not from ``base``, newest first, at most ``limit``:
    (full sha, subject line). Subjects are the authors' text (agents'): the caller shows them as text.
    Raises GitError if either commit is unknown."""
    out = run_git(
        ["log", f"--max-count={int(limit)}", "--format=%H%x00%s", f"{base}..{head}", "--"], cwd=repo_path
    ).stdout
    return [(sha, subject) for sha, _, subject in (line.partition("\0") for line in out.splitlines()) if sha]


def diff_text(
    repo_path: str | os.PathLike[str], base: str, max_bytes: int, head: str | None = None
) -> tuple[str, bool]:
    """The diff against commit ``base`` (``git diff --no-color --no-ext-diff --no-textconv BASE
    [HEAD]``): of commit ``head``, or without it of the files of the worktree ``repo_path``
    (committed and not yet committed changes to tracked files). At most ``max_bytes`` bytes (cut at
    a line end; git is stopped once that much was read). Returns (text, truncated). Raises GitError
    when git fails (an unknown commit; no ``head`` outside a worktree)."""
    proc = subprocess.Popen(
        ["git", "diff", "--no-color", "--no-ext-diff", "--no-textconv", base, *([head] if head else []), "--"],
        cwd=str(repo_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=git_env({"GIT_PAGER": "cat"}),
    )
    assert proc.stdout is not None and proc.stderr is not None
    data = proc.stdout.read(max_bytes + 1)
    truncated = len(data) > max_bytes
    if truncated:
        proc.kill()
        data = data[:max_bytes]
        data = data[: data.rfind(b"\n") + 1] or data
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.stdout.close()
    proc.stderr.close()
    if proc.wait() != 0 and not truncated:
        raise GitError(f"git diff {base[:12]} failed in {repo_path}: {_one_line(err)}")
    return data.decode("utf-8", "replace"), truncated
