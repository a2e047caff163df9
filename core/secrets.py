"""Secrets never merge (issue 15 item 5): files gastown puts into a worktree stay out of commits, and
``gt done`` refuses to commit or submit files that look like secrets.

- :func:`exclude_from_commits` lists files in the rig's bare repository ``info/exclude`` (shared by
  every worktree of the rig), so ``git add -A`` by an agent, the sim or ``gt done`` skips them. Used for
  the role context files (:func:`core.roles.write_context_files`) and the ``[worktree] copy`` files
  (:func:`core.worktrees.ensure_worktree`).
- :func:`secret_patterns` is the configured list (``[secrets] patterns`` of ``rig.toml``, else of
  ``town.toml``; defaults in :data:`core.config.TOWN_TEMPLATE`), :func:`matching` applies it, and
  :func:`refuse_secrets` is the check ``gt done`` makes before its leftover commit.

Patterns are globs (:func:`fnmatch.fnmatchcase`): one without ``/`` matches a file's name at any depth,
one with ``/`` the whole path from the worktree root; a leading ``!`` exempts what it matches.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from core import git
from core.errors import ConfigError, GtError

if TYPE_CHECKING:
    from core.rigs import Rig


class SecretRefused(GtError):
    """``gt done`` found files matching the secret patterns in what it would commit or submit."""


def exclude_from_commits(repo_path: str | os.PathLike[str], rel_paths: Iterable[str]) -> list[str]:
    """Add each worktree-relative path of ``rel_paths`` (``/``-separated) to ``<repo_path>/info/exclude``
    as an anchored, glob-escaped line, unless already there. Returns the lines added.

    repo_path: the rig's bare repository (its ``info/exclude`` applies to all its worktrees).
    """
    exclude = Path(repo_path) / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    current = exclude.read_text(encoding="utf-8") if exclude.exists() else ""
    have = set(current.splitlines())
    missing = []
    for rel in rel_paths:
        line = "/" + _escape(rel.strip("/"))
        if line not in have and line not in missing:
            missing.append(line)
    if missing:
        with exclude.open("a", encoding="utf-8") as fh:
            if current and not current.endswith("\n"):
                fh.write("\n")
            fh.write("\n".join(missing) + "\n")
    return missing


def _escape(rel: str) -> str:
    """``rel`` as a literal gitignore pattern (glob characters, a leading ``#``/``!`` and trailing
    spaces escaped)."""
    out = "".join("\\" + c if c in "*?[]\\" else c for c in rel)
    if out.startswith(("#", "!")):
        out = "\\" + out
    stripped = out.rstrip(" ")
    return stripped + "\\ " * (len(out) - len(stripped))


def secret_patterns(rig: Rig) -> list[str]:
    """The secret patterns of ``rig``: ``[secrets] patterns`` of its ``rig.toml`` when set, else the
    town's (``town.toml``, with the documented default). Raises ConfigError naming the file and key
    when the value is not a list of non-empty strings."""
    own = rig.config.get("secrets", {})
    if isinstance(own, dict) and "patterns" in own:
        value, where = own["patterns"], rig.path / "rig.toml"
    else:
        value, where = rig.town.setting("secrets", "patterns"), rig.town.config_path
    value = value.unwrap() if hasattr(value, "unwrap") else value
    if not isinstance(value, list) or not all(isinstance(p, str) and p.strip("!") for p in value):
        raise ConfigError(
            f'{where}: [secrets] patterns must be a list of glob strings such as [".env*", "*.pem"] '
            f"(got {value!r}): fix it"
        )
    return list(value)


def matching(paths: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The paths of ``paths`` (worktree-relative, ``/``-separated) that match ``patterns`` (see the
    module docstring), in order, without duplicates."""
    keep = [p for p in patterns if not p.startswith("!")]
    exempt = [p[1:] for p in patterns if p.startswith("!")]
    out: list[str] = []
    for path in paths:
        if path not in out and _hits(path, keep) and not _hits(path, exempt):
            out.append(path)
    return out


def _hits(path: str, patterns: Sequence[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    for pat in patterns:
        if "/" in pat.strip("/"):
            if fnmatch.fnmatchcase(path, pat.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pat.strip("/")):
            return True
    return False


def leftover_paths(worktree: str | os.PathLike[str], status: Sequence[tuple[str, str]] | None = None) -> list[str]:
    """The files ``git add -A`` would put into a commit of ``worktree``: untracked files not ignored,
    and tracked files changed or staged that are still there (deletions left out: removing a file
    leaks nothing). status: :func:`core.git.worktree_status` of ``worktree`` when the caller has read
    it already (else it is read here)."""
    entries = git.worktree_status(worktree) if status is None else status
    root = Path(worktree)
    return [path for code, path in entries if code == "??" or os.path.lexists(root / path)]


def _merge_base(worktree: str | os.PathLike[str], base: str) -> str:
    return git.run_git(["merge-base", base, "HEAD"], cwd=worktree, check=False).stdout.strip() or base


def branch_paths(worktree: str | os.PathLike[str], base: str) -> list[str]:
    """Files added or changed by any commit on ``worktree``'s HEAD since ``base`` (a sha: the commits
    of ``base..HEAD``, :func:`core.git.branch_commits`): a secret committed and removed again still
    sits in the history a merge would bring."""
    return [path for paths in git.branch_commits(worktree, base) for path in paths]


def refuse_secrets(
    rig: Rig,
    worktree: str | os.PathLike[str],
    base: str,
    status: Sequence[tuple[str, str]] | None = None,
    commits: Sequence[Sequence[str]] | None = None,
) -> None:
    """Raise SecretRefused (exit 2, one line naming the files and the fix) when the leftovers of
    ``worktree`` or the commits of its branch since ``base`` (a sha of the default branch) hold files
    matching :func:`secret_patterns`. Changes nothing. Raises ConfigError for a bad pattern list.

    status, commits: :func:`core.git.worktree_status` and :func:`core.git.branch_commits` (against
    ``base``) of ``worktree`` when the caller has read them already (``gt done`` reads each once);
    what is not given is read here.
    """
    patterns = secret_patterns(rig)
    if not patterns:
        return
    left = matching(leftover_paths(worktree, status), patterns)
    branch = branch_paths(worktree, base) if commits is None else [p for paths in commits for p in paths]
    committed = [p for p in matching(branch, patterns) if p not in left]
    if not left and not committed:
        return
    named = ", ".join(repr(p) for p in (left + committed)[:5]) + (" ..." if len(left) + len(committed) > 5 else "")
    if committed:
        fix = (
            f"drop them from the branch history (git reset --soft {_merge_base(worktree, base)[:12]}, then "
            "commit again without them) and add them to .gitignore"
        )
    else:
        fix = "delete them or add them to .gitignore"
    raise SecretRefused(
        f"gt done refused: {named} match the secret patterns ([secrets] patterns) and must not be "
        f"committed or merged: {fix}, or change [secrets] patterns in rig.toml; nothing was committed"
    )
