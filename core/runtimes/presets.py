"""Agent runtime presets: how to start each agent CLI and hand it the first prompt (DESIGN section 7).

Built-ins ship in ``core/runtimes/presets.toml``; ``town.toml`` ``[agents.NAME]`` tables override their keys
or add presets. The default agent ``auto`` is the first installed CLI in :data:`AUTO_ORDER`, else
``sim``.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any


from core.config import edit_toml
from core.errors import ConfigError, GtError, NotFound
from core.town import Town

PROMPT_MODES = ("arg", "flag", "nudge")
AUTO_ORDER = ("claude", "codex", "gemini", "cursor", "auggie", "amp", "opencode", "copilot", "pi", "omp", "aider")
#: CLI families with a module of their own in this package (core/runtimes/<name>.py); "generic"
#: drives any other CLI by its preset and screen patterns alone.
RUNTIMES = ("claude", "codex", "generic")
PRESET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Preset:
    """One agent runtime. argv: command list; prompt: arg | flag | nudge; ready_delay: seconds.

    runtime: the CLI family module that drives it (:data:`RUNTIMES`: claude, codex, generic).
    start_timeout: seconds a sling waits for the agent to take its first prompt before it fails.
    end_after_done: stop the agent's session once its polecat ran ``gt done`` and the turn ended.
    """

    name: str
    argv: tuple[str, ...]
    prompt: str = "arg"
    prompt_flag: str = ""
    ready_glyph: str = "> "
    ready_delay: float = 8.0
    process_names: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    builtin: bool = True
    runtime: str = "generic"
    start_timeout: float = 60.0
    end_after_done: bool = True

    @property
    def binary(self) -> str:
        return self.argv[0]

    def installed(self) -> bool:
        """True if the preset's binary is on PATH (``gt`` itself, which runs sim, always is)."""
        return self.binary == "gt" or shutil.which(self.binary) is not None

    def command(self, prompt: str | None) -> list[str]:
        """The argv that starts the agent with ``prompt`` (for arg/flag delivery; nudge: argv alone)."""
        argv = list(self.argv)
        if prompt and self.prompt == "arg":
            argv.append(prompt)
        elif prompt and self.prompt == "flag":
            argv += [self.prompt_flag, prompt]
        return argv

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view, with ``installed``."""
        return {
            "name": self.name,
            "argv": list(self.argv),
            "prompt": self.prompt,
            "prompt_flag": self.prompt_flag,
            "ready_glyph": self.ready_glyph,
            "ready_delay": self.ready_delay,
            "process_names": list(self.process_names),
            "env": dict(self.env),
            "builtin": self.builtin,
            "installed": self.installed(),
            "runtime": self.runtime,
            "start_timeout": self.start_timeout,
            "end_after_done": self.end_after_done,
        }


def builtin_presets() -> dict[str, dict[str, Any]]:
    """The presets shipped in ``core/presets.toml`` as plain dicts, by name."""
    text = resources.files("core.runtimes").joinpath("presets.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _make(name: str, spec: dict[str, Any], builtin: bool) -> Preset:
    argv = spec.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
        raise ConfigError(f"[agents.{name}] argv must be a non-empty list of strings: fix town.toml")
    prompt = spec.get("prompt", "arg")
    if prompt not in PROMPT_MODES:
        raise ConfigError(f"[agents.{name}] prompt must be one of {', '.join(PROMPT_MODES)}: fix town.toml")
    if prompt == "flag" and not spec.get("prompt_flag"):
        raise ConfigError(f'[agents.{name}] prompt = "flag" needs prompt_flag: fix town.toml')
    runtime = str(spec.get("runtime", name if name in RUNTIMES else "generic"))
    if runtime not in RUNTIMES:
        raise ConfigError(f"[agents.{name}] runtime must be one of {', '.join(RUNTIMES)}: fix town.toml")
    return Preset(
        runtime=runtime,
        start_timeout=float(spec.get("start_timeout", 60.0)),
        end_after_done=bool(spec.get("end_after_done", True)),
        name=name,
        argv=tuple(argv),
        prompt=prompt,
        prompt_flag=str(spec.get("prompt_flag", "")),
        ready_glyph=str(spec.get("ready_glyph", "> ")),
        ready_delay=float(spec.get("ready_delay", 8.0)),
        process_names=tuple(spec.get("process_names", (argv[0],))),
        env={str(k): str(v) for k, v in dict(spec.get("env", {})).items()},
        builtin=builtin,
    )


def presets(town: Town | None = None) -> dict[str, Preset]:
    """All presets: built-ins with ``town.toml`` ``[agents.*]`` overrides applied, plus town-only ones.

    Raises ConfigError for a malformed override.
    """
    specs = builtin_presets()
    builtin_names = set(specs)
    if town is not None:
        agents = town.config.get("agents", {})
        for name, override in agents.items():
            raw = override.unwrap() if hasattr(override, "unwrap") else dict(override)
            if not isinstance(raw, dict):
                raise ConfigError(f"[agents] {name} must be a table: fix town.toml")
            specs[name] = {**specs.get(name, {}), **raw}
    return {name: _make(name, spec, name in builtin_names) for name, spec in specs.items()}


def resolve(town: Town | None, name: str | None = None) -> Preset:
    """The preset called ``name`` (default: the town's ``default_agent``; ``auto`` = first installed
    CLI in AUTO_ORDER, else ``sim``).

    Raises NotFound for an unknown preset, GtError when its binary is not installed.
    """
    table = presets(town)
    if name is None:
        name = str(town.setting(None, "default_agent")) if town is not None else "auto"
    if name == "auto":
        for candidate in AUTO_ORDER:
            if candidate in table and table[candidate].installed():
                return table[candidate]
        return table["sim"]
    if name not in table:
        raise NotFound(
            f"unknown agent preset {name!r} (known: {', '.join(sorted(table))}): "
            f"add it with 'gt config agent set {name} \"CMD ARGS\"'"
        )
    preset = table[name]
    if not preset.installed():
        raise GtError(
            f"agent {name!r} needs {preset.binary!r}, which is not installed: "
            "install it or choose another agent with --agent"
        )
    return preset


def set_agent(town: Town, name: str, command: str) -> Preset:
    """Write ``[agents.NAME] argv`` into ``town.toml`` (comments kept) from ``command`` ("CMD ARGS",
    split like a POSIX shell would, never run through one).

    Raises GtError for a bad name or an empty/unparsable command; the file is then unchanged.
    """
    if not PRESET_NAME.match(name):
        raise GtError(f"invalid agent name {name!r}: use a lowercase letter first, then a-z 0-9 _ -")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise GtError(f"cannot parse command {command!r} ({exc}): quote it like a shell command") from exc
    if not argv:
        raise GtError('empty agent command: give the command and its arguments, e.g. "claude --model opus"')
    import tomlkit  # only to edit town.toml

    with edit_toml(town.config_path) as doc:
        agents = doc.get("agents")
        if agents is None:
            agents = tomlkit.table(is_super_table=True)
            doc["agents"] = agents
        if name in agents:
            agents[name]["argv"] = argv
        else:
            table = tomlkit.table()
            table["argv"] = argv
            agents[name] = table
    town.reload()
    return presets(town)[name]


def set_default_agent(town: Town, name: str) -> None:
    """Set ``default_agent`` in ``town.toml`` (``auto`` or a known preset). Raises NotFound otherwise."""
    if name != "auto" and name not in presets(town):
        raise NotFound(f"unknown agent preset {name!r}: see 'gt config agent list'")
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = name
    town.reload()
