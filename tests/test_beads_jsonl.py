"""The classic beads JSONL ledger against real beads exports (vendored in tests/fixtures/beads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.beads import BeadStore, jsonl
from core.errors import GtError
from tests.conftest import FIXTURES as VENDORED, dump

FIXTURES = VENDORED / "beads"
SQLITE_ERA = FIXTURES / "sqlite-era-2026-01" / "issues.jsonl"
DOLT_ERA = FIXTURES / "dolt-era-2026-02" / "issues.jsonl"
HEAD = FIXTURES / "head" / "root-issues.jsonl"


def records(path: Path) -> dict[str, dict]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            out[obj["id"]] = obj
    return out


@pytest.fixture
def store(tmp_path: Path):
    s = BeadStore.open(tmp_path / "a.db")
    yield s
    s.disconnect()


def test_sqlite_era_export_is_byte_identical(store: BeadStore, tmp_path: Path) -> None:
    assert jsonl.import_file(store, SQLITE_ERA) == 485
    out = tmp_path / "out.jsonl"
    assert jsonl.export(store, out, include_all=True) == 485
    assert out.read_bytes() == SQLITE_ERA.read_bytes()


@pytest.mark.parametrize("fixture, count", [(SQLITE_ERA, 485), (DOLT_ERA, 704), (HEAD, 1)])
def test_round_trip_field_for_field(fixture: Path, count: int, tmp_path: Path) -> None:
    first = BeadStore.open(tmp_path / "first.db")
    assert jsonl.import_file(first, fixture) == count
    exported = tmp_path / "first.jsonl"
    jsonl.export(first, exported, include_all=True)
    original, written = records(fixture), records(exported)
    assert list(written) == sorted(written), "export is sorted by id"
    assert written.keys() == original.keys()
    for bead, obj in original.items():
        assert written[bead] == obj, bead
    second = BeadStore.open(tmp_path / "second.db")
    jsonl.import_file(second, exported)
    assert [i.as_dict() for i in second.iter_all()] == [i.as_dict() for i in first.iter_all()]
    first.disconnect()
    second.disconnect()


def test_fixture_fields_land_in_their_columns(store: BeadStore) -> None:
    jsonl.import_file(store, SQLITE_ERA)
    jsonl.import_file(store, DOLT_ERA)
    issue = store.get("bd-03z45")
    assert issue.status == "closed" and issue.assignee == "beads/crew/giles"
    assert issue.comments[0].id == 1 and issue.comments[0].author == "beads/crew/giles"
    assert issue.extra == {"work_type": "mutex"}
    dolt = records(DOLT_ERA)
    with_parent = next(b for b, o in dolt.items() if o.get("parent") and o["status"] != "closed")
    assert store.get(with_parent).parent == dolt[with_parent]["parent"]
    ephemeral = next(b for b, o in dolt.items() if o.get("ephemeral"))
    assert store.get(ephemeral).ephemeral


def test_unknown_fields_survive_import_mutation_and_export(store: BeadStore, tmp_path: Path) -> None:
    line = {
        "id": "zz-a1",
        "title": "future bead",
        "status": "open",
        "priority": 2,
        "issue_type": "task",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "quality_score": 0.5,
        "hop": {"crystallizes": [1, 2], "rig": "x"},
        "estimated_minutes": 30,
        "dependencies": [
            {
                "issue_id": "zz-a1",
                "depends_on_id": "zz-gone",
                "type": "tracks",
                "created_at": "2026-01-01T00:00:00Z",
                "created_by": "x",
                "metadata": "{}",
            }
        ],
        "comments": [
            {
                "id": 7,
                "issue_id": "zz-a1",
                "author": "x",
                "text": "hi",
                "created_at": "2026-01-01T00:00:00Z",
                "reactions": ["+1"],
            }
        ],
    }
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(line) + "\n")
    jsonl.import_file(store, src)
    store.update("zz-a1", "me", title="renamed")
    store.add_comment("zz-a1", "second", "me")
    out = tmp_path / "out.jsonl"
    jsonl.export(store, out)
    back = records(out)["zz-a1"]
    assert back["quality_score"] == 0.5 and back["hop"] == line["hop"] and back["estimated_minutes"] == 30
    assert back["dependencies"] == line["dependencies"]
    assert back["comments"][0] == line["comments"][0]
    assert back["comments"][1]["id"] == 8 and back["title"] == "renamed"


def test_import_upserts_by_id(store: BeadStore, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    base = {
        "id": "zz-b1",
        "title": "v1",
        "status": "open",
        "priority": 2,
        "issue_type": "task",
        "created_at": "2026-01-01T00:00:00Z",
        "updated_at": "2026-01-01T00:00:00Z",
        "labels": ["a", "b"],
    }
    src.write_text(json.dumps(base) + "\n")
    jsonl.import_file(store, src)
    src.write_text(
        json.dumps({**base, "title": "v2", "labels": ["c"], "status": "closed", "closed_at": "2026-01-02T00:00:00Z"})
        + "\n"
    )
    jsonl.import_file(store, src)
    issue = store.get("zz-b1")
    assert (issue.title, issue.labels, issue.status) == ("v2", ["c"], "closed")
    assert len(store.list()) == 1


@pytest.mark.parametrize(
    "bad_line, problem",
    [
        ('{"id": "zz-c3", "title": "x"', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"title": "no id"}', "missing 'id'"),
        ('{"id": "../../etc", "title": "x"}', "invalid bead id"),
        ('{"id": "zz-c3", "title": "x", "priority": 7}', "priority 7"),
        ('{"id": "zz-c3", "title": "x", "status": "done"}', "unknown status"),
        ('{"id": "zz-c3", "title": "' + "t" * 501 + '"}', "title must be"),
        ('{"id": "zz-c3", "title": "x", "created_at": "last tuesday"}', "not an RFC 3339"),
        ('{"id": "zz-c3", "title": "x", "metadata": "{oops"}', "metadata is not valid JSON"),
        ('{"id": "zz-c3", "title": "x", "labels": "a,b"}', "labels must be"),
        ('{"id": "zz-c3", "title": "x", "dependencies": [{"type": "blocks"}]}', "depends_on_id"),
    ],
)
def test_a_malformed_line_imports_nothing(store: BeadStore, tmp_path: Path, bad_line: str, problem: str) -> None:
    jsonl.import_file(store, HEAD)
    before = dump(tmp_path / "a.db")
    good = '{"id": "zz-c1", "title": "fine"}\n{"id": "zz-c2", "title": "also fine"}\n'
    src = tmp_path / "bad.jsonl"
    src.write_text(good + bad_line + "\n")
    with pytest.raises(GtError) as err:
        jsonl.import_file(store, src)
    assert "line 3" in str(err.value) and problem in str(err.value) and "nothing was imported" in str(err.value)
    assert "\n" not in str(err.value)
    assert dump(tmp_path / "a.db") == before


def test_missing_and_non_utf8_files(store: BeadStore, tmp_path: Path) -> None:
    with pytest.raises(GtError, match="cannot read"):
        jsonl.import_file(store, tmp_path / "nope.jsonl")
    (tmp_path / "latin1.jsonl").write_bytes(b'{"id": "zz-d1", "title": "caf\xe9"}\n')
    with pytest.raises(GtError, match="not UTF-8"):
        jsonl.import_file(store, tmp_path / "latin1.jsonl")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.one_of(
            st.text(max_size=40),
            st.dictionaries(
                st.sampled_from(
                    ["id", "title", "priority", "status", "labels", "dependencies", "comments", "ephemeral"]
                ),
                st.one_of(
                    st.none(),
                    st.integers(-3, 9),
                    st.text(max_size=8),
                    st.booleans(),
                    st.lists(st.text(max_size=4), max_size=2),
                ),
            ).map(json.dumps),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_arbitrary_lines_import_all_or_nothing(tmp_path_factory: pytest.TempPathFactory, lines: list[str]) -> None:
    """Whatever the lines hold, the import either takes every issue or fails with a GtError and
    leaves the database as it was."""
    d = tmp_path_factory.mktemp("prop")
    with BeadStore.open(d / "p.db") as store:
        before = dump(d / "p.db")
        text = "\n".join(lines)
        try:
            n = jsonl.import_text(store, text, source="prop")
        except GtError as exc:
            assert "line" in str(exc)
            assert dump(d / "p.db") == before
        else:
            assert len(store.list()) == len({json.loads(x)["id"] for x in lines if x.strip()}) <= n


def _python_ready(recs: dict[str, dict]) -> set[str]:
    """The ready rules written again, independently, over the raw JSONL records."""
    status = {b: o.get("status", "open") for b, o in recs.items()}
    deps = {
        b: [(d["depends_on_id"], d.get("type", "blocks")) for d in o.get("dependencies") or []] for b, o in recs.items()
    }
    kids: dict[str, list[str]] = {}
    for b, ds in deps.items():
        for t, kind in ds:
            if kind == "parent-child":
                kids.setdefault(t, []).append(b)

    def direct(b: str) -> bool:
        for t, kind in deps[b]:
            if kind in ("blocks", "conditional-blocks") and t in status and status[t] != "closed":
                return True
            if kind == "waits-for" and any(status[k] != "closed" for k in kids.get(t, [])):
                return True
        return False

    def blocked(b: str, seen: frozenset = frozenset()) -> bool:
        if status[b] in ("closed", "pinned") or b in seen:
            return False
        if direct(b):
            return True
        return any(blocked(t, seen | {b}) for t, kind in deps[b] if kind == "parent-child" and t in status)

    plumbing = {"message", "merge-request", "gate", "molecule", "convoy", "agent", "rig", "role", "event", "slot"}
    return {
        b
        for b, o in recs.items()
        if status[b] == "open"
        and not blocked(b)
        and not o.get("ephemeral")
        and not o.get("wisp")
        and not o.get("is_template")
        and not o.get("pinned")
        and o.get("issue_type", "task") not in plumbing
        and not o.get("defer_until")
    }


@pytest.mark.parametrize("fixture", [SQLITE_ERA, DOLT_ERA])
def test_ready_matches_an_independent_reading_of_the_rules(store: BeadStore, fixture: Path) -> None:
    jsonl.import_file(store, fixture)
    expected = _python_ready(records(fixture))
    got = [i.id for i in store.ready()]
    assert set(got) == expected and len(got) == len(expected)
    prios = [store.get(b).priority for b in got]
    assert prios == sorted(prios)
