"""``kith serve``, with Kith's statement counter on for the whole process (bench_http.py).

Runs Kith's own command line in this process (``kith.cli.main``, here ``serve``), after
one change that Kith's code does not see: the process's context carries a
``StatementCounter`` (the counter of ``count_statements()``, core/storage/database.py),
so every statement the server sends, from requests and from the embedded worker alike,
is counted.  Every task the server starts copies this context, so they all share the
one counter.  The counter keeps the count and only the texts of the last 100 statements
(a bounded deque), so it costs an increment and an append per statement and no memory
that grows.

On SIGUSR1 the count so far and those last texts are written to
``$BENCH_STATEMENTS_FILE`` as JSON (atomically); bench_http.py reads it before and after
each measurement, and around one request of each workload to print its SQL.  Nothing changes in Kith:
without this launcher, ``kith serve`` runs exactly the same code with the counter off.

    python serve_counted.py serve --host 127.0.0.1 --port 8000   # = kith serve …
"""

from __future__ import annotations

import collections
import json
import os
import signal
import sys
from typing import Any

from kith.core.storage import database


class _Recent(list[str]):
    """The counter's list of statements, keeping only the last 100."""

    def __init__(self) -> None:
        super().__init__()
        self.recent: collections.deque[str] = collections.deque(maxlen=100)

    def append(self, item: str) -> None:
        self.recent.append(item)


def main() -> None:
    recent = _Recent()
    counter = database.StatementCounter(statements=recent)
    # what count_statements() does for a block of code, done once for the whole process
    database._counter.set(counter)
    path = os.environ.get("BENCH_STATEMENTS_FILE")
    if path:

        def dump(signum: int, frame: Any) -> None:
            with open(path + ".tmp", "w") as out:
                json.dump({"count": counter.count, "recent": list(recent.recent)}, out)
            os.replace(path + ".tmp", path)

        signal.signal(signal.SIGUSR1, dump)

    from kith.cli.main import main as kith

    sys.argv = ["kith", *sys.argv[1:]]
    kith()


if __name__ == "__main__":
    main()
