"""Who may be sent marketing, as a contact filter the sender runs set-wise.

A campaign picks its recipients with one filter in the GraphQL filter language (its
segment's members ``and`` this), never contact by contact in Python, so what consent
and suppression allow must itself be a filter: the contacts no suppression entry for
the topic reaches (``Contact.suppressions``, kept by ``suppression``).
"""

from __future__ import annotations

from typing import Any

from kith.plugins.marketing.consent.models import FREQUENCIES

#: the contact's reverse list of the suppression entries reaching it
SUPPRESSIONS = "suppressions"
#: the contact's reverse list of its subscriptions
SUBSCRIPTIONS = "subscriptions"


def suppressed_filter(topic: str, channel: str = "email") -> dict[str, Any]:
    """The contacts some suppression entry stops from getting ``topic`` on ``channel``:
    an entry for the topic or for all marketing.  Entries are about mail, so on another
    channel only an erased person's entry counts."""
    if channel == "email":
        stops: dict[str, Any] = {"or": [{"topic": {"isNull": True}}, {"topic": {"eq": topic}}]}
    else:
        stops = {"reason": {"eq": "erased"}}
    return {SUPPRESSIONS: {"some": {"suppression": stops}}}


def subscribed_filter(topic: str, channel: str = "email", frequency: str | None = None) -> dict[str, Any]:
    """The contacts subscribed to ``topic`` on ``channel`` (confirmed, for a double
    opt-in); with ``frequency`` (``weekly``), only those who accept mail that often:
    their preference is that one or ``any``."""
    wanted: dict[str, Any] = {"topic": {"eq": topic}, "channel": {"eq": channel}, "status": {"eq": "subscribed"}}
    if frequency is not None:
        if frequency not in FREQUENCIES:
            raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}")
        # preferences from the least to the most restrictive: a monthly send suits
        # people who accept weekly mail, a weekly one does not suit "monthly" people
        wanted["frequency"] = {"in": list(FREQUENCIES[: FREQUENCIES.index(frequency) + 1])}
    return {SUBSCRIPTIONS: {"some": wanted}}


def eligible_filter(purpose: str, channel: str = "email", frequency: str | None = None) -> dict[str, Any]:
    """A contact filter for the contacts that may be sent ``purpose`` (a topic) on
    ``channel``: subscribed to it (their consent recorded) and no suppression entry
    stops them; ``frequency`` (``weekly``, ``monthly``): a send of that cadence, for
    those whose preference allows it.  ``and`` it with the audience:
    ``{"and": [segment_filter, eligible_filter("newsletter")]}``.  Run it as the system
    (``keep_selection``, ``records`` of ``context.system``): read as a person, a hop
    only sees the entries they may read."""
    if not purpose:
        raise ValueError("eligible_filter needs the purpose (a topic) of the send")
    not_suppressed = {SUPPRESSIONS: {"none": suppressed_filter(purpose, channel)[SUPPRESSIONS]["some"]}}
    return {"and": [subscribed_filter(purpose, channel, frequency), not_suppressed]}
