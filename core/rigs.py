"""Rigs: a project's git repository (cloned bare into ``<rig>/.repo.git``) and its config ``rig.toml``.

The filesystem is the registry: a rig is a directory of the town holding a ``rig.toml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.atomic import atomic_write_text
from core.beads import routes
from core.config import RIG_SETTINGS, RIG_TEMPLATE, STRATEGIES, check_branch_name, load_rig_config, setting
from core.errors import Conflict, GitError, GtError, NotFound
from core.names import check_prefix, check_rig_name
from core.town import Town

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

RIG_FILE = routes.RIG_FILE
#: The routes file in the town repository (:mod:`core.beads.routes`), committed with each rig add and remove.
ROUTES_REL = f".beads/{routes.ROUTES_FILE}"
RESERVED = {"mayor", "deacon", "hq"}


@dataclass
class Rig:
    """A rig of a town. ``path`` is ``<town>/<name>``; ``config`` the parsed ``rig.toml``."""

    town: Town
    name: str
    config: Any

    @property
    def path(self) -> Path:
        return self.town.rig_dir(self.name)

    @property
    def repo_path(self) -> Path:
        """The bare repository every worktree of the rig hangs off."""
        return self.path / ".repo.git"

    @property
    def polecats_dir(self) -> Path:
        return self.path / "polecats"

    @property
    def refinery_dir(self) -> Path:
        return self.path / "refinery"

    @property
    def crew_dir(self) -> Path:
        return self.path / "crew"

    @property
    def prefix(self) -> str:
        return str(self.config["prefix"])

    @property
    def default_branch(self) -> str:
        return str(self.config["default_branch"])

    @property
    def git_url(self) -> str:
        return str(self.config["git_url"])

    def setting(self, section: str | None, key: str) -> Any:
        """A rig setting as its type, with its documented default (``core.config.RIG_SETTINGS``)."""
        return setting(self.config, section, key, RIG_SETTINGS)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: name, path, git_url, push_url ("" when it is git_url), default_branch,
        prefix, gates (names), strategy (where merged work lands)."""
        gates = [k for k in self.config.get("gates", {}) if k != "env"]
        return {
            "name": self.name,
            "path": str(self.path),
            "git_url": self.git_url,
            "push_url": str(self.setting(None, "push_url")),
            "default_branch": self.default_branch,
            "prefix": self.prefix,
            "gates": gates,
            "strategy": str(self.setting("merge_queue", "strategy")),
        }


def load_rig(town: Town, name: str) -> Rig:
    """The rig ``name`` of ``town``. Raises NotFound listing the rigs there are, ConfigError naming the
    file, key and fix for a malformed or mistyped ``rig.toml`` (:func:`core.config.load_rig_config`)."""
    check_rig_name(name)
    path = town.rig_dir(name) / RIG_FILE
    if not path.is_file():
        names = ", ".join(r.name for r in list_rigs(town)) or "none yet"
        raise NotFound(f"no rig named {name!r} (rigs: {names}): add it with 'gt rig add {name} URL'")
    return Rig(town, name, load_rig_config(path))


def list_rigs(town: Town) -> list[Rig]:
    """All rigs of ``town``, sorted by name. Raises ConfigError for the first malformed ``rig.toml``."""
    out = []
    for child in sorted(town.root.iterdir()):
        if child.is_dir() and (child / RIG_FILE).is_file() and not child.name.startswith("."):
            out.append(Rig(town, child.name, load_rig_config(child / RIG_FILE)))
    return out


def rig_for_path(town: Town, path: str | Path) -> Rig | None:
    """The rig whose directory contains ``path`` (e.g. a polecat worktree), or None."""
    p = Path(path).resolve()
    try:
        rel = p.relative_to(town.root)
    except ValueError:
        return None
    if not rel.parts:
        return None
    if (town.rig_dir(rel.parts[0]) / RIG_FILE).is_file():
        return load_rig(town, rel.parts[0])
    return None


def derive_prefix(name: str, taken: set[str]) -> str:
    """A 2-4 letter bead prefix for rig ``name`` that is not in ``taken``.

    Tries the initials of the name's words (``my-project`` -> ``mp``), then its first 2, 3 and 4
    letters, then the first letters with a digit. Raises Conflict if all are taken.
    """
    words = [w for w in re.split(r"[-_]+", name) if w]
    letters = re.sub(r"[^a-z0-9]", "", name)
    candidates = []
    initials = "".join(w[0] for w in words)
    if 2 <= len(initials) <= 4:
        candidates.append(initials)
    for n in (2, 3, 4):
        if len(letters) >= n:
            candidates.append(letters[:n])
    if len(letters) < 2:
        candidates.append((letters + "x")[:2])
    for d in range(2, 10):
        candidates.append(f"{letters[:2] or 'rg'}{d}")
    for c in candidates:
        if re.fullmatch(r"[a-z][a-z0-9]{1,3}", c) and c not in taken:
            return c
    raise Conflict(f"cannot derive a free prefix for rig {name!r}: pass one with --prefix")


