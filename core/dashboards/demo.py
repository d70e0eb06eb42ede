"""The demo's dashboard: saved reports over the core's demo records, one of each chart type.

``kith demo`` (``load_demo``) calls ``create_demo_dashboard`` after the demo data; the
dashboard belongs to no one (admins may change it) and every signed-in user can open
it at ``/dashboards/<id>``: a sales rep whose scope is ``own`` sees the same tiles with
their own figures.  Only core entities are used, so it works whichever plugins are on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kith.core.dashboards.definition import ChartType, DashboardDefinition, DashboardTile
from kith.core.dashboards.store import Dashboard, save_dashboard

if TYPE_CHECKING:
    from kith.core.runtime import Kith

NAME = "Customers and activity"
LATER_STAGES = ("lead", "opportunity", "customer", "evangelist")
#: (report name, definition, chart, width): each report saved once, drawn one way
DEMO_TILES: tuple[tuple[str, dict[str, Any], ChartType, int], ...] = (
    ("Contacts", {"kind": "aggregate", "entity": "contact", "measures": [{"op": "count", "label": "contacts"}]},
     "number", 1),
    ("Activities", {"kind": "aggregate", "entity": "activity", "dateField": "occurredAt",
                    "measures": [{"op": "count", "label": "activities"}]}, "number", 1),
    ("Activities per month", {"kind": "aggregate", "entity": "activity",
                              "bucket": {"field": "occurredAt", "unit": "month"},
                              "measures": [{"op": "count", "label": "Activities"}]}, "line", 2),
    ("Activities by kind", {"kind": "aggregate", "entity": "activity", "groupBy": ["kind"],
                            "dateField": "occurredAt", "measures": [{"op": "count", "label": "Activities"}]},
     "bar", 2),
    ("Contacts by lifecycle stage", {"kind": "aggregate", "entity": "contact", "groupBy": ["lifecycleStage"],
                                     "measures": [{"op": "count", "label": "Contacts"}]}, "pie", 2),
    ("Customer funnel", {"kind": "funnel", "steps": [
        {"label": "Contacts", "entity": "contact"},
        {"label": "Leads or later", "entity": "contact",
         "filter": {"lifecycleStage": {"in": list(LATER_STAGES)}}},
        {"label": "Opportunities or later", "entity": "contact",
         "filter": {"lifecycleStage": {"in": list(LATER_STAGES[1:])}}},
        {"label": "Customers", "entity": "contact", "filter": {"lifecycleStage": {"in": list(LATER_STAGES[2:])}}},
    ]}, "funnel", 2),
    ("Organizations by industry", {"kind": "aggregate", "entity": "organization", "groupBy": ["industry"],
                                   "measures": [{"op": "count", "label": "Organizations"},
                                                {"op": "avg", "field": "size", "label": "Average size"}]},
     "table", 4),
)  # fmt: skip


async def create_demo_dashboard(kith: Kith) -> Dashboard:
    """Save the demo's reports and the dashboard that draws them (as the system)."""
    from kith.core.reports import save_report

    tiles = []
    for name, definition, chart, width in DEMO_TILES:
        report = await save_report(kith, name, definition, description="The demo's dashboard")
        tiles.append(DashboardTile(report=report.id, chart=chart, width=width))
    return await save_dashboard(kith, DashboardDefinition(name=NAME, tiles=tiles))
