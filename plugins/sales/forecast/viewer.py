"""Whose figures: a forecast covers only the deals its viewer may read.

The scope is the same SQL predicate lists and aggregates use (``info.context.scope``),
so a sales rep's forecast is the forecast of their own deals, and a number never
reveals a deal its viewer could not open.  The CLI and other in-process callers are the
system: every deal.
"""

from __future__ import annotations

from dataclasses import dataclass

from piccolo.querystring import QueryString

#: snapshots taken by someone who sees every deal are comparable for everyone who does
EVERYONE = "all"


@dataclass(frozen=True)
class Viewer:
    #: who, as the audit trail names them (stored as a snapshot's ``taken_by``)
    name: str
    #: the deals they may read: a predicate on ``sales_deal`` aliased ``t`` (None: all)
    deals: QueryString | None = None
    #: the leads they may read, likewise; ignored when ``reads_leads`` is false
    leads: QueryString | None = None
    reads_leads: bool = True
    #: user id of a viewer with a limited scope
    user_id: int | None = None

    @property
    def audience(self) -> str:
        """Who sees the same deals: ``all``, or one user.  A snapshot is only compared
        with the forecast of the audience it was taken for, so a rep never sees figures
        of a snapshot their manager took over the whole team."""
        if self.deals is None:
            return EVERYONE
        return f"user:{self.user_id}" if self.user_id is not None else f"actor:{self.name}"


def system(name: str = "cli") -> Viewer:
    """The system itself (CLI, worker, tests): every deal and lead."""
    return Viewer(name=name)
