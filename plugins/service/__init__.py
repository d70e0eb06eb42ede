"""Service: tickets from email and the API, SLAs with business calendars on any entity,
fair routing, macros, a knowledge base and satisfaction surveys.

Written only against ``kith.sdk``, like any third-party plugin.  Enable it with
``kith plugins enable service``.
"""

from kith.plugins.service.migrations import MIGRATIONS
from kith.plugins.service.models import ROUTING_TABLES, SLA_TABLES, TICKET_TABLES, TOOL_TABLES
from kith.plugins.service.settings import ServiceSettings
from kith.sdk import Plugin

plugin = Plugin(
    name="service",
    version="0.1.0",
    summary="Tickets from email, SLAs on business calendars, routing, knowledge base, satisfaction.",
    hooks="kith.plugins.service.hooks",
    tables=[*TICKET_TABLES, *ROUTING_TABLES, *SLA_TABLES, *TOOL_TABLES],
    migrations=MIGRATIONS,
    source="kith.plugins.service",
    settings=ServiceSettings,
)
