"""The filter compiler against a plain-Python model of the filter language.

Hypothesis draws filters (fields, custom fields, the ``organization`` relation, nested
``and`` / ``or`` / ``not``) and checks that ``RecordQuery.list`` and ``RecordQuery.count``
select exactly the contacts the model selects, on every engine the fixtures give.

The model is the specification, written without SQL:

* every leaf is two-valued: a comparison on an empty value is false, except ``ne`` and
  ``notIn``, which are true for empty values; ``isNull`` on a list means "no elements";
* ``not`` is the exact complement; ``and: []`` is true, ``or: []`` is false;
* ``contains`` / ``startsWith`` on text are case-insensitive and take user text literally
  (``%``, ``_`` and ``\\`` are not wildcards); ``contains`` on a list is membership;
* text ``lt`` / ``gt`` compare by code point;
* ``organization: {...}`` holds when the contact has a live organization matching it.

The test is synchronous and drives one event loop of its own, so Hypothesis can run
(and shrink) many filters against a single seeded database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import random
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kith.core.errors import ValidationFailed
from kith.core.records.query import ListRequest
from kith.core.runtime import Kith
from kith.core.settings import load_settings

D = decimal.Decimal

# -- the dataset -----------------------------------------------------------------------

# Case only varies in ASCII letters: SQLite's LIKE folds ASCII case only, so non-ASCII
# letters appear in one case only (in the data and in the filters drawn below).
FIRST_NAMES = [
    None,
    "Ann",
    "ann",
    "ANNA",
    "Bob",
    "bob",
    "Zoë",
    "josé",
    "50%",
    "500",
    "5_0",
    "a_b",
    "a%b",
    "back\\slash",
    "Ünal",
    "O'Neil",
]
LAST_NAMES = [
    None,
    "Smith",
    "smith",
    "Smithers",
    "SMITH",
    "Ng",
    "van der Berg",
    "_",
    "%",
    "50% off",
    "x\\_y",
    "Zed",
    "zed",
]
TITLES = [None, "CFO", "cfo", "Head of Sales", "VP_Sales", "VP Sales", "100% remote", "Buyer"]
STAGES = ["subscriber", "lead", "opportunity", "customer", "evangelist", "other"]
TAGS = ["vip", "VIP", "beta", "a%", "x_y", "partner"]
SEGMENTS = ["smb", "enterprise", "mid_market", "Startup"]
AREAS = ["crm", "sales", "ops"]
MISSING = object()  # a custom field left out entirely (as opposed to stored as null)
TIERS = [MISSING, None, -5, 0, 1, 2, 3, 10, 2**31 - 1]  # the largest an integer field holds
SCORES = [MISSING, None, "0.1", "0.10", "2.5", "-0.75", "10", "1E+2", "99.99"]
VIPS = [MISSING, None, True, False]
SINCES = [MISSING, None, "2020-02-29", "2021-01-01", "2023-12-31", "2024-01-01"]
ORG_NAMES = ["Acme", "ACME Europe", "Globex 100%", "Initech_Labs", "umbrella", "Gone Corp"]

CUSTOM_KIND = {
    "tier": "int",
    "score": "decimal",
    "vip": "bool",
    "since": "date",
    "segment": "string",
    "interest_areas": "list",
}
CONTACT_KIND = {
    "id": "id",
    "firstName": "string",
    "lastName": "string",
    "title": "string",
    "lifecycleStage": "string",
    "tags": "list",
    "organizationId": "id",
}
ORG_KIND = {"id": "id", "name": "string", "domain": "string", "size": "int", "tags": "list"}
OPERATORS = {
    "string": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "contains", "startsWith", "isNull"),
    "int": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "isNull"),
    "decimal": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "isNull"),
    "date": ("eq", "ne", "in", "notIn", "lt", "lte", "gt", "gte", "isNull"),
    "bool": ("eq", "ne", "isNull"),
    "id": ("eq", "ne", "in", "notIn", "isNull"),
    "list": ("contains", "isNull"),
}


def dataset() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Organizations and contacts as plain dicts of already-normalised values (so what is
    stored is exactly what is written); ``n`` / ``org`` are positions, ids come later."""
    rng = random.Random(20240229)
    orgs = [
        {"name": name, "domain": domain, "size": size, "tags": tags, "deleted": name == "Gone Corp"}
        for name, domain, size, tags in zip(
            ORG_NAMES,
            ["acme.example", None, "globex.example", "initech.example", None, "gone.example"],
            [50, 5, None, 500, 0, 50],
            [["partner"], [], ["vip", "beta"], ["x_y"], [], ["vip"]],
            strict=True,
        )
    ]
    contacts = []
    for n in range(42):
        contacts.append(
            {
                "firstName": FIRST_NAMES[n % len(FIRST_NAMES)],
                "lastName": rng.choice(LAST_NAMES),
                "title": rng.choice(TITLES),
                "lifecycleStage": rng.choice(STAGES),
                "tags": rng.sample(TAGS, rng.choice([0, 0, 1, 2, 3])),
                "org": rng.choice([None, 0, 1, 2, 3, 4, 5]),
                "custom": {
                    name: value
                    for name, value in {
                        "tier": rng.choice(TIERS),
                        "score": rng.choice(SCORES),
                        "vip": rng.choice(VIPS),
                        "since": rng.choice(SINCES),
                        "segment": rng.choice([MISSING, None, *SEGMENTS]),
                        "interest_areas": rng.choice([MISSING, None, [], ["crm"], ["sales", "ops"], AREAS]),
                    }.items()
                    if value is not MISSING
                },
                "deleted": n in (7, 30),
            }
        )
    return orgs, contacts


