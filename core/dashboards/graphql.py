"""GraphQL for dashboards: ``dashboards``, ``dashboard(id)``, ``saveDashboard``, ``deleteDashboard``.

Every signed-in caller may list and read dashboards (layouts of saved reports); the
figures come from ``runReport``, run per tile as the caller.  Saving checks each tile's
report against the caller's permissions; replacing or deleting is for the owner and
admins.
"""

import datetime
import enum
from typing import Any, Optional

import strawberry
from strawberry.types import Info

from kith.core.dashboards import store
from kith.core.dashboards.definition import GRID_COLUMNS
from kith.core.errors import NotFound, ValidationFailed
from kith.core.graphql.common import UserError
from kith.core.graphql.convert import record_id


@strawberry.enum(description="How a tile draws its report: a chart, one number, or a table.")
class ChartType(enum.Enum):
    BAR = "bar"
    LINE = "line"
    PIE = "pie"
    FUNNEL = "funnel"
    NUMBER = "number"
    TABLE = "table"


@strawberry.type(description="One saved report on a dashboard, drawn one way.")
class DashboardTile:
    report_id: strawberry.ID = strawberry.field(description="The saved report the tile runs (`runReport(id: …)`).")
    chart: ChartType
    title: str
    width: int = strawberry.field(description=f"Columns of the dashboard's {GRID_COLUMNS}-column grid it spans.")


@strawberry.type(description="Saved reports laid out as charts; the page at `/dashboards/{id}` draws it.")
class Dashboard:
    id: strawberry.ID
    name: str
    owner_id: Optional[strawberry.ID] = strawberry.field(
        description="The user who made it (they and admins may change it); null for the system's."
    )
    tiles: list[DashboardTile]
    created_at: Optional[datetime.datetime]
    updated_at: Optional[datetime.datetime]


@strawberry.input(description="A tile: a saved report and how to draw it.")
class DashboardTileInput:
    report_id: strawberry.ID
    chart: ChartType
    title: Optional[str] = strawberry.field(default=None, description="Default: the report's name.")
    width: int = strawberry.field(default=2, description=f"1 to {GRID_COLUMNS} columns.")


@strawberry.input(description="A dashboard's name and its tiles, in reading order.")
class DashboardInput:
    name: str
    tiles: list[DashboardTileInput]


@strawberry.type
class DashboardPayload:
    dashboard: Optional[Dashboard]
    errors: list[UserError]


def _dashboard(dashboard: store.Dashboard) -> Dashboard:
    return Dashboard(
        id=strawberry.ID(str(dashboard.id)),
        name=dashboard.name,
        owner_id=None if dashboard.owner is None else strawberry.ID(str(dashboard.owner)),
        tiles=[
            DashboardTile(
                report_id=strawberry.ID(str(tile.report)),
                chart=ChartType(tile.chart),
                title=tile.title,
                width=tile.width,
            )
            for tile in dashboard.tiles
        ],
        created_at=dashboard.created_at,
        updated_at=dashboard.updated_at,
    )


def _raw(input: DashboardInput) -> dict[str, Any]:
    """The input as the definition's plain data; a report id that is not a number is
    passed on as it is, so the definition's check names the tile it is in."""
    return {
        "name": input.name,
        "tiles": [
            {
                "report": str(tile.report_id),
                "chart": tile.chart.value,
                "title": tile.title or "",
                "width": tile.width,
            }
            for tile in input.tiles
        ],
    }


def _failed(exc: ValidationFailed) -> DashboardPayload:
    return DashboardPayload(dashboard=None, errors=[UserError.from_error(e) for e in exc.errors])


@strawberry.type
class DashboardQueries:
    @strawberry.field(description="Every dashboard, by name (their figures: `runReport` for each tile).")
    async def dashboards(self, info: Info) -> list[Dashboard]:
        return [_dashboard(d) for d in await store.list_dashboards(info.context.kith)]

    @strawberry.field(description="One dashboard, or null when there is none with this id.")
    async def dashboard(self, info: Info, id: strawberry.ID) -> Optional[Dashboard]:
        try:
            return _dashboard(await store.get_dashboard(info.context.kith, record_id(id)))
        except NotFound:
            return None


@strawberry.type
class DashboardMutations:
    @strawberry.mutation(
        description="Create a dashboard (no `id`) or replace one's name and tiles (its owner or an admin). "
        "Each tile's report must be a saved report you may read."
    )
    async def save_dashboard(
        self, info: Info, input: DashboardInput, id: Optional[strawberry.ID] = None
    ) -> DashboardPayload:
        context = info.context
        try:
            definition = store.parse_definition(_raw(input))
            owner = context.principal.user_id if context.principal is not None else None
            saved = await store.save_dashboard(
                context.kith,
                definition,
                context.permissions,
                dashboard_id=None if id is None else record_id(id),
                owner=owner,
            )
        except ValidationFailed as exc:
            return _failed(exc)
        return DashboardPayload(dashboard=_dashboard(saved), errors=[])

    @strawberry.mutation(description="Delete a dashboard (its owner or an admin); its saved reports stay.")
    async def delete_dashboard(self, info: Info, id: strawberry.ID) -> DashboardPayload:
        context = info.context
        try:
            deleted = await store.delete_dashboard(context.kith, record_id(id), context.permissions)
        except ValidationFailed as exc:
            return _failed(exc)
        return DashboardPayload(dashboard=_dashboard(deleted), errors=[])
