"""The marketing plugin's tables: segments and their maintained membership.

Other parts of the plugin (consent and suppression, campaigns, journeys) keep their
tables in their own modules and list them in ``__init__``."""

from __future__ import annotations

from piccolo.columns import Boolean, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.sdk import Contact, RecordColumns, User

#: dynamic: members are the contacts its definition matches, kept current by the plugin;
#: static: a list people add contacts to and remove them from
SEGMENT_KINDS = ("dynamic", "static")


class Segment(RecordColumns, Table, tablename="marketing_segment"):
    name = Varchar(length=200, unique=True)
    description = Text(null=True, default=None)
    kind = Varchar(length=10, default="dynamic")
    #: a dynamic segment's definition: a contact filter in the GraphQL filter language,
    #: stored as JSON text (``{"customFields": {"tier": {"gte": 2}}}``)
    definition = Text(default="{}")
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    #: the plugin's own: whether its definition moves with time (``withinLast`` …,
    #: re-checked on a schedule), and when it was last brought up to date as a whole.
    #: (No stored member count: a count is read as its reader, who may see fewer.)
    time_relative = Boolean(default=False)
    refreshed_at = Timestamptz(null=True, default=None)


class SegmentMembership(RecordColumns, Table, tablename="marketing_segment_membership"):
    """One contact in one segment: rows the segment engine writes set-wise (they are
    derived from the definition, or from a person adding the contact to a static list,
    which goes through the segment's own mutations)."""

    segment = ForeignKey(references=Segment, on_delete=OnDelete.cascade)
    contact = ForeignKey(references=Contact, on_delete=OnDelete.cascade)
    #: "rule" (matched a dynamic segment's definition) or "manual" (added to a static list)
    source = Varchar(length=10, default="rule")


SEGMENT_TABLES: list[type[Table]] = [Segment, SegmentMembership]
