"""Agent-written text shown in the cockpit as text, never as markup (DESIGN section 7, issue 15).

Beads, mail, convoys, escalations, events, MR notes, agent names and session screens are written by
agents, and agents are untrusted. Textual parses a ``str`` handed to a ``Static``, a ``Label``, a
``DataTable`` cell, a tree label, an option or a border title as content markup: a title such as
``Handle [/usr/local] prefix`` raises ``MarkupError`` (the cockpit dies at every start), and
``[@click=app.quit]Review[/]`` shows "Review" and quits on a click. Every such string goes through
:func:`plain` (or :func:`from_ansi` for a captured screen) on its way to a widget: the result is a
Rich ``Text`` whose characters are the input's, less the control characters that
:func:`core.plaintext.strip_controls` removes, and whose styles (if any) carry no link and no action.
Textual shows a ``Text`` as it is; a ``str`` it would parse. Tables take their cells through
:class:`widgets.tables.PlainTable`; toasts, which Textual takes as a ``str`` only, through
:meth:`gastown_tui.app.CockpitApp.notify` (markup off, controls stripped).
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from core.plaintext import strip_controls


def plain(value: object, style: str | Style = "") -> Text:
    """``value`` as text to show literally: never parsed as markup, no control characters.

    value: a ``str`` (or anything: its ``str()``), or a Rich ``Text`` (its styles are kept, less their
    links and ``@click`` actions, see :func:`scrub`). style: a style for the whole text (a Rich style
    string such as ``"bold"``, written by the cockpit, never by an agent). Returns a new ``Text``
    with ``end=""`` (a cell or a line, no trailing newline). Never raises for any input string.
    """
    if isinstance(value, Text):
        text = scrub(value)
        text.end = ""
        if style:
            text.stylize(style)
        return text
    return Text(strip_controls(str(value)), style=style, end="")


def from_ansi(ansi: str) -> Text:
    """A captured screen (``tmux capture-pane -e``) as text: its colours and attributes (SGR) kept,
    every other escape sequence and control character removed, links (OSC 8) dropped.

    ansi: the capture, lines separated by ``\\n``. Returns an unwrapped ``Text`` with ``end=""``.
    """
    return scrub(Text.from_ansi(ansi, no_wrap=True, end=""))


def scrub(text: Text) -> Text:
    """A copy of ``text`` that is safe to show: what :func:`core.plaintext.strip_controls` removes is
    gone (the other characters keep their styles), and no style links anywhere or runs an action
    (Rich ``link`` and ``meta``, where Textual keeps ``@click``)."""
    bounds = sorted({i for s in text.spans for i in (s.start, s.end)})
    out = Text(
        "",
        style=_safe_style(text.style),
        justify=text.justify,
        overflow=text.overflow,
        no_wrap=text.no_wrap,
        end=text.end,
        tab_size=text.tab_size,
    )
    for run in text.divide(bounds):  # runs of one style: each span covers a whole run or none of it
        piece = Text(strip_controls(run.plain))
        for span in run.spans:
            style = _safe_style(span.style)
            if style:
                piece.stylize(style)
        out.append_text(piece)
    wanted = strip_controls(text.plain)
    if out.plain != wanted:  # a sequence cut by a style boundary: the text is what counts
        return Text(wanted, style=out.style, end=text.end, no_wrap=text.no_wrap)
    return out


def _safe_style(style: str | Style) -> str | Style:
    """``style`` without link and meta (a style string is parsed first: ``"link https://x"`` is one)."""
    if isinstance(style, str):
        if not style:
            return style
        try:
            style = Style.parse(style)
        except Exception:  # noqa: BLE001 - not a style Rich knows: drop it rather than guess
            return ""
    if style.link or style.meta:  # written back and read again: a style with nothing left is null
        return Style.parse(str(style.clear_meta_and_links()))
    return style
