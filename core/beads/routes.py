"""Routes: which rig a bead belongs to, by its id's prefix (Gas Town's ``internal/beads/routes.go``).

A bead id starts with its prefix (``mp`` of ``mp-a3f8.1``, :func:`prefix_of`); each rig has one
(``rig.toml``'s ``prefix``) and the town's own beads have the town's (``hq``, ``town.toml``). The
routes file ``<town>/.beads/routes.jsonl`` maps rig prefixes to rigs, one JSON object a line in Gas
Town's shape: ``{"prefix": "mp-", "path": "myproj"}``, the prefix with its hyphen and the rig's
directory relative to the town root. The town's prefix has no route: a prefix without one is a
town-level bead's (or unknown).

The rig manager writes it (:func:`add` and :func:`remove`, called by ``core.rigs``' rig add and
remove); everything else reads it (:func:`load`, :func:`rig_of`, :func:`prefix_for_rig`), so the
bead ledger never needs to know what a rig is. A town made before the file existed has none: the
first read derives it once from the rigs' ``rig.toml`` files (a directory of the town holding one,
as ``core.rigs`` defines a rig) and writes it atomically. Writers hold ``.gastown/routes.lock``, so
a derivation and a rig add racing each other cannot drop a route. Deleting the file makes the next
read derive it again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from core.atomic import atomic_write_text
from core.errors import ConfigError
from core.filemodes import private_dir
from core.names import PREFIX, RIG_NAME
from core.town import RIG_FILE as TOWN_RIG_FILE

TYPE_CHECKING = False  # typing's import costs every gt process more than its use
if TYPE_CHECKING:
    from filelock import FileLock

    from core.town import Town

ROUTES_FILE = "routes.jsonl"
#: A rig is a directory of the town holding this file (``core.rigs.RIG_FILE``).
RIG_FILE = TOWN_RIG_FILE
LOCK_TIMEOUT_S = 60.0

#: routes file path -> ((mtime ns, size, inode), prefix -> rig): :func:`load` re-reads only a changed file.
_cache: dict[Path, tuple[tuple[int, int, int], dict[str, str]]] = {}


def prefix_of(bead: str) -> str:
    """The prefix of bead id ``bead``: everything before its first ``-`` (``mp`` of ``mp-a3f8.1``,
    ``hq`` of ``hq-cv-x1``; the whole string when it has no ``-``)."""
    return bead.split("-", 1)[0]


def rig_for(bead: str, table: Mapping[str, str]) -> str | None:
    """The rig of bead id ``bead`` in ``table`` (prefix -> rig name, as :func:`load` returns), or None
    for a town-level or unknown prefix."""
    return table.get(prefix_of(bead))


def routes_path(town: Town) -> Path:
    """``<town>/.beads/routes.jsonl``."""
    return town.beads_dir / ROUTES_FILE


def load(town: Town) -> dict[str, str]:
    """The routes of ``town``: rig prefix (without its hyphen) -> rig name. Derives and writes the file
    first when it is missing (see the module docstring).

    Raises ConfigError naming the file and line for a malformed routes file, or the ``rig.toml`` a
    derivation could not read.
    """
    path = routes_path(town)
    try:
        st = path.stat()
    except FileNotFoundError:
        return _derive(town)
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = _cache.get(path)
    if cached is not None and cached[0] == key:
        return dict(cached[1])
    table = _parse(path, path.read_text(encoding="utf-8"))
    _cache[path] = (key, table)
    return dict(table)


def rig_of(town: Town, bead: str) -> str | None:
    """The name of the rig bead id ``bead`` belongs to, or None (a town-level or unknown prefix)."""
    return rig_for(bead, load(town))


def prefix_for_rig(town: Town, rig: str) -> str | None:
    """The bead prefix of rig ``rig``, or None when no route names it."""
    return next((p for p, r in load(town).items() if r == rig), None)


def add(town: Town, prefix: str, rig: str) -> None:
    """Route ``prefix`` to ``rig`` (replacing any route of that prefix or that rig), atomically."""
    with _lock(town):
        table = {p: r for p, r in _read_or_derive(town).items() if p != prefix and r != rig}
        table[prefix] = rig
        _write(town, table)


def remove(town: Town, rig: str) -> None:
    """Drop the routes of ``rig`` (nothing to do when it has none), atomically."""
    with _lock(town):
        table = _read_or_derive(town)
        kept = {p: r for p, r in table.items() if r != rig}
        if kept != table:
            _write(town, kept)


def format_routes(table: Mapping[str, str]) -> str:
    """The routes file's text for ``table`` (prefix -> rig): one line per route, sorted by prefix."""
    return "".join(json.dumps({"prefix": f"{p}-", "path": r}) + "\n" for p, r in sorted(table.items()))


def _route(line: str) -> tuple[str, str] | None:
    """(prefix, rig) of one routes line, or None when it is not a route to a rig: the prefix must be a
    bead prefix with its hyphen and the path a rig name (``core.names``), so nothing read from the file
    can name another directory or carry a control sequence into a message."""
    try:
        route = json.loads(line)
    except ValueError:
        return None
    if not isinstance(route, dict):
        return None
    prefix, rig = route.get("prefix"), route.get("path")
    if not isinstance(prefix, str) or not isinstance(rig, str) or not prefix.endswith("-"):
        return None
    if not PREFIX.fullmatch(prefix[:-1]) or not RIG_NAME.fullmatch(rig):
        return None
    return prefix[:-1], rig


def _parse(path: Path, text: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        route = _route(line)
        if route is None:
            raise ConfigError(
                f'{path}:{n}: not a route like {{"prefix": "mp-", "path": "<rig>"}}: fix the line, '
                "or delete the file to derive it again from the rigs' rig.toml"
            )
        table[route[0]] = route[1]
    return table


def _lock(town: Town) -> FileLock:
    from filelock import FileLock  # only to write or derive the table: reads of routes.jsonl take no lock

    private_dir(town.state_dir)
    return FileLock(str(town.state_dir / "routes.lock"), timeout=LOCK_TIMEOUT_S)


def _derive(town: Town) -> dict[str, str]:
    try:
        with _lock(town):
            return _read_or_derive(town)
    except OSError:  # a town this process cannot write to (another user's): route from the rig.toml files
        return _from_rig_files(town)


def _read_or_derive(town: Town) -> dict[str, str]:
    """The routes file's table, or (no file) the table of the rigs' ``rig.toml``, written out. The
    caller holds the lock."""
    path = routes_path(town)
    try:
        return _parse(path, path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        pass
    table = _from_rig_files(town)
    _write(town, table)
    return table


def _from_rig_files(town: Town) -> dict[str, str]:
    """prefix -> rig of every directory of the town named like a rig and holding a ``rig.toml``."""
    import tomllib  # only when routes.jsonl is missing: the table is derived once, then read as JSON

    table: dict[str, str] = {}
    for child in sorted(town.root.iterdir()):
        config = child / RIG_FILE
        if not RIG_NAME.fullmatch(child.name) or not child.is_dir() or not config.is_file():
            continue
        try:
            prefix = tomllib.loads(config.read_text(encoding="utf-8")).get("prefix")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"{config}: cannot read the rig's prefix to route its beads ({exc}): fix the file"
            ) from exc
        if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
            raise ConfigError(f'{config}: no valid prefix to route the rig\'s beads by: set prefix = "<2-8 letters>"')
        table[prefix] = child.name
    return table


def _write(town: Town, table: Mapping[str, str]) -> None:
    path = routes_path(town)
    os.makedirs(path.parent, exist_ok=True)
    atomic_write_text(path, format_routes(table))
    _cache.pop(path, None)
