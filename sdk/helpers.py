"""Small helpers that make plugins short."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from piccolo.table import Table

from kith.core.plugins.manifest import Migration
from kith.core.runtime import Kith
from kith.core.storage.database import Database


@dataclass(frozen=True)
class CustomerViewSection:
    """What ``kith_customer_view`` returns: a title and JSON-ready items.

    ``entity`` names the kind of record the items are: a viewer who may not read that
    entity does not get the section at all.  Use ``viewer`` (passed to the hook) to
    narrow the items to the viewer's scope.
    """

    title: str
    items: list[dict[str, Any]]
    entity: str | None = None


def initial_migration(*tables: type[Table], name: str = "0001_initial") -> Migration:
    """A first migration that creates ``tables`` (later steps can use Piccolo's
    ``MigrationManager`` or plain DDL through ``db.run_ddl``)."""

    async def forwards(db: Database) -> None:
        await db.create_tables(list(tables))

    return Migration(name, forwards, f"create {', '.join(t._meta.tablename for t in tables)}")


def kith_from(info: Any) -> Kith:
    """The running Kith inside a strawberry resolver."""
    kith: Kith = info.context.kith
    return kith
