"""The cockpit's themes: a dark "gastown" and a light "gastown-light", registered with Textual's theme
system (``App.register_theme``), so every screen's ``.tcss`` colours come from theme variables
(``$primary``, ``$surface``, ``$error``, ...) and switch together at run time.

The palette is a rust-and-brass take on Gas Town's oil-refinery look: brass primary, rust accent,
dark steel surfaces (light theme: sand and paper). ``$badge-*`` variables colour the polecat state
badges (working, idle, stalled, zombie) in both themes.
"""

from __future__ import annotations

from textual.theme import Theme

DARK = "gastown"
LIGHT = "gastown-light"

GASTOWN = Theme(
    name=DARK,
    primary="#D9A441",
    secondary="#7FA7A0",
    accent="#C8553D",
    warning="#E3B23C",
    error="#E05A47",
    success="#7BB661",
    foreground="#E8E1D3",
    background="#16181B",
    surface="#1F2226",
    panel="#2A2E33",
    dark=True,
    variables={
        "badge-working": "#7BB661",
        "badge-idle": "#8A9099",
        "badge-stalled": "#E3B23C",
        "badge-zombie": "#E05A47",
        "footer-key-foreground": "#D9A441",
    },
)

GASTOWN_LIGHT = Theme(
    name=LIGHT,
    primary="#8A5A12",
    secondary="#2F6F66",
    accent="#A63D26",
    warning="#9A6B00",
    error="#B3261E",
    success="#2E7D32",
    foreground="#2B2620",
    background="#F6F1E7",
    surface="#EFE7D8",
    panel="#E2D6C0",
    dark=False,
    variables={
        "badge-working": "#2E7D32",
        "badge-idle": "#6B6B6B",
        "badge-stalled": "#9A6B00",
        "badge-zombie": "#B3261E",
        "footer-key-foreground": "#8A5A12",
    },
)

THEMES: tuple[Theme, ...] = (GASTOWN, GASTOWN_LIGHT)


def other(name: str) -> str:
    """The theme ``t`` switches to from ``name``: dark -> light, anything else -> dark."""
    return LIGHT if name == DARK else DARK
