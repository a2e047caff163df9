"""``gt agent check PRESET``: can this agent run unattended here? (issue 14, until ``gt doctor``).

Checks the preset resolves, its binary runs (``--version``), and the runtime family's own checks
(:meth:`core.runtimes.base.Runtime.checks`: a login or key, running as root).
"""

from __future__ import annotations

import subprocess

from core.errors import GtError
from core.runtimes.base import Check
from core.town import Town

__all__ = ["Check", "check"]


def check(town: Town, name: str) -> list[Check]:
    """Run the checks of preset ``name`` in this process's environment. Never raises for a failed
    check; raises NotFound for an unknown preset."""
    from core.runtimes.launch import runtime_for
    from core.runtimes.presets import presets, resolve

    if name not in presets(town):
        resolve(town, name)  # raises NotFound with the list of presets
    try:
        preset = resolve(town, name)
    except GtError as exc:
        return [Check("installed", False, str(exc))]
    out = [Check("preset", True, f"{preset.name}: {' '.join(preset.argv)} (runtime {preset.runtime})")]
    try:
        proc = subprocess.run(
            [preset.binary, "--version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
        version = (proc.stdout or proc.stderr).strip().splitlines()
        out.append(Check("version", proc.returncode == 0, version[0] if version else f"exit {proc.returncode}"))
    except (OSError, subprocess.TimeoutExpired) as exc:
        out.append(Check("version", False, f"{preset.binary} --version failed: {exc}"))
    out += runtime_for(preset).checks()
    return out
