"""A hidden field answers as if it did not exist.

A rep may read contacts and organizations but not an organization's ``domain``, its
``account_code`` custom field (two words, so three spellings) or a contact's ``title``.
The same questions are asked twice: once with the values stored and hidden from the
rep, and once after the values are removed and nothing is hidden.  Filters through the
relation, sorts on the related field, aggregates and search must answer the same both
times: nothing in the first answers can depend on the hidden values.
"""

from __future__ import annotations

from typing import Any

from kith.core.records.encoding import dumps
from kith.core.web.app import execute
from kith.sdk.testing import make_contact, make_organization, make_user

QUESTIONS: list[tuple[str, dict[str, Any]]] = [
    # filters on a hidden field of the related organization
    (
        "query($f: ContactFilter) { contacts(first: 50, filter: $f) { totalCount nodes { id } } }",
        {"f": {"organization": {"domain": {"eq": "acme.example"}}}},
    ),
    (
        "query($f: ContactFilter) { contacts(first: 50, filter: $f) { totalCount nodes { id } } }",
        {"f": {"not": {"organization": {"domain": {"startsWith": "a"}}}}},
    ),
    (
        "query($f: ContactFilter) { contacts(first: 50, filter: $f) { totalCount nodes { id } } }",
        {"f": {"organization": {"domain": {"isNull": True}}}},
    ),
    (
        "query($f: ContactFilter) { contacts(first: 50, filter: $f) { totalCount nodes { id } } }",
        {"f": {"organization": {"customFields": {"accountCode": {"eq": "A-1"}}}}},
    ),
    (
        "query($f: ContactFilter) { contacts(first: 50, filter: $f) { totalCount nodes { id } } }",
        {"f": {"organization": {"customFields": {"accountCode": {"gt": "A-0"}}}}},
    ),
    (
        "query($f: ContactFilter) { contacts(first: 50, filter: $f) { totalCount nodes { id } } }",
        {"f": {"title": {"contains": "CEO"}}},
    ),
    # sorts on it, and the cursors that follow
    ("{ contacts(first: 50, orderBy: [{organization: {domain: DESC}}]) { nodes { id } } }", {}),
    ("{ contacts(first: 2, orderBy: [{organization: {domain: ASC}}]) { nodes { id } pageInfo { hasNextPage } } }", {}),
    ("{ contacts(first: 50, orderBy: [{title: ASC}]) { nodes { id } } }", {}),
    # groupings under every spelling
    ('{ organizationsAggregate(groupBy: ["domain"]) { key count } }', {}),
    ('{ organizationsAggregate(groupBy: ["customFields.accountCode"]) { key count } }', {}),
    ('{ organizationsAggregate(groupBy: ["customFields.account_code"]) { key count } }', {}),
    ('{ contactsAggregate(groupBy: ["title"]) { key count } }', {}),
    # search
    ('{ contacts(first: 50, search: "CEO") { nodes { id } } }', {}),
    ('{ organizations(first: 50, search: "acme.example") { nodes { id } } }', {}),
    ('{ organizations(first: 50, search: "Acme") { nodes { id } } }', {}),
]

HIDDEN_ROLE = {
    "contact": {"actions": ["read"], "scope": "all", "hidden": ["title"]},
    "organization": {"actions": ["read"], "scope": "all", "hidden": ["domain", "customFields.account_code"]},
}


async def _answers(kith: Any, rep: dict[str, Any] | None) -> list[Any]:
    """Each question's data, asked as ``rep`` (None: as the system, unrestricted)."""
    principal = await kith.auth.principal_for_user(rep["id"], "token") if rep is not None else None
    out = []
    for query, variables in QUESTIONS:
        body = await execute(kith, query, variables, principal=principal)
        assert "errors" not in body, (query, body["errors"])
        out.append(body["data"])
    return out


