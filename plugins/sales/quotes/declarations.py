"""The entities of products and quotes."""

from __future__ import annotations

from kith.sdk import Entity


def entities() -> list[Entity]:
    return []
