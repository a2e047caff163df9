"""Work on board items, and the engine's board loop (issue 22).

Claiming town (:func:`claim`): the item is claimed (:func:`core.board_claims.take`) and imported as a
local bead of one of this town's rigs (the rig must work on the item's repository), labelled
``board:<board>`` with ``external_ref`` ``board:<board>/<item>``; its polecats work it as any bead.
Its ``gt done`` holds the merge request as ``board`` (:mod:`core.done` asks :func:`core.board.held_for_board`),
so this town's refinery never merges it. The board loop then (:func:`submit`): runs the rig's gates
on the work in a scratch worktree, and pushes, as one atomic compare-and-swap, the work commit to
``refs/board/work/<item>/<town>``, the completion record (``completion.json``: branch, head, base,
commits, gate results, the claim commit) to ``refs/board/done/<item>/<town>``, and a renewal of our
claim, so a completion can only land while this town holds the claim. The MR becomes ``submitted``.

Posting town (:func:`_review`): a completion whose town holds the item's claim is fetched into the
rig's repository as branch ``board/<item>`` and queued as a normal MR of the posted bead (gated by
this town's refinery like any other); any other completion (a forged one, or a late one from a town
whose claim expired and was taken over) is refused with a ``board_completion_refused`` event and
never merged. When the MR merges, the item is closed and a stamp committed on ``refs/board/stamps``
(who, what, gates passed), in one atomic push. A completion that fails the owner's gates gets a
verdict on the item (``verdicts``: town, head, reason); the claim stays, and the claimer may submit
again.

The board loop (:func:`patrol`, every ``[board] poll_interval``) also renews this town's claims
(a third of ``[board] claim_ttl`` before expiry is too late: it renews once two thirds are left),
notices claims lost to another town (the local bead gets a note; its work is never submitted), and
closes the local bead of an item the owner closed. Board faults never raise out of the loop: each
is a ``board_unreachable`` event on the first failure of a run, and the next poll tries again.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core import board, board_claims, events, git, mq
from core.board import BoardError, BoardInfo, Item, Link, Mirror
from core.board_claims import Claim, ClaimLost
from core.db import Database, ensure_schema, register_schema, transaction
from core.errors import Conflict, GitError, GtError
from core.plaintext import one_line

if TYPE_CHECKING:
    from core.beads.store import BeadStore
    from core.rigs import Rig
    from core.town import Town

_DDL = """
CREATE TABLE IF NOT EXISTS board_seen (
    sha TEXT PRIMARY KEY,
    board TEXT NOT NULL,
    item TEXT NOT NULL,
    verdict TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS board_faults (
    board TEXT PRIMARY KEY,
    error TEXT NOT NULL,
    at REAL NOT NULL
)
"""
register_schema("board_work", _DDL)

ACTOR = "deacon"


def _ensure(db: Database) -> None:
    ensure_schema(db, _DDL)


def external_ref(board_name: str, item: str) -> str:
    """The ``external_ref`` of the local bead imported from ``item`` of ``board_name``."""
    return f"board:{board_name}/{item}"


def _same_repo(a: str, b: str) -> bool:
    def norm(u: str) -> str:
        return u.rstrip("/").removesuffix(".git").removeprefix("file://")

    return norm(a) == norm(b)


def rig_for(town: Town, item: Item) -> str:
    """The rig of this town that works ``item``: the one whose repository is the item's (the only rig
    when the item names none). Raises GtError when no rig, or more than one, fits."""
    from core.rigs import list_rigs

    rigs = list_rigs(town)
    fits = [r.name for r in rigs if not item.rig_url or _same_repo(item.rig_url, r.git_url)]
    if len(fits) == 1:
        return fits[0]
    if not fits:
        raise GtError(f"{item.id} is work on {item.rig_url}: add a rig of that repository ('gt rig add NAME URL')")
    raise GtError(f"{item.id} fits rigs {', '.join(fits)}: claim it with 'gt board claim {item.id} --rig NAME'")


# -- claiming -------------------------------------------------------------------------------------


def claim(
    town: Town, store: BeadStore, item: str, rig_name: str, board_name: str | None = None, actor: str = ""
) -> tuple[Item, Claim, str]:
    """``gt board claim ITEM --rig RIG``: claim ``item`` and import it as a bead of ``rig_name`` (see
    the module docstring). Returns (item, claim, local bead id); claiming again while holding it
    renews the claim and returns the same bead.

    Raises NotFound (board, item, rig), GtError (bad item id, closed item, our own item, a rig of
    another repository), Conflict "already claimed by X", BoardError (board faults). When the import
    fails after the claim, the claim is released again.
    """
    from core.rigs import load_rig

    board.check_item(item)
    db = store.db
    info = board.pick(db, board_name)
    rig = load_rig(town, rig_name)
    mirror = Mirror(town, info)
    mirror.fetch()
    wanted = mirror.item(item)
    if wanted.rig_url and not _same_repo(wanted.rig_url, rig.git_url):
        raise GtError(
            f"{item} is work on {wanted.rig_url}, but rig {rig.name} is {rig.git_url}: add a rig of that "
            f"repository ('gt rig add NAME {wanted.rig_url}') and claim with --rig NAME"
        )
    wanted, ours = board_claims.take(mirror, item, fetch=False)
    existing = board.link_of_bead_item(db, info.name, item)
    try:
        if existing is not None and store.exists(existing.bead) and store.get(existing.bead).status != "closed":
            bead = existing.bead
        else:
            bead = store.create(
                wanted.title,
                actor=actor or "gt",
                prefix=rig.prefix,
                description=wanted.description,
                acceptance_criteria=wanted.acceptance,
                labels=[*wanted.labels, f"board:{info.name}"],
                priority=wanted.priority if 0 <= wanted.priority <= 4 else 2,
                external_ref=external_ref(info.name, item),
            ).id
        with transaction(db):
            board.link(db, info.name, item, "claimed", bead, rig.name, "claimed")
            events.append(
                db,
                "board_claimed",
                actor,
                rig=rig.name,
                bead=bead,
                payload={"board": info.name, "item": item, "expires_at": ours.expires_at, "from": wanted.town},
            )
    except BaseException:
        try:
            board_claims.release(mirror, item)
        except GtError:
            pass  # it expires on its own
        raise
    return wanted, ours, bead


def release(town: Town, store: BeadStore, item: str, board_name: str | None = None, actor: str = "") -> Claim:
    """``gt board release ITEM``: give the claim back (:func:`core.board_claims.release`); the local
    bead keeps its work and gets a note; its work is no longer submitted. Returns the released claim.
    Raises ClaimLost (not ours), NotFound, BoardError."""
    board.check_item(item)
    db = store.db
    info = board.pick(db, board_name)
    released = board_claims.release(Mirror(town, info), item)
    found = board.link_of_bead_item(db, info.name, item)
    with transaction(db):
        if found is not None:
            board.set_link(db, info.name, item, "claimed", state="released", note="released by this town")
            if store.exists(found.bead):
                store.add_comment(found.bead, f"claim on board item {item} released: its work is not submitted", actor)
        events.append(db, "board_released", actor, payload={"board": info.name, "item": item})
    return released


# -- listing --------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of ``gt board items``: the item, its claim (None: unclaimed) and this town's link."""

    board: str
    item: Item
    claim: Claim | None
    link: Link | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "board": self.board,
            **{k: v for k, v in self.item.as_dict().items() if k != "description"},
            "claim": self.claim.as_dict() if self.claim else None,
            "mine": self.link.as_dict() if self.link else None,
        }


