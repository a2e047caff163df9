"""The commands agents run on every prompt, and the commands they run most, on a lean path without
click (issue 19), run by the console script :mod:`gastown_tui.gt`.

Every prompt of every agent runs a hook, so hooks must start in about the time of the interpreter
itself: ``gt agent hook EVENT [PAYLOAD]`` (Claude Code's settings hooks, Codex ``notify``), ``gt prime
--hook`` (Gas Town's SessionStart hook) and ``gt mail check --inject`` (its per-prompt mail hook). The
other lean commands are the reads ``gt prime``, ``gt bead ready --json`` and ``gt status``, and a
polecat's ``gt done``, exactly those words. Each may follow ``--town PATH``. :func:`fast_command`
recognises exactly these argument shapes and runs them through the same functions their click
commands call (:func:`agent_hook`, :func:`mail_reminder`, :func:`town_status`, :func:`status_text`,
:func:`done_text`, :func:`json_text`, :func:`table_text`), printing what they print with the same
output boundary (escape sequences and controls removed, as :func:`gastown_tui.clikit.plain_output`
does). Any other arguments (an option, ``--help``, an unknown event, a payload that looks like an
option, an argument that is not UTF-8) go to :func:`gastown_tui.cli.main`, which parses them with
click and answers as before.

The hooks change no bead (they record agent state and drain nudges), so no ledger sync request
follows them. The other lean commands end as under :func:`gastown_tui.cli.main`: a refusal is one
line (:func:`error_line`), else :func:`after_command` asks for the ledger sync if beads are dirty,
through the command's own connection (:func:`_read_command`). tests/test_hook_path_imports.py pins
the modules these commands import, so a heavy import cannot creep back onto this path.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing's own import is not worth it for every prompt (mypy reads the block)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

    from core.beads.store import BeadStore
    from core.errors import GtError
    from core.roles import Role
    from core.town import Town

#: ``gt bead ready``'s default ``--limit`` (its click option's default too).
READY_LIMIT = 10

#: Standard-library modules the hook path imports only because ``dataclasses`` does, for uses the hook
#: never makes (:func:`defer_imports`): ``inspect`` (with ``dis``, ``ast``, ``tokenize``, ``enum``...)
#: for the signature of a dataclass without a docstring, ``copy`` for ``asdict``/``replace``.
DEFERRED = ("inspect", "copy")


def defer_imports(names: Sequence[str] = DEFERRED) -> None:
    """Leave the standard-library modules ``names`` unrun until something reads an attribute of one.

    ``dataclasses`` imports ``inspect`` (about 10 ms of CPU with what it imports, a third of the
    interpreter's own start) for one use: a signature as the docstring of a dataclass that has none.
    The record classes on the hook path all have docstrings, so a hook never needs it. For each name
    not yet imported this puts in ``sys.modules`` the module object of its real spec, not yet run,
    whose first lookup of a missing attribute (PEP 562 ``__getattr__``) runs the real module into that
    same object: ``import inspect`` anywhere binds it, ``inspect.signature`` (or ``from inspect import
    signature``) loads it, so code that uses the module sees the real one. Single-threaded start-up
    only (the lean commands): two threads' first lookups would both run the module.
    """
    from importlib.util import find_spec, module_from_spec  # importlib.util: site has it already

    for name in names:
        if name in sys.modules:
            continue
        spec = find_spec(name)
        if spec is None or spec.loader is None:
            continue
        module = module_from_spec(spec)
        module.__getattr__ = _loader(module, spec.loader)  # type: ignore[method-assign]
        sys.modules[name] = module


def _loader(module: object, loader: object) -> Callable[[str], object]:
    """The ``__getattr__`` of a deferred ``module``: drops itself, runs the module with ``loader``
    (its spec's), then answers the lookup."""

    def load(attribute: str) -> object:
        vars(module).pop("__getattr__", None)
        loader.exec_module(module)  # type: ignore[attr-defined]
        return getattr(module, attribute)

    return load


def undecodable_argument(args: Sequence[str]) -> str | None:
    """The refusal line for the first of ``args`` that is not valid UTF-8, or None when all are.

    Python hands such an argument over with its bad bytes as lone surrogates (``surrogateescape``,
    PEP 383); no name, title or text may hold them (SQLite, git and JSON would all fail on them).
    """
    from core.plaintext import strip_controls

    for i, arg in enumerate(args, 1):
        if any("\ud800" <= ch <= "\udfff" for ch in arg):
            return f"argument {i} ({strip_controls(arg)[:60]!r}) is not valid UTF-8: pass names and text as UTF-8"
    return None


def agent_hook(town: Callable[[], Town], event: str, payload: str | None) -> tuple[str, str]:
    """Run agent hook ``event`` (:func:`core.agent_hooks.handle`) for the town ``town()`` finds, with
    ``payload`` (the hook's JSON; None: read stdin unless it is a terminal). Returns (text for stdout,
    error line for stderr), either "" ; never raises: a failing hook must not block the agent's turn."""
    from core import agent_hooks

    try:
        raw = payload if payload is not None else ("" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read())
        return agent_hooks.handle(town(), event, agent_hooks.parse_payload(raw)), ""
    except Exception as exc:  # noqa: BLE001 - reported on stderr, exit 0
        return "", f"gt agent hook {event}: {exc}"


def mail_reminder(town: Town, address: str, session: str) -> str:
    """What ``gt mail check --inject`` prints: :func:`core.mail.reminder` of ``address``'s unread mail
    and of the nudges queued for tmux session ``session`` ("" for none), which are drained (the
    engine will not type them again), both read through one connection. Raises GtError for a bad
    address or session name."""
    from core import mail
    from core.beads.store import BeadStore

    if session:  # imported before the open, which creates the tables of the modules imported by then
        from core.nudge import drain
        from core.session_names import check_session_name
    store = BeadStore(town)
    try:
        unread = mail.inbox(town, address, db=store.db)
        nudges = drain(store.db, check_session_name(session)) if session else []
    finally:
        store.disconnect()
    return mail.reminder(unread, nudges)


def report(exc: BaseException) -> tuple[str, int] | None:
    """The one line (without ``gt: ``) and exit status for an error no command handled: a path the
    system refuses (an OSError naming a file: exit 2), a database found corrupt after its open
    (:func:`core.db.explain`); ("", 0) for a closed stdout (BrokenPipeError); None for anything else
    (a bug: the caller lets it raise)."""
    if isinstance(exc, BrokenPipeError):
        return "", 0
    if isinstance(exc, OSError):
        if exc.filename is None:
            return None
        from core.plaintext import strip_controls

        return (
            f"cannot use {strip_controls(str(exc.filename))[:200]!r}: {exc.strerror or exc}: give another path",
            2,
        )
    from core.db import explain

    lost = explain(exc)
    return None if lost is None else (str(lost), lost.exit_code)


def split_town(args: list[str]) -> tuple[str | None, list[str]] | None:
    """(--town value or None, the rest) of ``args``; None when ``--town`` has no value."""
    if args and args[0].startswith("--town="):
        return args[0].removeprefix("--town="), args[1:]
    if args and args[0] == "--town":
        return (args[1], args[2:]) if len(args) > 1 else None
    return None, args


#: The exact argument shapes (after ``--town PATH``) of the lean commands, ``gt agent hook`` aside.
_LEAN = (
    ["prime", "--hook"],
    ["mail", "check", "--inject"],
    ["prime"],
    ["bead", "ready", "--json"],
    ["status"],
    ["done"],
)


def fast_command(args: list[str]) -> Callable[[], int] | None:
    """The lean command ``args`` (``gt``'s arguments) name, ready to run (it returns the exit status),
    or None when they are anything else (:func:`gastown_tui.cli.main` runs those)."""
    if undecodable_argument(args) is not None:
        return None
    split = split_town(args)
    if split is None:
        return None
    town_path, rest = split
    if rest in _LEAN or rest[:2] == ["agent", "hook"]:
        defer_imports()

    def town() -> Town:
        from core.town import find_town

        return find_town(town_path)

    if rest == ["prime", "--hook"]:
        return lambda: _print_hook(*agent_hook(town, "session-start", None))
    if len(rest) in (3, 4) and rest[:2] == ["agent", "hook"] and not (len(rest) == 4 and rest[3].startswith("-")):
        from core.agent_hooks import EVENTS

        event, payload = rest[2], (rest[3] if len(rest) == 4 else None)
        if event in EVENTS:
            return lambda: _print_hook(*agent_hook(town, event, payload))
        return None
    if rest == ["mail", "check", "--inject"]:
        return lambda: _inject(town)
    if rest == ["prime"]:
        return lambda: _read_command(town, _prime)
    if rest == ["bead", "ready", "--json"]:
        return lambda: _read_command(town, _ready_json)
    if rest == ["status"]:
        return lambda: _read_command(town, lambda found, store: status_text(town_status(found, store)))
    if rest == ["done"]:
        return lambda: _read_command(town, _done)
    if rest[:2] == ["agent", "sim"] and len(rest) <= 3 and not any(a.startswith("-") for a in rest[2:]):
        prompt = rest[2] if len(rest) == 3 else None
        return lambda: sim_agent(town, prompt, None)
    return None


def sim_agent(town: Callable[[], Town], prompt: str | None, bead_id: str | None) -> int:
    """``gt agent sim [--bead ID] [PROMPT]`` (both paths; the sling's sim session starts it with the
    beacon as PROMPT): show PROMPT as an agent CLI shows its first prompt, then run the sim
    (:func:`core.sim.run`) on this terminal for ``bead_id`` (default ``$GT_BEAD``) in the current
    directory. A directory outside any town still starts it: the sim says on screen why it cannot
    read its bead. Returns the sim's exit status. The stdout is this process's terminal: the caller
    gives the sim the raw streams (the sim draws its own screen, as any agent CLI does)."""
    import os

    if prompt:
        sys.stdout.write(prompt + "\n")
        sys.stdout.flush()
    from core import sim
    from core.errors import NotATown

    try:
        town_root: str | None = str(town().root)
    except NotATown:
        town_root = None
    return sim.run(bead_id or os.environ.get("GT_BEAD") or None, os.getcwd(), town_root)


def _read_command(town: Callable[[], Town], body: Callable[[Town, Callable[[], BeadStore]], str]) -> int:
    """Run a lean command as its click command runs under :func:`gastown_tui.cli.main`: the text
    ``body(town, store)`` returns on stdout, then :func:`after_command`. ``store()`` opens the
    command's store at its first call and returns that one after (one connection for the command
    and the ledger check after it); a body calls it after its own imports, since
    :func:`core.db.connect` creates the tables of the modules imported by then. A refusal (GtError)
    is :func:`error_line` on stderr and its exit status, with no ledger check after it."""
    from core.errors import GtError

    opened: list[BeadStore] = []

    def store() -> BeadStore:
        if not opened:
            from core.beads.store import BeadStore

            opened.append(BeadStore(found))
        return opened[0]

    try:
        try:
            found = town()
            write_plain(sys.stdout, body(found, store) + "\n")
        except GtError as exc:
            write_plain(sys.stderr, error_line(exc) + "\n")
            return exc.exit_code
        after_command(found, opened[0] if opened else None)
    finally:
        if opened:
            opened[0].disconnect()
    return 0


def _prime(town: Town, store: Callable[[], BeadStore]) -> str:
    """``gt prime``: the brief of the calling role (:func:`core.prime.prime`)."""
    from core.prime import prime
    from core.roles import detect

    return prime(town, detect(town), store())


def _done(town: Town, store: Callable[[], BeadStore]) -> str:
    """``gt done``: finish the work of the calling role (:func:`done_text`, :func:`core.roles.detect`)."""
    from core.roles import detect

    return done_text(town, detect(town), store=store)


def _ready_json(town: Town, store: Callable[[], BeadStore]) -> str:
    """``gt bead ready --json``: the first :data:`READY_LIMIT` ready beads, by priority then oldest."""
    return json_text([issue.as_dict() for issue in store().ready(limit=READY_LIMIT)])


def done_text(
    town: Town,
    role: Role,
    status: str = "COMPLETED",
    message: str = "",
    bead: str | None = None,
    as_json: bool = False,
    store: Callable[[], BeadStore] | None = None,
) -> str:
    """What ``gt done`` prints (without a final newline) after finishing the work of ``role``: a
    polecat's through :func:`core.done.done`, a crew workspace's through :func:`core.crew.done` (only
    COMPLETED; ``bead``: the bead its branch finishes). status: COMPLETED | ESCALATED | DEFERRED;
    message: the reason or a note; as_json: the result as :func:`json_text`; store: gives the
    command's store of ``town``, called once those functions are imported (else they open one).
    Raises GtError for any other role, a ``bead`` given for a polecat, and the refusals of those
    functions (nothing changed)."""
    from core.actor import current_actor
    from core.done import done  # first, as the click command always did (the store then has its tables)
    from core.errors import GtError

    if role.kind == "crew":
        return _crew_done_text(town, role, status, message, bead, as_json, store)
    if role.kind != "polecat":
        raise GtError(
            "gt done runs inside a polecat worktree (<rig>/polecats/<name>), a crew workspace "
            "(<rig>/crew/<name>) or with --polecat NAME"
        )
    if bead is not None:
        raise GtError("--bead is for crew workspaces: a polecat's gt done finishes the bead on its hook")
    result = done(town, role, status=status, message=message, actor=current_actor(), store=store() if store else None)
    if as_json:
        return json_text(result.as_dict())
    if result.mr:
        return (
            f"{result.bead}: {result.commits} commit(s) on {result.branch} queued as {result.mr}; "
            f"{result.polecat} is idle"
        )
    return f"{result.bead}: {result.status.lower()}; {result.polecat} is idle"


def _crew_done_text(
    town: Town,
    role: Role,
    status: str,
    message: str,
    bead: str | None,
    as_json: bool,
    store: Callable[[], BeadStore] | None,
) -> str:
    """``gt done`` in a crew workspace: queue its branch (:func:`core.crew.done`)."""
    from core.actor import current_actor
    from core.crew import done as crew_done
    from core.errors import GtError

    if status.upper() != "COMPLETED":
        raise GtError(
            f"--status {status.upper()} is for polecats: a crew workspace's gt done queues its branch; "
            "to give up on a bead, update it with 'gt bead update'"
        )
    result = crew_done(town, role, bead=bead, message=message, actor=current_actor(), store=store() if store else None)
    if as_json:
        return json_text(result.as_dict())
    what = f"{result.bead}: " if result.bead else ""
    state = "queued as" if result.mr_status == "queued" else f"already {result.mr_status} as"
    return (
        f"{what}{result.commits} commit(s) on {result.branch} {state} {result.mr}; keep working on "
        f"{result.branch} (gt crew sync {role.name} after the merge)"
    )


def town_status(town: Town, store: Callable[[], BeadStore] | None = None) -> dict[str, Any]:
    """``gt status``'s summary of ``town``: its root, the engine (running, pid), rig names, polecats
    by state, sling and merge queue depths, open convoys (id, name, done, total) and the number of open
    escalations. store: gives the command's store of ``town``, called after this function's imports
    (:func:`core.db.connect` creates the tables of the modules imported by then); else one is opened
    and closed here. Raises ConfigError for a malformed town.toml (not shown as a healthy town)."""
    from collections import Counter

    from core import convoys, escalation, mq, polecats, scheduler
    from core.beads.store import BeadStore
    from core.pidfile import engine_pid
    from core.rigs import list_rigs

    town.config  # noqa: B018 - a malformed town.toml is reported (exit 2), not shown as a healthy town
    if store is None:
        with BeadStore(town) as own:
            return town_status(town, lambda: own)
    beads = store()
    rows = polecats.list_polecats(beads.db)
    open_convoys = convoys.list_convoys(beads, "open")
    pid = engine_pid(town)
    return {
        "town": str(town.root),
        "engine": {"running": pid is not None, "pid": pid},
        "rigs": [r.name for r in list_rigs(town)],
        "polecats": dict(sorted(Counter(p.state for p in rows).items())),
        "queue": scheduler.depth(beads.db),
        "merge_queue": len(mq.list_mrs(beads.db, statuses=("queued", "merging"))),
        "convoys": [{"id": c.id, "name": c.name, "done": c.done, "total": c.total} for c in open_convoys],
        "escalations": len(escalation.list_open(beads)),
    }


def status_text(s: dict[str, Any]) -> str:
    """The text form of :func:`town_status` (what ``gt status`` prints), without a final newline."""
    eng = s["engine"]
    states = ", ".join(f"{k} {v}" for k, v in s["polecats"].items()) or "(none)"
    lines = [
        f"town      {s['town']}",
        f"engine    {'running (pid %s)' % eng['pid'] if eng['running'] else 'not running: gt up'}",
        f"rigs      {', '.join(s['rigs']) or '(none)'}",
        f"polecats  {states}",
        f"queued    {s['queue']} to sling, {s['merge_queue']} to merge",
        f"escalations {s['escalations']} open",
        table_text(
            ["convoy", "progress", "name"],
            [[c["id"], f"{c['done']}/{c['total']}", clip(c["name"], 60)] for c in s["convoys"]],
            empty="no open convoys",
        ),
    ]
    return "\n".join(lines)


def clip(text: str, width: int) -> str:
    """The first ``width`` characters of agent text as a table shows it (:func:`core.plaintext.one_line`
    first, so escape sequences do not use up the width)."""
    from core.plaintext import one_line

    return one_line(text)[:width]


def table_text(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str = "(none)") -> str:
    """Rows as a plain aligned text table (no colour, safe to pipe), without a final newline; ``empty``
    when there are none. A cell is one line: its escape sequences and controls are removed and its tabs
    and newlines become spaces (:func:`core.plaintext.one_line`), so a title cannot draw rows of its own."""
    from core.plaintext import one_line

    cells = [["" if c is None else one_line(str(c)) for c in row] for row in rows]
    if not cells:
        return empty
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.upper().ljust(widths[i]) for i, h in enumerate(headers)).rstrip()]
    lines += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells]
    return "\n".join(lines)


