"""A GraphQL client for tests that talks to a running Kith in-process."""

from __future__ import annotations

from typing import Any

from kith.core.records.change import Actor
from kith.core.runtime import Kith
from kith.core.security.auth import Principal
from kith.core.web.app import execute


class GraphQLErrors(AssertionError):
    """The response carried errors; ``errors`` holds them as the client received them."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e.get("message")) for e in errors))


class GraphQLClient:
    """Runs GraphQL operations in-process against ``kith``, through the same code path
    as ``POST /graphql``: as the system (no credentials, no role limits; ``actor`` is who
    the audit records), or as a signed-in user with ``await GraphQLClient.as_user(...)``,
    whose roles then limit every query and mutation exactly as over HTTP."""

    def __init__(self, kith: Kith, actor: Actor | None = None, principal: Principal | None = None) -> None:
        self.kith = kith
        self.actor = actor
        self.principal = principal

    @classmethod
    async def as_user(cls, kith: Kith, user: int | str) -> GraphQLClient:
        """A client signed in as ``user`` (an id or an email), with that user's roles."""
        from kith.sdk.testing.contexts import user_id

        return cls(kith, principal=await kith.auth.principal_for_user(await user_id(kith, user), "token"))

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole response body (``data`` and maybe ``errors``)."""
        return await execute(self.kith, query, variables or {}, actor=self.actor, principal=self.principal)

    async def query(self, query: str, **variables: Any) -> dict[str, Any]:
        """The ``data`` of the response; raises ``GraphQLErrors`` if there were errors."""
        body = await self.execute(query, variables)
        if body.get("errors"):
            raise GraphQLErrors(body["errors"])
        data: dict[str, Any] = body["data"]
        return data
