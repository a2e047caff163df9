"""``gt mail send|inbox|check|read|mark-read|mark-unread|reply|archive``: mail between agents, kept as message beads."""

from __future__ import annotations

import click

from core import mail
from core.actor import current_actor
from core.errors import GtError
from gastown_tui.clikit import clip, emit_json, json_option, print_table, read_stdin, town_from


@click.group("mail")
def mail_group() -> None:
    """Mail between the Mayor, the deacon, witnesses, refineries and polecats."""


@mail_group.command("send")
@click.argument("address", required=False)
@click.option("--to", "to", metavar="ADDRESS", help="Recipient (instead of the ADDRESS argument).")
@click.option("-s", "--subject", required=True, help="Subject line.")
@click.option("-m", "--message", "--body", "body", default=None, help="Body text.")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the body from stdin (no shell quoting).")
@click.option("--priority", type=click.IntRange(0, 4), default=2, show_default=True, help="0 urgent .. 4 backlog.")
@click.option("--urgent", is_flag=True, help="Priority 0 (urgent).")
@click.option("--actor", help="Sender (default: $BD_ACTOR or the session's role).")
@json_option
@click.pass_context
def mail_send(
    ctx: click.Context,
    address: str | None,
    to: str | None,
    subject: str,
    body: str | None,
    from_stdin: bool,
    priority: int,
    urgent: bool,
    actor: str | None,
    as_json: bool,
) -> None:
    """Send a message to ADDRESS (mayor/, <rig>/polecats/<name>, @town, @rig/<rig>, ...)."""
    if address and to and address != to:
        raise GtError(f"two recipients ({address!r} and --to {to!r}): give one")
    address = address or to
    if not address:
        raise GtError("give the recipient: gt mail send ADDRESS -s SUBJECT (or --to ADDRESS)")
    if from_stdin:
        if body is not None:
            raise GtError("--stdin reads the body: drop -m/--message, or drop --stdin")
        body = read_stdin()
    sent = mail.send(
        town_from(ctx), address, subject, body or "", current_actor(actor), priority=0 if urgent else priority
    )
    if as_json:
        emit_json([m.as_dict() for m in sent])
        return
    if not sent:
        click.echo(f"{address} has no members: nothing sent")
    for m in sent:
        click.echo(f"Sent {m.id} to {m.to}")


@mail_group.command("check")
@click.option("--inject", is_flag=True, help="Print the reminder for an agent's per-prompt hook (never fails).")
@click.option("--identity", "--address", "identity", help="Whose inbox (default: your own address).")
@json_option
@click.pass_context
def mail_check(ctx: click.Context, inject: bool, identity: str | None, as_json: bool) -> None:
    """Check for new mail: exit 0 with a count when there is unread mail, 1 when there is none.

    --inject is what the agent's prompt hook runs: the unread mail as a <system-reminder> framed by
    priority, plus the nudges queued for this session; nothing when there is nothing, exit 0 always.
    """
    address = identity or mail.own_address(current_actor())
    if inject:
        try:
            _inject(ctx, address)
        except GtError as exc:  # a hook never blocks the prompt: say why on stderr, exit 0
            click.echo(f"gt mail check: {exc}", err=True)
        return
    unread = mail.inbox(town_from(ctx), address)
    if as_json:
        emit_json({"address": mail.parse_address(address), "unread": len(unread), "has_new": bool(unread)})
        return
    if not unread:
        click.echo("No new mail")
        ctx.exit(1)
    click.echo(f"{len(unread)} unread message(s) for {mail.parse_address(address)}: gt mail inbox")


def _inject(ctx: click.Context, address: str) -> None:
    """``gt mail check --inject``: print :func:`gastown_tui.hookpath.mail_reminder` of the unread mail
    and of the nudges queued for ``$GT_SESSION`` (the ``gt`` script runs the bare form itself)."""
    import os

    from gastown_tui.hookpath import mail_reminder

    click.echo(mail_reminder(town_from(ctx), address, os.environ.get("GT_SESSION", "")), nl=False)


