"""core.git.commit_paths with the bytes the caller holds (issue 19: the ledger blob written once).

Real git repositories: the blob Python writes is the one git would write (same sha, readable by
``git cat-file``, ``git fsck`` clean), the commit holds exactly the given bytes, the user's staged
files stay staged and out of the commit, and the real index ends clean for the committed path (no
change shown by ``git status``).
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

from core import git as gitmod


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    gitmod.init_repo(root)
    (root / "keep.txt").write_text("first\n")
    assert gitmod.commit_paths(root, ["keep.txt"], "first")
    return root


def test_a_held_blob_is_the_blob_git_writes_and_the_index_stays_clean(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    data = "".join(f'{{"id":"mp-{k:04d}","title":"\\u001b[2J bead {k}"}}\n' for k in range(3000)).encode()
    ledger = root / ".beads" / "issues.jsonl"
    ledger.parent.mkdir()
    ledger.write_bytes(data)
    (root / "keep.txt").write_text("staged by the user\n")
    gitmod.run_git(["add", "keep.txt"], cwd=root)

    sha = gitmod.commit_paths(root, [".beads/issues.jsonl"], "ledger", contents={".beads/issues.jsonl": data})

    assert sha is not None
    assert gitmod.read_path_at(root, "HEAD", ".beads/issues.jsonl") == data
    blob = gitmod.run_git(["rev-parse", "HEAD:.beads/issues.jsonl"], cwd=root).stdout.strip()
    assert blob == gitmod.run_git(["hash-object", ".beads/issues.jsonl"], cwd=root).stdout.strip()
    obj = root / ".git" / "objects" / blob[:2] / blob[2:]
    assert obj.exists() and not obj.stat().st_mode & stat.S_IWUSR  # read-only, as git makes them
    assert gitmod.run_git(["fsck", "--strict"], cwd=root).returncode == 0
    assert gitmod.read_path_at(root, "HEAD", "keep.txt") == b"first\n"  # the staged file stayed out
    status = gitmod.run_git(["status", "--porcelain"], cwd=root).stdout.splitlines()
    assert status == ["M  keep.txt"], status  # still staged; the ledger shows no change

    again = gitmod.commit_paths(root, [".beads/issues.jsonl"], "ledger", contents={".beads/issues.jsonl": data})
    assert again is None  # the object exists, nothing changed: no commit
    assert not [p for p in obj.parent.iterdir() if p.name.startswith("tmp_obj_")]

    # The real index holds the new blob (entered by sha, no stat): the user's own commit keeps the
    # ledger as committed instead of reverting it, and the tree stays clean.
    gitmod.run_git(["-c", "user.name=u", "-c", "user.email=u@u", "commit", "-q", "-m", "user's commit"], cwd=root)
    assert gitmod.read_path_at(root, "HEAD", ".beads/issues.jsonl") == data
    assert gitmod.read_path_at(root, "HEAD", "keep.txt") == b"staged by the user\n"
    assert gitmod.run_git(["status", "--porcelain"], cwd=root).stdout == ""


def test_write_blob_matches_git_for_empty_and_binary_bytes(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    objects = root / ".git" / "objects"
    for k, data in enumerate([b"", b"\x00\xff\n" * 1000, "\u2028 é\n".encode()]):
        (root / f"f{k}").write_bytes(data)
        sha = gitmod.write_blob(objects, data)
        assert sha == gitmod.run_git(["hash-object", f"f{k}"], cwd=root).stdout.strip()
        shown = gitmod.run_git(["cat-file", "-s", sha], cwd=root).stdout.strip()
        assert int(shown) == len(data)
        content = subprocess.run(["git", "cat-file", "blob", sha], cwd=root, capture_output=True, check=True).stdout
        assert content == data
        assert gitmod.run_git(["cat-file", "-t", sha], cwd=root).stdout.strip() == "blob"
