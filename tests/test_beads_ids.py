"""Bead ids: beads' hash-id algorithm, lengths, collisions, children and id validation."""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.beads import ids
from core.beads.model import format_ts, parse_ts
from core.errors import Conflict, GtError

VECTOR_NS = int(datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()) * 10**9 + 6_000_000


def test_upstream_test_vector() -> None:
    """beads internal/idgen/hash_test.go: prefix bd, 'Fix login', 'Details', jira-import, 2024-01-02T03:04:05.006Z."""
    got = [ids.bead_id("bd", "Fix login", "Details", "jira-import", VECTOR_NS, length) for length in range(3, 9)]
    assert got == ["bd-vju", "bd-8d8e", "bd-bi3tk", "bd-8bi3tk", "bd-r5sr6bm", "bd-8r5sr6bm"]
    assert parse_ts("2024-01-02T03:04:05.006Z") == VECTOR_NS


@given(st.binary(max_size=300))
def test_the_built_in_sha256_gives_hashlib_s_digest(data: bytes) -> None:
    """Ids are minted with CPython's own SHA-256 (no OpenSSL import): the same digest as hashlib's."""
    assert ids._sha256(data) == hashlib.sha256(data).digest()


def test_nonce_changes_the_id_and_bad_length_is_refused() -> None:
    assert ids.bead_id("bd", "Fix login", "Details", "jira-import", VECTOR_NS, 4, nonce=1) != "bd-8d8e"
    with pytest.raises(ValueError):
        ids.bead_id("bd", "t", "", "a", 0, 9)


@pytest.mark.parametrize(
    "existing, length", [(0, 3), (163, 3), (164, 4), (1000, 5), (6000, 6), (40_000, 7), (10**9, 8)]
)
def test_length_grows_with_the_birthday_bound(existing: int, length: int) -> None:
    assert ids.id_length(existing) == length
    if length < 8:
        assert 1 - math.exp(-(existing**2) / (2 * 36.0**length)) <= 0.25
    if length > 3:
        assert 1 - math.exp(-(existing**2) / (2 * 36.0 ** (length - 1))) > 0.25


def test_collisions_try_nonces_then_a_longer_id() -> None:
    first = ids.bead_id("bd", "t", "d", "a", 7, 3)
    taken = {first}
    assert ids.new_id("bd", "t", "d", "a", 7, 0, taken.__contains__) == ids.bead_id("bd", "t", "d", "a", 7, 3, 1)
    taken = {ids.bead_id("bd", "t", "d", "a", 7, 3, n) for n in range(10)}
    assert ids.new_id("bd", "t", "d", "a", 7, 0, taken.__contains__) == ids.bead_id("bd", "t", "d", "a", 7, 4, 0)
    with pytest.raises(Conflict):
        ids.new_id("bd", "t", "d", "a", 7, 0, lambda _: True)


def test_children_and_depth() -> None:
    assert ids.child_id("mp-a3f8", 2) == "mp-a3f8.2"
    assert ids.depth("mp-a3f8") == 0 and ids.depth("mp-a3f8.1.2") == 2


@pytest.mark.parametrize("good", ["mp-a3f8", "mp-a3f8.1.12", "hq-cv-x1y2", "bd-beads-polecat-DoltTest", "bd-main-idj"])
def test_valid_ids(good: str) -> None:
    assert ids.check_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", "mp", "mp-", "-a3f8", "mp-a3f8/../x", "mp a3f8", "mp-a3f8.x", "mp-a;rm", "x" * 201]
)
def test_invalid_ids_are_refused(bad: str) -> None:
    with pytest.raises(GtError):
        ids.check_id(bad)


@given(st.binary(min_size=2, max_size=5), st.integers(3, 8))
def test_base36_is_fixed_width_lowercase(data: bytes, length: int) -> None:
    text = ids.base36(data, length)
    assert len(text) == length and set(text) <= set(ids.ALPHABET)


@given(st.integers(0, 4102444800 * 10**9))
def test_timestamps_round_trip_at_nanosecond_precision(ns: int) -> None:
    assert parse_ts(format_ts(ns)) == ns


def test_timestamp_offsets_and_garbage() -> None:
    assert parse_ts("2026-01-12T03:14:20+01:00") == parse_ts("2026-01-12T02:14:20Z")
    for bad in ("yesterday", "2026-13-01", "", "2026-01-12T02:14:20.1234567891Z"):
        with pytest.raises(ValueError):
            parse_ts(bad)
