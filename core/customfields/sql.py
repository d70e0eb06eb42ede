"""A custom field's value in SQL, and the index of a field marked ``indexed``.

The filter compiler (``kith.core.records.filters.custom_operand``), sorts, aggregates
and the index DDL all take the expression from here, so the index is always on the
very expression the queries use and the planner can match them (on PostgreSQL an
index on ``(custom->>'tier')::int`` is no use to ``(custom->>'tier')::bigint = $1``,
nor one with the database's collation to ``... COLLATE "C" < $1``).

Per engine and kind of value (``value_kind``):

=============  ==========================================  ====================================
kind           PostgreSQL                                  SQLite
=============  ==========================================  ====================================
string, date,  ``(custom->>'f') COLLATE "C"`` in           ``json_extract(custom, '$.f')``
datetime       comparisons and sorts (code-point order,
               as SQLite's BINARY)
int, id        ``((custom->>'f'))::bigint``                ``json_extract(custom, '$.f')``
decimal        ``((custom->>'f'))::numeric``               ``CAST(json_extract(...) AS REAL)``
bool           ``((custom->>'f'))::boolean``               ``json_extract(custom, '$.f')``
string_list    ``(custom->'f')`` (GIN, ``@>``)             no index (``json_each``)
=============  ==========================================  ====================================

A B-tree index holds ``(value, id)``: an equality filter then reads its rows already in
``id`` order (the default order of a list), and a sort on the field is served with its
tie-breaker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kith.core.customfields.types import FIELD_TYPES
from kith.core.storage.dialect import Dialect, JsonKind

if TYPE_CHECKING:
    from kith.core.customfields.definition import CustomField

#: kinds stored as JSON text and compared as text: in code-point order on both engines
TEXT_KINDS = frozenset({"string", "date", "datetime"})

_JSON_KIND: dict[str, JsonKind] = {"int": "int", "id": "int", "decimal": "decimal", "bool": "bool"}


def value_kind(field: CustomField, sub: str | None = None) -> str:
    """How filters treat the value: ``string``, ``int``, ``decimal``, ``bool``, ``date``,
    ``datetime``, ``string_list`` or ``id`` (a relation).  For ``money``, ``sub`` picks
    ``amount`` (decimal, the default) or ``currency`` (string)."""
    kind: str = FIELD_TYPES[field.type].filter_kind
    if kind == "money":
        return "string" if sub == "currency" else "decimal"
    return "id" if kind == "relation" else kind


def value_sql(field: CustomField, column: str, dialect: Dialect, sub: str | None = None) -> str:
    """The typed value of ``field`` in the JSON ``column`` (``t.custom``), without collation."""
    kind = value_kind(field, sub)
    if kind == "string_list":
        return dialect.json_array_path(column, field.name)
    path = (field.name, sub or "amount") if field.type == "money" else (field.name,)
    return dialect.json_value(column, path, _JSON_KIND.get(kind, "text"))


def compared_sql(field: CustomField, column: str, dialect: Dialect, sub: str | None = None) -> str:
    """The value as comparisons (``eq``, ``in``, ranges) and sorts use it: text in
    code-point order (``COLLATE "C"`` on PostgreSQL)."""
    sql = value_sql(field, column, dialect, sub)
    return dialect.order_text(sql) if value_kind(field, sub) in TEXT_KINDS else sql


def index_name(table: str, field_name: str) -> str:
    """The name of a field's index (PostgreSQL keeps 63 characters of a name)."""
    return f"kith_cf_{table}_{field_name}"[:63]


def index_statement(field: CustomField, table: str, name: str, dialect: Dialect) -> str | None:
    """``CREATE INDEX`` for an indexed field, or None where the engine has no index for it
    (a multi select on SQLite)."""
    kind = value_kind(field)
    if kind == "string_list":
        return dialect.gin_index(table, name, value_sql(field, "custom", dialect))
    return dialect.expression_index(table, name, compared_sql(field, "custom", dialect), "id")
