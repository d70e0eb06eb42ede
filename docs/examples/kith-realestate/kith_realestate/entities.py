"""The entity declarations: from these Kith derives the GraphQL types, filters, the
create/update mutations, validation, audit and the CSV import of each record type."""

from __future__ import annotations

import re
from typing import Any

from kith.sdk import Entity

from kith_realestate.models import (
    LISTING_KINDS,
    LISTING_STATUSES,
    PROPERTY_TYPES,
    Listing,
    ListingMatch,
    Property,
)

MAX_ROOMS = 100


def tidy_city(value: str, region: str) -> str:
    """One spelling per city ("New  York " -> "New York"): matching buyers compares cities."""
    return re.sub(r"\s+", " ", value).strip()


def _country(value: Any, region: str) -> str | None:
    code = str(value).strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValueError("must be a two-letter country code (ISO 3166), like NL or GB")
    return code


def _rooms(value: int, region: str) -> int:
    if not 0 <= value <= MAX_ROOMS:
        raise ValueError(f"must be between 0 and {MAX_ROOMS}")
    return value


def _area(value: int, region: str) -> int:
    if value <= 0:
        raise ValueError("must be more than 0 (square metres)")
    return value


def _price(value: dict[str, Any], region: str) -> dict[str, Any]:
    if value["amount"] <= 0:
        raise ValueError("must be more than 0")
    return value


def entities() -> list[Entity]:
    return [
        Entity(
            "property",
            Property,
            plural="properties",
            required=("address", "city"),
            searchable=("address", "city", "postal_code"),
            choices={"property_type": PROPERTY_TYPES},
            normalisers={
                "city": tidy_city,
                "country": _country,
                "bedrooms": _rooms,
                "bathrooms": _rooms,
                "floor_area_m2": _area,
            },
        ),
        Entity(
            "listing",
            Listing,
            required=("property", "asking_price"),
            choices={"kind": LISTING_KINDS, "status": LISTING_STATUSES},
            money={"asking_price": "currency"},
            normalisers={"asking_price": _price},
            read_only=("listed_at",),
            reverse={"property": "listings"},
        ),
        Entity(
            "listing_match",
            ListingMatch,
            label="Buyer match",
            plural="listing_matches",
            mutations=False,  # written by the matching automation only
            customizable=False,
            timeline=False,
            owner_via="listing",  # an agent sees the matches of their own listings
            # Listing.matches, and Contact.listingMatches: the matching filters buyers on
            # the latter (none for this listing yet)
            reverse={"listing": "matches", "contact": "listingMatches"},
        ),
    ]