@mail_group.command("inbox")
@click.argument("address", required=False)
@click.option("--all", "include_read", is_flag=True, help="Include read messages.")
@click.option("--archived", is_flag=True, help="Include archived messages too.")
@click.option("--actor", help="Whose inbox, when ADDRESS is omitted (default: this session's role).")
@json_option
@click.pass_context
def mail_inbox(
    ctx: click.Context, address: str | None, include_read: bool, archived: bool, actor: str | None, as_json: bool
) -> None:
    """List the messages to ADDRESS (default: your own address, else the Mayor's), oldest first."""
    addr = address or mail.own_address(current_actor(actor))
    msgs = mail.inbox(town_from(ctx), addr, include_read=include_read, include_archived=archived)
    if as_json:
        emit_json([m.as_dict() for m in msgs])
        return
    print_table(
        ["id", "state", "from", "subject", "sent"],
        [
            [
                m.id,
                "archived" if m.archived else "read" if m.read else "unread",
                m.sender,
                clip(m.subject, 60),
                m.created_at[:19],
            ]
            for m in msgs
        ],
        empty=f"No mail for {addr}",
    )


@mail_group.command("read")
@click.argument("msg_id", metavar="ID")
@click.option("--actor", help="Reader (default: this session's role).")
@json_option
@click.pass_context
def mail_read(ctx: click.Context, msg_id: str, actor: str | None, as_json: bool) -> None:
    """Show message ID and mark it read."""
    m = mail.read(town_from(ctx), msg_id, current_actor(actor))
    if as_json:
        emit_json(m.as_dict())
        return
    click.echo(f"From:    {m.sender}\nTo:      {m.to}\nDate:    {m.created_at}\nSubject: {m.subject}")
    if m.reply_to:
        click.echo(f"In reply to {m.reply_to} (thread {m.thread})")
    click.echo("")
    click.echo(m.body)


@mail_group.command("reply")
@click.argument("msg_id", metavar="ID")
@click.option("-m", "--message", "body", required=True, help="Body text.")
@click.option("-s", "--subject", help="Subject (default: Re: the original's).")
@click.option("--actor", help="Sender (default: this session's role).")
@click.pass_context
def mail_reply(ctx: click.Context, msg_id: str, body: str, subject: str | None, actor: str | None) -> None:
    """Answer message ID to its sender, in the same thread."""
    m = mail.reply(town_from(ctx), msg_id, body, current_actor(actor), subject=subject)
    click.echo(f"Sent {m.id} to {m.to}")


@mail_group.command("archive")
@click.argument("msg_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--actor", help="Who archives (default: this session's role).")
@click.pass_context
def mail_archive(ctx: click.Context, msg_ids: tuple[str, ...], actor: str | None) -> None:
    """Archive messages (read and hidden from the inbox)."""
    town = town_from(ctx)
    for msg_id in msg_ids:
        click.echo(f"Archived {mail.archive(town, msg_id, current_actor(actor)).id}")


@mail_group.command("mark-read")
@click.argument("msg_ids", metavar="ID...", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every unread message of your inbox.")
@click.option("--actor", help="Who reads (default: this session's role).")
@click.pass_context
def mail_mark_read(ctx: click.Context, msg_ids: tuple[str, ...], every: bool, actor: str | None) -> None:
    """Mark messages read without archiving them (they stay in 'gt mail inbox --all')."""
    town = town_from(ctx)
    who = current_actor(actor)
    if every == bool(msg_ids):
        raise GtError("give the message ids, or --all for every unread message: gt mail mark-read ID...")
    ids = list(msg_ids) or [m.id for m in mail.inbox(town, mail.own_address(who))]
    for msg_id in ids:
        click.echo(f"Marked {mail.mark_read(town, msg_id, who).id} read")
    if not ids:
        click.echo("No unread mail")


@mail_group.command("mark-unread")
@click.argument("msg_ids", metavar="ID...", nargs=-1, required=True)
@click.option("--actor", help="Who (default: this session's role).")
@click.pass_context
def mail_mark_unread(ctx: click.Context, msg_ids: tuple[str, ...], actor: str | None) -> None:
    """Mark messages unread again."""
    town = town_from(ctx)
    for msg_id in msg_ids:
        click.echo(f"Marked {mail.mark_unread(town, msg_id, current_actor(actor)).id} unread")


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(mail_group)
