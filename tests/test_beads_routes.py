"""Bead prefix -> rig routes (``core.beads.routes``, issue 17): written by rig add and remove, read by
the ledger, sling and runs, and derived once for a town from before the routes file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import events
from core.beads import BeadStore, default_prefix, routes
from core.errors import ConfigError, GtError, NotFound
from core.rigs import add_rig, remove_rig
from core.sling import check_bead_for_rig
from core.town import Town
from tests.conftest import git, make_repo


def _lines(town: Town) -> list[dict]:
    return [json.loads(line) for line in routes.routes_path(town).read_text().splitlines()]


def test_prefix_of_and_rig_for_read_the_id_up_to_its_first_hyphen() -> None:
    assert routes.prefix_of("mp-a3f8.1") == "mp"
    assert routes.prefix_of("hq-cv-x1") == "hq"
    assert routes.prefix_of("nohyphen") == "nohyphen"
    table = {"mp": "myproj"}
    assert routes.rig_for("mp-a3f8.1", table) == "myproj"
    assert routes.rig_for("hq-cv-x1", table) is None


def test_a_new_town_commits_an_empty_routes_file(town: Town) -> None:
    assert routes.routes_path(town).read_text() == ""
    assert ".beads/routes.jsonl" in git(town.root, "ls-files").split()
    assert routes.load(town) == {}


def test_rig_add_and_remove_write_and_commit_the_route(town: Town, tmp_path: Path) -> None:
    add_rig(town, "demo", str(make_repo(tmp_path / "demo-src")))
    add_rig(town, "my-project", str(make_repo(tmp_path / "mp-src")), prefix="mp")
    assert _lines(town) == [{"prefix": "de-", "path": "demo"}, {"prefix": "mp-", "path": "my-project"}]
    assert routes.load(town) == {"de": "demo", "mp": "my-project"}
    assert routes.prefix_for_rig(town, "my-project") == "mp"
    committed = git(town.root, "show", "HEAD:.beads/routes.jsonl")
    assert committed == routes.routes_path(town).read_text()
    remove_rig(town, "demo")
    assert routes.load(town) == {"mp": "my-project"}
    assert routes.prefix_for_rig(town, "demo") is None
    assert git(town.root, "show", "HEAD:.beads/routes.jsonl") == routes.routes_path(town).read_text()
    assert git(town.root, "status", "--porcelain", "--", ".beads") == ""


def test_a_failed_rig_add_leaves_no_route(town: Town, tmp_path: Path) -> None:
    with pytest.raises(GtError):
        add_rig(town, "demo", str(make_repo(tmp_path / "src")), branch="no-such-branch")
    assert routes.load(town) == {}
    assert routes.routes_path(town).read_text() == ""


def test_the_store_the_sling_check_and_default_prefix_route_by_the_file(town: Town, tmp_path: Path) -> None:
    rig = add_rig(town, "demo", str(make_repo(tmp_path / "src")))
    with BeadStore(town) as store:
        rig_bead = store.create("Rig work", actor="t", prefix="de").id
        town_bead = store.create("Town work", actor="t").id
        created = {e.bead: e.rig for e in events.query(store.db, types=("created",))}
    assert created == {rig_bead: "demo", town_bead: None}
    check_bead_for_rig(town, rig, rig_bead)
    check_bead_for_rig(town, rig, town_bead)  # a town-level bead may go to any rig
    with pytest.raises(GtError, match="belongs to no rig .prefix 'zz' is unknown"):
        check_bead_for_rig(town, rig, "zz-abc")
    assert default_prefix(town) == "de"  # the only rig
    assert default_prefix(town, cwd=town.root / "demo" / "polecats") == "de"
    assert default_prefix(town, rig="demo") == "de"
    with pytest.raises(NotFound, match="no rig named 'nope' .rigs: demo."):
        default_prefix(town, rig="nope")
    add_rig(town, "other", str(make_repo(tmp_path / "other-src")), prefix="ot")
    assert default_prefix(town, cwd=town.root) == "hq"  # two rigs and the town's root: the town's prefix
    assert default_prefix(town, cwd=town.root / "other") == "ot"


def test_a_town_from_before_the_routes_file_derives_it_once_from_rig_toml(town: Town, tmp_path: Path) -> None:
    add_rig(town, "demo", str(make_repo(tmp_path / "src")))
    path = routes.routes_path(town)
    text = path.read_text()
    path.unlink()
    routes._cache.clear()
    assert routes.rig_of(town, "de-abc") == "demo"  # the first read derives and writes it
    assert path.read_text() == text
    before = path.stat().st_mtime_ns, path.stat().st_ino
    assert routes.load(town) == {"de": "demo"}
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before  # derived once, then read
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_derivation_names_the_rig_toml_it_cannot_read(town: Town, tmp_path: Path) -> None:
    add_rig(town, "demo", str(make_repo(tmp_path / "src")))
    routes.routes_path(town).unlink()
    (town.root / "demo" / "rig.toml").write_text("prefix = [oops\n")
    with pytest.raises(ConfigError, match=r"demo/rig.toml: cannot read the rig's prefix"):
        routes.load(town)
    assert not routes.routes_path(town).exists()  # nothing half-derived was written


@pytest.mark.parametrize(
    "line",
    [
        '{"prefix": "mp", "path": "demo"}',
        '{"prefix": "mp-", "path": "../etc"}',
        '{"prefix": "mp-", "path": "a/b"}',
        "not json",
        '["mp-", "demo"]',
        '{"prefix": "mp-"}',
        '{"prefix": "\\u001b[31m-", "path": 3}',
        '{"prefix": "mp-", "path": "de\\u001bmo"}',
    ],
)
def test_a_malformed_route_is_one_error_naming_the_file_and_line(town: Town, line: str) -> None:
    routes.routes_path(town).write_text('{"prefix": "de-", "path": "demo"}\n' + line + "\n")
    with pytest.raises(ConfigError) as err:
        routes.load(town)
    message = str(err.value)
    assert message.startswith(f"{routes.routes_path(town)}:2: not a route") and "delete the file" in message
    assert "\x1b" not in message


def test_a_change_by_another_process_is_read_again(town: Town) -> None:
    assert routes.load(town) == {}
    routes.routes_path(town).write_text('{"prefix": "de-", "path": "demo"}\n# a comment\n\n')
    assert routes.load(town) == {"de": "demo"}
