"""The ``bd`` console script: bd's most frequent verbs (its reads, ``create``, ``update --status``,
``close``) on their lean path (:func:`gastown_tui.bdpath.fast_command`, no click), every other
command line through :func:`gastown_tui.bd_cli.main`. Apart from both so that neither imports the
other."""

from __future__ import annotations

import sys

from gastown_tui.bdpath import fast_command
from gastown_tui.hookpath import write_plain


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``bd`` console script: a lean verb runs here, any other command line goes to
    :func:`gastown_tui.bd_cli.main`. Exits with the command's status (bd's: 1 for every error)."""
    args = sys.argv[1:] if argv is None else list(argv)
    run = fast_command(args)
    if run is None:
        from gastown_tui.bd_cli import main as cli_main

        cli_main(args)
        return
    try:
        status = run()
        sys.stdout.flush()
    except KeyboardInterrupt:  # as click answers Ctrl-C on the other verbs
        write_plain(sys.stderr, "Error: aborted\n")
        status = 130
    except BrokenPipeError:  # a reader that stopped early (bd | head)
        status = 0
    sys.exit(status)
