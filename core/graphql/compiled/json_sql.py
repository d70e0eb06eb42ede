"""JSON built by the database, the same text on both engines once parsed.

Every value is rendered as the generated GraphQL types serialize it, so the compiled
answer and the general executor's answer are the same document: ``ID`` as a string,
timestamps as Python's ``isoformat()`` in UTC (microseconds only when there are any),
dates as ``YYYY-MM-DD``, decimals as their text, booleans as JSON booleans, lists of
strings as JSON arrays.  The two engines differ only in spelling: PostgreSQL's
``json_build_object``/``json_agg`` and SQLite's ``json_object``/``json_group_array``
(SQLite before 3.44 has no ``ORDER BY`` inside an aggregate, so an ordered list is
aggregated over an ordered subquery).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from piccolo.querystring import QueryString

from kith.core.money import THREE_DECIMALS, ZERO_DECIMALS

#: a GraphQL name: safe to write into the statement as a literal key
NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")

#: PostgreSQL passes at most 100 arguments to a function: 50 key/value pairs per object
MAX_PAIRS = 50


class TooWide(Exception):
    """An object with more fields than one database call can build."""


class JsonSql:
    """SQL fragments that build JSON, for one engine."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres

    # -- structure -----------------------------------------------------------------

    def object(self, pairs: Sequence[tuple[str, QueryString]]) -> QueryString:
        """``{"key": value, ...}`` in the given order (keys are GraphQL names)."""
        if len(pairs) > MAX_PAIRS:
            raise TooWide(len(pairs))
        function = "json_build_object" if self.postgres else "json_object"
        args: list[Any] = []
        parts = []
        for key, value in pairs:
            if NAME.fullmatch(key):
                parts.append(f"'{key}', {{}}")
            else:  # a client's spelling of a field (``customFields.tier``): bound, never inlined
                parts.append("CAST({} AS TEXT), {}")
                args.append(key)
            args.append(value)
        return QueryString(f"{function}({', '.join(parts)})", *args)

    def subquery(self, sql: QueryString) -> QueryString:
        """A scalar subquery whose value is JSON, kept as JSON: SQLite forgets that text
        is JSON when it leaves a subquery, and would nest it as a string."""
        return sql if self.postgres else QueryString("json({})", sql)

    def array(self, items: Sequence[QueryString]) -> QueryString:
        function = "json_build_array" if self.postgres else "json_array"
        return QueryString(f"{function}({', '.join('{}' for _ in items)})", *items)

    def aggregate(
        self, item: QueryString, source: QueryString, order: str, source_ordered: bool = False
    ) -> QueryString:
        """The JSON array of ``item`` over the rows of ``source`` (a ``FROM`` clause with
        its ``WHERE``), in ``order`` (an ``ORDER BY`` list over the source's columns);
        ``[]`` when there are none.

        ``source_ordered``: the source is a subquery already in that order (``ORDER BY``
        with ``LIMIT``), which SQLite's aggregate then reads in order; that saves SQLite
        a level of nesting, and its parser allows only so many."""
        if self.postgres:
            return QueryString(
                f"(SELECT COALESCE(json_agg({{}} ORDER BY {order}), '[]'::json) FROM {{}})", item, source
            )
        if source_ordered:
            return QueryString("json((SELECT json_group_array({}) FROM {}))", item, source)
        return QueryString(
            f"json((SELECT json_group_array(json(_item)) FROM (SELECT {{}} AS _item FROM {{}} ORDER BY {order})))",
            item,
            source,
        )

    def empty_list(self) -> QueryString:
        return QueryString("'[]'::json" if self.postgres else "json('[]')")

    def null(self) -> QueryString:
        return QueryString("NULL")

    def string(self, text: str) -> QueryString:
        """A constant string (``__typename``), bound as a parameter."""
        return QueryString("CAST({} AS TEXT)", text)

    def boolean(self, condition: QueryString) -> QueryString:
        """A JSON boolean from an SQL condition."""
        if self.postgres:
            return QueryString("({})", condition)
        return QueryString("CASE WHEN {} THEN json('true') ELSE json('false') END", condition)

    # -- values, by how their GraphQL type serializes them ---------------------------------

    def text(self, column: str) -> QueryString:
        """An ``ID`` (a number shown as text) or any value shown as its text."""
        return QueryString(f"CAST({column} AS TEXT)")

    def plain(self, column: str) -> QueryString:
        """Strings and integers: the stored value as is."""
        return QueryString(column)

    def bool(self, column: str) -> QueryString:
        if self.postgres:
            return QueryString(column)
        return QueryString(
            f"CASE WHEN {column} IS NULL THEN NULL WHEN {column} THEN json('true') ELSE json('false') END"
        )

    def datetime(self, column: str) -> QueryString:
        """``datetime.isoformat()`` of a UTC timestamp: ``2026-01-02T03:04:05+00:00``, with
        ``.ffffff`` only when the microseconds are not zero (as Python writes it)."""
        if self.postgres:
            utc = f"({column} AT TIME ZONE 'UTC')"
            return QueryString(
                f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
                f"EXTRACT(MICROSECONDS FROM {column})::bigint % 1000000 <> 0 THEN to_char({utc}, '.US') "
                "ELSE '' END || '+00:00'"
            )
        # stored by the driver as isoformat(" ") in UTC
        return QueryString(f"replace({column}, ' ', 'T')")

    def date(self, column: str) -> QueryString:
        if self.postgres:
            return QueryString(f"to_char({column}, 'YYYY-MM-DD')")
        return QueryString(column)

    def decimal(self, column: str) -> QueryString:
        return QueryString(f"CAST({column} AS TEXT)")

    def json_list(self, column: str) -> QueryString:
        """A stored JSON array of strings."""
        return QueryString(column if self.postgres else f"json({column})")

    def number(self, column: str) -> QueryString:
        """A measure as the general path writes it: a whole number as an integer, else
        the nearest float (SQLite's JSON would round a float to 15 digits; 17 keep it)."""
        if self.postgres:
            value = f"({column})::numeric"
            return QueryString(
                f"CASE WHEN {value} = trunc({value}) THEN to_json(trunc({value})) ELSE to_json({value}::float8) END"
            )
        return QueryString(
            f"CASE WHEN {column} IS NULL THEN NULL WHEN {column} = CAST({column} AS INTEGER) "
            f"THEN CAST({column} AS INTEGER) ELSE json(printf('%!.17g', {column})) END"
        )

    def money_amount(self, minor: str, currency: str) -> QueryString:
        """Minor units as the decimal text of major units, with as many decimals as the
        currency has (``money.from_minor``): 1250 EUR -> ``12.50``, 1250 JPY -> ``1250``."""
        zero = ", ".join(f"'{c}'" for c in sorted(ZERO_DECIMALS))
        three = ", ".join(f"'{c}'" for c in sorted(THREE_DECIMALS))
        if self.postgres:
            return QueryString(
                f"CASE WHEN {currency} IN ({zero}) THEN {minor}::text "
                f"WHEN {currency} IN ({three}) THEN round({minor}::numeric / 1000, 3)::text "
                f"ELSE round({minor}::numeric / 100, 2)::text END"
            )
        sign = f"CASE WHEN {minor} < 0 THEN '-' ELSE '' END"
        return QueryString(
            f"CASE WHEN {currency} IN ({zero}) THEN CAST({minor} AS TEXT) "
            f"WHEN {currency} IN ({three}) THEN printf('%s%d.%03d', {sign}, abs({minor}) / 1000, abs({minor}) % 1000) "
            f"ELSE printf('%s%d.%02d', {sign}, abs({minor}) / 100, abs({minor}) % 100) END"
        )

    def custom(self, column: str, key: str) -> QueryString:
        """A custom field's stored JSON value, as stored (the stored form is the form
        its GraphQL type serializes to); null when absent."""
        if self.postgres:
            return QueryString(f"({column}->'{key}')")
        return QueryString(f"json({column} -> '$.{key}')")

    def custom_datetime(self, column: str, key: str) -> QueryString:
        """A custom timestamp: stored with microseconds always (``.000000``), shown as
        ``isoformat()`` shows it, without them when they are zero."""
        text = f"({column}->>'{key}')" if self.postgres else f"json_extract({column}, '$.{key}')"
        return QueryString(f"replace({text}, '.000000+', '+')")

    def custom_text(self, column: str, key: str) -> QueryString:
        """A custom field's value as text (a related record's id, shown as an ``ID``)."""
        if self.postgres:
            return QueryString(f"({column}->>'{key}')")
        return QueryString(f"CAST(json_extract({column}, '$.{key}') AS TEXT)")
