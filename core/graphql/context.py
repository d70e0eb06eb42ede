"""Per-request state: the running Kith, the actor, and the batch loaders.

Loaders live for one request, so batching never leaks data between requests and
every relation is fetched with one query per (entity, request), whatever the rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from kith.core.graphql.loaders import load_records, load_timelines
from kith.core.records.change import Actor

if TYPE_CHECKING:
    from kith.core.plugins.context import PluginContext
    from kith.core.runtime import Kith


class RequestContext:
    def __init__(self, kith: Kith, actor: Actor | None = None, request: Any = None, principal: Any = None) -> None:
        self.kith = kith
        self.actor = actor or Actor(name="anonymous", source="graphql")
        self.request = request
        #: who is asking (``kith.core.security.auth.Principal``); None: the system itself
        self.principal = principal
        #: what they may do; None when unrestricted (the system, admins)
        self.permissions: Any = actor.permissions if actor is not None else None
        self._loaders: dict[Any, DataLoader[Any, Any]] = {}
        self._plugin_context: PluginContext | None = None

    @property
    def plugin_context(self) -> PluginContext:
        """What a plugin's resolver works with: records as this request's caller."""
        if self._plugin_context is None:
            from kith.core.plugins.context import PluginContext

            self._plugin_context = PluginContext(self.kith, self.actor)
        return self._plugin_context

    def require_admin(self) -> None:
        """Refuse unless the caller is an admin (or the system itself)."""
        if self.principal is not None and not self.principal.is_admin:
            from kith.core.errors import ValidationFailed

            raise ValidationFailed.single(None, "forbidden", "only admins may do this")

    def scope(self, entity: Any, action: str = "read") -> Any:
        """The SQL predicate limiting ``entity`` for this request (None: unlimited)."""
        return None if self.permissions is None else self.permissions.predicate(entity, action)

    def visible(self, entity: Any, record: Any) -> Any:
        """``record`` without the fields this request may not see."""
        return record if self.permissions is None else self.permissions.strip(entity, record)

    def loader(self, entity: str) -> DataLoader[int, dict[str, Any] | None]:
        """``<Entity>ByIdLoader``: records of ``entity`` by id, batched per request."""
        key = ("by_id", entity)
        if key not in self._loaders:

            async def batch(ids: list[int]) -> list[dict[str, Any] | None]:
                target = self.kith.entities.get(entity)
                if self.permissions is not None and not self.permissions.allows(entity, "read"):
                    return [None for _ in ids]
                records = await load_records(self.kith, entity, ids, self.scope(target))
                return [self.visible(target, r) for r in records]

            self._loaders[key] = DataLoader(load_fn=batch)
        return self._loaders[key]

    def children_loader(
        self,
        entity: str,
        column: str,
        limit: int,
        filter: Mapping[str, Any] | None = None,
        order_by: Sequence[Mapping[str, Any]] | None = None,
    ) -> DataLoader[int, list[dict[str, Any]]]:
        """``<Entity>By<Column>Loader``: the first ``limit`` records of ``entity`` pointing
        at each id through ``column`` (matching ``filter``, in ``order_by`` order; both in
        the GraphQL languages), as this request may see them — one query per request
        and (relation, page, filter, order), whatever the number of ids."""
        shape = json.dumps([filter or {}, list(order_by or ())], sort_keys=True, default=str)
        key = ("children", entity, column, limit, shape)
        if key not in self._loaders:

            async def batch(ids: list[int]) -> list[list[dict[str, Any]]]:
                child = self.kith.entities.get(entity)
                perms = self.permissions
                # a child they may not read, or whose link to this record is hidden from
                # them, is no child at all (as in the ``some``/``none`` filters)
                if perms is not None and (not perms.allows(entity, "read") or perms.is_hidden(child, column)):
                    return [[] for _ in ids]
                lists = await self.kith.query.children(
                    self.kith.db, child, column, ids, limit, filter, order_by or (), viewer=perms
                )
                return [[self.visible(child, r) for r in items] for items in lists]

            self._loaders[key] = DataLoader(load_fn=batch)
        return self._loaders[key]

    def timeline_loader(self, entity: str, limit: int) -> DataLoader[int, list[dict[str, Any]]]:
        """``ActivitiesBySubjectLoader``: the newest ``limit`` activities of each record."""
        key = ("timeline", entity, limit)
        if key not in self._loaders:

            async def batch(ids: list[int]) -> list[list[dict[str, Any]]]:
                activity = self.kith.entities.get("activity")
                if self.permissions is not None and not self.permissions.allows("activity", "read"):
                    return [[] for _ in ids]
                timelines = await load_timelines(self.kith, entity, ids, limit, self.scope(activity, "read"))
                return [[self.visible(activity, a) for a in items] for items in timelines]

            self._loaders[key] = DataLoader(load_fn=batch)
        return self._loaders[key]
