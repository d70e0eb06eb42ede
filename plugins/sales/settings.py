"""The sales plugin's own settings: a ``[plugin.sales]`` table in kith.toml (or
``KITH_PLUGIN='{"sales": {...}}'``), read with ``context.settings(SalesSettings)``
(the manifest declares ``settings=SalesSettings``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from kith.sdk import PluginContext


class SalesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, not ignored

    #: who quotes: printed at the top of every quote document
    seller_name: str = ""
    seller_address: str = ""
    #: printed at the bottom of every quote document (payment terms, registration numbers)
    quote_footer: str = ""


def sales_settings(context: PluginContext) -> SalesSettings:
    return context.settings(SalesSettings)
