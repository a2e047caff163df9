"""core.atomic: a reader sees the old file or the new one; ``before_rename`` runs between the two."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.atomic import atomic_write_bytes


def test_before_rename_runs_once_the_new_bytes_are_written_and_before_they_replace_the_old(tmp_path: Path) -> None:
    target = tmp_path / "ledger.jsonl"
    target.write_bytes(b"old\n")
    seen: list[tuple[bytes, list[bytes]]] = []

    def record() -> None:
        temps = [p.read_bytes() for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        seen.append((target.read_bytes(), temps))

    atomic_write_bytes(target, b"new\n", before_rename=record)

    assert seen == [(b"old\n", [b"new\n"])]
    assert target.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.jsonl"]


def test_a_failing_before_rename_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "ledger.jsonl"
    target.write_bytes(b"old\n")

    def refuse() -> None:
        raise RuntimeError("recording failed")

    with pytest.raises(RuntimeError, match="recording failed"):
        atomic_write_bytes(target, b"new\n", before_rename=refuse)
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ledger.jsonl"]
