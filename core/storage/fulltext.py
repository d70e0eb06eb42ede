"""Full-text search over a table's text columns, on both engines.

PostgreSQL: a GIN index on ``to_tsvector('english', …)`` of the columns, queried with a
``tsquery`` and ranked by ``ts_rank``.  SQLite: an FTS5 table (``<table>_fts``, porter
stemming) that mirrors the columns through triggers, ranked by ``bm25``.  Both stem
English words ("printers" finds "printer"); PostgreSQL also drops English stop words,
which SQLite keeps, so rankings can differ slightly while matches agree.

The query is the user's text reduced to its words (no operators: nothing a user types
can make the statement fail), matched as all words (``match="all"``) or any
(``match="any"``, ranked: what "suggested articles" for a ticket needs).  Search
returns ids in rank order; callers read the records through the visibility model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from piccolo.querystring import QueryString

if TYPE_CHECKING:
    from kith.core.storage.database import Database

Match = Literal["all", "any"]
_WORD = re.compile(r"\w+", re.UNICODE)
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
#: words kept from a query: a ticket's whole text is a fine query, a novel is not
MAX_WORDS = 64


def _names(table: str, columns: Sequence[str]) -> None:
    for name in (table, *columns):
        if not _NAME.match(name):
            raise ValueError(f"{name!r} is not a plain table or column name")
    if not columns:
        raise ValueError("full-text search needs at least one column")


def _document(columns: Sequence[str]) -> str:
    joined = " || ' ' || ".join(f"coalesce(\"{c}\", '')" for c in columns)
    return f"to_tsvector('english', {joined})"


async def create_index(db: Database, table: str, columns: Sequence[str]) -> None:
    """Index ``columns`` of ``table`` for ``search`` (idempotent; indexes existing rows)."""
    _names(table, columns)
    if db.dialect.is_postgres:
        await db.run_ddl(f'CREATE INDEX IF NOT EXISTS "{table}_fulltext" ON "{table}" USING GIN ({_document(columns)})')
        return
    fts = f"{table}_fts"
    listed = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    await db.run_ddl(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {fts} USING fts5({listed}, content='{table}', content_rowid='id', "
        "tokenize='porter unicode61')"
    )
    await db.run_ddl(
        f"CREATE TRIGGER IF NOT EXISTS {fts}_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {listed}) VALUES (new.id, {new}); END"
    )
    await db.run_ddl(
        f"CREATE TRIGGER IF NOT EXISTS {fts}_delete AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.id, {old}); END"
    )
    await db.run_ddl(
        f"CREATE TRIGGER IF NOT EXISTS {fts}_update AFTER UPDATE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {fts}(rowid, {listed}) VALUES (new.id, {new}); END"
    )
    await db.run_ddl(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def words(text: str) -> list[str]:
    """The words of ``text``, lowercased, each once, at most ``MAX_WORDS``."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text or "")))[:MAX_WORDS]


async def search(
    db: Database, table: str, columns: Sequence[str], text: str, *, match: Match = "all", limit: int = 20
) -> list[int]:
    """Ids of ``table``'s rows whose ``columns`` match ``text``, best first."""
    _names(table, columns)
    terms = words(text)
    if not terms:
        return []
    limit = max(1, min(int(limit), 1000))
    if db.dialect.is_postgres:
        joiner = " & " if match == "all" else " | "
        query = joiner.join(f"'{t}'" for t in terms)  # quoted lexemes: words only, nothing to escape
        document = _document(columns)
        rows = await db.fetch(
            QueryString(
                f"SELECT id FROM \"{table}\", to_tsquery('english', {{}}) AS q WHERE {document} @@ q "
                f"ORDER BY ts_rank({document}, q) DESC, id LIMIT {limit}",
                query,
            )
        )
    else:
        joiner = " " if match == "all" else " OR "
        query = joiner.join(f'"{t}"' for t in terms)
        fts = f"{table}_fts"
        rows = await db.fetch(
            QueryString(
                f"SELECT rowid AS id FROM {fts} WHERE {fts} MATCH {{}} ORDER BY bm25({fts}), rowid LIMIT {limit}", query
            )
        )
    return [int(row["id"]) for row in rows]
