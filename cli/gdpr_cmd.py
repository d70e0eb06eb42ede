"""``kith gdpr …``: a person's data: export, erase, consent."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from kith.cli.common import KithCliError, console, with_kith
from kith.core.privacy import service
from kith.core.runtime import Kith


@click.group("gdpr")
def gdpr_group() -> None:
    """Personal data requests: export, erasure and consent records."""


@gdpr_group.command("export")
@click.argument("contact_id", type=int)
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to a file instead of stdout.")
@with_kith
async def export(kith: Kith, contact_id: int, output: Path | None) -> None:
    """Everything tied to CONTACT_ID, across the core and every plugin, as one JSON document."""
    document = json.dumps(await service.export_person(kith, contact_id), indent=2, default=str)
    if output:
        _write(output, document)
        console.print(f"Wrote {output}")
    else:
        click.echo(document)


def _write(path: Path, text: str) -> None:
    path.write_text(text)


@gdpr_group.command("erase")
@click.argument("contact_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (table, record id, field).")
@with_kith
async def erase(kith: Kith, contact_id: int, yes: bool, as_json: bool) -> None:
    """Anonymise CONTACT_ID everywhere (keeps the rows so counts still add up) and list
    every field of every row it changed."""
    if not yes and not click.confirm(
        f"Erase the personal data of contact {contact_id}? This cannot be undone", default=False
    ):
        raise KithCliError("cancelled; nothing was changed")
    report = await service.erase_person(kith, contact_id)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    fields: dict[tuple[str, int], list[str]] = {}
    for entry in report.scrubbed:
        fields.setdefault((entry.table, entry.record_id), []).append(entry.field)
    table = Table("table", "record", "fields", title=f"Erased from contact {contact_id}'s records")
    for (name, record_id), names in fields.items():
        table.add_row(name, str(record_id), ", ".join(names))
    console.print(table)
    rows = ", ".join(f"{n} {t}" for t, n in report.counts().items()) or "nothing to change"
    console.print(f"Erased contact {contact_id}: {rows}")


@gdpr_group.command("consent")
@click.argument("contact_id", type=int)
@click.option("--purpose", required=True, help="What for, e.g. newsletter.")
@click.option("--source", required=True, help="Where it was given, e.g. signup-form.")
@click.option("--wording", "wording_version", required=True, help="Version of the text agreed to.")
@click.option("--channel", default="email", show_default=True, help="How they may be reached for it: email, sms …")
@with_kith
async def consent(kith: Kith, contact_id: int, purpose: str, source: str, wording_version: str, channel: str) -> None:
    """Record a consent given by CONTACT_ID."""
    await service.record_consent(kith, contact_id, purpose, source, wording_version, channel)
    console.print(f"Recorded consent of contact {contact_id} to {purpose} by {channel}")


@gdpr_group.command("withdraw")
@click.argument("contact_id", type=int)
@click.argument("purpose")
@click.option("--channel", default="email", show_default=True, help="The channel the consent was for.")
@with_kith
async def withdraw(kith: Kith, contact_id: int, purpose: str, channel: str) -> None:
    """Record that CONTACT_ID withdrew consent to PURPOSE."""
    await service.withdraw_consent(kith, contact_id, purpose, channel)
    console.print(f"Contact {contact_id} withdrew consent to {purpose} by {channel}")


@gdpr_group.command("consents")
@click.argument("contact_id", type=int)
@with_kith
async def list_consents(kith: Kith, contact_id: int) -> None:
    """The consent records of CONTACT_ID."""
    table = Table(
        "purpose", "channel", "source", "wording", "granted", "withdrawn", title=f"Consents of contact {contact_id}"
    )
    for row in await service.consents(kith, contact_id):
        table.add_row(
            row["purpose"],
            row["channel"],
            row["source"],
            row["wording_version"],
            str(row["granted_at"])[:19],
            str(row["withdrawn_at"] or "-")[:19],
        )
    console.print(table)
