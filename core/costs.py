"""What the town's agents cost: tokens and US dollars per bead, convoy, rig, agent and day, and the
budget that pauses slinging when it is spent.

Tokens come from :mod:`core.usage` (each runtime's own records). Prices are US dollars per million
tokens by model, matched by exact name, else by the longest ``fnmatch`` pattern that matches: the
:data:`DEFAULT_PRICES` (list prices published by Anthropic and OpenAI, late 2025), overridden or
extended in ``town.toml``::

    [costs.prices."claude-sonnet-*"]
    input = 3.0          # USD per million input tokens (not cached)
    output = 15.0
    cache_read = 0.3
    cache_write = 3.75

A model without a price counts its tokens and reports its cost as unknown (``cost`` None).

The budget (``[budget] per_day``, ``per_convoy``, US dollars, 0 = none) is checked by every sling
(:func:`check_budget`, called by :class:`core.sling.Slinger`): once spent, a sling is refused with one
line and one high escalation is raised per day or convoy.

The engine re-reads the runtimes' records every :data:`SCAN_INTERVAL_S` seconds, so the cockpit shows
costs without reading them itself.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError, Conflict, GtError
from core.usage import TOKENS, scan

if TYPE_CHECKING:
    from core.beads.store import BeadStore
    from core.db import Database
    from core.town import Town

#: Seconds between two scans of the runtimes' records by the engine.
SCAN_INTERVAL_S = 15.0
#: What ``gt costs --by`` groups by.
GROUPS = ("bead", "convoy", "rig", "agent", "day", "model")


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens of each kind (see :data:`core.usage.TOKENS`)."""

    input: float
    output: float
    cache_read: float = 0.0
    cache_write: float = 0.0

    def cost(self, tokens: Mapping[str, int]) -> float:
        """US dollars for ``tokens`` (token kind -> count)."""
        return float(sum(getattr(self, kind) * tokens.get(kind, 0) for kind in TOKENS)) / 1_000_000


#: Built-in prices (USD per million tokens): Anthropic's and OpenAI's list prices, late 2025.
DEFAULT_PRICES: dict[str, Price] = {
    "claude-opus-*": Price(5.0, 25.0, 0.5, 6.25),
    "claude-opus-4-0*": Price(15.0, 75.0, 1.5, 18.75),
    "claude-opus-4-1*": Price(15.0, 75.0, 1.5, 18.75),
    "claude-opus-4-2025*": Price(15.0, 75.0, 1.5, 18.75),
    "claude-3-opus*": Price(15.0, 75.0, 1.5, 18.75),
    "claude-sonnet-*": Price(3.0, 15.0, 0.3, 3.75),
    "claude-3-5-sonnet*": Price(3.0, 15.0, 0.3, 3.75),
    "claude-3-7-sonnet*": Price(3.0, 15.0, 0.3, 3.75),
    "claude-haiku-*": Price(1.0, 5.0, 0.1, 1.25),
    "claude-3-5-haiku*": Price(0.8, 4.0, 0.08, 1.0),
    "gpt-5*": Price(1.25, 10.0, 0.125),
    "gpt-5-mini*": Price(0.25, 2.0, 0.025),
    "gpt-5-nano*": Price(0.05, 0.4, 0.005),
    "gpt-4.1*": Price(2.0, 8.0, 0.5),
    "o3*": Price(2.0, 8.0, 0.5),
    "o4-mini*": Price(1.1, 4.4, 0.275),
}


class BudgetReached(Conflict):
    """A sling refused because ``[budget] per_day`` or ``per_convoy`` is spent (a Conflict: the sling
    queue keeps the bead queued until the budget allows it)."""


def money(cost: float | None) -> str:
    """US dollars as ``gt costs`` and the cockpit show them: ``$1,234.56``; ``?`` when unknown."""
    return "?" if cost is None else f"${cost:,.2f}"


