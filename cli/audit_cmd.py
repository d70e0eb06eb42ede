"""``kith audit …``: who changed what, when and through what."""

from __future__ import annotations

import json

import click
from rich.table import Table

from kith.cli.common import console, with_kith
from kith.core.runtime import Kith
from kith.core.security.audit import entries


def _show(rows: list[dict], title: str) -> None:
    table = Table("when", "entity", "id", "action", "who", "through", "changes", title=title)
    for row in rows:
        changes = row["changes"]
        text = "; ".join(
            f"{k}: {v[0]!r} -> {v[1]!r}" for k, v in changes.items() if isinstance(v, list) and len(v) == 2
        )
        table.add_row(
            str(row["at"])[:19],
            row["entity"],
            str(row["record_id"]),
            row["action"],
            row["actor"] or "",
            row["source"],
            text or json.dumps(changes),
        )
    console.print(table)


@click.group("audit")
def audit_group() -> None:
    """Read the audit trail."""


@audit_group.command("record")
@click.argument("entity")
@click.argument("record_id", type=int)
@click.option("--limit", default=50, show_default=True)
@with_kith
async def record_history(kith: Kith, entity: str, record_id: int, limit: int) -> None:
    """The history of one record: every change with its old and new values."""
    _show(await entries(kith, entity=entity, record_id=record_id, limit=limit), f"History of {entity} {record_id}")


@audit_group.command("actor")
@click.argument("who")
@click.option("--limit", default=50, show_default=True)
@with_kith
async def actor_trail(kith: Kith, who: str, limit: int) -> None:
    """What one person (email, or 'automation:<rule>') did."""
    _show(await entries(kith, actor=who, limit=limit), f"Actions of {who}")


@audit_group.command("security")
@click.option("--limit", default=50, show_default=True)
@with_kith
async def security_events(kith: Kith, limit: int) -> None:
    """Sign-ins, refusals, keys and roles."""
    _show(await entries(kith, entity="security", limit=limit), "Security events")
