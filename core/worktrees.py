"""Polecat worktrees: ``git worktree add -b polecat/<name>/<bead> <rig>/polecats/<name> <default>``
off the rig's bare repository (git CLI; DESIGN section 4 has the measured reasons).

New branches start from the freshest tip (:func:`core.upstream.start_point`: the upstream default
branch fetched by the sling or the engine's timer when it is ahead of the rig's own). An idle
polecat's worktree is reused: switched to the new branch from that tip, only when it holds no
uncommitted work. Optional per-rig setup from ``rig.toml`` ``[worktree]``:
``setup`` (argv lists run in a new worktree) and ``copy`` (files copied from the rig's crew checkout,
kept out of every commit through the repository's ``info/exclude``, never from or to outside).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from core import git
from core.config import check_copy_path
from core.errors import Conflict, GtError
from core.names import check_polecat_name
from core.rigs import RIG_FILE, Rig
from core.secrets import exclude_from_commits
from core.upstream import start_point


def branch_name(polecat: str, bead: str) -> str:
    """The work branch of ``polecat`` on ``bead``: ``polecat/<name>/<bead-id>``."""
    return f"polecat/{polecat}/{bead}"


def worktree_path(rig: Rig, polecat: str) -> Path:
    """``<rig>/polecats/<name>`` (the name is validated first)."""
    return rig.polecats_dir / check_polecat_name(polecat)


def ensure_worktree(rig: Rig, polecat: str, bead: str) -> tuple[Path, str, bool]:
    """Create or reuse the worktree of ``polecat`` for ``bead``.

    Returns (path, branch, created). A new worktree runs the rig's ``[worktree]`` copy and setup
    steps. Raises Conflict when an existing worktree is on another bead's branch with uncommitted
    work (a clean one is needed), GitError when git fails, GtError when a setup command fails (the new
    worktree is then removed again).
    """
    path = worktree_path(rig, polecat)
    branch = branch_name(polecat, bead)
    # the commit, not the name: git checkout -b resolves a name twice (tree, then branch), so a
    # refinery moving the default branch in between would leave the tree and the branch apart; the
    # freshest tip: upstream's when it is ahead (core.upstream.start_point)
    base = start_point(rig) or rig.default_branch
    if path.exists() and git.worktree_valid(path, rig.repo_path):
        if git.current_branch(path) == branch:
            return path, branch, False  # resume: the same bead, keep everything as it is
        dirty = git.dirty_paths(path)
        if dirty:
            raise Conflict(
                f"worktree {path} has uncommitted work ({', '.join(dirty[:3])}{'...' if len(dirty) > 3 else ''}): "
                f"commit it with 'gt checkpoint' or nuke the polecat with 'gt polecat nuke {polecat} --force'"
            )
        git.switch_new_branch(path, branch, base)
        return path, branch, False
    if path.exists():
        if any(path.iterdir()):
            raise Conflict(f"{path} exists and is not a worktree of rig {rig.name}: move it away")
        path.rmdir()
    path.parent.mkdir(parents=True, exist_ok=True)
    git.worktree_add(rig.repo_path, path, branch, base)
    try:
        _setup(rig, path)
    except BaseException:
        git.worktree_remove(rig.repo_path, path, force=True)
        raise
    return path, branch, True


def _setup(rig: Rig, path: Path) -> None:
    copy = [check_copy_path(rel, rig.path / RIG_FILE) for rel in rig.setting("worktree", "copy")]
    setup = rig.setting("worktree", "setup")
    copy_files(rig, path, copy)
    for argv in setup:
        if isinstance(argv, str):
            argv = [argv]
        try:
            proc = subprocess.run(
                list(argv), cwd=path, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GtError(f"worktree setup {argv!r} failed in {path}: {exc}; fix [worktree] setup in rig.toml") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            raise GtError(
                f"worktree setup {argv!r} exited {proc.returncode} ({tail[0]}): fix [worktree] setup in rig.toml"
            )


def copy_files(rig: Rig, path: Path, rels: list[str]) -> list[str]:
    """Copy the ``[worktree] copy`` files ``rels`` (checked by :func:`core.config.check_copy_path`)
    from the rig's source checkout (:func:`_copy_source`) into the worktree ``path``, after listing
    them in the repository's ``info/exclude`` so that no commit (the agent's, the sim's, ``gt done``'s)
    picks them up. Missing source files are skipped. Returns the paths copied.

    Raises GtError when a file or a directory on its way is a symlink leading out of the checkout or
    out of the worktree (nothing outside the worktree is ever read or written).
    """
    if not rels:
        return []
    exclude_from_commits(rig.repo_path, rels)
    source = _copy_source(rig)
    if source is None:
        return []
    root, home = source.resolve(), path.resolve()
    copied = []
    for rel in rels:
        src = source / rel
        if not src.is_file():
            continue
        dest = path / rel
        real_src = src.resolve()
        if not real_src.is_relative_to(root):
            raise GtError(
                f"[worktree] copy entry {rel!r} in {rig.path / RIG_FILE} is a symlink to {real_src}, outside "
                f"the checkout {source}: copy only files inside it"
            )
        existing = dest.parent
        while not os.path.lexists(existing):
            existing = existing.parent
        if not existing.resolve().is_relative_to(home) or dest.is_symlink():
            raise GtError(
                f"[worktree] copy entry {rel!r} in {rig.path / RIG_FILE} leads out of the worktree {path} "
                "through a symlink: remove the symlink from the repository or the entry from copy"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(real_src, dest)
        copied.append(rel)
    return copied


def _copy_source(rig: Rig) -> Path | None:
    """Where ``[worktree] copy`` files come from: the first crew checkout, else a local git_url."""
    if rig.crew_dir.is_dir():
        for crew in sorted(rig.crew_dir.iterdir()):
            if crew.is_dir():
                return crew
    local = Path(rig.git_url.removeprefix("file://")).expanduser()
    return local if local.is_dir() else None


def remove_worktree(rig: Rig, polecat: str, force: bool = False) -> None:
    """Remove ``polecat``'s worktree. Without ``force`` it must hold no uncommitted work (git refuses
    otherwise, and so do we, with the fix). The branch stays in the bare repository, so committed work
    is never lost. Raises Conflict."""
    path = worktree_path(rig, polecat)
    if not path.exists():
        return
    if not force:
        dirty = git.dirty_paths(path)
        if dirty:
            raise Conflict(
                f"worktree {path} has uncommitted work ({', '.join(dirty[:3])}): "
                "commit it, or pass --force (a checkpoint commit keeps it)"
            )
    git.worktree_remove(rig.repo_path, path, force=force)
