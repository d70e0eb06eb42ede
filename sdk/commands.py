"""What a plugin's ``kith`` command needs: a Kith opened from settings, async code run,
and Kith's errors turned into one clear line with a non-zero exit.

The ``kith`` CLI's own commands use these too, so a plugin's command behaves exactly
like a built-in one (``--database-url``, ``KITH_*`` settings, ``Error: …`` lines); they
live in the SDK because plugins may not import ``kith.cli``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import click

from kith.core.errors import KithError, ValidationFailed
from kith.core.plugins.context import PluginContext
from kith.core.records.change import Actor
from kith.core.runtime import Kith
from kith.core.settings import Settings, load_settings

T = TypeVar("T")
CLI = Actor(name="cli", source="cli")


class KithCliError(click.ClickException):
    """Printed as ``Error: <message>`` with exit status 1."""


def settings_from(ctx: click.Context) -> Settings:
    """The settings a command runs with: ``KITH_*``, ``kith.toml`` and ``kith --database-url``."""
    overrides: dict[str, Any] = {}
    root = ctx.find_root()
    url = root.params.get("database_url")
    if url:
        overrides["database_url"] = url
    try:
        return load_settings(**overrides)
    except KithError as exc:
        raise KithCliError(str(exc)) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; Kith errors become a one-line CLI error."""
    try:
        return asyncio.run(coro)
    except ValidationFailed as exc:
        raise KithCliError("; ".join(_cli_field(e.field) + e.message for e in exc.errors)) from None
    except KithError as exc:
        raise KithCliError(str(exc)) from None


def _cli_field(field: str | None) -> str:
    return f"{field}: " if field else ""


@asynccontextmanager
async def open_kith(ctx: click.Context, *, migrate: bool = True, load: bool = True) -> AsyncIterator[Kith]:
    """A Kith opened from the command's settings (migrated first), closed afterwards."""
    kith = await Kith.open(settings_from(ctx), migrate_database=migrate, load=load)
    try:
        yield kith
    finally:
        await kith.close()


def with_context(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Turn an async function ``(context, **params)`` into a click command body.

    Like ``with_kith``, but the function gets a ``PluginContext`` acting as the system
    (the audit names the ``cli`` as the surface), which is what a plugin's command needs:
    records, events, settings and the engine-independent database operations.
    """

    async def body(kith: Kith, **params: Any) -> Any:
        return await fn(PluginContext(kith, CLI), **params)

    functools.update_wrapper(body, fn)
    return with_kith(body)


def with_kith(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Turn an async function ``(kith, **params)`` into a click command body (Kith's own
    commands use it; plugins use ``with_context``, which hands them a PluginContext).

    The command opens a Kith from the settings (``KITH_*``, ``kith.toml`` and
    ``kith --database-url``), migrating first, passes it with the command's parameters,
    and closes it; a ``KithError`` (``ValidationFailed`` included) becomes one line
    ``Error: ...`` with exit status 1.  Put it below ``@click.command`` and the options.
    """

    @click.pass_context
    @functools.wraps(fn)
    def command(ctx: click.Context, **params: Any) -> Any:
        async def body() -> Any:
            async with open_kith(ctx) as kith:
                return await fn(kith, **params)

        return run(body())

    return command
