"""Nothing agent-written is ever typed into an interactive shell (issue 21, safety): the first prompt
of an agent whose preset takes it by typing (``prompt = "nudge"``) follows the rule every nudge
follows (:meth:`core.sessions.SessionHost.shell_of`). The prompt carries agent text (a polecat's
beacon holds a predecessor's handoff note): typed into ``sh`` it would run as a command.

Real tmux on the town's private server, real shells, a real sling into a real rig.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core import polecats, runtimes
from core.beads.store import BeadStore
from core.config import edit_toml
from core.errors import AgentStartError
from core.rigs import add_rig
from core.sessions import SessionHost

#: Stands in for an agent CLI that takes its prompt by typing once ``> `` shows; prints what it heard.
AGENT = "import sys\nwhile True:\n    line = input('> ')\n    print('heard: ' + line[:60])\n"


def add_preset(town, name: str, **spec) -> None:
    with edit_toml(town.config_path) as doc:
        doc["agents"][name] = spec
    town.reload()


def test_a_first_prompt_is_never_typed_into_a_shell(town, host, tmp_path: Path) -> None:
    """A preset whose command is a shell: the start fails naming the shell and the fix, the prompt
    (here a command a handoff note could hold) is not typed, and no session is left."""
    add_preset(town, "shelly", argv=["sh"], prompt="nudge", ready_glyph="$ ", ready_delay=3.0, start_timeout=5.0)
    pwned = tmp_path / "PWNED"
    with pytest.raises(AgentStartError, match=r"runs a shell \(sh\), so its first prompt was not typed") as err:
        runtimes.start_agent(host, "rig1-shelly", runtimes.presets(town)["shelly"], f"touch {pwned}", tmp_path)
    assert "[agents.shelly] argv" in str(err.value) and 'prompt = "arg"' in str(err.value)
    assert host.list() == []
    assert not pwned.exists()


def test_a_wrapper_that_execs_the_agent_gets_its_prompt(town, host, tmp_path: Path) -> None:
    """``sh -c '...; exec agent'``: the pane's first process is a shell until the exec; the prompt
    waits for the agent and is then typed once."""
    argv = ["sh", "-c", 'printf "wrapping\\n"; sleep 0.5; exec "$0" -P -u -c "$1"', sys.executable, AGENT]
    add_preset(town, "wrapped", argv=argv, prompt="nudge", ready_glyph="> ", ready_delay=10.0, start_timeout=10.0)
    runtimes.start_agent(host, "rig1-wrapped", runtimes.presets(town)["wrapped"], "begin work", tmp_path)
    assert host.wait_for_text("rig1-wrapped", "heard: begin work")
    assert host.shell_of("rig1-wrapped") is None


def test_a_sling_to_a_shell_preset_types_no_beacon_and_rolls_back(town, git_repo: Path, run_gt) -> None:
    """``gt sling`` with a shell preset: refused with the fix, the bead not hooked, no polecat session
    left running, and the shell never saw the beacon (nothing it echoed is in the session log)."""
    add_rig(town, "demo", str(git_repo))
    add_preset(town, "shelly", argv=["sh"], prompt="nudge", ready_glyph="$ ", ready_delay=2.0, start_timeout=5.0)
    host = SessionHost(town)
    try:
        res = run_gt("bead", "create", "Add a greeting", "--rig", "demo", "--json", cwd=town.root)
        assert res.returncode == 0, res.stderr
        bead = json.loads(res.stdout)["id"]
        res = run_gt("sling", bead, "demo", "--agent", "shelly", cwd=town.root)
        assert res.returncode != 0
        assert "runs a shell (sh), so its first prompt was not typed" in res.stderr, res.stderr
        assert [s.name for s in host.list() if s.alive] == []
        with BeadStore(town) as store:
            assert polecats.by_bead(store.db, bead) is None
            assert store.get(bead).status == "open"
        logs = "".join(p.read_text(errors="replace") for p in host.logs_dir.glob("*.log"))
        assert logs and "[GAS TOWN]" not in logs  # the shell ran (its prompt is logged), never got the beacon
    finally:
        host.kill_server()
