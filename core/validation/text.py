"""Text every engine can store.

PostgreSQL refuses the NUL character (``\\x00``) in ``text`` and ``jsonb`` values with a
database error, while SQLite stores it: the same input would be a crash on one engine
and silently kept on the other.  Kith refuses it on both, before any SQL runs, with an
error that names the field.  The check walks nested values (lists, JSON objects, their
keys too) because custom field values and JSON arguments are stored whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NUL = "\x00"

#: the reason given wherever a NUL character is refused
NUL_MESSAGE = "must not contain the NUL character (U+0000)"


def nul_path(value: Any, path: str) -> str | None:
    """The path (``path``, ``path.key``, ``path[2]``) of a string or key holding a NUL
    character in ``value``, or None when there is none.  Iterative: a client's JSON may
    nest deeper than Python's recursion limit."""
    if type(value) is str:  # most values: no walk to set up
        return path if NUL in value else None
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return where
        elif isinstance(item, dict | Mapping):
            inner: list[tuple[Any, str]] = []
            for key, child in item.items():
                name = str(key).replace(NUL, "\\u0000")  # the path is shown: it never holds a NUL
                child_path = f"{where}.{name}" if where else name
                if NUL in str(key):
                    return child_path
                inner.append((child, child_path))
            pending.extend(reversed(inner))  # depth first, in order: the first NUL is named
        elif isinstance(item, list | tuple):
            pending.extend(reversed([(child, f"{where}[{i}]") for i, child in enumerate(item)]))
    return None
