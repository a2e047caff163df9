"""``bd`` as agents call it: each test runs one command line as Gas Town's role templates and formulas
(github:steveyegge/gastown, internal/templates, internal/formula/formulas) or beads' AGENTS.md write
it, split like a shell would (shlex), as a real ``bd`` process on a real town, and checks what bd
would answer: the beads changed, the JSON shape, the exit status. Titles are hostile (escape
sequences, shell syntax): printed as text, kept lossless in JSON.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.beads import BeadStore, jsonl
from core.rigs import add_rig
from core.town import Town
from gastown_tui.bd_cli import bd, create_cmd
from gastown_tui.bdpath import ACTOR, CREATE_OPTIONS, create_args
from tests.conftest import VENV_BIN, make_repo

OFF = {"GT_LEDGER_SYNC": "off", "BD_ACTOR": "gastown/polecats/ace"}
#: A title an agent could write: a terminal title change, a screen clear, shell substitutions.
HOSTILE = "Fix \x1b]0;owned\x07login \x1b[2J$(touch pwned) `id`; rm -rf ~"
VISIBLE = "Fix login $(touch pwned) `id`; rm -rf ~"


@pytest.fixture
def run_bd(gt_env: dict[str, str], town: Town):
    """``run_bd(line_or_args, input=None, env=None, cwd=None)``: a real ``bd`` process in the town.
    A string is split as a shell would (the template line as written); a list is passed as is."""

    def run(
        line: str | list[str], input: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        args = shlex.split(line) if isinstance(line, str) else line
        assert args[0] == "bd"
        return subprocess.run(
            [str(VENV_BIN / "bd"), *args[1:]],
            cwd=cwd or town.root,
            input=input,
            capture_output=True,
            text=True,
            env={**gt_env, **OFF, **(env or {})},
            timeout=60,
        )

    return run


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    return proc.stdout


def js(proc: subprocess.CompletedProcess[str]):
    return json.loads(ok(proc))


@pytest.fixture
def store(town: Town):
    with BeadStore(town) as s:
        yield s


@pytest.fixture
def work(store: BeadStore) -> dict[str, str]:
    """A hostile-titled task, a bug, and a task blocked by the bug."""
    task = store.create(HOSTILE, actor="mayor", description="desc", priority=1)
    bug = store.create("Crash on start", actor="mayor", issue_type="bug", priority=0)
    blocked = store.create("After the crash", actor="mayor", deps=[bug.id])
    return {"task": task.id, "bug": bug.id, "blocked": blocked.id}


# ---------------------------------------------------------------- ready, list, show, blocked


def test_bd_ready(run_bd, work) -> None:  # crew.md.tmpl, mol-idea-to-plan: `bd ready`
    out = ok(run_bd("bd ready"))
    assert "Ready work (2 issues" in out and VISIBLE in out and work["blocked"] not in out
    assert out.index(work["bug"]) < out.index(work["task"])  # P0 before P1


def test_bd_ready_json(run_bd, work) -> None:  # AGENTS.md: `bd ready --json`
    rows = js(run_bd("bd ready --json"))
    assert [r["id"] for r in rows] == [work["bug"], work["task"]]
    assert rows[1]["title"] == HOSTILE  # lossless in JSON
    assert {"dependency_count", "dependent_count", "comment_count"} <= set(rows[0])
    assert rows[0]["dependent_count"] == 1 and "schema_version" not in rows[0]  # a list passes through


def test_bd_list_status_in_progress(run_bd, store, work) -> None:  # crew.md.tmpl: `bd list --status=in_progress`
    store.claim(work["task"], "gastown/polecats/ace")
    out = ok(run_bd("bd list --status=in_progress"))
    assert work["task"] in out and work["bug"] not in out and VISIBLE in out


def test_bd_list_status_open_json(run_bd, work) -> None:  # mol-witness-patrol: `bd list --status=open --json`
    rows = js(run_bd("bd list --status=open --json"))
    assert sorted(r["id"] for r in rows) == sorted(work.values())
    assert next(r for r in rows if r["id"] == work["blocked"])["dependency_count"] == 1


def test_bd_list_type_status(run_bd, work) -> None:  # mol-idea-to-plan: `bd list --type=bug --status=open`
    out = ok(run_bd("bd list --type=bug --status=open"))
    assert work["bug"] in out and work["task"] not in out


def test_bd_list_comma_labels(run_bd, store, work) -> None:
    # mol-witness-patrol: `bd list --label polecat:<name>,state:merge-requested --status=open`
    wisp = store.create("cleanup", actor="witness", labels=["polecat:ace", "state:merge-requested"])
    store.create("other", actor="witness", labels=["polecat:ace"])
    out = ok(run_bd("bd list --label polecat:ace,state:merge-requested --status=open"))
    assert wisp.id in out and "other" not in out


def test_bd_list_in_progress_json_limit_zero(run_bd, store, work) -> None:
    # mol-witness-patrol: `bd list --status=in_progress --json --limit=0`
    for bead in (work["task"], work["bug"]):
        store.claim(bead, "gastown/polecats/ace")
    rows = js(run_bd("bd list --status=in_progress --json --limit=0"))
    assert sorted(r["id"] for r in rows) == sorted([work["task"], work["bug"]])
    assert all(r["assignee"] == "gastown/polecats/ace" for r in rows)


def test_bd_list_assignee(run_bd, store, work) -> None:
    # mol-refinery-patrol: `bd list --status=in_progress --assignee=refinery`
    store.claim(work["bug"], "refinery")
    store.claim(work["task"], "someone")
    out = ok(run_bd("bd list --status=in_progress --assignee=refinery"))
    assert work["bug"] in out and work["task"] not in out


def test_bd_list_created_window(run_bd, store, work) -> None:
    # mol-digest-generate: `bd list --created-after={{since}} --created-before={{until}}`
    line = {"id": "hq-old1", "title": "Old one", "status": "open", "priority": 2, "issue_type": "task"}
    jsonl.import_text(store, json.dumps({**line, "created_at": "2026-01-01T10:00:00Z"}) + "\n")
    old = store.get("hq-old1")
    out = ok(run_bd("bd list --created-after=2026-06-01 --created-before=+1d"))
    assert work["task"] in out and old.id not in out
    assert old.id in ok(run_bd("bd list --created-after=2025-12-31T00:00:00Z --created-before=2026-01-02"))
    bad = run_bd("bd list --created-after=yesterdayish")
    assert bad.returncode == 1 and "--created-after" in bad.stderr


def test_bd_list_closed_updated_after(run_bd, store, work) -> None:
    # mol-digest-generate: `bd list --status=closed --updated-after={{since}}`
    store.close(work["bug"], "mayor")
    out = ok(run_bd("bd list --status=closed --updated-after=-1h"))
    assert work["bug"] in out and work["task"] not in out
    assert work["bug"] not in ok(run_bd("bd list --status=closed --updated-after=+1h"))


def test_bd_list_label_created_after(run_bd, store, work) -> None:
    # mol-digest-generate: `bd list --label=incident --created-after={{since}}`
    incident = store.create("Outage", actor="deacon", labels=["incident"])
    out = ok(run_bd("bd list --label=incident --created-after=-1d"))
    assert incident.id in out and work["task"] not in out


def test_bd_list_desc_contains_json(run_bd, store) -> None:
    # mol-witness-patrol: `bd list --label=gt:agent --desc-contains="role_type: witness" --json`
    mine = store.create(
        "witness",
        actor="mayor",
        issue_type="agent",
        labels=["gt:agent"],
        description="Role_Type: Witness\nrig: gastown",
    )
    store.create("refinery", actor="mayor", issue_type="agent", labels=["gt:agent"], description="role_type: refinery")
    rows = js(run_bd('bd list --label=gt:agent --desc-contains="role_type: witness" --json'))
    assert [r["id"] for r in rows] == [mine.id]


def test_bd_show_id(run_bd, work) -> None:  # spawn.md.tmpl: `bd show {{ .Issue }}`
    out = ok(run_bd(f"bd show {work['task']}"))
    assert VISIBLE in out and "desc" in out


def test_bd_show_json_is_a_list(run_bd, work) -> None:
    # mol-convoy-feed: `bd show <issue-id> --json`; AGENTS.md reads it with jq '.[0]'
    rows = js(run_bd(f"bd show {work['blocked']} --json"))
    assert isinstance(rows, list) and len(rows) == 1
    row = rows[0]
    assert row["id"] == work["blocked"] and row["dependency_count"] == 1 and row["comment_count"] == 0
    assert row["dependencies"][0]["id"] == work["bug"] and row["dependencies"][0]["dependency_type"] == "blocks"


def test_bd_show_several_ids(run_bd, work) -> None:  # issue 18: `bd show A B`
    out = ok(run_bd(f"bd show {work['task']} {work['bug']}"))
    assert VISIBLE in out and "Crash on start" in out
    rows = js(run_bd(f"bd show {work['task']} {work['bug']} --json"))
    assert [r["id"] for r in rows] == [work["task"], work["bug"]]


def test_bd_show_a_missing_id_among_several(run_bd, work) -> None:  # bd: go on past it, exit 0
    proc = run_bd(f"bd show {work['bug']} hq-nope --json")
    assert [r["id"] for r in js(proc)] == [work["bug"]] and "hq-nope" in proc.stderr


def test_bd_show_missing_json_error(run_bd, work) -> None:  # bd: exit 1, a JSON error on stdout
    proc = run_bd("bd show hq-nope --json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {"error": "no issues found matching the provided IDs", "schema_version": 1}
    plain = run_bd("bd show hq-nope")
    assert plain.returncode == 1 and plain.stderr.startswith("Error: ") and plain.stdout == ""


def test_bd_blocked(run_bd, work) -> None:  # crew.md.tmpl: `bd blocked`; mol-idea-to-plan: `bd blocked --json`
    assert work["blocked"] in ok(run_bd("bd blocked"))
    rows = js(run_bd("bd blocked --json"))
    assert [(r["id"], r["blocked_by"]) for r in rows] == [(work["blocked"], [work["bug"]])]


# ---------------------------------------------------------------- create


def _created(store: BeadStore, proc: subprocess.CompletedProcess[str]):
    out = ok(proc)
    bead = out.split("Created issue: ", 1)[1].split(" ", 1)[0]
    return store.get(bead)


def test_bd_create_title_type_priority(run_bd, store) -> None:
    # polecat-CLAUDE.md: `bd create --title="Found bug" --type=bug --priority=2`
    issue = _created(store, run_bd('bd create --title="Found bug" --type=bug --priority=2'))
    assert (issue.title, issue.issue_type, issue.priority) == ("Found bug", "bug", 2)
    assert issue.created_by == "gastown/polecats/ace"


def test_bd_create_title_spaced_flags(run_bd, store) -> None:
    # mol-polecat-work: `bd create --title "Found: <description>" --type bug --priority 2`
    issue = _created(store, run_bd('bd create --title "Found: flaky test" --type bug --priority 2'))
    assert (issue.title, issue.issue_type) == ("Found: flaky test", "bug")


def test_bd_create_positional_title(run_bd, store) -> None:  # polecat-CLAUDE.md: `bd create "title"`
    issue = _created(store, run_bd(["bd", "create", HOSTILE]))
    assert issue.title == HOSTILE and issue.issue_type == "task" and issue.priority == 2


def test_bd_create_positional_with_description(run_bd, store) -> None:
    # mol-idea-to-plan: `bd create "Task title" --type=task --description="\n## Context ..."`
    line = 'bd create "Task title" --type=task --description="\n## Context\nFrom: the plan\n"'
    issue = _created(store, run_bd(line))
    assert issue.title == "Task title" and issue.description == "\n## Context\nFrom: the plan\n"


def test_bd_create_assignee_comma_labels(run_bd, store) -> None:
    # issue 18: `bd create --title=... --type=... -a me -l a,b`
    issue = _created(store, run_bd("bd create --title=Wire --type=feature -a me -l a,b"))
    assert issue.assignee == "me" and issue.labels == ["a", "b"] and issue.issue_type == "feature"


def test_bd_create_ephemeral_labels_silent(run_bd, store) -> None:
    # mol-refinery-patrol: `bd create "quality-review: ..." -t chore --ephemeral -l type:plugin-run,... -d "..." --silent`
    line = (
        'bd create "quality-review: Score 8, approve" -t chore --ephemeral '
        "-l type:plugin-run,plugin:quality-review-result,worker:ace,rig:gastown,score:8,recommendation:approve,"
        'result:success -d "Score: 8, approve. Issues: 0 (none)" --silent'
    )
    bead = ok(run_bd(line)).strip()
    issue = store.get(bead)
    assert issue.ephemeral and issue.issue_type == "chore" and "score:8" in issue.labels and len(issue.labels) == 7
    assert issue.description.startswith("Score: 8")


def test_bd_create_deps_json(run_bd, store, work) -> None:
    # AGENTS.md: `bd create "Issue title" --description="..." -p 1 --deps discovered-from:bd-123 --json`
    made = js(run_bd(f'bd create "Found it" --description="What" -p 1 --deps discovered-from:{work["task"]} --json'))
    assert made["schema_version"] == 1 and made["priority"] == 1 and made["description"] == "What"
    assert store.get(made["id"]).dependencies[0].type == "discovered-from"
    assert "assignee" not in made  # empty fields left out, as bd's omitempty


def test_bd_create_description_from_stdin(run_bd, store) -> None:
    # AGENTS.md: `echo 'Description with `backticks` and "quotes"' | bd create "Title" --description=- --json`
    text = 'Description with `backticks` and "quotes"\n'
    made = js(run_bd('bd create "Title" --description=- --json', input=text))
    assert store.get(made["id"]).description == text


def test_bd_create_body_file_and_stdin(run_bd, store, tmp_path: Path) -> None:  # bd flags: --body-file, --stdin
    body = tmp_path / "body.md"
    body.write_text("from a file \x1b[31m\n", encoding="utf-8")
    made = js(run_bd(["bd", "create", "--title", "Filed", "--body-file", str(body), "--json"]))
    assert store.get(made["id"]).description == "from a file \x1b[31m\n"
    piped = js(run_bd("bd create Piped --stdin --json", input="piped text"))
    assert store.get(piped["id"]).description == "piped text"
    both = run_bd(["bd", "create", "X", "--stdin", "-d", "y"])
    assert both.returncode == 1 and "description once" in both.stderr


def test_bd_create_parent(run_bd, store, work) -> None:  # bd flag: --parent
    made = js(run_bd(f"bd create Step --parent {work['task']} --json"))
    assert made["id"] == f"{work['task']}.1" and store.get(made["id"]).parent == work["task"]


def test_bd_create_rig(
    run_bd, store, town: Town, tmp_path: Path
) -> None:  # crew.md.tmpl: `bd create --rig gastown "..."`
    add_rig(town, "gastown", str(make_repo(tmp_path / "src")), prefix="gt")
    issue = _created(store, run_bd('bd create --rig gastown "Fix the gt CLI"'))
    assert issue.id.startswith("gt-")


def test_bd_create_prefix(run_bd, store) -> None:  # crew.md.tmpl: `bd create --prefix hq- "..."`
    assert _created(store, run_bd('bd create --prefix hq- "Cross-rig work"')).id.startswith("hq-")


def test_bd_create_titles_conflict(run_bd, store) -> None:  # bd refuses two different titles, exit 1
    proc = run_bd('bd create "One" --title="Two"')
    assert proc.returncode == 1 and proc.stderr.startswith("Error: two different titles")
    assert store.list() == []


def test_bd_create_unknown_type(run_bd, store) -> None:
    # mol-digest-generate: `bd create --title="Digest: {{date}}" --type=digest ... --label=digest,{{period}}`;
    # bd refuses an undeclared type too (types.custom), and so do we: exit 1, nothing created
    proc = run_bd('bd create --title="Digest: 2026-12-02" --type=digest --description="d" --label=digest,daily')
    assert proc.returncode == 1 and "digest" in proc.stderr and store.list() == []


# ---------------------------------------------------------------- update


def test_bd_update_status_in_progress(run_bd, store, work) -> None:
    # polecat-CLAUDE.md: `bd update <id> --status=in_progress`
    ok(run_bd(f"bd update {work['task']} --status=in_progress"))
    assert store.get(work["task"]).status == "in_progress"


def test_bd_update_notes_and_design(run_bd, store, work) -> None:
    # mol-polecat-work: `bd update {{issue}} --notes "Findings so far: ..."`, `bd update {{issue}} --design "..."`
    ok(run_bd(f'bd update {work["task"]} --notes "Findings so far: it is the cache"'))
    ok(run_bd(f'bd update {work["task"]} --design "<structured findings>"'))
    issue = store.get(work["task"])
    assert issue.notes == "Findings so far: it is the cache" and issue.design == "<structured findings>"


def test_bd_update_append_notes(run_bd, store, work) -> None:  # issue 18: `bd update ID --append-notes`
    ok(run_bd(f'bd update {work["task"]} --notes "first"'))
    rows = js(run_bd(["bd", "update", work["task"], "--append-notes", HOSTILE, "--json"]))
    assert rows[0]["notes"] == f"first\n{HOSTILE}" and store.get(work["task"]).notes == f"first\n{HOSTILE}"
    both = run_bd(f"bd update {work['task']} --notes a --append-notes b")
    assert both.returncode == 1 and "--append-notes" in both.stderr
    assert store.get(work["task"]).notes == f"first\n{HOSTILE}"


def test_bd_update_claim_json(run_bd, store, work) -> None:
    # polecat-CLAUDE.md: `bd update <id> --claim`; AGENTS.md: `bd update <id> --claim --json`
    rows = js(run_bd(f"bd update {work['bug']} --claim --json"))
    assert rows[0]["status"] == "in_progress" and rows[0]["assignee"] == "gastown/polecats/ace"
    taken = run_bd(f"bd update {work['bug']} --claim", env={"BEADS_ACTOR": "other"})
    assert taken.returncode == 1 and "already claimed" in taken.stderr


def test_bd_update_add_label(run_bd, store, work) -> None:  # mol: `bd update <id> --add-label <label>`
    ok(run_bd(f"bd update {work['task']} --add-label needs-review"))
    ok(run_bd(f"bd update {work['task']} --add-label a,b"))
    assert store.get(work["task"]).labels == ["a", "b", "needs-review"]


def test_bd_update_reset_assignee(run_bd, store, work) -> None:
    # mol-orphan-scan / mol-witness-patrol: `bd update <issue> --status=open --assignee=""`
    store.claim(work["task"], "gastown/polecats/gone")
    ok(run_bd(f'bd update {work["task"]} --status=open --assignee=""'))
    issue = store.get(work["task"])
    assert issue.status == "open" and issue.assignee == ""


def test_bd_update_priority_json(run_bd, store, work) -> None:  # AGENTS.md: `bd update bd-42 --priority 1 --json`
    rows = js(run_bd(f"bd update {work['blocked']} --priority 1 --json"))
    assert rows[0]["priority"] == 1 and store.get(work["blocked"]).priority == 1


def test_bd_update_several_ids_goes_on(run_bd, store, work) -> None:  # bd: each id on its own
    proc = run_bd(f"bd update {work['task']} hq-nope {work['bug']} --add-label triaged")
    assert proc.returncode == 0 and "hq-nope" in proc.stderr
    assert "triaged" in store.get(work["task"]).labels and "triaged" in store.get(work["bug"]).labels


def test_bd_update_labels_flag_is_not_bds(run_bd, store, work) -> None:
    # mol-polecat-lease writes `bd update <wisp-id> --labels a,b`, a flag bd's update does not have:
    # refused as bd refuses it (exit 1), the bead unchanged
    proc = run_bd(f"bd update {work['task']} --labels cleanup,polecat:ace")
    assert proc.returncode == 1 and proc.stderr.startswith("Error: ") and store.get(work["task"]).labels == []


# ---------------------------------------------------------------- close, reopen


def test_bd_close_id(run_bd, store, work) -> None:  # spawn.md.tmpl: `bd close {{ .Issue }}`
    out = ok(run_bd(f"bd close {work['task']}"))
    assert f"Closed {work['task']}" in out and VISIBLE in out
    assert store.get(work["task"]).status == "closed"


def test_bd_close_reason_equals(run_bd, store, work) -> None:
    # polecat-CLAUDE.md: `bd close <id> --reason="no-changes: <explanation>"`
    ok(run_bd(f'bd close {work["task"]} --reason="no-changes: already fixed upstream"'))
    assert store.get(work["task"]).close_reason == "no-changes: already fixed upstream"


def test_bd_close_reason_json(run_bd, store, work) -> None:  # AGENTS.md: `bd close bd-42 --reason "Completed" --json`
    rows = js(run_bd(f'bd close {work["task"]} --reason "Completed" --json'))
    assert rows[0]["status"] == "closed" and rows[0]["close_reason"] == "Completed"


def test_bd_close_several_ids_reason(run_bd, store, work) -> None:  # issue 18: `bd close A B --reason`
    rows = js(run_bd(f'bd close {work["bug"]} {work["blocked"]} --reason "Batch done" --json'))
    assert [r["id"] for r in rows] == [work["bug"], work["blocked"]]
    assert all(store.get(b).close_reason == "Batch done" for b in (work["bug"], work["blocked"]))


def test_bd_close_blocked_is_refused_alone(run_bd, store, work) -> None:  # bd: exit 1 only when none closed
    proc = run_bd(f"bd close {work['blocked']} {work['task']}")
    assert proc.returncode == 0 and work["blocked"] in proc.stderr and "blocked by" in proc.stderr
    assert store.get(work["blocked"]).status == "open" and store.get(work["task"]).status == "closed"
    alone = run_bd(f"bd close {work['blocked']} --json")
    assert alone.returncode == 1 and store.get(work["blocked"]).status == "open"


def test_bd_reopen(run_bd, store, work) -> None:  # bd: `bd reopen ID --reason`
    store.close(work["task"], "mayor")
    rows = js(run_bd(f'bd reopen {work["task"]} --reason "not fixed" --json'))
    assert rows[0]["status"] == "open" and store.get(work["task"]).status == "open"
    again = run_bd(f"bd reopen {work['task']}")
    assert again.returncode == 1 and "not closed" in again.stderr


# ---------------------------------------------------------------- dependencies, comments


def test_bd_dep_add(run_bd, store, work) -> None:  # mol-idea-to-plan: `bd dep add <new-bead> <dependency-bead>`
    got = js(run_bd(f"bd dep add {work['task']} {work['bug']} --json"))
    assert got == {
        "status": "added",
        "issue_id": work["task"],
        "depends_on_id": work["bug"],
        "type": "blocks",
        "schema_version": 1,
    }
    assert store.is_blocked(work["task"])
    cycle = run_bd(f"bd dep add {work['bug']} {work['task']}")
    assert cycle.returncode == 1 and "cycle" in cycle.stderr


def test_bd_dep_remove(run_bd, store, work) -> None:
    # mol-dep-propagate: `bd dep remove <dependent-id> {{resolved_issue}}`
    out = ok(run_bd(f"bd dep remove {work['blocked']} {work['bug']}"))
    assert "no longer depends on" in out and not store.is_blocked(work["blocked"])


def test_bd_dep_tree(run_bd, store, work) -> None:  # bd: `bd dep tree ID` (--json: a flat list of nodes)
    store.add_dependency(work["bug"], work["task"], actor="mayor")
    nodes = js(run_bd(f"bd dep tree {work['blocked']} --json"))
    assert [(n["id"], n["depth"], n["parent_id"]) for n in nodes] == [
        (work["blocked"], 0, ""),
        (work["bug"], 1, work["blocked"]),
        (work["task"], 2, work["bug"]),
    ]
    assert nodes[1]["edge_from_parent"] == "blocks"
    up = js(run_bd(f"bd dep tree {work['task']} --direction=up --json"))
    assert [n["id"] for n in up] == [work["task"], work["bug"], work["blocked"]]
    assert VISIBLE in ok(run_bd(f"bd dep tree {work['bug']}"))


def test_bd_comments(run_bd, store, work) -> None:  # bd: `bd comments add ID "text"`, `bd comments ID`
    ok(run_bd(["bd", "comments", "add", work["task"], HOSTILE]))
    rows = js(run_bd(f"bd comments {work['task']} --json"))
    assert [(c["text"], c["author"]) for c in rows] == [(HOSTILE, "gastown/polecats/ace")]
    assert VISIBLE in ok(run_bd(f"bd comments {work['task']}"))


# ---------------------------------------------------------------- the ledger file


def test_bd_export_import_round_trip(run_bd, store, work, town: Town, tmp_path: Path) -> None:
    # bd: `bd export -o FILE`, `bd export > FILE`, `bd import FILE`
    out = tmp_path / "out.jsonl"
    ok(run_bd(["bd", "export", "-o", str(out)]))
    piped = ok(run_bd("bd export"))
    assert piped == out.read_text(encoding="utf-8") and len(piped.splitlines()) == 3
    titles = {json.loads(line)["id"]: json.loads(line)["title"] for line in piped.splitlines()}
    assert titles[work["task"]] == HOSTILE
    other = tmp_path / "other"
    subprocess.run([str(VENV_BIN / "gt"), "install", str(other)], check=True, capture_output=True)
    got = js(run_bd(["bd", "--town", str(other), "import", str(out), "--json"]))
    assert got["created"] == 3 and sorted(got["ids"]) == sorted(work.values())
    with BeadStore(Town(other)) as theirs:
        assert theirs.get(work["task"]).title == HOSTILE
    stdin = js(run_bd(["bd", "--town", str(other), "import", "-", "--json"], input=piped))
    assert stdin["updated"] == 3


def test_bd_export_all(run_bd, work, store: BeadStore, tmp_path: Path) -> None:  # bd: `bd export --all`
    infra = store.create("A message bead", actor="mayor", issue_type="message").id
    ok(run_bd(["bd", "export", "--all", "-o", str(tmp_path / "all.jsonl")]))
    ok(run_bd(["bd", "export", "-o", str(tmp_path / "default.jsonl")]))

    def ids(name: str) -> set[str]:
        return {json.loads(line)["id"] for line in (tmp_path / name).read_text().splitlines()}

    assert ids("all.jsonl") == {*work.values(), infra}
    assert ids("default.jsonl") == set(work.values())  # bd export's default filter leaves infra out


def test_bd_sync(run_bd, work, town: Town) -> None:  # mol-*: `bd sync`
    out = ok(run_bd("bd sync", env={"GT_LEDGER_SYNC": "on"}))
    assert "Committed the ledger" in out
    lines = town.ledger_path.read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(work.values())
    assert "up to date" in ok(run_bd("bd sync", env={"GT_LEDGER_SYNC": "on"}))


# ---------------------------------------------------------------- the process


def test_bd_errors_exit_1_and_json_envelope(run_bd, town: Town, tmp_path: Path, work) -> None:
    # bd's exit codes (cmd/bd/errors.go) and BD_JSON_ENVELOPE=1 (cmd/bd/output.go)
    plain = run_bd("bd")
    assert plain.returncode == 0 and "Commands:" in plain.stdout  # as cobra: the help, exit 0
    usage = run_bd("bd ready --bogus")
    assert usage.returncode == 1 and usage.stderr.startswith("Error: ")
    nowhere = run_bd("bd ready", cwd=tmp_path)
    assert nowhere.returncode == 1 and "not inside a town" in nowhere.stderr
    wrapped = js(run_bd("bd ready --json", env={"BD_JSON_ENVELOPE": "1"}))
    assert wrapped["schema_version"] == 1 and [r["id"] for r in wrapped["data"]] == [work["bug"], work["task"]]
    via_env = run_bd("bd ready --json", cwd=tmp_path, env={"BEADS_DIR": str(town.root / ".beads")})
    assert len(js(via_env)) == 2


def test_bd_help_imports_no_ledger_module(gt_env: dict[str, str]) -> None:
    # agents call bd on every step: --help loads neither SQLite helpers nor TOML nor git
    code = (
        "import sys; from gastown_tui import bd; sys.argv = ['bd', '--help']\n"
        "try: bd.main()\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('sqlite_utils', 'tomlkit', 'dulwich', 'textual', 'core.beads.store') if m in sys.modules))"
    )
    proc = subprocess.run(
        [str(VENV_BIN / "python"), "-P", "-c", code], capture_output=True, text=True, env=gt_env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


#: Words a ``bd create`` line is drawn from: every option name (and ``--json``, ``--help``, ``--``, ``-``),
#: long options with ``=`` values, short ones with attached values, and plain words.
_CREATE_WORDS = sorted(
    {flag for option in [*CREATE_OPTIONS.values(), ACTOR] for flag in option.flags}
    | {"--json", "--help", "--", "-", "--title=", "--title=T", "--labels=a,b", "--silent=1", "--deps=x:y"}
    | {"-p1", "-tbug", "--nope", "a", "b c", "", "x,y", "P1", "mp-1", "-1d", '{"k": 1}'}
)


@given(st.lists(st.sampled_from(_CREATE_WORDS), max_size=8))
@settings(max_examples=400, deadline=None)
def test_the_lean_create_parser_reads_a_line_as_click_does(args: list[str]) -> None:
    """Whatever ``bd create`` line the lean path takes (:func:`gastown_tui.bdpath.create_args`), click
    parses it without error into the same TITLE, option values and JSON choice; a line click refuses
    or answers with its help never runs on the lean path."""
    parsed = create_args(args)
    if parsed is None:
        return
    title, values, as_json = parsed
    root = click.Context(bd, obj={"json": "--json" in args})  # as bd_cli.main starts every run
    ctx = create_cmd.make_context("create", list(args), parent=root)
    assert ctx.params == {"title": title, **values}
    assert bool(root.obj.get("json")) == as_json
