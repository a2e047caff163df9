"""Claims on board items: compare-and-swap on git refs (issue 22).

A claim is the ref ``refs/board/claims/<item>`` on the board, pointing at a commit whose tree holds
``claim.json`` (:class:`Claim`: the claiming town, when it claimed, when it was last renewed and when
the claim expires, Unix seconds of the claimer's clock). Every change is one ``git push --atomic``
with ``--force-with-lease=REF:OLD`` (:meth:`core.board.Mirror.push`): git sends the old value with
the update and the board's ``receive-pack`` moves the ref only if it still holds it, under the ref's
lock, so of N towns racing only one wins, wherever they run.

- :func:`take` (``gt board claim``): create the ref when absent (expected old value "absent"), or
  take over an expired claim (expected old value: that claim's commit). The loser reads the winner
  and is told "already claimed by X".
- :func:`renew` (the engine's heartbeat): a new commit on the ref, its parent the old one, with a
  later ``expires_at``; CAS on the old value, so a claim taken over meanwhile is never overwritten
  (:class:`ClaimLost`).
- :func:`release` (``gt board release``): delete the ref, CAS on our commit.

The chain of claim commits is the claim's history (``git log refs/board/claims/<item>``). Clocks:
expiry compares the claimer's ``expires_at`` with the reader's clock, so towns sharing a board want
clocks that agree to well within ``[board] claim_ttl`` (NTP does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from core.board import Item, Mirror, claim_ref, item_ref
from core.errors import Conflict, GtError
from core.plaintext import one_line


class ClaimLost(Conflict):
    """This town no longer holds the claim (it expired and another town took it, or it was released)."""


@dataclass
class Claim:
    """One claim as stored in ``claim.json``: ``town`` holds ``item`` since ``claimed_at``, renewed at
    ``renewed_at``, until ``expires_at`` (Unix seconds). ``sha``: the claim ref's commit."""

    item: str
    town: str
    claimed_at: float
    renewed_at: float
    expires_at: float
    sha: str = ""

    def live(self, now: float | None = None) -> bool:
        """True while the claim has not expired."""
        return self.expires_at > (time.time() if now is None else now)

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "live": self.live()}

    def record(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "sha"}
        return {"format": 1, **out}


def read(mirror: Mirror, item: str, sha: str | None = None) -> Claim | None:
    """The claim on ``item`` in the mirror (as last fetched), or None when unclaimed. A malformed
    record counts as a claim by ``?`` that has expired (it can be taken over, never trusted)."""
    sha = sha or mirror.refs(claim_ref(item)).get(claim_ref(item))
    if sha is None:
        return None
    data = mirror.read_json(sha, "claim.json") or {}
    try:
        return Claim(
            item=item,
            town=one_line(str(data["town"]))[:40],
            claimed_at=float(data["claimed_at"]),
            renewed_at=float(data["renewed_at"]),
            expires_at=float(data["expires_at"]),
            sha=sha,
        )
    except (KeyError, TypeError, ValueError):
        return Claim(item, "?", 0.0, 0.0, 0.0, sha)


def claims(mirror: Mirror) -> dict[str, Claim]:
    """Every claim in the mirror, by item."""
    prefix = claim_ref("")
    out: dict[str, Claim] = {}
    for ref, sha in mirror.refs(prefix.rstrip("/")).items():
        item = ref[len(prefix) :]
        found = read(mirror, item, sha)
        if found is not None:
            out[item] = found
    return out


def _describe(c: Claim) -> str:
    left = c.expires_at - time.time()
    return f"{c.town} (expires in {left:.0f} s)" if left > 0 else f"{c.town} (expired)"


def _new(mirror: Mirror, item: str, ttl: float, parent: Claim | None, claimed_at: float | None = None) -> Claim:
    now = time.time()
    c = Claim(item, mirror.me, claimed_at if claimed_at is not None else now, now, now + ttl)
    verb = "renew" if claimed_at is not None else ("take over" if parent else "claim")
    c.sha = mirror.commit({"claim.json": c.record()}, f"{verb} {item} by {mirror.me}", (parent.sha,) if parent else ())
    return c