def rows(
    town: Town, db: Database, board_name: str | None = None, fetch: bool = True, everything: bool = False
) -> list[Row]:
    """The items of one board (or of every board), with claims and this town's links; open ones
    only unless ``everything``. fetch: fetch each board first (raises BoardError when it fails)."""
    infos = [board.get(db, board_name)] if board_name else board.boards(db)
    out: list[Row] = []
    for info in infos:
        mirror = Mirror(town, info)
        if fetch:
            mirror.fetch()
        held = board_claims.claims(mirror)
        mine = {(ln.item): ln for ln in board.links(db, info.name)}
        for item_id, item in sorted(mirror.items().items()):
            if item.status == "open" or everything:
                out.append(Row(info.name, item, held.get(item_id), mine.get(item_id)))
    return out


# -- the board loop -------------------------------------------------------------------------------


def patrol(town: Town, db: Database, actor: str = ACTOR) -> dict[str, str]:
    """One pass over every board (see the module docstring). Returns {board: error} for the boards
    that could not be worked this time (also recorded as ``board_unreachable`` events)."""
    _ensure(db)
    errors: dict[str, str] = {}
    for info in board.boards(db):
        try:
            mirror = Mirror(town, info)
            mirror.fetch()
            _claimed(town, db, mirror, actor)
            submit(town, db, mirror, actor)
            _review(town, db, mirror, actor)
        except (BoardError, GitError) as exc:
            errors[info.name] = str(exc)
            _fault(db, info, str(exc), actor)
            continue
        _fault(db, info, "", actor)
    return errors


