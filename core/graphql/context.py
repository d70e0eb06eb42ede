"""Per-request state: the running Kith, the actor, and the batch loaders.

Loaders live for one request, so batching never leaks data between requests and
every relation is fetched with one query per (entity, request), whatever the rows.
"""

from typing import TYPE_CHECKING, Any

from strawberry.dataloader import DataLoader

from kith.core.graphql.loaders import load_records, load_timelines
from kith.core.records.change import Actor

if TYPE_CHECKING:
    from kith.core.runtime import Kith


class RequestContext:
    def __init__(self, kith: "Kith", actor: Actor | None = None, request: Any = None) -> None:
        self.kith = kith
        self.actor = actor or Actor(name="anonymous", source="graphql")
        self.request = request
        self._loaders: dict[Any, DataLoader[Any, Any]] = {}

    def loader(self, entity: str) -> DataLoader[int, dict[str, Any] | None]:
        """``<Entity>ByIdLoader``: records of ``entity`` by id, batched per request."""
        key = ("by_id", entity)
        if key not in self._loaders:

            async def batch(ids: list[int]) -> list[dict[str, Any] | None]:
                return await load_records(self.kith, entity, ids)

            self._loaders[key] = DataLoader(load_fn=batch)
        return self._loaders[key]

    def timeline_loader(self, entity: str, limit: int) -> DataLoader[int, list[dict[str, Any]]]:
        """``ActivitiesBySubjectLoader``: the newest ``limit`` activities of each record."""
        key = ("timeline", entity, limit)
        if key not in self._loaders:

            async def batch(ids: list[int]) -> list[list[dict[str, Any]]]:
                return await load_timelines(self.kith, entity, ids, limit)

            self._loaders[key] = DataLoader(load_fn=batch)
        return self._loaders[key]
