"""A throwaway plugin for the durability tests: a ``call_function`` that can hold a rule
still, so a test can kill the worker at a known point of a batch.

``hold(record_id=N, while_exists=PATH)`` waits while the file ``PATH`` exists when the
rule runs on record ``N`` (any other record passes straight through).  A test creates
the file, waits until the worker is held, kills it, removes the file and restarts.
Loaded in a worker subprocess with ``KITH_EXTRA_PLUGINS=kith_test_plugins.slow_steps:plugin``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kith.sdk import Plugin, hookimpl


def _exists(path: str) -> bool:
    return Path(path).exists()


async def hold(ctx: Any, record_id: int, while_exists: str, poll: float = 0.02) -> dict[str, Any]:
    held = False
    if ctx.record is not None and int(ctx.record["id"]) == int(record_id):
        while _exists(while_exists):
            held = True
            await asyncio.sleep(poll)
    return {"held": held}


@hookimpl
def kith_automation_functions() -> dict[str, Any]:
    return {"hold": hold}


plugin = Plugin(
    name="slow_steps",
    version="0.1.0",
    summary="A call_function that holds a rule still (durability tests).",
    hooks=__name__,
)
