"""README.md is a tested document: every command in it is run here or by a named test.

Conventions README.md follows (and this file checks):

- A ```sh block holds commands, one a line; a line starting with ``#`` and anything after an unquoted
  `` #`` is prose. :func:`test_the_readme_runs_top_to_bottom` runs every such command in README order
  with ``bash -c`` (the way a reader types it) in one temporary HOME: a real git repository stands in
  for ``~/src/myproj``, agents are ``sim``, tmux runs on the town's private socket (killed at the end).
  Each command must exit 0. ``cd`` and ``export`` lines change the state the next lines run in.
- A command that cannot run here (an interactive screen, the Makefile, the demo) is in :data:`MAPPED`
  with the test that runs it; a mapped command may also have a non-interactive probe run in its place.
  A README command that is neither run nor mapped fails the test.
- A ```toml block opens with ``# file: PATH`` (an edit the reader makes: applied to the tutorial's town
  at that point, key by key, or written when the file is new) or ``# example: town.toml`` /
  ``# example: <rig>/rig.toml`` (reference only). Every key of every block must be a key the code reads,
  and the block must load through the real loaders.
- The ```yaml block is the GitHub Actions example: :func:`test_github_actions_example_runs` runs its
  ``run:`` steps the way a runner would.
- Inline code that starts with ``gt`` or ``gastown-tui`` must name a real command and real options;
  commands in sh blocks must also parse (arguments, option values) with the real click commands.
- Images must exist under ``screenshots/`` and be PNG or SVG; the keys tables must match the
  cockpit's bindings.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import subprocess
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import tomlkit
from markdown_it import MarkdownIt

from core.config import RIG_TEMPLATE, TOWN_TEMPLATE, edit_toml
from core.formulas import parse_formula
from core.gates import load_gates
from core.runtimes import Preset, presets
from core.sessions import SessionHost
from core.town import Town, install_town
from tests.conftest import VENV_BIN, git, make_repo

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# ---------------------------------------------------------------------------------------------------
# The tables: what this test cannot run itself, and what it substitutes or waits for.

#: README command -> (test that runs it, probe or None). A probe is a non-interactive command run
#: here in the command's place, at its point in the tutorial.
MAPPED: dict[str, tuple[str, str | None]] = {
    "make demo": ("tests/test_demo.py::test_demo_headless_template", None),
    "make test": ("tests/test_readme.py::test_make_targets_do_what_the_readme_says", None),
    "make setup": ("tests/test_readme.py::test_make_targets_do_what_the_readme_says", None),
    "gastown-tui demo": ("tests/test_demo.py::test_demo_in_the_cockpit", None),
    "gastown-tui demo --no-ui --agents 2": ("tests/test_demo.py::test_demo_headless_template", None),
    "gastown-tui demo --repo ~/src/myproj": ("tests/test_demo.py::test_demo_headless_repo", None),
    "gastown-tui demo --dir /tmp/demo --timeout 900": ("tests/test_demo.py::test_demo_headless_template", None),
    "gastown-tui": ("tests/test_cockpit.py::test_sling_by_keyboard_multi_select_streams_the_polecat_terminal", None),
    "gt mayor attach": ("tests/test_mayor.py::test_attach_execs_tmux_attach", None),
    'tmux -L gt-$(printf %s "$(pwd -P)" | sha1sum | cut -c1-10) attach -t myproj-nux': (
        "tests/test_sessions.py::test_attach_argv_shows_the_session_in_a_terminal",
        'tmux -L gt-$(printf %s "$(pwd -P)" | sha1sum | cut -c1-10) has-session -t myproj-nux',
    ),
}

#: Example values in the README -> the README command whose output gives the real value, and the
#: regex (group 1) that finds it there. Bead and convoy ids are hashes: the README shows examples.
#: Paths need no substitution: HOME is the test's, so ~/gt and ~/src/myproj are real paths in it.
PLACEHOLDERS: dict[str, tuple[str, str]] = {
    "my-a3f": ('gt bead create "Add a greeting" -d "Write a friendly greeting to hello.txt" -p 1', r"Created (\S+):"),
    "my-b71": ('gt bead create "Add a farewell" -d "Write a goodbye to bye.txt"', r"Created (\S+):"),
    "my-c9d": (
        'gt bead create "Document both" -d "Mention hello.txt and bye.txt in the README" --deps my-a3f,my-b71',
        r"Created (\S+):",
    ),
    "hq-cv-4k2": ('gt formula run shiny --var feature="a --version flag" --rig myproj --agent sim', r"^(hq-cv-\w+)$"),
}

#: README command -> what a reader waits for before typing it, as a predicate on the run (filled in
#: below, next to the helpers the predicates use).
WAITS: dict[str, tuple[str, Callable[[Tutorial], bool]]] = {}

#: README command -> regexes its stdout must match (after placeholder substitution).
EXPECT: dict[str, list[str]] = {
    "gt --version": [r"version \d"],
    "gt rig add myproj ~/src/myproj": [r"landing direct: merged work is pushed to \S+/src/myproj$"],
    "gt rig list": [r"myproj\s+my\s+main\s+test\s+direct"],
    "gt ready": [r"my-a3f", r"my-b71"],
    "gt bead blocked": [r"my-c9d"],
    "gt sling my-a3f my-b71 myproj": [
        r"my-a3f slung to myproj/polecats/furiosa",
        r"my-b71 slung to myproj/polecats/nux",
    ],
    "gt peek": [r"^myproj-furiosa ", r"^myproj-nux "],
    "gt peek myproj-furiosa": [r"reading hook"],
    "gt mayor start": [r"mayor started"],
    "gt mq list": [r"mr-\d+\s+myproj\s+queued"],
    "gt up --detach": [r"engine up on"],
    "gt feed -n 20": [r"merged\s+my-a3f", r"merged\s+my-b71", r"convoy_landed"],
    "gt mq stats": [r"2 batches, 3 MRs: 3 merged, 0 failed, 0 conflicts; 2 gate runs"],
    "gt down": [r"engine stopped"],
    "git -C ~/src/myproj log --oneline --first-parent -3": [
        r"Merge polecat/\S+/my-c9d",
        r"Merge polecat/\S+/my-a3f",
        r"Merge polecat/\S+/my-b71",
    ],
    "gt rig sync myproj": [r"the rig's main is 0 behind, 0 ahead"],
    "gt config agent list": [r"^sim \*"],
    "gt formula show release-notes --var version=1.2.0": [r"draft: Draft the notes of 1\.2\.0"],
    "gastown-tui --no-ui run --convoy hq-cv-4k2 --agent sim --timeout 600": [
        r"convoy hq-cv-4k2 landed: 3/3 beads merged"
    ],
    "gastown-tui --no-ui run --formula demo --rig myproj --agent sim --summary run.json": [
        r"landed: 4/4 beads merged",
        r"summary written to \S+/gt/run\.json$",
    ],
    "gt status": [r"^engine\s+not running"],
    'tmux -L gt-$(printf %s "$(pwd -P)" | sha1sum | cut -c1-10) ls': [r"^mayor:"],
}


@dataclass
class Command:
    """One command of a sh block: its text (comment stripped) and its line (1-based) in README.md."""

    text: str
    line: int


@dataclass
class Block:
    """A fenced block: info string, body, first line (1-based) in README.md."""

    info: str
    body: str
    line: int


def readme_blocks() -> list[Block]:
    """Every fenced block of the README, in order."""
    return [
        Block(t.info.strip(), t.content, t.map[0] + 1 if t.map else 0)
        for t in MarkdownIt("commonmark").parse(README.read_text())
        if t.type == "fence"
    ]


def readme_inline() -> tuple[list[str], list[str]]:
    """(inline code spans, image sources) of the README, in order."""
    spans, images = [], []
    for tok in MarkdownIt("commonmark").parse(README.read_text()):
        for child in tok.children or []:
            if child.type == "code_inline":
                spans.append(child.content)
            elif child.type == "image":
                images.append(str(child.attrs["src"]))
    return spans, images


def split_comment(line: str) -> str:
    """``line`` without its shell comment: from an unquoted ``#`` that starts a word."""
    quote = ""
    i = 0
    while i < len(line):
        c = line[i]
        if quote == "'" and c == "'":
            quote = ""
        elif quote == "$'" and c == "\\":
            i += 1
        elif quote == "$'" and c == "'":
            quote = ""
        elif quote == '"' and c == "\\":
            i += 1
        elif quote == '"' and c == '"':
            quote = ""
        elif not quote:
            if c == "$" and line[i + 1 : i + 2] == "'":
                quote, i = "$'", i + 1
            elif c in "'\"":
                quote = c
            elif c == "#" and (i == 0 or line[i - 1].isspace()):
                return line[:i].rstrip()
        i += 1
    return line.rstrip()


