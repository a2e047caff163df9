"""Bad arguments to any ``gt`` command end in one line and exit 2, never a traceback, and a refused
command changes nothing stored (issue 15 item 10, the command line's argument parsing).

A hypothesis fuzz runs every command that needs no tmux, git remote or long-running process
in-process (``gastown_tui.cli.main`` under click's ``CliRunner.isolation``) with hostile values for
its arguments and options: invalid UTF-8 (``surrogateescape``), huge and non-finite numbers, deep
JSON nesting, very long strings, escapes and markup. Real ``gt`` processes (``python -P``) cover
the same inputs the way a shell passes them (bytes).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.beads.store import BeadStore
from core.town import Town
from gastown_tui import cli
from tests.conftest import VENV_BIN

ROOT = Path(__file__).resolve().parent.parent

#: Commands left out: they start tmux sessions or the engine, serve until interrupted (dashboard:
#: tests/test_dashboard.py tries its bad hosts and ports), clone or create towns, replace the
#: process (attach), follow forever, or write a file at the path they are given (a random absolute
#: path); ``doctor`` takes only flags and exits 1 as its verdict on the town, not on its arguments.
#: Their argument types are the same clikit types fuzzed here; the real-process cases below try the
#: path command.
SKIP = {
    ("up",),
    ("down",),
    ("sling",),
    ("unsling",),
    ("done",),
    ("checkpoint",),
    ("install",),
    ("mayor",),
    ("agent",),
    ("peek",),
    ("nudge",),
    ("broadcast",),
    ("completion",),
    ("rig", "add"),
    ("formula", "run"),
    ("bead", "export"),
    ("doctor",),
    ("dashboard",),
}
#: Options left out: ``--help``, and the two that run until interrupted: ``gt feed --follow`` (prints new
#: events) and ``gt status --watch`` (redraws every --interval seconds when drawn without ``--count``).
NEVER_OPTIONS = {"help", "follow", "watch"}
HOSTILE = [
    "\udcff\udcfe",
    "9" * 30,
    "-" + "9" * 25,
    "1e400",
    "inf",
    "nan",
    "-inf",
    "-1",
    "0",
    "",
    " ",
    "x" * 5000,
    "1" * 5000,
    "[" * 100000,
    '{"a":' * 50000,
    "[/]",
    "[@click=app.quit]x[/]",
    "\x1b]0;pwned\x07",
    "\x1b[2J",
    "\x9b",
    "\x03\x04",
    "../x",
    "-rf",
    "a;b",
    "$(id)",
    "99999999999999999999d",
    "1e309d",
    "-5m",
    "2:x",
    "{",
    "9223372036854775808",
    "０１",
    "\u202e",
    "' OR 1=1 --",
    "%s%n",
    "mayor/",
    "@town",
    "hq-",
    "-",
    "/",
    ".",
    "\n",
    "--",
    "blocks:" + "x" * 300,
    "a,,b",
]
VALUE = st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=40))


def _leaves() -> list[tuple[tuple[str, ...], click.Command]]:
    """Every ``gt`` command (path, command) not in :data:`SKIP`."""
    ctx = click.Context(cli.cli)
    found: list[tuple[tuple[str, ...], click.Command]] = []

    def walk(cmd: click.Command, path: tuple[str, ...]) -> None:
        if path in SKIP:
            return
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None
                walk(sub, (*path, name))
        else:
            found.append((path, cmd))

    walk(cli.cli, ())
    return found


LEAVES = _leaves()


@st.composite
def invocations(draw: st.DrawFn) -> list[str]:
    """argv for one command: a value for each argument, then some of its options with values."""
    path, cmd = draw(st.sampled_from(LEAVES))
    argv = list(path)
    for param in cmd.params:
        if isinstance(param, click.Argument):
            argv += [draw(VALUE) for _ in range(1 if param.nargs == 1 else draw(st.integers(1, 2)))]
    options = [p for p in cmd.params if isinstance(p, click.Option) and p.name not in NEVER_OPTIONS]
    for opt in draw(st.lists(st.sampled_from(options), max_size=3, unique_by=lambda o: o.name)) if options else []:
        name = opt.opts[-1]
        argv += [name] if opt.is_flag else [name, draw(VALUE)]
    return argv


def state(town: Town) -> str:
    """A digest of everything stored: the database's rows (SQL dump) and the town's files."""
    h = hashlib.sha256()
    conn = sqlite3.connect(f"file:{town.db_path}?mode=ro", uri=True)
    try:
        for line in conn.iterdump():
            h.update(line.encode("utf-8", "surrogatepass"))
    finally:
        conn.close()
    for path in sorted(
        p
        for p in town.root.rglob("*")
        if p.is_file() and ".git" not in p.parts and not p.name.startswith("town.db") and p.parent.name != "logs"
    ):
        h.update(str(path).encode() + path.read_bytes())
    return h.hexdigest()


def run_in_process(argv: list[str]) -> tuple[int, str]:
    """``gt ARGV`` in this process: (exit status, stderr). An exception escaping is a traceback."""
    with CliRunner().isolation() as streams:
        try:
            cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # main always exits
            raise AssertionError(f"gt {argv[:4]} returned instead of exiting")
        err = streams[1].getvalue().decode("utf-8", "replace")
    return code, err


#: Commands whose exit status answers a question (Gas Town's ``gt mail check``: 1 = no new mail),
#: silently: that status, with nothing on stderr, is an answer, not a failure.
STATUS_EXITS: dict[tuple[str, ...], int] = {("mail", "check"): 1}


#: The modules that register tables (core.db.register_schema): a database gets a module's tables at
#: its first open after that module's import, so a refused command that is the first of a process to
#: import, say, core.board would add the board's empty tables to the town. The fixture opens the town
#: with all of them imported, as any long-lived town has been, so each example starts from the whole
#: schema and a change the digest sees is a change of what is stored.
SCHEMA_MODULES = (
    "core.agent_state", "core.beads.store", "core.board", "core.board_work", "core.events", "core.mq",
    "core.nudge_queue", "core.polecats", "core.scheduler", "core.upstream", "core.usage",
)  # fmt: skip


def test_the_schema_modules_are_all_that_register_tables() -> None:
    found = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "core").rglob("*.py")
        if "register_schema(" in p.read_text(encoding="utf-8") and p.name != "db.py"
    }
    assert found == set(SCHEMA_MODULES)


@pytest.fixture
def fuzz_town(town: Town, monkeypatch: pytest.MonkeyPatch) -> Town:
    monkeypatch.setenv("GT_TOWN", str(town.root))
    monkeypatch.setenv("GT_LEDGER_SYNC", "off")
    monkeypatch.setenv("BD_ACTOR", "fuzzer")
    monkeypatch.chdir(town.root)
    for name in SCHEMA_MODULES:
        importlib.import_module(name)
    with BeadStore(town) as store:
        store.create("A bead to find", actor="fuzzer", prefix="hq")
    return town


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(argv=invocations())
def test_bad_arguments_are_one_line_and_exit_2_with_nothing_changed(fuzz_town: Town, argv: list[str]) -> None:
    before = state(fuzz_town)
    code, err = run_in_process(argv)
    assert "Traceback" not in err, (argv[:6], err)
    assert code in (0, 2) or (code, err) == (STATUS_EXITS.get(tuple(argv[:2])), ""), (argv[:6], code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gt: "), (argv[:6], err)
        assert state(fuzz_town) == before, f"refused gt {argv[:6]} changed what is stored"


@pytest.mark.parametrize(
    "args,message",
    [
        ([b"bead", b"create", b"caf\xe9 au lait"], b"is not valid UTF-8"),
        ([b"mail", b"send", b"mayor/", b"-s", b"\xff\xfe"], b"is not valid UTF-8"),
        ([b"bead", b"list", b"--limit", b"9" * 30], b"--limit"),
        ([b"feed", b"-n", b"9223372036854775808"], b"--limit"),
        ([b"mq", b"stats", b"--last", b"1" * 5000], b"--last"),
        ([b"nudge", b"mayor", b"hi", b"--mode", b"wait-idle", b"--timeout", b"nan"], b"finite number of seconds"),
        ([b"down", b"--timeout", b"inf"], b"--timeout"),
        ([b"bead", b"create", b"t", b"--metadata", b"[" * 100000], b"metadata is not usable JSON"),
        ([b"bead", b"show", b"[" * 100000], b"no bead matches"),
        ([b"bead", b"export", b"x" * 5000], b"cannot use"),
        ([b"bogus-command"], b"No such command"),
    ],
)
def test_a_real_gt_answers_bad_bytes_and_numbers_with_one_line(
    fuzz_town: Town, gt_env: dict[str, str], args: list[bytes], message: bytes
) -> None:
    before = state(fuzz_town)
    env = {**gt_env, "GT_TOWN": str(fuzz_town.root), "GT_LEDGER_SYNC": "off"}
    proc = subprocess.run(
        [os.fsencode(sys.executable), b"-P", os.fsencode(VENV_BIN / "gt"), *args],
        capture_output=True,
        env=env,
        cwd=fuzz_town.root,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(b"gt: ") and message in lines[0], proc.stderr
    assert b"Traceback" not in proc.stderr and proc.stdout == b""
    assert state(fuzz_town) == before
    lines[0].decode("utf-8")  # the refusal itself prints as UTF-8


def test_every_number_option_is_bounded() -> None:
    """No integer or float option of gt takes an unbounded or non-finite value (a new one must use
    clikit.count_type / clikit.Seconds or a range of its own)."""
    loose = []
    for path, cmd in _leaves() + [(("up",), cli.cli.get_command(click.Context(cli.cli), "up"))]:
        for p in cmd.params:
            t = p.type
            if isinstance(t, click.types.IntParamType) and not (isinstance(t, click.IntRange) and t.max is not None):
                loose.append((path, p.name))
            if isinstance(t, click.types.FloatParamType) and not (
                isinstance(t, click.FloatRange) and t.max is not None
            ):
                loose.append((path, p.name))
    assert not loose, f"unbounded number options: {loose}"


def test_state_digest_sees_a_change(fuzz_town: Town) -> None:
    """The digest the fuzz compares is not blind: a stored bead changes it."""
    before = state(fuzz_town)
    code, err = run_in_process(["bead", "create", "another"])
    assert code == 0, err
    assert state(fuzz_town) != before
    assert Path(fuzz_town.db_path).exists()


@pytest.mark.parametrize(
    "args", [["--no-ui", "run", "--convoy", "hq-cv-x", "--timeout", "nan"], ["demo", "--no-ui", "--timeout", "inf"]]
)
def test_the_cockpit_refuses_a_timeout_that_never_ends(fuzz_town: Town, gt_env: dict[str, str], args) -> None:
    before = state(fuzz_town)
    proc = subprocess.run(
        [sys.executable, "-P", str(VENV_BIN / "gastown-tui"), *args],
        capture_output=True,
        text=True,
        env={**gt_env, "GT_TOWN": str(fuzz_town.root)},
        cwd=fuzz_town.root,
        timeout=60,
    )
    assert proc.returncode == 2 and "--timeout" in proc.stderr, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and state(fuzz_town) == before
