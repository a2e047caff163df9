"""A polecat's start with each real agent CLI, next to ``sim``: ``gt sling`` to the first model request
and to the merge request (issue 14).

Per agent (``sim``, then Claude Code and Codex from ``agents/node_modules``, skipped when not
installed), ROUNDS times in a fresh town with an engine running: one bead whose description holds one
sh block is slung with ``gt sling`` as a whole process. Measured from the sling's start (seconds,
median): the sling returning (the agent took its prompt), the first request reaching the scripted
model on 127.0.0.1 (real CLIs only), and the merge request queued (the agent ran ``gt done``). The
baseline of each row is ``sim``'s figure in the same run; the scripted model answers at once, so the
figures are the CLIs' own overhead, not a model's thinking.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from core import mq
from core.beads.store import BeadStore
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import install_town
from tests.conftest import VENV_BIN, make_repo
from tests.model_endpoint import ModelEndpoint
from tests.real_agents import AGENTS_BIN, SETTINGS, claude_env, claude_home, codex_env, codex_home
from tests.test_engine_support import EngineThread, configure

ROUNDS = 3
AGENTS = ("sim", "claude", "codex")


def _once(agent: str) -> tuple[float, float | None, float]:
    """(sling returned, first model request or None, MR queued), seconds after the sling started."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-agents-"))
    with ModelEndpoint() as ep:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GT_", "BD_"))}
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        if agent == "claude":
            env.update(claude_env(claude_home(tmp / "home"), ep))
        elif agent == "codex":
            env.update(codex_env(codex_home(tmp / "home", ep)))
        else:
            env["HOME"] = str(tmp)
        saved = dict(os.environ)
        os.environ.update(env)  # the in-process engine starts agents with this environment
        town, _ = install_town(tmp / "town")
        configure(town, SETTINGS)
        add_rig(town, "demo", str(make_repo(tmp / "src", {"README.md": "bench\n"})))
        gt = [str(VENV_BIN / "gt")]
        made = subprocess.run(
            [*gt, "bead", "create", "Note", "-d", "```sh\necho hi > hi.txt\n```\n", "--rig", "demo", "--json"],
            cwd=town.root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        bead = json.loads(made.stdout)["id"]
        runner = EngineThread(town).start()
        try:
            t0 = time.monotonic()
            subprocess.run(
                [*gt, "sling", bead, "demo", "--agent", agent],
                cwd=town.root,
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=180,
            )
            returned = time.monotonic() - t0
            while True:
                with BeadStore(town) as store:
                    if any(m.bead == bead for m in mq.list_mrs(store.db)):
                        queued = time.monotonic() - t0
                        break
                if time.monotonic() - t0 > 180:
                    raise RuntimeError(f"{agent}: no merge request after 180 s")
                time.sleep(0.02)
            sent = [r["time"] for r in ep.requests if r["api"] in ("anthropic", "openai")]
            first = min(sent) - t0 if sent else None
        finally:
            runner.stop()
            SessionHost(town).kill_server()
            os.environ.clear()
            os.environ.update(saved)
    return returned, first, queued


def run() -> list[dict]:
    figures: dict[str, list[tuple[float, float | None, float]]] = {}
    for agent in AGENTS:
        if agent != "sim" and not (AGENTS_BIN / agent).exists():
            continue
        figures[agent] = [_once(agent) for _ in range(ROUNDS)]
    sim = figures["sim"]
    base_ret = statistics.median(r[0] for r in sim)
    base_mr = statistics.median(r[2] for r in sim)
    rows = []
    for agent, runs in figures.items():
        rows.append(
            {
                "benchmark": "agent start",
                "case": f"{agent}: gt sling returns (prompt taken)",
                "value": statistics.median(r[0] for r in runs),
                "unit": "s",
                "baseline": base_ret,
            }
        )
        if agent != "sim":
            rows.append(
                {
                    "benchmark": "agent start",
                    "case": f"{agent}: gt sling to first model request",
                    "value": statistics.median(r[1] or 0.0 for r in runs),
                    "unit": "s",
                }
            )
        rows.append(
            {
                "benchmark": "agent start",
                "case": f"{agent}: gt sling to its MR (gt done)",
                "value": statistics.median(r[2] for r in runs),
                "unit": "s",
                "baseline": base_mr,
            }
        )
    return rows