def _fault(db: Database, info: BoardInfo, error: str, actor: str) -> None:
    """Record a board's fault (one event per run of the same error) or its recovery."""
    row = db.execute("SELECT error FROM board_faults WHERE board = ?", [info.name]).fetchone()
    before = row[0] if row else ""
    if before == error:
        return
    with transaction(db):
        db.execute(
            "INSERT INTO board_faults (board, error, at) VALUES (?, ?, ?) ON CONFLICT(board) DO UPDATE SET "
            "error = excluded.error, at = excluded.at",
            [info.name, error, time.time()],
        )
        if error:
            events.append(db, "board_unreachable", actor, payload={"board": info.name, "url": info.url, "error": error})


def _store(town: Town, db: Database) -> BeadStore:
    from core.beads.store import BeadStore

    return BeadStore(town, db=db)


def _claimed(town: Town, db: Database, mirror: Mirror, actor: str) -> None:
    """Heartbeats, lost claims, closed items and verdicts for the items this town claimed."""
    name = mirror.board.name
    items = mirror.items()
    store = _store(town, db)
    ttl = board_claims.ttl_of(mirror)
    for ln in board.links(db, name, "claimed"):
        if ln.state not in ("claimed", "submitted"):
            continue
        item = items.get(ln.item)
        if item is None or item.status == "closed":
            with transaction(db):
                board.set_link(
                    db, name, ln.item, "claimed", state="closed", note=f"closed by {item.town if item else '?'}"
                )
                if store.exists(ln.bead) and store.get(ln.bead).status != "closed":
                    how = (
                        f"merged by {item.town} at {item.merged}" if item and item.merged else "removed from the board"
                    )
                    store.close(ln.bead, actor, reason=f"board item {ln.item} {how}", force=True)
                events.append(
                    db,
                    "board_item_closed",
                    actor,
                    rig=ln.rig,
                    bead=ln.bead,
                    payload={"board": name, "item": ln.item, "by": item.by if item else None},
                )
            continue
        for verdict in item.verdicts:
            if verdict.get("done") == ln.done_sha and ln.state == "submitted" and verdict.get("town") == mirror.me:
                reason = one_line(str(verdict.get("reason", "")))[:300]
                with transaction(db):
                    board.set_link(
                        db, name, ln.item, "claimed", state="claimed", note=f"refused by {item.town}: {reason}"
                    )
                    if store.exists(ln.bead):
                        store.add_comment(ln.bead, f"{item.town} refused the completion of {ln.item}: {reason}", actor)
                    events.append(
                        db,
                        "board_completion_failed",
                        actor,
                        rig=ln.rig,
                        bead=ln.bead,
                        payload={"board": name, "item": ln.item, "reason": reason},
                    )
        current = board_claims.read(mirror, ln.item)
        try:
            if current is None or current.town != mirror.me:
                raise ClaimLost(f"claimed by {current.town}" if current else "the claim is gone")
            if current.expires_at - time.time() < ttl * 2 / 3:
                board_claims.renew(mirror, ln.item)
        except ClaimLost as exc:
            _lost(db, store, ln, str(exc), actor)


