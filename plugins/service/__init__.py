"""The service plugin: tickets, their SLA targets and the business calendars they run on.

Only the SLA math (``kith.plugins.service.sla``) lives here so far; the plugin object,
its tables and its API come later.
"""
