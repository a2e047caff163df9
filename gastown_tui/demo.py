"""``gastown-tui demo``: the whole system on a real project in one command (issue 10; ``make demo``).

:func:`prepare` makes the demo town (``./demo-town`` by default; an existing town there is reused) and
its rig: the ``wordstats`` template project shipped in ``gastown_tui/templates/`` (a small Python library
with a pytest suite and a word_count bug) made into a git repository, or the repository given with
``--repo``. A rig left by an earlier demo run is reset first: its polecats are nuked (sessions killed,
worktrees removed), the earlier run's open beads and convoy are closed as superseded and the rig is
added again from its source, so every run starts from the same state.

Gates, the project's real test command:

- template: ``python -m pytest -q`` with the interpreter running the demo;
- ``--repo``: ``--gate CMD`` if given, else detected from the repository's files (pytest, ``make
  test``, ``npm test``, ``cargo test``, ``go test ./...``), plus ``demo-check`` (``python -m
  gastown_tui.demo check``: every markdown page under ``gastown-demo/`` opens with a ``# `` heading).
  The test command is run once on the default branch first: a repository whose tests are already
  red is refused (the refinery would reject every merge).

Then it pours a built-in formula and runs it with ``sim`` agents (or ``--agent``): ``wordstats`` on the
template (six beads: a function with its test, the word_count fix, docs, a refactor, a sentence
counter broken on purpose, a changelog), ``repo-tour`` on ``--repo`` (six pages about the repository,
one without a heading). The broken step's merge request fails its gate: the refinery isolates it,
merges the rest and files the follow-up bead. Without a terminal (CI) the run is headless
(:func:`gastown_tui.headless.run_convoy` with ``keep_going``) and the demo exits 0 exactly when the
other five beads merged and the broken one failed; with one, the cockpit opens on the demo town and
the engine runs inside it.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from core import git, mq, polecats, runs
from core.actor import current_actor
from core.beads.store import BeadStore
from core.config import edit_toml
from core.convoys import close as close_convoy
from core.convoys import list_convoys
from core.pidfile import engine_pid
from core.errors import Conflict, GtError, NotFound
from core.gates import GateConfig, load_gates, run_gates
from core.rigs import RESERVED, add_rig, list_rigs, load_rig, remove_rig
from core.sling import Slinger
from core.town import Town, install_town, is_town

DEFAULT_DIR = Path("demo-town")
TEMPLATE = Path(__file__).parent / "templates" / "wordstats"
#: Formula and deliberately broken step, for the template and for ``--repo``.
TEMPLATE_RUN = ("wordstats", "sentence-count")
REPO_RUN = ("repo-tour", "notes")
PAGES_DIR = "gastown-demo"
GATE_TIMEOUT_S = 300
#: Engine base timer of the demo run, seconds (the default 1 s would make the demo slower to watch).
TICK_S = 0.25


@dataclass(frozen=True)
class DemoPlan:
    """What a demo run works on: the town, the rig, the formula and its step that must fail."""

    town: Town
    rig: str
    formula: str
    broken_step: str
    gates: GateConfig

    @property
    def expected_merges(self) -> int:
        """Beads that must merge: every step but the broken one."""
        from core.formulas import FormulaLibrary

        return len(FormulaLibrary(self.town, load_rig(self.town, self.rig)).load(self.formula).steps) - 1


def prepare(
    root: Path, repo: Path | None = None, agents: int = 3, gate: str | None = None, out: IO[str] | None = None
) -> DemoPlan:
    """Make (or reuse) the demo town at ``root`` and (re)add its rig; see the module docstring.

    repo: a local git repository for the rig (None: the wordstats template); agents: polecats working
    at once (1-8); gate: the test command of ``repo`` as one string (split like a shell would, never
    run by one). Raises GtError for bad input, an engine running on the town, a repository that is
    not one, or a test command that fails on the repository's default branch.
    """
    out = out or sys.stdout
    if not 1 <= agents <= 8:
        raise GtError(f"--agents must be between 1 and 8 (got {agents})")
    if gate is not None and repo is None:
        raise GtError("--gate is for --repo: the template's gate is its pytest suite")
    root = root.expanduser().absolute()
    if root.exists() and any(root.iterdir()) and not is_town(root):
        raise GtError(f"{root} exists and is not a town: remove it or pass --dir with another path")
    town, created = install_town(root)
    if (pid := engine_pid(town)) is not None:
        raise GtError(
            f"an engine is already running on the demo town (pid {pid}): stop it with "
            f"'gt down --town {root}' or close its cockpit, then run the demo again"
        )
    _say(out, f"demo town {'created' if created else 'reused'} at {root}")
    with edit_toml(town.config_path) as doc:
        doc["scheduler"]["max_polecats"] = agents
        doc["scheduler"]["max_polecats_per_rig"] = agents
        doc["scheduler"]["spawn_delay"] = 0.2
    town.reload()
    if repo is None:
        name, formula, broken = "wordstats", *TEMPLATE_RUN
        source = _template_repo(town)
        gates: dict[str, list[str]] = {"tests": [sys.executable, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider"]}
    else:
        repo = repo.expanduser().absolute()
        if not git.is_repo(repo):
            raise GtError(f"--repo {repo} is not a git repository: pass the top directory of a git checkout")
        name, formula, broken = _rig_name(repo), *REPO_RUN
        source = repo
        tests = shlex.split(gate) if gate is not None else detect_test_command(repo)
        if gate is not None and not tests:
            raise GtError("--gate is empty: pass the repository's test command, e.g. --gate 'make test'")
        gates = {"tests": tests} if tests else {}
        if not tests:
            _say(out, f"no test command found in {repo}: gating on demo-check alone (pass --gate 'CMD' to add one)")
        gates["demo-check"] = [sys.executable, "-P", "-m", "gastown_tui.demo", "check"]  # -P: the repo's own core/
    if any(r.name == name for r in list_rigs(town)):
        _reset_rig(town, name, out)
    rig = add_rig(town, name, str(source), strategy="local")  # the demo never writes the repository
    with edit_toml(rig.path / "rig.toml") as doc:
        for gate_name, cmd in gates.items():
            doc["gates"][gate_name] = {"cmd": cmd, "timeout": GATE_TIMEOUT_S}
        doc["gates"]["env"] = {"PYTHONDONTWRITEBYTECODE": "1"}
    config = load_gates(load_rig(town, name).config, f"{name}/rig.toml")
    if repo is not None and "tests" in gates:
        try:
            _check_green(town, name, config, out)
        except GtError:
            remove_rig(town, name, force=True)  # a rig that cannot merge anything is not left behind
            raise
    _say(out, f"rig {name} added from {source}; {config.describe()}")
    return DemoPlan(town, name, formula, broken, config)


def detect_test_command(repo: Path) -> list[str]:
    """The test command of the repository checked out at ``repo`` as an argv, from its files
    (pytest for a Python project with tests, ``make test``, ``npm test``, ``cargo test``, ``go test
    ./...``); [] when none is recognised."""
    if (repo / "Makefile").is_file() and re.search(r"^test\s*:", (repo / "Makefile").read_text(errors="replace"), re.M):
        return ["make", "test"]
    python = any((repo / f).is_file() for f in ("pyproject.toml", "setup.py", "setup.cfg", "pytest.ini", "tox.ini"))
    if python and any((repo / d).is_dir() for d in ("tests", "test")):
        # Without -P on purpose: this is the repository's own test run, and `python -m pytest` puts the
        # checkout first on sys.path so its tests import its packages (none of gastown-tui's code runs).
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    package = repo / "package.json"
    if package.is_file():
        try:
            if json.loads(package.read_text()).get("scripts", {}).get("test"):
                return ["npm", "test"]
        except (ValueError, AttributeError):
            pass
    if (repo / "Cargo.toml").is_file():
        return ["cargo", "test"]
    if (repo / "go.mod").is_file():
        return ["go", "test", "./..."]
    return []


def check_pages(tree: Path) -> list[str]:
    """The ``demo-check`` gate: problems with the markdown pages under ``<tree>/gastown-demo/`` (each
    must open with a ``# `` heading); [] when there are none (or no pages)."""
    pages = sorted((tree / PAGES_DIR).glob("*.md")) if (tree / PAGES_DIR).is_dir() else []
    return [
        f"{p.relative_to(tree)}: the first line must be a '# ' heading"
        for p in pages
        if not p.read_text(errors="replace").startswith("# ")
    ]


def judge(summary: dict[str, Any], broken_step: str, expected_merges: int) -> tuple[bool, str]:
    """Did the demo run do what it shows? True when ``expected_merges`` beads merged and exactly the
    ``broken_step`` bead failed at a gate; the second value says what happened in one line."""
    merged = [b for b in summary["beads"] if b["mr_status"] == "merged"]
    failed = [b for b in summary["beads"] if b["failure"]]
    ok = (
        len(merged) == expected_merges
        and len(failed) == 1
        and failed[0]["step"] == broken_step
        and failed[0]["failure"]["kind"] == "merge_failed"
    )
    culprit = ", ".join(f"{b['step']} ({b['failure']['reason']})" for b in failed) or "none"
    line = f"{len(merged)}/{expected_merges} beads merged; isolated by the refinery: {culprit}"
    return ok, line


@dataclass(frozen=True)
class DemoOutcome:
    """How a demo run ended, for people (the headless run's closing lines, the cockpit's summary).

    ok/line: :func:`judge`'s verdict and line. merged: (bead id, title) of the beads that merged.
    isolated: (bead id, title, why, gate log path or "") of the beads the refinery kept out.
    pending: (bead id, title) of the beads neither merged nor failed (a run that timed out).
    follow_ups: (failed bead id, follow-up bead id, its title) filed by the refinery, still open.
    """

    ok: bool
    line: str
    merged: list[tuple[str, str]]
    isolated: list[tuple[str, str, str, str]]
    pending: list[tuple[str, str]]
    follow_ups: list[tuple[str, str, str]]


def outcome(town: Town, summary: dict[str, Any], broken_step: str, expected_merges: int) -> DemoOutcome:
    """The :class:`DemoOutcome` of a run whose summary (:meth:`core.runs.ConvoyWatch.summary`) is
    ``summary``: :func:`judge`, then what merged, what was isolated and why, and the refinery's open
    follow-up beads of the isolated ones (read from the ledger). Titles and reasons are as the beads
    and events hold them (agent-written: the caller shows them as text)."""
    ok, line = judge(summary, broken_step, expected_merges)
    merged = [(b["id"], b["title"]) for b in summary["beads"] if b["mr_status"] == "merged"]
    pending = [
        (b["id"], b["title"])
        for b in summary["beads"]
        if b["mr_status"] != "merged" and not b["failure"] and b["status"] != "closed"
    ]
    isolated, follow_ups = [], []
    with BeadStore(town) as store:
        for b in summary["beads"]:
            if not b["failure"]:
                continue
            log = b["failure"].get("log") or ""
            if not log and b["mr"]:  # a failure seen standing (not from its event): the MR keeps its logs
                try:
                    log = (mq.get(store.db, b["mr"]).logs or [""])[-1]
                except NotFound:
                    log = ""
            isolated.append((b["id"], b["title"], b["failure"]["reason"], log))
            follow_ups += [
                (b["id"], up.id, up.title)
                for up in store.dependents(b["id"], "discovered-from")
                if up.status != "closed"
            ]
    return DemoOutcome(ok, line, merged, isolated, pending, follow_ups)


class DemoWatch:
    """The demo run the cockpit follows (:func:`_in_cockpit`): :meth:`check` says how it ended once
    it has (every bead merged, or failed with nothing else able to land: ``keep_going``), else None.

    plan: the demo's :class:`DemoPlan`; launched: its :class:`core.runs.Launch`; after_id: the last
    event id before the launch (the run's events follow it); started: Unix seconds of the launch.
    """

    def __init__(self, plan: DemoPlan, launched: runs.Launch, after_id: int, started: float) -> None:
        self.plan = plan
        self.launched = launched
        self.after_id = after_id
        self.started = started

    def check(self) -> DemoOutcome | None:
        """Read the run's events so far (a :class:`core.runs.ConvoyWatch` on its own connection, so it
        can run in any thread) and return its :class:`DemoOutcome` once it ended, else None."""
        with BeadStore(self.plan.town) as store:
            watch = runs.ConvoyWatch(store, self.launched.convoy, self.after_id, self.started, keep_going=True)
            while watch.poll():  # every event since the launch (a poll reads at most 2000)
                pass
            verdict = watch.verdict()
            if verdict is None:
                return None
            summary = watch.summary(verdict, 0 if verdict == "landed" else 1)
        return outcome(self.plan.town, summary, self.plan.broken_step, self.plan.expected_merges)


def run_demo(
    root: Path,
    repo: Path | None = None,
    agents: int = 3,
    agent: str = "sim",
    gate: str | None = None,
    ui: bool | None = None,
    timeout: float = 300.0,
    out: IO[str] | None = None,
) -> int:
    """``gastown-tui demo``: prepare, then run headless (``ui`` False, or None without a terminal)
    or in the cockpit. Returns the exit status: 0 when the demo ran as designed (five merged, the
    broken bead isolated), 1 otherwise, 124 on timeout. Raises GtError for bad input."""
    out = out or sys.stdout
    plan = prepare(root, repo, agents, gate, out)
    if ui is None:
        ui = sys.stdin.isatty() and out.isatty()
    if ui:
        return _in_cockpit(plan, agent, out)
    from gastown_tui.headless import RunRequest, run_convoy

    summary_path = plan.town.state_dir / "demo-summary.json"
    req = RunRequest(
        formula=plan.formula,
        rig=plan.rig,
        agent=agent,
        timeout=timeout,
        summary=summary_path,
        tick=TICK_S,
        keep_going=True,
    )
    code = run_convoy(plan.town, req, out=out)
    if code not in (0, 1) or not summary_path.is_file():
        return code
    summary = json.loads(summary_path.read_text())
    result = outcome(plan.town, summary, plan.broken_step, plan.expected_merges)
    ok = result.ok
    _say(out, f"demo {'done' if ok else 'FAILED'}: {result.line}")
    for bead, up, title in result.follow_ups:
        _say(out, f"follow-up filed for {bead}: {up} {title}")
    if ok:
        _say(
            out,
            f"look around: gastown-tui --town {plan.town.root}   (or gt feed / gt mq list / gt bead list "
            "with GT_TOWN set to it)",
        )
    return 0 if ok else 1


def _in_cockpit(plan: DemoPlan, agent: str, out: IO[str]) -> int:
    """Pour and queue the demo formula, then open the cockpit (its engine works the queue); when the
    run ends the cockpit shows its summary (:class:`DemoWatch`: what merged, what was isolated, why)."""
    from gastown_tui.app import run_cockpit

    watch = watch_launch(plan, agent)
    _say(out, f"convoy {watch.launched.convoy} queued; opening the cockpit (q quits; the agents keep running)")
    return run_cockpit(plan.town, demo=watch)


def watch_launch(plan: DemoPlan, agent: str = "sim") -> DemoWatch:
    """:func:`launch` the demo and return the :class:`DemoWatch` that follows it. Raises GtError."""
    with BeadStore(plan.town) as store:
        row = store.db.execute("SELECT MAX(id) FROM events").fetchone()
    after_id, started = int(row[0] or 0), time.time()
    return DemoWatch(plan, launch(plan, agent), after_id, started)


def launch(plan: DemoPlan, agent: str = "sim") -> runs.Launch:
    """Pour the demo formula on the demo rig and queue its steps for the scheduler (for the cockpit,
    whose engine then runs them). Raises GtError."""
    planned = runs.plan_run(plan.town, plan.formula, {}, plan.rig, agent=agent)
    return runs.launch(plan.town, planned, actor=current_actor(None), agent=agent)


def _template_repo(town: Town) -> Path:
    """A fresh git repository of the wordstats template under ``.gastown/demo-src/`` (one commit)."""
    src = town.state_dir / "demo-src" / "wordstats"
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(TEMPLATE, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    files = sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.is_file())
    git.init_repo(src)
    git.commit_paths(src, files, "wordstats 0.1.0: the gastown-tui demo project")
    return src


def _rig_name(repo: Path) -> str:
    """A valid rig name from the repository's directory name (``My.Project`` -> ``my-project``)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", repo.name.lower()).strip("-_")
    name = re.sub(r"^[^a-z]+", "", name)[:32].rstrip("-_") or "project"
    return f"{name}-demo" if name in RESERVED else name


def _reset_rig(town: Town, name: str, out: IO[str]) -> None:
    """Undo an earlier demo run on rig ``name``: nuke its polecats, close its open beads and the
    convoys tracking only them as superseded, remove the rig (its source repository is untouched)."""
    rig = load_rig(town, name)
    actor = current_actor(None)
    reason = "superseded: a new demo run reset this rig"
    with BeadStore(town) as store:
        slinger = Slinger(town, store=store)
        for p in polecats.list_polecats(store.db, rig=name):
            if p.state != "nuked":
                try:
                    slinger.nuke(name, p.name, force=True)
                except (NotFound, Conflict):
                    continue
        open_beads = {b.id for b in store.list(prefix=rig.prefix) if b.status != "closed"}
        for convoy in list_convoys(store):
            if convoy.tracked and {t.id for t in convoy.tracked} & open_beads:
                close_convoy(store, convoy.id, actor=actor, reason=reason)
        for bead in sorted(open_beads, reverse=True):  # children before their parents
            store.close(bead, actor, reason=reason, force=True)
    remove_rig(town, name, force=True)
    _say(out, f"rig {name}: the earlier demo run was reset ({len(open_beads)} open beads closed as superseded)")


def _check_green(town: Town, name: str, config: GateConfig, out: IO[str]) -> None:
    """Run the rig's test gate once on its default branch in a scratch worktree; raise GtError when it
    fails (every merge would fail), naming the log."""
    rig = load_rig(town, name)
    tests = GateConfig(tuple(g for g in config.gates if g.name == "tests"), config.env)
    _say(out, f"checking that {' '.join(tests.gates[0].cmd)} passes on {rig.default_branch} ...")
    with tempfile.TemporaryDirectory(prefix="gt-demo-check-") as tmp:
        tree = Path(tmp) / "tree"
        git.worktree_add_detached(rig.repo_path, tree, rig.default_branch)
        try:
            result = run_gates(tests, tree, town.logs_dir / "gates", "demo-precheck")
        finally:
            git.worktree_remove(rig.repo_path, tree, force=True)
    if not result.ok:
        failed = result.failed
        raise GtError(
            f"the test command fails on {rig.default_branch} of the repository already "
            f"(log: {failed.log_path if failed else '?'}): fix it, or pass --gate 'CMD' with one that passes"
        )


def _say(out: IO[str], text: str) -> None:
    out.write(text + "\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    """``python -P -m gastown_tui.demo check``: the demo-check gate, run in the tree to check (the
    refinery's worktree). Prints each problem; exit 1 when there is one, 2 for a bad argument."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["check"]:
        print("usage: python -m gastown_tui.demo check   (run in the tree to check)", file=sys.stderr)
        return 2
    problems = check_pages(Path.cwd())
    for p in problems:
        print(f"demo-check: {p}")
    print(f"demo-check: {'FAILED' if problems else 'ok'}: {len(problems)} problem(s) in {PAGES_DIR}/")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
