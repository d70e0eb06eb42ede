"""A throwaway plugin for the durability tests: ways to hold the worker still, so a test
can kill it at a known point of a batch.

``hold(record_id=N, while_exists=PATH)`` (a ``call_function``) waits while the file
``PATH`` exists when the rule runs on record ``N`` (any other record passes straight
through).  A test creates the file, waits until the worker is held, kills it, removes
the file and restarts.

The ``kith_before_create`` hook holds the same way inside the write of an activity whose
subject is record ``KITH_TEST_HOLD_SUBJECT``, while the file ``KITH_TEST_HOLD_FILE``
exists (both environment variables; without them the hook does nothing): on the
worker's batch path that is inside the batch's transaction, after the effects before
it were written and before the batch is marked done and committed.  It touches
``<KITH_TEST_HOLD_FILE>.held`` when it starts holding.

Loaded in a worker subprocess with ``KITH_EXTRA_PLUGINS=kith_test_plugins.slow_steps:plugin``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from kith.sdk import Plugin, hookimpl


def _exists(path: str) -> bool:
    return Path(path).exists()


def _touch(path: str) -> None:
    Path(path).touch()


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


@hookimpl
async def kith_before_create(change: Any) -> None:
    path, subject = os.environ.get("KITH_TEST_HOLD_FILE"), os.environ.get("KITH_TEST_HOLD_SUBJECT")
    if not path or not subject or change.entity != "activity":
        return
    if str(change.values.get("subject_id")) != subject or not _exists(path):
        return
    _touch(f"{path}.held")
    waited = 0
    while _exists(path):
        waited += 1
        await asyncio.sleep(0.02)


plugin = Plugin(
    name="slow_steps",
    version="0.1.0",
    summary="A call_function that holds a rule still (durability tests).",
    hooks=__name__,
)