def _lost(db: Database, store: BeadStore, ln: Link, why: str, actor: str) -> None:
    with transaction(db):
        board.set_link(db, ln.board, ln.item, "claimed", state="lost", note=one_line(why))
        if store.exists(ln.bead):
            store.add_comment(
                ln.bead, f"claim on board item {ln.item} lost ({one_line(why)}): its work is not submitted", actor
            )
        events.append(
            db,
            "board_claim_lost",
            actor,
            rig=ln.rig,
            bead=ln.bead,
            payload={"board": ln.board, "item": ln.item, "why": one_line(why)},
        )


def _gates(town: Town, rig: Rig, head: str, label: str) -> list[dict[str, Any]]:
    """Run the rig's gates on commit ``head`` in a scratch worktree; the results as JSON records."""
    from core.gates import load_gates, run_gates

    config = load_gates(rig.config, str(rig.path / "rig.toml"))
    if not config.gates:
        return []
    path = town.state_dir / "board-gates" / rig.name
    if path.exists():
        git.run_git(["worktree", "remove", "--force", str(path)], cwd=rig.repo_path, check=False)
        shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    git.worktree_add_detached(rig.repo_path, path, head)
    try:
        run = run_gates(config, path, town.logs_dir, label)
    finally:
        git.run_git(["worktree", "remove", "--force", str(path)], cwd=rig.repo_path, check=False)
    return [{"gate": r.gate, "ok": r.ok, "summary": r.summary()} for r in run.results]


def submit(town: Town, db: Database, mirror: Mirror, actor: str = ACTOR) -> list[str]:
    """Hand this town's held (``board``) MRs of ``mirror``'s board to the board (see the module
    docstring). Returns the MR ids submitted. An MR whose claim is lost becomes ``rejected``, one
    whose gates fail here ``failed`` (its bead gets the gate summary); both keep the branch."""
    from core.rigs import load_rig

    store = _store(town, db)
    done: list[str] = []
    for m in mq.list_mrs(db, statuses=("board",), limit=10**6):
        ln = board.link_of_bead(db, m.bead or "")
        if ln is None or ln.board != mirror.board.name:
            continue
        if ln.state not in ("claimed", "submitted"):
            with transaction(db):
                mq.finish(db, m.id, "rejected", f"board item {ln.item} is {ln.state} here: its work is not submitted")
            continue
        current = board_claims.read(mirror, ln.item)
        if current is None or current.town != mirror.me:
            with transaction(db):
                mq.finish(db, m.id, "rejected", f"the claim on {ln.item} was lost: not submitted")
            _lost(db, store, ln, f"claimed by {current.town}" if current else "the claim is gone", actor)
            continue
        rig = load_rig(town, ln.rig)
        gates = _gates(town, rig, m.head_sha, f"board-{m.id}")
        if not all(g["ok"] for g in gates):
            failed = "; ".join(g["summary"] for g in gates if not g["ok"])
            with transaction(db):
                mq.finish(db, m.id, "failed", f"gates failed before submitting to the board: {failed}")
                if m.bead and store.exists(m.bead):
                    store.add_comment(m.bead, f"{m.id} not submitted to board item {ln.item}: {failed}", actor)
            continue
        if _push_completion(mirror, rig, ln, m, current, gates):
            with transaction(db):
                mq.finish(db, m.id, "submitted", f"submitted to board {ln.board} as {ln.item}")
                board.set_link(
                    db,
                    ln.board,
                    ln.item,
                    "claimed",
                    state="submitted",
                    mr=m.id,
                    done_sha=mirror.refs(board.done_ref(ln.item, mirror.me)).get(board.done_ref(ln.item, mirror.me)),
                )
                events.append(
                    db,
                    "board_submitted",
                    actor,
                    rig=rig.name,
                    bead=m.bead,
                    payload={"board": ln.board, "item": ln.item, "mr": m.id, "head": m.head_sha},
                )
            done.append(m.id)
        else:  # the claim moved under us: look again
            mirror.fetch()
            again = board_claims.read(mirror, ln.item)
            if again is None or again.town != mirror.me:
                with transaction(db):
                    mq.finish(db, m.id, "rejected", f"the claim on {ln.item} was lost: not submitted")
                _lost(db, store, ln, f"claimed by {again.town}" if again else "the claim is gone", actor)
    return done


