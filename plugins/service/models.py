"""The service plugin's tables: tickets and their conversation, the statuses a ticket
moves through, routing (agents, team queues) and SLAs (business calendars, policies,
and each record's clocks with the history they are computed from)."""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, Boolean, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.sdk import Contact, Organization, RecordColumns, Team, User

#: what a status means to the clocks and to reports; admins add statuses in any of them
STATUS_CATEGORIES = ("new", "open", "waiting_on_customer", "waiting_on_third_party", "solved", "closed")
#: categories in which a ticket is done (no response is owed, the resolution clock stops)
DONE_CATEGORIES = ("solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("email", "api", "web", "phone", "social")
TICKET_TYPES = ("question", "incident", "problem", "task")
#: "auto": mail the plugin sent by itself (an acknowledgement): not a response, not on the timeline
MESSAGE_KINDS = ("reply", "note", "auto")
DIRECTIONS = ("inbound", "outbound")
ROUTING_STRATEGIES = ("manual", "round_robin", "least_open", "skills")
SLA_TARGETS = ("first_response", "next_response", "resolution")


class TicketStatus(RecordColumns, Table, tablename="service_ticket_status"):
    name = Varchar(length=80, unique=True)
    category = Varchar(length=30, default="open")
    #: every SLA clock of a ticket stops while it is in this status
    pauses_sla = Boolean(default=False)
    position = Integer(default=0)


class Ticket(RecordColumns, Table, tablename="service_ticket"):
    number = Varchar(length=20, unique=True, null=True, default=None)  # "T-00042", shown in mail subjects
    subject = Varchar(length=300)
    requester = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    organization = ForeignKey(references=Organization, null=True, default=None, on_delete=OnDelete.set_null)
    channel = Varchar(length=20, default="api")
    priority = Varchar(length=10, default="normal")
    type = Varchar(length=20, null=True, default=None)
    status = ForeignKey(references=TicketStatus, null=True, default=None, on_delete=OnDelete.set_null)
    #: the status's category, kept with the ticket so queues and counts filter on one column
    status_category = Varchar(length=30, default="new")
    assignee = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    team = ForeignKey(references=Team, null=True, default=None, on_delete=OnDelete.set_null)
    tags = JSON(default="[]")
    #: the skills an agent needs to be given this ticket by skills routing
    skills = JSON(default="[]")
    assigned_at = Timestamptz(null=True, default=None)
    first_response_at = Timestamptz(null=True, default=None)
    last_customer_message_at = Timestamptz(null=True, default=None)
    last_agent_reply_at = Timestamptz(null=True, default=None)
    solved_at = Timestamptz(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    #: the SLA, as of the last change: the earliest deadline still running, and a summary
    sla_policy = Varchar(length=120, null=True, default=None)
    sla_due_at = Timestamptz(null=True, default=None)
    sla_state = Varchar(length=20, null=True, default=None)
    #: figures for reports, in working seconds of the policy's calendar
    first_response_seconds = BigInt(null=True, default=None)
    resolution_seconds = BigInt(null=True, default=None)
    paused_seconds = BigInt(null=True, default=None)
    merged_into: ForeignKey[Ticket] = ForeignKey(
        references="self", null=True, default=None, on_delete=OnDelete.set_null
    )
    split_from: ForeignKey[Ticket] = ForeignKey(references="self", null=True, default=None, on_delete=OnDelete.set_null)
    #: the requester's answer to the satisfaction survey after it was solved (1-5)
    satisfaction = Integer(null=True, default=None)
    #: a secret that threads replies whose mail provider rewrote the Message-IDs
    thread_token = Varchar(length=32, null=True, default=None, index=True)


class TicketMessage(RecordColumns, Table, tablename="service_ticket_message"):
    """One entry of a ticket's conversation: a public reply (inbound from the requester,
    outbound from an agent) or an internal note."""

    ticket = ForeignKey(references=Ticket, null=True, default=None, on_delete=OnDelete.cascade)
    kind = Varchar(length=10, default="reply")
    direction = Varchar(length=10, default="outbound")
    author = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    author_contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    body = Text(default="")
    #: the whole text as received, quotes included (``body`` is the reply above the quote)
    full_body = Text(null=True, default=None)
    message_id = Varchar(length=300, null=True, default=None, index=True)
    #: a message forwarded here from a merged ticket keeps where it came from
    origin_ticket = ForeignKey(references=Ticket, null=True, default=None, on_delete=OnDelete.set_null)
    #: outbound mail: queued, sent, suppressed (by the loop rules), unconfigured (no
    #: ``mail_from`` set, so not mailed) or none (nothing to mail)
    delivery = Varchar(length=20, null=True, default=None)
    #: the newest message the writer had seen: a reply written while someone else answered
    #: is refused as a collision until they have read it
    seen_message: ForeignKey[TicketMessage] = ForeignKey(
        references="self", null=True, default=None, on_delete=OnDelete.set_null
    )


MACRO_SCOPES = ("global", "team", "personal")


class Macro(RecordColumns, Table, tablename="service_macro"):
    """Several actions an agent applies to a ticket at once, as themselves."""

    name = Varchar(length=120)
    scope = Varchar(length=10, default="global")
    team = ForeignKey(references=Team, null=True, default=None, on_delete=OnDelete.cascade)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.cascade)
    #: JSON list of steps: {"status": "Solved"}, {"priority": "high"}, {"assign": "me"},
    #: {"add_tags": ["vip"]}, {"reply": "template"}, {"note": "template"}
    actions = Text(default="[]")


class CannedReply(RecordColumns, Table, tablename="service_canned_reply"):
    """A reply agents start from; its body is a template (``{{ requester.first_name }}``)."""

    name = Varchar(length=120)
    scope = Varchar(length=10, default="global")
    team = ForeignKey(references=Team, null=True, default=None, on_delete=OnDelete.cascade)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.cascade)
    body = Text(default="")


