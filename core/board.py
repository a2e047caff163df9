"""Boards: git repositories that towns share to trade work (issue 22, "Towns federate over plain git
remotes"). A board is any git repository this town may fetch from and push to (a forge, a bare
repository over ssh, https or git://); there is no server of ours. Modelled on Gas Town's Wasteland
(a wanted board towns post to and claim from), with git refs in place of DoltHub tables.

On the board (every ref readable with plain ``git ls-remote`` / ``git show``):

- ``refs/board/items/<item>``: a commit whose tree holds ``item.json`` (:class:`Item`): the bead's
  title, description, acceptance, labels, the rig's repository URL and base commit, and the posting
  town. Closing the item is a new commit on that ref (``status`` ``closed``, the merge commit).
- ``refs/board/claims/<item>``: the claim (:mod:`core.board_claims`), compare-and-swap on the ref.
- ``refs/board/work/<item>/<town>`` and ``refs/board/done/<item>/<town>``: a claimer's work (a
  commit of the rig's history) and its completion record (:mod:`core.board_work`).
- ``refs/board/stamps``: one commit per completed item (who, what, gates passed): the reputation
  log anyone can audit with ``git log``.

Item ids are ``<posting town>.<bead id>``, so two towns' beads never share one.

Here: the registry of boards (table ``boards`` in the town database; ``gt board add/list``), this
town's board name (``[board] town``), the local mirror of each board (``.gastown/boards/<name>.git``,
a bare repository that fetches ``refs/board/*``, makes the commits and pushes them), and posting and
reading items. Every git call is the CLI with an argv list and a timeout (``[board] timeout``),
``GIT_TERMINAL_PROMPT=0`` and no stdin; credentials are git's own. Board text is written by other
towns' agents: hostile. It is stored as JSON, and shown through :func:`core.plaintext.one_line`.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import events, git
from core.db import Database, ensure_schema, register_schema, transaction
from core.errors import GitError, GtError, NotFound
from core.plaintext import one_line
from core.remote import is_local, remote_message

if TYPE_CHECKING:
    from core.beads.store import BeadStore
    from core.town import Town

_DDL = """
CREATE TABLE IF NOT EXISTS boards (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS board_links (
    board TEXT NOT NULL,
    item TEXT NOT NULL,
    role TEXT NOT NULL,
    bead TEXT NOT NULL,
    rig TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    mr TEXT,
    done_sha TEXT,
    note TEXT NOT NULL DEFAULT '',
    updated_at REAL NOT NULL,
    PRIMARY KEY (board, item, role)
)
"""
register_schema("board", _DDL)

#: The ref namespace every board ref lives under.
NAMESPACE = "refs/board"
#: Names of boards and towns: what a ref component and a directory name may safely be.
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
#: Item ids: ``<town>.<bead id>``.
_ITEM = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}\.[A-Za-z0-9][A-Za-z0-9.-]{0,80}$")


class BoardError(GitError):
    """A board could not be reached, or refused a push (permissions, a hook). One line: what failed,
    the remote's own words (sanitised, :func:`core.remote.remote_message`) and the fix. Exit status
    1: not the caller's input."""

    exit_code = 1


@dataclass
class BoardInfo:
    """A registered board: ``name`` (this town's name for it), ``url`` (git remote URL or path),
    ``added_at`` (Unix seconds)."""

    name: str
    url: str
    added_at: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Item:
    """A wanted item as stored in ``item.json`` (board JSON, this module's format, version 1).

    id: ``<town>.<bead>``. town: the posting town. bead: its bead id there. rig_url: the posting
    rig's repository (its ``git_url``); base: the commit work starts from. status: ``open`` or
    ``closed`` (then ``merged``: the merge commit, ``by``: the town whose work merged). verdicts: the
    owner's refusals of completions (``{"town", "head", "reason"}``), newest last. posted_at: Unix
    seconds. sha: the item ref's commit (not stored in the JSON)."""

    id: str
    town: str
    bead: str
    title: str
    description: str = ""
    acceptance: str = ""
    labels: list[str] = field(default_factory=list)
    priority: int = 2
    rig: str = ""
    rig_url: str = ""
    base: str | None = None
    status: str = "open"
    merged: str | None = None
    by: str | None = None
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    posted_at: float = 0.0
    sha: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def record(self) -> dict[str, Any]:
        """What ``item.json`` holds (everything but ``sha``), with a format version."""
        out = {k: v for k, v in self.__dict__.items() if k != "sha"}
        return {"format": 1, **out}

    @classmethod
    def parse(cls, data: dict[str, Any], sha: str) -> Item:
        """An Item from ``item.json`` data; unknown keys ignored. Raises KeyError/TypeError/ValueError
        for a record without id, town, bead or title, or with the wrong types."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "sha"}
        item = cls(**known, sha=sha)
        for name in ("id", "town", "bead", "title", "description", "acceptance", "status"):
            if not isinstance(getattr(item, name), str):
                raise TypeError(name)
        if not isinstance(item.labels, list) or not isinstance(item.verdicts, list):
            raise TypeError("labels")
        return item


# -- names ----------------------------------------------------------------------------------------


def check_name(name: str, what: str = "board") -> str:
    """Return ``name`` if it is a valid board or town name (lower-case letters, digits, ``-``; at
    most 40 characters, starting with a letter or digit). Raises GtError naming ``what``."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise GtError(
            f"invalid {what} name {one_line(str(name))[:60]!r}: use lower-case letters, digits and '-' "
            "(at most 40, starting with a letter or digit)"
        )
    return name


