"""The rules the plugin ships: stored (enabled) when the plugin is enabled, then the
admins' to change or disable (``kith automations list``).

Buyers are matched when a listing goes on the market — it becomes ``active`` — not
when it is created.  An agency creates a listing as a draft while the photos, the
floor plan and the price are being settled; telling buyers' agents about a draft
would send them after a property nobody can view yet, at a price that may change.
A listing entered directly as active (an import, a quick entry) is on the market at
once, so it is matched on creation.  Either way the conditions are tested when the
rule runs, so a listing withdrawn again before the worker got to it is not matched.
"""

from __future__ import annotations

from typing import Any

from kith_realestate.matching import ACTION

ON_THE_MARKET = {"status": {"eq": "active"}}
TASK_DUE_IN_DAYS = 1


def _match(name: str, description: str, trigger: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "enabled": True,
        "trigger": trigger,
        "conditions": ON_THE_MARKET,
        "actions": [{ACTION: {"due_in_days": TASK_DUE_IN_DAYS}}],
    }


def rules() -> list[dict[str, Any]]:
    return [
        _match(
            "realestate.match-buyers-on-publish",
            "When a listing goes active, a task for the agent of each buyer it matches.",
            {"event": "listing.updated", "changed": "status", "to": "active"},
        ),
        _match(
            "realestate.match-buyers-new-active",
            "When a listing is created already active, a task for the agent of each buyer it matches.",
            {"event": "listing.created"},
        ),
    ]
