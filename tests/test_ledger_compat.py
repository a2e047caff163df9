"""Every era of beads' own ledger files imports, and exports back field for field (issue 18, part 1).

Fixtures: tests/fixtures/beads/compat (lines taken unmodified from the beads and gastown repositories'
own ledgers, or written in bd's shape where no real line exists; see tests/fixtures/beads/SOURCE.md).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from core.beads import BeadStore, backup, imports, jsonl
from core.errors import GtError
from core.plaintext import strip_controls
from tests.conftest import FIXTURES

COMPAT = FIXTURES / "beads" / "compat"
OFF = {"GT_LEDGER_SYNC": "off"}


def objects(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


@pytest.fixture
def store(tmp_path: Path):
    s = BeadStore.open(tmp_path / "a.db")
    yield s
    s.disconnect()


def _without_tombstones(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records an export gives back: tombstones dropped, and empty fields (``""``, null), which bd
    never writes (Go ``omitempty``; the empty-label fixture has ``"description":""``), left out; a
    missing priority is 0, as ``bd import`` reads it (older bd wrote priority with omitempty)."""
    return [
        {**({"priority": 0} if "id" in o else {}), **{k: v for k, v in o.items() if v not in ("", None)}}
        for o in objs
        if o.get("status") != "tombstone"
    ]


ROUND_TRIP = [
    "tombstone.jsonl",
    "wisp.jsonl",
    "proto-step.jsonl",
    "empty-label.jsonl",
    "schema-header.jsonl",
    "memory.jsonl",
    "uuid-comment.jsonl",
    "not-ready.jsonl",
    "custom-status/issues.jsonl",
    "no-priority.jsonl",
    "dependency-order.jsonl",
]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_fixture_imports_and_round_trips_field_for_field(store: BeadStore, tmp_path: Path, name: str) -> None:
    src = COMPAT / name
    result = imports.import_path(store, src)
    original = _without_tombstones(objects(src))
    assert result.count == sum(1 for o in original if "_schema" not in o and o.get("_type", "issue") == "issue")
    out = tmp_path / "out.jsonl"
    jsonl.export(store, out, include_all=True)
    written = objects(out)
    key = lambda o: json.dumps(o, sort_keys=True)  # noqa: E731
    assert sorted(map(key, written)) == sorted(map(key, original))
    by_id = {o["id"]: o for o in written if "id" in o}
    for obj in original:
        if "id" in obj:
            assert by_id[obj["id"]].keys() == obj.keys(), obj["id"]
            for field, value in obj.items():
                assert by_id[obj["id"]][field] == value, (obj["id"], field)
    bead_ids = [o["id"] for o in written if "id" in o]
    assert bead_ids == sorted(bead_ids), "the classic JSONL stays sorted by id"


def test_missing_priority_is_p0_and_dependencies_keep_their_order(store: BeadStore) -> None:
    imports.import_path(store, COMPAT / "no-priority.jsonl")
    imports.import_path(store, COMPAT / "dependency-order.jsonl")
    assert store.get("bd-f2f").priority == 0
    assert store.get("bd-0dcea000").depends_on() == ["bd-cbed9619.5", "bd-cbed9619.4"], "file order, as bd wrote it"


def test_tombstones_are_skipped_and_reported(store: BeadStore, run_gt, town, tmp_path: Path) -> None:
    result = imports.import_path(store, COMPAT / "tombstone.jsonl")
    assert result.tombstones == ["bd-118d"] and result.created == ["bd-0zp7"]
    assert not store.exists("bd-118d")
    proc = run_gt("bead", "import", str(COMPAT / "tombstone.jsonl"), cwd=town.root, env=OFF)
    assert proc.returncode == 0, proc.stderr
    assert "Imported 1 beads" in proc.stdout and "skipped 1 tombstone" in proc.stdout
    data = json.loads(
        run_gt("bead", "import", str(COMPAT / "tombstone.jsonl"), "--json", cwd=town.root, env=OFF).stdout
    )
    assert data["tombstones_skipped"] == 1 and data["imported"] == 1


def test_string_comment_ids_stay_strings(store: BeadStore) -> None:
    imports.import_path(store, COMPAT / "uuid-comment.jsonl")
    ids = [c.id for c in store.get("bd-u7c1").comments]
    assert ids == ["01960a1e-7c3b-7d2e-9f10-3b2a1c4d5e6f", "7"]
    new = store.add_comment("bd-u7c1", "an integer id after string ones", "tester")
    assert isinstance(new.id, int) and new.id >= 1


def test_memories_and_header_are_kept_and_exported_with_all_only(store: BeadStore, tmp_path: Path) -> None:
    imports.import_path(store, COMPAT / "memory.jsonl")
    imports.import_path(store, COMPAT / "schema-header.jsonl")
    memories = store.memories()
    assert memories["release-checklist"] == "run make lint && make test before tagging"
    assert "\x1b" in memories["hostile"], "stored verbatim"
    assert "\x1b" not in strip_controls(memories["hostile"])
    default = jsonl.export_text(store)
    assert '"_type":"memory"' not in default
    assert default.splitlines()[0].startswith('{"_schema":"beads-jsonl/1"')
    full = jsonl.export_text(store, include_all=True).splitlines()
    assert [json.loads(x)["key"] for x in full if '"_type":"memory"' in x] == ["hostile", "release-checklist"]


