"""Nudges into real sim sessions on a private tmux server: immediate, wait-idle, queued, mail and
broadcast (issue 7)."""

from __future__ import annotations

import json

import pytest

from core import events, mail, nudge, nudge_queue, polecats
from core.beads.store import BeadStore
from core.errors import GtError
from core.sessions import SessionHost
from tests.test_engine_support import SH, create_bead, wait_for


@pytest.mark.parametrize(
    "target,session",
    [
        ("mayor", "mayor"),
        ("mayor/", "mayor"),
        ("deacon/", "deacon"),
        ("demo/polecats/nux", "demo-nux"),
        ("demo/witness", "demo-witness"),
        ("demo/refinery", "demo-refinery"),
        ("demo/crew/ann", "demo-crew-ann"),
        ("demo-nux", "demo-nux"),
        ("demo/boss", "demo-boss"),  # Gas Town's short form <rig>/<polecat>
    ],
)
def test_targets_resolve_to_sessions(target: str, session: str) -> None:
    assert nudge.resolve_target(target) == session


@pytest.mark.parametrize(
    "target",
    [
        "@town",
        "demo/polecats/../x",
        "a/b/c/d",
        "Bad Name",
        "",
        "demo/crew",
        "demo/",
        "x;rm -rf /",
        "demo/polecats/refinery",
    ],
)
def test_bad_targets_are_refused(target: str) -> None:
    with pytest.raises(GtError):
        nudge.resolve_target(target)


def _slung(run_gt, town, title: str, description: str = "", labels: tuple[str, ...] = ()) -> polecats.Polecat:
    bead = create_bead(run_gt, town, title, description, labels=labels)
    assert run_gt("sling", bead, "demo", cwd=town.root).returncode == 0

    def row():
        with BeadStore(town) as store:
            return polecats.by_bead(store.db, bead) or next(
                (p for p in polecats.list_polecats(store.db) if p.state == "idle" and p.session), None
            )

    return wait_for(row, timeout=30)  # type: ignore[return-value]


def _idle(town, p: polecats.Polecat) -> str:
    host = SessionHost(town)

    def ready():
        with BeadStore(town) as store:
            row = polecats.get(store.db, p.rig, p.name)
            return row.state == "idle" and nudge.is_idle(town, host, store.db, p.session)

    wait_for(ready, timeout=60)
    return p.session


def test_nudge_modes_into_an_idle_sim(fast_town, demo_rig, run_gt) -> None:
    p = _slung(run_gt, fast_town, "Quick note")
    session = _idle(fast_town, p)
    host = SessionHost(fast_town)
    res = run_gt("nudge", f"demo/polecats/{p.name}", "hello there", "--json", cwd=fast_town.root)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["delivered"] is True
    assert host.wait_for_text(session, "got 'hello there'", timeout=10)
    res = run_gt("nudge", session, "second", "--mode", "wait-idle", cwd=fast_town.root)
    assert res.returncode == 0 and res.stdout.strip() == f"nudged {session}"
    assert host.wait_for_text(session, "got 'second'", timeout=10)
    res = run_gt("nudge", session, "later please", "--mode", "queue", cwd=fast_town.root)
    assert res.returncode == 0 and "queued" in res.stdout
    with BeadStore(fast_town) as store:
        (row,) = nudge.pending(store.db, session)
        assert row["text"] == "later please"
        wait_for(lambda: nudge.is_idle(fast_town, host, store.db, session), timeout=10)
        assert nudge.deliver_pending(fast_town, host, store.db) == [row["id"]]
        assert nudge.pending(store.db) == []
        sent = [e for e in events.query(store.db, types=("nudge",)) if e.payload["session"] == session]
        assert [e.payload["text"] for e in sent] == ["hello there", "second", "later please"]
        assert all(e.payload["delivered"] for e in sent)
    assert host.wait_for_text(session, "got 'later please'", timeout=10)
    res = run_gt("nudge", "demo/polecats/ghost", "anyone?", cwd=fast_town.root)
    assert res.returncode == 2 and "no session" in res.stderr
    res = run_gt("nudge", session, "x", "--mode", "shout", cwd=fast_town.root)
    assert res.returncode == 2


