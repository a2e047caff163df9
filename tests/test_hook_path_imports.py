"""The per-prompt hook path imports only what it uses (issue 19): every prompt of every agent runs one
of these commands, so an import that creeps onto it costs thousands of process starts an hour. The
read commands agents run most (``gt prime``, ``gt bead ready --json``, ``gt status``) share the path.

Each command runs as a real process through the ``gt`` console script, under ``python -X importtime``
(which lists every module the process imports, in stderr), in a town with a polecat that has a bead
on its hook, unread mail and a queued nudge, so every branch of the hook's work runs. The command's
own output is checked too: the fast path answers exactly as the click commands do.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from core import git, mail, mq, polecats
from core.beads import sync as ledger_sync
from core.beads.store import BeadStore
from core.nudge import nudge
from core.rigs import add_rig, load_rig
from core.town import Town
from core.worktrees import ensure_worktree
from tests.conftest import VENV_BIN

#: The project modules the hook commands may import (their union): the town, its database, the
#: ledger's read side, roles, mail, agent state, nudges' queue, the brief and the record base classes.
ALLOWED = {
    "core",
    "core.actor",
    "core.agent_hooks",
    "core.agent_state",
    "core.atomic",
    "core.beads",
    "core.beads.guard",
    "core.beads.ids",
    "core.beads.model",
    "core.beads.ready",
    "core.beads.routes",
    "core.beads.store",
    "core.db",
    "core.errors",
    "core.events",
    "core.filemodes",
    "core.handoff",
    "core.mail",
    "core.names",
    "core.nudge",
    "core.nudge_queue",
    "core.plaintext",
    "core.polecats",
    "core.prime",
    "core.records",
    "core.roles",
    "core.session_names",
    "core.town",
    "gastown_tui",
    "gastown_tui.gt",
    "gastown_tui.hookpath",
}
#: Standard-library modules that cost more than the hook's own work, none of which it needs: a process
#: (subprocess), file writing machinery (tempfile, shutil), TOML (the hook reads no setting), OpenSSL
#: hashes (no bead id is minted, the ledger guard's stat check comes first), option parsers, logging;
#: typing (annotations only: ``TYPE_CHECKING = False`` blocks), and what ``inspect`` imports (dis, ast,
#: tokenize: dataclasses' import of inspect and copy is deferred, :func:`gastown_tui.hookpath.defer_imports`).
HEAVY_STDLIB = {
    "argparse",
    "ast",
    "asyncio",
    "copy",
    "dis",
    "email",
    "getpass",
    "hashlib",
    "inspect",
    "logging",
    "optparse",
    "shutil",
    "subprocess",
    "tempfile",
    "tokenize",
    "tomllib",
    "typing",
    "uuid",
}
HOOKS = {
    "session-start hook (gt prime --hook)": (["prime", "--hook"], "{}"),
    "prompt hook (gt agent hook prompt)": (["agent", "hook", "prompt"], json.dumps({"prompt": "go on"})),
    "stop hook (gt agent hook stop)": (["agent", "hook", "stop"], "{}"),
    "mail hook (gt mail check --inject)": (["mail", "check", "--inject"], ""),
}
#: The read commands agents run most, on the same lean path (exactly these words), run in a town
#: whose ledger is flushed: after a change, a command asks for the ledger sync (core.beads.sync, git).
READS = {
    "brief (gt prime)": (["prime"], ""),
    "ready work (gt bead ready --json)": (["bead", "ready", "--json"], ""),
    "town summary (gt status)": (["status"], ""),
}
#: What ``gt status`` reads beyond the hooks' modules: the rigs and town.toml (core.config; tomllib,
#: which imports typing), the sling and merge queues, convoys, escalations and the engine's pid file.
STATUS_ALLOWED = ALLOWED | {
    "core.config",
    "core.convoys",
    "core.escalation",
    "core.mq",
    "core.pidfile",
    "core.rigs",
    "core.scheduler",
}


#: What ``gt done`` imports beyond the hooks' modules: its rule (core.done, core.secrets), git (a
#: process: subprocess), the rig and its settings (tomllib), the merge queue, boards, convoys, the
#: upstream start point, and the ledger sync request its change makes.
DONE_ALLOWED = STATUS_ALLOWED | {
    "core.beads.sync",
    "core.board",
    "core.done",
    "core.git",
    "core.remote",
    "core.secrets",
    "core.upstream",
    "core.worktrees",
}


@pytest.fixture
def polecat_town(town: Town, git_repo: Path) -> Town:
    """A rig ``demo`` and polecat ``nux`` with a hooked bead, an unread message and a queued nudge,
    all written by agents (markup, an escape sequence, a newline)."""
    rig = add_rig(town, "demo", str(git_repo))
    with BeadStore(town) as store:
        bead = store.create("Fix [red]the[/] parser\x1b[2J", actor="t", prefix=rig.prefix).id
        store.hook(bead, "demo/polecats/nux", actor="t")
        polecats.upsert(store.db, "demo", "nux", state="working", hook_bead=bead, session="demo-nux")
        mail.send(town, "demo/polecats/nux", "read [bold]me[/]\x1b]0;pwned\x07", "body\nline", "mayor/", db=store.db)
    nudge(town, "demo/nux", "check the tests [red]now[/]", "queue", sender="mayor/")
    return town


def _startup_modules() -> set[str]:
    """What the interpreter itself imports before any command (site, .pth hooks, sitecustomize)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True, timeout=60
    )
    return _imported(proc.stderr)


