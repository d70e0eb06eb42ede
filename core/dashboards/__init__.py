"""Dashboards: saved reports drawn as charts, number tiles and tables (docs/dashboards.md).

A dashboard is a name and a list of tiles; each tile names a saved report and a chart
type.  Stored here, listed and changed over GraphQL (``dashboards``, ``saveDashboard``),
and drawn by the page at ``/dashboards`` (``kith.core.web.dashboards``), which runs every
tile's report as the signed-in viewer.
"""

from kith.core.dashboards.definition import CHART_TYPES, GRID_COLUMNS, ChartType, DashboardDefinition, DashboardTile
from kith.core.dashboards.store import (
    Dashboard,
    delete_dashboard,
    get_dashboard,
    list_dashboards,
    parse_definition,
    save_dashboard,
)

__all__ = [
    "CHART_TYPES",
    "GRID_COLUMNS",
    "ChartType",
    "Dashboard",
    "DashboardDefinition",
    "DashboardTile",
    "delete_dashboard",
    "get_dashboard",
    "list_dashboards",
    "parse_definition",
    "save_dashboard",
]
