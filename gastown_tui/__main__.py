"""``python -m gastown_tui``: the cockpit (the ``gastown-tui`` script), as ``gt dashboard`` starts it."""

from gastown_tui.cockpit import main

if __name__ == "__main__":
    main()
