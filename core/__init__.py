"""Kith core: entities, custom fields, the record service, hooks, GraphQL and the web app."""

__version__ = "0.1.0"
