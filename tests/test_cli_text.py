"""Agent-written text printed by ``gt`` holds no terminal escape (issue 15 item 2).

Hostile beads, comments, mail, convoys, escalations, merge-queue reasons and events are stored with
the core API, then real ``gt`` processes (``python -P``) print them into a real pseudo-terminal
(pexpect): no ESC, BEL, C1 or other control byte reaches the terminal, while the visible text does.
``--json`` stays lossless. A property test feeds :func:`core.plaintext.strip_controls` every escape form.
"""

from __future__ import annotations

import io
import json
import re
import sys

import pexpect
from hypothesis import given, settings
from hypothesis import strategies as st

from core import convoys, escalation, events, mail, mq, polecats
from core.beads.store import BeadStore
from core.plaintext import one_line, strip_controls
from core.town import Town
from gastown_tui.clikit import PlainTextWriter, print_table, plain_output
from tests.conftest import VENV_BIN

#: Every escape a terminal would act on, and markup a Rich/Textual layer would parse.
ESCAPES = (
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "\x1b]52;c;cHduZWQ=\x07",
    "\x9b31m",
    "\x1bc",
    "\x1b[?1049h",
    "\x1bP1$r\x1b\\",
    "\x9d2;t\x9c",
    "\x07",
    "\x08\x08",
    "\x1b",
    "\x03\x04\x7f",
    "\r",
)
HOSTILE = "".join(ESCAPES) + "[/] [@click=app.quit]x[/] [bold"
#: What a terminal may receive besides printable text: the pty's own CR LF, and tabs.
ALLOWED_CONTROLS = "\r\n\t"


def hostile(word: str) -> str:
    """A string whose visible part is ``<word> [/] [@click=app.quit]x[/] [bold ✓`` with every escape
    in :data:`ESCAPES` spliced in."""
    return f"{word} {HOSTILE} ✓"


def visible(word: str) -> str:
    """What of ``hostile(word)`` a terminal shows, whitespace removed (a command may wrap or split
    lines: ``splitlines`` also splits at CR and the C1 NEL)."""
    return squash(one_line(hostile(word)))


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def controls_in(text: str) -> list[str]:
    """The control characters (C0 but CR LF tab, DEL, C1) in ``text``."""
    return [c for c in text if (ord(c) < 32 and c not in ALLOWED_CONTROLS) or 0x7F <= ord(c) <= 0x9F]


def through_pty(town: Town, gt_env: dict[str, str], *args: str) -> str:
    """Run ``python -P gt ARGS`` on a real pty (120 columns); its output as text (exit status 0)."""
    child = pexpect.spawn(
        sys.executable,
        ["-P", str(VENV_BIN / "gt"), *args],
        cwd=str(town.root),
        env={**gt_env, "GT_TOWN": str(town.root), "COLUMNS": "200"},
        timeout=60,
        dimensions=(50, 200),
    )
    raw = child.read()
    child.close()
    assert child.exitstatus == 0, (args, raw.decode("utf-8", "replace"))
    return raw.decode("utf-8")


def _seed(town: Town) -> dict[str, str]:
    """Store hostile text everywhere an agent can write it; the ids."""
    with BeadStore(town) as store:
        bead = store.create(
            hostile("Title"),
            actor=hostile("actor"),
            description=hostile("Description") + "\nsecond line",
            notes=hostile("Notes"),
            design=hostile("Design"),
            labels=["hostile"],
            prefix="dm",
        )
        store.add_comment(bead.id, hostile("Comment"), actor="demo/polecats/nux")
        convoy = convoys.create(store, hostile("Convoy"), [bead.id], actor="mayor/")
        esc = escalation.escalate(store, hostile("Escalation"), "high", actor="demo/polecats/nux", about=bead.id)
        mr = mq.submit(store.db, "demo", bead.id, "nux", "polecat/nux", "a" * 40)
        mq.reject(store.db, mr.id, hostile("Reason"), actor="demo/refinery")
        polecats.upsert(store.db, "demo", "nux", state="idle", agent=hostile("agent"))
        events.append(
            store.db,
            "nudge",
            hostile("sender"),
            rig="demo",
            bead=bead.id,
            payload={"text": hostile("Event"), "session": "demo-nux", "target": "demo-nux"},
        )
        store.db.conn.commit()
    (msg,) = mail.send(town, "mayor/", hostile("Subject"), hostile("Body"), sender="demo/polecats/nux")
    return {"bead": bead.id, "convoy": convoy.id, "escalation": esc.id, "mr": mr.id, "mail": msg.id}