def test_mail_to_a_live_agent_queues_a_mail_nudge(fast_town, demo_rig, run_gt) -> None:
    p = _slung(run_gt, fast_town, "Gets mail")
    session = _idle(fast_town, p)
    host = SessionHost(fast_town)
    mail.send(fast_town, p.address, "Review this", "please", sender="mayor/")
    mail.send(fast_town, p.address, "And this", "too", sender="mayor/")
    mail.send(fast_town, "demo/polecats/ghost", "Nobody home", "", sender="mayor/")
    with BeadStore(fast_town) as store:
        rows = nudge.pending(store.db)
        assert [(r["session"], r["kind"]) for r in rows] == [(session, "mail"), ("demo-ghost", "mail")]
        assert nudge.deliver_pending(fast_town, host, store.db) == [rows[0]["id"]]
        assert nudge.pending(store.db) == []  # the ghost has no session: its nudge is dropped
    assert host.wait_for_text(session, nudge_queue.MAIL_TEXT, timeout=10)


def test_wait_idle_on_a_busy_agent_falls_back_to_the_queue(fast_town, demo_rig, run_gt) -> None:
    p = _slung(run_gt, fast_town, "Hangs", SH.format("echo a > a.txt"), labels=("sim:hang",))
    host = SessionHost(fast_town)
    wait_for(lambda: host.exists(p.session) and "step 1/1 done" in host.capture(p.session), timeout=30)
    res = run_gt(
        "nudge", p.session, "when you can", "--mode", "wait-idle", "--timeout", "1", "--json", cwd=fast_town.root
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["delivered"] is False and out["queued"]
    with BeadStore(fast_town) as store:
        assert nudge.deliver_pending(fast_town, host, store.db) == []  # still busy: it waits
        assert [r["text"] for r in nudge.pending(store.db)] == ["when you can"]


def test_broadcast_reaches_every_working_polecat(fast_town, demo_rig, run_gt) -> None:
    a = _slung(run_gt, fast_town, "Hang A", SH.format("echo a > a.txt"), labels=("sim:hang",))
    b = _slung(run_gt, fast_town, "Hang B", SH.format("echo b > b.txt"), labels=("sim:hang",))
    res = run_gt("broadcast", "status report please", "--json", cwd=fast_town.root)
    assert res.returncode == 0, res.stderr
    assert sorted(json.loads(res.stdout)["delivered"]) == sorted([a.session, b.session])
    host = SessionHost(fast_town)
    for p in (a, b):
        assert host.wait_for_text(p.session, "status report please", timeout=10)
    res = run_gt("broadcast", "", cwd=fast_town.root)
    assert res.returncode == 2


# -- issue 15 item 6: text typed into sessions never runs ------------------------------------------


def test_control_characters_in_a_broadcast_do_not_interrupt_a_running_step(
    fast_town, demo_rig, run_gt, tmp_path
) -> None:
    marker = tmp_path / "survived.txt"
    p = _slung(run_gt, fast_town, "Sleeps", SH.format(f"sleep 4\necho survived > {marker}"))
    host = SessionHost(fast_town)
    wait_for(lambda: host.exists(p.session) and "step 1/1: sleep 4" in host.capture(p.session), timeout=30)
    pid = host.pid(p.session)
    # Ctrl-C, Ctrl-D, ESC and an escape sequence around a word: only the word is typed
    res = run_gt("broadcast", "\x03\x04status?\x1b[2J\x03", "--json", cwd=fast_town.root)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["delivered"] == [p.session]
    with BeadStore(fast_town) as store:
        (ev,) = [e for e in events.query(store.db, types=("nudge",)) if e.payload["session"] == p.session]
        assert ev.payload["text"] == "status?" and ev.payload["mode"] == "broadcast"
    # nothing but control characters: refused before anything is typed
    res = run_gt("broadcast", "\x03", cwd=fast_town.root)
    assert res.returncode == 2 and "only control characters" in res.stderr and res.stderr.count("\n") == 1
    res = run_gt("nudge", p.session, "\x04\x1b", cwd=fast_town.root)
    assert res.returncode == 2 and "only control characters" in res.stderr
    wait_for(marker.exists, timeout=30)  # the step slept to its end: no SIGINT reached it
    assert marker.read_text().strip() == "survived"
    assert host.pid(p.session) == pid


def test_a_half_typed_line_is_never_completed_by_a_nudge(fast_town, demo_rig, run_gt) -> None:
    p = _slung(run_gt, fast_town, "Idles")
    session = _idle(fast_town, p)
    host = SessionHost(fast_town)
    host.send_text(session, "rm -rf half", submit=False)  # someone typing at the agent's prompt
    assert host.wait_for_text(session, "❯ rm -rf half", timeout=15)
    res = run_gt("nudge", session, "hello", "--json", cwd=fast_town.root)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["delivered"] is False and out["queued"] and "unsent text" in out["reason"]
    mail.send(fast_town, p.address, "Review this", "please", sender="mayor/")
    with BeadStore(fast_town) as store:
        assert nudge.is_idle(fast_town, host, store.db, session)  # idle, yet its line is not empty
        assert nudge.unsent_text(fast_town, host, store.db, session) == "rm -rf half"
        assert nudge.deliver_pending(fast_town, host, store.db) == []
        assert len(nudge.pending(store.db, session)) == 2
    res = run_gt("nudge", session, "again", "--mode", "wait-idle", "--timeout", "1", cwd=fast_town.root)
    assert res.returncode == 0 and "queued" in res.stdout and "unsent text" in res.stdout
    assert "got 'rm -rf half" not in host.capture(session, lines=200)
    host.send_keys(session, "C-u")  # the typist clears the line: the queue may type again
    with BeadStore(fast_town) as store:
        wait_for(lambda: nudge.unsent_text(fast_town, host, store.db, session) is None, timeout=15)
        first = nudge.pending(store.db, session)[0]
        assert nudge.deliver_pending(fast_town, host, store.db) == [first["id"]]
    assert host.wait_for_text(session, "got 'hello'", timeout=15)
    assert "half" not in "".join(ln for ln in host.capture(session, lines=200).splitlines() if "got '" in ln)


def test_input_line_reads_the_prompt_line_only() -> None:
    assert nudge.input_line("banner\n❯ ", "❯ ") == ""
    assert nudge.input_line("banner\n❯ half typed", "❯ ") == "half typed"
    assert nudge.input_line("working...\n", "❯ ") is None
    # an input box: borders around it, a footer below it
    box = "╭────────╮\n│ > fix it │\n╰────────╯\n  ? for shortcuts"
    assert nudge.input_line(box, "> ") == "fix it"
    # a faint placeholder and the inverse cursor cell are not typed text
    placeholder = '│ > \x1b[7mT\x1b[27m\x1b[2mry "fix lint"\x1b[22m │\n'
    assert nudge.input_line(placeholder, "> ") == ""
    assert nudge.input_line("│ > ab\x1b[7m \x1b[0m │", "> ") == "ab"
    assert nudge.input_line("\x1b[38;5;2m❯ \x1b[39mx", "❯ ") == "x"
    assert nudge.input_line("❯ x", "") is None


def test_nudge_text_is_one_line_of_text() -> None:
    assert nudge.nudge_text("a\tb\nc\x03\x1b]0;t\x07d") == "a b cd"
    for bad in ("", "  ", "\x03", "\x1b[2J\x04"):
        with pytest.raises(GtError):
            nudge.nudge_text(bad)