def _imported(stderr: str) -> set[str]:
    """The modules a ``-X importtime`` run imported, from its stderr; a probe of a module that does
    not exist (the stdlib's ``copy`` tries Jython's ``org.python.core``) is not an import."""
    names = {line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith("import time:")}
    names.discard("imported package")
    return {n for n in names if importlib.util.find_spec(n.split(".")[0]) is not None}


def _run(
    town: Town, gt_env: dict[str, str], args: list[str], stdin: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``gt ARGS`` as the polecat's hook does, under ``-X importtime``: (the process, every module
    it imported)."""
    return _run_in(town.root, town, gt_env, args, stdin)


def _run_in(
    cwd: Path, town: Town, gt_env: dict[str, str], args: list[str], stdin: str = ""
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """:func:`_run` in directory ``cwd``, with the polecat's variables of ``gt_env`` taking precedence
    over nux's."""
    env = {
        **gt_env,
        "GT_TOWN": str(town.root),
        "GT_ROLE": "polecat",
        "GT_RIG": "demo",
        "GT_POLECAT": "nux",
        "GT_SESSION": "demo-nux",
        "BD_ACTOR": "demo/polecats/nux",
        "GT_LEDGER_SYNC": "off",
    }
    env.update({k: v for k, v in gt_env.items() if k in ("GT_POLECAT", "GT_SESSION", "BD_ACTOR")})
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(VENV_BIN / "gt"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=cwd,
    )
    modules = _imported(proc.stderr)
    assert modules, proc.stderr
    return proc, modules - _startup_modules()


@pytest.mark.parametrize("hook", list(HOOKS) + list(READS))
def test_a_hook_command_imports_no_library_and_only_its_modules(polecat_town: Town, gt_env, hook: str) -> None:
    args, stdin = {**HOOKS, **READS}[hook]
    if hook in READS:
        ledger_sync.sync(polecat_town)  # a flushed town (a read after a change asks for the sync: git)
    proc, modules = _run(polecat_town, gt_env, args, stdin)
    assert proc.returncode == 0, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert not errors, errors
    top = {m.split(".")[0] for m in modules}
    third_party = sorted(top - set(sys.stdlib_module_names) - {"core", "gastown_tui"})
    assert not third_party, f"{hook} imports libraries (click, sqlite_utils, tomlkit, filelock...): {third_party}"
    project = {m for m in modules if m.split(".")[0] in ("core", "gastown_tui")}
    allowed = STATUS_ALLOWED if args == ["status"] else ALLOWED
    assert project <= allowed, f"{hook} imports project modules beyond the hook path: {sorted(project - allowed)}"
    heavy = sorted(top & (HEAVY_STDLIB - {"tomllib", "typing"} if args == ["status"] else HEAVY_STDLIB))
    assert not heavy, f"{hook} imports heavy standard-library modules it does not need: {heavy}"