async def seed(kith: Kith) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    """Write the dataset; returns the model's view: organizations and contacts by id."""
    await kith.custom_fields.add("contact", "tier", "integer")
    await kith.custom_fields.add("contact", "score", "decimal")
    await kith.custom_fields.add("contact", "vip", "boolean")
    await kith.custom_fields.add("contact", "since", "date")
    await kith.custom_fields.add("contact", "segment", "single_select", choices=SEGMENTS)
    await kith.custom_fields.add("contact", "interest_areas", "multi_select", choices=AREAS)
    orgs, contacts = dataset()
    org_ids: list[int] = []
    model_orgs: dict[int, dict[str, Any]] = {}
    for org in orgs:
        created = await kith.records.create(
            "organization",
            {"name": org["name"], "domain": org["domain"], "size": org["size"], "tags": org["tags"]},
        )
        org_ids.append(created["id"])
        model_orgs[created["id"]] = {**org, "id": created["id"]}
    model_contacts: dict[int, dict[str, Any]] = {}
    for contact in contacts:
        org_id = None if contact["org"] is None else org_ids[contact["org"]]
        created = await kith.records.create(
            "contact",
            {
                "first_name": contact["firstName"],
                "last_name": contact["lastName"],
                "title": contact["title"],
                "lifecycle_stage": contact["lifecycleStage"],
                "tags": contact["tags"],
                "organization": org_id,
                "custom": contact["custom"],
            },
        )
        model_contacts[created["id"]] = {
            **contact,
            "id": created["id"],
            "organizationId": org_id,
            "custom": model_custom(contact["custom"]),
        }
        if contact["deleted"]:
            await kith.records.delete("contact", created["id"])
    # Deleted last: a contact cannot be linked to an organization already deleted.
    for org_id, org in model_orgs.items():
        if org["deleted"]:
            await kith.records.delete("organization", org_id)
    return model_orgs, model_contacts


def model_custom(stored: Mapping[str, Any]) -> dict[str, Any]:
    """Custom values as the model compares them (JSON keeps decimals and dates as text)."""
    custom = {k: v for k, v in stored.items() if v not in (None, [])}
    if "score" in custom:
        custom["score"] = D(custom["score"])
    if "since" in custom:
        custom["since"] = dt.date.fromisoformat(custom["since"])
    return custom


# -- the model -----------------------------------------------------------------------------


def _value(kind: str, raw: Any) -> Any:
    """A filter value as the model compares it."""
    if kind in ("int", "id"):
        return int(raw)
    if kind == "decimal":
        return D(str(raw))
    if kind == "date":
        return raw if isinstance(raw, dt.date) else dt.date.fromisoformat(raw)
    return raw


def _operator(kind: str, stored: Any, op: str, raw: Any) -> bool:
    empty = stored is None or (kind == "list" and not stored)
    if op == "isNull":
        return empty == raw
    if kind == "list":  # contains: membership
        return not empty and raw in stored
    if op == "ne":
        return empty or stored != _value(kind, raw)
    if op == "notIn":
        return empty or stored not in [_value(kind, v) for v in raw]
    if empty:
        return False
    if op == "contains":
        return raw.lower() in stored.lower()
    if op == "startsWith":
        return stored.lower().startswith(raw.lower())
    if op == "in":
        return stored in [_value(kind, v) for v in raw]
    value = _value(kind, raw)
    return {
        "eq": stored == value,
        "lt": stored < value,
        "lte": stored <= value,
        "gt": stored > value,
        "gte": stored >= value,
    }[op]


