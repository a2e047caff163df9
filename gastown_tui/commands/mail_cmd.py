"""``gt mail send|inbox|read|reply|archive``: mail between agents, kept as message beads."""

from __future__ import annotations

import click

from core import mail
from core.actor import current_actor
from core.errors import GtError
from gastown_tui.clikit import clip, emit_json, json_option, print_table, town_from


def _my_address(actor: str) -> str:
    """The inbox of ``actor`` when it is a mail address, else the Mayor's (the human overseer's)."""
    try:
        return mail.parse_address(actor)
    except GtError:
        return "mayor/"


@click.group("mail")
def mail_group() -> None:
    """Mail between the Mayor, the deacon, witnesses, refineries and polecats."""


@mail_group.command("send")
@click.argument("address")
@click.option("-s", "--subject", required=True, help="Subject line.")
@click.option("-m", "--message", "body", default="", help="Body text.")
@click.option("--priority", type=click.IntRange(0, 4), default=2, show_default=True, help="0 urgent .. 4 backlog.")
@click.option("--actor", help="Sender (default: $BD_ACTOR or the session's role).")
@json_option
@click.pass_context
def mail_send(
    ctx: click.Context, address: str, subject: str, body: str, priority: int, actor: str | None, as_json: bool
) -> None:
    """Send a message to ADDRESS (mayor/, <rig>/polecats/<name>, @town, @rig/<rig>, ...)."""
    sent = mail.send(town_from(ctx), address, subject, body, current_actor(actor), priority=priority)
    if as_json:
        emit_json([m.as_dict() for m in sent])
        return
    if not sent:
        click.echo(f"{address} has no members: nothing sent")
    for m in sent:
        click.echo(f"Sent {m.id} to {m.to}")


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
    addr = address or _my_address(current_actor(actor))
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


def register(group: click.Group) -> None:
    """Add this module's commands to the root ``gt`` group."""
    group.add_command(mail_group)