def test_the_hooks_answer_as_the_click_commands_do(polecat_town: Town, gt_env) -> None:
    """Same output from the lean path and from click (``--town`` given twice is not a hook shape, so
    it goes through click): the brief with the hooked bead, the mail reminder with the queued nudge,
    and no escape sequence in any of it."""
    town = str(polecat_town.root)
    brief, _ = _run(polecat_town, gt_env, ["prime", "--hook"], "{}")
    via_click, modules = _run(polecat_town, gt_env, ["--town", town, "--town", town, "prime", "--hook"], "{}")
    assert "click" in {m.split(".")[0] for m in modules}
    assert brief.stdout == via_click.stdout
    assert "Fix [red]the[/] parser" in brief.stdout and "read [bold]me[/]" in brief.stdout
    reminder, _ = _run(polecat_town, gt_env, ["mail", "check", "--inject"], "")
    assert "<system-reminder>" in reminder.stdout and "read [bold]me[/]" in reminder.stdout
    assert "check the tests [red]now[/]" in reminder.stdout  # the queued nudge, drained
    again, _ = _run(polecat_town, gt_env, ["--town", town, "--town", town, "mail", "check", "--inject"], "")
    assert "read [bold]me[/]" in again.stdout and "check the tests" not in again.stdout  # drained once
    for out in (brief.stdout, reminder.stdout, again.stdout):
        assert "\x1b" not in out and "\x07" not in out


def test_gt_status_makes_the_tables_of_the_modules_it_reads(polecat_town: Town, gt_env) -> None:
    """A database made by processes that never imported the sling queue or the merge queue (their
    tables dropped here) still answers ``gt status``: the lean path opens its store after importing
    those modules, so the open creates their tables (core.db.connect applies the registered schemas)."""
    ledger_sync.sync(polecat_town)
    conn = sqlite3.connect(polecat_town.db_path)
    with conn:
        conn.execute("DROP TABLE sling_queue")
        conn.execute("DROP TABLE merge_requests")
    conn.close()
    proc, _ = _run(polecat_town, gt_env, ["status"], "")
    assert proc.returncode == 0, proc.stderr
    assert "queued    0 to sling, 0 to merge" in proc.stdout


def test_gt_done_runs_lean_and_answers_as_its_click_command_does(polecat_town: Town, gt_env) -> None:
    """Bare ``gt done`` in a polecat's worktree runs without click (only its own modules, no heavy
    library) and prints what the click command prints (``--town`` twice: through click), each for
    its own polecat with one commit of work; both leave the worktree detached at the commit of the
    MR, the move in the worktree's reflog as ``git checkout --detach`` writes it, git agreeing."""
    rig = load_rig(polecat_town, "demo")
    town = str(polecat_town.root)
    answers, heads = {}, {}
    for name, how in (("lean", []), ("viaclick", ["--town", town, "--town", town])):
        with BeadStore(polecat_town) as store:
            bead = store.create(f"Work of {name} [red]x[/]", actor="t", prefix=rig.prefix).id
            store.hook(bead, f"demo/polecats/{name}", actor="t")
            path, branch, _ = ensure_worktree(rig, name, bead)
            polecats.upsert(store.db, "demo", name, state="working", hook_bead=bead, branch=branch, worktree=str(path))
        (path / "work.txt").write_text(f"{name}\n")
        git.commit_all(path, f"{bead}: work", env={"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": "p@x"})
        ledger_sync.sync(polecat_town)
        env = {**gt_env, "GT_POLECAT": name, "GT_SESSION": f"demo-{name}", "BD_ACTOR": f"demo/polecats/{name}"}
        proc, modules = _run_in(path, polecat_town, env, [*how, "done"])
        assert proc.returncode == 0, proc.stderr
        with BeadStore(polecat_town) as store:
            (mr,) = [m for m in mq.of_bead(store.db, bead) if m.branch == branch]
        answers[name] = proc.stdout.replace(bead, "BEAD").replace(mr.id, "MR").replace(name, "NAME")
        heads[name] = (path, branch, mr.head_sha)
        top = {m.split(".")[0] for m in modules}
        if not how:
            third_party = sorted(top - set(sys.stdlib_module_names) - {"core", "gastown_tui"})
            assert not third_party, f"gt done imports libraries: {third_party}"
            project = {m for m in modules if m.split(".")[0] in ("core", "gastown_tui")}
            assert project <= DONE_ALLOWED, sorted(project - DONE_ALLOWED)
            heavy = sorted(top & (HEAVY_STDLIB - {"shutil", "subprocess", "tomllib", "typing"}))
            assert not heavy, f"gt done imports heavy standard-library modules it does not need: {heavy}"
        else:
            assert "click" in top
    assert (
        answers["lean"]
        == answers["viaclick"]
        == "BEAD: 1 commit(s) on polecat/NAME/BEAD queued as MR; demo/polecats/NAME is idle\n"
    )
    for path, branch, sha in heads.values():
        assert git.run_git(["symbolic-ref", "-q", "HEAD"], cwd=path, check=False).returncode == 1
        assert git.run_git(["rev-parse", "HEAD"], cwd=path).stdout.strip() == sha
        assert git.run_git(["status", "--porcelain"], cwd=path).stdout == ""
        reflog = git.run_git(["reflog", "-1", "--format=%gs"], cwd=path).stdout.strip()
        assert reflog == f"checkout: moving from {branch} to HEAD"