def _leaf(kind: str, stored: Any, ops: Mapping[str, Any]) -> bool:
    return all(_operator(kind, stored, op, raw) for op, raw in ops.items() if raw is not None)


class Model:
    def __init__(self, orgs: dict[int, dict[str, Any]], contacts: dict[int, dict[str, Any]]) -> None:
        self.orgs = orgs
        self.contacts = contacts

    def select(self, filter_: Mapping[str, Any]) -> set[int]:
        return {cid for cid, c in self.contacts.items() if not c["deleted"] and self.matches(filter_, c, CONTACT_KIND)}

    def matches(self, node: Mapping[str, Any], record: dict[str, Any], kinds: dict[str, str]) -> bool:
        for key, value in node.items():
            if value is None:
                continue
            if key == "and":
                ok = all(self.matches(sub, record, kinds) for sub in value)
            elif key == "or":
                ok = any(self.matches(sub, record, kinds) for sub in value)
            elif key == "not":
                ok = not self.matches(value, record, kinds)
            elif key == "customFields":
                ok = all(
                    _leaf(CUSTOM_KIND[_snake(name)], record["custom"].get(_snake(name)), ops)
                    for name, ops in value.items()
                    if ops is not None
                )
            elif key == "organization":
                org = self.orgs.get(record["organizationId"])  # type: ignore[arg-type]
                ok = org is not None and not org["deleted"] and self.matches(value, org, ORG_KIND)
            else:
                ok = _leaf(kinds[key], record[key], value)
            if not ok:
                return False
        return True


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


# -- filter strategies -----------------------------------------------------------------


def _ascii_case_variants(text: str) -> set[str]:
    """``text`` in other cases, changing ASCII letters only."""
    flip = "".join(c.swapcase() if c.isascii() else c for c in text)
    lower = "".join(c.lower() if c.isascii() else c for c in text)
    upper = "".join(c.upper() if c.isascii() else c for c in text)
    return {text, flip, lower, upper}


def _text_pool() -> list[str]:
    """Stored words, their case variants and fragments: likely to hit, and to nearly miss."""
    words = {w for w in (*FIRST_NAMES, *LAST_NAMES, *TITLES, *STAGES, *SEGMENTS, *ORG_NAMES, "acme.example") if w}
    pool: set[str] = set()
    for word in words:
        for variant in _ascii_case_variants(word):
            pool.update({variant, variant[:1], variant[:2], variant[1:3], variant[-3:]})
    return sorted(pool)


TEXT_POOL = _text_pool()
# Wildcards and the escape character, letters in both ASCII cases, digits, and non-ASCII
# letters in one case only.
TEXT_ALPHABET = "%_\\ aAbBnNsSmMzZ05ëéü'."
TEXT = st.one_of(st.sampled_from(TEXT_POOL), st.text(TEXT_ALPHABET, max_size=3))
INTS = st.sampled_from([-6, -5, 0, 1, 2, 3, 4, 5, 10, 50, 500, 2**31 - 2, 2**31 - 1])
DECIMALS = st.sampled_from(["0.1", "0.10", "0.09", "2.5", "-0.75", "10", "100", "1E+2", "99.99", "-1"])
DATES = st.sampled_from(["2020-02-28", "2020-02-29", "2021-01-01", "2023-12-31", "2024-01-01", "2024-01-02"])
VALUES: dict[str, st.SearchStrategy[Any]] = {
    "string": TEXT,
    "int": st.one_of(INTS, INTS.map(str), st.integers(-20, 20)),
    "decimal": st.one_of(DECIMALS, DECIMALS.map(D), st.integers(-2, 101)),
    "date": st.one_of(DATES, DATES.map(dt.date.fromisoformat)),
    "bool": st.booleans(),
}