def ttl_of(mirror: Mirror) -> float:
    """The claim lifetime in seconds: ``[board] claim_ttl`` of this town (at least 1)."""
    return max(1.0, float(mirror.town.setting("board", "claim_ttl")))


def take(mirror: Mirror, item: str, fetch: bool = True) -> tuple[Item, Claim]:
    """Claim ``item`` for this town (see the module docstring). fetch: fetch the board first (a
    caller that just fetched passes False). Returns (item, our claim); claiming an item this town
    already holds renews it.

    Raises NotFound (no such item), GtError (closed item, or posted by this town), Conflict "already
    claimed by X" (a live claim of another town, or another town won the race), BoardError
    (unreachable board, refused push). The item is never held by two towns.
    """
    if fetch:
        mirror.fetch()
    wanted = mirror.item(item)
    if wanted.status != "open":
        raise GtError(f"{item} is {wanted.status} on board {mirror.board.name}: nothing to claim")
    if wanted.town == mirror.me:
        raise GtError(f"{item} was posted by this town ({mirror.me}): work its bead {wanted.bead} here instead")
    current = read(mirror, item)
    if current is not None and current.town == mirror.me and current.live():
        return wanted, renew(mirror, item)
    if current is not None and current.live():
        raise Conflict(f"{item} is already claimed by {_describe(current)}: pick another item ('gt board items')")
    ours = _new(mirror, item, ttl_of(mirror), current)
    # the item must still be the one we read (not closed meanwhile): lease it unchanged in the same push
    if mirror.push(
        [(claim_ref(item), ours.sha, current.sha if current else None), (item_ref(item), wanted.sha, wanted.sha)],
        f"claiming {item}",
    ):
        return wanted, ours
    mirror.fetch()
    winner = read(mirror, item)
    if winner is None or winner.town == mirror.me:
        raise Conflict(f"claiming {item} raced with a change on board {mirror.board.name}: try again")
    raise Conflict(f"{item} is already claimed by {_describe(winner)}: pick another item ('gt board items')")


def renew(mirror: Mirror, item: str) -> Claim:
    """Extend this town's claim on ``item`` by ``[board] claim_ttl`` from now (the heartbeat), CAS on
    the claim commit last seen (fetched again once when the mirror was stale).
    Raises ClaimLost when another town holds it or it is gone, BoardError for the board's faults."""
    for attempt in range(2):
        current = read(mirror, item)
        if current is None or current.town != mirror.me:
            raise ClaimLost(
                f"this town no longer holds {item}: "
                + (f"it is claimed by {_describe(current)}" if current else "the claim was released or expired away")
            )
        ours = _new(mirror, item, ttl_of(mirror), current, claimed_at=current.claimed_at)
        if mirror.push([(claim_ref(item), ours.sha, current.sha)], f"renewing the claim on {item}"):
            return ours
        if attempt == 0:
            mirror.fetch()
    raise ClaimLost(f"this town's claim on {item} changed on board {mirror.board.name} while renewing it")


def release(mirror: Mirror, item: str) -> Claim:
    """Give up this town's claim on ``item`` (``gt board release``): delete the claim ref, CAS on our
    commit. Returns the claim released. Raises ClaimLost when this town does not hold it."""
    mirror.fetch()
    current = read(mirror, item)
    if current is None or current.town != mirror.me:
        raise ClaimLost(
            f"this town does not hold {item}"
            + (f": it is claimed by {_describe(current)}" if current else ": it is not claimed")
        )
    if not mirror.push([(claim_ref(item), None, current.sha)], f"releasing {item}"):
        raise ClaimLost(f"the claim on {item} changed on board {mirror.board.name} meanwhile: see 'gt board items'")
    return current
