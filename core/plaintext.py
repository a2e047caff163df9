"""Agent-written text made safe for a terminal: the one control-character stripper (DESIGN section 7).

:func:`strip_controls` is for text that is *printed* (``gt`` output, start-failure excerpts, hook
output): whole escape sequences go (CSI such as ``ESC [2J``, OSC such as a title change
``ESC ]0;...BEL`` or a clipboard write ``ESC ]52;c;...BEL``, DCS/SOS/PM/APC strings, two-byte escapes
such as ``ESC c``, and their 8-bit C1 forms), then every control character left (C0 but tab and
newline, DEL, C1, a lone ESC). Printable Unicode stays; a lone surrogate (an undecodable byte kept by
``surrogateescape``) becomes U+FFFD, so printing never fails on it. Removing the ESC of every
sequence is what makes the text inert; removing the rest of the sequence keeps the visible text free
of its debris (``[2J``, ``]52;c;...``). An unterminated string sequence loses only its introducer, so
the text after it stays visible.

:func:`one_line` is that text on one line, tabs and newlines made spaces: for text *typed* into a
session (a nudge: a typed tab completes and a typed newline submits) and for a table cell.

Sequence syntax after ECMA-48 (5th edition, 5.4 and 8.3) and xterm's ctlseqs (OSC, ST = ``ESC \\``
or BEL).
"""

from __future__ import annotations

import functools
import re

#: C0 controls but tab and newline, DEL, and C1 controls.
CONTROL = r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]"

_ST = r"(?:\x07|\x1b\\|\x9c)"  # string terminator: BEL (xterm), ESC \ (7-bit ST), 0x9c (8-bit ST)
#: Whole escape sequences, 7-bit and 8-bit (C1) forms; the group ``sgr`` is set for an SGR (colour).
SEQUENCE = (
    r"(?P<sgr>\x1b\[[0-9;:]*m)"  # SGR: select graphic rendition (colours, bold)
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: ESC [ or 0x9b, parameters, intermediates, final
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*"
    + _ST  # OSC, DCS, SOS, PM, APC strings
    + r"|\x1b[ -/]*[0-~]"  # any other escape: ESC, intermediates, final byte
)
_SURROGATE = r"[\ud800-\udfff]"


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    """``pattern`` (one of this module's) compiled, once per process and only when text needs it:
    most text has nothing to strip (:func:`_inert`), and every gt process prints."""
    return re.compile(pattern)


def _inert(text: str) -> bool:
    """True when ``text`` holds no character :func:`strip_controls` changes: printable apart from its
    tabs and newlines (``str.isprintable`` is false for every control, ESC and C1 included, and for a
    lone surrogate), so no sequence can start in it. False may still need no change (a no-break space
    is not printable): the patterns decide then."""
    return text.replace("\n", "").replace("\t", "").isprintable()


def strip_controls(text: str, keep_sgr: bool = False) -> str:
    """``text`` without escape sequences and control characters (tabs and newlines kept), lone
    surrogates replaced by U+FFFD (see the module docstring).

    keep_sgr: keep SGR sequences (``ESC [ ... m``: colours and attributes only, which change nothing
    but how the following text looks), for a screen capture shown with its colours (``gt peek --ansi``).
    Raises TypeError if ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"strip_controls takes a str, not {type(text).__name__}")
    if _inert(text):
        return text
    control, sequence = _compiled(CONTROL), _compiled(SEQUENCE)
    if keep_sgr:
        text = sequence.sub(lambda m: m.group("sgr") or "", text)
        parts = re.split(r"(\x1b\[[0-9;:]*m)", text)
        text = "".join(p if i % 2 else control.sub("", p) for i, p in enumerate(parts))
    else:
        text = control.sub("", sequence.sub("", text))
    return _compiled(_SURROGATE).sub("\ufffd", text)


def one_line(text: str) -> str:
    """:func:`strip_controls` of ``text``, then its tabs and newlines made spaces: a line to type
    into a session (submitted once, by the caller's Enter) or to show in a table cell. Raises
    TypeError if ``text`` is not a str."""
    return strip_controls(text).replace("\t", " ").replace("\n", " ")