def test_the_lean_read_commands_answer_as_the_click_commands_do(polecat_town: Town, gt_env) -> None:
    """``gt prime`` and ``gt bead ready --json`` print what their click commands print (``--town``
    twice sends them through click), agent text without escape sequences; given a directory that is
    not a town both refuse with the same line and exit 2."""
    town = str(polecat_town.root)
    for args, _ in READS.values():
        lean, _ = _run(polecat_town, gt_env, args, "")
        via_click, modules = _run(polecat_town, gt_env, ["--town", town, "--town", town, *args], "")
        assert "click" in {m.split(".")[0] for m in modules}
        assert lean.returncode == via_click.returncode == 0, lean.stderr
        assert lean.stdout == via_click.stdout and "\x1b" not in lean.stdout
    brief, _ = _run(polecat_town, gt_env, ["prime"], "")
    assert "Fix [red]the[/] parser" in brief.stdout and "read [bold]me[/]" in brief.stdout
    ready, _ = _run(polecat_town, gt_env, ["bead", "ready", "--json"], "")
    assert isinstance(json.loads(ready.stdout), list)
    for args, _ in READS.values():
        outside = [
            subprocess.run(
                [str(VENV_BIN / "gt"), *how, *args], capture_output=True, text=True, env=gt_env, timeout=60, cwd=town
            )
            for how in (["--town", "/"], ["--town", "/", "--town", "/"])
        ]
        assert outside[0].returncode == outside[1].returncode == 2
        assert (
            outside[0].stderr
            == outside[1].stderr
            == "gt: / is not a town (no town.toml): run 'gt install /' to make one\n"
        )