def check_item(item: str) -> str:
    """Return ``item`` if it is a valid item id (``<town>.<bead>``); raises GtError otherwise."""
    if not isinstance(item, str) or not _ITEM.match(item) or ".." in item or item.endswith((".", ".lock")):
        raise GtError(
            f"invalid board item {one_line(str(item))[:80]!r}: items look like TOWN.BEAD, e.g. town-a.proj-a3f8 "
            "(see 'gt board items')"
        )
    return item


def town_name(town: Town) -> str:
    """This town's name on boards: ``[board] town``, else the town directory's name made lower-case
    with every other character a ``-``. Raises GtError when the setting is not a valid name."""
    configured = str(town.setting("board", "town") or "")
    if configured:
        return check_name(configured, "town ([board] town in town.toml)")
    derived = re.sub(r"[^a-z0-9-]+", "-", town.root.name.lower()).strip("-")[:40] or "town"
    return derived if _NAME.match(derived) else f"t{derived}"[:40]


def item_id(town: str, bead: str) -> str:
    """The board item id of ``bead`` posted by ``town``."""
    return check_item(f"{town}.{bead}")


def item_ref(item: str) -> str:
    return f"{NAMESPACE}/items/{item}"


def claim_ref(item: str) -> str:
    return f"{NAMESPACE}/claims/{item}"


def work_ref(item: str, town: str) -> str:
    return f"{NAMESPACE}/work/{item}/{town}"


def done_ref(item: str, town: str) -> str:
    return f"{NAMESPACE}/done/{item}/{town}"


STAMPS_REF = f"{NAMESPACE}/stamps"

#: Words of a push refused because a ref was not at its expected value (lost a race).
_RACED = ("stale info", "fetch first", "failed to update ref", "cannot lock ref", "already exists", "but expected")
#: Words of a push refused for the board's own reasons (hooks, permissions), whatever else it says.
_REFUSED = ("hook declined", "denied", "not permitted", "protected", "permission")


# -- registry -------------------------------------------------------------------------------------


def _ensure(db: Database) -> None:
    ensure_schema(db, _DDL)  # a connection opened before this module was imported


