"""A campaign and its deliveries (one row per recipient)."""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, Boolean, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.plugins.marketing.models import Segment
from kith.sdk import Contact, RecordColumns, User

#: draft → scheduled/sending → sent; paused and cancelled by a person
CAMPAIGN_STATUSES = ("draft", "scheduled", "sending", "paused", "cancelled", "sent")
#: queued: to send; sending: handed to SMTP (after a crash: sent again, same Message-ID);
#: sent, failed (refused for good), skipped (suppressed or no longer eligible at its turn);
#: held: waiting for an A/B test's winner;
#: bounced (a hard bounce came back for it), complained (its recipient reported it as spam)
DELIVERY_STATUSES = ("queued", "sending", "sent", "failed", "skipped", "bounced", "complained", "held")


class Campaign(RecordColumns, Table, tablename="marketing_campaign"):
    name = Varchar(length=200, unique=True)
    subject = Varchar(length=300)
    #: Jinja2 (sandboxed) with ``contact`` (its fields, ``custom``) and ``campaign``
    html = Text(default="")
    #: the plain-text part; empty: made from the HTML
    text = Text(null=True, default=None)
    from_address = Varchar(length=300, null=True, default=None)
    segment = ForeignKey(references=Segment, null=True, default=None, on_delete=OnDelete.set_null)
    #: ids of segments whose members never get it (an exclusion list)
    exclude_segments = JSON(default="[]")
    #: the consent topic a recipient must have agreed to
    purpose = Varchar(length=60, default="newsletter")
    status = Varchar(length=12, default="draft")
    scheduled_at = Timestamptz(null=True, default=None)
    #: send only between these times of day (``"09:00"``, ``"17:30"``) in this time zone
    #: (IANA, default UTC); none: at any time
    window_start = Varchar(length=5, null=True, default=None)
    window_end = Varchar(length=5, null=True, default=None)
    window_timezone = Varchar(length=60, null=True, default=None)
    #: at most this many mails a minute (None: the plugin's setting)
    rate_per_minute = Integer(null=True, default=None)
    #: what the campaign cost (a money field: minor units and their currency), for its ROI
    cost = BigInt(null=True, default=None)
    cost_currency = Varchar(length=3, null=True, default=None)
    #: an A/B test: two or more variants, a JSON list of {name, subject, html, text},
    #: each replacing what it gives; empty: every recipient gets the campaign as it is
    variants = Text(default="[]")
    #: the share (per cent) of recipients the variants are tried on, evenly; the rest get
    #: the winner once ``test_duration`` (ISO 8601) has passed
    test_share = Integer(default=20)
    test_duration = Varchar(length=20, default="PT4H")
    #: how the winner is chosen: the best rate of unique human ``opens`` or ``clicks``
    winner_by = Varchar(length=10, default="opens")
    winner = Varchar(length=60, null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    #: add an open pixel / rewrite links to click redirects (engagement tracking)
    track_opens = Boolean(default=True)
    track_clicks = Boolean(default=True)


class CampaignDelivery(RecordColumns, Table, tablename="marketing_campaign_delivery"):
    campaign = ForeignKey(references=Campaign, on_delete=OnDelete.cascade)
    #: the recipient; the address is the contact's first when the mail is sent, so the row
    #: holds nothing personal of its own (bounces find it by the Message-ID)
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    status = Varchar(length=10, default="queued")
    #: handed to SMTP this many times (2 or more: sent again after a crash, same Message-ID)
    attempts = Integer(default=0)
    #: the A/B variant this recipient gets (its name), if the campaign tests some
    variant = Varchar(length=60, null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    error = Text(null=True, default=None)


CAMPAIGN_TABLES: list[type[Table]] = [Campaign, CampaignDelivery]
