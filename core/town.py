"""The town: a workspace directory holding the config, the beads ledger and the rigs (DESIGN section 3).

Layout::

    <town>/town.toml        config (core.config.TOWN_TEMPLATE)
    <town>/.beads/          the ledger (issues.jsonl, formulas/) and routes.jsonl (core.beads.routes)
    <town>/.gastown/        runtime state: town.db (SQLite, WAL), logs/ (not committed)
    <town>/mayor/           cwd of the Mayor session
    <town>/<rig>/           one directory per rig (rig.toml, .repo.git, polecats/, refinery/, crew/)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from core.errors import GtError, NotATown
from core.records import Record
from core.filemodes import private_dir

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from typing import Any

TOWN_FILE = "town.toml"
#: A rig is a directory of the town holding this file (``core.rigs.RIG_FILE``, ``core.beads.routes.RIG_FILE``).
RIG_FILE = "rig.toml"

TOWN_GITIGNORE = """\
# Runtime state and the rigs' repositories stay out of the town (HQ) repository.
/.gastown/
/*/.repo.git/
/*/polecats/
/*/refinery/
/*/crew/
"""


class Town(Record):
    """A town on disk. ``root`` is an absolute path; the config is read lazily from ``town.toml``.

    Equal for the same root and config, unhashable (:class:`core.records.Record`); the repr shows the
    root only (the cached config is long).
    """

    _FIELDS = ("root", "_config")

    def __init__(self, root: Path, _config: Any = None) -> None:
        self.root = root
        self._config = _config

    def __repr__(self) -> str:
        return f"Town(root={self.root!r})"

    @property
    def config_path(self) -> Path:
        return self.root / TOWN_FILE

    @property
    def beads_dir(self) -> Path:
        return self.root / ".beads"

    @property
    def ledger_path(self) -> Path:
        """The classic beads JSONL export, committed to the town repository."""
        return self.beads_dir / "issues.jsonl"

    @property
    def formulas_dir(self) -> Path:
        return self.beads_dir / "formulas"

    @property
    def state_dir(self) -> Path:
        """``.gastown/``: runtime state, never committed."""
        return self.root / ".gastown"

    @property
    def db_path(self) -> Path:
        return self.state_dir / "town.db"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def mayor_dir(self) -> Path:
        return self.root / "mayor"

    def rig_dir(self, name: str) -> Path:
        """Directory of rig ``name`` (not checked for existence)."""
        return self.root / name

    @property
    def config(self) -> Any:
        """The parsed, validated ``town.toml`` (plain values, :func:`core.config.read_toml`). Raises ConfigError naming the file,
        key and fix if it is malformed or a setting has the wrong type (:func:`core.config.load_town_config`)."""
        if self._config is None:
            from core.config import load_town_config  # the schema and tomllib: not for a command that reads no setting

            self._config = load_town_config(self.config_path)
        return self._config

    def reload(self) -> None:
        """Forget the cached config so the next access re-reads ``town.toml``."""
        self._config = None

    def setting(self, section: str | None, key: str) -> Any:
        """A town setting with its documented default, e.g. ``town.setting("witness", "stall_after")``."""
        from core.config import setting

        return setting(self.config, section, key)

    @property
    def prefix(self) -> str:
        """Bead prefix of town-level beads (``hq`` by default)."""
        return str(self.setting("town", "prefix"))


def is_town(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` holds a ``town.toml``."""
    return (Path(path) / TOWN_FILE).is_file()


def town_of_db(path: str | os.PathLike[str]) -> Town | None:
    """The town whose database file is ``path`` (``<town>/.gastown/town.db``), or None for any other
    file (a test's scratch database, a rebuild's temporary file)."""
    p = Path(path).absolute()
    if p.name != "town.db" or p.parent.name != ".gastown":
        return None
    root = p.parent.parent.resolve()
    return Town(root) if is_town(root) else None


