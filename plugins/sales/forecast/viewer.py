"""Whose figures: a forecast covers only the deals its viewer may read.

The viewer is the caller's ``PluginContext``: every figure is an aggregate or a list
through ``context.records``, so the same scope applies as to lists and the generated
``aggregate`` fields, a sales rep's forecast is the forecast of their own deals, and a
number never reveals a deal its viewer could not open.  The CLI and other in-process
callers are the system: every deal.
"""

from __future__ import annotations

from dataclasses import dataclass

from kith.sdk import FieldError, PluginContext, ValidationFailed

#: snapshots taken by someone who sees every deal are comparable for everyone who does
EVERYONE = "all"


@dataclass(frozen=True)
class Viewer:
    #: what the figures are read through (the caller's scope applies)
    context: PluginContext
    #: who, as the audit trail names them (stored as a snapshot's ``taken_by``)
    name: str
    #: whether they see every deal
    sees_all: bool = True
    #: whether they may read leads (the lead KPIs are left out otherwise)
    reads_leads: bool = True
    #: user id of a viewer with a limited scope
    user_id: int | None = None

    @property
    def audience(self) -> str:
        """Who sees the same deals: ``all``, or one user.  A snapshot is only compared
        with the forecast of the audience it was taken for, so a rep never sees figures
        of a snapshot their manager took over the whole team."""
        if self.sees_all:
            return EVERYONE
        return f"user:{self.user_id}" if self.user_id is not None else f"actor:{self.name}"


async def viewer(context: PluginContext) -> Viewer:
    """The caller of ``context`` as a forecast viewer; refuses one who may not read deals
    or their amounts."""
    await context.require("deal", "read")
    if "amount" in context.hidden_fields("deal"):
        raise ValidationFailed([FieldError(None, "forbidden", "deal amounts are hidden from you")])
    return Viewer(
        context=context,
        name=context.actor.name,
        sees_all=context.sees_every("deal"),
        reads_leads=context.can("lead", "read"),
        user_id=context.user_id,
    )
