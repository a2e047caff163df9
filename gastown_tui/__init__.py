"""gastown-tui: a terminal cockpit for a fleet of AI coding agents (the app, the gt CLI, the headless runner)."""

__version__ = "0.1.0"
