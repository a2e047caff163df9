"""Towns federate over a shared board served over git:// on 127.0.0.1 (issue 22, "Done when").

Every town is a real town on disk with its own database and board mirror; the board and the rig's
repository are bare repositories behind ``git daemon`` (:mod:`tests.git_server`). Claims race from
threads, each town pushing through its own mirror, so the only arbiter is the board's receive-pack.
Work is done by the claimer's ``sim`` polecats in real tmux; the owner's refinery gates and merges.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

from core import board, board_claims, board_work, events, mq
from core.beads import BeadStore
from core.board import BoardError, Mirror
from core.config import edit_toml
from core.db import connect
from core.errors import Conflict
from core.refinery import Refinery
from core.rigs import add_rig, load_rig
from core.sessions import SessionHost
from core.sling import Slinger
from core.town import Town, install_town
from tests.conftest import run_async, wait_for
from tests.test_engine_support import FAST, SH, EngineThread, configure

pytestmark = pytest.mark.integration

HOSTILE = "Fix \x1b[31mred\x1b[0m \x1b]0;pwned\x07 title"


def make_town(tmp_path: Path, name: str, server, ttl: float = 300) -> Town:
    """Town ``name`` with board ``main`` (the server's ``board`` repository) and rig ``proj``."""
    town, _ = install_town(tmp_path / name)
    configure(town, {"board": {"claim_ttl": ttl, "poll_interval": 0.5}})
    add_rig(town, "proj", server.url("owner/proj"))
    board.add(connect(town.db_path), "main", server.url("board"))
    return town


@pytest.fixture
def fleet(tmp_path, git_server):
    """A function making towns on one shared board (their tmux servers killed at teardown)."""
    git_server.create("owner/proj", {"README.md": "# proj\n"})
    subprocess.run(["git", "init", "-q", "--bare", str(git_server.path("board"))], check=True)
    made: list[Town] = []

    def make(name: str, ttl: float = 300) -> Town:
        town = make_town(tmp_path, name, git_server, ttl)
        made.append(town)
        return town

    yield make
    for town in made:
        SessionHost(town).kill_server()


def post(town: Town, title: str = HOSTILE, description: str = "") -> board.Item:
    store = BeadStore(town)
    bead = store.create(
        title, actor="test", prefix=load_rig(town, "proj").prefix, description=description, labels=["federated"]
    )
    return board.post(town, store, bead.id, actor="test")


def race(towns: list[Town], item: str) -> tuple[list[str], list[str]]:
    """Every town claims ``item`` at once (threads released together). Returns (winners, refusals)."""
    mirrors = [Mirror(t, board.get(connect(t.db_path), "main")) for t in towns]
    start = threading.Barrier(len(mirrors))
    winners: list[str] = []
    refusals: list[str] = []

    def go(m: Mirror) -> None:
        start.wait()
        try:
            board_claims.take(m, item)
            winners.append(m.me)
        except Conflict as exc:
            refusals.append(str(exc))

    threads = [threading.Thread(target=go, args=(m,)) for m in mirrors]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return winners, refusals


def test_a_posted_item_is_plain_git_and_exactly_one_of_two_towns_claims_it(fleet, git_server, tmp_path):
    a, b, c = fleet("town-a"), fleet("town-b"), fleet("town-c")
    item = post(a)
    assert item.id.startswith("town-a.") and BeadStore(a).get(item.bead).status == "in_progress"
    # readable with plain git: the ref and the JSON
    ls = subprocess.run(["git", "ls-remote", git_server.url("board")], capture_output=True, text=True).stdout
    assert f"refs/board/items/{item.id}" in ls
    shown = subprocess.run(
        ["git", "show", f"refs/board/items/{item.id}:item.json"],
        cwd=git_server.path("board"),
        capture_output=True,
        text=True,
    ).stdout
    data = json.loads(shown)
    assert data["title"] == HOSTILE and data["town"] == "town-a" and data["rig_url"] == git_server.url("owner/proj")
    assert data["base"] == git_server.head("owner/proj") and data["labels"] == ["federated"]
    winners, refusals = race([b, c], item.id)
    assert len(winners) == 1 and len(refusals) == 1
    assert f"already claimed by {winners[0]}" in refusals[0]
    # posting the same bead again is refused; the owner cannot claim its own item
    with pytest.raises(Exception, match="already on board"):
        board.post(a, BeadStore(a), item.bead)
    with pytest.raises(Exception, match="posted by this town"):
        board_claims.take(Mirror(a, board.get(connect(a.db_path), "main")), item.id)


@pytest.mark.stress
def test_100_races_of_five_towns_never_double_claim(fleet):
    towns = [fleet(f"t{i}") for i in range(5)]
    owner, racers = towns[0], towns[1:]
    mirror = Mirror(owner, board.get(connect(owner.db_path), "main"))
    doubles, started = 0, time.monotonic()
    for n in range(100):
        item = board.Item(id=f"t0.pr-r{n}", town="t0", bead=f"pr-r{n}", title=f"race {n}")
        assert mirror.push(
            [(board.item_ref(item.id), mirror.commit({"item.json": item.record()}, "post"), None)], "post"
        )
        winners, refusals = race(racers, item.id)
        doubles += len(winners) != 1
        assert len(winners) + len(refusals) == 4
    mirror.fetch()
    held = board_claims.claims(mirror)
    assert doubles == 0 and len(held) == 100 and all(c.town in {"t1", "t2", "t3", "t4"} for c in held.values())
    assert time.monotonic() - started > 0  # the trials ran (the rate is bench_board's figure)


def _work(town: Town, bead: str, store: BeadStore) -> mq.MR:
    """Sling ``bead`` to a sim polecat of ``town`` and wait until its gt done holds the MR for the board."""
    Slinger(town, store=store).sling(bead, "proj", agent="sim")
    return wait_for(lambda: next(iter(mq.of_bead(store.db, bead)), None), timeout=120, what="the sim's gt done")


def test_an_item_is_worked_by_the_claimer_merged_by_the_owner_and_stamped(fleet, git_server):
    a, b = fleet("town-a"), fleet("town-b")
    item = post(a, description=SH.format("echo federated > fed.txt"))
    sa, sb = BeadStore(a), BeadStore(b)
    _, claim, bead = board_work.claim(b, sb, item.id, "proj", actor="test")
    assert claim.town == "town-b" and sb.get(bead).external_ref == f"board:main/{item.id}"
    assert "board:main" in sb.get(bead).labels
    mr = _work(b, bead, sb)
    assert mr.status == "board"  # held: town B's refinery never takes it
    assert Refinery(b, "proj").process_once().empty
    board_work.patrol(b, sb.db)
    assert mq.get(sb.db, mr.id).status == "submitted"
    board_work.patrol(a, sa.db)
    queued = mq.of_bead(sa.db, item.bead)
    assert [m.status for m in queued] == ["queued"] and queued[0].branch == f"board/{item.id}"
    result = Refinery(a, "proj").process_once()
    assert result.merged == [queued[0].id]
    assert (
        "fed.txt"
        in subprocess.run(
            ["git", "ls-tree", "--name-only", "main"], cwd=git_server.path("owner/proj"), capture_output=True, text=True
        ).stdout
    )  # landed where town A's work lands
    board_work.patrol(a, sa.db)
    mirror = Mirror(a, board.get(sa.db, "main"))
    mirror.fetch()
    assert mirror.item(item.id).status == "closed" and mirror.item(item.id).by == "town-b"
    stamps = board_work.stamps(mirror)
    assert [(s["item"], s["town"], s["owner"]) for s in stamps] == [(item.id, "town-b", "town-a")]
    assert sa.get(item.bead).status == "closed"
    board_work.patrol(b, sb.db)
    assert sb.get(bead).status == "closed"
    log = subprocess.run(
        ["git", "log", "--format=%an %s", "refs/board/stamps"],
        cwd=git_server.path("board"),
        capture_output=True,
        text=True,
    ).stdout
    assert f"town-a stamp town-b for {item.id}" in log


def test_a_dead_claimer_loses_the_item_after_expiry_and_its_late_and_forged_completions_are_refused(fleet):
    a, b, c = fleet("town-a"), fleet("town-b", ttl=1), fleet("town-c")
    item = post(a, description=SH.format("echo from-c > c.txt"))
    sa, sb, sc = BeadStore(a), BeadStore(b), BeadStore(c)
    _, first, _bead_b = board_work.claim(b, sb, item.id, "proj", actor="test")
    with pytest.raises(Conflict, match="already claimed by town-b"):
        board_work.claim(c, sc, item.id, "proj", actor="test")
    # town B dies: nobody renews its claim; once it has expired town C takes it over
    wait_for(lambda: not first.live(), timeout=30, what="the claim's expiry")
    _, taken, bead_c = board_work.claim(c, sc, item.id, "proj", actor="test")
    assert taken.town == "town-c"
    # B comes back: its patrol finds the claim lost and never submits
    board_work.patrol(b, sb.db)
    assert board.link_of_bead_item(sb.db, "main", item.id).state == "lost"
    # a forged completion pushed by B (work and record naming itself) is refused by the owner
    mb = Mirror(b, board.get(sb.db, "main"))
    mb.fetch()
    head = git_server_head = mb.commit({"x.json": {"x": 1}}, "forged work")
    record = {"item": item.id, "town": "town-b", "head": head, "base": None, "gates": []}
    forged = mb.commit({"completion.json": record}, "complete (forged)")
    assert mb.push(
        [(board.work_ref(item.id, "town-b"), git_server_head, None), (board.done_ref(item.id, "town-b"), forged, None)],
        "forging",
    )
    board_work.patrol(a, sa.db)
    refused = events.query(sa.db, types=("board_completion_refused",))
    assert len(refused) == 1 and "claimed by town-c, not town-b" in refused[0].payload["why"]
    assert mq.of_bead(sa.db, item.bead) == []
    # town C completes the item
    mr = _work(c, bead_c, sc)
    board_work.patrol(c, sc.db)
    assert mq.get(sc.db, mr.id).status == "submitted"
    board_work.patrol(a, sa.db)
    assert Refinery(a, "proj").process_once().merged
    board_work.patrol(a, sa.db)
    ma = Mirror(a, board.get(sa.db, "main"))
    ma.fetch()
    assert ma.item(item.id).by == "town-c" and [s["town"] for s in board_work.stamps(ma)] == ["town-c"]
    assert len(events.query(sa.db, types=("board_completion_refused",))) == 1  # refused once, not per poll


def test_a_completion_failing_the_owners_gates_gets_a_verdict_and_the_claim_stays(fleet):
    a, b = fleet("town-a"), fleet("town-b")
    with edit_toml(a.rig_dir("proj") / "rig.toml") as doc:
        doc["gates"]["check"] = {"cmd": ["sh", "-c", "test ! -e bad.txt"], "timeout": 60}
    item = post(a, description=SH.format("echo bad > bad.txt"))
    sa, sb = BeadStore(a), BeadStore(b)
    _, _, bead = board_work.claim(b, sb, item.id, "proj", actor="test")
    _work(b, bead, sb)
    board_work.patrol(b, sb.db)
    board_work.patrol(a, sa.db)
    assert Refinery(a, "proj").process_once().failed
    board_work.patrol(a, sa.db)
    ma = Mirror(a, board.get(sa.db, "main"))
    ma.fetch()
    found = ma.item(item.id)
    assert found.status == "open" and found.verdicts and found.verdicts[0]["town"] == "town-b"
    assert board_claims.read(ma, item.id).town == "town-b"
    board_work.patrol(b, sb.db)
    ln = board.link_of_bead_item(sb.db, "main", item.id)
    assert ln.state == "claimed" and "refused by town-a" in ln.note
    assert any("refused the completion" in cm.text for cm in sb.get(bead).comments)


def test_an_unreachable_board_and_a_refusing_board_are_one_line_and_change_nothing(fleet, git_server, run_gt):
    a = fleet("town-a")
    git_server.hook("board", "pre-receive", 'printf "no pushes \\033[31mhere\\033]0;pwned\\007\\n" >&2\nexit 1\n')
    store = BeadStore(a)
    bead = store.create("Wanted", actor="test", prefix=load_rig(a, "proj").prefix).id
    before = git_server.refs("board")
    with pytest.raises(BoardError) as refused:
        board.post(a, store, bead)
    assert (
        "no pushes here" in str(refused.value) and "\x1b" not in str(refused.value) and "\x07" not in str(refused.value)
    )
    assert store.get(bead).status == "open" and board.links(store.db) == [] and git_server.refs("board") == before
    (git_server.path("board") / "hooks" / "pre-receive").unlink()
    item = board.post(a, store, bead)
    git_server.stop()
    res = run_gt("board", "items", cwd=a.root)
    assert res.returncode == 1 and res.stderr.count("\n") == 1 and "cannot fetch board main" in res.stderr
    assert board_work.patrol(a, store.db)
    assert board_work.patrol(a, store.db)
    assert len(events.query(store.db, types=("board_unreachable",))) == 1  # one event per run of failures
    assert board.links(store.db)[0].item == item.id and board.links(store.db)[0].state == "open"


def test_gt_board_commands_list_as_json_and_refuse_bad_input(fleet, run_gt, git_server):
    a = fleet("town-a")
    res = run_gt("board", "list", "--json", cwd=a.root)
    assert res.returncode == 0 and json.loads(res.stdout)[0]["name"] == "main"
    res = run_gt("board", "add", "Bad Name!", "git://x/y", cwd=a.root)
    assert res.returncode == 2 and "invalid board name" in res.stderr
    res = run_gt("board", "claim", "../etc", "--rig", "proj", cwd=a.root)
    assert res.returncode == 2 and "invalid board item" in res.stderr
    bead = BeadStore(a).create(HOSTILE, actor="test", prefix=load_rig(a, "proj").prefix).id
    res = run_gt("board", "post", bead, "--json", cwd=a.root)
    assert res.returncode == 0, res.stderr
    res = run_gt("board", "items", cwd=a.root)
    assert res.returncode == 0 and "\x1b" not in res.stdout and "red" in res.stdout
    items = json.loads(run_gt("board", "items", "--json", cwd=a.root).stdout)
    assert [i["id"] for i in items] == [f"town-a.{bead}"] and items[0]["claim"] is None


def test_the_engines_carry_an_item_from_post_to_stamp_through_the_cli(fleet, run_gt):
    a, b = fleet("town-a"), fleet("town-b")
    configure(a, FAST)
    configure(b, FAST)
    bead = (
        BeadStore(a)
        .create(
            "Engine-carried",
            actor="test",
            prefix=load_rig(a, "proj").prefix,
            description=SH.format("echo engine > engine.txt"),
        )
        .id
    )
    res = run_gt("board", "post", bead, "--json", cwd=a.root)
    assert res.returncode == 0, res.stderr
    item = json.loads(res.stdout)["id"]
    res = run_gt("board", "claim", item, "--rig", "proj", "--json", cwd=b.root)
    assert res.returncode == 0, res.stderr
    local = json.loads(res.stdout)["bead"]
    engines = [EngineThread(a).start(), EngineThread(b).start()]
    try:
        assert run_gt("sling", local, "proj", "--agent", "sim", cwd=b.root).returncode == 0
        sa = BeadStore(a)
        wait_for(lambda: events.query(sa.db, types=("board_stamped",)), timeout=180, what="the stamp")
        wait_for(lambda: BeadStore(b).get(local).status == "closed", timeout=60, what="the claimer's bead closed")
    finally:
        for e in engines:
            e.stop()
    assert sa.get(bead).status == "closed"
    stamps = json.loads(run_gt("board", "stamps", "--json", cwd=b.root).stdout)
    assert [(s["item"], s["town"]) for s in stamps] == [(item, "town-b")]


def test_five_towns_race_for_each_of_five_items_and_one_wins_each(fleet):
    towns = [fleet(f"r{i}") for i in range(5)]
    for n in range(5):
        item = post(towns[n], title=f"race {n}")
        winners, refusals = race([t for t in towns if t is not towns[n]], item.id)
        assert (
            len(winners) == 1 and len(refusals) == 3 and all(f"already claimed by {winners[0]}" in r for r in refusals)
        )


def test_work_failing_the_claimers_own_gates_is_not_submitted_and_a_retry_stays_held_for_the_board(fleet, git_server):
    a, b = fleet("town-a"), fleet("town-b")
    with edit_toml(b.rig_dir("proj") / "rig.toml") as doc:
        doc["gates"]["check"] = {"cmd": ["sh", "-c", "test ! -e bad.txt"], "timeout": 60}
    item = post(a, description=SH.format("echo bad > bad.txt"))
    sb = BeadStore(b)
    _, _, bead = board_work.claim(b, sb, item.id, "proj", actor="test")
    mr = _work(b, bead, sb)
    before = git_server.refs("board")
    board_work.patrol(b, sb.db)
    failed = mq.get(sb.db, mr.id)
    assert failed.status == "failed" and "gates failed before submitting" in failed.reason
    assert git_server.refs("board") != "" and "refs/board/done/" not in git_server.refs("board")
    assert [ln for ln in before.splitlines() if "claims" not in ln] == [
        ln for ln in git_server.refs("board").splitlines() if "claims" not in ln
    ]  # only the claim may have been renewed
    assert mq.retry(sb.db, mr.id).status == "board"  # never this town's refinery
    assert Refinery(b, "proj").process_once().empty


@run_async
async def test_the_board_panel_shows_hostile_titles_as_plain_text_and_keeps_the_cursor():
    from textual.app import App, ComposeResult

    from widgets.board_items import BoardItems

    item = board.Item(id="town-a.pr-1", town="town-a", bead="pr-1", title="[bold]x[/] " + HOSTILE)
    other = board.Item(id="town-a.pr-2", town="town-a", bead="pr-2", title="second")
    claim = board_claims.Claim("town-a.pr-2", "town-b", 0.0, 0.0, 100.0)
    rows = [board_work.Row("main", item, None, None), board_work.Row("main", other, claim, None)]

    class Harness(App[None]):
        def compose(self) -> ComposeResult:
            yield BoardItems(id="items")

    app = Harness()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(BoardItems)
        table.update_from(rows, now=40.0)
        table.move_cursor(row=1)
        table.update_from(list(reversed(rows)), now=40.0)
        await pilot.pause()
        assert table.cursor_item == "main/town-a.pr-2"
        title = table.get_cell("main/town-a.pr-1", "title")
        assert title.plain.startswith("[bold]x[/] Fix") and "\x1b" not in title.plain and "\x07" not in title.plain
        assert str(table.get_cell("main/town-a.pr-2", "claim")) == "town-b 60s"


@run_async
async def test_the_cockpit_posts_claims_and_releases_from_the_keyboard(fleet, monkeypatch):
    """Town A's cockpit posts a ready bead with P; town B's boards view (B) shows it, claims it with c
    (for the rig of its repository) and gives it back with r."""
    from gastown_tui.app import CockpitApp
    from gastown_tui.screens.boards import BoardsScreen
    from tests.test_cockpit import SIZE, toasts, wait_until
    from widgets.beads import ReadyBeads
    from widgets.board_items import BoardItems

    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    a, b = fleet("town-a"), fleet("town-b")
    with BeadStore(a) as store:
        bead = store.create(HOSTILE, actor="test", prefix=load_rig(a, "proj").prefix).id

    def cockpit(town: Town) -> CockpitApp:
        return CockpitApp(town, poll_interval=0.1, snapshot_interval=0.3, start_engine=False, start_mayor=False)

    app = cockpit(a)
    async with app.run_test(size=SIZE) as pilot:
        table = app.main.query_one(ReadyBeads)
        await wait_until(pilot, lambda: table.row_count == 1, timeout=60, what="the ready bead")
        table.focus()
        await pilot.press("P")
        await wait_until(pilot, lambda: any(f"as town-a.{bead}" in t for t in toasts(app)), timeout=60, what="posted")
    key = f"main/town-a.{bead}"
    app = cockpit(b)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.main.is_ready, timeout=60)
        await pilot.press("B")
        await wait_until(pilot, lambda: isinstance(app.screen, BoardsScreen))
        items = app.screen.query_one(BoardItems)
        await wait_until(pilot, lambda: items.cursor_item == key, timeout=60, what="the item on B's board")
        assert "\x1b" not in str(items.get_cell(key, "title"))
        await pilot.press("c")
        await wait_until(pilot, lambda: str(items.get_cell(key, "claim")).startswith("town-b "), timeout=60)
        mirror = Mirror(b, board.get(connect(b.db_path), "main"))
        mirror.fetch()
        assert board_claims.read(mirror, f"town-a.{bead}").town == "town-b"
        await pilot.press("r")
        await wait_until(pilot, lambda: str(items.get_cell(key, "claim")) == "-", timeout=60, what="released")
        await pilot.press("escape")
        assert not isinstance(app.screen, BoardsScreen)
