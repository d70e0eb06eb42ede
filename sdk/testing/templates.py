"""Migrated databases to copy, so that each test does not migrate its own anew.

Opening Kith on an empty database runs every migration of the core and of the plugins
a test enables: about 0.3 s on SQLite and 0.9 s on PostgreSQL, for each of hundreds of
tests.  The first time a process needs a database in a given state (the core, or the
core with ``service`` enabled), it builds one such database, a *template*, exactly as a
test would; every later test copies it: a file copy on SQLite, ``CREATE DATABASE …
TEMPLATE`` on PostgreSQL (about 0.2 s).  A copy is what migrating would have made, so
tests cannot tell the difference.

Only a test's first Kith on its own, still empty, database is copied; a database that
already holds tables (a command ran first), throwaway plugins beyond the core template,
and settings that change what is discovered (``plugins``, ``extra_plugins``) take the
usual path; ``KITH_TEST_TEMPLATES=0`` turns copying off.  On PostgreSQL it needs a role
that may create databases; without one, each test gets a schema as before and migrates it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import logging
import os
import queue
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

#: settings that change which plugins exist, or where the data is: never templated
STRUCTURAL = frozenset({"database_url", "plugins", "extra_plugins", "extra_distributions"})
PREFIX_TEMPLATE = "kith_tpl_"
PREFIX_TEST = "kith_t_"

log = logging.getLogger(__name__)


def is_database_per_test(url: str) -> bool:
    """A PostgreSQL URL naming a database of its own (not a schema of a shared one)."""
    parsed = urlparse(url)
    return parsed.scheme.startswith("postgres") and "schema=" not in parsed.query


def with_database(url: str, name: str) -> str:
    parsed = urlparse(url)
    return urlunparse(parsed._replace(path=f"/{name}", query=""))


async def admin(url: str, *statements: str) -> Any:
    """Run ``statements`` on the server of ``url`` (connected to its maintenance database)."""
    import asyncpg

    connection = await asyncpg.connect(with_database(url, "postgres"), timeout=10)
    try:
        result = None
        for sql in statements:
            result = await connection.fetchval(sql)
        return result
    finally:
        await connection.close()


class Templates:
    """This process's templates, by engine and the plugins enabled in them."""

    def __init__(self) -> None:
        self._folder: Path | None = None
        self._made: dict[tuple[str, tuple[str, ...]], str] = {}
        self._server: str | None = None
        #: test databases created as a copy of a template, with the plugins it has enabled
        self.cloned: dict[str, tuple[str, ...]] = {}
        atexit.register(self.drop_all)

    async def prepare(self, url: str, enable: Sequence[str]) -> bool:
        """Copy the template with ``enable`` into the empty database ``url``; False when
        ``url`` is not one this can fill (the caller migrates it as usual)."""
        key = tuple(enable)
        if os.environ.get("KITH_TEST_TEMPLATES", "1") == "0":
            return False
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///") :])
            if await asyncio.to_thread(path.exists):
                return False
            template = await self._template("sqlite", key, url)
            await asyncio.to_thread(shutil.copyfile, template, path)
            return True
        if not is_database_per_test(url):
            return False
        if url in self.cloned:  # created as a copy of the core's template: enabling is what is left
            return self.cloned.pop(url) == key
        name = urlparse(url).path.lstrip("/")
        if await self._has_tables(url):
            return False
        template = await self._template("postgres", key, url)
        # the copy of another template moves aside, to be dropped off the test's time
        aside = f"{name}_x"
        rename = f'ALTER DATABASE "{name}" RENAME TO "{aside}"'
        await admin(url, rename, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        DROPPER.drop(url, aside)
        return True

    async def create_from_core(self, url: str) -> None:
        """Create the database ``url`` names as a copy of the core's template."""
        name = urlparse(url).path.lstrip("/")
        template = await self._template("postgres", (), url)
        await admin(url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.cloned[url] = ()

    async def _has_tables(self, url: str) -> bool:
        import asyncpg

        connection = await asyncpg.connect(url, timeout=10)
        try:
            found = await connection.fetchval("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public')")
            return bool(found)
        finally:
            await connection.close()

    async def _template(self, engine: str, key: tuple[str, ...], url: str) -> str:
        made = self._made.get((engine, key))
        if made is not None:
            return made
        digest = hashlib.sha1("\x00".join(key).encode()).hexdigest()[:10]
        if engine == "sqlite":
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix="kith_templates_"))
            target = str(self._folder / f"{digest}.sqlite3")
            await self._build(f"sqlite:///{target}", key)
        else:
            target = f"{PREFIX_TEMPLATE}{os.getpid()}_{digest}"
            self._server = url
            await admin(url, f'CREATE DATABASE "{target}" TEMPLATE template0')
            await self._build(with_database(url, target), key)
        self._made[(engine, key)] = target
        return target

    @staticmethod
    async def _build(url: str, key: tuple[str, ...]) -> None:
        from kith.core.plugins import lifecycle
        from kith.core.runtime import Kith
        from kith.core.settings import load_settings

        kith = await Kith.open(load_settings(database_url=url))
        try:
            for name in key:
                await lifecycle.enable(kith, name)
        finally:
            await kith.close()

    def drop_all(self) -> None:
        """Remove this process's templates (at exit)."""
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
        names = [name for (engine, _key), name in self._made.items() if engine == "postgres"]
        self._made.clear()
        if names and self._server is not None:
            server = self._server
            with contextlib.suppress(Exception):  # the server went away first: nothing to clean up there
                asyncio.run(admin(server, *(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)' for n in names)))


TEMPLATES = Templates()


class _Dropper:
    """Drops finished tests' databases on a thread of its own.  ``DROP DATABASE`` waits
    for checkpoints (about 0.4 s here, waiting on the disk rather than using a core), and
    the next test need not wait with it.  The process waits for the last drops as it
    exits, so no database is left behind."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, str]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def drop(self, base: str, name: str) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kith-test-db-dropper", daemon=True)
                self._thread.start()
                atexit.register(self.wait)
        self._queue.put((base, name))

    def wait(self) -> None:
        """Return once every database handed over has been dropped."""
        self._queue.join()

    def _run(self) -> None:
        while True:
            base, name = self._queue.get()
            try:
                asyncio.run(admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception:
                log.exception("could not drop the test database %s", name)
            finally:
                self._queue.task_done()


DROPPER = _Dropper()


def new_test_database_name() -> str:
    """A database name that says which process made it (stale ones can be found)."""
    return f"{PREFIX_TEST}{os.getpid()}_{uuid.uuid4().hex[:12]}"
