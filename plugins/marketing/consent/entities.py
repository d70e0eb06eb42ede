"""The consent part's entities, and what marketing roles may do with them."""

from __future__ import annotations

from kith.plugins.marketing.consent import forms
from kith.plugins.marketing.consent.models import (
    FREQUENCIES,
    SUBSCRIPTION_STATUSES,
    SUPPRESSION_REASONS,
    ContactSuppression,
    Subscription,
    Suppression,
)
from kith.sdk import Entity, Grant, normalise_email


def entities() -> list[Entity]:
    return [
        Entity(
            "suppression",
            Suppression,
            searchable=("email",),
            personal=("email",),
            choices={"reason": SUPPRESSION_REASONS},
            normalisers={"email": normalise_email},
            read_only=("email_hash",),
            reverse={"contact": None},  # the contact's list is of the entries reaching it, below
            timeline=False,
            customizable=False,
        ),
        Entity(
            "contact_suppression",
            ContactSuppression,
            label="Contact suppression",
            required=("suppression", "contact"),
            reverse={"contact": "suppressions", "suppression": "contacts"},
            owner_via="contact",
            mutations=False,
            timeline=False,
            customizable=False,
        ),
        Entity(
            "topic_subscription",
            Subscription,
            required=("contact", "topic"),
            choices={"status": SUBSCRIPTION_STATUSES, "frequency": FREQUENCIES},
            reverse={"contact": "subscriptions"},
            owner_via="contact",
            mutations=False,  # written with the consent record: subscribe/unsubscribe mutations
            timeline=False,
            customizable=False,
        ),
        forms.entity(),
    ]


def marketer_grants() -> dict[str, Grant]:
    """A marketer reads the list and adds to it (an address asking by phone); taking an
    address off it is a marketing admin's call, and so is setting up web forms."""
    return {
        "suppression": Grant(actions=["read", "create"]),
        "contact_suppression": Grant(actions=["read"]),
        "topic_subscription": Grant(actions=["read", "create", "update"]),
        "marketing_form": Grant(actions=["read"]),
    }


def admin_grants() -> dict[str, Grant]:
    return {
        "suppression": Grant(actions=["read", "create", "update", "delete", "restore"]),
        "contact_suppression": Grant(actions=["read"]),
        "topic_subscription": Grant(actions=["read", "create", "update"]),
        "marketing_form": Grant(actions=["read", "create", "update", "delete", "restore"]),
    }