def add(db: Database, name: str, url: str, actor: str = "") -> BoardInfo:
    """Register board ``name`` at ``url`` (``gt board add``), in one transaction with a
    ``board_added`` event. A local path must be an existing directory (made absolute).
    Raises GtError for a bad name or URL, Conflict-like GtError when ``name`` is taken by another URL
    (the same URL again is a no-op returning the row)."""
    check_name(name)
    url = url.strip()
    if not url or any(ord(c) < 32 for c in url) or url.startswith("-"):
        raise GtError(f"invalid board URL {one_line(url)[:120]!r}: give a git remote URL or a repository path")
    if is_local(url):
        path = Path(url.removeprefix("file://")).expanduser()
        if not path.is_dir():
            raise GtError(f"board {name}: {path} is not a directory: give a git URL, or create the repository first")
        url = str(path.resolve())
    _ensure(db)
    with transaction(db):
        row = db.execute("SELECT url FROM boards WHERE name = ?", [name]).fetchone()
        if row is not None and row[0] != url:
            raise GtError(f"board {name} is already {row[0]}: remove it first with 'gt board remove {name}'")
        if row is None:
            db.execute("INSERT INTO boards (name, url, added_at) VALUES (?, ?, ?)", [name, url, time.time()])
            events.append(db, "board_added", actor, payload={"board": name, "url": url})
    return get(db, name)


def remove(db: Database, name: str, actor: str = "") -> None:
    """Forget board ``name`` (the board itself and this town's links to its items are kept).
    Raises NotFound."""
    get(db, name)
    with transaction(db):
        db.execute("DELETE FROM boards WHERE name = ?", [name])
        events.append(db, "board_removed", actor, payload={"board": name})


def boards(db: Database) -> list[BoardInfo]:
    """Every registered board, by name."""
    try:
        rows = db.execute("SELECT name, url, added_at FROM boards ORDER BY name").fetchall()
    except sqlite3.OperationalError:
        return []
    return [BoardInfo(*r) for r in rows]


def get(db: Database, name: str) -> BoardInfo:
    """The board ``name``. Raises NotFound saying how to add it."""
    for b in boards(db):
        if b.name == name:
            return b
    raise NotFound(f"no board {one_line(name)[:60]!r}: add it with 'gt board add NAME URL' (see 'gt board list')")


def pick(db: Database, name: str | None) -> BoardInfo:
    """Board ``name``, or the only registered board when None. Raises NotFound/GtError."""
    if name is not None:
        return get(db, name)
    found = boards(db)
    if len(found) == 1:
        return found[0]
    if not found:
        raise NotFound("this town has no board: add one with 'gt board add NAME URL'")
    raise GtError(f"this town has {len(found)} boards: name one with --board ({', '.join(b.name for b in found)})")


# -- the local mirror -----------------------------------------------------------------------------


