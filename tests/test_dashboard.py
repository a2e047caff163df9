"""``gt dashboard`` (issue 21 part 7): the cockpit served to a browser by textual-serve, behind a token.

Real parts throughout: ``gt dashboard`` runs as its own process on a free loopback port, each browser
session starts a real cockpit process (``python -P -m gastown_tui``) on a real town with the ``sim``
agent and the town's private tmux server (killed afterwards). The browser is Debian's headless
``chromium`` driven by ``playwright-core`` (``make browser`` installs both) through
``browser/dashboard.mjs``, which waits on what the page's terminal is given to draw.

Set ``GT_DASHBOARD_SCREENSHOT=PATH`` to keep the browser's screenshot (README's is
``screenshots/dashboard.png``).
"""

from __future__ import annotations

import http.client
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from core.beads.store import BeadStore
from core.config import edit_toml
from core.pidfile import engine_pid
from core.rigs import add_rig
from core.sessions import SessionHost
from core.town import Town
from gastown_tui.dashboard import REFUSED, cockpit_command, is_loopback
from tests.conftest import VENV_BIN, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "browser" / "dashboard.mjs"
PLAYWRIGHT = ROOT / "browser" / "node_modules" / "playwright-core"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
#: A bead whose polecat prints a numbered line every 0.2 s for about a minute.
TICKS = "```sh\nfor i in $(seq 1 300); do echo web-tick-$i; sleep 0.2; done\n```\n"


