"""Sales: pipelines with ordered stages, deals with money amounts and a stage history.

Written only against ``kith.sdk``, like any third-party plugin.  Enable it with
``kith plugins enable sales``.
"""

from kith.plugins.sales.forecast.models import FORECAST_TABLES
from kith.plugins.sales.migrations import MIGRATIONS
from kith.plugins.sales.models import DEAL_CONTACT_TABLES, LEAD_TABLES, QUOTE_TABLES, SCORING_TABLES, TABLES
from kith.plugins.sales.settings import SalesSettings
from kith.sdk import Plugin

plugin = Plugin(
    name="sales",
    version="0.1.0",
    summary="Leads with scores and conversion, pipelines and deals, products and quotes, forecasts and KPIs.",
    hooks="kith.plugins.sales.hooks",
    tables=[*TABLES, *DEAL_CONTACT_TABLES, *LEAD_TABLES, *QUOTE_TABLES, *SCORING_TABLES, *FORECAST_TABLES],
    migrations=MIGRATIONS,
    source="kith.plugins.sales",
    settings=SalesSettings,
)
