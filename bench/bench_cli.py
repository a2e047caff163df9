"""``gt`` and ``bd`` as agents run them: whole processes, next to ``python -c pass`` (issue 19).

Town: a rig ``demo`` (a small git repository), 10,000 beads (bench.bench_beads' synthetic ledger,
synced: nothing dirty, as in a town whose engine has flushed), polecat ``demo/polecats/nux`` with a
bead on its hook and a message in its inbox. The agent commands run with the polecat's session
environment (GT_ROLE, GT_RIG, GT_POLECAT, GT_SESSION, BD_ACTOR), ``GT_LEDGER_SYNC=off`` (no detached
flusher between rounds; the dirty check still runs) and without ``PYTHONDONTWRITEBYTECODE`` (an
installed package has its bytecode; the warm-up round writes it).

Cases (median of ROUNDS, milliseconds; goals of issue 19 in the case text): ``python -c pass`` with
the same interpreter (the baseline: interpreter start and ``site``); the per-prompt hook path (``gt
prime --hook``, ``gt agent hook prompt``, ``gt mail check --inject``: <= 2x); ``gt bead ready --json``
(<= 3x); ``gt prime``, ``gt status``, ``gt done`` (no push: the branch is already in the rig's bare
repository; a fresh polecat with one commit per round) (<= 3x); ``bd ready|show|create|update|close``
(<= 3x); ``gt --help``. Each is measured as wall time and as CPU time (user + system, from
``getrusage(RUSAGE_CHILDREN)``), which a busy shared machine disturbs less. The commands run
interleaved, one of each per round, so drift in the machine's load hits all of them alike.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.bench_beads import _ledger
from core import git, mail, polecats
from core.beads import BeadStore
from core.beads import sync as ledger_sync
from core.rigs import add_rig
from core.town import install_town
from core.worktrees import ensure_worktree

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
BEADS = 10_000
BIN = Path(sys.executable).parent
GT, BD = str(BIN / "gt"), str(BIN / "bd")
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}


def _timed(argv: list[str], cwd: Path, env: dict[str, str], stdin: bytes) -> tuple[float, float]:
    """Run ``argv`` to completion; return (wall ms, child CPU ms). Raises CalledProcessError on failure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, input=stdin, check=True, capture_output=True)
    wall = (time.perf_counter() - t) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def _repo(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "README.md").write_text("bench\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *args], cwd=path, env={**os.environ, **GIT_ENV}, check=True)


class _Town:
    """The bench town (see the module docstring) and the per-round set-up some cases need."""

    def __init__(self, root: Path) -> None:
        _repo(root / "src")
        self.town, _ = install_town(root / "town")
        self.rig = add_rig(self.town, "demo", str(root / "src"))
        self.store = BeadStore(self.town)
        self.store.upsert(_ledger(BEADS), actor="bench")
        bead = self.store.create("Hooked work [red]x[/]", actor="bench", prefix=self.rig.prefix).id
        self.store.hook(bead, "demo/polecats/nux", actor="bench")
        polecats.upsert(self.store.db, "demo", "nux", state="working", hook_bead=bead, session="demo-nux")
        mail.send(self.town, "demo/polecats/nux", "hello \x1b[2J", "body", "mayor/", db=self.store.db)
        self.shown = bead
        self.count = 0
        ledger_sync.sync(self.town, store=self.store)  # a flushed town: nothing dirty

    def new_bead(self) -> str:
        self.count += 1
        return self.store.create(f"bench round {self.count}", actor="bench", prefix=self.rig.prefix).id

    def done_polecat(self) -> tuple[Path, dict[str, str]]:
        """A new polecat hooked to a new bead, one commit ahead in its worktree: (worktree, its env)."""
        name = f"done{self.count + 1}"
        bead = self.new_bead()
        self.store.hook(bead, f"demo/polecats/{name}", actor="bench")
        path, branch, _ = ensure_worktree(self.rig, name, bead)
        polecats.upsert(self.store.db, "demo", name, state="working", hook_bead=bead, branch=branch, worktree=str(path))
        (path / "work.txt").write_text(f"{bead}\n")
        git.commit_all(path, f"{bead}: work", env=GIT_ENV)
        return path, {"GT_POLECAT": name, "GT_SESSION": f"demo-{name}", "BD_ACTOR": f"demo/polecats/{name}"}


def run() -> list[dict]:
    root = Path(tempfile.mkdtemp(prefix="gt-bench-cli-"))
    try:
        t = _Town(root)
        town = t.town.root
        base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("GT_")}
        env = {
            **base_env,
            "GT_LEDGER_SYNC": "off",
            "GT_TOWN": str(town),
            "GT_ROLE": "polecat",
            "GT_RIG": "demo",
            "GT_POLECAT": "nux",
            "GT_SESSION": "demo-nux",
            "BD_ACTOR": "demo/polecats/nux",
        }
        # case -> (goal ratio or None, function giving (argv, cwd, env, stdin) for this round)
        Case = Callable[[], tuple[list[str], Path, dict[str, str], bytes]]
        fixed: Callable[..., Case] = lambda *argv, stdin=b"": lambda: (list(argv), town, env, stdin)  # noqa: E731

        def done() -> tuple[list[str], Path, dict[str, str], bytes]:
            path, own = t.done_polecat()
            return [GT, "done"], path, {**env, **own}, b""

        cases: dict[str, tuple[float | None, Case]] = {
            "python -c pass": (None, fixed(sys.executable, "-c", "pass")),
            "gt prime --hook (SessionStart hook)": (2, fixed(GT, "prime", "--hook", stdin=b"{}")),
            "gt agent hook prompt (UserPromptSubmit)": (
                2,
                fixed(GT, "agent", "hook", "prompt", stdin=b'{"prompt":"go"}'),
            ),
            "gt mail check --inject": (2, fixed(GT, "mail", "check", "--inject")),
            f"gt bead ready --json ({BEADS // 1000}k beads)": (3, fixed(GT, "bead", "ready", "--json")),
            "gt prime": (3, fixed(GT, "prime")),
            "gt status": (3, fixed(GT, "status")),
            "gt done (no push)": (3, done),
            "bd ready --json": (3, fixed(BD, "ready", "--json")),
            "bd show --json": (3, fixed(BD, "show", t.shown, "--json")),
            "bd create --json": (3, fixed(BD, "create", "bench bead", "--json")),
            "bd update --status": (
                3,
                lambda: ([BD, "update", t.new_bead(), "--status", "in_progress"], town, env, b""),
            ),
            "bd close": (3, lambda: ([BD, "close", t.new_bead()], town, env, b"")),
            "gt --help": (None, fixed(GT, "--help")),
        }
        walls: dict[str, list[float]] = {case: [] for case in cases}
        cpus: dict[str, list[float]] = {case: [] for case in cases}
        for _, make in cases.values():  # warm the page cache and write the bytecode caches
            _timed(*make())
        for _ in range(ROUNDS):
            for case, (_, make) in cases.items():
                wall, cpu = _timed(*make())
                walls[case].append(wall)
                cpus[case].append(cpu)
        t.store.disconnect()
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
    rows = []
    for kind, samples in (("wall", walls), ("CPU", cpus)):
        base = statistics.median(samples["python -c pass"])
        for case, values in samples.items():
            goal = cases[case][0]
            rows.append(
                {
                    "benchmark": f"gt/bd whole process ({kind})",
                    "case": case + (f", goal <= {goal}x" if goal else ""),
                    "value": statistics.median(values),
                    "unit": "ms",
                    "baseline": base,
                }
            )
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
