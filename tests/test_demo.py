"""``gastown-tui demo`` (issue 10): the whole system on the built-in wordstats project and on another
repository, run as real processes (as ``make demo`` runs it) with ``sim`` agents, real tmux on the demo
town's private server (killed in teardown), real gates; and the same demo in the cockpit with Pilot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.beads.store import BeadStore
from core.rigs import list_rigs
from core.sessions import SessionHost
from core.town import Town
from gastown_tui import demo
from gastown_tui.app import CockpitApp
from gastown_tui.screens.modals import DemoSummaryModal, QuitModal
from tests.conftest import git, make_repo
from tests.conftest import run_async, wait_until
from tests.test_cockpit import SIZE

GASTOWN_TUI = str(Path(sys.executable).parent / "gastown-tui")


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    """Where the demo town goes; its tmux server is killed afterwards."""
    root = tmp_path / "demo-town"
    yield root
    if (root / "town.toml").exists():
        SessionHost(Town(root)).kill_server()


def run_demo(cwd: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GT_", "BD_"))}
    return subprocess.run(
        [GASTOWN_TUI, "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )


def summary(root: Path) -> dict:
    return json.loads((root / ".gastown" / "demo-summary.json").read_text())


def show(repo: Path, path: str) -> str | None:
    proc = subprocess.run(["git", "show", f"main:{path}"], cwd=repo, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else None


def test_demo_headless_template(demo_dir: Path) -> None:
    """No terminal: five beads merge, the broken one is isolated, exit 0; a second run reuses the town."""
    proc = run_demo(demo_dir.parent, "--dir", str(demo_dir))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert f"demo town created at {demo_dir}" in proc.stdout
    assert "demo done: 5/5 beads merged; isolated by the refinery: sentence-count" in proc.stdout
    assert "Fix tests failure: Add sentence_count" in proc.stdout.splitlines()[-2]
    s = summary(demo_dir)
    steps = {b["step"]: b for b in s["beads"]}
    assert sorted(b["step"] for b in s["beads"] if b["mr_status"] == "merged") == [
        "changelog",
        "docs",
        "fix-word-count",
        "line-count",
        "refactor-text",
    ]
    broken = steps["sentence-count"]
    assert broken["mr_status"] == "failed" and broken["failure"]["gate"] == "tests"
    assert "test_sentence_count" in Path(broken["failure"]["log"]).read_text()
    repo = demo_dir / "wordstats" / ".repo.git"  # the default branch holds exactly the good work
    assert "def line_count" in show(repo, "wordstats/lines.py")
    assert "len(text.split())" in show(repo, "wordstats/counting.py")
    assert show(repo, "docs/usage.md") and show(repo, "CHANGELOG.md")
    assert show(repo, "wordstats/sentences.py") is None
    with BeadStore(Town(demo_dir)) as store:  # the culprit's bead holds the failing gate's log tail
        comments = store.get(broken["id"]).comments
        assert any("test_sentence_count" in c.text for c in comments)
        follow_up = [b for b in store.dependents(broken["id"]) if b.title == "Fix tests failure: Add sentence_count"]
        assert len(follow_up) == 1 and follow_up[0].priority == 1 and follow_up[0].status == "open"

    again = run_demo(demo_dir.parent, "--dir", str(demo_dir), "--agents", "2")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert f"demo town reused at {demo_dir}" in again.stdout
    assert "the earlier demo run was reset" in again.stdout
    assert summary(demo_dir)["convoy"]["id"] != s["convoy"]["id"]
    with BeadStore(Town(demo_dir)) as store:  # the first run's leftovers were closed, not lost
        first = store.get(broken["id"])
        assert first.status == "closed" and "superseded" in first.close_reason


def test_demo_headless_repo(demo_dir: Path, tmp_path: Path) -> None:
    """--repo: the repository's own pytest suite and demo-check gate the merges; the repository
    itself is never touched."""
    repo = make_repo(
        tmp_path / "Shop.Cart",
        {
            "pyproject.toml": '[project]\nname = "cart"\nversion = "1"\n',
            "cart.py": "def total(prices):\n    return sum(prices)  # TODO: currencies\n",
            "tests/test_cart.py": "from cart import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n",
        },
        branch="trunk",
    )
    head = git(repo, "rev-parse", "HEAD")
    proc = run_demo(tmp_path, "--dir", str(demo_dir), "--repo", str(repo), "--agents", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "passes on trunk" in proc.stdout and "gates: tests (300s), demo-check (300s)" in proc.stdout
    assert "demo done: 5/5 beads merged; isolated by the refinery: notes" in proc.stdout
    s = summary(demo_dir)
    notes = next(b for b in s["beads"] if b["step"] == "notes")
    assert notes["failure"]["gate"] == "demo-check"
    assert "NOTES.md: the first line must be a '# ' heading" in Path(notes["failure"]["log"]).read_text()
    bare = demo_dir / "shop-cart" / ".repo.git"
    tree = git(bare, "ls-tree", "-r", "--name-only", "trunk").split()
    assert {
        "gastown-demo/INVENTORY.md",
        "gastown-demo/TODO.md",
        "gastown-demo/HISTORY.md",
        "gastown-demo/README.md",
        "gastown-demo/SUMMARY.md",
    } <= set(tree)
    assert "gastown-demo/NOTES.md" not in tree
    assert "cart.py" in git(bare, "show", "trunk:gastown-demo/TODO.md")
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == ""
    assert git(repo, "branch", "--list").split() == ["*", "trunk"]


def test_demo_refuses_a_repository_whose_tests_are_red(demo_dir: Path, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "red", {"Makefile": "test:\n\tfalse\n"})
    proc = run_demo(tmp_path, "--dir", str(demo_dir), "--repo", str(repo))
    assert proc.returncode == 2
    assert "the test command fails on main of the repository already" in proc.stderr
    assert "--gate" in proc.stderr.strip().splitlines()[-1]
    assert [r.name for r in list_rigs(Town(demo_dir))] == []  # no rig that could never merge is left


@pytest.mark.parametrize(
    "args, message",
    [
        (["--agents", "0"], "--agents must be between 1 and 8"),
        (["--gate", "make test"], "--gate is for --repo"),
    ],
)
def test_demo_bad_input_is_a_one_line_usage_error(demo_dir: Path, args: list[str], message: str) -> None:
    proc = run_demo(demo_dir.parent, "--dir", str(demo_dir), *args, timeout=60)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_demo_refuses_a_directory_that_is_not_a_town(tmp_path: Path) -> None:
    busy = tmp_path / "demo-town"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine\n")
    proc = run_demo(tmp_path, timeout=60)
    assert proc.returncode == 2 and "is not a town" in proc.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]


def test_detect_test_command(tmp_path: Path) -> None:
    cases = {
        "make": ({"Makefile": "all:\n\ttrue\ntest:\n\ttrue\n"}, ["make", "test"]),
        "py": (
            {"pyproject.toml": "", "tests/test_x.py": ""},
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        ),
        "npm": ({"package.json": '{"scripts": {"test": "jest"}}'}, ["npm", "test"]),
        "rust": ({"Cargo.toml": ""}, ["cargo", "test"]),
        "go": ({"go.mod": ""}, ["go", "test", "./..."]),
        "none": ({"package.json": "not json", "README.md": ""}, []),
    }
    for name, (files, expected) in cases.items():
        root = tmp_path / name
        for path, text in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text)
        assert demo.detect_test_command(root) == expected, name


@run_async
async def test_demo_in_the_cockpit(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a terminal the demo opens the cockpit, whose in-process engine runs the demo to its end:
    the convoy shows 5 of 6 beads done and the refinery queue the isolated merge request; then the
    cockpit says the demo finished, with what merged, what was isolated and why (issue 21)."""
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    plan = demo.prepare(demo_dir, agents=3)
    watch = demo.watch_launch(plan)
    launched = watch.launched
    app = CockpitApp(plan.town, poll_interval=0.1, snapshot_interval=0.3, demo=watch)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.engine_state == "running", what="the engine running")

        def convoy():
            snap = app.snapshot
            return next((c for c in snap.convoys if c.id == launched.convoy), None) if snap else None

        def settled():
            c, snap = convoy(), app.snapshot
            failed = [m for m in snap.mrs if m.status == "failed"] if snap else []
            return c is not None and c.done == 5 and failed

        failed = await wait_until(pilot, settled, timeout=150, what="five merges and the isolated MR")
        assert convoy().total == 6
        assert [m.bead for m in failed] == [launched.steps["sentence-count"]]
        modal = await wait_until(
            pilot,
            lambda: isinstance(app.screen, DemoSummaryModal) and app.screen.query("#summary-text") and app.screen,
            timeout=60,
            what="the summary",
        )
        verdict = str(modal.query_one("#summary-verdict").render())
        assert "finished as designed" in verdict and "5/5 beads merged" in verdict
        body = str(modal.query_one("#summary-text").render())
        assert "Merged (5)" in body and "Isolated by the refinery (1)" in body
        broken = launched.steps["sentence-count"]
        for part in (f"✗ {broken}", "why: mr-", "gate log: ", f"follow-up for {broken}: "):
            assert part in body, (part, body)
        why = next(ln for ln in body.splitlines() if "why: " in ln)
        assert "tests" in why, why  # the failing gate named
        assert app.demo_outcome.ok and [b for b, *_ in app.demo_outcome.isolated] == [broken]
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.main, what="the summary closed")
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitModal), what="the quit question")
        await pilot.press("s")
        await wait_until(pilot, lambda: app.return_code is not None, timeout=30, what="the cockpit closed")
    assert app.return_code == 0
