"""Agent-written text made safe to print on a terminal: control characters removed (DESIGN section 7).

An escape sequence loses its ESC (and a C1 control its byte), so what is left prints as plain
characters: no title change, no clipboard write (OSC 52), no cleared screen.
"""

from __future__ import annotations

import re

#: C0 controls but tab and newline, DEL, and C1 controls.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def strip_controls(text: str) -> str:
    """``text`` without control characters (tabs and newlines kept)."""
    return CONTROL.sub("", text)
