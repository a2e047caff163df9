"""The cockpit in a real terminal (issue 21, "Done when"): the real ``gastown-tui`` runs inside tmux on
a private socket (a 160x48 pty), driven with ``tmux send-keys`` and read with ``capture-pane``.

The Mayor's session records every byte it receives (a ``python -P`` loop reading its terminal raw,
appending to a file). Watching it (tab, shift+tab, the number keys, j/k, the filter) must send it
nothing; attaching with enter and typing sends exactly what was typed; ctrl+] ends that. And a
plain-shell Mayor (a shell whose foreground job is the recorder) gets no system nudge typed: mail's
"you have mail" nudge, ``gt nudge`` and the witness's nudge are delivered as mail instead.

Every wait is on a positive signal (a screen text, a file's bytes, a database row), never a sleep.
Both tmux servers (the test's and the town's) are killed in teardown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import mail, mayor, nudge
from core.config import edit_toml
from core.db import connect
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import Town
from tests.conftest import VENV_BIN, wait_for
from tests.test_cockpit_keys import recorder_argv

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

COLUMNS, LINES = 160, 48
ATTACHED = "attached: keys go to mayor"


@dataclass
class Terminal:
    """The test's own tmux server (``socket``), one session ``cockpit`` running the real cockpit."""

    socket: str
    town: Town
    record: Path

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout

    def keys(self, *keys: str) -> None:
        """Press tmux key names (``Tab``, ``BTab``, ``Enter``, ``Escape``, ``C-]``, ``j``) in order."""
        for key in keys:
            self.tmux("send-keys", "-t", "cockpit", key)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "cockpit", "-l", text)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "cockpit")

    def wait_screen(self, text: str, present: bool = True, timeout: float = 60) -> None:
        try:
            wait_for(lambda: (text in self.screen()) == present, timeout=timeout)
        except AssertionError as exc:
            where = "on" if present else "gone from"
            raise AssertionError(f"{exc}: {text!r} {where} the cockpit's screen:\n{self.screen()}") from None

    def footer(self) -> str:
        return self.screen().rstrip("\n").splitlines()[-1]

    def focus_session(self) -> None:
        """``2``, then wait until the footer shows the session pane has the focus (a number key moves
        the focus in its own turn: a key sent at once after it may still reach the panel before)."""
        self.keys("2")
        try:
            wait_for(lambda: "Attach" in (f := self.footer()) and "Nudge" not in f and "Mark" not in f)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: the session pane focused (its footer):\n{self.screen()}") from None

    def attach(self) -> None:
        """:meth:`focus_session`, ``enter``, and wait for the attached note."""
        self.focus_session()
        self.keys("Enter")
        self.wait_screen(ATTACHED)

    def received(self) -> bytes:
        return self.record.read_bytes() if self.record.exists() else b""


def _env(town: Town) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.update(
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        GT_TOWN=str(town.root),
        GT_LEDGER_SYNC="off",
        BD_ACTOR="tester",
        TERM="xterm-256color",
        SHELL="/bin/sh",
        # a CI runner's exported size: the cockpit must draw at the pane's 160x48 all the same, and no
        # session may inherit it
        COLUMNS="80",
        LINES="24",
    )
    return env


def _open(town: Town, mayor_argv: list[str], record: Path) -> Iterator[Terminal]:
    """Start the Mayor session as ``mayor_argv``, then the real cockpit in a 160x48 tmux pane."""
    host = SessionHost(town)
    town.mayor_dir.mkdir(parents=True, exist_ok=True)
    host.start(mayor.SESSION, mayor_argv, town.mayor_dir)
    term = Terminal(f"gt-test-{uuid.uuid4().hex[:10]}", town, record)
    cockpit = [str(VENV_BIN / "gastown-tui"), "--town", str(town.root)]
    subprocess.run(
        ["tmux", "-L", term.socket, "-f", "/dev/null", "new-session", "-d", "-s", "cockpit"]
        + ["-x", str(COLUMNS), "-y", str(LINES), "--", *cockpit],
        env=_env(town),
        check=True,
        timeout=30,
    )
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, timeout=30)
        host.kill_server()


