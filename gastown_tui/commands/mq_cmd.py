"""``gt mq list|retry|reject|stats|process``: the refinery's merge queue."""

from __future__ import annotations

import time

import click

from core import mq
from core.db import Database, connect
from core.errors import GtError
from core.gates import load_gates
from core.plaintext import one_line
from core.rigs import list_rigs, load_rig
from gastown_tui.clikit import clip, count_type, emit_json, json_option, print_table, town_from


@click.group("mq")
def mq_group() -> None:
    """The merge queue: merge requests waiting for each rig's refinery."""


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@mq_group.command("list")
@click.argument("rig", required=False)
@click.option("--rig", "rig_name", help="Only this rig (same as the RIG argument).")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(mq.STATUSES),
    help="Only these statuses (repeatable). Default: all.",
)
@click.option("--limit", type=count_type(), default=50, show_default=True, help="Most rows shown.")
@json_option
@click.pass_context
def mq_list(
    ctx: click.Context, rig: str | None, rig_name: str | None, statuses: tuple[str, ...], limit: int, as_json: bool
) -> None:
    """List merge requests of RIG (default: every rig), newest first, with each rig's gates."""
    if rig and rig_name and rig != rig_name:
        raise click.UsageError(f"two rigs ({rig!r} and --rig {rig_name!r}): give one")
    rig_name = rig or rig_name
    town = town_from(ctx)
    rigs = [load_rig(town, rig_name)] if rig_name else list_rigs(town)
    db = connect(town.db_path)
    mrs = mq.list_mrs(db, rig_name, statuses or None, limit=limit)
    position = {}
    for r in rigs:
        position.update({m.id: i + 1 for i, m in enumerate(mq.queue(db, r.name))})
    info = []
    for r in rigs:
        gates = load_gates(r.config, str(r.path / "rig.toml"))
        info.append(
            {
                "rig": r.name,
                "gates": [g.name for g in gates.gates],
                "describe": gates.describe(),
                "max_batch_size": r.setting("merge_queue", "max_batch_size"),
                "retry_flaky": r.setting("merge_queue", "retry_flaky"),
            }
        )
    if as_json:
        emit_json({"rigs": info, "mrs": [{**m.as_dict(), "position": position.get(m.id)} for m in mrs]})
        return
    for i in info:
        click.echo(
            f"rig {i['rig']}: {i['describe']}; batches of {i['max_batch_size']}, flaky retries {i['retry_flaky']}"
        )
    now = time.time()
    print_table(
        ["mr", "rig", "status", "pos", "pri", "age", "bead", "branch", "gate runs", "reason"],
        [
            [
                m.id,
                m.rig,
                m.status,
                position.get(m.id, ""),
                f"P{m.priority}",
                _age(now - m.created_at),
                m.bead or "",
                m.branch,
                m.gate_runs,
                clip(m.reason, 60),
            ]
            for m in mrs
        ],
        empty="The merge queue is empty: polecats submit with gt done",
    )


def _mr_of(db: Database, args: tuple[str, ...]) -> str:
    """The MR id of ``[RIG] MR`` (Gas Town's ``gt mq retry <rig> <mr-id>``; the rig is checked)."""
    if len(args) not in (1, 2):
        raise click.UsageError("give the merge request: [RIG] MR")
    *rig, mr_id = args
    if rig and mq.get(db, mr_id).rig != rig[0]:
        raise GtError(f"{mr_id} is a merge request of rig {mq.get(db, mr_id).rig}, not {rig[0]}: drop the rig")
    return mr_id


@mq_group.command("retry")
@click.argument("args", nargs=-1, metavar="[RIG] MR")
@click.pass_context
def mq_retry(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Put a failed, conflicting or rejected MR back in the queue."""
    db = connect(town_from(ctx).db_path)
    m = mq.retry(db, _mr_of(db, args), actor="human")
    click.echo(f"{m.id} queued again (retry {m.retry_count})")


@mq_group.command("reject")
@click.argument("args", nargs=-1, metavar="[RIG] MR")
@click.option("--reason", required=True, help="Why the MR is taken out of the queue.")
@click.pass_context
def mq_reject(ctx: click.Context, args: tuple[str, ...], reason: str) -> None:
    """Take an MR out of the queue for good."""
    db = connect(town_from(ctx).db_path)
    m = mq.reject(db, _mr_of(db, args), reason, actor="human")
    click.echo(f"{m.id} rejected: {m.reason}")


@mq_group.command("stats")
@click.option("--rig", "rig_name", help="Only this rig.")
@click.option("--last", type=count_type(), default=10, show_default=True, help="Recent batches shown.")
@json_option
@click.pass_context
def mq_stats(ctx: click.Context, rig_name: str | None, last: int, as_json: bool) -> None:
    """Refinery metrics: batches, MRs, gate runs per MR, wall time."""
    town = town_from(ctx)
    if rig_name:
        load_rig(town, rig_name)
    db = connect(town.db_path)
    totals = mq.stats(db, rig_name)
    recent = mq.batches(db, rig_name, limit=last)
    if as_json:
        emit_json({"totals": totals, "batches": [b.as_dict() for b in recent]})
        return
    per_mr = totals["gate_runs_per_mr"]
    wall = totals["mean_batch_wall_s"]
    click.echo(
        f"{totals['batches']} batches, {totals['mrs']} MRs: {totals['merged']} merged, "
        f"{totals['failed']} failed, {totals['conflicts']} conflicts; {totals['gate_runs']} gate runs"
        f" ({'-' if per_mr is None else per_mr} per settled MR); mean batch "
        f"{'-' if wall is None else f'{wall:.2f}s'}"
    )
    click.echo("queue: " + ", ".join(f"{k} {v}" for k, v in totals["by_status"].items()))
    print_table(
        ["batch", "rig", "outcome", "mrs", "merged", "failed", "conflicts", "gate runs", "wall"],
        [
            [
                b.id,
                b.rig,
                b.outcome,
                b.mrs,
                b.merged,
                b.failed,
                b.conflicts,
                b.gate_runs,
                "" if b.wall_s is None else f"{b.wall_s:.2f}s",
            ]
            for b in recent
        ],
        empty="No batches yet",
    )


@mq_group.command("process")
@click.argument("rig_name", metavar="RIG")
@click.option("--all", "until_empty", is_flag=True, help="Run batches until the queue is empty.")
@json_option
@click.pass_context
def mq_process(ctx: click.Context, rig_name: str, until_empty: bool, as_json: bool) -> None:
    """Run the refinery of RIG now: one batch (or every batch with --all), without the engine."""
    from core.refinery import Refinery

    town = town_from(ctx)
    refinery = Refinery(town, load_rig(town, rig_name))
    results = (
        refinery.process_all(retry_now=True)
        if until_empty
        else [r for r in [refinery.process_once(retry_now=True)] if not r.empty]
    )
    if as_json:
        emit_json([r.as_dict() for r in results])
        return
    if not results:
        click.echo(f"Nothing queued for rig {rig_name}")
    for r in results:
        click.echo(
            f"batch {r.batch}: {r.outcome}; merged {', '.join(r.merged) or '-'}; "
            f"failed {', '.join(r.failed) or '-'}; conflicts {', '.join(r.conflicts) or '-'}; "
            f"{r.gate_runs} gate runs in {r.wall_s:.2f}s"
        )
        for mr, url in r.pull_requests.items():
            click.echo(f"  {mr}: pull request {url}")
        if r.note:
            click.echo(f"  {one_line(r.note)}")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(mq_group)
