"""A real git server on 127.0.0.1 for tests: ``git daemon`` serving bare repositories over the git://
protocol, pushes enabled (``--enable=receive-pack``), so fetches and pushes go through a real
network protocol and a real ``receive-pack`` (with its hooks: ``pre-receive`` messages reach the
client as ``remote:`` lines, exactly as from a forge).

git daemon needs a fixed port: :func:`free_port` asks the kernel for a free one (bind to port 0),
the daemon is started on it and :class:`GitServer` waits until it accepts a connection (a positive
signal, never a sleep); if another process took the port in between, the daemon exits and a new
port is tried.

Use the ``git_server`` fixture (every test gets it: tests/conftest.py lists this module in
``pytest_plugins``)::

    def test_x(git_server):
        remote = git_server.create("owner/proj", {"README.md": "# proj\\n"})
        url = git_server.url("owner/proj")          # git://127.0.0.1:PORT/owner/proj.git
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import git, make_repo


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GitServer:
    """``git daemon`` serving every bare repository under ``base`` on 127.0.0.1 (git://; pushes on
    unless ``push`` is False: then the daemon refuses ``receive-pack``, as a read-only remote does).

    Repositories are ``<base>/<name>.git``; :meth:`create` makes one with a first commit.
    :meth:`stop` ends the daemon (a network failure for clients); :meth:`start` serves again on the
    same port when it is still free.
    """

    def __init__(self, base: Path, push: bool = True) -> None:
        self.base = base
        self.push = push
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start the daemon (on a new free port unless it has one) and wait until it accepts."""
        for _attempt in range(5):
            port = self.port or free_port()
            log = open(self.base.parent / f"git-daemon-{port}.log", "wb")  # noqa: SIM115 - the daemon owns it
            self.proc = subprocess.Popen(
                [
                    "git",
                    "daemon",
                    "--reuseaddr",
                    "--listen=127.0.0.1",
                    f"--port={port}",
                    f"--base-path={self.base}",
                    "--export-all",
                    "--informative-errors",
                    *(["--enable=receive-pack"] if self.push else []),
                    str(self.base),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            log.close()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break  # the port was taken: try another
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        self.port = port
                        return
                except OSError:
                    time.sleep(0.02)  # polling a positive signal: the listening socket
            self._kill()
            self.port = 0
        raise RuntimeError(f"git daemon did not start under {self.base}")

    def stop(self) -> None:
        """Stop the daemon: clients now get connection refused."""
        self._kill()

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=30)
        self.proc = None

    def path(self, name: str) -> Path:
        """The bare repository of ``name`` (``owner/proj``) on the server's disk."""
        return self.base / f"{name}.git"

    def url(self, name: str) -> str:
        """``git://127.0.0.1:PORT/<name>.git``."""
        return f"git://127.0.0.1:{self.port}/{name}.git"

    def create(self, name: str, files: dict[str, str] | None = None, branch: str = "main") -> Path:
        """A new bare repository ``name`` on the server whose ``branch`` holds one commit of ``files``."""
        seed = make_repo(self.base.parent / "seeds" / name, files, branch=branch)
        dest = self.path(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        git(self.base.parent, "clone", "-q", "--bare", str(seed), str(dest))
        shutil.rmtree(seed)
        return dest

    def head(self, name: str, branch: str = "main") -> str:
        """The sha ``branch`` of repository ``name`` points at on the server."""
        return git(self.path(name), "rev-parse", f"refs/heads/{branch}").strip()

    def refs(self, name: str) -> str:
        """Every ref of repository ``name`` with its sha (``git show-ref``): what a test compares to
        show the server was not changed."""
        return subprocess.run(["git", "show-ref"], cwd=self.path(name), capture_output=True, text=True).stdout

    def hook(self, name: str, hook: str, script: str) -> Path:
        """Install ``hook`` (e.g. ``pre-receive``) with the sh ``script`` body in repository ``name``."""
        path = self.path(name) / "hooks" / hook
        path.write_text("#!/bin/sh\n" + script)
        path.chmod(0o755)
        return path


@pytest.fixture
def git_server(tmp_path: Path):
    """A running :class:`GitServer` under ``tmp_path/server``; stopped at teardown."""
    server = GitServer(tmp_path / "server" / "repos")
    server.start()
    try:
        yield server
    finally:
        server.stop()
