"""Tables of the automation engine."""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class AutomationRule(Table, tablename="kith_automation_rule"):
    """A rule as data: trigger, conditions (filter language) and actions."""

    name = Varchar(length=120, unique=True)
    description = Text(null=True, default=None)
    definition = JSON(default="{}")  # the validated rule, as written (trigger, conditions, actions)
    trigger_kind = Varchar(length=20, index=True)  # event, schedule, relative, webhook, manual
    trigger_key = Varchar(length=160, null=True, default=None, index=True)  # event name / webhook source
    enabled = Boolean(default=False)
    source = Varchar(length=120, default="admin")  # admin, or plugin:<name>
    version = Integer(default=1)
    next_run_at = Timestamptz(null=True, default=None)  # schedules
    checked_until = Timestamptz(null=True, default=None)  # relative-time triggers
    created_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)


class AutomationRun(Table, tablename="kith_automation_run"):
    """One attempt of one rule on one record (or on none, for schedules)."""

    rule = Varchar(length=120, index=True)
    event_id = BigInt(null=True, default=None, index=True)
    entity = Varchar(length=60, null=True, default=None)
    record_id = BigInt(null=True, default=None, index=True)
    attempt = Integer(default=1)
    status = Varchar(length=12)  # succeeded, skipped, failed, waiting, dead
    actions = JSON(default="[]")  # what each action did
    error = Text(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    duration_ms = Integer(default=0)


class ActionEffect(Table, tablename="kith_action_effect"):
    """The effect of one action execution, keyed by its idempotency key: a retry finds
    it here and does not repeat the effect."""

    key = Varchar(length=200, unique=True)
    result = JSON(default="{}")
    at = Timestamptz(null=True, default=None)


class WebhookSubscription(Table, tablename="kith_webhook_subscription"):
    """Outbound: events sent, signed, to a URL."""

    name = Varchar(length=120, unique=True)
    url = Varchar(length=2000)
    secret = Varchar(length=200)
    events = JSON(default='["*"]')  # patterns: "contact.created", "contact.*", "*"
    enabled = Boolean(default=True)
    #: deliveries carry only what this user may read (None: everything, for admins' integrations)
    user_id = BigInt(null=True, default=None)
    created_at = Timestamptz(null=True, default=None)


class WebhookSource(Table, tablename="kith_webhook_source"):
    """Inbound: a sender allowed to post to /webhooks/<name>, with its signing secret."""

    name = Varchar(length=80, unique=True)
    secret = Varchar(length=200)
    created_at = Timestamptz(null=True, default=None)


class InboundDelivery(Table, tablename="kith_inbound_delivery"):
    """Ids of inbound deliveries already accepted, so a repeat has no effect."""

    source = Varchar(length=80)
    delivery_id = Varchar(length=200)
    received_at = Timestamptz(null=True, default=None)


AUTOMATION_TABLES: tuple[type[Table], ...] = (
    AutomationRule,
    AutomationRun,
    ActionEffect,
    WebhookSubscription,
    WebhookSource,
    InboundDelivery,
)
