"""The core's Piccolo tables.

Every record table shares the same bookkeeping columns (``RecordColumns``): the
record service relies on them for optimistic concurrency (``version``), soft delete
(``deleted_at``) and custom fields (``custom``).  System tables (``kith_*``) hold
definitions, audit, the outbox and plugin state.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    JSONB,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table


class RecordColumns:
    """Bookkeeping columns of every entity table (a Piccolo mixin)."""

    #: the primary key Piccolo adds to every table, declared for type checkers
    #: (``Deal.select().where(Deal.id == 3)``); annotation only, so the schema is Piccolo's own
    id: Serial

    created_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)
    version = Integer(default=1)
    deleted_at = Timestamptz(null=True, default=None, index=True)
    custom = JSONB(default="{}")


class Team(RecordColumns, Table, tablename="team"):
    """A team of users (entity ``team``): what a role's ``team`` scope groups by."""

    name = Varchar(length=120, unique=True)
    description = Text(null=True, default=None)


class User(RecordColumns, Table, tablename="kith_user"):
    """Someone who signs in (entity ``user``, table ``kith_user``).  Point a plugin's
    ``owner`` or ``assignee`` column at it (or any column named in ``Entity.owners``) and
    roles' ``own``/``team`` scopes apply."""

    email = Varchar(length=254, unique=True)
    name = Varchar(length=200)
    team = ForeignKey(references=Team, null=True, default=None, on_delete=OnDelete.set_null, index=True)
    is_active = Boolean(default=True)


# the entity name (normally set when the entity is declared) known from the start, so a
# plugin table's ForeignKey to User means "user" (an owner field) whenever it is declared
User._kith_entity = "user"  # type: ignore[attr-defined]


class Tag(RecordColumns, Table, tablename="tag"):
    """The tag catalogue (entity ``tag``: a name and a colour); records carry tag names
    in their own ``tags`` list."""

    name = Varchar(length=80, unique=True)
    color = Varchar(length=7, null=True, default=None)


class Organization(RecordColumns, Table, tablename="organization"):
    """A company or other body (entity ``organization``); contacts belong to one."""

    name = Varchar(length=200, index=True)
    domain = Varchar(length=253, null=True, default=None, index=True)
    industry = Varchar(length=100, null=True, default=None)
    size = Integer(null=True, default=None)
    website = Varchar(length=500, null=True, default=None)
    street = Varchar(length=200, null=True, default=None)
    city = Varchar(length=100, null=True, default=None)
    region = Varchar(length=100, null=True, default=None)
    postal_code = Varchar(length=20, null=True, default=None)
    country = Varchar(length=2, null=True, default=None)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null, index=True)
    tags = JSON(default="[]")


class Contact(RecordColumns, Table, tablename="contact"):
    """A person (entity ``contact``): what most plugin records point at with a
    ``ForeignKey(references=Contact)``."""

    first_name = Varchar(length=100, null=True, default=None)
    last_name = Varchar(length=100, index=True, null=True, default=None)
    emails = JSON(default="[]")
    phones = JSON(default="[]")
    title = Varchar(length=150, null=True, default=None)
    organization = ForeignKey(references=Organization, null=True, default=None, on_delete=OnDelete.set_null, index=True)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null, index=True)
    lifecycle_stage = Varchar(length=20, default="lead")
    street = Varchar(length=200, null=True, default=None)
    city = Varchar(length=100, null=True, default=None)
    region = Varchar(length=100, null=True, default=None)
    postal_code = Varchar(length=20, null=True, default=None)
    country = Varchar(length=2, null=True, default=None)
    tags = JSON(default="[]")


class Activity(RecordColumns, Table, tablename="activity"):
    """An item of a record's timeline (entity ``activity``): a note, call, email, meeting,
    task or a kind a plugin adds (``kith_activity_kinds``), attached to any record of an
    entity with a timeline through ``subject_type`` and ``subject_id``."""

    kind = Varchar(length=20)
    subject = Varchar(length=300)
    body = Text(null=True, default=None)
    subject_type = Varchar(length=60)
    subject_id = BigInt()
    occurred_at = Timestamptz(null=True, default=None)
    due_at = Timestamptz(null=True, default=None)
    status = Varchar(length=20, null=True, default=None)
    assignee = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null, index=True)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null, index=True)


class CustomFieldDefinition(Table, tablename="kith_custom_field"):
    entity = Varchar(length=60)
    name = Varchar(length=63)
    type = Varchar(length=20)
    label = Varchar(length=200)
    required = Boolean(default=False)
    default = JSON(null=True, default=None)
    choices = JSON(default="[]")
    indexed = Boolean(default=False)
    personal = Boolean(default=False)
    target = Varchar(length=60, null=True, default=None)
    position = Integer(default=0)
    created_at = Timestamptz(null=True, default=None)
    plugin = Varchar(length=100, null=True, default=None)


class AuditEntry(Table, tablename="kith_audit"):
    entity = Varchar(length=60, index=True)
    record_id = BigInt(index=True)
    action = Varchar(length=20)
    actor = Varchar(length=200, null=True, default=None)
    source = Varchar(length=40)
    changes = JSON(default="{}")
    at = Timestamptz(null=True, default=None)


class OutboxEvent(Table, tablename="kith_outbox"):
    """Events written with their change, and the automation work that follows from
    them (retries, waits, scheduled runs): one durable queue, drained by workers."""

    event = Varchar(length=120)
    entity = Varchar(length=60)
    record_id = BigInt(null=True, default=None)
    payload = JSON(default="{}")
    idempotency_key = Varchar(length=160, unique=True)
    created_at = Timestamptz(null=True, default=None)
    available_at = Timestamptz(null=True, default=None)
    processed_at = Timestamptz(null=True, default=None)
    attempts = Integer(default=0)
    # pending, done, dead, discarded; indexed only where pending or dead (0012_outbox_queue_indexes)
    status = Varchar(length=12, default="pending")
    depth = Integer(default=0)  # how many automation steps led to this event
    locked_until = Timestamptz(null=True, default=None)
    locked_by = Varchar(length=80, null=True, default=None)
    claims = Integer(default=0)  # how many times a worker took it (more than once: after a crash)
    last_error = Text(null=True, default=None)


class PluginState(Table, tablename="kith_plugin"):
    name = Varchar(length=100, unique=True)
    enabled = Boolean(default=False)
    version = Varchar(length=40, null=True, default=None)
    changed_at = Timestamptz(null=True, default=None)


class Meta(Table, tablename="kith_meta"):
    key = Varchar(length=100, unique=True)
    value = Text(null=True, default=None)


class AppliedMigration(Table, tablename="kith_migration"):
    app = Varchar(length=100)
    name = Varchar(length=200)
    applied_at = Timestamptz(null=True, default=None)


ENTITY_TABLES: tuple[type[Table], ...] = (Team, User, Tag, Organization, Contact, Activity)
SYSTEM_TABLES: tuple[type[Table], ...] = (
    CustomFieldDefinition,
    AuditEntry,
    OutboxEvent,
    PluginState,
    Meta,
    AppliedMigration,
)
