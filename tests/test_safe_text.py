"""Agent-written text shown as text (issue 15 item 1): :mod:`widgets.safe_text` fed every markup and
escape form a bead title, a mail or a session screen can hold.

Each property renders the helper's result the way the cockpit does (Textual ``Content`` from the Rich
``Text``, then segments) and checks what would reach the screen: the input's own characters less
the control characters, nothing parsed as markup, no style that links or runs an action.
"""

from __future__ import annotations

import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st
from rich.errors import MarkupError
from rich.text import Text
from textual.content import Content

from core.plaintext import strip_controls
from widgets.safe_text import from_ansi, plain, scrub
from widgets.tables import _cell_len

#: Pieces of hostile text: Rich/Textual markup, actions, unbalanced brackets, backslash escapes,
#: terminal escapes (CSI, OSC with BEL or ST, OSC 8 links, OSC 52 clipboard), C0 and C1 controls.
HOSTILE = [
    "[/]",
    "[/usr/local]",
    "[bold]",
    "[bold",
    "[/bold]",
    "[b]x[/b]",
    "[red on blue]",
    "[link=https://evil]",
    "[@click=app.quit]",
    "[@click=app.screenshot('notes.txt','victim')]Review the release notes[/]",
    "[@click=app.suspend_process]",
    "[@click=app.simulate_key('q')]",
    "[@click=app.bell]bell[/]",
    "[@click]",
    "[@]",
    "[on]",
    "[$accent]",
    "[$error]x[/]",
    "[not bold]",
    "[i]",
    "]",
    "[",
    "[[",
    "]]",
    "\\[",
    "\\[bold]",
    "\\\\[bold]",
    "\\",
    "[\\]",
    "[/\\]",
    "[=]",
    "[#ff0000]",
    "[link='x']y[/link]",
    "\x1b]0;pwned\x07",
    "\x1b]2;title\x1b\\",
    "\x1b[2J",
    "\x1b[H",
    "\x1b[31m",
    "\x1b[0m",
    "\x1b[?1049h",
    "\x1b]52;c;cHduZWQ=\x07",
    "\x1b]8;;https://evil\x1b\\click\x1b]8;;\x1b\\",
    "\x1bP1$r\x1b\\",
    "\x1bc",
    "\x9b2J",
    "\x9d0;c1\x9c",
    "\x85",
    "\x90",
    "\x03",
    "\x04",
    "\x00",
    "\x07",
    "\x08",
    "\r",
    "\x7f",
    "\t",
    "\n",
    "\x1b",
    "\u202e",
    "\u200b",
    "é",
    "⛽",
    "日本",
    "🙂",
]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12)), max_size=12).map("".join)


def is_control(ch: str) -> bool:
    """What the cockpit must never draw: Unicode controls (C0, DEL, C1) but tab and newline."""
    return unicodedata.category(ch) == "Cc" and ch not in "\t\n"


def shown(text: Text) -> tuple[str, list]:
    """What Textual draws for ``text``: the plain characters and the Rich styles of its segments."""
    content = Content.from_rich_text(text)
    segments = content.render_segments()
    assert "".join(s.text for s in segments) == content.plain
    return content.plain, [s.style for s in segments if s.style is not None]


def assert_inert(styles: list) -> None:
    """No style links anywhere or carries an action (Textual runs ``@click`` meta on a click)."""
    for style in styles:
        assert not style.link, style
        assert "@click" not in style.meta and not style.meta, style


def is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


@settings(max_examples=400, deadline=None)
@given(hostile_text)
@example("Handle [/usr/local] prefix in installer")
@example("[@click=app.screenshot('notes.txt','victim')]Review the release notes[/]")
@example("Re: [/] the end\x1b]0;pwned\x07\x9b2J\x03\x04\x00")
def test_plain_shows_the_input_less_its_control_characters(value: str) -> None:
    text = plain(value)
    drawn, styles = shown(text)
    assert drawn == strip_controls(value)
    assert not any(is_control(ch) for ch in drawn)
    assert is_subsequence(drawn, value)  # only the input's own characters, in order
    if not any(is_control(ch) for ch in value):
        assert drawn == value  # markup and backslashes kept exactly
    assert text.spans == [] and not text.style
    assert_inert(styles)
    assert _cell_len(value) == text.cell_len  # tables size a cell by what it shows