def test_custom_statuses_need_the_ledgers_config(store: BeadStore, tmp_path: Path) -> None:
    bare = tmp_path / "issues.jsonl"  # the same lines without the config.yaml beside them
    bare.write_bytes((COMPAT / "custom-status" / "issues.jsonl").read_bytes())
    with pytest.raises(GtError, match=r"line 1: unknown status 'staged_ready'.*nothing was imported"):
        imports.import_path(store, bare)
    assert store.list() == []
    imports.import_path(store, COMPAT / "custom-status" / "issues.jsonl")
    assert store.get("hq-cv-a1b2").status == "staged_ready"
    assert store.custom_statuses() == ("staged_ready", "staged_warnings")
    assert [i.id for i in store.list(status="staged_warnings")] == ["hq-cv-c3d4"]
    imports.import_path(store, bare)  # now the store declares them


def test_an_undeclared_real_status_is_refused_with_its_line(store: BeadStore) -> None:
    with pytest.raises(GtError, match=r"undeclared-status.jsonl line 1: unknown status 'done'"):
        imports.import_path(store, COMPAT / "undeclared-status.jsonl")
    assert store.list() == []


def test_wisps_templates_and_infra_are_never_ready(store: BeadStore, tmp_path: Path) -> None:
    imports.import_path(store, COMPAT / "not-ready.jsonl")
    imports.import_path(store, COMPAT / "wisp.jsonl")
    assert store.get("gt-w1sp").ephemeral and store.get("bd-hyp6").ephemeral
    assert [i.id for i in store.ready()] == ["gt-work"]
    default = [json.loads(x)["id"] for x in jsonl.export_text(store).splitlines()]
    assert default == ["gt-ev1", "gt-slot1", "gt-work"], "bd export leaves out agent/rig/role/message, templates, wisps"
    assert len(jsonl.export_text(store, include_all=True).splitlines()) == 8
    assert [i.id for i in store.ready(claim="tester")] == ["gt-work"], "a claim takes only real work"
    assert store.ready() == []


def test_backup_dump_imports_every_row(store: BeadStore, tmp_path: Path) -> None:
    src = COMPAT / "backup"
    assert backup.is_backup(src)
    result = imports.import_path(store, src)
    rows = objects(src / "issues.jsonl")
    assert sorted(result.created) == sorted(r["id"] for r in rows)
    assert any("2 audit events" in w for w in result.warnings)
    config = {r["key"]: r["value"] for r in objects(src / "config.jsonl")}
    assert store.memories() == {"release-process": config["kv.memory.release-process"]}
    assert "merge-request" in (store.config_get("types.custom") or "")
    for row in rows:
        issue = store.get(row["id"]).to_jsonl()
        for field, value in row.items():
            if field in backup.NOT_EXPORTED:
                assert field not in issue
            elif value in (None, "", 0) and field not in backup.ALWAYS:
                assert field not in issue, (row["id"], field)
            elif field in backup.FLAGS:
                assert issue[field] is bool(value)
            elif field == "metadata":
                assert issue[field] == json.loads(value)
            else:
                assert issue[field] == value, (row["id"], field)
    labels = {(r["issue_id"], r["label"]) for r in objects(src / "labels.jsonl")}
    assert {(b, lb) for b, _ in labels for lb in store.get(b).labels} == labels
    deps = {(r["issue_id"], r["depends_on_id"], r["type"]) for r in objects(src / "dependencies.jsonl")}
    assert {(d.issue_id, d.depends_on_id, d.type) for r in rows for d in store.get(r["id"]).dependencies} == deps
    comments = objects(src / "comments.jsonl")
    assert [store.get(c["issue_id"]).comments[0].text for c in comments] == [c["text"] for c in comments]
    out = tmp_path / "out.jsonl"
    jsonl.export(store, out, include_all=True)
    again = BeadStore.open(tmp_path / "b.db")
    imports.import_path(again, out)
    assert [i.as_dict() for i in again.iter_all()] == [i.as_dict() for i in store.iter_all()]
    assert again.memories() == store.memories()
    again.disconnect()


def test_gt_bead_import_accepts_a_backup_directory(run_gt, town) -> None:
    proc = run_gt("bead", "import", str(COMPAT / "backup"), "--json", cwd=town.root, env=OFF)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["imported"] == 4 and json.loads(proc.stdout)["memories"] == 1


@pytest.mark.parametrize(
    "damage, where",
    [
        (lambda text: text[: len(text) // 2], "line 1: not valid JSON"),  # truncated mid-line
        (lambda text: text + '{"id":"bd-x1","title":"ok"}\n{"id": "bd-x2", "title": \n', "line 3: not valid JSON"),
        (lambda text: text + '{"id":"bd-x3","title":"ok","status":"done"}\n', "line 2: unknown status 'done'"),
        (lambda text: text + '{"_type":"memory","key":7,"value":"x"}\n', "line 2: a memory record needs"),
    ],
)
def test_truncated_or_malformed_line_is_refused_with_its_line(
    store: BeadStore, tmp_path: Path, damage: Any, where: str
) -> None:
    src = tmp_path / "issues.jsonl"
    src.write_text(damage((COMPAT / "wisp.jsonl").read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(GtError, match=where + r".*nothing was imported"):
        imports.import_path(store, src)
    assert store.list() == [] and store.memories() == {}


def test_cli_refuses_a_malformed_line_with_exit_2(run_gt, town, tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text((COMPAT / "memory.jsonl").read_text(encoding="utf-8") + '{"id":"bd-zz1","title":\n')
    proc: subprocess.CompletedProcess[str] = run_gt("bead", "import", str(src), cwd=town.root, env=OFF)
    assert proc.returncode == 2 and "line 4: not valid JSON" in proc.stderr and "nothing was imported" in proc.stderr
    listed = run_gt("bead", "list", "--all", "--json", cwd=town.root, env=OFF)
    assert "bd-m4q2" not in listed.stdout
