"""gt install, finding the town, and the town.toml defaults (issue 2)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from core.config import town_defaults
from core.town import find_town, install_town
from tests.conftest import git


def test_install_creates_town_with_commit(tmp_path: Path, run_gt) -> None:
    res = run_gt("install", str(tmp_path / "t"))
    assert res.returncode == 0, res.stderr
    root = tmp_path / "t"
    for d in (".beads", ".gastown", "mayor", ".beads/formulas"):
        assert (root / d).is_dir(), d
    assert tomllib.loads((root / "town.toml").read_text()) == town_defaults()
    log = git(root, "log", "--format=%s")
    assert log.splitlines() == ["gt install: create town"]
    tracked = git(root, "ls-files").split()
    assert "town.toml" in tracked and ".gitignore" in tracked
    assert ".gastown" not in " ".join(tracked)


def test_town_toml_documents_every_default(town) -> None:
    lines = town.config_path.read_text().splitlines()
    section = None
    seen = set()
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith("#"):
            key = line.split("=")[0].strip()
            assert lines[i - 1].startswith("#"), f"{section}.{key} has no comment"
            seen.add((section, key))
    expected = {(None, k) if not isinstance(v, dict) else None for k, v in town_defaults().items()} - {None}
    expected |= {(s, k) for s, v in town_defaults().items() if isinstance(v, dict) for k in v}
    assert seen == expected
    assert ("witness", "spawn_grace") in seen and town.setting("witness", "spawn_grace") == 60


def test_install_is_idempotent(tmp_path: Path, run_gt) -> None:
    root = tmp_path / "t"
    assert run_gt("install", str(root)).returncode == 0
    (root / "town.toml").write_text((root / "town.toml").read_text() + "\n# my note\n")
    res = run_gt("install", str(root))
    assert res.returncode == 0
    assert "already a town" in res.stdout
    assert "# my note" in (root / "town.toml").read_text()
    assert len(git(root, "log", "--format=%s").splitlines()) == 1


def test_install_refuses_non_empty_directory(tmp_path: Path, run_gt) -> None:
    d = tmp_path / "busy"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    res = run_gt("install", str(d))
    assert res.returncode == 2
    assert "not empty and is not a town" in res.stderr
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]


def test_install_refuses_a_file(tmp_path: Path, run_gt) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    res = run_gt("install", str(f))
    assert res.returncode == 2 and "is a file" in res.stderr


def test_install_no_git(tmp_path: Path, run_gt) -> None:
    res = run_gt("install", "--no-git", str(tmp_path / "t"))
    assert res.returncode == 0
    assert not (tmp_path / "t" / ".git").exists()
    assert (tmp_path / "t" / "town.toml").is_file()


def test_find_town_order(tmp_path: Path) -> None:
    a, _ = install_town(tmp_path / "a")
    b, _ = install_town(tmp_path / "b")
    (a.root / "deep" / "er").mkdir(parents=True)
    assert find_town(cwd=a.root / "deep" / "er", env={}).root == a.root
    assert find_town(env={"GT_TOWN": str(b.root)}, cwd=a.root).root == b.root
    assert find_town(explicit=a.root, env={"GT_TOWN": str(b.root)}).root == a.root


def test_outside_any_town_says_how_to_make_one(tmp_path: Path, run_gt) -> None:
    res = run_gt("rig", "list", cwd=tmp_path)
    assert res.returncode == 2
    assert "not inside a town" in res.stderr and "gt install" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_town_flag_and_env(tmp_path: Path, run_gt) -> None:
    install_town(tmp_path / "t")
    assert run_gt("--town", str(tmp_path / "t"), "rig", "list", cwd=tmp_path).returncode == 0
    assert run_gt("rig", "list", cwd=tmp_path, env={"GT_TOWN": str(tmp_path / "t")}).returncode == 0
    res = run_gt("rig", "list", cwd=tmp_path, env={"GT_TOWN": str(tmp_path / "nope")})
    assert res.returncode == 2 and "GT_TOWN" in res.stderr


def test_malformed_town_toml_names_file_and_line(town, run_gt) -> None:
    text = town.config_path.read_text().replace('default_agent = "auto"', 'default_agent = "auto')
    town.config_path.write_text(text)
    res = run_gt("config", "show", cwd=town.root)
    assert res.returncode == 2
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith("default_agent"))
    assert f"town.toml:{line}:" in res.stderr
    assert res.stderr.count("\n") == 1


def test_version_help_and_completion(run_gt) -> None:
    from gastown_tui import __version__

    res = run_gt("--version")
    assert res.returncode == 0 and __version__ in res.stdout
    res = run_gt("--help")
    assert res.returncode == 0
    for word in ("install", "rig", "config", "completion"):
        assert word in res.stdout
    for shell, marker in (("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --no-files")):
        res = run_gt("completion", shell)
        assert res.returncode == 0 and marker in res.stdout and "_GT_COMPLETE" in res.stdout
    res = run_gt("completion", "tcsh")
    assert res.returncode == 2


def test_core_and_gt_do_not_import_ui_libraries() -> None:
    code = (
        "import sys, importlib, pkgutil, core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    importlib.import_module(m.name)\n"
        "import gastown_tui.cli\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'pyte', 'rich')]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
