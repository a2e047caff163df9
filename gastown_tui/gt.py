"""The ``gt`` console script: the agents' hook commands, their most frequent reads and ``gt done`` on
their lean path (:func:`gastown_tui.hookpath.fast_command`, no click), every other command line
through :func:`gastown_tui.cli.main`. Apart from both so that neither imports the other."""

from __future__ import annotations

import sys

from gastown_tui.hookpath import fast_command, report, write_plain


def main() -> None:
    """Entry point of the ``gt`` console script: a lean command (a hook, ``gt prime``, ``gt bead ready
    --json``, ``gt status``, ``gt done``) runs on the lean path and leaves through :func:`leave`; any
    other command line goes to :func:`gastown_tui.cli.main`. Exits with the command's status."""
    run = fast_command(sys.argv[1:])
    if run is None:
        from gastown_tui.cli import main as cli_main

        cli_main()
        return
    try:
        status = run()
        sys.stdout.flush()
    except KeyboardInterrupt:  # as click answers Ctrl-C on the other commands
        write_plain(sys.stderr, "gt: aborted\n")
        status = 130
    except Exception as exc:
        line = report(exc)
        if line is None:
            raise
        if line[0]:
            write_plain(sys.stderr, f"gt: {line[0]}\n")
        status = line[1]
    leave(status)


def leave(status: int) -> None:
    """End a lean command's process with exit ``status`` without tearing the interpreter down.

    What an exit must still do is done first, in the order the interpreter does it: wait for the
    threads that are not daemons (a lean command starts none; ``threading`` only when imported), run
    the ``atexit`` functions, flush stdout and stderr (a reader that closed its end changes nothing:
    the command's status stands). Then :func:`os._exit`: the interpreter's own finalization (every
    module's namespace cleared, a garbage collection, each object freed), about 10 ms of CPU once
    ``gt done`` or ``gt status`` has imported its modules, a tenth of the process, is skipped. Nothing
    is lost with it: database changes are committed in transactions and files written through
    closed file objects before a command returns; an open SQLite connection ends as after a kill
    (its committed work is in the WAL, which the next connection reads). Under a profiler or a tracer
    (``python -m cProfile``, coverage: they write their results after the script returns) the
    process exits as usual.
    """
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(status)
    import os

    threading = sys.modules.get("threading")
    if threading is not None:
        for thread in threading.enumerate():
            if not thread.daemon and thread is not threading.main_thread():
                thread.join()
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(status)


if __name__ == "__main__":
    main()
