"""The database handle: one Piccolo engine chosen at run time from a URL.

Kith picks its engine from settings when the process starts (and tests pick a fresh
one per test), so tables are bound to the engine here rather than through a
``piccolo_conf.py`` found at import time.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType
from piccolo.querystring import QueryString
from piccolo.table import Table, create_db_tables

from kith.core.errors import KithError
from kith.core.storage.dialect import Dialect

Row = Mapping[str, Any]

#: seconds a SQLite writer waits for the database's write lock before giving up
SQLITE_TIMEOUT = 30

#: rows from which ``copy_rows`` uses COPY (below, one INSERT costs less than COPY's set-up)
_COPY_FROM = 50
#: parameters one SQLite statement may carry (999 before SQLite 3.32, 32766 since)
_SQLITE_MAX_PARAMS = 30_000 if sqlite3.sqlite_version_info >= (3, 32) else 900


@dataclass
class StatementCounter:
    """Counts SQL statements sent while it is active (tests and benchmarks read it)."""

    count: int = 0
    statements: list[str] = field(default_factory=list)


_counter: contextvars.ContextVar[StatementCounter | None] = contextvars.ContextVar(
    "kith_statement_counter", default=None
)


@asynccontextmanager
async def count_statements() -> AsyncIterator[StatementCounter]:
    """Count the statements issued by the code inside the block."""
    counter = StatementCounter()
    token = _counter.set(counter)
    try:
        yield counter
    finally:
        _counter.reset(token)


_after_commit: contextvars.ContextVar[list[Callable[[], Awaitable[Any]]] | None] = contextvars.ContextVar(
    "kith_after_commit", default=None
)


def _record(sql: str) -> None:
    counter = _counter.get()
    if counter is not None:
        counter.count += 1
        counter.statements.append(sql)


def _is_read(sql: str) -> bool:
    head = sql.lstrip()[:10].upper()
    return head.startswith(("SELECT", "WITH", "EXPLAIN"))


async def _keep_session(connection: Any) -> None:
    """asyncpg's reset of a connection going back to the pool, minus the statements.

    By default asyncpg sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on every release — one more round trip per statement run outside a
    transaction.  Kith leaves none of that state on a pooled connection: its advisory
    locks are transaction-scoped (``pg_advisory_xact_lock``), it declares no cursors
    outside a transaction (cursors end with it), it never LISTENs, and it never SETs a
    session parameter (``search_path`` comes from the connection's start-up parameters,
    which RESET would only restore).  asyncpg still rolls back a transaction left open
    and drops listeners before calling this (``Connection._reset``), so that much is kept.
    Plugins reach the database only through the SDK and Piccolo's query builder; SQL of
    their own that changes the session must use ``SET LOCAL`` or transaction-scoped locks.
    """


class _KeptConnection:
    """The writer connection as a transaction sees it: everything passes through, but
    closing it at the end of the transaction keeps it open for the next one."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    async def close(self) -> None:
        """Kept open: ``Database.close`` closes the connection itself."""


class _WriterTransaction(SQLiteTransaction):
    """A ``BEGIN IMMEDIATE`` transaction on the process's long-lived writer connection.

    Piccolo opens a new SQLite connection, with its own thread, for every transaction:
    about a quarter of the CPU a small write costs.  This process's write transactions
    take turns already (``Database._writer_turn``), so one connection serves them all."""

    def __init__(self, engine: SQLiteEngine, connection: Any) -> None:
        super().__init__(engine, transaction_type=TransactionType.immediate)
        #: the connection itself, which ``Database.fetch`` uses directly (rows as dicts and
        #: foreign keys on, as Piccolo set it up when it opened it)
        self.writer = connection
        self._kept = _KeptConnection(connection)

    async def get_connection(self) -> Any:
        return self._kept


class DatabaseUnavailable(KithError):
    """The configured database cannot be reached; the message says which one."""


