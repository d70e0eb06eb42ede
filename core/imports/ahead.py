"""The chunks of an import's file, read and checked ahead of the one being written.

An import spends most of its time in Python: reading and checking rows (conversion,
the entity's validation and normalisers: phone numbers are the dearest) and then
writing them (hooks, audit rows, events).  Checking needs no database, so it is done
ahead, one chunk in front of the writer:

- a small file, in the writer's own process (``RowPreparer.read`` hands the event loop
  back every few rows, so the writer goes on whenever its statement returns);
- a large one, when the caller allows it (``kith import`` does), in a helper process of
  its own (``HELPER_FROM_BYTES``), which opens Kith
  as the importer's process did, reads the file from the run's line and sends each
  chunk back checked: the checking then runs on another core, beside the database,
  and the writer's process only writes.  The helper is used only when it loads the
  same plugins (a test's throwaway plugin is not loaded by a new process); otherwise,
  or when it cannot start or stops, the rows are prepared in-process from the first
  line not yet handed over, so the run goes on with the same results.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kith.core.imports.csv_file import CsvProblem
from kith.core.imports.prepare import Prepared, RowPreparer
from kith.core.imports.sources import Row, Source, open_source

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.settings import Settings

log = logging.getLogger(__name__)

#: files from this size on are checked in a helper process (about 20,000 rows of a
#: contact list): below it, starting a process (a second or two) costs more than it saves
HELPER_FROM_BYTES = 2_000_000


def plugin_set(kith: Kith) -> tuple[tuple[str, str], ...]:
    """The plugins a process runs, by name and version: a helper checks rows only when
    its own set is the importer's (the same entities, normalisers and custom fields)."""
    return tuple(sorted((name, kith.plugins.available[name].version) for name in kith.plugins.active))


@asynccontextmanager
async def prepared_chunks(
    kith: Kith, stored: dict[str, Any], source: Source, rows: RowPreparer, chunk: int, *, helper: bool | None = None
) -> AsyncIterator[AsyncIterator[Prepared]]:
    """The run's chunks from its ``next_line`` on, each read and checked while the one
    before it is written.  ``helper``: check them in a helper process (None: when the
    file is large)."""
    multiline = rows.multiline()
    from_line = int(stored["next_line"])
    wanted = helper if helper is not None else _large(source.path)
    process = await _Helper.start(kith, stored, source, rows.trusted, from_line, chunk) if wanted else None

    async def chunks() -> AsyncGenerator[Prepared, None]:
        nonlocal process
        handed = from_line - 1  # the last line handed over
        items: Iterator[Row | CsvProblem] | None = None

        def local() -> asyncio.Task[Prepared | None]:
            nonlocal items
            if items is None:
                items = source.rows(handed + 1, multiline)
            return asyncio.ensure_future(rows.read(items, chunk))

        ahead: asyncio.Future[Prepared | None] = process.next() if process is not None else local()
        try:
            while True:
                try:
                    prepared = await ahead
                except BrokenProcessPool:
                    log.warning("import %s: the helper process stopped; checking rows in this one", stored["id"])
                    assert process is not None
                    process.close()
                    process = None
                    ahead = local()
                    continue
                if prepared is None:
                    return
                handed = prepared.last
                ahead = process.next() if process is not None else local()
                yield prepared
        finally:
            ahead.cancel()

    given = chunks()
    try:
        yield given
    finally:
        await given.aclose()  # a writer that stopped early: no chunk is checked for nothing
        if process is not None:
            process.close()


def _large(path: Path) -> bool:
    return path.stat().st_size >= HELPER_FROM_BYTES


class _Helper:
    """A helper process checking one run's chunks, one at a time, in file order."""

    def __init__(self, pool: ProcessPoolExecutor, chunk: int) -> None:
        self.pool = pool
        self.chunk = chunk

    @classmethod
    async def start(
        cls, kith: Kith, stored: dict[str, Any], source: Source, trusted: bool, from_line: int, chunk: int
    ) -> _Helper | None:
        """The helper, ready (Kith open, the file open at ``from_line``); None when it
        cannot check the rows as this process would."""
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),  # not fork: this process holds connections and threads
            initializer=_child_start,
            # the runtime's class travels by name: the child imports it; this module does not
            initargs=(type(kith), kith.settings, plugin_set(kith), dict(stored), str(source.path), trusted, from_line),
        )
        helper = cls(pool, chunk)
        try:
            ready = await asyncio.wrap_future(pool.submit(_child_ready))
        except BrokenProcessPool:
            ready = False
        if not ready:
            log.info("import %s: no helper process (it would not load as this one did); checking rows here",
                     stored["id"])  # fmt: skip
            helper.close()
            return None
        log.info("import %s: rows checked in a helper process", stored["id"])
        return helper

    def next(self) -> asyncio.Future[Prepared | None]:
        return asyncio.wrap_future(self.pool.submit(_child_next, self.chunk))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


# -- in the helper process -------------------------------------------------------------------

_CHILD: dict[str, Any] = {}


def _child_start(
    runtime: type[Kith],
    settings: Settings,
    plugins: tuple[tuple[str, str], ...],
    stored: dict[str, Any],
    path: str,
    trusted: bool,
    from_line: int,
) -> None:
    """Open Kith as the importer's process did and the file at ``from_line``; leaves
    nothing open but the file.  A helper whose plugins differ is not ``ready``."""
    _die_with(os.getppid())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the importer's to handle; this one follows it
    from kith.core.imports.prepare import preparer_for

    source = open_source(path, encoding=stored["encoding"], sheet=stored["sheet"])

    async def load() -> RowPreparer | None:
        kith = await runtime.open(settings, migrate_database=False)
        try:
            return preparer_for(kith, stored, source.headers, trusted) if plugin_set(kith) == plugins else None
        finally:
            await kith.close()

    preparer = asyncio.run(load())
    if preparer is not None:
        _CHILD["rows"] = preparer
        _CHILD["items"] = source.rows(from_line, preparer.multiline())


def _die_with(parent: int) -> None:
    """End this process soon after ``parent`` ends, however it ends: an importer killed
    with SIGKILL cannot shut its helper down, and a helper waits for work forever."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="kith-import-parent-watch", daemon=True).start()


def _child_ready() -> bool:
    return "rows" in _CHILD


def _child_next(size: int) -> Prepared | None:
    batch: Sequence[Row | CsvProblem] = list(islice(_CHILD["items"], size))
    preparer: RowPreparer = _CHILD["rows"]
    return preparer.prepare_now(batch) if batch else None