async def test_filters_sorts_groupings_and_search_on_a_hidden_field_answer_as_if_it_did_not_exist(kith):
    await kith.custom_fields.add("organization", "account_code", "text", label="Account code")
    orgs = [
        await make_organization(kith, name="Acme", domain="acme.example", custom={"account_code": "A-1"}),
        await make_organization(kith, name="Globex", domain="globex.example", custom={"account_code": "B-7"}),
        await make_organization(kith, name="Initech", domain=None),
    ]
    for n, (org, title) in enumerate([(0, "CEO"), (1, "CTO"), (0, None), (2, "CEO"), (1, "Buyer"), (None, "CFO")]):
        await make_contact(
            kith, first_name=f"P{n}", title=title, organization=orgs[org]["id"] if org is not None else None
        )
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ('hider', '', {}, 'admin')",
        dumps(HIDDEN_ROLE),
    )
    rep = await make_user(kith, email="rep@example.com", name="Rep")
    await kith.auth.grant_role(rep["id"], "hider")

    hidden = await _answers(kith, rep)
    unrestricted = await _answers(kith, None)
    # the questions have answers that depend on the values: unrestricted callers get them
    differs = [q for (q, _), a, b in zip(QUESTIONS, hidden, unrestricted, strict=True) if a != b]
    assert len(differs) >= 10, differs

    # the same world without those values, and nothing hidden
    for org in orgs:
        await kith.records.update("organization", org["id"], {"domain": None, "custom": {"account_code": None}})
    for contact in (await kith.query.list(kith.db, _all_contacts(kith))).rows:
        await kith.records.update("contact", contact["id"], {"title": None})
    await kith.db.execute(
        "UPDATE kith_role SET grants = {} WHERE name = 'hider'",
        dumps({entity: {**grant, "hidden": []} for entity, grant in HIDDEN_ROLE.items()}),
    )
    absent = await _answers(kith, rep)

    for (query, variables), with_values, without in zip(QUESTIONS, hidden, absent, strict=True):
        assert with_values == without, (query, variables)


def _all_contacts(kith: Any) -> Any:
    from kith.core.records.query import ListRequest

    return ListRequest(kith.entity("contact"), first=100)


async def test_filters_through_reverse_lists_read_only_the_children_the_caller_may_read(kith):
    """``organizations(filter: {contacts: {some | none: ...}})``: the contacts each
    organization has, as the caller sees them — out-of-scope contacts are not there, and
    a hidden field of theirs is empty."""
    acme = await make_organization(kith, name="Acme")
    globex = await make_organization(kith, name="Globex")
    await make_organization(kith, name="Initech")  # no contacts at all
    rep = await make_user(kith, email="rep@example.com", name="Rep")
    await make_contact(kith, first_name="Ann", title="CEO", organization=acme["id"], owner=rep["id"])
    await make_contact(kith, first_name="Bob", title="CEO", organization=globex["id"])  # not the rep's
    await make_contact(kith, first_name="Cy", title="CTO", organization=globex["id"], owner=rep["id"])
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ('own', '', {}, 'admin')",
        dumps(
            {"contact": {"actions": ["read"], "scope": "own"}, "organization": {"actions": ["read"], "scope": "all"}}
        ),
    )
    await kith.auth.grant_role(rep["id"], "own")
    query = "query($f: OrganizationFilter) { organizations(filter: $f, orderBy: [{name: ASC}]) { nodes { name } } }"

    async def names(filter_: dict[str, Any], principal: Any = None) -> list[str]:
        body = await execute(kith, query, {"f": filter_}, principal=principal)
        assert "errors" not in body, body["errors"]
        return [n["name"] for n in body["data"]["organizations"]["nodes"]]

    ceo = {"contacts": {"some": {"title": {"eq": "CEO"}}}}
    nobody = {"contacts": {"none": {}}}
    assert await names(ceo) == ["Acme", "Globex"]
    assert await names(nobody) == ["Initech"]
    as_rep = await kith.auth.principal_for_user(rep["id"], "token")
    assert await names(ceo, as_rep) == ["Acme"]  # Bob, Globex's CEO, is not the rep's to see
    assert await names(nobody, as_rep) == ["Initech"]
    assert await names({"contacts": {"some": {"firstName": {"eq": "Bob"}}}}, as_rep) == []
    body = await execute(
        kith, '{ organizations(filter: {name: {eq: "Globex"}}) { nodes { contacts { firstName } } } }', principal=as_rep
    )
    assert body["data"]["organizations"]["nodes"] == [{"contacts": [{"firstName": "Cy"}]}]
    # a hidden field reads as empty there too
    await kith.db.execute(
        "UPDATE kith_role SET grants = {} WHERE name = 'own'",
        dumps(
            {
                "contact": {"actions": ["read"], "scope": "own", "hidden": ["title"]},
                "organization": {"actions": ["read"], "scope": "all"},
            }
        ),
    )
    assert await names(ceo, await kith.auth.principal_for_user(rep["id"], "token")) == []
    bad = await execute(kith, query, {"f": {"contacts": {}}})
    assert bad["errors"][0]["extensions"]["errors"][0]["field"] == "filter.contacts"
