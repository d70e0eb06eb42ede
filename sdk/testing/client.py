"""A GraphQL client for tests that talks to a running Kith in-process."""

from __future__ import annotations

from typing import Any

from kith.core.records.change import Actor
from kith.core.runtime import Kith
from kith.core.web.app import execute


class GraphQLErrors(AssertionError):
    """The response carried errors; ``errors`` holds them as the client received them."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e.get("message")) for e in errors))


class GraphQLClient:
    def __init__(self, kith: Kith, actor: Actor | None = None) -> None:
        self.kith = kith
        self.actor = actor

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole response body (``data`` and maybe ``errors``)."""
        return await execute(self.kith, query, variables or {}, actor=self.actor)

    async def query(self, query: str, **variables: Any) -> dict[str, Any]:
        """The ``data`` of the response; raises ``GraphQLErrors`` if there were errors."""
        body = await self.execute(query, variables)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        data: dict[str, Any] = body["data"]
        return data
