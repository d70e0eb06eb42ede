"""Plugin contexts for tests: run a plugin's own functions as a user or as the system,
exactly as its hooks and resolvers are run by Kith."""

from __future__ import annotations

from kith.core.plugins.context import PluginContext
from kith.core.records.change import Actor
from kith.core.runtime import Kith
from kith.core.security.permissions import permissions_for

TEST_SYSTEM = Actor(name="test", source="system")


async def user_id(kith: Kith, user: int | str) -> int:
    """The id of ``user``, given as an id or an email."""
    if isinstance(user, str):
        found = await kith.auth.user_by_email(user)
        if found is None:
            raise LookupError(f"no user with the email {user!r}")
        return int(found["id"])
    return int(user)


def system_context(kith: Kith) -> PluginContext:
    """A ``PluginContext`` acting as the system: no scope, no hidden fields."""
    return PluginContext(kith, TEST_SYSTEM)


async def acting_as(kith: Kith, user: int | str) -> PluginContext:
    """A ``PluginContext`` acting as ``user`` (an id or an email), signed in: their
    roles' scopes, hidden fields and permissions apply to every read and write, as
    for their GraphQL requests (an admin is unrestricted)."""
    principal = await kith.auth.principal_for_user(await user_id(kith, user), "token")
    permissions = None if principal.is_admin else await permissions_for(kith, principal)
    actor = principal.actor("graphql")
    return PluginContext(kith, Actor(actor.name, actor.source, actor.user_id, permissions))
