"""One process at a time per import run.

Running ``kith import`` again on the same file resumes its unfinished run, which is what
a person wants after a crash; but started while the first is still going (a second
terminal, a retry by a scheduler), both would work on the same run, each skipping what
the other wrote and doubling the counts.  So a run is claimed for the length of a
process's work, with a lock the operating system or the database releases when the
process ends, however it ends (a SIGKILLed importer must not block its own resume):

- PostgreSQL: a session advisory lock, on a connection of its own, keyed by the
  database, the schema and the run;
- SQLite: an ``flock`` on a file beside the database (the database is on this machine),
  removed once the run is done (``finished``), not before: a process that opened it
  just before its removal would lock a file no one else can see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from piccolo.engine.postgres import PostgresEngine

from kith.core.errors import ValidationFailed

if TYPE_CHECKING:
    from kith.core.runtime import Kith


_LOCK = (
    "SELECT pg_try_advisory_lock("  # session state: taken only on a connection of its own, never pooled
    "hashtext(current_database() || '.' || current_schema() || '.' || $1))"
)


def busy(run_id: int) -> ValidationFailed:
    return ValidationFailed.single(
        "run",
        "busy",
        f"import {run_id} is running in another process: let it finish (or stop it), then run the command "
        "again to resume",
    )


@asynccontextmanager
async def claimed(kith: Kith, run_id: int) -> AsyncIterator[None]:
    """Hold run ``run_id`` for the block; refuses with ``busy`` when another holds it."""
    engine = kith.db.engine
    if isinstance(engine, PostgresEngine):
        connection = await engine.get_new_connection()
        try:
            key = f"kith_import_run.{int(run_id)}"
            if not await connection.fetchval(_LOCK, key):
                raise busy(run_id)
            yield  # the lock ends with the connection's session
        finally:
            await connection.close()
        return
    with _LockFile(kith, run_id):
        yield


def finished(kith: Kith, run_id: int) -> None:
    """Forget a finished run's claim (SQLite: its lock file)."""
    if not kith.db.dialect.is_postgres:
        _LockFile(kith, run_id).path.unlink(missing_ok=True)


class _LockFile:
    """An exclusive ``flock`` on ``<database>.import-<run>.lock``, released on close."""

    def __init__(self, kith: Kith, run_id: int) -> None:
        database = Path(kith.settings.database_url.removeprefix("sqlite:///"))
        self.path = database.with_name(f"{database.name}.import-{int(run_id)}.lock")
        self.run_id = run_id
        self.handle: Any = None

    def __enter__(self) -> None:
        import fcntl

        self.handle = self.path.open("a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise busy(self.run_id) from None

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
