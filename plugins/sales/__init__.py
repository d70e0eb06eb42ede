"""Sales: pipelines with ordered stages, deals with money amounts and a stage history.

Written only against ``kith.sdk``, like any third-party plugin.  Enable it with
``kith plugins enable sales``.
"""

from kith.plugins.sales.migrations import MIGRATIONS
from kith.plugins.sales.models import TABLES
from kith.sdk import Plugin

plugin = Plugin(
    name="sales",
    version="0.1.0",
    summary="Pipelines, stages and deals with a stage history.",
    hooks="kith.plugins.sales.hooks",
    tables=list(TABLES),
    migrations=MIGRATIONS,
    source="kith.plugins.sales",
)