def test_agent_text_reaches_the_terminal_without_escapes(fast_town, demo_rig, gt_env) -> None:
    ids = _seed(fast_town)
    cases = [
        (("bead", "list"), ["Title"]),
        (("bead", "show", ids["bead"]), ["Title", "Description", "Notes", "Design", "Comment"]),
        (("mail", "inbox", "mayor/"), ["Subject"]),
        (("mail", "read", ids["mail"], "--actor", "mayor/"), ["Subject", "Body"]),
        (("convoy", "list"), ["Convoy"]),
        (("convoy", "show", ids["convoy"]), ["Convoy", "Title"]),
        (("mq", "list"), []),
        (("status",), []),
        (("feed",), []),
        (("polecat", "list"), ["agent"]),
    ]
    for args, words in cases:
        out = through_pty(fast_town, gt_env, *args)
        assert not controls_in(out), (args, controls_in(out), out)
        flat = out.replace("\r\n", "\n")
        for word in words:
            assert visible(word) in squash(flat), (args, word, flat)
        assert "[/] [@click=app.quit]x[/] [bold" in flat, (args, flat)  # markup is shown as text
    # the reason column is cut at 60 characters, the escalation line too: their visible start is there
    out = through_pty(fast_town, gt_env, "mq", "list").replace("\r\n", "\n")
    assert "Reason [/] [@click=app.quit]" in out
    out = through_pty(fast_town, gt_env, "feed").replace("\r\n", "\n")
    assert not controls_in(out) and "Escalation [/]" in out


def test_escalate_and_errors_print_without_escapes(fast_town, demo_rig, gt_env) -> None:
    out = through_pty(fast_town, gt_env, "escalate", hostile("Stuck"))
    assert not controls_in(out) and "escalated" in out
    # a refusal naming hostile input (stderr goes to the same pty)
    child = pexpect.spawn(
        sys.executable,
        ["-P", str(VENV_BIN / "gt"), "bead", "show", "zz-\x1b]0;x\x07nope"],
        cwd=str(fast_town.root),
        env={**gt_env, "GT_TOWN": str(fast_town.root)},
        timeout=60,
    )
    raw = child.read().decode("utf-8")
    child.close()
    assert child.exitstatus == 2 and raw.startswith("gt: ") and not controls_in(raw), raw


def test_json_output_is_lossless_and_escaped(fast_town, demo_rig, gt_env) -> None:
    ids = _seed(fast_town)
    out = through_pty(fast_town, gt_env, "bead", "show", ids["bead"], "--json")
    assert not controls_in(out)  # json.dumps escapes every control character (\u001b)
    doc = json.loads(out.replace("\r\n", "\n"))
    assert doc["title"] == hostile("Title")  # lossless: the stored text, escapes and all
    out = through_pty(fast_town, gt_env, "mail", "inbox", "mayor/", "--json")
    assert not controls_in(out)
    assert hostile("Subject") in [m["subject"] for m in json.loads(out)]
    out = through_pty(fast_town, gt_env, "feed", "--json")
    assert not controls_in(out)
    texts = [json.loads(line).get("payload", {}).get("text") for line in out.splitlines() if line.strip()]
    assert hostile("Event") in texts


def test_peek_ansi_keeps_colours_only(fast_town, demo_rig, gt_env) -> None:
    from core.sessions import SessionHost

    host = SessionHost(fast_town)
    script = (
        "import sys, time\n"
        "sys.stdout.write('\\x1b[31mred\\x1b[0m plain \\x1b]0;pwned\\x07 ' + 'done\\n')\n"
        "sys.stdout.flush(); time.sleep(60)\n"
    )
    host.start("demo-peek", [sys.executable, "-c", script], cwd=fast_town.root)
    assert host.wait_for_text("demo-peek", "done", timeout=15)
    out = through_pty(fast_town, gt_env, "peek", "demo-peek", "--ansi")
    assert "red" in out and "\x1b]" not in out and "\x07" not in out
    assert re.search(r"\x1b\[[0-9;]*31[0-9;]*m", out), repr(out)  # the colour survives
    out = through_pty(fast_town, gt_env, "peek", "demo-peek")
    assert "red plain" in out and not controls_in(out)


def test_plain_output_strips_every_write_and_restores_the_streams() -> None:
    raw = io.StringIO()
    writer = PlainTextWriter(raw)
    writer.write("a\x1b")  # a sequence split over two writes still loses its ESC
    writer.write("]0;t\x07b\n")
    assert raw.getvalue() == "a]0;tb\n"
    saved = sys.stdout
    with plain_output():
        assert isinstance(sys.stdout, PlainTextWriter) and sys.stdout.raw is saved
    assert sys.stdout is saved


