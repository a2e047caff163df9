"""gt mayor start|attach|stop on the town's real tmux server."""

from __future__ import annotations

import os
import sys

import pexpect
import pytest

from tests.conftest import VENV_BIN, wait_for
from core import mayor, runtimes
from core.config import edit_toml
from core.errors import Conflict, GtError, NotFound
from core.pidfile import pid_alive


@pytest.fixture
def host(town_host):
    """The town's own socket: gt subprocesses find it too."""
    return town_host


def test_sim_town_mayor_is_a_shell_with_a_banner(host, town, run_gt):
    runtimes.set_default_agent(town, "sim")
    proc = run_gt("--town", str(town.root), "mayor", "start", env={"SHELL": "/bin/sh"})
    assert proc.returncode == 0, proc.stderr
    assert host.wait_for_text("mayor", "Gas Town Mayor shell")
    assert "gt sling BEAD RIG" in host.capture("mayor", lines=30)
    host.send_text("mayor", 'echo "role=$GT_ROLE town=$GT_TOWN"; command -v gt; pwd')
    assert host.wait_for_text("mayor", f"role=mayor town={town.root}")
    screen = host.capture("mayor", lines=30)
    assert str(VENV_BIN / "gt") in screen and str(town.mayor_dir) in screen
    assert host.is_alive("mayor", ["sh"])
    again = run_gt("--town", str(town.root), "mayor", "start")
    assert again.returncode == 2 and "already exists" in again.stderr
    pid = host.pid("mayor")
    stop = run_gt("--town", str(town.root), "mayor", "stop")
    assert stop.returncode == 0, stop.stderr
    assert not host.exists("mayor") and not pid_alive(pid)
    missing = run_gt("--town", str(town.root), "mayor", "stop")
    assert missing.returncode == 2 and "not running" in missing.stderr


def test_attach_execs_tmux_attach(host, town, gt_env):
    runtimes.set_default_agent(town, "sim")
    mayor.start(town, session_host=host)
    assert host.wait_for_text("mayor", "Gas Town Mayor shell")
    env = {k: v for k, v in gt_env.items() if k not in ("TMUX", "TMUX_PANE")}
    child = pexpect.spawn(
        str(VENV_BIN / "gt"),
        ["--town", str(town.root), "mayor", "attach"],
        env={**env, "TERM": "xterm-256color"},
        dimensions=(30, 100),
        timeout=10,
    )
    try:
        child.expect("No AI agent CLI is installed")
        wait_for(lambda: host.info("mayor").attached == 1)
        # gt exec'd tmux: the same process is now the tmux client attached to the Mayor
        argv = open(f"/proc/{child.pid}/cmdline", "rb").read().split(b"\0")
        assert os.path.basename(argv[0].decode()) == "tmux" and b"attach-session" in argv
    finally:
        child.terminate(force=True)


def test_mayor_runs_a_real_preset_with_the_prime_prompt(host, town):
    # a town preset standing in for an agent CLI that takes its prompt by nudge once "> " shows
    agent = "import sys\nprint('fake agent')\nwhile True:\n    line = input('> ')\n    print('heard: ' + line[:40])\n"
    with edit_toml(town.config_path) as doc:
        doc["agents"]["fake"] = {
            "argv": [sys.executable, "-u", "-c", agent],
            "prompt": "nudge",
            "ready_glyph": "> ",
            "ready_delay": 5.0,
        }
    town.reload()
    mayor.start(town, "fake", session_host=host)
    assert host.wait_for_text("mayor", "heard: " + mayor.MAYOR_PRIME[:40])
    with pytest.raises(Conflict):
        mayor.start(town, "fake", session_host=host)


def test_bad_agents_leave_nothing_running(host, town):
    with edit_toml(town.config_path) as doc:
        doc["agents"]["ghost"] = {"argv": ["ghost-agent-cli-xyz", "--yolo"]}
    town.reload()
    with pytest.raises(GtError, match="not installed"):
        mayor.start(town, "ghost", session_host=host)
    with pytest.raises(NotFound, match="unknown agent preset"):
        mayor.start(town, "nope", session_host=host)
    assert host.list() == []
    with pytest.raises(NotFound, match="not running"):
        mayor.attach_argv(town, session_host=host)


def test_a_nudge_never_types_into_a_shell_mayor(host, town, run_gt, tmp_path):
    """Issue 15 item 6: a sim town's Mayor is the user's shell; a nudge to it becomes Mayor mail,
    whatever the shell runs in the foreground, and the "You have mail" nudge is dropped."""
    from core import mail, nudge
    from core.beads.store import BeadStore

    runtimes.set_default_agent(town, "sim")
    mayor.start(town, session_host=host)
    assert host.wait_for_text("mayor", "Gas Town Mayor shell")
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    res = run_gt("--town", str(town.root), "nudge", "mayor", command)
    assert res.returncode == 0, res.stderr
    assert "is a shell" in res.stdout and "sent as mail" in res.stdout
    res = run_gt("--town", str(town.root), "nudge", "mayor/", command, "--mode", "queue", "--json")
    assert res.returncode == 0, res.stderr
    assert '"mailed": "hq-' in res.stdout and '"delivered": false' in res.stdout
    host.send_text("mayor", "sleep 30")  # the user runs something: the pane is still their shell
    assert host.wait_for_text("mayor", "sleep 30")
    res = run_gt("--town", str(town.root), "nudge", "mayor", command, "--mode", "wait-idle", "--timeout", "1")
    assert res.returncode == 0 and "sent as mail" in res.stdout, (res.stdout, res.stderr)
    mail.send(town, "mayor/", "Build broke", "see the log", sender="demo/polecats/nux")
    with BeadStore(town) as store:
        assert nudge.deliver_pending(town, host, store.db) == []
        (row,) = store.db.execute("SELECT status, reason FROM nudge_queue WHERE kind = 'mail'").fetchall()
        assert row[0] == "dropped" and "shell" in row[1]
    host.send_keys("mayor", "C-c")
    host.send_text("mayor", "echo probe-$((6*7))")  # the shell reads its input in order
    assert host.wait_for_text("mayor", "probe-42", timeout=15)
    screen = host.capture("mayor", lines=500)
    assert not marker.exists() and "touch" not in screen and "You have mail" not in screen
    bodies = [m.body for m in mail.inbox(town, "mayor/") if m.subject.startswith("Nudge from")]
    assert bodies == [command] * 3
