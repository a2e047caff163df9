"""Nothing agent-written is ever typed into an interactive shell (issue 21, safety): the first prompt
of an agent whose preset takes it by typing (``prompt = "nudge"``) follows the rule every nudge
follows (:meth:`core.sessions.SessionHost.shell_of`). The prompt carries agent text (a polecat's
beacon holds a predecessor's handoff note): typed into ``sh`` it would run as a command.

The cockpit's own typing paths (``n`` on an agent, the grid's broadcast to marked tiles) follow the
nudge rule too: a shell gets the text as mail at its address.

Real tmux on the town's private server, real shells, a real sling into a real rig, the cockpit under Pilot.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core import crew, mail, nudge, polecats, runtimes
from core.beads.store import BeadStore
from core.config import edit_toml
from core.errors import AgentStartError
from core.rigs import add_rig, load_rig
from core.sessions import SessionHost
from core.town import Town
from gastown_tui.screens.grid import GridScreen
from gastown_tui.screens.modals import NudgeModal
from tests.conftest import run_async, wait_until
from tests.test_cockpit import SIZE, cockpit, ready, sim_town, toasts  # noqa: F401 - the fixture

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


@run_async
async def test_the_cockpits_nudge_and_broadcast_mail_a_shell_instead_of_typing(sim_town: Town) -> None:  # noqa: F811
    """The cockpit's ``n`` on a crew member's shell, and the grid's broadcast to marked tiles (that
    crew shell and a ``sim`` town's Mayor, the user's shell): nothing typed into either; each gets
    the text as mail at its own address, and the toast says so."""
    host = SessionHost(sim_town)
    crew.add(sim_town, "demo", "alice")
    crew.start(sim_town, "alice", host=host)
    alice = "demo-crew-alice"
    assert host.wait_for_text(alice, "Gas Town crew workspace demo/crew/alice", timeout=60)
    worktree = load_rig(sim_town, "demo").crew_dir / "alice"
    app = cockpit(sim_town)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await wait_until(pilot, lambda: app.snapshot.agent("demo/crew/alice") is not None, what="alice listed")
        app.main.select_agent("demo/crew/alice")
        await pilot.press("1", "n")
        await wait_until(pilot, lambda: isinstance(app.screen, NudgeModal), what="the nudge dialog")
        await pilot.press(*"touch", "space", *"PWNED", "enter")
        await wait_until(
            pilot,
            lambda: any("sent as mail" in t and alice in t for t in toasts(app)),
            timeout=30,
            what=f"the toast saying it was mailed ({toasts(app)})",
        )
        assert [m.body for m in mail.inbox(sim_town, "demo/crew/alice")] == ["touch PWNED"]
        await pilot.press("g")
        grid = await wait_until(pilot, lambda: isinstance(app.screen, GridScreen) and app.screen)
        await wait_until(pilot, lambda: len(grid.tiles) == 2, what="the Mayor's and alice's tiles")
        await wait_until(pilot, lambda: app.focused is grid.tiles[0], what="the first tile selected")
        await pilot.press("space", "right", "space")
        assert [t.marked for t in grid.tiles] == [True, True]
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, NudgeModal), what="the broadcast dialog")
        await pilot.press(*"touch", "space", *"BROADCAST", "enter")
        await wait_until(
            pilot,
            lambda: (
                [m.body for m in mail.inbox(sim_town, "mayor/")] == ["touch BROADCAST"]
                and len(mail.inbox(sim_town, "demo/crew/alice")) == 2
            ),
            timeout=30,
            what="the broadcast mailed to both",
        )
    for session in (alice, "mayor"):
        screen = host.capture(session, lines=200)
        assert "touch" not in screen, (session, screen)
    assert not (worktree / "PWNED").exists() and not (worktree / "BROADCAST").exists()
    assert not (sim_town.mayor_dir / "BROADCAST").exists()


def test_an_agent_is_nudged_by_its_address_only_when_it_names_its_session() -> None:
    assert nudge.target_of("demo/wez", "demo-wez") == "demo/wez"
    assert nudge.target_of("demo/crew/alice", "demo-crew-alice") == "demo/crew/alice"
    assert nudge.target_of("mayor", "mayor") == "mayor"
    assert nudge.target_of("demo/wez", "demo-other") == "demo-other"  # a session of its own: by name
    assert nudge.target_of(None, "demo-wez") == nudge.target_of("a/b/c/d", "demo-wez") == "demo-wez"
