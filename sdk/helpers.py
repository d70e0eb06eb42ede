"""Small helpers that make plugins short."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from piccolo.table import Table

from kith.core.plugins.context import PluginContext
from kith.core.plugins.manifest import Migration
from kith.core.records.change import Actor
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


def fulltext_index(name: str, table: type[Table], *columns: str) -> Migration:
    """A migration that indexes ``columns`` of ``table`` for full-text search
    (``context.db.search_text``): a GIN index on PostgreSQL, an FTS5 table kept current
    by triggers on SQLite.  Rows already there are indexed."""

    async def forwards(db: Database) -> None:
        from kith.core.storage import fulltext

        await fulltext.create_index(db, table._meta.tablename, columns)

    return Migration(name, forwards, f"full-text index on {table._meta.tablename} ({', '.join(columns)})")


def add_columns(name: str, table: type[Table], *columns: str) -> Migration:
    """A migration that adds ``columns`` (declared on ``table``) to an existing table.

    Columns the table already has are left alone: a database created after the columns
    were declared got them from the table's first migration, so the same migration list
    works for old and new databases.  The columns must be nullable or have a default.
    """

    async def forwards(db: Database) -> None:
        db.bind([table])
        tablename = table._meta.tablename
        present = await db.column_names(tablename)
        for column_name in columns:
            if column_name in present:
                continue
            column = table._meta.get_column_by_name(column_name)
            await db.run_ddl(f'ALTER TABLE "{tablename}" ADD COLUMN {column.ddl}')

    return Migration(name, forwards, f"add {', '.join(columns)} to {table._meta.tablename}")


def add_index(name: str, table: type[Table], *columns: str, unique: bool = False) -> Migration:
    """A migration that indexes ``columns`` of ``table`` together (``unique``: no two
    rows share the values, e.g. one membership per segment and contact), named
    ``<table>_<columns>``; an index already there is left alone."""

    async def forwards(db: Database) -> None:
        tablename = table._meta.tablename
        index = f"{tablename}_{'_'.join(columns)}"
        listed = ", ".join(f'"{c}"' for c in columns)
        kind = "UNIQUE INDEX" if unique else "INDEX"
        await db.run_ddl(f'CREATE {kind} IF NOT EXISTS "{index}" ON "{tablename}" ({listed})')

    return Migration(
        name, forwards, f"{'unique ' if unique else ''}index on {table._meta.tablename} ({', '.join(columns)})"
    )


def require_permission(info: Any, entity: str, action: str) -> None:
    """Refuse a plugin's own resolver to a caller whose roles do not allow ``action`` on
    ``entity`` (a ``forbidden`` error, as the generated fields give)."""
    from kith.core.errors import ValidationFailed

    permissions = info.context.permissions
    if permissions is not None and not permissions.allows(entity, action):
        raise ValidationFailed.single(None, "forbidden", f"you may not {action} {entity} records")


def context_from(source: Any) -> PluginContext:
    """The ``PluginContext`` of a strawberry resolver's ``info`` (acting as the caller of
    the request: their scope and hidden fields applied) or of a plugin route's litestar
    ``request`` (acting as the system, with the route's path as the actor in the audit:
    a route authenticates its callers its own way, a signature or a shared secret)."""
    made: PluginContext | None = getattr(getattr(source, "context", None), "plugin_context", None)
    if made is not None:
        return made
    app = getattr(source, "app", None)
    if app is None or not hasattr(app.state, "kith"):
        raise TypeError("context_from() takes a resolver's info or a plugin route's request")
    return PluginContext(app.state.kith, Actor(name=f"route {source.url.path}", source="api"))


async def read_records(
    info: Any,
    entity: str,
    filter: Mapping[str, Any] | None = None,
    order_by: Sequence[Mapping[str, Any]] = (),
    first: int = 20,
    search: str | None = None,
) -> list[dict[str, Any]]:
    """Records of ``entity`` as the caller of this resolver may see them: only rows in
    their scope (at every hop of a relation in ``filter`` or ``order_by``), hidden fields
    empty — what the generated lists return, for a plugin's own field that returns the
    generated type.  ``first`` is capped at ``max_page_size``, as for a generated list.
    A caller who may not read ``entity`` gets a ``forbidden`` error."""
    require_permission(info, entity, "read")
    first = max(0, min(first, info.context.kith.settings.max_page_size))
    return await context_from(info).records.list(entity, filter, order_by=order_by, first=first, search=search)


async def rate_limit(request: Any, bucket: str, limit: int, *, window: int = 60) -> float | None:
    """Count one use of ``bucket`` (``"myplugin.form:<key>:<address>"``) by a plugin
    route's ``request``: None while there have been at most ``limit`` uses in the
    current ``window`` (seconds, starting at the bucket's first use), else the seconds
    until the window ends (answer ``429`` with ``Retry-After``).

    Counted where the core counts requests (``rate_limit_store``: this process's
    memory, or Redis shared by every API process), never in the database; with the
    core's limit off (``rate_limit_per_minute = 0``) in this process's memory.  When
    Redis cannot be reached the use is let through, as the core's limit does."""
    from kith.core.web.rate_limits import MemoryCounter

    state = request.app.state
    counter = getattr(state, "rate_counter", None)
    if counter is None:
        counter = getattr(state, "plugin_rate_counter", None)
        if counter is None:
            counter = state.plugin_rate_counter = MemoryCounter()
    counted = await counter.hit("plugin:" + bucket, window)
    if counted is None:
        return None
    count, left = counted
    return None if count <= limit else max(left, 1.0)
