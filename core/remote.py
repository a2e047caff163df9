"""Git remotes as git sees them: whether a URL names this machine, a remote's one-line words, and
whether git may push there. Below :mod:`core.rigs` and :mod:`core.upstream` (which owns fetching,
pushing and landing): it knows repositories, URLs and branches, never rigs.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from core import git
from core.plaintext import one_line

#: Longest remote message kept, in characters.
MAX_MESSAGE = 300


def is_local(url: str) -> bool:
    """True if ``url`` names a repository on this machine: a path or a ``file://`` URL (git's rule: a
    URL has ``://``; ``host:path`` with no slash before the colon is scp-like ssh)."""
    if url.startswith("file://"):
        return True
    if "://" in url:
        return False
    colon, slash = url.find(":"), url.find("/")
    return colon < 0 or (0 <= slash < colon)


def local_checkout(url: str) -> bool:
    """True if ``url`` is a local non-bare repository (a checkout with a work tree)."""
    if not is_local(url):
        return False
    path = Path(url.removeprefix("file://")).expanduser()
    if not path.is_dir():
        return False
    proc = git.run_git(["rev-parse", "--is-bare-repository"], cwd=path, check=False, timeout=30)
    return proc.returncode == 0 and proc.stdout.strip() == "false"


_NOISE = re.compile(r"^(hint:|To |Done$|error: failed to push some refs|Everything up-to-date)")


def remote_message(proc: subprocess.CompletedProcess[str]) -> str:
    """One line from a failed fetch or push: the refused ref's status (``--porcelain``, e.g.
    ``[remote rejected] (pre-receive hook declined)``), then the remote's ``remote:`` lines and git's
    ``fatal:``/``error:`` lines, without hints; control sequences stripped
    (:func:`core.plaintext.one_line`), at most :data:`MAX_MESSAGE` characters."""
    parts: list[str] = []
    for line in (proc.stdout or "").splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and fields[0] == "!":
            parts.append(fields[2])
    for raw in (proc.stderr or "").splitlines():
        line = raw.strip()
        if not line or _NOISE.match(line):
            continue
        if line.startswith("remote:"):
            line = line[len("remote:") :].strip()
            if not line:
                continue
        parts.append(line)
    text = " ".join(one_line("; ".join(dict.fromkeys(parts))).split()) or f"git exited {proc.returncode}"
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def may_push(repo: str | Path, url: str, branch: str, timeout: float = 20.0) -> tuple[bool, str]:
    """Whether git may push ``branch`` from repository ``repo`` to ``url``: a ``git push --dry-run``
    (it connects and authenticates as a real push would, and sends nothing). Returns (True, "") or
    (False, the remote's one-line message, or why it could not ask). timeout: seconds."""
    try:
        proc = git.run_git(
            ["push", "--dry-run", "--porcelain", "--", url, f"refs/heads/{branch}:refs/heads/{branch}"],
            cwd=repo,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return False, f"probing {url} timed out after {timeout:g} s"
    except OSError as exc:
        return False, f"probing {url} could not run git: {one_line(str(exc))}"
    if proc.returncode == 0:
        return True, ""
    rejected = [line for line in proc.stdout.splitlines() if line.startswith("!\t")]
    if rejected and all("[rejected]" in line for line in rejected):
        return True, ""  # it connected and may push; only this ref is behind
    return False, remote_message(proc)