def test_table_cells_are_one_line(capsys) -> None:
    print_table(["id", "title"], [["a-1", "one\nFAKE-ROW\tx\x1b[2J"]])
    out = capsys.readouterr().out
    assert out.splitlines()[1].split() == ["a-1", "one", "FAKE-ROW", "x"]


# -- the stripper itself -------------------------------------------------------------------------

_C0_C1 = st.sampled_from([chr(c) for c in [*range(0, 32), *range(0x7F, 0xA0)]])
_PARAMS = st.text(alphabet="0123456789;:?<=>", max_size=8)
_SEQUENCES = st.one_of(
    st.builds(lambda p, f: f"\x1b[{p}{f}", _PARAMS, st.sampled_from("mJHKABCDhlsur@`~")),
    st.builds(lambda p, f: f"\x9b{p}{f}", _PARAMS, st.sampled_from("mJHK")),
    st.builds(
        lambda k, body, t: f"\x1b{k}{body}{t}",
        st.sampled_from("]PX^_"),
        st.text(alphabet=st.characters(blacklist_characters="\x07\x1b\x9c"), max_size=20),
        st.sampled_from(["\x07", "\x1b\\", "\x9c"]),
    ),
    st.builds(lambda c: f"\x1b{c}", st.sampled_from("c78=>DEHMNOZ")),
    st.builds(lambda c: f"\x1b({c}", st.sampled_from("0AB")),
)
_PRINTABLE = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=20)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_SEQUENCES, _C0_C1, _PRINTABLE, st.text(max_size=10)), max_size=12))
def test_strip_controls_leaves_no_control_and_keeps_printable_text(parts: list[str]) -> None:
    text = "".join(parts)
    out = strip_controls(text)
    assert not [c for c in out if (ord(c) < 32 and c not in "\t\n") or 0x7F <= ord(c) <= 0x9F]
    assert not [c for c in out if 0xD800 <= ord(c) <= 0xDFFF]
    out.encode("utf-8")  # always printable on a UTF-8 terminal
    assert strip_controls(out) == out  # idempotent
    coloured = strip_controls(text, keep_sgr=True)
    assert re.sub(r"\x1b\[[0-9;:]*m", "", coloured) == strip_controls(re.sub(r"\x1b\[[0-9;:]*m", "", coloured))
    assert "\x07" not in coloured and not re.search(r"\x1b[^\[]", coloured)


@settings(max_examples=200, deadline=None)
@given(_PRINTABLE, st.lists(_SEQUENCES, max_size=4), _PRINTABLE)
def test_text_around_whole_sequences_survives(before: str, sequences: list[str], after: str) -> None:
    out = strip_controls(before + "".join(sequences) + after)
    assert out == before + after


def test_one_line_folds_tabs_and_newlines() -> None:
    assert one_line("a\tb\nc\x03\x1b[2J") == "a b c"
    assert strip_controls("x\udcff") == "x\ufffd"


def test_headless_displays_print_agent_text_as_text() -> None:
    """``gastown-tui --no-ui run``: the plain display (CI logs) and the rich live display (on a real
    pty) show hostile titles and event text with no escape of theirs and no markup parsed."""
    import os

    from core.convoys import Convoy, TrackedBead
    from core.events import Event
    from gastown_tui.headless import _PlainDisplay, _RichDisplay

    convoy = Convoy(
        "hq-cv1",
        hostile("Convoy"),
        "open",
        "open",
        "2026-01-01T00:00:00Z",
        None,
        "",
        None,
        {},
        [TrackedBead("dm-1", hostile("Title"), "in_progress", "task", polecat="demo/polecats/nux")],
    )
    event = Event(1, 0.0, "nudge", hostile("sender"), "demo", "dm-1", {"text": hostile("Event")})
    plain = io.StringIO()
    display = _PlainDisplay(plain)
    display.start(hostile("Headline"))
    display.event(event)
    display.line(hostile("Closing"))
    assert not controls_in(plain.getvalue()) and visible("Closing") in squash(plain.getvalue())
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w", encoding="utf-8", closefd=True) as tty:
            rich = _RichDisplay(tty)
            rich.start(hostile("Headline"))
            rich.progress(convoy)
            rich.event(event)
            rich.close()
            tty.flush()
            shown = b""
            os.set_blocking(master, False)
            while True:
                try:
                    chunk = os.read(master, 65536)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                shown += chunk
    finally:
        os.close(master)
    text = shown.decode("utf-8", "replace")
    for seq in ("\x1b]", "\x1b[2J", "\x07", "\x9b", "\x9d", "\x1bc", "\x1bP", "\x1b[?1049h"):
        assert seq not in text, (seq, text)
    assert "[/] [@click=app.quit]x[/]" in text and "Title" in text  # markup shown as text
