"""The two spellings of the SQL that reads buyers' preferences (custom fields).

Custom field values live in each contact's JSON column ``custom``: JSONB on PostgreSQL,
JSON text read with ``json_extract`` on SQLite.  Every place the matching query touches
that column is spelt here once per engine, so the query itself reads the same for both
and the tests run it on both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuyerColumns:
    """SQL expressions over contact ``c`` (and property ``p``) for one engine."""

    intent: str  # buyer_intent: "buy" or "rent" (NULL: not said)
    budget: str  # buyer_max_price amount, as a number
    budget_currency: str  # buyer_max_price currency
    min_bedrooms: str  # buyer_min_bedrooms, as an integer
    cities: str  # buyer_cities: "Amsterdam, Utrecht" (see hooks.tidy_cities)
    wants_type: str  # true when buyer_property_types is empty or holds p.property_type
    contains: str  # a format string: "{haystack} contains {needle}", as SQL


POSTGRES = BuyerColumns(
    intent="(c.custom->>'buyer_intent')",
    budget="((c.custom->'buyer_max_price'->>'amount')::numeric)",
    budget_currency="(c.custom->'buyer_max_price'->>'currency')",
    min_bedrooms="((c.custom->>'buyer_min_bedrooms')::bigint)",
    cities="(c.custom->>'buyer_cities')",
    # @> on a scalar or a missing value is simply false, never an error
    wants_type="(COALESCE(c.custom->'buyer_property_types', '[]'::jsonb) IN ('[]'::jsonb, 'null'::jsonb) "
    "OR (c.custom->'buyer_property_types') @> jsonb_build_array(p.property_type::text))",
    contains="strpos({haystack}, {needle}) > 0",
)

SQLITE = BuyerColumns(
    intent="json_extract(c.custom, '$.buyer_intent')",
    budget="CAST(json_extract(c.custom, '$.buyer_max_price.amount') AS REAL)",
    budget_currency="json_extract(c.custom, '$.buyer_max_price.currency')",
    min_bedrooms="json_extract(c.custom, '$.buyer_min_bedrooms')",
    cities="json_extract(c.custom, '$.buyer_cities')",
    wants_type="(COALESCE(json_type(c.custom, '$.buyer_property_types'), 'null') <> 'array' "
    "OR json_array_length(c.custom, '$.buyer_property_types') = 0 "
    "OR EXISTS (SELECT 1 FROM json_each(c.custom, '$.buyer_property_types') j WHERE j.value = p.property_type))",
    contains="instr({haystack}, {needle}) > 0",
)


def buyer_columns(is_postgres: bool) -> BuyerColumns:
    return POSTGRES if is_postgres else SQLITE