def sh_commands(block: Block) -> list[Command]:
    """The commands of a sh block (comments and blank lines dropped)."""
    out = []
    for n, raw in enumerate(block.body.splitlines()):
        text = split_comment(raw.strip())
        if text:
            out.append(Command(text, block.line + 1 + n))
    return out


def all_commands() -> list[Command]:
    """Every command of every sh block, in README order."""
    return [c for b in readme_blocks() if b.info == "sh" for c in sh_commands(b)]


# ---------------------------------------------------------------------------------------------------
# The tutorial run.


def reader_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of a reader's shell: this one without GT_*/BD_* variables or an enclosing tmux,
    HOME at ``home``, the venv first on PATH (what ``export PATH=...`` in the README does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GT_", "BD_")) and k not in ("TMUX", "TMUX_PANE")}
    env.update(HOME=str(home), PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", **extra)
    return env


@dataclass
class Tutorial:
    """The state a reader's shell has: cwd and environment, and the ids gt printed."""

    home: Path
    cwd: Path
    env: dict[str, str]
    ids: dict[str, str] = dataclasses.field(default_factory=dict)
    handled: list[str] = dataclasses.field(default_factory=list)  # README commands run, probed or mapped

    @property
    def town(self) -> Path:
        return self.home / "gt"

    def sh(self, text: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", text],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def gt_json(self, *args: str) -> Any:
        proc = subprocess.run(
            [str(VENV_BIN / "gt"), "--town", str(self.town), *args, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def substitute(self, text: str) -> str:
        for example, real in self.ids.items():
            text = re.sub(rf"(?<![\w-]){re.escape(example)}(?![\w-])", real, text)
        return text


def _mrs(t: Tutorial) -> list[dict[str, Any]]:
    return t.gt_json("mq", "list")["mrs"]


def _statuses(t: Tutorial, beads: list[str]) -> list[str]:
    by_bead = {m["bead"]: m["status"] for m in reversed(_mrs(t))}
    return [by_bead.get(t.ids[b], "") for b in beads]


def _on_screen(t: Tutorial, session: str, text: str) -> bool:
    return text in SessionHost(Town(t.town)).capture(session)


WAITS.update(
    {
        "gt peek myproj-furiosa": (
            "furiosa's agent is on screen",
            lambda t: _on_screen(t, "myproj-furiosa", "reading hook"),
        ),
        'gt nudge myproj/polecats/nux "work"': (
            "both polecats ran gt done: two MRs queued",
            lambda t: _statuses(t, ["my-a3f", "my-b71"]) == ["queued", "queued"],
        ),
        "gt feed -n 20": (
            "the engine merged both MRs",
            lambda t: _statuses(t, ["my-a3f", "my-b71"]) == ["merged", "merged"],
        ),
        "gt mq stats": ("the third bead's MR merged", lambda t: _statuses(t, ["my-c9d"]) == ["merged"]),
    }
)


def wait_for(t: Tutorial, what: str, ok: Callable[[Tutorial], bool], timeout: float = 90) -> None:
    """Poll ``ok(t)`` every 0.3 s until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ok(t):
        assert time.monotonic() < deadline, f"waited {timeout:g} s for: {what}"
        time.sleep(0.3)


def apply_toml_edit(t: Tutorial, block: Block) -> Path:
    """Apply a ``# file: PATH`` toml block to the tutorial's town: merged key by key into PATH, or
    written when PATH does not exist yet. Returns the path."""
    first = block.body.splitlines()[0]
    path = Path(first.removeprefix("# file:").strip().replace("~", str(t.home), 1))
    if not path.exists():
        path.write_text(block.body)
        return path
    with edit_toml(path) as doc:
        _merge(doc, tomlkit.parse(block.body))
    return path


def _merge(doc: Any, new: Any) -> None:
    """Set every key of ``new`` in ``doc`` (tomlkit documents or dicts), recursing into tables both have."""
    for key, value in new.items():
        if key in doc and hasattr(doc[key], "items") and hasattr(value, "items"):
            _merge(doc[key], value)
        else:
            doc[key] = value


@pytest.fixture
def tutorial(tmp_path: Path):
    """A reader's machine: HOME in tmp with ~/src/myproj (a real git repository with a pytest suite),
    the venv on PATH, no GT_* variables. Teardown stops the town's engine and tmux server."""
    home = tmp_path / "home"
    make_repo(
        home / "src" / "myproj",
        {
            "README.md": "# myproj\n",
            "myproj.py": "def greet(name):\n    return f'hello {name}'\n",
            "tests/test_greet.py": "from myproj import greet\n\n\ndef test_greet():\n    assert greet('x') == 'hello x'\n",
            "pytest.ini": "[pytest]\npythonpath = .\n",
        },
    )
    (home / ".gitconfig").write_text(
        "[user]\n\tname = A Reader\n\temail = reader@example.com\n"
    )  # the reader's git identity
    env = reader_env(home)
    t = Tutorial(home=home, cwd=ROOT, env=env)
    yield t
    if (t.town / "town.toml").is_file():
        subprocess.run([str(VENV_BIN / "gt"), "--town", str(t.town), "down"], env=env, capture_output=True, timeout=90)
        SessionHost(Town(t.town)).kill_server()


def run_command(t: Tutorial, cmd: Command) -> None:
    """Run one README command as the reader would, with the waits, probes and checks of the tables."""
    where = f"README.md:{cmd.line}: {cmd.text}"
    mapped = MAPPED.get(cmd.text)
    if mapped is not None:
        if mapped[1] is None:
            t.handled.append(cmd.text)
            return
        text = t.substitute(mapped[1])
    else:
        text = t.substitute(cmd.text)
    unbound = [p for p in PLACEHOLDERS if p not in t.ids and re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", text)]
    assert not unbound, f"{where}: {unbound} used before the command that prints them ran"
    if (wait := WAITS.get(cmd.text)) is not None:
        wait_for(t, *wait)
    if text.startswith("cd "):
        proc = t.sh(f"{text} && pwd -P")
        assert proc.returncode == 0, f"{where}: {proc.stderr}"
        t.cwd = Path(proc.stdout.strip())
    elif text.startswith("export "):
        name = text.removeprefix("export ").split("=", 1)[0]
        proc = t.sh(f'{text} && printf %s "${name}"')
        assert proc.returncode == 0, f"{where}: {proc.stderr}"
        t.env[name] = proc.stdout
    else:
        proc = t.sh(text)
        assert proc.returncode == 0, f"{where}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        for pattern in EXPECT.get(cmd.text, []):
            assert re.search(t.substitute(pattern), proc.stdout, re.M), f"{where}: no {pattern!r} in\n{proc.stdout}"
        for example, (source, regex) in PLACEHOLDERS.items():
            if cmd.text == source:
                m = re.search(regex, proc.stdout, re.M)
                assert m, f"{where}: no {regex!r} in\n{proc.stdout}"
                t.ids[example] = m.group(1)
    t.handled.append(cmd.text)


def test_the_readme_runs_top_to_bottom(tutorial: Tutorial) -> None:
    """Every sh command of the README, in order, exits 0 (mapped ones run their probe or are skipped);
    toml edits are applied where the reader applies them. Then the merged work is where the README says."""
    t = tutorial
    for block in readme_blocks():
        if block.info == "sh":
            for cmd in sh_commands(block):
                run_command(t, cmd)
        elif block.info == "toml" and block.body.startswith("# file:"):
            apply_toml_edit(t, block)
    assert t.handled == [c.text for c in all_commands()]
    assert set(t.ids) == set(PLACEHOLDERS)
    log = git(t.home / "src" / "myproj", "log", "--oneline", "main")  # the reader's checkout, landed on by direct
    assert "Merge polecat/" in log
    for example in ("my-a3f", "my-b71", "my-c9d"):
        assert t.ids[example] in log
    summary = json.loads((t.town / "run.json").read_text())
    assert summary["outcome"] == "landed" and summary["exit_code"] == 0 and summary["totals"]["merged"] == 4


# ---------------------------------------------------------------------------------------------------
# The GitHub Actions example.


@dataclass
class Step:
    """One step of the workflow: its name ('' if none), whether it ``uses:`` an action, its run script."""

    name: str
    uses: str
    run: str


def workflow(text: str) -> tuple[dict[str, str], list[Step]]:
    """(workflow_dispatch input defaults, steps) of the README's workflow. A small reader for the shape
    the README uses (block scalars for multi-line ``run``), not a general YAML parser."""
    lines = text.splitlines()
    inputs: dict[str, str] = {}
    steps: list[Step] = []
    current = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if m := re.match(r"^      (\w[\w-]*):$", line):
            current = m.group(1)
        elif m := re.match(r'^        default: "(.*)"$', line):
            inputs[current] = m.group(1)
        elif re.match(r"^      - ", line):
            steps.append(Step("", "", ""))
        if steps and (m := re.match(r"^      (?:- |  )(name|uses|run): ?(.*)$", line)):
            key, value = m.groups()
            if key == "run" and value == "|":
                body = []
                while i + 1 < len(lines) and (lines[i + 1].startswith("          ") or not lines[i + 1].strip()):
                    i += 1
                    body.append(lines[i][10:])
                value = "\n".join(body) + "\n"
            setattr(steps[-1], key, value)
        i += 1
    return inputs, steps


#: Workflow steps not run here, and why the test's environment stands in for them.
SKIPPED_STEPS = {
    "actions/checkout@v4": "GITHUB_WORKSPACE is a real git repository made by the test",
    "actions/setup-python@v5": "the venv's python is first on PATH",
    "actions/upload-artifact@v4": "the test reads summary.json itself",
    "tools": "installs tmux, gastown-tui and pytest: the test's environment has them",
}


def test_github_actions_example_runs(tmp_path: Path) -> None:
    """The workflow's own steps (town, run, results) run as a runner runs them (bash -eo pipefail),
    with RUNNER_TEMP and GITHUB_WORKSPACE in tmp and the inputs' defaults: the run lands."""
    block = next(b for b in readme_blocks() if b.info == "yaml")
    inputs, steps = workflow(block.body)
    assert inputs == {"feature": "a --version flag", "agent": "sim"}
    workspace = make_repo(
        tmp_path / "workspace",
        {
            "app.py": "def version():\n    return '0.1'\n",
            "tests/test_app.py": "from app import version\n\n\ndef test_version():\n    assert version() == '0.1'\n",
            "pytest.ini": "[pytest]\npythonpath = .\n",
        },
    )
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    env = reader_env(tmp_path / "home", RUNNER_TEMP=str(runner_temp), GITHUB_WORKSPACE=str(workspace))
    (tmp_path / "home").mkdir()
    ran = []
    try:
        for step in steps:
            if (step.uses or step.name) in SKIPPED_STEPS:
                continue
            assert step.run, f"workflow step {step.name or step.uses} is neither run nor in SKIPPED_STEPS"
            script = re.sub(r"\$\{\{\s*inputs\.(\w+)\s*\}\}", lambda m: inputs[m.group(1)], step.run)
            assert "${{" not in script, f"step {step.name}: an expression the test cannot give: {script}"
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                cwd=workspace,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
                stdin=subprocess.DEVNULL,
            )
            assert proc.returncode == 0, (
                f"step {step.name}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr}"
            )
            ran.append(step.name)
        assert ran == ["town", "run", "results"]
        summary = json.loads((runner_temp / "summary.json").read_text())
        assert summary["outcome"] == "landed" and summary["formula"] == "shiny"
        assert summary["totals"]["merged"] == 3 and summary["totals"]["gate_runs"] >= 1
    finally:
        if (runner_temp / "town" / "town.toml").is_file():
            SessionHost(Town(runner_temp / "town")).kill_server()


# ---------------------------------------------------------------------------------------------------
# Static checks: the map, the Makefile, commands and options, config keys, keys, images.


def _test_exists(node: str) -> bool:
    path, name = node.split("::")
    return re.search(rf"^(async )?def {re.escape(name)}\(", (ROOT / path).read_text(), re.M) is not None


def test_every_readme_command_is_run_or_mapped_and_the_tables_are_live() -> None:
    """Each mapped command is in the README and its test exists; every command the tables of this
    file name is still in the README (a stale entry would silently stop checking anything)."""
    commands = [c.text for c in all_commands()]
    for command, (node, _probe) in MAPPED.items():
        assert command in commands, f"MAPPED has {command!r}, which README.md no longer has"
        assert _test_exists(node), f"{command!r} is mapped to {node}, which does not exist"
    for table in (WAITS, EXPECT, {source: example for example, (source, _) in PLACEHOLDERS.items()}):
        for command in table:
            assert command in commands, f"{command!r} is in a table of this test but not in README.md"


def test_make_targets_do_what_the_readme_says() -> None:
    """``make setup`` builds the venv, ``make demo`` runs ``gastown-tui demo``, ``make test`` runs the
    suite, ``make lint`` the checks CI runs first (dry runs: make -n -B prints the recipes without
    running them)."""

    def recipe(target: str) -> str:
        proc = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    assert "pip install -q -e '.[test,lint]'" in recipe("setup")
    assert re.search(r"^\.venv/bin/gastown-tui demo$", recipe("demo"), re.M)
    assert re.search(r"^\.venv/bin/python -m pytest", recipe("test"), re.M)
    lint = recipe("lint")
    assert all(f".venv/bin/{tool}" in lint for tool in ("ruff check", "ruff format --check", "mypy", "lint-imports"))
    assert "make lint" in (ROOT / ".ci" / "run").read_text()


def _root_groups() -> dict[str, click.Command]:
    from gastown_tui.cli import cli
    from gastown_tui.cockpit import cockpit

    return {"gt": cli, "gastown-tui": cockpit}


def _resolve(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The click command ``argv`` names (walking groups) and the tokens left for it. Group options
    (``--town PATH``, ``--no-ui``) are skipped. Raises AssertionError for an unknown command."""
    cmd = _root_groups()[argv[0]]
    rest = argv[1:]
    ctx = click.Context(cmd)
    while isinstance(cmd, click.Group):
        takes_value = {o for p in cmd.params if isinstance(p, click.Option) and not p.is_flag for o in p.opts}
        i = 0
        while i < len(rest) and rest[i].startswith("-"):
            assert rest[i] in _options(cmd), f"{' '.join(argv)}: {cmd.name} has no option {rest[i]}"
            i += 2 if rest[i] in takes_value else 1
        if i >= len(rest):
            return cmd, rest
        sub = cmd.get_command(ctx, rest[i])
        assert sub is not None, f"{' '.join(argv)}: no command {rest[i]!r}"
        cmd, rest = sub, rest[i + 1 :]
        ctx = click.Context(cmd, parent=ctx)
    return cmd, rest


def _options(cmd: click.Command) -> set[str]:
    opts = {"--help", "-h"}
    for p in cmd.params:
        if isinstance(p, click.Option):
            opts.update(p.opts + p.secondary_opts)
    return opts


def _check_options(argv: list[str]) -> None:
    cmd, rest = _resolve(argv)
    known = _options(cmd)
    if isinstance(cmd, click.Group):
        return
    for token in rest:
        if token.startswith("-") and token != "-" and not re.match(r"^-\d", token):
            assert token.split("=", 1)[0] in known, f"{' '.join(argv)}: {cmd.name} has no option {token}"


def test_commands_and_options_exist(tmp_path: Path) -> None:
    """Every gt/gastown-tui command of the sh blocks parses with the real click command (its
    arguments and option values too); every inline mention names a real command and real options."""
    home = tmp_path / "home"
    (home / "src" / "myproj").mkdir(parents=True)
    for c in all_commands():
        if c.text.split()[0] not in ("gt", "gastown-tui"):
            continue
        argv = [a.replace("~", str(home), 1) if a.startswith("~") else a for a in shlex.split(c.text)]
        _check_options(argv)
        cmd, rest = _resolve(argv)
        try:
            cmd.make_context(cmd.name or argv[0], rest, parent=click.Context(_root_groups()[argv[0]]))
        except click.exceptions.Exit:
            pass  # --version, --help
        except click.UsageError as exc:
            pytest.fail(f"README.md:{c.line}: {c.text}: {exc.format_message()}")
    spans, _images = readme_inline()
    mentions = [s for s in spans if re.match(r"^(gt|gastown-tui)( |$)", s)]
    assert len(mentions) > 20
    for span in mentions:
        _check_options(shlex.split(span))


def _flat(d: Any, prefix: str = "") -> set[str]:
    """Dotted paths of every key of the nested dict ``d`` (tables and values)."""
    out = set()
    for k, v in d.items():
        out.add(prefix + k)
        if isinstance(v, dict):
            out |= _flat(v, prefix + k + ".")
    return out


PRESET_KEYS = {f.name for f in dataclasses.fields(Preset)} - {"name", "builtin"}
TOWN_KEYS = _flat(tomllib.loads(TOWN_TEMPLATE))
RIG_KEYS = _flat(tomllib.loads(RIG_TEMPLATE.format(name="x", prefix="x")))


def _town_key_known(key: str) -> bool:
    """A town.toml key of the template, ``agents.NAME[.PRESET_KEY[.ENV_VAR]]``, or ``keys.ID`` for a
    binding id a ``[keys]`` table can rebind (the cockpit's key table)."""
    from gastown_tui.screens.keys import KEYS

    parts = key.split(".")
    if parts[0] == "keys":
        return len(parts) == 1 or len(parts) == 2 and parts[1] in {k.id for k in KEYS if k.rebindable}
    if parts[0] == "agents":
        return len(parts) <= 2 or parts[2] in PRESET_KEYS and (len(parts) == 3 or parts[2] == "env")
    return key in TOWN_KEYS


def _rig_key_known(key: str) -> bool:
    """A rig.toml key of the template, or ``gates.NAME.cmd|timeout`` or ``gates.env.VAR``."""
    parts = key.split(".")
    if parts[0] == "gates" and len(parts) == 3:
        return parts[1] == "env" or parts[2] in ("cmd", "timeout")
    return key in RIG_KEYS or parts[0] == "gates" and len(parts) == 2


def _check_town_toml(data: dict[str, Any], body: str, root: Path) -> None:
    """Merge ``body`` into a fresh town's town.toml and read every value back through the code."""
    town, _ = install_town(root, use_git=False)
    with edit_toml(town.config_path) as doc:
        _merge(doc, tomlkit.parse(body))
    town.reload()
    table = presets(town)
    for name, spec in data.get("agents", {}).items():
        for key, value in spec.items():
            got = getattr(table[name], key)
            assert got == (tuple(value) if isinstance(value, list) else value), f"[agents.{name}] {key}: {got!r}"
    if "keys" in data:  # the cockpit takes the [keys] table as it is written
        from core.config import keys_table
        from gastown_tui.screens.keys import keymap

        assert keymap(keys_table(town.config, town.config_path)) == data["keys"]
    for section, values in data.items():
        if section == "agents":
            continue
        for key, value in values.items() if isinstance(values, dict) else [(section, values)]:
            assert town.setting(section if isinstance(values, dict) else None, key) == value, (section, key)


def test_toml_blocks_use_real_keys_and_load(tmp_path: Path) -> None:
    """Every toml block is marked, names only keys the code reads, and loads with the real loaders:
    town.toml through the preset table and the settings, rig.toml through the gate loader, formulas
    through the formula parser with nothing unsupported."""
    blocks = [b for b in readme_blocks() if b.info == "toml"]
    assert len(blocks) >= 4
    for b in blocks:
        m = re.match(r"^# (file|example): (\S+)$", b.body.splitlines()[0])
        assert m, f"README.md:{b.line}: a toml block opens with '# file: PATH' or '# example: FILE'"
        target = m.group(2)
        data = tomllib.loads(b.body)
        if target.endswith(".formula.toml"):
            formula = parse_formula(b.body, target, expected_name=Path(target).name.removesuffix(".formula.toml"))
            assert formula.unsupported == [], formula.unsupported
        elif target.endswith("town.toml"):
            unknown = sorted(k for k in _flat(data) if not _town_key_known(k))
            assert not unknown, f"README.md:{b.line}: town.toml has no {unknown}"
            _check_town_toml(data, b.body, tmp_path / f"town{b.line}")
        elif target.endswith("rig.toml"):
            unknown = sorted(k for k in _flat(data) if not _rig_key_known(k))
            assert not unknown, f"README.md:{b.line}: rig.toml has no {unknown}"
            gates = load_gates(data, target)
            assert [g.name for g in gates.gates] == [k for k in data["gates"] if k != "env"]
            assert dict(gates.env) == data["gates"].get("env", {})
        else:
            pytest.fail(f"README.md:{b.line}: unknown target {target}")


def _keys_tables() -> tuple[set[str], set[tuple[str, str]]]:
    """(keys of the main-screen table, (view, key) of the other views' table) from the Keys section."""
    section = README.read_text().split("\n## Keys\n", 1)[1].split("\n## ", 1)[0]
    main, other = set(), set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            main.add(cells[0].strip("`"))
        elif len(cells) == 3 and cells[1].startswith("`"):
            other.add((cells[0], cells[1].strip("`")))
    return main, other


def _binding_keys(screen: type) -> set[str]:
    keys = set()
    for b in screen.BINDINGS:
        keys.update(k.strip() for k in b.key.split(","))
    return keys


def test_keys_tables_match_the_bindings() -> None:
    """The main table is exactly the cockpit's KEYMAP; each other view's keys are that view's bindings."""
    from gastown_tui.screens.bead import BeadScreen
    from gastown_tui.screens.boards import BoardsScreen
    from gastown_tui.screens.convoy import ConvoyScreen
    from gastown_tui.screens.grid import GridScreen
    from gastown_tui.screens.keys import KEYMAP
    from gastown_tui.screens.ledger_dialogs import BeadEditModal, CommentModal, ComposeMailModal
    from gastown_tui.screens.mail import MailScreen
    from gastown_tui.screens.merge_request import MergeRequestScreen
    from gastown_tui.screens.modals import FormulaModal, NewBeadModal, _Dialog
    from gastown_tui.screens.panels import RefineryPanel
    from gastown_tui.screens.polecat import PolecatScreen
    from gastown_tui.screens.problems import ProblemsScreen

    main, other = _keys_tables()
    keymap = {k for k, *_ in KEYMAP}
    assert main == keymap, f"README keys table: missing {keymap - main}, unknown {main - keymap}"
    views = {
        "problems": _binding_keys(ProblemsScreen),
        "boards": _binding_keys(BoardsScreen),
        "grid": _binding_keys(GridScreen),
        "mail": _binding_keys(MailScreen),
        "refinery queue": _binding_keys(RefineryPanel),
        "polecat detail": _binding_keys(PolecatScreen),
        "merge request": _binding_keys(MergeRequestScreen),
        "bead": _binding_keys(BeadScreen),
        "convoy": _binding_keys(ConvoyScreen),
        "dialogs": _binding_keys(_Dialog)
        | _binding_keys(NewBeadModal)
        | _binding_keys(FormulaModal)
        | _binding_keys(BeadEditModal)
        | _binding_keys(CommentModal)
        | _binding_keys(ComposeMailModal),
    }
    for view, key in other:
        assert key in views[view], f"the {view} view has no key {key}"
    for view, keys in views.items():
        shown = {k for v, k in other if v == view}
        assert keys - {"escape"} <= shown, f"{view}: undocumented keys {keys - {'escape'} - shown}"


def test_images_exist_and_are_png_or_svg() -> None:
    _spans, images = readme_inline()
    assert len(images) >= 4
    for src in images:
        path = ROOT / src
        assert path.parent == ROOT / "screenshots" and path.is_file(), src
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") or (path.suffix == ".svg" and b"<svg" in data[:4096]), src


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_contents_links_reach_headings() -> None:
    text = README.read_text()
    anchors = {_slug(h) for h in re.findall(r"^#{2,3} (.+)$", text, re.M)}
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(links) >= 10
    assert [link for link in links if link not in anchors] == []
