"""Agent runtimes (DESIGN section 7): the preset table and one module per CLI family behind it.

- :mod:`core.runtimes.presets`: the presets (``presets.toml`` plus ``town.toml`` ``[agents.*]``);
- :mod:`core.runtimes.launch`: :func:`start_agent`, the one way an agent is started and its first
  prompt verified;
- :mod:`core.runtimes.base`: the generic runtime (screen patterns), which the families extend;
- :mod:`core.runtimes.claude`, :mod:`core.runtimes.codex`: Claude Code and Codex CLI.
"""

from core.runtimes.launch import runtime_for, start_agent
from core.runtimes.presets import (
    AUTO_ORDER,
    PROMPT_MODES,
    RUNTIMES,
    Preset,
    builtin_presets,
    presets,
    resolve,
    set_agent,
    set_default_agent,
)

__all__ = [
    "AUTO_ORDER",
    "PROMPT_MODES",
    "RUNTIMES",
    "Preset",
    "builtin_presets",
    "presets",
    "resolve",
    "runtime_for",
    "set_agent",
    "set_default_agent",
    "start_agent",
]