@st.composite
def leaf_ops(draw: st.DrawFn, kind: str, ids: tuple[int, ...], choices: tuple[str, ...]) -> dict[str, Any]:
    """``{op: value, ...}`` for a field of ``kind``: one or two operators (and-ed), rarely
    none; now and then a ``None`` value, which is ignored."""
    size = draw(st.sampled_from([1, 1, 1, 2, 1, 1, 1, 2, 1, 0]))
    ops = draw(st.lists(st.sampled_from(OPERATORS[kind]), min_size=size, max_size=size, unique=True))
    values = st.sampled_from(ids) if kind == "id" else VALUES.get(kind, st.sampled_from(choices))
    out: dict[str, Any] = {}
    for op in ops:
        if op == "isNull":
            out[op] = draw(st.booleans())
        elif draw(st.integers(0, 19)) == 19:
            out[op] = None
        elif op in ("in", "notIn"):
            out[op] = draw(st.lists(values, max_size=3))
        else:
            out[op] = draw(values)
    return out


@st.composite
def filters(
    draw: st.DrawFn, entity: str, depth: int, contact_ids: tuple[int, ...], org_ids: tuple[int, ...]
) -> dict[str, Any]:
    """A filter object of one or two keys (rarely none), with ``depth`` more levels below.

    Contact filters may hold ``organization: {...}`` (an organization filter of depth at
    most 1) and ``customFields: {...}`` (one or two custom fields, by name or camelCase path).
    """
    kinds = CONTACT_KIND if entity == "contact" else ORG_KIND
    keys = list(kinds)
    if entity == "contact":
        keys += ["customFields"] * 3  # custom fields are where the SQL differs most by engine
        if depth > 0:
            keys += ["organization"]
    if depth > 0:
        keys += ["and", "or", "not"]
    node: dict[str, Any] = {}
    size = draw(st.sampled_from([1, 2, 1, 2, 1, 2, 1, 2, 1, 0]))  # {} matches everything
    for key in draw(st.lists(st.sampled_from(keys), min_size=size, max_size=size, unique=True)):
        sub = filters(entity, depth - 1, contact_ids, org_ids)
        if key in ("and", "or"):
            node[key] = draw(st.lists(sub, max_size=3))
        elif key == "not":
            node[key] = draw(sub)
        elif key == "organization":
            node[key] = draw(filters("organization", min(depth - 1, 1), contact_ids, org_ids))
        elif key == "customFields":
            names = draw(st.lists(st.sampled_from(sorted(CUSTOM_KIND)), min_size=1, max_size=2, unique=True))
            node[key] = {
                draw(st.sampled_from([name, _camel(name)])): draw(leaf_ops(CUSTOM_KIND[name], (), tuple(AREAS)))
                for name in names
            }
        else:
            ids = contact_ids if entity == "contact" and key == "id" else org_ids
            node[key] = draw(leaf_ops(kinds[key], (*ids, max(ids) + 1, 2**40), tuple(TAGS)))
    return node


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# -- the property ------------------------------------------------------------------------


def test_filters_select_exactly_what_the_model_selects(kith_database_url: str) -> None:
    loop = asyncio.new_event_loop()
    kith = loop.run_until_complete(Kith.open(load_settings(database_url=kith_database_url)))
    try:
        orgs, contacts = loop.run_until_complete(seed(kith))
        model = Model(orgs, contacts)
        entity = kith.entity("contact")

        async def run(filter_: dict[str, Any]) -> tuple[set[int], int]:
            page = await kith.query.list(kith.db, ListRequest(entity, filter_, first=1000, columns={"id"}))
            assert not page.has_next_page
            return {row["id"] for row in page.rows}, await kith.query.count(kith.db, entity, filter_)

        # The dataset is stored as the model sees it, and everything live is listed.
        for cid, expected in contacts.items():
            stored = loop.run_until_complete(kith.records.get("contact", cid, include_deleted=True))
            assert (
                stored["first_name"],
                stored["last_name"],
                stored["title"],
                stored["lifecycle_stage"],
                stored["tags"],
                stored["organization"],
            ) == tuple(
                expected[k] for k in ("firstName", "lastName", "title", "lifecycleStage", "tags", "organizationId")
            )
            assert model_custom(stored["custom"]) == expected["custom"]
        for oid, expected in orgs.items():
            stored = loop.run_until_complete(kith.records.get("organization", oid, include_deleted=True))
            assert [stored[k] for k in ("name", "domain", "size", "tags")] == [
                expected[k] for k in ("name", "domain", "size", "tags")
            ]
        assert loop.run_until_complete(run({}))[0] == model.select({}) and len(model.select({})) == 40

        @settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(filters("contact", 3, tuple(sorted(contacts)), tuple(sorted(orgs))))
        def check(filter_: dict[str, Any]) -> None:
            expected = model.select(filter_)
            ids, count = loop.run_until_complete(run(filter_))
            assert ids == expected, f"SQL selected {sorted(ids - expected)} extra, missed {sorted(expected - ids)}"
            assert count == len(expected)

        check()
    finally:
        loop.run_until_complete(kith.close())
        loop.close()