def _push_completion(mirror: Mirror, rig: Rig, ln: Link, m: mq.MR, current: Claim, gates: list[dict[str, Any]]) -> bool:
    """The atomic push of the work, the completion record and a claim renewal (CAS on the claim)."""
    staging = f"refs/gastown/out/{ln.item}"
    git.run_git(
        ["push", "--quiet", "--force", str(mirror.path), f"{m.head_sha}:{staging}"], cwd=rig.repo_path, timeout=120
    )
    base = m.base_sha
    commits = []
    if base and git.commit_exists(rig.repo_path, base):
        commits = git.run_git(["rev-list", f"{base}..{m.head_sha}"], cwd=rig.repo_path).stdout.split()
    wref, dref = board.work_ref(ln.item, mirror.me), board.done_ref(ln.item, mirror.me)
    known = mirror.refs(f"{board.NAMESPACE}")
    record = {
        "format": 1,
        "item": ln.item,
        "town": mirror.me,
        "claim": current.sha,
        "branch": wref,
        "head": m.head_sha,
        "base": base,
        "commits": commits,
        "gates": gates,
        "submitted_at": time.time(),
    }
    prior = known.get(dref)
    done_sha = mirror.commit(
        {"completion.json": record}, f"complete {ln.item} by {mirror.me}", (prior,) if prior else ()
    )
    renewed = board_claims.Claim(
        ln.item, mirror.me, current.claimed_at, time.time(), time.time() + board_claims.ttl_of(mirror)
    )
    renewed.sha = mirror.commit(
        {"claim.json": renewed.record()}, f"renew {ln.item} by {mirror.me} (submitted)", (current.sha,)
    )
    ok = mirror.push(
        [
            (board.claim_ref(ln.item), renewed.sha, current.sha),
            (wref, m.head_sha, known.get(wref)),
            (dref, done_sha, prior),
        ],
        f"submitting {ln.item}",
    )
    mirror.git(["update-ref", "-d", staging], check=False)
    return ok


def _seen(db: Database, sha: str) -> bool:
    return db.execute("SELECT 1 FROM board_seen WHERE sha = ?", [sha]).fetchone() is not None


def _mark(db: Database, sha: str, board_name: str, item: str, verdict: str) -> None:
    db.execute(
        "INSERT OR REPLACE INTO board_seen (sha, board, item, verdict, at) VALUES (?, ?, ?, ?, ?)",
        [sha, board_name, item, verdict, time.time()],
    )