class Mirror:
    """This town's bare mirror of one board, ``.gastown/boards/<name>.git``: fetches
    ``refs/board/*`` (pruned: it mirrors the board), makes commits of JSON records and pushes ref
    updates as one atomic compare-and-swap. timeout: seconds per network call."""

    def __init__(self, town: Town, board: BoardInfo, timeout: float | None = None) -> None:
        self.town, self.board = town, board
        self.path = town.state_dir / "boards" / f"{board.name}.git"
        self.timeout = float(town.setting("board", "timeout")) if timeout is None else timeout
        self.me = town_name(town)
        if not (self.path / "HEAD").exists():  # git init is idempotent: two towns' processes may race here
            self.path.mkdir(parents=True, exist_ok=True)
            git.run_git(["init", "--quiet", "--bare", str(self.path)], cwd=self.path.parent)

    # -- plumbing

    def git(self, args: list[str], input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A local git command in the mirror (no network)."""
        return git.run_git(args, cwd=self.path, check=check, input=input, timeout=60)

    def _remote(self, args: list[str], what: str) -> subprocess.CompletedProcess[str]:
        try:
            return git.run_git(args, cwd=self.path, check=False, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise BoardError(
                f"{what} timed out after {self.timeout:g} s: check the network and the board, or raise "
                f"[board] timeout in {self.town.config_path}"
            ) from None
        except OSError as exc:
            raise BoardError(f"{what} could not run git: {one_line(str(exc))}") from None

    def fetch(self) -> None:
        """Fetch every board ref into the mirror (forced and pruned: the board is the truth).
        Raises BoardError naming the board and the remote's message."""
        url = self.board.url
        proc = self._remote(
            [
                "fetch",
                "--quiet",
                "--prune",
                "--no-tags",
                "--no-write-fetch-head",
                "--",
                url,
                f"+{NAMESPACE}/*:{NAMESPACE}/*",
            ],
            f"fetching board {self.board.name} ({url})",
        )
        if proc.returncode != 0:
            raise BoardError(
                f"cannot fetch board {self.board.name} from {url}: {remote_message(proc)}: check the URL "
                f"('gt board list') and that the board is reachable"
            )

    def refs(self, prefix: str = NAMESPACE) -> dict[str, str]:
        """Every ref under ``prefix`` in the mirror: {ref: sha}."""
        proc = self.git(["for-each-ref", "--format=%(objectname) %(refname)", prefix])
        out: dict[str, str] = {}
        for line in proc.stdout.splitlines():
            sha, _, ref = line.partition(" ")
            out[ref] = sha
        return out

    def read_json(self, commit: str, name: str) -> dict[str, Any] | None:
        """The JSON object in file ``name`` of ``commit``'s tree, or None when missing or not a JSON
        object (a malformed record on the board is skipped, never trusted)."""
        proc = self.git(["cat-file", "blob", f"{commit}:{name}"], check=False)
        if proc.returncode != 0:
            return None
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def commit(
        self,
        files: dict[str, dict[str, Any]],
        message: str,
        parents: tuple[str, ...] = (),
        base_tree: str | None = None,
    ) -> str:
        """A new commit in the mirror whose tree holds ``files`` (name -> JSON object), on top of the
        entries of ``base_tree`` when given (same names replaced). Authored by this town. Returns its sha."""
        entries: dict[str, str] = {}
        if base_tree is not None:
            for line in self.git(["ls-tree", base_tree]).stdout.splitlines():
                meta, _, name = line.partition("\t")
                entries[name] = meta
        for name, data in files.items():
            blob = self.git(["hash-object", "-w", "--stdin"], input=json.dumps(data, indent=1, sort_keys=True) + "\n")
            entries[name] = f"100644 blob {blob.stdout.strip()}"
        listing = "".join(f"{meta}\t{name}\n" for name, meta in sorted(entries.items()))
        tree = self.git(["mktree"], input=listing).stdout.strip()
        args = ["commit-tree", tree, "-m", one_line(message)[:200]]
        for p in parents:
            args += ["-p", p]
        who = {"GIT_AUTHOR_NAME": self.me, "GIT_AUTHOR_EMAIL": f"{self.me}@gastown.board"}
        who |= {"GIT_COMMITTER_NAME": self.me, "GIT_COMMITTER_EMAIL": f"{self.me}@gastown.board"}
        return git.run_git(args, cwd=self.path, env=who, timeout=60).stdout.strip()

    def push(self, updates: list[tuple[str, str | None, str | None]], what: str) -> bool:
        """Push ``updates`` to the board as one atomic compare-and-swap: each (ref, new sha or None to
        delete, expected old sha or None for "absent"), ``git push --atomic --force-with-lease=REF:OLD``.

        Returns True when every ref moved, False when a lease failed (the board's ref was not the
        expected value: another town got there first); nothing moved then. The mirror's refs are set
        to what was pushed. Raises BoardError for any other refusal (permissions, a hook: the
        remote's words) or a failure to reach the board."""
        url = self.board.url
        args = ["push", "--porcelain", "--atomic", "--no-verify"]
        specs = []
        for ref, new, old in updates:
            args.append(f"--force-with-lease={ref}:{old or ''}")
            specs.append(f"{new}:{ref}" if new else f":{ref}")
        proc = self._remote([*args, "--", url, *specs], f"{what} on board {self.board.name}")
        statuses: dict[str, tuple[str, str]] = {}
        for line in proc.stdout.splitlines():
            fields = line.split("\t")
            if len(fields) >= 3:
                statuses[fields[1].rsplit(":", 1)[-1]] = (fields[0], fields[2])
        if proc.returncode == 0:
            for ref, new, _old in updates:
                if new:
                    self.git(["update-ref", ref, new])
                else:
                    self.git(["update-ref", "-d", ref], check=False)
            return True
        words = " ".join(s[1] for s in statuses.values()) + " " + (proc.stderr or "")
        refused = any(w in words for w in _REFUSED)
        if not refused and any(w in words for w in _RACED):
            return False  # a lease git itself found stale, or the board's ref transaction refusing the old value
        if statuses and any(s[0] == "!" for s in statuses.values()):
            raise BoardError(
                f"board {self.board.name} ({url}) refused {what}: {remote_message(proc)}: ask its owner for "
                "push rights to refs/board/*"
            )
        raise BoardError(
            f"{what} on board {self.board.name} ({url}) failed: {remote_message(proc)}: check the network "
            "and the URL ('gt board list')"
        )

    # -- items

    def items(self) -> dict[str, Item]:
        """Every readable item in the mirror (as last fetched), by id; malformed records skipped."""
        out: dict[str, Item] = {}
        for ref, sha in self.refs(f"{NAMESPACE}/items").items():
            data = self.read_json(sha, "item.json")
            if data is None:
                continue
            try:
                item = Item.parse(data, sha)
            except (KeyError, TypeError, ValueError):
                continue
            if ref == item_ref(item.id):
                out[item.id] = item
        return out

    def item(self, item: str) -> Item:
        """Item ``item`` as last fetched. Raises NotFound."""
        check_item(item)
        sha = self.refs(item_ref(item)).get(item_ref(item))
        data = self.read_json(sha, "item.json") if sha else None
        try:
            found = Item.parse(data, sha) if data is not None and sha else None
        except (KeyError, TypeError, ValueError):
            found = None
        if found is None or found.id != item:
            raise NotFound(f"board {self.board.name} has no item {item}: list them with 'gt board items'")
        return found


# -- posting --------------------------------------------------------------------------------------


def post(town: Town, store: BeadStore, bead: str, board_name: str | None = None, actor: str = "") -> Item:
    """``gt board post BEAD``: publish ``bead`` (a rig bead) to the board as a wanted item.

    The item ref is created only when absent (a compare-and-swap: posting twice is refused); the bead
    becomes ``in_progress``, assigned to ``board:<name>`` (this town's polecats leave it alone), and
    gets a ``posted`` link; a ``board_posted`` event. The rig's repository URL and the commit work
    starts from (:func:`core.upstream.start_point`) are in the item.
    Raises NotFound (bead, board), GtError (closed bead, not a rig bead, already posted),
    BoardError (unreachable board, refused push: nothing is changed locally then).
    """
    from core.beads import routes
    from core.rigs import load_rig
    from core.upstream import start_point

    db = store.db
    info = pick(db, board_name)
    bead = store.resolve(bead)
    issue = store.get(bead)
    if issue.status == "closed":
        raise GtError(f"bead {bead} is closed: only open work can be posted")
    rig_name = routes.rig_of(town, bead)
    if not rig_name:
        raise GtError(f"bead {bead} belongs to no rig: post a rig's bead (its repository is what claimers work on)")
    rig = load_rig(town, rig_name)
    mirror = Mirror(town, info)
    mirror.fetch()
    if item_ref(item_id(mirror.me, bead)) in mirror.refs(item_ref(item_id(mirror.me, bead))):
        raise GtError(f"{item_id(mirror.me, bead)} is already on board {info.name}: see 'gt board items'")
    item = Item(
        id=item_id(mirror.me, bead),
        town=mirror.me,
        bead=bead,
        title=issue.title,
        description=issue.description,
        acceptance=issue.acceptance_criteria,
        labels=sorted(issue.labels),
        priority=issue.priority,
        rig=rig.name,
        rig_url=rig.git_url,
        base=start_point(rig),
        posted_at=time.time(),
    )
    sha = mirror.commit({"item.json": item.record()}, f"post {item.id}: {issue.title}")
    if not mirror.push([(item_ref(item.id), sha, None)], f"posting {item.id}"):
        raise GtError(f"{item.id} is already on board {info.name}: see 'gt board items --board {info.name}'")
    item.sha = sha
    _ensure(db)
    with transaction(db):
        store.update(bead, actor or "gt", status="in_progress", assignee=f"board:{info.name}")
        link(db, info.name, item.id, "posted", bead, rig.name, "open")
        events.append(db, "board_posted", actor, rig=rig.name, bead=bead, payload={"board": info.name, "item": item.id})
    return item


# -- links: this town's side of each item ---------------------------------------------------------


@dataclass
class Link:
    """This town's tie to a board item: ``role`` ``posted`` (our bead, on the board) or ``claimed``
    (an item we claimed, imported as ``bead`` of ``rig``); ``state`` where it is (posted: open,
    merging, closed; claimed: claimed, submitted, lost, released, closed); ``mr`` the local merge
    request; ``done_sha`` the completion record handled last; ``note`` the last message."""

    board: str
    item: str
    role: str
    bead: str
    rig: str
    state: str
    mr: str | None
    done_sha: str | None
    note: str
    updated_at: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


_LINK_COLUMNS = "board, item, role, bead, rig, state, mr, done_sha, note, updated_at"


def link(db: Database, board: str, item: str, role: str, bead: str, rig: str, state: str) -> None:
    """Create or reset this town's link to ``item`` (plain SQL: joins the caller's transaction)."""
    db.execute(
        f"INSERT INTO board_links ({_LINK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, '', ?) "
        "ON CONFLICT(board, item, role) DO UPDATE SET bead = excluded.bead, rig = excluded.rig, "
        "state = excluded.state, mr = NULL, done_sha = NULL, note = '', updated_at = excluded.updated_at",
        [board, item, role, bead, rig, state, time.time()],
    )


def set_link(db: Database, board: str, item: str, role: str, **values: Any) -> None:
    """Update columns of a link (plain SQL: joins the caller's transaction)."""
    values["updated_at"] = time.time()
    sets = ", ".join(f"{k} = ?" for k in values)
    db.execute(
        f"UPDATE board_links SET {sets} WHERE board = ? AND item = ? AND role = ?",
        [*values.values(), board, item, role],
    )


def links(db: Database, board: str | None = None, role: str | None = None) -> list[Link]:
    """This town's links, optionally of one board and role, by item."""
    sql = f"SELECT {_LINK_COLUMNS} FROM board_links WHERE 1 = 1"
    args: list[str] = []
    if board is not None:
        sql, args = sql + " AND board = ?", [*args, board]
    if role is not None:
        sql, args = sql + " AND role = ?", [*args, role]
    try:
        return [Link(*r) for r in db.execute(sql + " ORDER BY board, item", args).fetchall()]
    except sqlite3.OperationalError:
        return []


def link_of_bead(db: Database, bead: str, role: str = "claimed") -> Link | None:
    """The link whose local bead is ``bead`` (a claimed item's import, by default), or None."""
    try:
        row = db.execute(
            f"SELECT {_LINK_COLUMNS} FROM board_links WHERE bead = ? AND role = ? ORDER BY updated_at DESC LIMIT 1",
            [bead, role],
        ).fetchone()
    except sqlite3.OperationalError:
        return None
    return Link(*row) if row else None


def held_for_board(db: Database, bead: str) -> bool:
    """True when ``bead`` is a claimed board item's import: its MR is held as ``board`` for the board
    loop (:func:`core.board_work.submit`) instead of queued for this town's refinery (asked by
    ``gt done`` and ``gt mq retry``)."""
    return link_of_bead(db, bead) is not None


def link_of_bead_item(db: Database, board: str, item: str, role: str = "claimed") -> Link | None:
    """This town's link to ``item`` of ``board`` in ``role``, or None."""
    found = links(db, board, role)
    return next((ln for ln in found if ln.item == item), None)
