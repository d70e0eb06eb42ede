"""Every difference between SQLite and PostgreSQL that Kith's SQL depends on.

Kith keeps one query compiler; where the engines disagree (JSON access, case-insensitive
matching, array membership, text ordering, row locking) it asks this module for the
fragment.  Keeping the list short and in one place is what lets the same tests pass
on both engines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from piccolo.querystring import QueryString

EngineName = Literal["sqlite", "postgres"]

#: How a JSON value of a custom field is compared in SQL, by storage kind.
JsonKind = Literal["text", "int", "decimal", "bool"]


class Dialect:
    """SQL fragments for one engine.  Instances are stateless and cheap."""

    def __init__(self, name: EngineName) -> None:
        self.name: EngineName = name

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    def json_value(self, column: str, path: tuple[str, ...], kind: JsonKind) -> str:
        """A typed SQL expression for ``column`` at ``path`` (keys are validated names).

        Piccolo's ``arrow()`` on SQLite yields JSON-encoded text, so string comparisons
        would silently miss; ``json_extract`` returns SQL-native values instead.
        """
        for key in path:
            if not key.replace("_", "").isalnum():
                raise ValueError(f"invalid JSON key {key!r}")
        if self.is_postgres:
            expr = column
            for key in path[:-1]:
                expr = f"{expr}->'{key}'"
            expr = f"({expr}->>'{path[-1]}')"
            cast = {"text": "", "int": "::bigint", "decimal": "::numeric", "bool": "::boolean"}[kind]
            return f"{expr}{cast}"
        expr = f"json_extract({column}, '$.{'.'.join(path)}')"
        if kind == "decimal":
            return f"CAST({expr} AS REAL)"
        return expr

    def json_array_contains(self, array_expr: str, value: object) -> QueryString:
        """True when the JSON array ``array_expr`` holds ``value`` (a string)."""
        if self.is_postgres:
            return QueryString(f"(({array_expr})::jsonb @> jsonb_build_array({{}}::text))", value)
        return QueryString(f"EXISTS (SELECT 1 FROM json_each({array_expr}) WHERE json_each.value = {{}})", value)

    def json_array_holds_any(self, array_expr: str, values: Sequence[str]) -> QueryString:
        """True when the JSON array ``array_expr`` holds any of ``values`` (strings), with
        one parameter whatever their number; PostgreSQL answers it from the column's GIN
        index (``?|``), SQLite reads each row's array once."""
        if self.is_postgres:
            return QueryString(f"(({array_expr})::jsonb ?| CAST({{}} AS TEXT[]))", [str(v) for v in values])
        return QueryString(
            f"EXISTS (SELECT 1 FROM json_each({array_expr}) j WHERE j.value IN (SELECT value FROM json_each({{}})))",
            json.dumps([str(v) for v in values]),
        )

    def json_array_path(self, column: str, key: str) -> str:
        """The JSON array stored under ``key`` of a JSON object column, as JSON."""
        if self.is_postgres:
            return f"({column}->'{key}')"
        return f"json_extract({column}, '$.{key}')"

    def ilike(self, expr: str) -> str:
        """Case-insensitive LIKE with ``\\`` as escape character on both engines."""
        op = "ILIKE" if self.is_postgres else "LIKE"
        return f"{expr} {op} {{}} ESCAPE '\\'"

    def order_text(self, expr: str) -> str:
        """Sort text by code point on both engines (SQLite's BINARY, PostgreSQL's "C")."""
        return f'{expr} COLLATE "C"' if self.is_postgres else expr

    def skip_locked(self) -> str:
        """Row locking for queue consumers; SQLite serialises writers instead."""
        return " FOR UPDATE SKIP LOCKED" if self.is_postgres else ""

    def lock_rows(self) -> str:
        """Suffix of a SELECT that locks its rows until the write transaction ends (a
        read-then-write); SQLite already serialises writers, so there it is empty."""
        return " FOR UPDATE" if self.is_postgres else ""

    async def serialise(self, db: Any, name: str) -> None:
        """Make concurrent write transactions that ask for ``name`` take turns until they
        end, when there is no row to lock yet (the next number of a series).  A
        transaction-scoped advisory lock on PostgreSQL; SQLite's writers take turns already."""
        if self.is_postgres:
            await db.fetch(QueryString("SELECT pg_advisory_xact_lock(hashtext({}))::text AS locked", name))

    def in_ids(self, expr: str, ids: Sequence[int]) -> QueryString:
        """``expr`` is one of ``ids``, with one parameter whatever their number: an array
        on PostgreSQL (so the statement's text, and its prepared plan, stay the same), a
        JSON list on SQLite."""
        if self.is_postgres:
            return QueryString(f"{expr} = ANY(CAST({{}} AS BIGINT[]))", self.ids_value(ids))
        return QueryString(f"{expr} IN (SELECT value FROM json_each({{}}))", self.ids_value(ids))

    def ids_value(self, ids: Sequence[int]) -> Any:
        """The one parameter of ``in_ids``."""
        values = [int(i) for i in ids]
        return values if self.is_postgres else json.dumps(values)

    def rows(self, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], alias: str) -> QueryString:
        """``rows`` as a table ``alias`` to select from or join (PostgreSQL), with
        ``columns`` as (name, SQL type) pairs and each row's values in that order:
        ``unnest`` over one typed array parameter per column, so the text does not grow
        with the rows and is prepared once per shape."""
        if not self.is_postgres:
            raise NotImplementedError("SQLite: use insert_rows or update_rows")
        names = ", ".join(f'"{name}"' for name, _ in columns)
        arrays = ", ".join(f"CAST({{}} AS {sql_type}[])" for _, sql_type in columns)
        values = [[row[i] for row in rows] for i in range(len(columns))]
        return QueryString(f"unnest({arrays}) AS {alias}({names})", *values)

    def insert_rows(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], suffix: str = ""
    ) -> QueryString:
        """One INSERT of ``rows`` into ``table`` (``columns`` as for ``rows``), rows
        inserted in the order given; ``suffix`` is appended (``ON CONFLICT …``,
        ``RETURNING …``)."""
        names = ", ".join(f'"{name}"' for name, _ in columns)
        if self.is_postgres:
            source = self.rows(columns, rows, "v")
            return QueryString(f'INSERT INTO "{table}" ({names}) SELECT * FROM {{}}{suffix}', source)
        one = "(" + ", ".join("?" for _ in columns) + ")"
        return Prepared(
            f'INSERT INTO "{table}" ({names}) VALUES {", ".join(one for _ in rows)}{suffix}',
            [value for row in rows for value in row],
        )

    def update_rows(
        self,
        table: str,
        columns: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[Any]],
        assignments: str,
        where: str,
    ) -> QueryString:
        """``UPDATE table AS t SET <assignments> FROM <rows AS v> WHERE <where>
        RETURNING`` the updated rows of ``table``: one statement for many rows, each
        updated with the values of its own row of ``rows``."""
        if self.is_postgres:
            return QueryString(
                f'UPDATE "{table}" AS t SET {assignments} FROM {{}} WHERE {where} RETURNING t.*',
                self.rows(columns, rows, "v"),
            )
        one = "(" + ", ".join("?" for _ in columns) + ")"
        select = ", ".join(f'column{i + 1} AS "{name}"' for i, (name, _) in enumerate(columns))
        return Prepared(
            f'UPDATE "{table}" AS t SET {assignments} FROM (SELECT {select} FROM (VALUES '
            f"{', '.join(one for _ in rows)})) AS v WHERE {where} RETURNING *",
            [value for row in rows for value in row],
        )

    def column_type(self, column: Any) -> str:
        """The SQL type of a Piccolo column, as ``rows`` casts its array (PostgreSQL).

        Without length or precision: an explicit cast to ``VARCHAR(20)`` would cut a
        longer value silently, where writing it into the column refuses it."""
        sql_type = str(column.column_type).split("(", 1)[0].strip()
        return {"SERIAL": "INTEGER", "BIGSERIAL": "BIGINT"}.get(sql_type, sql_type)

    def timestamp_parameter(self) -> str:
        """A placeholder for a timestamp where the statement alone does not type it (a
        ``CASE`` branch): PostgreSQL must be told; SQLite stores what it is given."""
        return "CAST({} AS TIMESTAMPTZ)" if self.is_postgres else "{}"

    def utc_date(self, column: str) -> str:
        """The UTC calendar day of a timestamp column."""
        if self.is_postgres:
            return f"(({column}) AT TIME ZONE 'UTC')::date"
        return f"date({column})"

    def epoch_seconds(self, column: str) -> str:
        """Whole seconds since 1970 of a timestamp column (an integer on both engines)."""
        if self.is_postgres:
            return f"FLOOR(EXTRACT(EPOCH FROM {column}))"
        return f"CAST(strftime('%s', {column}) AS INTEGER)"

    def expression_index(self, table: str, name: str, expr: str, *then: str) -> str:
        """A B-tree index on the expression ``expr``, then the columns ``then`` (``id``)."""
        columns = "".join(f', "{column}"' for column in then)
        return f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" (({expr}){columns})'

    def live(self, alias: str) -> str:
        """``alias``'s row is not soft-deleted: a term of nearly every read.

        Nearly every row is live, so the index on ``deleted_at`` never narrows such a
        read; SQLite, when it has no statistics (``ANALYZE``), takes the term for a
        selective equality and prefers that index to the one that would help (a custom
        field's range, a relation's key).  There the term is marked ``likely`` so the
        planner knows better; PostgreSQL learns it from its own statistics."""
        test = f"{alias}.deleted_at IS NULL"
        return test if self.is_postgres else f"likely({test})"

    def checked_only(self, predicate: str) -> str:
        """``predicate`` as a condition to check on rows found otherwise, not to find rows
        by.  In a correlated ``EXISTS`` over child records (a reverse list's ``some`` /
        ``none``) the way in is the foreign key, a handful of children per parent; SQLite
        without statistics would as soon use an index of the child's own filter (a custom
        field's), reading every child with that value again for each parent.  SQLite's
        unary ``+`` leaves the value as it is and takes the index away; PostgreSQL plans
        the ``EXISTS`` as a join from its statistics, so it gets the predicate as it is."""
        return predicate if self.is_postgres else f"+({predicate})"

    def gin_flush(self, name: str) -> str | None:
        """A statement moving a GIN index's pending entries into the index proper, or None
        (SQLite).  Rows inserted in bulk wait in the pending list, which every look-up
        reads whole: after a few thousand inserts, a look-up by e-mail reads megabytes."""
        if not self.is_postgres:
            return None
        return f"SELECT gin_clean_pending_list(to_regclass('{name}'))"

    def gin_index(self, table: str, name: str, column: str) -> str | None:
        """A GIN index over a JSONB column or expression; SQLite has no equivalent."""
        if not self.is_postgres:
            return None
        return f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING GIN ({column})'


class Prepared(QueryString):
    """A statement already in its engine's form (``?`` or ``$n`` placeholders) and its
    arguments.

    Bulk statements carry thousands of values, and some statements are the same for
    every batch; a ``QueryString`` template would have each ``{}`` parsed and each
    argument inspected every time, which can cost more than the statement.  Only for a
    whole statement: it cannot be nested inside another ``QueryString``."""

    __slots__ = ("sql", "values")

    def __init__(self, sql: str, values: list[Any]) -> None:
        super().__init__(sql.replace("{", "{{").replace("}", "}}"))  # its text, for counters and logs
        self.sql = sql
        self.values = values

    def compile_string(self, engine_type: str = "postgres") -> tuple[str, list[Any]]:
        return self.sql, self.values


def escape_like(value: str) -> str:
    """Escape LIKE wildcards so user text matches literally."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
