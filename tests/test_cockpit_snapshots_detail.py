"""SVG snapshots of the detail views at 160x50 (issue 21, part 3): a polecat with its diff, and a failed
merge request with its gate log. The same tests write ``screenshots/polecat.svg/png`` and
``screenshots/merge-request.svg/png`` for the README.

The town is :func:`tests.test_cockpit_snapshots.snap_town` (fixed names, frozen clock, TZ=UTC), plus:
polecat nux's real worktree with two commits made at pinned dates (so every sha is the same on every
run: the rig's first commit too, made by the fixture after the dates are pinned), witness events at
pinned times, and a gate log of fixed content for the failed MR with its batch and follow-up bead.
Refresh with ``pytest tests/test_cockpit_snapshots_detail.py --snapshot-update``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from core import events, git, mq, polecats
from core.beads.store import BeadStore
from core.db import transaction
from core.town import Town
from gastown_tui.screens.merge_request import MergeRequestScreen
from gastown_tui.screens.polecat import PolecatScreen
from tests.conftest import git as sh_git
from tests.test_cockpit_snapshots import FROZEN, SIZE, make_app, save_screenshot, settle
from tests.test_cockpit_snapshots import snap_town  # noqa: F401 - a fixture
from widgets.agents import AgentsTree
from widgets.refinery import RefineryQueue

LOGIN = '''\
"""The login form."""


def validate(user: str, password: str) -> list[str]:
    """What is wrong with the form's fields ([] when nothing is)."""
    errors = []
    if not user.strip():
        errors.append("user is required")
    if len(password) < 12:
        errors.append("password: at least 12 characters")
    return errors
'''
GATE_LOG = """\
$ python -m pytest -q  (cwd refinery, timeout 600s)
........................................F.....                           [100%]
=================================== FAILURES ===================================
___________________________________ test_ttl ___________________________________

    def test_ttl():
        cache = Cache(ttl=1)
        cache.put("k", 1)
>       assert cache.hits("k") == 1
E       assert 2 == 1
E        +  where 2 = <Cache ttl=1>.hits('k')

tests/test_cache.py:14: AssertionError
=========================== short test summary info ============================
FAILED tests/test_cache.py::test_ttl - assert 2 == 1
1 failed, 45 passed in 2.31s

exit 1
"""


@pytest.fixture
def pinned_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every git commit of the test at one date (requested before ``snap_town``, which makes the rig)."""
    for var in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(var, "2026-01-01T00:00:00+00:00")


@pytest.fixture
def detail_town(pinned_dates: None, snap_town: Town) -> Iterator[Town]:  # noqa: F811
    """``snap_town`` with nux's worktree and history, and mr-2's gate log, batch and follow-up."""
    town = snap_town
    rig_dir = town.rig_dir("demo")
    tree = rig_dir / "polecats" / "nux"
    git.worktree_add(rig_dir / ".repo.git", tree, "polecat/nux/de-w1", "main")
    (tree / "login.py").write_text(LOGIN)
    sh_git(tree, "add", "-A")
    sh_git(tree, "commit", "-q", "-m", "Add the login form and its validation")
    (tree / "README.md").write_text("# demo\n\nSign in with `demo login`: the form checks the password length.\n")
    sh_git(tree, "commit", "-q", "-am", "README: how to sign in")
    log = town.logs_dir / "gates" / "mr-2-test-1.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(GATE_LOG)
    with BeadStore(town) as store:
        follow = store.create("Fix test failure: Work de-w2", actor="demo/refinery", id="de-f1", issue_type="bug")
        db = store.db
        polecats.upsert(db, "demo", "nux", branch="polecat/nux/de-w1", worktree=str(tree))
        with transaction(db):
            for ago, kind, payload in (
                (300, "sling", {"polecat": "nux", "agent": "sim"}),
                (298, "spawn", {"polecat": "nux", "session": "demo-nux", "branch": "polecat/nux/de-w1"}),
                (240, "witness_state", {"polecat": "nux", "state": "working", "action": "none", "reason": "output"}),
                (
                    120,
                    "stalled",
                    {"polecat": "nux", "state": "stalled", "action": "nudge", "reason": "silent for 905s, nudged"},
                ),
                (60, "witness_state", {"polecat": "nux", "state": "working", "action": "none", "reason": "output"}),
            ):
                events.append(db, kind, "demo/witness", rig="demo", bead="de-w1", payload=payload, ts=FROZEN - ago)
            batch = db.execute(
                "INSERT INTO mq_batches (rig, started_at, finished_at, wall_s, mrs, merged, failed, gate_runs,"
                " outcome) VALUES ('demo', ?, ?, 41.5, 2, 1, 1, 3, 'partial')",
                [FROZEN - 200, FROZEN - 158.5],
            ).lastrowid
            db.execute("UPDATE merge_requests SET batch = ? WHERE id IN ('mr-1', 'mr-2')", [batch])
            mq.record_gate_run(db, ["mr-2"], [str(log)])
            mq.finish(
                db, "mr-2", "failed", "test gate failed (exit 1): FAILED tests/test_cache.py::test_ttl - assert 2 == 1"
            )
            events.append(
                db,
                "merge_failed",
                "demo/refinery",
                rig="demo",
                bead="de-w2",
                payload={"mr": "mr-2", "batch": batch, "gate": "test", "log": str(log), "follow_up": follow.id},
                ts=FROZEN - 160,
            )
    yield town


async def wait_for(pilot, predicate, what: str) -> None:
    deadline = time.monotonic() + 30
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def test_polecat_detail_snapshot(detail_town: Town, snap_compare) -> None:
    app = make_app(detail_town)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        app.main.select_agent("demo/nux")
        tree = app.main.query_one(AgentsTree)
        tree.focus()
        await wait_for(pilot, lambda: tree.selected_key == "demo/nux", "the cursor on nux")
        await pilot.press("d")
        await wait_for(
            pilot, lambda: isinstance(app.screen, PolecatScreen) and app.screen.detail is not None, "the detail"
        )
        await pilot.pause(0.3)
        save_screenshot(app, "polecat")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_merge_request_detail_snapshot(detail_town: Town, snap_compare) -> None:
    app = make_app(detail_town)

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        queue = app.main.query_one(RefineryQueue)
        queue.focus()
        queue.move_cursor(row=queue.get_row_index("mr-2"))
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, MergeRequestScreen) and app.screen.detail is not None, "the detail"
        )
        await pilot.pause(0.3)
        save_screenshot(app, "merge-request")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
