"""One row per engagement event: an open, a click, a reply or a soft bounce of one delivery.

Rows are written by the public tracking routes (one insert each) and by the bounce
reader, never through mutations; reports count them as their reader may see them
(``owner_via`` the contact), so there are no stored counters to drift."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.plugins.marketing.campaigns.models import Campaign, CampaignDelivery
from kith.sdk import Contact, RecordColumns

#: open: the pixel was fetched; click: a tracked link was followed; soft_bounce: a
#: temporary failure (``4.x.x``, ``delayed``) was reported for the delivery; reply: the
#: person answered the mail
ENGAGEMENT_KINDS = ("open", "click", "soft_bounce", "reply")
#: a user agent is kept this long at most: enough to see why a row was flagged
USER_AGENT_LENGTH = 200


class Engagement(RecordColumns, Table, tablename="marketing_engagement"):
    campaign = ForeignKey(references=Campaign, on_delete=OnDelete.cascade)
    delivery = ForeignKey(references=CampaignDelivery, on_delete=OnDelete.cascade)
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    kind = Varchar(length=12, default="open")
    #: the link followed (clicks); the reply's Message-ID (replies)
    url = Text(null=True, default=None)
    at = Timestamptz(null=True, default=None)
    #: the requesting program, truncated; no IP address is stored (it is only looked at,
    #: during the request, to recognise a privacy proxy)
    user_agent = Varchar(length=USER_AGENT_LENGTH, null=True, default=None)
    #: an open by a mail privacy proxy (Apple Mail Privacy Protection, Gmail's image proxy)
    machine = Boolean(default=False)
    #: a click by a security scanner (too soon after delivery, a burst, a gateway's agent)
    scanner = Boolean(default=False)
    #: why it was flagged (``apple-proxy``, ``burst``, ``gateway: proofpoint`` …)
    flag_reason = Varchar(length=80, null=True, default=None)
    #: the timeline activity made for a human click or first open (so a burst found
    #: later can take it back)
    activity = Varchar(length=20, null=True, default=None)


ENGAGEMENT_TABLES: list[type[Table]] = [Engagement]