def prices(town: Town) -> dict[str, Price]:
    """The price table: :data:`DEFAULT_PRICES` with ``town.toml``'s ``[costs.prices]`` over it.
    Raises ConfigError naming the key and the fix for a price that is not a number >= 0."""
    table = dict(DEFAULT_PRICES)
    costs = town.config.get("costs") or {}
    given = costs.get("prices") if isinstance(costs, Mapping) else None
    if given is None:
        return table
    if not isinstance(given, Mapping):
        raise ConfigError(f"{town.config_path}: [costs] prices must be a table of models: see 'gt costs --help'")
    for model, entry in given.items():
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f'{town.config_path}: [costs.prices."{model}"] must be a table: input = 3.0, output = 15.0'
            )
        values: dict[str, float] = {}
        for kind in TOKENS:
            value = entry.get(kind, 0.0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(
                    f'{town.config_path}: [costs.prices."{model}"] {kind} must be US dollars per million tokens'
                    f" (a number >= 0), not {value!r}: set it to a number such as 3.0"
                )
            values[kind] = float(value)
        unknown = sorted(set(entry) - set(TOKENS))
        if unknown:
            raise ConfigError(
                f'{town.config_path}: [costs.prices."{model}"] has no setting {unknown[0]!r}: use {", ".join(TOKENS)}'
            )
        table[str(model)] = Price(**values)
    return table


def price_for(model: str, table: Mapping[str, Price]) -> Price | None:
    """The price of ``model``: its exact entry, else the longest matching pattern's, else None."""
    if model in table:
        return table[model]
    matches = [p for p in table if fnmatch.fnmatchcase(model, p)]
    return table[max(matches, key=len)] if matches else None


@dataclass
class CostRow:
    """One group of ``gt costs``: its key (a bead id, convoy id, rig, agent, UTC day ``YYYY-MM-DD`` or
    model; "" for usage outside any), tokens by kind, cost in US dollars (None when a model in it has
    no price: ``unpriced`` names them), and the number of sessions and responses counted."""

    key: str
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKENS, 0))
    cost: float | None = 0.0
    sessions: int = 0
    responses: int = 0
    unpriced: list[str] = field(default_factory=list)

    @property
    def total_tokens(self) -> int:
        """Every token of the group, all kinds."""
        return sum(self.tokens.values())

    def as_dict(self) -> dict[str, Any]:
        """The row as ``gt costs --json`` prints it."""
        return {
            "key": self.key,
            **self.tokens,
            "total_tokens": self.total_tokens,
            "cost_usd": None if self.cost is None else round(self.cost, 6),
            "sessions": self.sessions,
            "responses": self.responses,
            "unpriced_models": self.unpriced,
        }


