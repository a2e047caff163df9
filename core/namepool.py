"""Themed name pools for polecats. The default theme is Mad Max, as in Gas Town.

The town's theme lives in ``town.toml`` ``[polecats] namepool``; ``gt namepool`` lists and sets it.
"""

from __future__ import annotations


from core.config import edit_toml
from core.errors import NotFound
from core.town import Town

THEMES: dict[str, tuple[str, ...]] = {
    "mad-max": (
        "furiosa",
        "nux",
        "slit",
        "rictus",
        "toast",
        "capable",
        "cheedo",
        "dag",
        "angharad",
        "max",
        "ace",
        "morsov",
        "keeper",
        "valkyrie",
        "corpus",
        "scrotus",
        "immortan",
        "warboy",
        "glory",
        "miss-giddy",
        "organic",
        "bullet",
        "doof",
        "splendid",
        "vuvalini",
        "praetorian",
        "citadel",
        "gastown",
        "buzzard",
        "rockrider",
        "dementus",
        "jack",
    ),
    "minerals": (
        "quartz",
        "feldspar",
        "mica",
        "garnet",
        "topaz",
        "beryl",
        "jasper",
        "onyx",
        "opal",
        "pyrite",
        "galena",
        "basalt",
        "cobalt",
        "agate",
        "zircon",
        "spinel",
        "jade",
        "flint",
        "gypsum",
        "talc",
        "calcite",
        "dolomite",
        "halite",
        "obsidian",
        "malachite",
        "azurite",
        "hematite",
        "magnetite",
        "olivine",
        "rutile",
        "sphalerite",
        "tourmaline",
    ),
    "birds": (
        "kestrel",
        "osprey",
        "heron",
        "wren",
        "finch",
        "raven",
        "swift",
        "plover",
        "egret",
        "merlin",
        "harrier",
        "kite",
        "lark",
        "robin",
        "shrike",
        "tern",
        "crane",
        "ibis",
        "jay",
        "magpie",
        "owl",
        "puffin",
        "rook",
        "snipe",
        "stork",
        "teal",
        "thrush",
        "vireo",
        "warbler",
        "avocet",
        "bunting",
        "curlew",
    ),
}
DEFAULT_THEME = "mad-max"


def theme(town: Town) -> str:
    """The town's name-pool theme (``[polecats] namepool`` of town.toml, default ``mad-max``; an
    unknown name is refused when town.toml is loaded)."""
    return str(town.setting("polecats", "namepool"))


def set_theme(town: Town, name: str) -> None:
    """Set the town's name-pool theme in ``town.toml`` (comments kept). Raises NotFound for an unknown theme."""
    if name not in THEMES:
        raise NotFound(f"unknown name pool {name!r}: choose one of {', '.join(sorted(THEMES))}")
    import tomlkit  # only to edit town.toml

    with edit_toml(town.config_path) as doc:
        if "polecats" not in doc:
            table = tomlkit.table()
            table.add(tomlkit.comment("Name pool polecats are named from: mad-max, minerals or birds."))
            doc["polecats"] = table
        doc["polecats"]["namepool"] = name
    town.reload()


def pick(names_in_use: set[str], theme_name: str = DEFAULT_THEME) -> str:
    """The first name of the pool not in ``names_in_use``; past the pool, ``<first>-<n>``."""
    pool = THEMES[theme_name]
    for name in pool:
        if name not in names_in_use:
            return name
    n = 2
    while True:
        for name in pool:
            candidate = f"{name}-{n}"
            if candidate not in names_in_use:
                return candidate
        n += 1
