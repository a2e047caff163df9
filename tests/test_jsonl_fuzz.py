"""A property test over the JSONL ledger loader (issue 15, item 10): whatever bytes a ledger holds,
an import either succeeds or raises one GtError line, never a traceback; a refused import leaves the
database exactly as it was; a successful one leaves beads whose export parses back.

Inputs mix well-formed records with hostile field values (extreme and malformed timestamps, huge and
non-finite numbers, deep nesting, lone surrogates, control characters, duplicate ids, cycles,
conflict markers) and raw or mutated bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.beads import BeadStore, jsonl
from core.errors import GtError

IDS = st.sampled_from(["hq-a1", "hq-b2", "hq-c3", "hq-a1.1", "bad id", "", "HQ-X", "hq-" + "z" * 80])
TIMESTAMPS = st.one_of(
    st.sampled_from(
        [
            "2026-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "1677-09-21T00:12:43Z",
            "2262-04-11T23:47:17Z",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "99999-01-01T00:00:00Z",
            "2026-01-01T00:00:00.1234567891Z",
            "2026-01-01T00:00:00+99:99",
            "",
        ]
    ),
    st.builds(
        lambda y, mo, d, z: f"{y:04d}-{mo:02d}-{d:02d}T12:00:00{z}",
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.sampled_from(["Z", "+23:59", "-23:59", ""]),
    ),
    st.text(max_size=12),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
DEPS = st.lists(
    st.fixed_dictionaries(
        {"depends_on_id": IDS},
        optional={
            "type": st.sampled_from(["blocks", "parent-child", "related", "waits-for", "", "x" * 40]),
            "created_at": VALUES,
        },
    ),
    max_size=3,
)
RECORDS = st.fixed_dictionaries(
    {"id": IDS, "title": st.one_of(st.text(min_size=1, max_size=20), VALUES)},
    optional={
        "status": st.sampled_from(["open", "closed", "hooked", "bogus"]),
        "priority": VALUES,
        "created_at": TIMESTAMPS,
        "updated_at": TIMESTAMPS,
        "defer_until": TIMESTAMPS,
        "closed_at": TIMESTAMPS,
        "dependencies": st.one_of(DEPS, VALUES),
        "labels": VALUES,
        "metadata": VALUES,
        "custom": VALUES,
        "comments": st.lists(st.fixed_dictionaries({"text": VALUES}, optional={"id": VALUES}), max_size=2),
        "ephemeral": VALUES,
        "description": VALUES,
    },
)


LINES = st.one_of(
    RECORDS.map(lambda r: json.dumps(r, allow_nan=True).encode()),
    st.binary(max_size=40),
    st.integers(1, 3000).map(lambda n: b'{"id":"hq-a1","title":"t","x":' + b"[" * n + b"]" * n + b"}"),
    st.integers(1, 3000).map(
        lambda n: b'{"id":"hq-a1","title":"t","metadata":' + b'{"a":' * n + b"1" + b"}" * n + b"}"
    ),
    st.sampled_from(
        [
            b"<<<<<<< HEAD",
            b"=======",
            b">>>>>>> theirs",
            b"||||||| base",
            b"NaN",
            b"1e999",
            b'{"id":"hq-a1","title":"half \\ud800 pair"}',
            b"\xff\xfe",
            b"\x00",
            b"   ",
            b"9" * 5000,
        ]
    ),
)
FILES = st.lists(LINES, max_size=6).map(lambda lines: b"\n".join(lines))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> BeadStore:
    s = BeadStore.open(Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.db")
    s.create("existing bead", actor="fuzz", id="hq-b2", deps=[])
    s.create("another", actor="fuzz", id="hq-c3", deps=["hq-b2"])
    yield s
    s.disconnect()


def _dump(store: BeadStore) -> list[str]:
    return list(store.db.conn.iterdump())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=FILES, merge=st.booleans())
def test_the_loader_answers_one_line_or_imports_what_exports_again(store: BeadStore, data: bytes, merge: bool) -> None:
    conn = store.db.conn
    conn.execute("BEGIN")
    try:
        before = _dump(store)
        try:
            result = jsonl.import_ledger(store, data, source="fuzz.jsonl", merge=merge)
        except GtError as exc:
            message = str(exc)
            assert message and "\n" not in message and len(message) < 1000
            assert _dump(store) == before
            return
        assert all("\n" not in w for w in result.warnings)
        exported = "".join(jsonl.snapshot_lines(store))
        again = jsonl.loads(exported, "exported")
        assert {i.id for i in again} >= set(result.created) | set(result.updated)
    finally:
        conn.execute("ROLLBACK")
