"""Rate limits per API key, per signed-in session and per address, shared by every
process that uses the same database.

Litestar's ``RateLimitMiddleware`` does the counting and sets the ``RateLimit-*`` and
``Retry-After`` headers with status 429; its history lives in ``DatabaseStore``, a
litestar ``Store`` backed by the ``kith_rate_limit`` table, so several API processes
behind a proxy share one budget per caller.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from litestar.middleware.rate_limit import RateLimitConfig, get_remote_address
from litestar.stores.base import Store
from piccolo.querystring import QueryString

if TYPE_CHECKING:
    from litestar import Request

    from kith.core.storage.database import Database


def caller_identity(request: Request[Any, Any, Any]) -> str:
    """The budget a request draws on: its API key, its token, or its address.

    Computed from the header alone (no database read) so refusing costs nothing.
    """
    header = request.headers.get("authorization", "") or request.headers.get("x-api-key", "")
    credential = header.partition(" ")[2].strip() if " " in header else header.strip()
    if credential.startswith("kith_"):
        return "key:" + credential[:13]
    if credential:
        return "token:" + hashlib.sha256(credential.encode()).hexdigest()[:24]
    return "ip:" + get_remote_address(request)


class DatabaseStore(Store):
    """A litestar store in Kith's database (set ``db`` before the first request)."""

    def __init__(self) -> None:
        self.db: Database | None = None

    def _now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _database(self) -> Database:
        assert self.db is not None, "DatabaseStore used before the app started"
        return self.db

    async def set(self, key: str, value: str | bytes, expires_in: int | dt.timedelta | None = None) -> None:
        text = value.decode() if isinstance(value, bytes) else value
        expires = None
        if expires_in is not None:
            seconds = expires_in.total_seconds() if isinstance(expires_in, dt.timedelta) else expires_in
            expires = self._now() + dt.timedelta(seconds=seconds)
        await self._database().fetch(
            QueryString(
                "INSERT INTO kith_rate_limit (key, value, expires_at) VALUES ({}, {}, {}) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                key,
                text,
                expires,
            )
        )

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        row = await self._database().fetch_one(
            QueryString("SELECT value, expires_at FROM kith_rate_limit WHERE key = {}", key)
        )
        if row is None or (row["expires_at"] is not None and row["expires_at"] <= self._now()):
            return None
        if renew_for is not None:
            await self.set(key, row["value"], renew_for)
        return str(row["value"]).encode()

    async def delete(self, key: str) -> None:
        await self._database().fetch(QueryString("DELETE FROM kith_rate_limit WHERE key = {}", key))

    async def delete_all(self) -> None:
        await self._database().fetch(QueryString("DELETE FROM kith_rate_limit"))

    async def exists(self, key: str) -> bool:
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        row = await self._database().fetch_one(
            QueryString("SELECT expires_at FROM kith_rate_limit WHERE key = {}", key)
        )
        if row is None or row["expires_at"] is None:
            return None
        return max(0, int((row["expires_at"] - self._now()).total_seconds()))


def rate_limit_config(per_minute: int) -> RateLimitConfig:
    return RateLimitConfig(
        rate_limit=("minute", per_minute),
        identifier_for_request=caller_identity,
        exclude=["/health"],
        store="rate_limit",
    )
