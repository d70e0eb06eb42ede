"""The appointment: a client (contact) seeing a therapist (user) at a time."""

from __future__ import annotations

from typing import Any

from kith.sdk import Contact, Entity, RecordColumns, User
from piccolo.columns import ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

STATUSES = ("scheduled", "attended", "no_show", "cancelled")


class Appointment(RecordColumns, Table, tablename="clinic_appointment"):
    contact = ForeignKey(references=Contact)
    therapist = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    starts_at = Timestamptz()
    duration_minutes = Integer(null=True, default=None)
    #: starts_at + duration_minutes, kept by the plugin (read-only for clients)
    ends_at = Timestamptz(null=True, default=None)
    status = Varchar(length=20, default="scheduled")
    #: clinical notes: personal data, erased with the client, hidden from reception
    notes = Text(null=True, default=None)


def duration(value: Any, region: str) -> Any:
    """A normaliser: an appointment lasts from 5 minutes to 8 hours."""
    if value is not None and not 5 <= value <= 480:
        raise ValueError("must be between 5 and 480 minutes")
    return value


def appointment_entity() -> Entity:
    return Entity(
        "appointment",
        Appointment,
        required=("contact", "starts_at"),
        searchable=("notes",),
        personal=("notes",),
        choices={"status": STATUSES},
        normalisers={"duration_minutes": duration},
        read_only=("ends_at",),
        # `own` means the therapist's: a therapist booking one without naming a
        # therapist is put in it
        owners=("therapist",),
        reverse={"contact": "appointments"},  # Contact.appointments
    )
