"""What a dashboard is made of: a name and tiles, each a saved report drawn as one chart.

A dashboard holds no figures of its own.  Each tile names a saved report
(``kith.core.reports``) and how to draw it; the figures are computed when someone looks,
as that person, so one dashboard shows each viewer only what their roles let them read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: how a tile draws its report: charts (bar, line, pie, funnel) or HTML (number, table)
ChartType = Literal["bar", "line", "pie", "funnel", "number", "table"]
CHART_TYPES: tuple[str, ...] = ("bar", "line", "pie", "funnel", "number", "table")
#: a dashboard is a grid this many columns wide; a tile spans ``width`` of them
GRID_COLUMNS = 4
MAX_TILES = 24


class DashboardTile(BaseModel):
    """One saved report drawn one way: ``width`` columns of the dashboard's 4-column grid.

    ``title`` defaults to the report's name when the dashboard is saved."""

    model_config = ConfigDict(extra="forbid")

    report: int = Field(gt=0, description="the id of a saved report")
    chart: ChartType
    title: str = Field(default="", max_length=200)
    width: int = Field(default=2, ge=1, le=GRID_COLUMNS)

    @field_validator("title")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class DashboardDefinition(BaseModel):
    """A dashboard as it is saved: its name and its tiles, in reading order."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    tiles: list[DashboardTile] = Field(default_factory=list, max_length=MAX_TILES)

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value
