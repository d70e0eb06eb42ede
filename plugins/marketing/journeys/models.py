"""A journey and the contacts on it."""

from __future__ import annotations

from piccolo.columns import ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.plugins.marketing.models import Segment
from kith.sdk import Contact, RecordColumns, User

JOURNEY_STATUSES = ("draft", "active", "paused", "archived")
#: never: a contact goes through once; after_exit: again after leaving it
REENTRY = ("never", "after_exit")
ENROLLMENT_STATUSES = ("active", "completed", "goal_met", "stopped", "failed")


class Journey(RecordColumns, Table, tablename="marketing_journey"):
    name = Varchar(length=200, unique=True)
    description = Text(null=True, default=None)
    status = Varchar(length=10, default="draft")
    #: contacts enter when they join this segment (and, when it is activated, its members)
    segment = ForeignKey(references=Segment, null=True, default=None, on_delete=OnDelete.set_null)
    #: the steps, a JSON list (``definition.check_steps`` says what each may hold); the
    #: first is where a contact starts
    steps = Text(default="[]")
    #: a contact filter: whoever matches it leaves the journey at once, goal met
    goal = Text(null=True, default=None)
    reentry = Varchar(length=12, default="never")
    #: the consent topic a send step needs
    purpose = Varchar(length=60, default="newsletter")
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)


class JourneyEnrollment(RecordColumns, Table, tablename="marketing_journey_enrollment"):
    """One contact's way through a journey: where they are and the path so far."""

    journey = ForeignKey(references=Journey, on_delete=OnDelete.cascade)
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    #: 1 for the first time through, 2 for the second (re-entry) …
    run = Integer(default=1)
    status = Varchar(length=10, default="active")
    #: the step to run next (its id), none once finished
    step = Varchar(length=60, null=True, default=None)
    #: how many steps have run: the key of the next step's job, so a repeat is a no-op
    taken = Integer(default=0)
    #: the steps taken, a JSON list of {step, type, at, outcome}
    path = Text(default="[]")
    #: a wait step's condition (a contact filter, JSON): met early, the next step runs then
    waiting_for = Text(null=True, default=None)
    entered_at = Timestamptz(null=True, default=None)
    left_at = Timestamptz(null=True, default=None)


JOURNEY_TABLES: list[type[Table]] = [Journey, JourneyEnrollment]