class Served:
    """A running ``gt dashboard --port 0`` process: its printed URL, base address and token."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        line = wait_for(
            lambda: next((x for x in self.lines if "?token=" in x), None) or self._exited(),
            timeout=60,
            what="the dashboard's URL",
        )
        self.url = line.split(" at ", 1)[1].split()[0]
        parts = urlsplit(self.url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.port = parts.port
        self.token = parts.query.split("=", 1)[1]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def _exited(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"gt dashboard exited {self.proc.returncode}: {''.join(self.lines)}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
        """GET ``path`` (with its query) from the dashboard; the response is read."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        conn.close()
        return response

    def stop(self) -> int:
        """SIGTERM, then the exit status (the browser sessions' cockpits are told to quit first)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture
def web_town(town: Town, git_repo: Path, gt_env: dict[str, str]) -> Iterator[tuple[Town, dict[str, str]]]:
    """A town with rig ``demo`` and the ``sim`` agent, and the environment its processes run in; its
    tmux server is killed afterwards."""
    with edit_toml(town.config_path) as doc:
        doc["default_agent"] = "sim"
    town.reload()
    add_rig(town, "demo", str(git_repo))
    env = {**gt_env, "GT_LEDGER_SYNC": "off", "BD_ACTOR": "tester", "SHELL": "/bin/sh", "TERM": "xterm-256color"}
    env.pop("TMUX", None)
    yield town, env
    SessionHost(town).kill_server()


@pytest.fixture
def dashboard(web_town: tuple[Town, dict[str, str]]) -> Iterator[Served]:
    """``gt dashboard --port 0`` on the town, stopped (SIGTERM) afterwards."""
    town, env = web_town
    proc = subprocess.Popen(
        [str(VENV_BIN / "gt"), "--town", str(town.root), "dashboard", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=town.root,
    )
    board = Served(proc)
    try:
        yield board
    finally:
        if board.stop() != 0:
            print("".join(board.lines))


def test_each_browser_session_runs_the_cockpit_of_the_town_with_this_python(tmp_path: Path) -> None:
    town = tmp_path / 'a town\'s "dir" $(x)'
    assert shlex.split(cockpit_command(town)) == [sys.executable, "-P", "-m", "gastown_tui", "--town", str(town)]
    run = subprocess.run([sys.executable, "-P", "-m", "gastown_tui", "--version"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("gastown-tui, version"), run


def test_loopback_hosts_are_told_apart_from_others() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.0.2.7", "10.0.0.1", "2001:db8::1"):
        assert not is_loopback(host), host


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::"])
def test_a_host_others_can_reach_needs_allow_remote(run_gt, town: Town, host: str) -> None:
    result = run_gt("--town", str(town.root), "dashboard", "--host", host, "--port", "0")
    assert result.returncode == 2, result
    assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
    assert "--allow-remote" in result.stderr and host in result.stderr


def test_a_port_in_use_is_one_line_naming_the_port(run_gt, dashboard: Served, town: Town) -> None:
    result = run_gt("--town", str(town.root), "dashboard", "--port", str(dashboard.port))
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result
    assert f"127.0.0.1:{dashboard.port}" in result.stderr and "--port" in result.stderr


def test_every_route_refuses_a_request_without_the_token(dashboard: Served) -> None:
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}
    upgrade["Sec-WebSocket-Key"] = "dGhlIHNhbXBsZSBub25jZQ=="
    for path, headers in (
        ("/", {}),
        (f"/?token={dashboard.token[:-1]}", {}),
        ("/?token=", {}),
        ("/?token=%C3%A9", {}),
        ("/ws?width=80&height=24", upgrade),
        ("/static/js/textual.js", {}),
        ("/download/x", {}),
        ("/", {"Cookie": f"gt_dashboard_{dashboard.port + 1}={dashboard.token}"}),  # another port's cookie
    ):
        response = dashboard.get(path, headers)
        assert response.status == 403, (path, headers, response.status)
        assert response.body.decode() == REFUSED and not response.getheader("Set-Cookie")
    page = dashboard.get(f"/?token={dashboard.token}")
    assert (
        page.status == 200 and f'data-session-websocket-url="ws://127.0.0.1:{dashboard.port}/ws"' in page.body.decode()
    )
    cookie = page.getheader("Set-Cookie")
    assert cookie.startswith(f"gt_dashboard_{dashboard.port}={dashboard.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert page.getheader("Referrer-Policy") == "no-referrer"
    script = dashboard.get("/static/js/textual.js", {"Cookie": cookie.split(";")[0]})  # what the page then loads
    assert script.status == 200 and b"WebSocket" in script.body
    assert dashboard.stop() == 0


def _browser_tools() -> None:
    missing = [
        what for what, path in (("chromium", CHROMIUM), ("playwright-core", PLAYWRIGHT)) if not Path(path).exists()
    ]
    if missing or not shutil.which("node"):
        message = f"missing {', '.join(missing) or 'node'}: run 'make browser'"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI's make test installs them: missing there is a broken install step
        pytest.skip(message)


def test_the_cockpit_in_headless_chromium_shows_the_agents_and_slings_a_bead_by_key(
    web_town: tuple[Town, dict[str, str]], dashboard: Served, tmp_path: Path
) -> None:
    _browser_tools()
    town, env = web_town
    with BeadStore(town) as store:
        bead = store.create("Web sling [red]x[/]", actor="tester", prefix="de", description=TICKS).id
    screenshot = os.environ.get("GT_DASHBOARD_SCREENSHOT") or str(tmp_path / "dashboard.png")
    plan = {
        "url": dashboard.url,
        "refused": [dashboard.base + "/", f"{dashboard.base}/?token=not-{dashboard.token}"],
        "viewport": {"width": 1600, "height": 960},
        "timeout": 60_000,  # per wait: the first frame took ~10 s on a loaded 2-core machine
        "screenshot": screenshot,
        "steps": [
            # the agents tree, the ready bead (its markup shown as text), and the Mayor's live terminal
            {"see": ["Mayor", "demo", "witness", bead, "Web sling [red]x[/]", "gt config agent list"]},
            {"press": ["s"]},
            {"see": [f"Sling {bead}"]},
            {"press": ["Enter"]},
            {"see": ["web-tick-3"]},  # the slung polecat's terminal, streaming in the page
        ],
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    run = subprocess.run(
        ["node", str(DRIVER), str(plan_file)], capture_output=True, text=True, timeout=270, env=env, cwd=ROOT
    )
    result = json.loads(run.stdout.strip().splitlines()[-1]) if run.stdout.strip() else {}
    assert run.returncode == 0 and result.get("ok"), (
        f"{result.get('error') or run.stderr}\n--- what the page was given last:\n{result.get('tail')}\n"
        f"--- gt dashboard:\n{''.join(dashboard.lines)}"
    )
    assert [r["status"] for r in result["refused"]] == [403, 403], result["refused"]
    assert all(r["body"] == REFUSED.strip() for r in result["refused"])

    def hooked() -> str | None:
        with BeadStore(town) as store:
            got = store.get(bead)
        return got.assignee if got.status == "hooked" and got.assignee else None

    assignee = wait_for(hooked, timeout=60, what="the bead hooked in SQLite")
    assert assignee.startswith("demo/polecats/")
    assert Path(screenshot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert dashboard.stop() == 0


def _cockpits_of(town: Town) -> list[int]:
    """Pids of the cockpit processes running on ``town`` (``-m gastown_tui --town ROOT``)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gastown_tui" in argv and str(town.root).encode() in argv and proc.name.isdigit():
            found.append(int(proc.name))
    return found


def test_sigterm_quits_the_open_sessions_cockpits_first(
    web_town: tuple[Town, dict[str, str]], dashboard: Served, tmp_path: Path
) -> None:
    _browser_tools()
    town, env = web_town
    plan = {
        "url": dashboard.url,
        "timeout": 60_000,
        "steps": [{"see": ["Mayor", "gt config agent list"]}, {"say": "drawn"}, {"closed": True}],
    }
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    node = subprocess.Popen(["node", str(DRIVER), str(plan_file)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    try:
        assert node.stdout is not None
        first = node.stdout.readline()  # "drawn", or the driver's result when it failed
        assert first.strip() == "drawn", first
        cockpits = wait_for(lambda: _cockpits_of(town), timeout=30, what="the session's cockpit process")
        engine = wait_for(lambda: engine_pid(town), timeout=60, what="the session's cockpit running the engine")
        assert engine in cockpits
        assert dashboard.stop() == 0, "".join(dashboard.lines)
        assert not _cockpits_of(town)  # each session's cockpit quit before gt dashboard exited
        assert engine_pid(town) is None  # its engine stopped as on q (pid file gone, lock free)
        result = json.loads(node.communicate(timeout=90)[0].strip().splitlines()[-1])
        assert node.returncode == 0 and result["ok"], result  # the page saw its websocket closed
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
