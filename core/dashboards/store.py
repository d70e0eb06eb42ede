"""Dashboards as rows: saved, read, listed and deleted, with the checks a write needs.

Every signed-in user may read every dashboard: a dashboard is only a layout of saved
reports, and its figures are computed for whoever looks, with their permissions
(``run_report``), so sharing a dashboard never shares a figure.  Changing or deleting
one is for its owner and admins.  A tile must name a saved report the saver may read,
checked when the dashboard is saved, so a typo is refused rather than drawn as an error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from piccolo.columns import BigInt, Text, Timestamptz, Varchar
from piccolo.querystring import QueryString
from piccolo.table import Table
from pydantic import ValidationError

from kith.core.dashboards.definition import DashboardDefinition, DashboardTile
from kith.core.errors import FieldError, NotFound, ValidationFailed
from kith.core.records.encoding import dumps, loads
from kith.core.reports import get_report

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

TABLE = "kith_dashboard"


class DashboardRow(Table, tablename=TABLE):
    """One dashboard: its tiles as JSON (``DashboardTile`` each), in reading order."""

    name = Varchar(length=200)
    owner = BigInt(null=True, default=None)  # the user who made it; None: the system's (the demo's)
    tiles = Text(default="[]")
    created_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)


@dataclass(frozen=True)
class Dashboard:
    """A saved dashboard."""

    id: int
    name: str
    owner: int | None
    tiles: tuple[DashboardTile, ...]
    created_at: dt.datetime | None
    updated_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Dashboard:
        tiles = row["tiles"]
        return cls(
            id=int(row["id"]),
            name=str(row["name"]),
            owner=None if row["owner"] is None else int(row["owner"]),
            tiles=tuple(DashboardTile.model_validate(t) for t in (loads(tiles) if isinstance(tiles, str) else tiles)),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def parse_definition(raw: Mapping[str, Any]) -> DashboardDefinition:
    """A definition from plain data (GraphQL input, a script); every problem named by its path."""
    try:
        return DashboardDefinition.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed([FieldError(_path(err["loc"]), "invalid", err["msg"]) for err in exc.errors()]) from None


def _path(loc: tuple[int | str, ...]) -> str | None:
    """Pydantic's location as Kith names fields: ``tiles[0].chart``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or None


async def save_dashboard(
    kith: Kith,
    definition: DashboardDefinition,
    permissions: Permissions | None = None,
    *,
    dashboard_id: int | None = None,
    owner: int | None = None,
) -> Dashboard:
    """Create a dashboard (``dashboard_id`` None) or replace one's name and tiles.

    ``permissions`` are the saver's (None: the system or an admin): each tile's report
    must be one they may read, and only the owner or an admin may replace a dashboard.
    A new dashboard belongs to ``owner``, by default the saver.  A tile without a title
    takes its report's name.
    """
    tiles = await _checked_tiles(kith, definition.tiles, permissions)
    now = dt.datetime.now(dt.UTC)
    stored = dumps([tile.model_dump() for tile in tiles])
    async with kith.db.write_transaction():
        if dashboard_id is None:
            if owner is None and permissions is not None:
                owner = permissions.principal.user_id
            row = await kith.db.fetch_one(
                QueryString(
                    f'INSERT INTO "{TABLE}" (name, owner, tiles, created_at, updated_at) '
                    "VALUES ({}, {}, {}, {}, {}) RETURNING *",
                    definition.name,
                    owner,
                    stored,
                    now,
                    now,
                )
            )
        else:
            _require_change(await get_dashboard(kith, dashboard_id), permissions)
            row = await kith.db.fetch_one(
                QueryString(
                    f'UPDATE "{TABLE}" SET name = {{}}, tiles = {{}}, updated_at = {{}} WHERE id = {{}} RETURNING *',
                    definition.name,
                    stored,
                    now,
                    dashboard_id,
                )
            )
    assert row is not None
    return Dashboard.from_row(row)


async def _checked_tiles(
    kith: Kith, tiles: list[DashboardTile], permissions: Permissions | None
) -> list[DashboardTile]:
    """The tiles with their titles filled in, or every tile whose report the saver cannot read, named."""
    errors: list[FieldError] = []
    out: list[DashboardTile] = []
    for index, tile in enumerate(tiles):
        try:
            report = await get_report(kith, tile.report, permissions)
        except ValidationFailed:
            errors.append(FieldError(f"tiles[{index}].report", "not_found", f"there is no saved report {tile.report}"))
            continue
        out.append(tile if tile.title else tile.model_copy(update={"title": report.name}))
    if errors:
        raise ValidationFailed(errors)
    return out


def _require_change(dashboard: Dashboard, permissions: Permissions | None) -> None:
    """Only the owner of a dashboard or an admin may change or delete it."""
    if permissions is None or permissions.unrestricted:
        return
    if dashboard.owner is None or dashboard.owner != permissions.principal.user_id:
        raise ValidationFailed.single(
            None, "forbidden", f"dashboard {dashboard.id} is not yours: only its owner or an admin may change it"
        )


async def get_dashboard(kith: Kith, dashboard_id: int) -> Dashboard:
    """The dashboard, or ``NotFound``."""
    row = await kith.db.fetch_one(QueryString(f'SELECT * FROM "{TABLE}" WHERE id = {{}}', dashboard_id))
    if row is None:
        raise NotFound("dashboard", dashboard_id)
    return Dashboard.from_row(row)


async def list_dashboards(kith: Kith) -> list[Dashboard]:
    """Every dashboard, by name."""
    rows = await kith.db.fetch(QueryString(f'SELECT * FROM "{TABLE}" ORDER BY name, id'))
    return [Dashboard.from_row(row) for row in rows]


async def delete_dashboard(kith: Kith, dashboard_id: int, permissions: Permissions | None = None) -> Dashboard:
    """Delete a dashboard (its owner or an admin); returns it as it was.  Its reports stay."""
    async with kith.db.write_transaction():
        dashboard = await get_dashboard(kith, dashboard_id)
        _require_change(dashboard, permissions)
        await kith.db.fetch(QueryString(f'DELETE FROM "{TABLE}" WHERE id = {{}}', dashboard_id))
    return dashboard