def ledger_bead_count(town: Town) -> int:
    """How many beads the town's committed ledger holds: the JSON object lines of
    ``.beads/issues.jsonl`` in the work tree, else (file deleted) at the town repository's HEAD."""
    try:
        data: bytes | None = town.ledger_path.read_bytes()
    except FileNotFoundError:
        from core import git  # git (and subprocess) only when the ledger file is gone

        data = git.read_path_at(town.root, "HEAD", ".beads/issues.jsonl") if (town.root / ".git").exists() else None
    return count_ledger_lines(data or b"")


def count_ledger_lines(data: bytes) -> int:
    """The number of bead lines (lines starting with ``{``) in ledger bytes ``data``."""
    return sum(1 for line in data.splitlines() if line.lstrip().startswith(b"{"))


def find_town(
    explicit: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Town:
    """Locate the town: ``explicit`` (``--town``), else ``$GT_TOWN``, else walk up from ``cwd``.

    Raises NotATown saying where it looked and how to make a town.
    """
    env = os.environ if env is None else env
    if explicit:
        p = Path(explicit).expanduser().resolve()
        if not is_town(p):
            raise NotATown(f"{p} is not a town (no {TOWN_FILE}): run 'gt install {p}' to make one")
        return Town(p)
    if env.get("GT_TOWN"):
        p = Path(env["GT_TOWN"]).expanduser().resolve()
        if not is_town(p):
            raise NotATown(f"GT_TOWN={p} is not a town (no {TOWN_FILE}): fix GT_TOWN or run 'gt install {p}'")
        return Town(p)
    start = Path(cwd or os.getcwd()).resolve()
    for candidate in (start, *start.parents):
        if is_town(candidate):
            return Town(candidate)
    raise NotATown(
        f"not inside a town ({start} and its parents have no {TOWN_FILE}): "
        "run 'gt install ~/gt' to make one, or pass --town PATH"
    )


def install_town(path: str | os.PathLike[str], use_git: bool = True) -> tuple[Town, bool]:
    """Create a town at ``path`` (or complete an existing one): ``town.toml`` with every default
    commented, ``.beads/``, ``.gastown/``, ``mayor/`` and, with ``use_git``, a git repository whose
    first commit holds them (dulwich).

    Returns (town, created): created is False when ``path`` already was a town (nothing overwritten).
    Raises GtError if ``path`` is a non-empty directory that is not a town, or a file.
    """
    from core import config
    from core.atomic import atomic_write_text

    root = Path(path).expanduser().resolve()
    existed = is_town(root)
    if root.exists() and not root.is_dir():
        raise GtError(f"{root} is a file: give a new or empty directory for the town")
    if root.is_dir() and not existed and any(root.iterdir()):
        raise GtError(f"{root} is not empty and is not a town: give a new or empty directory")
    root.mkdir(parents=True, exist_ok=True)
    town = Town(root)
    for d in (town.beads_dir, town.formulas_dir, town.mayor_dir):
        d.mkdir(parents=True, exist_ok=True)
    for d in (town.state_dir, town.logs_dir):
        private_dir(d)  # 0700: transcripts, logs and the database are the owner's only
    if existed:
        _ = town.config  # a malformed town.toml is reported, never overwritten
    written = []
    for rel, text in (
        (TOWN_FILE, config.TOWN_TEMPLATE),
        (".gitignore", TOWN_GITIGNORE),
        (".beads/issues.jsonl", ""),
        (".beads/routes.jsonl", ""),
        ("mayor/.gitkeep", ""),
    ):  # no rigs yet: no routes
        if not (root / rel).exists():
            atomic_write_text(root / rel, text)
            written.append(rel)
    if use_git:
        from core import git

        if not git.is_repo(root):
            git.init_repo(root)
            written = [TOWN_FILE, ".gitignore", ".beads/issues.jsonl", ".beads/routes.jsonl", "mayor/.gitkeep"]
        if written:
            git.commit_paths(root, written, "gt install: create town")
    return town, not existed
