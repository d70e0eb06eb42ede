"""``kith mail …``: the ways mail comes in, and what became of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

import click

#: sysexits.h: what an MTA's pipe reads as "bounce it" and "try again later"
EX_DATAERR = 65
EX_TEMPFAIL = 75

log = logging.getLogger("kith.mail")


@click.group("mail")
def mail_group() -> None:
    """Mail in and out: the SMTP/LMTP gateway, the MTA pipe, IMAP fetching, and the log."""


@mail_group.command("gateway")
@click.option("--host", default=None, help="Address to listen on (default: mail_gateway_host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: mail_gateway_port, 2525).")
@click.option("--lmtp", is_flag=True, help="Speak LMTP (one answer per recipient) instead of SMTP.")
@click.pass_context
def gateway_command(ctx: click.Context, host: str | None, port: int | None, lmtp: bool) -> None:
    """Receive mail over SMTP or LMTP, storing each message before answering 250."""
    from kith.cli.common import console, open_kith, run
    from kith.core.mail.gateway import start_gateway

    async def body() -> None:
        async with open_kith(ctx) as kith:
            where_host = host or kith.settings.mail_gateway_host
            where_port = kith.settings.mail_gateway_port if port is None else port
            server = await start_gateway(kith, where_host, where_port, lmtp=lmtp)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            bound = server.sockets[0].getsockname()
            console.print(f"Receiving {'LMTP' if lmtp else 'SMTP'} on {bound[0]}:{bound[1]} (Ctrl-C to stop)")
            try:
                await stop.wait()
            finally:
                server.close()
                await server.wait_closed()

    run(body())


@mail_group.command("receive")
@click.option("--sender", default=None, help="The envelope sender, as the MTA gives it (Postfix: ${sender}).")
@click.option(
    "--recipient", "recipients", multiple=True, help="An envelope recipient (Postfix: ${recipient}); repeatable."
)
@click.pass_context
def receive_command(ctx: click.Context, sender: str | None, recipients: tuple[str, ...]) -> None:
    """Store one message read from standard input (for an MTA's pipe); exit 75 to retry."""
    raw = sys.stdin.buffer.read()
    if not raw.strip():
        click.echo("Error: no message on standard input", err=True)
        ctx.exit(EX_DATAERR)

    # only what storing needs (not the CLI's full Kith): an MTA runs this once per message
    from kith.core.mail.inbound import MailTooLarge, mail_store, receive
    from kith.core.settings import load_settings

    async def body() -> Any:
        async with mail_store(load_settings()) as store:
            return await receive(store, raw, source="pipe", envelope_from=sender, envelope_to=recipients)

    try:
        stored = asyncio.run(body())
    except MailTooLarge as exc:
        click.echo(f"Error: {exc}", err=True)
        ctx.exit(EX_DATAERR)
    except Exception as exc:  # not stored: the MTA keeps the message and tries again
        log.debug("mail receive failed", exc_info=True)
        click.echo(f"Error: the message could not be stored, try again later: {exc}", err=True)
        ctx.exit(EX_TEMPFAIL)
    click.echo(f"Stored as {stored.id}" + ("" if stored.new else " (already received)"))


@mail_group.command("fetch")
@click.option("--once", is_flag=True, help="Fetch what is new, then exit (the default).")
@click.option("--every", type=click.FloatRange(min=1), default=None, metavar="SECONDS", help="Fetch every SECONDS.")
@click.pass_context
def fetch_command(ctx: click.Context, once: bool, every: float | None) -> None:
    """Store the unseen messages of an IMAP mailbox, then mark them seen (or move them)."""
    from kith.cli.common import console, open_kith, run, settings_from
    from kith.core.mail.imap import fetch_once

    if once and every is not None:
        raise click.UsageError("give --once or --every, not both")
    settings_from(ctx)  # a bad setting is one line, before anything else

    async def body() -> None:
        async with open_kith(ctx) as kith:
            stop = asyncio.Event()
            if every is not None:
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
            while True:
                try:
                    fetched = await fetch_once(kith)
                except Exception as exc:
                    if every is None:
                        raise
                    console.print(f"[red]Fetch failed:[/] {exc}")
                else:
                    where = f"{kith.settings.imap_host}/{kith.settings.imap_folder}"
                    console.print(
                        f"Fetched {fetched.read} message(s) from {where}: "
                        f"{fetched.stored} new, {fetched.known} already stored, {fetched.failed} failed"
                    )
                if every is None:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=every)
                if stop.is_set():
                    return

    run(body())