ARTICLE_STATUSES = ("draft", "published", "archived")


class KbCategory(RecordColumns, Table, tablename="service_kb_category"):
    name = Varchar(length=120)
    description = Text(null=True, default=None)
    position = Integer(default=0)


class KbArticle(RecordColumns, Table, tablename="service_kb_article"):
    """A knowledge-base article in one locale; translations are articles of their own
    with the same ``slug``.  Only published ones are public."""

    title = Varchar(length=200)
    body = Text(default="")
    slug = Varchar(length=120, index=True)
    locale = Varchar(length=10, default="en")
    status = Varchar(length=10, default="draft")
    category = ForeignKey(references=KbCategory, null=True, default=None, on_delete=OnDelete.set_null)
    tags = JSON(default="[]")
    published_at = Timestamptz(null=True, default=None)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)


SURVEY_KINDS = ("csat", "nps")
SURVEY_STATUSES = ("sent", "answered", "expired")


class Survey(RecordColumns, Table, tablename="service_survey"):
    """A satisfaction question asked by mail: CSAT (1-5) after a ticket is solved, or NPS
    (0-10) of a contact.  The link carries a one-time token; only its hash is kept."""

    kind = Varchar(length=4, default="csat")
    ticket = ForeignKey(references=Ticket, null=True, default=None, on_delete=OnDelete.set_null)
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    status = Varchar(length=10, default="sent")
    score = Integer(null=True, default=None)
    comment = Text(null=True, default=None)
    token_hash = Varchar(length=64, unique=True)
    sent_at = Timestamptz(null=True, default=None)
    reminded_at = Timestamptz(null=True, default=None)
    answered_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)


class TicketAttachment(RecordColumns, Table, tablename="service_ticket_attachment"):
    """A file that came with (or was sent in) a message; the bytes are in the core's file store."""

    message = ForeignKey(references=TicketMessage, null=True, default=None, on_delete=OnDelete.cascade)
    file = BigInt()
    name = Varchar(length=255, default="")
    content_type = Varchar(length=120, default="application/octet-stream")
    size = BigInt(default=0)
    inline = Boolean(default=False)