def add_rig(
    town: Town,
    name: str,
    url: str,
    prefix: str | None = None,
    branch: str | None = None,
    strategy: str | None = None,
    push_url: str | None = None,
) -> Rig:
    """Add rig ``name``: clone ``url`` bare into ``<rig>/.repo.git`` (dulwich), detect the default
    branch (or use ``branch``), write ``rig.toml``, route the prefix's beads to the rig
    (:func:`core.beads.routes.add`) and commit both to the town repository.

    strategy: where merged work lands (``[merge_queue] strategy``: direct, local, pr); None picks
    ``direct`` when git may push to the repository (:func:`core.remote.may_push`, a dry-run push),
    else ``local``. push_url: where to push instead of ``url`` (written as ``push_url``).
    Raises GtError for a bad name, prefix or strategy, Conflict for a duplicate rig or prefix, GitError
    for a path that is not a repository or an unreachable URL. On any failure no rig directory is left.
    """
    import shutil  # the rig management commands only: reading rigs (every gt status) needs neither

    from core import git
    from core.remote import may_push

    check_rig_name(name)
    if name in RESERVED:
        raise GtError(f"rig name {name!r} is reserved: choose another name")
    rig_dir = town.rig_dir(name)
    if (rig_dir / RIG_FILE).exists():
        raise Conflict(f"rig {name!r} already exists: remove it first with 'gt rig remove {name}'")
    if rig_dir.exists():
        raise Conflict(f"{rig_dir} already exists and is not a rig: move it away or choose another name")
    rigs = list_rigs(town)
    taken = {r.prefix for r in rigs} | {town.prefix}
    if prefix is not None:
        check_prefix(prefix)
        if prefix in taken:
            owner = next((r.name for r in rigs if r.prefix == prefix), "the town")
            raise Conflict(f"prefix {prefix!r} is already used by {owner}: choose another with --prefix")
    else:
        prefix = derive_prefix(name, taken)
    if branch is not None:
        check_branch_name(branch, "--branch")
    if strategy is not None and strategy not in STRATEGIES:
        raise GtError(f"unknown landing strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    if push_url is not None and (not push_url.strip() or push_url.startswith("-")):
        raise GtError(f"push URL {push_url!r} is not a URL or path: give the repository to push to")
    rig_dir.mkdir(parents=True)
    try:
        detected = check_branch_name(git.clone_bare(url, rig_dir / ".repo.git"), f"the default branch of {url!r}")
        if branch is not None and branch not in git.branches(rig_dir / ".repo.git"):
            raise GitError(f"repository {url!r} has no branch {branch!r}: pass an existing branch with --branch")
        import tomlkit  # only to write rig.toml: reading it is core.config.read_toml

        doc = tomlkit.parse(RIG_TEMPLATE.format(name=name, prefix=prefix))
        doc["git_url"] = _absolute(url)
        doc["default_branch"] = branch or detected
        doc["prefix"] = prefix
        if push_url:
            doc["push_url"] = push_url
        if strategy is None:
            may = may_push(
                rig_dir / ".repo.git", str(doc.get("push_url") or doc["git_url"]), str(doc["default_branch"])
            )
            strategy = "direct" if may[0] else "local"
        doc["merge_queue"]["strategy"] = strategy
        atomic_write_text(rig_dir / RIG_FILE, tomlkit.dumps(doc))
        routes.add(town, prefix, name)
        for sub in ("polecats", "crew"):
            (rig_dir / sub).mkdir()
        from core.beads.jsonl import import_repo_ledger
        from core.beads.store import BeadStore

        with BeadStore(town) as store:  # the repository's own .beads/issues.jsonl joins the town ledger
            import_repo_ledger(
                store, rig_dir / ".repo.git", branch or detected, source=f"rig {name} .beads/issues.jsonl"
            )
    except BaseException:
        shutil.rmtree(rig_dir, ignore_errors=True)
        routes.remove(town, name)
        raise
    if git.is_repo(town.root):
        git.commit_paths(town.root, [f"{name}/{RIG_FILE}", ROUTES_REL], f"gt rig add {name}")
    return load_rig(town, name)


def _absolute(url: str) -> str:
    """``url`` with a local path made absolute (``~`` expanded), so fetches and pushes from the bare
    clone reach it whatever the current directory; URLs are kept as given."""
    from core.remote import is_local

    if is_local(url) and not url.startswith("file://"):
        return str(Path(url).expanduser().absolute())
    return url


def held_work(rig: Rig) -> list[str]:
    """Worktrees of ``rig`` that still exist: polecats' (their work is not yet merged or nuked) by
    name, then crew workspaces' (a human's) as ``crew/<name>``."""
    held = sorted(p.name for p in rig.polecats_dir.iterdir() if p.is_dir()) if rig.polecats_dir.is_dir() else []
    if rig.crew_dir.is_dir():
        held += sorted(f"crew/{p.name}" for p in rig.crew_dir.iterdir() if p.is_dir())
    return held


def remove_rig(town: Town, name: str, force: bool = False) -> None:
    """Remove rig ``name``: its directory (bare repo, worktrees), its route
    (:func:`core.beads.routes.remove`) and its ``rig.toml`` from the town repo.

    Raises Conflict while polecats or crew workspaces of the rig hold work, unless ``force``;
    NotFound for an unknown rig.
    """
    import shutil

    from core import git

    rig = load_rig(town, name)
    holders = held_work(rig)
    if holders and not force:
        raise Conflict(
            f"rig {name!r} has polecats or crew workspaces holding work ({', '.join(holders)}): "
            "finish or nuke them (gt crew remove NAME for a crew workspace) first, or pass --force"
        )
    shutil.rmtree(rig.path)
    routes.remove(town, name)
    if git.is_repo(town.root):
        git.commit_paths(town.root, [f"{name}/{RIG_FILE}", ROUTES_REL], f"gt rig remove {name}")