class Database:
    """One engine, its dialect, and the few operations Kith's SQL needs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine[Any]
        parsed = urlparse(url)
        if parsed.scheme == "sqlite":
            path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path
            self.path: Path | None = Path(path or "kith.sqlite3")
            self.engine = SQLiteEngine(path=str(self.path), timeout=SQLITE_TIMEOUT)
            self.dialect = Dialect("sqlite")
        elif parsed.scheme in ("postgres", "postgresql"):
            self.path = None
            options = parse_qs(parsed.query)
            config: dict[str, Any] = {"dsn": url.split("?", 1)[0]}
            schema = options.get("schema", [None])[0]
            if schema:
                config["server_settings"] = {"search_path": schema}
            self.schema = schema
            self.engine = PostgresEngine(config=config, extensions=())
            self.dialect = Dialect("postgres")
        else:
            raise KithError(
                f"database_url: unsupported scheme {parsed.scheme!r} "
                "(use sqlite:///file.sqlite3 or postgresql://user@host/db)"
            )
        self._pooled = False
        self._turns: asyncio.Lock | None = None  # SQLite: write transactions of this process, in turn
        self._savepoints = 0
        self._reader: Any = None  # SQLite: one long-lived connection for reads
        self._writer: Any = None  # SQLite: one long-lived connection for write transactions, in turn

    @property
    def display_url(self) -> str:
        """The URL without a password, for messages and logs."""
        parsed = urlparse(self.url)
        if parsed.password:
            return self.url.replace(f":{parsed.password}@", ":***@")
        return self.url

    async def connect(self) -> None:
        """Open the pool (PostgreSQL) or prepare the file (SQLite), failing with one clear line."""
        if self.dialect.is_postgres:
            assert isinstance(self.engine, PostgresEngine)
            try:
                await self.engine.start_connection_pool(
                    min_size=1, max_size=int(os.environ.get("KITH_DB_POOL_SIZE", "10")), reset=_keep_session
                )
            except (OSError, Exception) as exc:  # asyncpg raises many kinds
                raise DatabaseUnavailable(f"cannot reach PostgreSQL at {self.display_url}: {exc}") from exc
            self._pooled = True
        else:
            assert self.path is not None
            if self.path.parent and not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # WAL lets readers proceed while the worker or an import writes.
            await self.engine.run_ddl("PRAGMA journal_mode=WAL")
            await self._open_reader()

    async def _open_reader(self) -> None:
        """Piccolo opens a new SQLite connection (and thread) for every statement outside
        a transaction; reads share one long-lived connection instead.  In WAL mode it
        sees every committed write, and it never holds a transaction open."""
        import aiosqlite
        from piccolo.engine.sqlite import dict_factory

        assert isinstance(self.engine, SQLiteEngine)
        self._reader = await aiosqlite.connect(**self.engine.connection_kwargs)
        self._reader.row_factory = dict_factory
        await self._reader.execute("PRAGMA foreign_keys = 1")

    async def close(self) -> None:
        if self._pooled and isinstance(self.engine, PostgresEngine):
            await self.engine.close_connection_pool()
            self._pooled = False
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._writer is not None:
            await self._writer.close()
            self._writer = None

    def bind(self, tables: Iterable[type[Table]]) -> None:
        """Point each Piccolo table at this engine."""
        for table in tables:
            table._meta.db = self.engine

    async def fetch(self, query: QueryString) -> list[Row]:
        """Run one statement and return its rows as mappings."""
        _record(query.template)
        if self._reader is not None and _is_read(query.template) and not self.in_transaction():
            sql, args = query.compile_string(engine_type="sqlite")
            async with self._reader.execute(sql, args) as cursor:
                return list(await cursor.fetchall())
        writer = self._writer_in_use()
        if writer is not None:
            # one trip to the connection's thread; Piccolo takes four per statement (it
            # re-sends the foreign-keys pragma, then executes, fetches and closes a cursor)
            sql, args = query.compile_string(engine_type="sqlite")
            return list(await writer.execute_fetchall(sql, args))
        rows = await self.engine.run_querystring(query)
        return rows or []

    def _writer_in_use(self) -> Any:
        """SQLite: the writer connection, when the current transaction is on it."""
        if self._writer is None:
            return None
        current = self.engine.current_transaction.get()
        return current.writer if isinstance(current, _WriterTransaction) else None

    async def fetch_one(self, query: QueryString) -> Row | None:
        rows = await self.fetch(query)
        return rows[0] if rows else None

    async def fetch_value(self, query: QueryString) -> Any:
        row = await self.fetch_one(query)
        if row is None:
            return None
        return next(iter(dict(row).values()))

    async def fetch_prepared_value(self, sql: str, args: Sequence[Any], fallback: QueryString) -> Any:
        """The first value of the first row of ``sql``, already compiled for this engine
        (``fallback.compile_string``): a hot read path that skips recompiling the query
        and converting rows.  Inside a transaction it runs ``fallback`` on the
        transaction's connection instead."""
        if self.in_transaction() or (self._reader is None and not self._pooled):
            return await self.fetch_value(fallback)
        _record(fallback.template)
        if self._reader is not None:
            async with self._reader.execute(sql, args) as cursor:
                row = await cursor.fetchone()
            return None if row is None else next(iter(row.values()))
        assert isinstance(self.engine, PostgresEngine) and self.engine.pool is not None
        async with self.engine.pool.acquire() as connection:
            # ``fetch``, not ``fetchval``: asyncpg runs those with a row limit on the
            # portal, and PostgreSQL plans no parallel workers for such a portal, so a
            # heavy read (a count over a million contacts) took 1.7 times as long
            rows = await connection.fetch(sql, *args)
        return rows[0][0] if rows else None

    async def execute(self, sql: str, *args: Any) -> list[Row]:
        return await self.fetch(QueryString(sql, *args))

    async def insert_rows(
        self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]], suffix: str = ""
    ) -> list[Row]:
        """Insert ``rows`` (in order) with one statement, or as few as the engine's limit
        on parameters allows; ``columns`` are (name, SQL type) pairs (``Dialect.rows``)."""
        if not rows:
            return []
        per = 10_000 if self.dialect.is_postgres else max(1, _SQLITE_MAX_PARAMS // len(columns))
        out: list[Row] = []
        for start in range(0, len(rows), per):
            out.extend(await self.fetch(self.dialect.insert_rows(table, columns, rows[start : start + per], suffix)))
        return out

    async def copy_rows(self, table: str, columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> None:
        """Append ``rows`` to ``table`` (no ``RETURNING``, no ``ON CONFLICT``): in a
        PostgreSQL transaction with ``COPY``, which takes a bulk write's audit rows and
        events in about half the time of an ``INSERT`` of the same rows; otherwise as
        ``insert_rows``.  Each value must already be of its column's Python type (COPY
        converts nothing: an ``int`` for BIGINT, an aware ``datetime`` for TIMESTAMPTZ,
        JSON as text)."""
        current = self.engine.current_transaction.get() if isinstance(self.engine, PostgresEngine) else None
        if current is None or len(rows) < _COPY_FROM:
            await self.insert_rows(table, columns, rows)
            return
        _record(f'COPY "{table}"')
        await current.connection.copy_records_to_table(table, records=rows, columns=[name for name, _ in columns])

    async def run_ddl(self, sql: str) -> None:
        _record(sql)
        await self.engine.run_ddl(sql)

    def transaction(self) -> Any:
        """A transaction; statements issued inside it share its connection."""
        return self.engine.transaction()

    @asynccontextmanager
    async def write_transaction(self) -> AsyncIterator[None]:
        """A transaction that writes, joining the caller's transaction if there is one.

        On SQLite it takes the write lock up front (``BEGIN IMMEDIATE``) so a
        read-then-write cannot fail half-way on a busy file.  Callbacks registered with
        ``after_commit`` run once the outermost transaction has committed, and never
        if it rolled back.
        """
        if self.in_transaction():
            yield
            return
        pending: list[Callable[[], Awaitable[Any]]] = []
        token = _after_commit.set(pending)
        try:
            if self.dialect.is_postgres:
                async with self.engine.transaction():
                    yield
            else:
                async with self._writer_turn(), self._writer_transaction():
                    yield
        finally:
            _after_commit.reset(token)
        for callback in pending:
            await callback()

    @asynccontextmanager
    async def _writer_transaction(self) -> AsyncIterator[None]:
        """SQLite, in this process's turn: a write transaction on the writer connection
        (opened on first use).  A connection left inside a transaction by a failure that
        Piccolo's rollback could not undo is closed and replaced, never reused half-way."""
        assert isinstance(self.engine, SQLiteEngine)
        if self._writer is None:
            self._writer = await self.engine.get_connection()  # Piccolo's settings: rows as dicts, foreign keys
        writer = self._writer
        try:
            async with _WriterTransaction(self.engine, writer):
                yield
        finally:
            if writer.in_transaction:
                self._writer = None
                await writer.close()

    @asynccontextmanager
    async def _writer_turn(self) -> AsyncIterator[None]:
        """SQLite: this process's write transactions take turns, in the order they asked.

        SQLite lets one writer in at a time; a writer that finds the file locked sleeps
        and retries (``timeout``), so one that writes back to back (the automation
        worker's batches) could keep another (an API request) waiting for seconds.
        Queued here, each waits at most for the transactions that asked before it.  As
        long as SQLite's own wait, then the same error."""
        if self._turns is None:
            self._turns = asyncio.Lock()
        try:
            async with asyncio.timeout(SQLITE_TIMEOUT):
                await self._turns.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked (waited for this process's other writers)") from None
        try:
            yield
        finally:
            self._turns.release()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of the current write transaction that fails on its own: an exception
        inside undoes only this part (and forgets its after-commit callbacks), then
        propagates.  Outside a transaction it is a write transaction of its own."""
        if not self.in_transaction():
            async with self.write_transaction():
                yield
            return
        self._savepoints += 1
        name = f"kith_sp_{self._savepoints}"
        pending = _after_commit.get()
        mark = len(pending) if pending is not None else 0
        await self.engine.run_ddl(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            await self.engine.run_ddl(f"ROLLBACK TO SAVEPOINT {name}")
            await self.engine.run_ddl(f"RELEASE SAVEPOINT {name}")
            if pending is not None:
                del pending[mark:]
            raise
        await self.engine.run_ddl(f"RELEASE SAVEPOINT {name}")

    async def after_commit(self, callback: Callable[[], Awaitable[Any]]) -> None:
        """Run ``callback`` after the current write transaction commits (now, if none)."""
        pending = _after_commit.get()
        if pending is None or not self.in_transaction():
            await callback()
        else:
            pending.append(callback)

    def in_transaction(self) -> bool:
        return self.engine.transaction_exists()

    async def create_tables(self, tables: Sequence[type[Table]]) -> None:
        self.bind(tables)
        await create_db_tables(*tables, if_not_exists=True)

    async def column_names(self, table: str) -> set[str]:
        """The columns ``table`` has now (empty if it does not exist)."""
        if self.dialect.is_postgres:
            rows = await self.execute(
                "SELECT column_name AS name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = {}",
                table,
            )
        else:
            rows = await self.execute("SELECT name FROM pragma_table_info({})", table)
        return {row["name"] for row in rows}

    async def unique_keys(self, table: str) -> list[tuple[str, ...]]:
        """The column sets ``table``'s unique indexes and constraints hold, the primary key
        and partial or expression indexes left out (``[("segment", "contact")]``): what
        two rows may not share, whether Piccolo (``unique=True``) or a migration made it."""
        if self.dialect.is_postgres:
            rows = await self.execute(
                "SELECT i.relname AS name, a.attname AS col FROM pg_index x "
                "JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey) "
                "WHERE x.indisunique AND NOT x.indisprimary AND x.indpred IS NULL AND x.indexprs IS NULL "
                "AND n.nspname = current_schema() AND t.relname = {}",
                table,
            )
        else:
            rows = await self.execute(
                "SELECT il.name AS name, ii.name AS col FROM pragma_index_list({}) il "
                "JOIN pragma_index_info(il.name) ii WHERE il.\"unique\" = 1 AND il.partial = 0 AND il.origin <> 'pk'",
                table,
            )
        keys: dict[str, list[str | None]] = {}
        for row in rows:
            keys.setdefault(str(row["name"]), []).append(row["col"])
        return sorted({tuple(sorted(str(c) for c in cols)) for cols in keys.values() if None not in cols})

    async def table_names(self) -> set[str]:
        if self.dialect.is_postgres:
            rows = await self.execute("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()")
        else:
            rows = await self.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row["name"] for row in rows}
