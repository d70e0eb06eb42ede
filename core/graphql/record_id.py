"""Every ``ID`` a client sends is the number of a record.

GraphQL's ``ID`` takes any string, so ``"abc"`` or ``"99999999999999999999"`` reached
resolvers that call ``int()`` on it or hand it to the database, and came back as
internal errors (an ``OverflowError`` from SQLite, a ``DataError`` from PostgreSQL).
Every ``ID`` argument and input field in Kith's schema — the core's and every
plugin's — is a record id, so ``kith.core.graphql.request_checks`` refuses anything
else before a resolver runs, with ``parse_record_id``'s reason.  (graphql-core does not
let a schema replace the built-in ``ID`` scalar, hence a check rather than a scalar.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import (
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
)

#: the largest id a BIGINT column (PostgreSQL) or an INTEGER (SQLite) holds
MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]+")


def record_id_problem(value: Any) -> str | None:
    """Why ``value`` (a string or a whole number, as GraphQL's ID takes) is not a
    record id, or None when it is one."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        number = -1
    if 1 <= number <= MAX_ID:
        return None
    return f"{value!r} is not a record id (a whole number from 1 to {MAX_ID})"


def id_problems(value: Any, type_: GraphQLInputType, path: str) -> Iterator[tuple[str, str]]:
    """``(path, reason)`` of each ``ID`` in a variable's raw ``value`` of ``type_`` that
    is not a record id.  Values of another shape are left to GraphQL's own coercion,
    which reports them."""
    pending: list[tuple[Any, GraphQLInputType, str]] = [(value, type_, path)]
    while pending:
        item, kind, where = pending.pop()
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if item is None:
            continue
        if isinstance(kind, GraphQLList):
            items = item if isinstance(item, list) else [item]  # a single value stands for a list of one
            pending.extend((child, kind.of_type, f"{where}[{i}]") for i, child in enumerate(items))
        elif isinstance(kind, GraphQLInputObjectType):
            if isinstance(item, dict):
                for name, field in kind.fields.items():
                    if name in item:
                        pending.append((item[name], field.type, f"{where}.{name}"))
        elif kind is GraphQLID and isinstance(item, int | str):
            problem = record_id_problem(item)
            if problem is not None:
                yield where, problem