def judge(mirror: Mirror, item: Item, town: str, sha: str) -> tuple[dict[str, Any] | None, str]:
    """Whether the completion ``sha`` at ``refs/board/done/<item>/<town>`` may be merged: (record, "")
    when its town holds the item's claim and its work ref is the commit it names, else (record or
    None, why it is refused)."""
    record = mirror.read_json(sha, "completion.json")
    if record is None:
        return None, "the completion record is missing or not JSON"
    claimed = board_claims.read(mirror, item.id)
    if record.get("town") != town or record.get("item") != item.id:
        return (
            record,
            f"the record names {one_line(str(record.get('town')))[:40]}/{one_line(str(record.get('item')))[:80]}, not {town}/{item.id}",
        )
    if claimed is None:
        return record, f"{item.id} is not claimed"
    if claimed.town != town:
        return record, f"{item.id} is claimed by {claimed.town}, not {town}"
    head = record.get("head")
    if (
        not isinstance(head, str)
        or mirror.refs(board.work_ref(item.id, town)).get(board.work_ref(item.id, town)) != head
    ):
        return record, f"its work ref is not at the head it names ({one_line(str(head))[:40]})"
    return record, ""


def _review(town: Town, db: Database, mirror: Mirror, actor: str) -> None:
    """The posting town's side: completions in, merges out (close + stamp), refusals as verdicts."""
    from core.rigs import load_rig

    name = mirror.board.name
    items = mirror.items()
    refs = mirror.refs(f"{board.NAMESPACE}/done")
    for ln in board.links(db, name, "posted"):
        item = items.get(ln.item)
        if item is None or ln.state == "closed":
            continue
        if ln.state == "merging" and ln.mr:
            m = mq.get(db, ln.mr)
            if m.status == "merged":
                _close(db, mirror, item, ln, m, actor)
            elif m.status in ("failed", "conflict", "rejected"):
                _verdict(db, mirror, item, ln, m.reason or m.status, actor)
            continue
        prefix = f"{board.NAMESPACE}/done/{ln.item}/"
        for ref, sha in sorted(refs.items()):
            if not ref.startswith(prefix) or _seen(db, sha):
                continue
            claimer = ref[len(prefix) :]
            record, why = judge(mirror, item, claimer, sha)
            if why:
                with transaction(db):
                    _mark(db, sha, name, ln.item, f"refused: {why}")
                    events.append(
                        db,
                        "board_completion_refused",
                        actor,
                        rig=ln.rig,
                        bead=ln.bead,
                        payload={"board": name, "item": ln.item, "town": claimer, "why": why},
                    )
                continue
            assert record is not None
            rig = load_rig(town, ln.rig)
            branch = f"board/{ln.item}"
            proc = git.run_git(
                [
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--",
                    mirror.board.url,
                    f"+{board.work_ref(ln.item, claimer)}:refs/heads/{branch}",
                ],
                cwd=rig.repo_path,
                check=False,
                timeout=mirror.timeout,
            )
            if proc.returncode != 0 or git.rev_parse(rig.repo_path, f"refs/heads/{branch}") != record["head"]:
                from core.remote import remote_message

                raise BoardError(f"cannot fetch the work of {ln.item} from board {name}: {remote_message(proc)}")
            base = record.get("base") if isinstance(record.get("base"), str) else None
            with transaction(db):
                mr = mq.submit(
                    db,
                    rig,
                    ln.bead,
                    None,
                    branch,
                    str(record["head"]),
                    base if base and len(base) == 40 else None,
                    priority=item.priority if 0 <= item.priority <= 4 else 2,
                    actor=actor,
                )
                _mark(db, sha, name, ln.item, f"accepted as {mr.id}")
                board.set_link(
                    db, name, ln.item, "posted", state="merging", mr=mr.id, done_sha=sha, note=f"work of {claimer}"
                )
                events.append(
                    db,
                    "board_completion_accepted",
                    actor,
                    rig=ln.rig,
                    bead=ln.bead,
                    payload={"board": name, "item": ln.item, "town": claimer, "mr": mr.id},
                )
            break


def _claimer(ln: Link) -> str:
    return ln.note.removeprefix("work of ") if ln.note.startswith("work of ") else "?"