def _day(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def _convoys_of(store: BeadStore, beads: Iterable[str]) -> dict[str, list[str]]:
    """bead -> the convoys tracking it (one read of the tracking edges)."""
    from core.convoys import convoys_tracking

    return {b: convoys_tracking(store, b) if b and store.exists(b) else [] for b in set(beads)}


def report(
    town: Town,
    store: BeadStore,
    by: str = "bead",
    since: float | None = None,
    *,
    refresh: bool = True,
    env: dict[str, str] | None = None,
) -> list[CostRow]:
    """Costs grouped ``by`` one of :data:`GROUPS`, counting usage at or after ``since`` (Unix seconds;
    None: all), most expensive first (unpriced groups by tokens after them). refresh: scan the
    runtimes' records first (:func:`core.usage.scan` with ``env``). A bead in two convoys counts in
    both. Raises GtError for an unknown group, ConfigError for a bad price table."""
    if by not in GROUPS:
        raise GtError(f"unknown cost grouping {by!r}: use one of {', '.join(GROUPS)}")
    db = store.db
    if refresh:
        scan(town, db, env)
    table = prices(town)
    sql = f"SELECT runtime, session, model, bead, rig, agent, at, {', '.join(TOKENS)} FROM usage"
    params: list[Any] = []
    if since is not None:
        sql += " WHERE at >= ?"
        params.append(since)
    rows = list(db.query(sql, params))
    convoys = _convoys_of(store, (r["bead"] for r in rows)) if by == "convoy" else {}
    groups: dict[str, CostRow] = {}
    seen: dict[str, set[tuple[str, str]]] = {}
    for r in rows:
        if by == "convoy":
            keys = convoys.get(r["bead"]) or [""]
        elif by == "day":
            keys = [_day(r["at"])]
        else:
            keys = [str(r[by] or "")]
        price = price_for(r["model"], table)
        for key in keys:
            g = groups.setdefault(key, CostRow(key))
            for kind in TOKENS:
                g.tokens[kind] += r[kind]
            g.responses += 1
            seen.setdefault(key, set()).add((r["runtime"], r["session"]))
            if price is None:
                if r["model"] not in g.unpriced:
                    g.unpriced.append(r["model"])
                g.cost = None
            elif g.cost is not None:
                g.cost += price.cost(r)
    for key, g in groups.items():
        g.sessions = len(seen[key])
    return sorted(groups.values(), key=lambda g: (g.cost is None, -(g.cost or 0.0), -g.total_tokens, g.key))


def cost_by(db: Database, table: Mapping[str, Price]) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """US dollars per agent and per bead, from what the last scan stored, in one query (no scan: cheap
    enough for the cockpit's read every second); None for a key with an unpriced model."""
    sums = ", ".join(f"SUM({kind}) AS {kind}" for kind in TOKENS)
    by_agent: dict[str, float | None] = {}
    by_bead: dict[str, float | None] = {}
    for r in db.query(f"SELECT agent, bead, model, {sums} FROM usage GROUP BY agent, bead, model"):
        price = price_for(r["model"], table)
        for out, key in ((by_agent, r["agent"]), (by_bead, r["bead"])):
            before = out.get(key, 0.0)
            out[key] = None if price is None or before is None else before + price.cost(r)
    return by_agent, by_bead


def check_budget(town: Town, store: BeadStore, beads: Iterable[str], *, actor: str) -> None:
    """Refuse a sling of ``beads`` once the budget is spent: ``[budget] per_day`` (US dollars since
    00:00 UTC) or ``per_convoy`` (of any convoy tracking one of the beads); 0 means no limit.

    Raises :class:`BudgetReached` (one line naming the budget, what was spent and the fix) and raises
    one high escalation per UTC day or convoy (remembered in the ledger config, so later refusals
    do not repeat it). Costs nothing when no budget is set."""
    per_day = float(town.setting("budget", "per_day"))
    per_convoy = float(town.setting("budget", "per_convoy"))
    if not per_day and not per_convoy:
        return
    scan(town, store.db)
    midnight = time.time() // 86400 * 86400
    if per_day:
        today = sum(r.cost or 0.0 for r in report(town, store, "day", midnight, refresh=False))
        if today >= per_day:
            _refuse(
                store,
                f"day:{_day(midnight)}",
                f"the town's budget for today is spent: ${today:.2f} of [budget] per_day ${per_day:.2f}",
                "raise per_day in town.toml, or wait until 00:00 UTC",
                None,
                actor,
            )
    if per_convoy:
        convoys = sorted({c for cs in _convoys_of(store, beads).values() for c in cs})
        if not convoys:
            return
        spent = {r.key: r.cost or 0.0 for r in report(town, store, "convoy", refresh=False)}
        for convoy in convoys:
            cost = spent.get(convoy, 0.0)
            if cost >= per_convoy:
                _refuse(
                    store,
                    f"convoy:{convoy}",
                    f"convoy {convoy} has spent its budget: ${cost:.2f} of [budget] per_convoy ${per_convoy:.2f}",
                    "raise per_convoy in town.toml",
                    convoy,
                    actor,
                )


def _refuse(store: BeadStore, scope: str, what: str, fix: str, about: str | None, actor: str) -> None:
    """Escalate ``what`` once per ``scope``, then raise :class:`BudgetReached`."""
    from core.escalation import escalate

    key = f"budget.escalated.{scope}"
    with store.transaction():
        if store.config_get(key) is None:
            escalate(store, f"{what}: slinging is paused ({fix})", "high", actor=actor, about=about)
            store.config_set(key, str(time.time()))
    raise BudgetReached(f"{what}: slinging is paused; {fix}")
