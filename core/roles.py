"""Who is calling: the role of a gt process, from its environment or its working directory.

Sessions get GT_TOWN, GT_ROLE, GT_RIG, GT_POLECAT, GT_BEAD and BD_ACTOR (DESIGN section 7; crew
sessions GT_CREW instead of GT_POLECAT); a human running gt inside ``<town>/<rig>/polecats/<name>`` is
treated as that polecat, inside ``<town>/<rig>/crew/<name>`` as that crew workspace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from core.errors import GtError
from core.records import Frozen
from core.town import RIG_FILE, Town

ROLES = ("mayor", "polecat", "crew", "refinery", "witness", "deacon", "human")

CONTEXT_FILES = ("CLAUDE.md", "AGENTS.md")
#: Where the role context goes when the project tracks its own file: Claude Code also reads
#: CLAUDE.local.md; Codex has no such file, so its runtime passes the text on the command line.
LOCAL_CONTEXT = {"CLAUDE.md": "CLAUDE.local.md"}


class Role(Frozen):
    """kind: one of ROLES; rig and name are set for polecats and crew; bead is GT_BEAD if given.

    Immutable, equal and hashed by its fields (:class:`core.records.Frozen`).
    """

    __slots__ = _FIELDS = ("kind", "rig", "name", "bead")
    kind: str
    rig: str | None
    name: str | None
    bead: str | None

    def __init__(self, kind: str, rig: str | None = None, name: str | None = None, bead: str | None = None) -> None:
        self._set(kind, rig, name, bead)

    @property
    def address(self) -> str:
        """Mail address: ``mayor/``, ``<rig>/polecats/<name>``, ``<rig>/crew/<name>``, ``<rig>/witness``..."""
        if self.kind == "polecat":
            return f"{self.rig}/polecats/{self.name}"
        if self.kind == "crew":
            return f"{self.rig}/crew/{self.name}"
        if self.kind in ("refinery", "witness"):
            return f"{self.rig}/{self.kind}"
        if self.kind in ("mayor", "deacon"):
            return f"{self.kind}/"
        return "human"


def detect(town: Town, env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> Role:
    """The role of the calling process: GT_ROLE/GT_RIG/GT_POLECAT (GT_CREW for a crew session) first,
    else the cwd's place in the town."""
    env = os.environ if env is None else env
    bead = env.get("GT_BEAD") or None
    kind = env.get("GT_ROLE", "")
    if kind == "polecat" and env.get("GT_RIG") and env.get("GT_POLECAT"):
        return Role("polecat", env["GT_RIG"], env["GT_POLECAT"], bead)
    if kind == "crew" and env.get("GT_RIG") and env.get("GT_CREW"):
        return Role("crew", env["GT_RIG"], env["GT_CREW"], bead)
    if kind in ("mayor", "deacon"):
        return Role(kind, bead=bead)
    if kind in ("refinery", "witness") and env.get("GT_RIG"):
        return Role(kind, env["GT_RIG"], bead=bead)
    here = Path(cwd or os.getcwd()).resolve()
    try:
        parts = here.relative_to(town.root).parts
    except ValueError:
        return Role("human", bead=bead)
    if parts and parts[0] == "mayor":
        return Role("mayor", bead=bead)
    if len(parts) >= 3 and (town.rig_dir(parts[0]) / RIG_FILE).is_file() and parts[1] in ("polecats", "crew"):
        return Role("polecat" if parts[1] == "polecats" else "crew", parts[0], parts[2], bead)
    return Role("human", bead=bead)


def require_polecat(town: Town, env: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> Role:
    """The calling polecat. Raises GtError when not run from inside a polecat (worktree or session)."""
    role = detect(town, env, cwd)
    if role.kind != "polecat":
        raise GtError(
            "not inside a polecat: run this in a polecat worktree (<rig>/polecats/<name>) or pass --polecat NAME"
        )
    return role


def context_text(rig: str, polecat: str, bead: str, title: str) -> str:
    """The role context file a polecat's agent CLI reads at start (CLAUDE.md / AGENTS.md): plain Markdown."""
    return f"""# Gas Town polecat {rig}/polecats/{polecat}

You are a polecat: a worker agent of the Gas Town rig `{rig}`. Your hook holds bead `{bead}`:
{title}

GUPP: if there is work on your hook, you run it. Start now with `gt prime`, which prints the whole brief.

Commands:
- `gt prime`: who you are, your hooked bead, its steps, your mail and the rules
- `gt hook`: what is on your hook
- `gt bead show {bead}` / `gt bead comment {bead} "text"`: read or annotate your bead
- `gt checkpoint`: save uncommitted work as a WIP commit
- `gt mail inbox`: your mail
- `gt done`: when finished: commits leftovers, submits your branch to the merge queue, you go idle
- `gt done --status ESCALATED -m "why"`: when you are blocked and need a human

Rules: commit often; stay in this worktree; never push to the default branch; finish with `gt done`.
"""


def write_context_files(
    repo_path: str | os.PathLike[str], worktree: str | os.PathLike[str], rig: str, polecat: str, bead: str, title: str
) -> list[str]:
    """Write the role context into ``worktree`` as CLAUDE.md and AGENTS.md, or, for a file the project
    tracks itself, as its local twin (:data:`LOCAL_CONTEXT`: CLAUDE.local.md) or not at all, and list
    what was written in the bare repository's ``info/exclude`` so it is never committed. The project's
    own files are never touched. Returns the names written (AGENTS.md missing: the runtime must pass
    the context another way)."""
    from core import git  # slinging writes context files; detecting a role (every gt process) does not
    from core.secrets import exclude_from_commits

    wt = Path(worktree)
    names = (*CONTEXT_FILES, *LOCAL_CONTEXT.values())
    tracked = set(git.run_git(["ls-files", "--", *names], cwd=wt).stdout.split())
    written = []
    text = context_text(rig, polecat, bead, title)
    for name in CONTEXT_FILES:
        if name in tracked:
            name = LOCAL_CONTEXT.get(name, "")
            if not name or name in tracked:
                continue
        (wt / name).write_text(text, encoding="utf-8")
        written.append(name)
    exclude_from_commits(repo_path, written)
    return written