def _close(db: Database, mirror: Mirror, item: Item, ln: Link, m: mq.MR, actor: str) -> None:
    """Close the item and stamp the claimer's work, one atomic push (retried on a lost race)."""
    who = _claimer(ln)
    record = mirror.read_json(ln.done_sha, "completion.json") if ln.done_sha else None
    gates = (record or {}).get("gates", [])
    for _attempt in range(5):
        closed = Item(**{**item.as_dict(), "status": "closed", "merged": m.merge_sha, "by": who})
        item_sha = mirror.commit({"item.json": closed.record()}, f"close {item.id}: merged {m.merge_sha}", (item.sha,))
        stamps = mirror.refs(board.STAMPS_REF).get(board.STAMPS_REF)
        stamp = {
            "format": 1,
            "item": item.id,
            "title": item.title,
            "town": who,
            "owner": mirror.me,
            "merged": m.merge_sha,
            "head": m.head_sha,
            "claimer_gates": gates,
            "owner_gates": f"passed in the {m.rig} refinery ({m.gate_runs} runs)",
            "at": time.time(),
        }
        tree = mirror.git(["rev-parse", f"{stamps}^{{tree}}"]).stdout.strip() if stamps else None
        stamp_sha = mirror.commit(
            {f"{item.id}.json": stamp}, f"stamp {who} for {item.id}", (stamps,) if stamps else (), tree
        )
        if mirror.push(
            [(board.item_ref(item.id), item_sha, item.sha), (board.STAMPS_REF, stamp_sha, stamps)], f"closing {item.id}"
        ):
            with transaction(db):
                board.set_link(db, ln.board, ln.item, "posted", state="closed")
                events.append(
                    db,
                    "board_stamped",
                    actor,
                    rig=ln.rig,
                    bead=ln.bead,
                    payload={"board": ln.board, "item": item.id, "town": who, "merged": m.merge_sha},
                )
            return
        mirror.fetch()
        fresh = mirror.items().get(item.id)
        if fresh is None:
            return
        item = fresh
    raise Conflict(f"closing {item.id} on board {ln.board} kept racing with other pushes: the next poll tries again")


def _verdict(db: Database, mirror: Mirror, item: Item, ln: Link, reason: str, actor: str) -> None:
    """Tell the claimer its completion failed here (a verdict on the item); the item stays open."""
    who = _claimer(ln)
    verdict = {"town": who, "done": ln.done_sha, "reason": one_line(reason)[:300], "at": time.time()}
    for _attempt in range(5):
        updated = Item(**{**item.as_dict(), "verdicts": [*item.verdicts, verdict]})
        sha = mirror.commit({"item.json": updated.record()}, f"refuse {item.id} from {who}", (item.sha,))
        if mirror.push([(board.item_ref(item.id), sha, item.sha)], f"refusing the completion of {item.id}"):
            with transaction(db):
                board.set_link(
                    db, ln.board, ln.item, "posted", state="open", mr=None, note=f"refused {who}: {verdict['reason']}"
                )
                events.append(
                    db,
                    "board_completion_failed",
                    actor,
                    rig=ln.rig,
                    bead=ln.bead,
                    payload={"board": ln.board, "item": item.id, "town": who, "reason": verdict["reason"]},
                )
            return
        mirror.fetch()
        fresh = mirror.items().get(item.id)
        if fresh is None:
            return
        item = fresh


def stamps(mirror: Mirror) -> list[dict[str, Any]]:
    """Every stamp on the board (as last fetched), oldest first."""
    tip = mirror.refs(board.STAMPS_REF).get(board.STAMPS_REF)
    if tip is None:
        return []
    out = []
    for line in mirror.git(["ls-tree", tip]).stdout.splitlines():
        name = line.partition("\t")[2]
        data = mirror.read_json(tip, name)
        if data is not None:
            out.append(data)
    return sorted(out, key=lambda s: float(s.get("at", 0)) if isinstance(s.get("at"), (int, float)) else 0.0)


def faults(db: Database) -> dict[str, str]:
    """The last error of each board that failed its last poll."""
    try:
        return {r[0]: r[1] for r in db.execute("SELECT board, error FROM board_faults WHERE error != ''").fetchall()}
    except sqlite3.OperationalError:
        return {}