class AgentProfile(RecordColumns, Table, tablename="service_agent"):
    """How routing sees an agent: available or not, how many open tickets they take,
    their skills and the teams whose queues they work."""

    user = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.cascade, unique=True)
    available = Boolean(default=True)
    capacity = Integer(default=10)
    skills = JSON(default="[]")
    #: the names of the teams whose queues the agent works
    teams = JSON(default="[]")
    last_assigned_at = Timestamptz(null=True, default=None)


class TeamQueue(RecordColumns, Table, tablename="service_queue"):
    """A team's queue of unassigned tickets and how it hands them out."""

    team = ForeignKey(references=Team, null=True, default=None, on_delete=OnDelete.cascade, unique=True)
    strategy = Varchar(length=20, default="round_robin")
    active = Boolean(default=True)


class Calendar(RecordColumns, Table, tablename="service_calendar"):
    """A business calendar, in the spec format of ``sla.spec`` (docs/service-sla.md).

    Its structured parts (like a policy's) are JSON text, checked and normalised on
    every write (``sla.setup``): the API takes them as JSON strings."""

    name = Varchar(length=120, unique=True)
    timezone = Varchar(length=64, default="UTC")
    #: {"mon": ["09:00-12:30", "13:30-17:00"], ...}; a day left out is closed
    hours = Text(default="{}")
    #: ["2026-12-25", {"date": "2026-12-26", "name": "Boxing Day"}] (whole local days)
    holidays = Text(default="[]")
    #: [{"start": "2026-12-24T12:00", "end": "2026-12-25T00:00", "name": "Christmas Eve"}]
    closures = Text(default="[]")


class SlaPolicy(RecordColumns, Table, tablename="service_sla_policy"):
    """Which records an SLA applies to (the first active policy, by position, whose
    conditions hold) and its targets per priority, in working minutes."""

    name = Varchar(length=120, unique=True)
    entity = Varchar(length=60, default="ticket")
    position = Integer(default=0)
    active = Boolean(default=True)
    conditions = Text(default="{}")
    calendar = ForeignKey(references=Calendar, null=True, default=None, on_delete=OnDelete.set_null)
    #: {"urgent": {"first_response": 30, "next_response": 60, "resolution": 240}, "normal": {...}}
    targets = Text(default="{}")
    warn_percent = Integer(default=80)
    #: for records other than tickets, filters that say when the record counts as
    #: answered, done or waiting ({"status": {"ne": "new"}}); tickets use their conversation
    #: and status categories
    responded_when = Text(default="{}")
    solved_when = Text(default="{}")
    paused_when = Text(default="{}")


class SlaEvent(Table, tablename="service_sla_event"):
    """A record's history as the clocks see it; the clocks are computed from it anew
    whenever it grows or a policy or calendar changes."""

    id: Serial
    entity = Varchar(length=60)
    record_id = BigInt()
    kind = Varchar(length=20)
    at = Timestamptz()
    paused = Boolean(default=False)
    solved = Boolean(default=False)


class SlaStatus(Table, tablename="service_sla_status"):
    """One target of one record's SLA, as last computed."""

    id: Serial
    entity = Varchar(length=60)
    record_id = BigInt()
    policy = Varchar(length=120)
    target = Varchar(length=20)
    state = Varchar(length=12)
    deadline = Timestamptz(null=True, default=None)
    warning_at = Timestamptz(null=True, default=None)
    elapsed_seconds = BigInt(default=0)
    paused_seconds = BigInt(default=0)
    met_at = Timestamptz(null=True, default=None)
    breached_at = Timestamptz(null=True, default=None)
    #: the deadline a warning / breach event was raised for (raised once per deadline)
    warned_for = Timestamptz(null=True, default=None)
    breached_for = Timestamptz(null=True, default=None)
    computed_at = Timestamptz(null=True, default=None)


TICKET_TABLES: list[type[Table]] = [TicketStatus, Ticket, TicketMessage, TicketAttachment]
ROUTING_TABLES: list[type[Table]] = [AgentProfile, TeamQueue]
TOOL_TABLES: list[type[Table]] = [Macro, CannedReply, KbCategory, KbArticle, Survey]
SLA_TABLES: list[type[Table]] = [Calendar, SlaPolicy, SlaEvent, SlaStatus]
