"""The template renderer's child process: renders what the parent sends, one request
at a time, until its pipe closes or it is killed.

Started by ``rendering.py`` as ``python -I -c …`` with two pipe descriptors.  A
request is a pickled ``(texts, context, budget, max_items)`` from the parent (trusted);
the answer is JSON bytes, so the parent never unpickles what a template produced:
``{"ok": [outputs]}`` or ``{"error": message, "index": i, "limit": setting or null}``.

The child lowers its own priority (the API process comes first on a busy machine),
caps its address space (``template_max_memory_mb``: a template that allocates without
bound gets ``MemoryError`` here, not the host's OOM killer), and exits when its
parent is gone, even in the middle of a render.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from jinja2 import TemplateError

from kith.core.automations.sandbox import TemplateLimitError, render_limited

READY = b'{"ready": true}'


def main(read_fd: int, write_fd: int, memory_bytes: int) -> None:
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    _confine(memory_bytes)
    _exit_with_parent(os.getppid())
    outbox.send_bytes(READY)
    while True:
        try:
            request = inbox.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe: Kith is closing
        outbox.send_bytes(answer(*request))


def answer(texts: list[str], context: dict[str, Any], budget: int, max_items: int) -> bytes:
    outputs: list[str] = []
    for index, text in enumerate(texts):
        try:
            output = render_limited(text, context, budget, max_items)
        except TemplateLimitError as exc:
            return _error(index, str(exc), exc.limit)
        except MemoryError:
            return _error(index, "stopped: it needed more memory than template_max_memory_mb allows", "memory")
        except TemplateError as exc:
            return _error(index, str(exc), None)
        except RecursionError:
            return _error(index, "stopped: it recursed too deeply", None)
        except Exception as exc:  # ZeroDivisionError, TypeError…: the template's own mistake
            return _error(index, f"{type(exc).__name__}: {exc}", None)
        budget -= len(output.encode("utf-8", "surrogatepass"))
        outputs.append(output)
    return json.dumps({"ok": outputs}, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _error(index: int, message: str, limit: str | None) -> bytes:
    return json.dumps({"error": message, "index": index, "limit": limit}).encode()


def _confine(memory_bytes: int) -> None:
    with contextlib.suppress(OSError):
        os.nice(19)  # a background job: the API process comes first
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ImportError, ValueError, OSError):  # not on this platform: the clock still applies
        pass


def _exit_with_parent(parent: int) -> None:
    """A render stuck in a loop never reads its pipe again: a watcher thread ends the
    process when the parent goes away, so no orphan keeps burning a core."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":  # pragma: no cover - started by rendering.py
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
