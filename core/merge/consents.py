"""Consent records follow the person: merged contacts' consents move to the survivor.

A person's consent to a purpose by a channel is the latest decision about it: a grant
(``granted_at``) or a withdrawal (``withdrawn_at``).  Moved onto one contact, the
decisions of several records could disagree — an old grant still open on one record,
a later withdrawal on another — and "is there an open grant?" would answer yes to a
person who said no.  So the most recent decision wins: when it is a withdrawal, every
grant of that purpose and channel still open is closed at that moment (each change
journaled, so undo reopens exactly those); when it is a grant, it stands, and the
older withdrawals stay as history.  A grant and a withdrawal at the same instant count
as a withdrawal: when in doubt, no consent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.merge import core_rows
from kith.core.merge.journal import Journal
from kith.core.privacy.models import Consent

if TYPE_CHECKING:
    from kith.core.runtime import Kith

_OLDEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def _latest(rows: Sequence[dict[str, Any]]) -> tuple[dt.datetime, bool]:
    """(when, whether it was a withdrawal) of the latest decision among ``rows``."""
    decisions = [(row["granted_at"] or _OLDEST, False) for row in rows]
    decisions += [(row["withdrawn_at"], True) for row in rows if row["withdrawn_at"] is not None]
    return max(decisions)


async def move_consents(kith: Kith, survivor_id: int, losers: Sequence[int], journal: Journal) -> int:
    """Move the consents of ``losers`` to the survivor and let the latest decision of each
    purpose and channel win; returns how many consents moved."""
    ids = [survivor_id, *losers]
    rows = [
        dict(row)
        for row in await kith.db.fetch(
            QueryString("SELECT * FROM kith_consent WHERE {} ORDER BY id", kith.db.dialect.in_ids("contact_id", ids))
        )
    ]
    moved = [row for row in rows if int(row["contact_id"]) != survivor_id]
    for row in moved:
        await core_rows.change(kith, Consent, row, "contact_id", survivor_id, journal)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["purpose"], row["channel"]), []).append(row)
    for group in groups.values():
        when, withdrawn = _latest(group)
        if withdrawn:
            for row in group:
                if row["withdrawn_at"] is None:
                    await core_rows.change(kith, Consent, row, "withdrawn_at", when, journal)
    return len(moved)
