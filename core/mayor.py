"""The Mayor: the coordinator session the user talks to (DESIGN section 1, issue 4).

Session ``mayor`` runs in ``<town>/mayor``. With a real agent CLI as the town's default agent, the
Mayor is that agent started with :data:`MAYOR_PRIME` as its first prompt. When the default agent
resolves to ``sim`` (no AI CLI installed), the Mayor is the user's ``$SHELL`` (fallback ``bash``)
with ``gt`` first on PATH, opened by a banner of commands to try.

Nothing is ever typed into that shell (DESIGN section 7): whether the Mayor is one is read from the
session itself (:meth:`core.sessions.SessionHost.shell_of`: its pane's first process is the shell,
whatever agent the town names and whatever the user runs in it), and a nudge to it is sent as Mayor
mail instead (:func:`core.nudge.nudge`).
"""

from __future__ import annotations

from core import runtimes
from core.errors import NotFound
from core.sessions import SessionHost, SessionInfo, user_shell
from core.town import Town

SESSION = "mayor"

MAYOR_PRIME = (
    "You are the Mayor of this Gas Town: you coordinate a fleet of worker agents (polecats) on the "
    "town's rigs. Run `gt prime` to see your role and state. File work as beads (`gt bead create`), "
    "hand a bead to a polecat with `gt sling <bead> <rig>`, bundle beads in convoys (`gt convoy create`), "
    "and follow progress with `gt feed`, `gt mq list` and `gt mail inbox`. Do not write code yourself: "
    "delegate it."
)

BANNER = """\
Gas Town Mayor shell
town: {root}
No AI agent CLI is installed, so this is your shell, with gt on PATH. Try:
  gt rig add NAME GIT_URL         add a project
  gt bead create "TITLE" -d TEXT   file work (```sh blocks are run by the sim agent)
  gt sling BEAD RIG               hand a bead to a polecat
  gt feed                         what happened
  gt peek                         the running sessions
  gt config agent list            agent presets
"""


def host(town: Town) -> SessionHost:
    """The session host of ``town`` (its private tmux server)."""
    return SessionHost(town)


def mayor_env(town: Town) -> dict[str, str]:
    """Environment of the Mayor session: GT_TOWN, GT_ROLE=mayor, BD_ACTOR=mayor/ (DESIGN section 7)."""
    return {
        "GT_TOWN": str(town.root),
        "GT_ROLE": "mayor",
        "BD_ACTOR": "mayor/",
        "GIT_AUTHOR_NAME": "mayor",
        "GIT_COMMITTER_NAME": "mayor",
    }


def shell_argv(town: Town) -> list[str]:
    """The sim-town Mayor: ``sh -c`` printing the banner then exec-ing ``$SHELL`` (fallback bash).

    The script is a constant; the banner and the shell are positional arguments, never spliced in.
    """
    return ["sh", "-c", 'printf "%s\\n" "$1"; exec "$2"', "gt-mayor", BANNER.format(root=town.root), user_shell()]


def start(town: Town, agent: str | None = None, session_host: SessionHost | None = None) -> SessionInfo:
    """Start the Mayor session with ``agent`` (default: the town's ``default_agent``).

    Raises NotFound for an unknown preset, GtError for a missing binary, Conflict if the Mayor is
    already running; nothing is left running on error.
    """
    preset = runtimes.resolve(town, agent)
    h = session_host or host(town)
    town.mayor_dir.mkdir(parents=True, exist_ok=True)
    if preset.name == "sim":
        return h.start(SESSION, shell_argv(town), town.mayor_dir, env=mayor_env(town))
    return runtimes.start_agent(h, SESSION, preset, MAYOR_PRIME, town.mayor_dir, env=mayor_env(town))


def attach_argv(town: Town, session_host: SessionHost | None = None) -> list[str]:
    """The argv that attaches a terminal to the Mayor. Raises NotFound if the Mayor is not running."""
    h = session_host or host(town)
    if not h.exists(SESSION):
        raise NotFound("the Mayor is not running: start it with 'gt mayor start'")
    return h.attach_argv(SESSION)


def stop(town: Town, session_host: SessionHost | None = None) -> None:
    """Stop the Mayor session and its processes. Raises NotFound if it is not running."""
    h = session_host or host(town)
    if not h.exists(SESSION):
        raise NotFound("the Mayor is not running: nothing to stop")
    h.kill(SESSION)
