"""What a plugin's tests do as an admin would, without reaching into Kith's internals:
enable, disable and purge a plugin, fire a scheduled rule now, export and erase a person,
load the demo data, serve the web app.

Each is what the matching ``kith`` command or endpoint runs, so a test exercises the
same code an admin does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from kith.core.automations import schedules
from kith.core.demo import load_demo
from kith.core.plugins import lifecycle
from kith.core.privacy import service as privacy
from kith.core.privacy.erasure import ErasureReport
from kith.core.runtime import Kith
from kith.core.web.app import create_app
from kith.sdk.testing.worker import run_worker_until_idle


async def enable_plugin(kith: Kith, name: str) -> None:
    """Enable plugin ``name`` (its dependencies checked, its migrations run), as
    ``kith plugins enable NAME`` does."""
    await lifecycle.enable(kith, name)


async def disable_plugin(kith: Kith, name: str) -> None:
    """Disable plugin ``name``: its API and automations go, its data stays
    (``kith plugins disable NAME``)."""
    await lifecycle.disable(kith, name)


async def run_scheduled_rule(kith: Kith, name: str) -> int:
    """Fire the schedule rule ``name`` now, whatever its cron says, and run the worker
    until idle; returns how many runs the firing queued.  The rule's own schedule is
    left as it was; each call is a firing of its own (two calls: two mornings)."""
    queued = await schedules.fire_now(kith, name)
    await run_worker_until_idle(kith)
    return queued


async def export_personal_data(kith: Kith, contact_id: int) -> dict[str, Any]:
    """Everything tied to the person, core and every plugin (``kith gdpr export``)."""
    return await privacy.export_person(kith, contact_id)


async def erase_personal_data(kith: Kith, contact_id: int) -> ErasureReport:
    """Erase the person everywhere and report what changed (``kith gdpr erase``): its
    ``scrubbed`` entries are (table, record id, field)."""
    return await privacy.erase_person(kith, contact_id)


async def load_demo_data(kith: Kith, contacts: int = 300, seed: int = 7) -> dict[str, int]:
    """The demo data ``kith demo`` loads (core records, then each enabled plugin's
    ``kith_demo_data``), unless contacts exist already; returns how many of each kind
    were created."""
    return await load_demo(kith, contacts=contacts, seed=seed)


async def purge_plugin(kith: Kith, name: str, export_to: Path) -> Path:
    """Purge a disabled plugin as ``kith plugins purge NAME`` does: its data is exported
    into the folder ``export_to`` first (the file is returned), then its tables dropped."""
    return await lifecycle.purge(kith, name, export_to)


@asynccontextmanager
async def web_client(kith: Kith) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the web app serving ``kith`` (GraphQL at ``/graphql`` and the
    plugins' routes), the way ``kith serve`` serves it, without a worker inside.

    The app runs in the test's own event loop (its startup and shutdown driven by
    asgi-lifespan), so it can share ``kith`` and its database connections; requests come
    from ``127.0.0.1``."""
    app = create_app(kith=kith, run_worker=False)

    async def asgi(scope: Any, receive: Any, send: Any) -> None:  # litestar's typed ASGI, as plain ASGI
        await app(scope, receive, send)

    # the requests go to the app itself, not through the manager: it would hand every
    # request the same lifespan "state" dict, where litestar keeps a request's parsed body
    async with LifespanManager(asgi):
        transport = httpx.ASGITransport(app=asgi, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://kith.test") as client:
            yield client