def test_a_failing_hook_never_fails_its_agent(tmp_path: Path, gt_env) -> None:
    """Outside a town every hook exits 0 with one line on stderr (the agent's turn goes on)."""
    for hook, (args, stdin) in HOOKS.items():
        proc = subprocess.run(
            [str(VENV_BIN / "gt"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**gt_env, "GT_SESSION": "demo-nux"},
            timeout=60,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, (hook, proc.stderr)
        assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1, (hook, proc.stderr)


DEFERRED_USE = '''
import sys
from gastown_tui.hookpath import defer_imports
defer_imports()
import dataclasses, inspect
@dataclasses.dataclass
class Told:
    """Documented."""
    x: int
ran = sorted(m for m in ("dis", "ast", "tokenize") if m in sys.modules)
@dataclasses.dataclass
class Untold:
    x: list
from inspect import cleandoc
print(ran, Untold.__doc__, cleandoc("  a"), dataclasses.asdict(Untold([1])), sys.modules["inspect"] is inspect)
'''


def test_a_deferred_module_is_the_real_one_once_used() -> None:
    """What :func:`gastown_tui.hookpath.defer_imports` defers stays unrun through ``import`` and a
    dataclass with a docstring, and is the real module (the same object) at its first use: a
    dataclass without a docstring (the one use dataclasses makes of inspect), ``from inspect import``,
    ``copy.deepcopy`` through ``dataclasses.asdict``."""
    proc = subprocess.run([sys.executable, "-P", "-c", DEFERRED_USE], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[] Untold(x: list) a {'x': [1]} True\n"


#: bd's lean reads (gastown_tui.bdpath); {bead} is the polecat's hooked bead.
BD_READS = {
    "bd ready --json": ["ready", "--json"],
    "bd show --json": ["show", "{bead}", "--json"],
    "bd show, one id unknown": ["show", "{bead}", "zz-nope", "--json"],
    "bd show, none found": ["show", "zz-nope", "--json"],
}


def _bd(town: Town, gt_env: dict[str, str], args: list[str], via_click: bool) -> subprocess.CompletedProcess[str]:
    """``bd ARGS`` under ``-X importtime`` in ``town``: through the console script, or (``via_click``)
    straight through its click commands (gastown_tui.bd_cli.main)."""
    entry = (
        ["-c", "import sys; from gastown_tui.bd_cli import main; sys.argv[0] = 'bd'; main()"]
        if via_click
        else [str(VENV_BIN / "bd")]
    )
    env = {**gt_env, "GT_TOWN": str(town.root), "BD_ACTOR": "demo/polecats/nux", "GT_LEDGER_SYNC": "off"}
    return subprocess.run(
        [sys.executable, "-X", "importtime", *entry, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=town.root,
    )


def errors(proc: subprocess.CompletedProcess[str]) -> list[str]:
    """The lines of ``proc``'s stderr that ``-X importtime`` did not write."""
    return [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]


def test_bd_lean_verbs_import_no_click_and_answer_as_its_click_verbs_do(polecat_town: Town, gt_env) -> None:
    """``bd ready --json``, ``bd show ID... --json``, ``bd close ID...`` and ``bd update ID... --status
    S`` print, on stdout and stderr, what bd's click verbs print, with the same exit status (1: nothing
    found or all refused), without importing click (the reads: no project module beyond the hook path
    and the bd verbs); the writes change the beads as the click verbs do."""
    ledger_sync.sync(polecat_town)
    with BeadStore(polecat_town) as store:
        bead = store.list(assignee="demo/polecats/nux", issue_type="task")[0].id
    for name, shape in BD_READS.items():
        args = [a.format(bead=bead) for a in shape]
        lean, click_run = _bd(polecat_town, gt_env, args, False), _bd(polecat_town, gt_env, args, True)
        assert lean.returncode == click_run.returncode, (name, lean.stderr)
        assert lean.stdout == click_run.stdout, name

        assert errors(lean) == errors(click_run), name
        modules = _imported(lean.stderr) - _startup_modules()
        top = {m.split(".")[0] for m in modules}
        assert "click" not in top and not top & HEAVY_STDLIB, (name, sorted(top & HEAVY_STDLIB))
        project = {m for m in modules if m.split(".")[0] in ("core", "gastown_tui")}
        allowed = ALLOWED | {"core.beads.verbs", "gastown_tui.bd", "gastown_tui.bdpath"}
        assert project <= allowed, (name, sorted(project - allowed))
    with BeadStore(polecat_town) as store:  # twin beads for the writes, one per path
        twins = [[store.create("Write [red]x[/]\x1b[2J", actor="t").id for _ in range(2)] for _ in range(4)]
    writes = {
        "bd update --status": lambda ids: ["update", *ids, "--status", "in_progress"],
        "bd close": lambda ids: ["close", *ids],
        "bd close, one id unknown": lambda ids: ["close", ids[0], "zz-nope"],
        "bd update, a bad status": lambda ids: ["update", ids[0], "--status", "nonsense"],
    }
    for (name, shape), (a, b) in zip(writes.items(), twins, strict=True):
        lean, click_run = _bd(polecat_town, gt_env, shape([a]), False), _bd(polecat_town, gt_env, shape([b]), True)
        assert lean.returncode == click_run.returncode, (name, lean.stderr)
        assert lean.stdout.replace(a, "ID") == click_run.stdout.replace(b, "ID"), name
        assert [e.replace(a, "ID") for e in errors(lean)] == [e.replace(b, "ID") for e in errors(click_run)], name
        top = {m.split(".")[0] for m in _imported(lean.stderr) - _startup_modules()}
        assert "click" not in top and not top & HEAVY_STDLIB, (name, sorted(top & HEAVY_STDLIB))
    with BeadStore(polecat_town) as store:
        assert [store.get(i).status for i in twins[0]] == ["in_progress", "in_progress"]
        assert [store.get(i).status for i in twins[1]] == ["closed", "closed"]
    shown = json.loads(_bd(polecat_town, gt_env, ["show", bead, "--json"], False).stdout)
    assert [b["id"] for b in shown] == [bead] and shown[0]["title"] == "Fix [red]the[/] parser\x1b[2J"
    none = _bd(polecat_town, gt_env, ["show", "zz-nope", "--json"], False)
    assert none.returncode == 1 and json.loads(none.stdout)["error"] == "no issues found matching the provided IDs"


#: ``bd create`` command lines, each run on both paths (agents' shapes: gastown's templates, AGENTS.md);
#: {bead} is the polecat's hooked bead.
BD_CREATES = {
    "positional title, JSON": ["create", "Found [red]it[/]\x1b[2J", "--json"],
    "every option, JSON": [
        "create",
        "--title=Wire it",
        "-t",
        "bug",
        "--priority",
        "P1",
        "-a",
        "me",
        "-l",
        "a,b",
        "--label=c",
        "--labels",
        "b, d",
        "--deps",
        "discovered-from:{bead}",
        "-d",
        "--not-a-flag",
        "--design=d",
        "--acceptance",
        "",
        "--notes",
        "n\nm",
        "--metadata",
        '{"k": [1]}',
        "--actor",
        "demo/crew/max",
        "--json",
    ],
    "a child, text feedback": ["create", "Step two", "--parent", "{bead}"],
    "ephemeral, silent": ["create", "cleanup", "--ephemeral", "--silent", "-t", "chore", "-p", "3"],
    "another prefix": ["create", "--prefix", "hq-", "Cross-rig work", "--json"],
    "the same title twice": ["create", "Same", "--title", "Same", "--silent"],
    "--json as a value (JSON all the same)": ["create", "--title", "--json"],
    "a description from a file": ["create", "Filed", "--body-file", "{file}"],
    "no title, JSON error": ["create", "--json", "-p", "1"],
    "two titles": ["create", "One", "--title=Two"],
    "bad priority, JSON error": ["create", "X", "-p", "P9", "--json"],
    "unknown parent": ["create", "Orphan", "--parent", "zz-nope"],
    "unknown dependency": ["create", "Late", "--deps", "zz-nope", "--json"],
    "metadata not JSON": ["create", "Meta", "--metadata", "{nope"],
}
#: ``bd create`` lines the lean path leaves to click (its help, its usage errors): the same answer.
BD_CREATE_CLICK = {
    "help": ["create", "--help"],
    "an unknown option": ["create", "X", "--nope"],
    "an option without its value": ["create", "X", "-p"],
    "a flag given a value": ["create", "X", "--silent=yes"],
    "a second title": ["create", "X", "Y"],
}
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def _bd_created(
    town: Town, gt_env: dict[str, str], args: list[str], via_click: bool
) -> tuple[subprocess.CompletedProcess[str], list[str], str | None]:
    """Run ``bd ARGS``; (the process, the errors it printed, the id of the bead it made or None), its
    output with that id written ``ID`` and every timestamp ``TS`` (both paths mint their own)."""
    with BeadStore(town) as store:
        before = {i.id for i in store.iter_all()}
    proc = _bd(town, gt_env, args, via_click)
    with BeadStore(town) as store:
        made = sorted({i.id for i in store.iter_all()} - before)
    assert len(made) <= 1, made
    new = made[0] if made else None

    def plain(text: str) -> str:
        return _STAMP.sub("TS", text.replace(new, "ID") if new else text)

    proc.stdout = plain(proc.stdout)
    return proc, [plain(e) for e in errors(proc)], new


def test_bd_create_runs_without_click_and_answers_as_its_click_verb_does(
    polecat_town: Town, gt_env, tmp_path: Path
) -> None:
    """``bd create`` with any of its options prints, on stdout and stderr, what its click verb prints,
    with the same exit status, makes the same bead (fields, labels, edges, creator) or none at all,
    without importing click, a heavy standard-library module (OpenSSL's hashlib included) or a
    project module beyond the bd verbs, the ledger's read side and the sync request. Command lines
    it leaves to click get click's answer."""
    ledger_sync.sync(polecat_town)
    with BeadStore(polecat_town) as store:
        bead = store.list(assignee="demo/polecats/nux", issue_type="task")[0].id
    body = tmp_path / "body.md"
    body.write_text("## From a file\n`id`; $(x)\n")
    for name, shape in BD_CREATES.items():
        args = [a.replace("{bead}", bead).replace("{file}", str(body)) for a in shape]
        lean, lean_errors, lean_id = _bd_created(polecat_town, gt_env, args, False)
        via_click, click_errors, click_id = _bd_created(polecat_town, gt_env, args, True)
        assert lean.returncode == via_click.returncode, (name, lean_errors)
        assert lean.stdout == via_click.stdout and lean_errors == click_errors, name
        assert "\x1b" not in lean.stdout and not any("\x1b" in e for e in lean_errors), name
        assert (lean_id is None) == (click_id is None) == (lean.returncode != 0), (name, lean_errors)
        if lean_id is not None and click_id is not None:
            with BeadStore(polecat_town) as store:
                ours, theirs = store.get(lean_id).as_dict(), store.get(click_id).as_dict()
            assert len(lean_id) == len(click_id), name
            for field in ("id", "created_at", "updated_at"):
                ours.pop(field), theirs.pop(field)
            for dep in ours["dependencies"] + theirs["dependencies"]:
                dep.pop("issue_id"), dep.pop("created_at")
            assert ours == theirs, name
        modules = _imported(lean.stderr) - _startup_modules()
        top = {m.split(".")[0] for m in modules}
        assert "click" not in top and not top & HEAVY_STDLIB, (name, sorted(top & HEAVY_STDLIB))
        project = {m for m in modules if m.split(".")[0] in ("core", "gastown_tui")}
        allowed = ALLOWED | {
            "core.beads.verbs",
            "core.beads.sync",
            "core.pidfile",
            "gastown_tui.bd",
            "gastown_tui.bdpath",
        }
        assert project <= allowed, (name, sorted(project - allowed))
    every = [a.replace("{bead}", bead) for a in BD_CREATES["every option, JSON"]]
    made = json.loads(_bd(polecat_town, gt_env, every, False).stdout)
    assert made["description"] == "--not-a-flag" and made["labels"] == ["a", "b", "c", "d"]
    assert made["created_by"] == "demo/crew/max" and made["metadata"] == {"k": [1]} and made["priority"] == 1
    for name, args in BD_CREATE_CLICK.items():
        lean, lean_errors, lean_id = _bd_created(polecat_town, gt_env, args, False)
        via_click, click_errors, _ = _bd_created(polecat_town, gt_env, args, True)
        assert (lean.returncode, lean.stdout, lean_errors) == (via_click.returncode, via_click.stdout, click_errors)
        assert "click" in {m.split(".")[0] for m in _imported(lean.stderr)}, name
        assert lean_id is None and (lean.returncode == 0) == (name == "help"), (name, lean_errors)


def test_the_sim_agent_starts_without_click_and_answers_as_its_click_command_does(polecat_town: Town, gt_env) -> None:
    """``gt agent sim PROMPT`` (how a sling starts the sim) runs on the lean path: no click, and over a
    pipe the same screen as the click command's, the prompt shown first."""
    town = str(polecat_town.root)
    beacon = "[gas town] work on hq-abc"
    lean, modules = _run(polecat_town, gt_env, ["agent", "sim", beacon], "work\nexit\n")
    via_click, click_modules = _run(
        polecat_town, gt_env, ["--town", town, "--town", town, "agent", "sim", beacon], "work\nexit\n"
    )
    assert "click" in {m.split(".")[0] for m in click_modules}
    assert "click" not in {m.split(".")[0] for m in modules}, sorted(modules)
    assert lean.returncode == via_click.returncode == 0, lean.stderr
    assert lean.stdout == via_click.stdout
    assert lean.stdout.startswith(beacon + "\n") and "bye" in lean.stdout
