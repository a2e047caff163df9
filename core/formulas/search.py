"""The formula search path: a rig repository's ``.beads/formulas`` (from its default branch), the
town's ``.beads/formulas``, extra directories, then the built-ins (:class:`FormulaLibrary`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import git
from core.errors import GtError, NotFound
from core.formulas.cook import cook
from core.formulas.parse import formula_name, parse_formula
from core.formulas.schema import CookedFormula, Formula

BUILTIN_DIR = Path(__file__).resolve().parent.parent / "builtin_formulas"
RIG_FORMULAS_PATH = ".beads/formulas"


@dataclass(frozen=True)
class FormulaFile:
    """One formula file found on the search path. ``origin``: ``town``, ``rig:<name>``, ``builtin`` or
    ``dir``; ``location``: the path shown in messages; ``data``: the file's bytes."""

    name: str
    origin: str
    location: str
    data: bytes


def _dir_files(directory: Path, origin: str) -> list[FormulaFile]:
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        name = formula_name(p.name)
        if name is not None and p.is_file():
            found.append((name, p.name.endswith(".json"), p))
    return [FormulaFile(name, origin, str(p), p.read_bytes()) for name, _json, p in sorted(found)]


def _rig_files(rig: Any) -> list[FormulaFile]:
    blobs = git.read_dir_at(rig.repo_path, rig.default_branch, RIG_FORMULAS_PATH)
    found = []
    for fname in blobs:
        name = formula_name(fname)
        if name is not None:
            found.append((name, fname.endswith(".json"), fname))
    return [
        FormulaFile(
            name, f"rig:{rig.name}", f"{rig.name}:{rig.default_branch}:{RIG_FORMULAS_PATH}/{fname}", blobs[fname]
        )
        for name, _json, fname in sorted(found)
    ]


class FormulaLibrary:
    """The formula search path of a town (and optionally one rig), first match wins, most specific
    first as in Gas Town (``docs/design/formula-resolution.md``: project > town > system):

    1. ``.beads/formulas`` on the default branch of ``rig``'s repository (``rig`` given: a
    ``core.rigs.Rig``), 2. ``<town>/.beads/formulas`` (``town`` given), 3. ``dirs`` (extra
    directories, for tests and tools), 4. the built-ins of ``core/builtin_formulas`` (``builtins``).
    Within one directory a ``.formula.toml`` wins over a ``.formula.json`` of the same name.
    Parsed formulas are cached per library.
    """

    def __init__(
        self, town: Any = None, rig: Any = None, dirs: Iterable[str | Path] = (), builtins: bool = True
    ) -> None:
        self.town, self.rig = town, rig
        self._dirs = [Path(d) for d in dirs]
        self._builtins = builtins
        self._files: list[FormulaFile] | None = None
        self._cache: dict[str, Formula] = {}

    def files(self) -> list[FormulaFile]:
        """Every formula file on the path, in search order (shadowed files included)."""
        if self._files is None:
            files: list[FormulaFile] = []
            if self.rig is not None:
                files += _rig_files(self.rig)
            if self.town is not None:
                files += _dir_files(self.town.formulas_dir, "town")
            for d in self._dirs:
                files += _dir_files(d, "dir")
            if self._builtins:
                files += _dir_files(BUILTIN_DIR, "builtin")
            self._files = files
        return self._files

    def find(self, name: str) -> FormulaFile:
        """The file formula ``name`` resolves to. Raises NotFound listing the known names."""
        for f in self.files():
            if f.name == name:
                return f
        known = ", ".join(sorted({f.name for f in self.files()})) or "none"
        raise NotFound(
            f"no formula named {name!r} (known: {known}): "
            f"add {name}.formula.toml to .beads/formulas or check the name with 'gt formula list'"
        )

    def load(self, name: str) -> Formula:
        """The parsed formula ``name``. Raises NotFound or FormulaError."""
        if name not in self._cache:
            f = self.find(name)
            self._cache[name] = parse_formula(f.data, f.location, expected_name=name)
        return self._cache[name]

    def entries(self) -> list[dict[str, Any]]:
        """One row per formula file: name, origin, location, shadowed (a file earlier on the path has
        the same name), and type/version/description, or ``error`` when it does not parse."""
        seen: set[str] = set()
        rows = []
        for f in self.files():
            row: dict[str, Any] = {
                "name": f.name,
                "origin": f.origin,
                "location": f.location,
                "shadowed": f.name in seen,
            }
            seen.add(f.name)
            try:
                parsed = parse_formula(f.data, f.location, expected_name=f.name)
            except GtError as exc:
                row.update(type=None, version=None, description="", error=str(exc), unsupported=0)
            else:
                row.update(
                    type=parsed.type,
                    version=parsed.version,
                    description=parsed.description.strip().splitlines()[0] if parsed.description.strip() else "",
                    error=None,
                    unsupported=len(parsed.unsupported),
                )
            rows.append(row)
        return rows

    def cook(self, name: str, values: Mapping[str, str] | None = None, check_vars: bool = True) -> CookedFormula:
        """Cook formula ``name`` with ``values`` (see :func:`cook`)."""
        return cook(self.load(name), values or {}, self.load, check_vars=check_vars)