# -- examples a random search may never hit ------------------------------------------------


async def _ids(kith: Kith, filter_: dict[str, Any]) -> set[int]:
    page = await kith.query.list(kith.db, ListRequest(kith.entity("contact"), filter_, first=1000))
    return {row["id"] for row in page.rows}


async def test_like_wildcards_in_user_text_match_literally(kith):
    percent = await kith.records.create("contact", {"last_name": "P", "title": "50% off"})
    await kith.records.create("contact", {"last_name": "P", "title": "500 units"})
    underscore = await kith.records.create("contact", {"last_name": "P", "title": "a_c"})
    await kith.records.create("contact", {"last_name": "P", "title": "abc"})
    backslash = await kith.records.create("contact", {"last_name": "P", "title": "x\\y"})
    await kith.records.create("contact", {"last_name": "P", "title": "xy"})
    assert await _ids(kith, {"title": {"contains": "50%"}}) == {percent["id"]}
    assert await _ids(kith, {"title": {"startsWith": "A_"}}) == {underscore["id"]}
    assert await _ids(kith, {"title": {"contains": "\\"}}) == {backslash["id"]}
    assert await _ids(kith, {"title": {"contains": "%"}}) == {percent["id"]}


async def test_ne_and_not_in_include_empty_values(kith):
    await kith.custom_fields.add("contact", "tier", "integer")
    await kith.custom_fields.add("contact", "areas", "multi_select", choices=["crm", "ops"])
    two = await kith.records.create(
        "contact", {"last_name": "Two", "title": "CFO", "custom": {"tier": 2, "areas": ["crm"]}}
    )
    three = await kith.records.create("contact", {"last_name": "Three", "title": "CEO", "custom": {"tier": 3}})
    blank = await kith.records.create("contact", {"last_name": "Blank", "custom": {"tier": None, "areas": None}})
    absent = await kith.records.create("contact", {"last_name": "Absent"})
    assert await _ids(kith, {"title": {"ne": "CFO"}}) == {three["id"], blank["id"], absent["id"]}
    assert await _ids(kith, {"customFields": {"tier": {"ne": 2}}}) == {three["id"], blank["id"], absent["id"]}
    assert await _ids(kith, {"customFields": {"tier": {"notIn": [2, 3]}}}) == {blank["id"], absent["id"]}
    # ... and a comparison on an empty value is false, so `not` is its exact complement.
    assert await _ids(kith, {"not": {"customFields": {"tier": {"lt": 3}}}}) == {
        three["id"],
        blank["id"],
        absent["id"],
    }
    # A list stored as an explicit null is as empty as a list never set.
    assert await _ids(kith, {"customFields": {"areas": {"isNull": True}}}) == {
        three["id"],
        blank["id"],
        absent["id"],
    }
    assert await _ids(kith, {"customFields": {"areas": {"isNull": False}}}) == {two["id"]}


async def test_an_unsupported_operator_or_bad_value_is_refused_naming_field_and_operator(kith):
    await kith.custom_fields.add("contact", "tier", "integer")
    with pytest.raises(ValidationFailed) as caught:
        await _ids(kith, {"customFields": {"tier": {"contains": "x"}}})
    [error] = caught.value.errors
    assert (error.field, error.code) == ("filter.customFields.tier.contains", "unsupported")
    assert "customFields.tier does not support 'contains'" in error.message
    # Every problem is reported at once, each at its own path; values a column cannot hold
    # are refused like on writes instead of failing in the database driver.
    with pytest.raises(ValidationFailed) as caught:
        await _ids(
            kith,
            {
                "or": [{"tags": {"eq": "vip"}}, {"not": {"customFields": {"tier": {"gt": "many"}}}}],
                "id": {"in": [1, 2**63]},
                "organization": {"size": {"lt": -(2**63) - 1}},
            },
        )
    assert {e.field: e.code for e in caught.value.errors} == {
        "filter.or[0].tags.eq": "unsupported",
        "filter.or[1].not.customFields.tier.gt": "invalid",
        "filter.id.in": "invalid",
        "filter.organization.size.lt": "invalid",
    }