@mail_group.command("list")
@click.option("--outbound", is_flag=True, help="Mail sent (or suppressed) rather than received.")
@click.option("--limit", type=int, default=20, show_default=True, help="How many, newest first.")
@click.pass_context
def list_command(ctx: click.Context, outbound: bool, limit: int) -> None:
    """The newest messages received (who claimed them) or sent (delivered, failed, suppressed)."""
    from kith.cli.common import console, open_kith, run

    async def body() -> Any:
        async with open_kith(ctx) as kith:
            return _table(await _rows(kith.db, outbound, limit), outbound)

    console.print(run(body()))


@mail_group.command("show")
@click.argument("message_id", type=int)
@click.option("--outbound", is_flag=True, help="A mail sent (or suppressed) rather than received.")
@click.pass_context
def show_command(ctx: click.Context, message_id: int, outbound: bool) -> None:
    """One stored message, headers and text as it was received or sent (ids from `kith mail list`)."""
    from kith.cli.common import open_kith, run

    table = "kith_mail_outbound" if outbound else "kith_mail_inbound"

    async def body() -> Any:
        async with open_kith(ctx) as kith:
            return await kith.db.execute(f"SELECT data FROM {table} WHERE id = {{}}", message_id)

    rows = run(body())
    if not rows:
        raise click.ClickException(f"no {'outbound' if outbound else 'inbound'} message {message_id}")
    click.echo(_readable(bytes(rows[0]["data"])))


def _readable(raw: bytes) -> str:
    """A message's headers and its text part (attachments named, not dumped)."""
    from email import message_from_bytes
    from email.message import EmailMessage
    from email.policy import default

    message = message_from_bytes(raw, policy=default)
    if not isinstance(message, EmailMessage):
        return raw.decode("utf-8", "replace")
    lines = [f"{name}: {value}" for name, value in message.items() if name.lower() != "content-type"]
    body = message.get_body(("plain", "html"))
    text = body.get_content() if body is not None else ""
    names = [part.get_filename() or part.get_content_type() for part in message.iter_attachments()]
    attached = [f"[attachment: {name}]" for name in names]
    return "\n".join([*lines, "", text.rstrip(), *attached])


async def _rows(db: Any, outbound: bool, limit: int) -> list[Any]:
    if outbound:
        return await db.execute(
            "SELECT id, created_at, recipients, subject, status, automatic, reason, error, response "
            "FROM kith_mail_outbound ORDER BY id DESC LIMIT {}",
            limit,
        )
    return await db.execute(
        "SELECT id, received_at, from_address, subject, source, status, claimed_by, claim, error, automatic "
        "FROM kith_mail_inbound ORDER BY id DESC LIMIT {}",
        limit,
    )


def _table(rows: list[Any], outbound: bool) -> Any:
    import json

    from rich.table import Table

    if outbound:
        table = Table("id", "queued", "to", "subject", "status", "automatic", "detail", title="Mail sent")
        for row in rows:
            recipients = row["recipients"]
            recipients = json.loads(recipients) if isinstance(recipients, str) else recipients
            detail = row["reason"] or row["error"] or row["response"] or ""
            table.add_row(
                str(row["id"]), str(row["created_at"])[:19], ", ".join(recipients), row["subject"] or "",
                row["status"], "yes" if row["automatic"] else "", detail,
            )  # fmt: skip
        return table
    table = Table("id", "received", "from", "subject", "via", "status", "detail", title="Mail received")
    for row in rows:
        detail = (f"{row['claimed_by']}: {row['claim']}" if row["claim"] else row["error"]) or ""
        if row["automatic"]:
            detail = f"{detail} (automatic: {row['automatic']})".strip()
        table.add_row(
            str(row["id"]), str(row["received_at"])[:19], row["from_address"] or "", row["subject"] or "",
            row["source"], row["status"], detail,
        )  # fmt: skip
    return table