def json_text(value: object) -> str:
    """``value`` as the indented JSON every ``--json`` prints. ``ensure_ascii`` (json's default) writes
    every control character and non-ASCII character as a ``\\u`` escape: nothing raw reaches the
    terminal and the text stays lossless; a value JSON has no form for is written as its ``str``."""
    import json

    return json.dumps(value, indent=2, sort_keys=False, default=str)


def error_line(exc: GtError) -> str:
    """The line ``gt`` prints for a refusal ``exc``: ``gt: `` and its message, on one line for exit
    status 2 even when it quotes input holding newlines; an error of another status may carry lines
    of evidence (AgentStartError: the agent's last screen)."""
    from core.plaintext import one_line

    return f"gt: {one_line(str(exc)) if exc.exit_code == 2 else exc}"


def after_command(town: Town, store: BeadStore | None = None) -> None:
    """After a command that used ``town`` and ran to its end: if it changed beads, ask for the ledger
    to be committed (:func:`core.beads.sync.after_change`, debounced; the running engine does it when
    there is one) and print its warning, if any, as one line on stderr. A read command pays only for
    the dirty check (not for importing the sync: filelock, git). store: the command's own open store
    of ``town`` (left open), else one is opened (without the ledger guard's check) and closed here."""
    from core.plaintext import one_line

    own = store is None
    if store is None:
        if not town.db_path.exists():
            return
        from core.beads.store import BeadStore

        try:
            store = BeadStore(town, check=False)
        except Exception:  # noqa: BLE001 - a database that does not open: the command has said why
            return
    try:
        if not store.dirty():
            return
        from core.beads.sync import after_change

        warning = after_change(town, store)
    except Exception as exc:  # noqa: BLE001 - the command's own outcome stands; say why no sync was asked
        warning = f"the ledger commit was not requested ({type(exc).__name__}: {exc}); run 'gt bead sync'"
    finally:
        if own:
            store.disconnect()
    if warning:
        write_plain(sys.stderr, f"gt: warning: {one_line(warning)}\n")


def _print_hook(text: str, error: str) -> int:
    if error:
        write_plain(sys.stderr, error + "\n")
    if text:
        write_plain(sys.stdout, text + "\n")
    return 0


def _inject(town: Callable[[], Town]) -> int:
    """``gt mail check --inject``: the reminder for this process's own address (core.mail.own_address);
    a refusal is one line on stderr and exit 0 (a hook never blocks the prompt)."""
    import os

    from core.actor import current_actor
    from core.errors import GtError
    from core.mail import own_address

    address = own_address(current_actor())
    try:
        text = mail_reminder(town(), address, os.environ.get("GT_SESSION", ""))
    except GtError as exc:
        write_plain(sys.stderr, f"gt mail check: {exc}\n")
        return 0
    write_plain(sys.stdout, text)
    return 0


def write_plain(stream: object, text: str) -> None:
    """Write ``text`` stripped of escape sequences and controls (the output boundary of every gt command)."""
    from core.plaintext import strip_controls

    out = getattr(stream, "write", None)
    if out is not None:
        out(strip_controls(text))