@settings(max_examples=200, deadline=None)
@given(hostile_text, st.sampled_from(["bold", "dim", "bold reverse", "italic", "#ff0000", ""]))
def test_plain_with_the_cockpits_style_keeps_the_text(value: str, style: str) -> None:
    text = plain(value, style)
    drawn, styles = shown(text)
    assert drawn == strip_controls(value)
    assert_inert(styles)


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_scrub_removes_links_actions_and_controls_from_styled_text(value: str) -> None:
    """A Text that was (wrongly) built from markup: scrub keeps its characters and colours but drops
    every link and action, and every control character."""
    try:
        marked = Text.from_markup(value)
    except MarkupError:
        marked = Text(value)
    clean = scrub(marked)
    drawn, styles = shown(clean)
    assert drawn == strip_controls(marked.plain)
    assert not any(is_control(ch) for ch in drawn)
    assert_inert(styles)
    assert_inert(shown(plain(marked))[1])


def test_scrub_keeps_colours_of_the_characters_it_keeps() -> None:
    marked = Text.from_markup("[red]a\x1b[1mb[/red] [@click=app.quit]c[/] [link=https://evil]d[/link]")
    clean = scrub(marked)
    assert clean.plain == "ab c d"  # the escape sequence goes whole (ESC [ 1 m), its neighbours stay
    assert [(clean.plain[s.start : s.end], str(s.style)) for s in clean.spans if str(s.style)] == [("ab", "red")]
    assert_inert(shown(clean)[1])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(HOSTILE + ["\x1b[1;32m", "\x1b[38;5;196m", "\x1b[7m", "\x1b[K"]), st.text(max_size=8)
        ),
        max_size=16,
    ).map("".join)
)
def test_a_captured_screen_keeps_no_escape_link_or_control(ansi: str) -> None:
    text = from_ansi(ansi)
    drawn, styles = shown(text)
    assert not any(is_control(ch) for ch in drawn)
    assert "\x1b" not in drawn
    assert_inert(styles)


def test_a_captured_screen_keeps_its_colours() -> None:
    text = from_ansi("\x1b[31mred\x1b[0m \x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\ \x9b2Jend\x1b]0;t\x07")
    assert text.plain.startswith("red link ") and text.plain.endswith("end0;t")
    assert "\x9b" not in text.plain and "\x1b" not in text.plain
    red = [s for s in text.spans if s.style and getattr(s.style, "color", None)]
    assert red and text.plain[red[0].start : red[0].end] == "red"
    assert_inert(shown(text)[1])


def test_plain_takes_any_value_and_a_very_long_title() -> None:
    assert plain(42).plain == "42"
    long = "[/]" * 20_000 + "[@click=app.quit]x[/]"
    assert shown(plain(long))[0] == long


def test_plain_table_cells_are_text_and_clicks_run_nothing() -> None:
    """Every way into a :class:`widgets.tables.PlainTable` (columns, rows, row labels, updates)
    stores and draws text; clicking each cell runs no action."""
    import asyncio

    from textual.app import App, ComposeResult
    from textual.coordinate import Coordinate

    from widgets.tables import PlainTable, size_columns

    ran: list[str] = []
    values = [
        "Handle [/usr/local] prefix",
        "[@click=app.record('quit')]Review[/]",
        "[bold",
        "\\[x]",
        "a\x1b]0;t\x07b\x9b2Jc\x03",
        "[link=https://evil]x[/link]",
    ]

    class Harness(App):
        def compose(self) -> ComposeResult:
            yield PlainTable(cursor_type="cell")

        def action_record(self, what: str) -> None:
            ran.append(what)

    async def run() -> None:
        app = Harness()
        async with app.run_test(size=(200, 20)) as pilot:
            table = app.query_one(PlainTable)
            keys = [table.add_column(v) for v in values[:3]]
            for n, v in enumerate(values):
                table.add_row(v, Text.from_markup("[@click=app.record('cell')]styled[/]"), v, key=str(n), label=v[:4])
            table.update_cell("0", keys[2], values[1])
            table.update_cell_at(Coordinate(1, 2), values[4])
            size_columns(table)
            await pilot.pause()
            assert [table.get_cell(str(n), keys[0]).plain for n in range(len(values))] == [
                strip_controls(v) for v in values
            ]
            assert table.get_cell("0", keys[2]).plain == values[1] and table.get_cell(
                "1", keys[2]
            ).plain == strip_controls(values[4])
            assert [str(c.label) for c in table.ordered_columns] == values[:3]
            for row in range(table.row_count):
                for column in range(len(keys)):
                    region = table._get_cell_region(Coordinate(row, column))
                    box = table.content_region
                    await pilot.click(offset=(box.x + region.x + 1, box.y + region.y))
                    await pilot.click(offset=(box.x + region.x + region.width // 2, box.y + region.y))
            assert ran == [] and app.is_running
            for strip in app.screen._compositor.render_strips():
                for segment in strip:
                    assert segment.style is None or not (segment.style.link or "@click" in segment.style.meta)

    asyncio.run(run())
