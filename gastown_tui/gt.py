"""The ``gt`` console script: the agents' hook commands and most frequent reads on their lean path
(:func:`gastown_tui.hookpath.fast_command`, no click), every other command line through
:func:`gastown_tui.cli.main`. Apart from both so that neither imports the other."""

from __future__ import annotations

import sys

from gastown_tui.hookpath import fast_command, report, write_plain


def main() -> None:
    """Entry point of the ``gt`` console script: a lean command (a hook, ``gt prime``, ``gt bead ready
    --json``, ``gt status``) runs on the lean path; any other command line goes to
    :func:`gastown_tui.cli.main`. Exits with the command's status."""
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
    sys.exit(status)


if __name__ == "__main__":
    main()
