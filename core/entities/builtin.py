"""The core entities, declared once; GraphQL, validation and audit derive from here."""

from __future__ import annotations

from kith.core import models
from kith.core.entities.declaration import Entity
from kith.core.validation.contact_data import (
    each,
    normalise_country,
    normalise_domain,
    normalise_email,
    normalise_phone,
    normalise_url,
)

LIFECYCLE_STAGES = ("subscriber", "lead", "opportunity", "customer", "evangelist", "other")
ACTIVITY_KINDS = ("note", "call", "email", "meeting", "task")
ACTIVITY_STATUSES = ("open", "done", "cancelled")

TAG_LIST = each(lambda value, region: _tag(value))


def _tag(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a tag must be a non-empty string")
    if len(value.strip()) > 80:
        raise ValueError("a tag is at most 80 characters")
    return value.strip()


def core_entities() -> list[Entity]:
    """Fresh declarations (entities are per running Kith, never shared between tests)."""
    return [
        Entity("team", models.Team, required=("name",), searchable=("name",), timeline=False),
        Entity(
            "user",
            models.User,
            required=("email", "name"),
            searchable=("name", "email"),
            personal=("email", "name"),
            normalisers={"email": normalise_email},
            timeline=False,
        ),
        Entity(
            "tag",
            models.Tag,
            required=("name",),
            searchable=("name",),
            normalisers={"name": lambda value, region: _tag(value)},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "organization",
            models.Organization,
            required=("name",),
            searchable=("name", "domain"),
            normalisers={
                "domain": normalise_domain,
                "website": normalise_url,
                "country": normalise_country,
                "tags": TAG_LIST,
            },
        ),
        Entity(
            "contact",
            models.Contact,
            needs_one_of=("first_name", "last_name", "emails", "phones"),
            searchable=("first_name", "last_name", "emails", "title"),
            personal=(
                "first_name",
                "last_name",
                "emails",
                "phones",
                "street",
                "city",
                "region",
                "postal_code",
            ),
            choices={"lifecycle_stage": LIFECYCLE_STAGES},
            normalisers={
                "emails": each(normalise_email),
                "phones": each(normalise_phone),
                "country": normalise_country,
                "tags": TAG_LIST,
            },
        ),
        Entity(
            "activity",
            models.Activity,
            plural="activities",
            required=("kind", "subject", "subject_type", "subject_id"),
            searchable=("subject", "body"),
            personal=("body",),
            choices={"kind": ACTIVITY_KINDS, "status": ACTIVITY_STATUSES},
            timeline=False,
            attachment=("subject_type", "subject_id"),
        ),
    ]
