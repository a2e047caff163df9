"""Issue 20's whole Mayor loop with a real Claude Code Mayor (scripted model) driven from the cockpit:
the user types a request into the Mayor's terminal; the Mayor files three beads (one waiting for
another), makes a convoy and slings them; the convoy lands; the Mayor gets the landing mail typed in
as a "You have mail" nudge, and its ``gt prime`` shows the landed convoy."""

from __future__ import annotations

import re

import pytest

from core import convoys
from core.beads.store import BeadStore
from core.config import edit_toml
from gastown_tui.app import CockpitApp
from tests.conftest import run_async
from tests.model_script import Reply, Shell, Turn, is_side_request
from tests.real_agents import claude_env, claude_home, need, use_env
from tests.test_cockpit import SIZE, wait_until
from widgets.sessionpane import SessionPane

pytestmark = [pytest.mark.real_agent]

REQUEST = "REQUEST three files"
_ID = re.compile(r'"id": "([a-z]+-[a-z0-9.]+)"')


def _create(title: str, text: str, deps: str = "") -> Shell:
    body = f"\"$(printf '%s\\n' '```sh' 'echo {text} > {text}.txt' '```')\""
    return Shell(f'gt bead create "{title}" -d {body} --rig demo --json' + (f" --deps {deps}" if deps else ""))


def mayor_script(turn: Turn) -> Reply:
    """The Mayor: on the request, file A, B (waits for A) and C one call at a time (reading each id
    from the result), make a convoy that notifies the Mayor, sling A and C, queue B; on mail, read the
    inbox and gt prime; otherwise say it is ready."""
    if is_side_request(turn):
        return Reply(text="Mayor")
    user = [m.text for m in turn.messages if m.role == "user"]
    ran = turn.shell_calls()
    mails = sum("You have mail" in u for u in user)
    if mails > ran.count("gt mail inbox"):
        return Reply(text="Reading my mail.", calls=(Shell("gt mail inbox"),))
    if mails > ran.count("gt prime"):
        return Reply(text="Checking the town.", calls=(Shell("gt prime"),))
    if mails:
        return Reply(text="Noted: the convoy landed.")
    if not any(REQUEST in u for u in user):
        return Reply(text="Mayor ready.")
    ids = [m.group(1) for r in turn.results() if (m := _ID.search(r.output))]
    creates = [c for c in turn.shell_calls() if c.startswith("gt bead create")]
    if len(creates) == 0:
        return Reply(text="Filing A.", calls=(_create("File A", "a"),))
    if len(creates) == 1:
        return Reply(text="Filing B.", calls=(_create("File B", "b", deps=ids[0]),))
    if len(creates) == 2:
        return Reply(text="Filing C.", calls=(_create("File C", "c"),))
    a, b, c = ids[:3]
    if not any(r.startswith("gt convoy create") for r in ran):
        return Reply(text="Convoy.", calls=(Shell(f'gt convoy create "Three files" {a} {b} {c} --notify mayor/'),))
    if not any(r.startswith("gt sling") for r in ran):
        return Reply(
            text="Slinging.",
            calls=(Shell(f"gt sling {a} {c} demo --agent sim && gt sling {b} demo --agent sim --queue"),),
        )
    return Reply(text="Slung three beads; B waits for A.")


@run_async
async def test_a_real_claude_mayor_turns_a_request_into_a_landed_convoy(
    agent_rig, endpoint, gt_env, tmp_path, monkeypatch
):
    need("claude")
    env = {**gt_env, **claude_env(claude_home(tmp_path / "home-claude"), endpoint)}
    use_env(monkeypatch, env)
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    endpoint.script = mayor_script
    town, _ = agent_rig
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "claude"
    town.reload()
    app = CockpitApp(town, poll_interval=0.1, snapshot_interval=0.3, start_engine=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.engine_state == "running", timeout=60, what="the engine")
        await wait_until(
            pilot,
            lambda: any("Mayor ready." in r.text for _, r in endpoint.replies),
            timeout=120,
            what="the Mayor's first answer",
        )
        pane = app.main.query_one(SessionPane)
        assert pane.session == "mayor"
        await pilot.press("enter")  # attach: keys go to the Mayor
        assert app.focused is pane.terminal
        await pilot.press(*["space" if ch == " " else ch for ch in REQUEST], "enter")
        with BeadStore(town) as store:

            def landed():
                found = [c for c in convoys.list_convoys(store, None) if c.name == "Three files"]
                return found and found[0].state == "landed" and found[0]

            convoy = await wait_until(pilot, landed, timeout=300, what="the convoy landing")
            assert convoy.total == 3
            titles = sorted(t.title for t in convoy.tracked)
            assert titles == ["File A", "File B", "File C"]
            b = next(t for t in convoy.tracked if t.title == "File B")
            assert store.blockers(b.id) == [] and store.get(b.id).status == "closed"
        seen = await wait_until(
            pilot,
            lambda: [
                t
                for t in endpoint.turns
                if any("## Convoys" in r.output and "Three files: landed" in r.output for r in t.results())
            ],
            timeout=180,
            what="the Mayor's gt prime showing the landed convoy",
        )
        assert any("Convoy landed: Three files" in r.output for r in seen[-1].results())
        await pilot.press("ctrl+right_square_bracket")
