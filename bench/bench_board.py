"""Boards (issue 22): claims per second on a board served by ``git daemon`` on 127.0.0.1, and the time
from post to merge across two towns next to the same bead done inside one town.

Claims: five towns on one board; each trial posts a fresh item and four towns race for it (one thread
each, released together); every trial must have exactly one winner. The uncontended reference is one
town claiming items nobody else wants, in the same run.

Post to merge: the polecat's own work is the same commit in both cases and is made directly (no
agent), so the figures are the machinery's. Inside one town: queue the MR, one refinery batch,
merged. Across towns: post, claim and import, the same commit queued as held work, the claimer's
board patrol (push of the work, the completion record and a claim renewal), the owner's patrol
(fetch of the work, MR queued), one refinery batch, the owner's patrol again (item closed and stamped).
Neither rig has gates.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from pathlib import Path

from core import board, board_claims, board_work, git, mq
from core.beads import BeadStore
from core.config import edit_toml
from core.db import connect
from core.errors import Conflict
from core.refinery import Refinery
from core.rigs import add_rig, load_rig
from core.town import Town, install_town
from tests.git_server import GitServer

TRIALS = 30
SOLO = 30
MERGES = 3


def _town(root: Path, name: str, server: GitServer) -> Town:
    town, _ = install_town(root / name)
    with edit_toml(town.config_path) as doc:
        doc["board"]["claim_ttl"] = 300
    town.reload()
    add_rig(town, "proj", server.url("owner/proj"))
    board.add(connect(town.db_path), "main", server.url("board"))
    return town


def _mirror(town: Town) -> board.Mirror:
    return board.Mirror(town, board.get(connect(town.db_path), "main"))


def _post_raw(mirror: board.Mirror, n: int) -> str:
    item = board.Item(id=f"{mirror.me}.pr-b{n}", town=mirror.me, bead=f"pr-b{n}", title=f"bench {n}")
    assert mirror.push([(board.item_ref(item.id), mirror.commit({"item.json": item.record()}, "post"), None)], "post")
    return item.id


def _claims(towns: list[Town]) -> list[dict]:
    owner = _mirror(towns[0])
    racers = [_mirror(t) for t in towns[1:]]
    wins = 0
    started = time.perf_counter()
    for n in range(TRIALS):
        item = _post_raw(owner, n)
        barrier = threading.Barrier(len(racers))
        won: list[str] = []

        def go(m: board.Mirror, item: str = item, barrier: threading.Barrier = barrier, won: list[str] = won) -> None:
            barrier.wait()
            try:
                board_claims.take(m, item)
                won.append(m.me)
            except Conflict:
                pass

        threads = [threading.Thread(target=go, args=(m,)) for m in racers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, f"trial {n}: {won}"
        wins += 1
    raced = time.perf_counter() - started
    solo = racers[0]
    started = time.perf_counter()
    for n in range(SOLO):
        board_claims.take(solo, _post_raw(owner, 1000 + n))
    alone = time.perf_counter() - started
    return [
        {
            "benchmark": "board claims",
            "case": f"4 towns racing, {TRIALS} items (0 double claims)",
            "value": wins / raced,
            "unit": "claims/s",
            "baseline": SOLO / alone,
        },
        {
            "benchmark": "board claims",
            "case": "1 town, uncontended (reference)",
            "value": SOLO / alone,
            "unit": "claims/s",
        },
    ]


def _commit(rig_path: Path, base: str, name: str) -> str:
    """A commit on ``base`` adding file ``name``, in the bare repository (the polecat's work)."""
    blob = git.run_git(["hash-object", "-w", "--stdin"], cwd=rig_path, input=f"{name}\n").stdout.strip()
    listing = git.run_git(["ls-tree", base], cwd=rig_path).stdout + f"100644 blob {blob}\t{name}\n"
    tree = git.run_git(["mktree"], cwd=rig_path, input=listing).stdout.strip()
    return git.run_git(["commit-tree", tree, "-p", base, "-m", name], cwd=rig_path).stdout.strip()


def _inside(town: Town, n: int) -> float:
    store = BeadStore(town)
    rig = load_rig(town, "proj")
    bead = store.create(f"local {n}", actor="bench", prefix=rig.prefix).id
    started = time.perf_counter()
    base = git.rev_parse(rig.repo_path, "refs/heads/main")
    assert base
    head = _commit(rig.repo_path, base, f"local-{n}.txt")
    git.run_git(["update-ref", f"refs/heads/local/{n}", head], cwd=rig.repo_path)
    mq.submit(store.db, rig, bead, None, f"local/{n}", head, base)
    assert Refinery(town, rig).process_once().merged
    return time.perf_counter() - started


def _across(a: Town, b: Town, n: int) -> float:
    sa, sb = BeadStore(a), BeadStore(b)
    bead = sa.create(f"wanted {n}", actor="bench", prefix=load_rig(a, "proj").prefix).id
    started = time.perf_counter()
    item = board.post(a, sa, bead)
    _, _, local = board_work.claim(b, sb, item.id, "proj")
    rig = load_rig(b, "proj")
    subprocess.run(
        ["git", "fetch", "-q", rig.git_url, "+refs/heads/main:refs/heads/main"], cwd=rig.repo_path, check=True
    )
    base = git.rev_parse(rig.repo_path, "refs/heads/main")
    assert base
    head = _commit(rig.repo_path, base, f"fed-{n}.txt")
    git.run_git(["update-ref", f"refs/heads/fed/{n}", head], cwd=rig.repo_path)
    mq.submit(sb.db, rig, local, None, f"fed/{n}", head, base, status="board")
    board_work.patrol(b, sb.db)
    board_work.patrol(a, sa.db)
    assert Refinery(a, "proj").process_once().merged
    board_work.patrol(a, sa.db)
    elapsed = time.perf_counter() - started
    assert sa.get(bead).status == "closed"
    return elapsed


def _merges(a: Town, b: Town) -> list[dict]:
    inside = sorted(_inside(a, n) for n in range(MERGES))[MERGES // 2]
    across = sorted(_across(a, b, n) for n in range(MERGES))[MERGES // 2]
    return [
        {
            "benchmark": "board post to merge",
            "case": f"across two towns (median of {MERGES})",
            "value": across,
            "unit": "s",
            "baseline": inside,
        },
        {"benchmark": "board post to merge", "case": "inside one town (reference)", "value": inside, "unit": "s"},
    ]


def run() -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        root = Path(tmp)
        server = GitServer(root / "server" / "repos")
        server.start()
        try:
            server.create("owner/proj", {"README.md": "# proj\n"})
            subprocess.run(["git", "init", "-q", "--bare", str(server.path("board"))], check=True)
            towns = [_town(root, f"t{i}", server) for i in range(5)]
            for t in towns:
                with edit_toml(t.rig_dir("proj") / "rig.toml") as doc:
                    doc["merge_queue"]["strategy"] = "local"
            return _claims(towns) + _merges(towns[0], towns[1])
        finally:
            server.stop()
