"""The first process of every tmux pane :class:`core.sessions.SessionHost` starts: it reads the JSON
spec the host wrote (argv, cwd, env), deletes it and ``execve``s the agent in its place (same pid).

Run by path as ``python -P -S .../core/session_launch.py SPEC`` (no ``site``, no package import): it
uses only ``json``, ``os`` and ``sys``, so the agent starts about 15 ms after the interpreter instead
of after all of :mod:`core.sessions` (issue 19: sling to a running agent).
"""

from __future__ import annotations

import json
import os
import sys

#: Variables tmux sets for the pane itself: kept from the pane, never taken from the caller.
PANE_VARS = ("TERM", "TMUX", "TMUX_PANE", "COLORTERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION")


def launch(spec_path: str) -> None:
    """Run inside tmux as the pane's first process: read the JSON spec (argv, cwd, env) written by
    :meth:`core.sessions.SessionHost.start`, delete it, then ``execve`` the agent (same pid) with the
    spec's environment plus the pane's own variables (:data:`PANE_VARS`); nothing else of the tmux
    server's environment. Never returns; on failure prints why (the dead pane keeps it on screen) and
    exits 127."""
    try:
        with open(spec_path, encoding="utf-8") as fh:
            spec = json.load(fh)
        try:
            os.unlink(spec_path)
        except FileNotFoundError:
            pass
        env = {k: v for k, v in os.environ.items() if k in PANE_VARS}
        env.update(spec["env"])
        os.chdir(spec["cwd"])
        os.execve(spec["argv"][0], [spec.get("argv0", spec["argv"][0]), *spec["argv"][1:]], env)
    except Exception as exc:  # the pane is the only place to report it
        print(f"gt: cannot start the session's command: {exc}", file=sys.stderr)
        sys.exit(127)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(
            "usage: python -P -S core/session_launch.py SPEC.json (run by SessionHost.start inside tmux)",
            file=sys.stderr,
        )
        sys.exit(2)
    launch(sys.argv[1])