@pytest.fixture
def town_with_rig(town: Town, git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Town:
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    monkeypatch.setenv("BD_ACTOR", "tester")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    add_rig(town, "demo", str(git_repo))
    return town


@pytest.fixture
def recorder_mayor(town_with_rig: Town, tmp_path: Path) -> Iterator[Terminal]:
    """The cockpit in tmux, the Mayor a recorder of the bytes it receives."""
    record = tmp_path / "mayor.bytes"
    yield from _open(town_with_rig, recorder_argv(record), record)


@pytest.fixture
def shell_mayor(town_with_rig: Town, tmp_path: Path) -> Iterator[Terminal]:
    """The cockpit in tmux, the Mayor a plain shell (``sh``) whose foreground job is the recorder."""
    record = tmp_path / "mayor.bytes"
    recorder = recorder_argv(record)
    argv = ["sh", "-c", '"$0" "$@"; exec sh', *recorder]
    yield from _open(town_with_rig, argv, record)


def test_tab_and_the_cockpit_keys_never_type_into_the_agent(recorder_mayor: Terminal) -> None:
    term = recorder_mayor
    term.wait_screen("recorder ready")  # the cockpit is up, watching the Mayor
    size = term.tmux("display-message", "-p", "-t", "cockpit", "#{pane_width}x#{pane_height}").strip()
    assert size == f"{COLUMNS}x{LINES}"
    term.keys(*["Tab"] * 12, *["BTab"] * 12, "1", "2", "3", "4", "5", "6", "2", "j", "k", "1", "j", "k")
    term.keys("5")
    wait_for(lambda: "Sling" in term.footer(), what="the ready beads focused")  # "/" filters the focused list
    term.keys("/")
    term.wait_screen("filter: type to narrow")
    term.type("zzz")
    term.wait_screen("zzz")
    term.keys("Escape")
    term.wait_screen("zzz", present=False)
    assert "Mayor" in term.screen()  # the agents tree was not the one filtered
    term.keys("Tab", "BTab")
    term.attach()
    assert term.received() == b"", "watching sent keys to the agent"
    term.type("hello")
    term.keys("Tab", "BTab")
    wait_for(lambda: term.received() == b"hello\t\x1b[Z", what=f"exactly what was typed, got {term.received()!r}")
    term.keys("C-]")
    term.wait_screen(ATTACHED, present=False)
    term.keys(*["Tab"] * 6, *["BTab"] * 6, "1", "j", "k")
    term.attach()
    term.type("!")
    wait_for(
        lambda: term.received() == b"hello\t\x1b[Z!", what=f"nothing between the attaches, got {term.received()!r}"
    )
    assert "Gas Town" in term.screen()


def test_keys_typed_at_once_after_attach_and_detach_go_where_they_belong(recorder_mayor: Terminal) -> None:
    """A fast typist: the keys right after ``enter`` are the agent's, the ones right after ``ctrl+]``
    the cockpit's, even when tmux writes them in one go (one ``send-keys`` call)."""
    term = recorder_mayor
    term.wait_screen("recorder ready")
    for n in range(1, 4):
        term.focus_session()
        term.tmux("send-keys", "-t", "cockpit", "Enter", "l", "s", "Tab")
        wait_for(lambda n=n: term.received() == b"ls\t" * n, what=f"ls and tab typed, got {term.received()!r}")
        term.tmux("send-keys", "-t", "cockpit", "C-]", "Tab", "BTab", "Tab", "k")
        term.wait_screen(ATTACHED, present=False)
    term.attach()
    term.type("!")
    wait_for(lambda: term.received() == b"ls\t" * 3 + b"!", what=f"nothing after each ctrl+], got {term.received()!r}")


def test_nothing_is_typed_into_a_plain_shell_mayor(shell_mayor: Terminal) -> None:
    term = shell_mayor
    town = term.town
    host = SessionHost(town)
    term.wait_screen("recorder ready")
    assert host.shell_of(mayor.SESSION) == "sh"
    env = _env(town)
    gt = str(VENV_BIN / "gt")
    sent = subprocess.run(
        [gt, "mail", "send", "mayor/", "-s", "status [red]x[/]", "-m", "are you there?\x1b[2J"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sent.returncode == 0, sent.stderr
    db = connect(town.db_path)
    # the engine in the cockpit takes the "you have mail" nudge out of the queue without typing it
    wait_for(
        lambda: (
            db.execute("SELECT count(*) FROM nudge_queue WHERE session = 'mayor' AND status = 'pending'").fetchone()[0]
            == 0
            and db.execute("SELECT count(*) FROM nudge_queue WHERE session = 'mayor'").fetchone()[0] >= 1
        ),
        timeout=60,
        what="the engine dealt with the mail nudge",
    )
    nudged = subprocess.run([gt, "nudge", "mayor", "echo PWNED"], env=env, capture_output=True, text=True, timeout=60)
    assert nudged.returncode == 0, nudged.stderr
    assert "not typed" in nudged.stdout and "sent as mail" in nudged.stdout, nudged.stdout
    witness = nudge.system_nudge(town, host, db, mayor.SESSION, "witness: are you stuck?", sender="demo/witness")
    assert not witness.delivered and witness.mailed
    bodies = [m.body for m in mail.inbox(town, "mayor/")]
    assert "echo PWNED" in bodies and "witness: are you stuck?" in bodies  # delivered the other way
    assert term.received() == b"", "a nudge was typed into the Mayor's shell"
    shown = host.capture(mayor.SESSION)
    assert "PWNED" not in shown and "mail" not in shown.lower() and "stuck" not in shown
    term.keys("m")  # the cockpit shows them in the Mayor's inbox
    term.wait_screen("echo PWNED")
    assert term.received() == b""
    db.conn.close()


def test_a_monitor_nudge_never_lands_on_a_half_typed_line(fast_town: Town, demo_rig, run_gt) -> None:
    """The witness's nudge (:func:`core.nudge.system_nudge`) follows the same rule as ``gt nudge``: a
    polecat's input line holding someone's half-typed command is never completed and submitted."""
    from core.beads.store import BeadStore
    from tests.test_nudge import _idle, _slung

    p = _slung(run_gt, fast_town, "Idles")
    session = _idle(fast_town, p)
    host = SessionHost(fast_town)
    host.send_text(session, "rm -rf half", submit=False)  # someone typing at the agent's prompt
    assert host.wait_for_text(session, "❯ rm -rf half", timeout=15)
    with BeadStore(fast_town) as store:
        sent = nudge.system_nudge(
            fast_town, host, store.db, session, "witness: still there?", sender="demo/witness", target=p.address
        )
        assert not sent.delivered and sent.queued and "unsent text" in sent.reason
        assert [q["text"] for q in nudge.pending(store.db, session)] == ["witness: still there?"]
    assert "still there" not in host.capture(session, lines=200)
