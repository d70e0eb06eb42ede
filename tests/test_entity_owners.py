"""An entity names the user relation that makes a record someone's own (``owners``).

A clinic's appointment belongs to its therapist: roles' ``own``/``team`` scopes, every
read path (lists, counts, look-ups, reverse lists) and the default owner on create follow
the declared field, with no shadow ``owner`` column.  Written as a plugin author would,
with ``kith.sdk`` only, on every engine.
"""

from __future__ import annotations

import re

import pytest
from piccolo.columns import ForeignKey, Varchar
from piccolo.table import Table

from kith.sdk import Contact, Entity, Grant, PluginError, RecordColumns, RoleDefinition, User, initial_migration
from kith.sdk.testing import GraphQLClient, make_contact, make_user, throwaway_plugin


class Session(RecordColumns, Table, tablename="owners_session"):
    title = Varchar(length=100)
    contact = ForeignKey(references=Contact, null=True, default=None)
    therapist = ForeignKey(references=User, null=True, default=None)


def clinic(**declaration):
    """A throwaway plugin declaring ``session`` with ``declaration`` and two roles."""

    def kith_entities():
        return [Entity("session", Session, reverse={"contact": "sessions"}, **declaration)]

    def kith_roles():
        def grants(scope: str) -> dict[str, Grant]:
            return {
                "session": Grant(actions=["read", "create", "update"], scope=scope),
                "contact": Grant(actions=["read"], scope="all"),
            }

        return [
            RoleDefinition(name="therapist", grants=grants("own")),
            RoleDefinition(name="head_therapist", grants=grants("team")),
        ]

    return throwaway_plugin(
        "clinic", kith_entities, kith_roles, tables=[Session], migrations=[initial_migration(Session)]
    )


async def _user(kith, email: str, role: str, team: int | None = None) -> dict:
    return await make_user(kith, email=email, team=team, roles=[role])


async def test_own_scope_follows_the_declared_therapist_field(make_kith):
    kith = await make_kith(plugins=[clinic(owners=("therapist",))], enable=["clinic"])
    east = await kith.records.create("team", {"name": "East"})
    theo = await _user(kith, "theo@example.com", "therapist", team=east["id"])
    tina = await _user(kith, "tina@example.com", "therapist", team=east["id"])
    west = await _user(kith, "west@example.com", "therapist")
    await _user(kith, "head@example.com", "head_therapist", team=east["id"])
    ann = await make_contact(kith, first_name="Ann")
    mine = await kith.records.create("session", {"title": "Theo 1", "therapist": theo["id"], "contact": ann["id"]})
    await kith.records.create("session", {"title": "Theo 2", "therapist": theo["id"], "contact": ann["id"]})
    hers = await kith.records.create("session", {"title": "Tina 1", "therapist": tina["id"], "contact": ann["id"]})
    await kith.records.create("session", {"title": "West 1", "therapist": west["id"], "contact": ann["id"]})
    await kith.records.create("session", {"title": "Nobody's", "contact": ann["id"]})

    query = """query($mine: ID!, $hers: ID!, $ann: ID!) {
      sessions { totalCount nodes { title therapistId } }
      mine: session(id: $mine) { title }
      hers: session(id: $hers) { title }
      contact(id: $ann) { sessions { title } }
    }"""
    ids = {"mine": str(mine["id"]), "hers": str(hers["id"]), "ann": str(ann["id"])}
    as_theo = await (await GraphQLClient.as_user(kith, "theo@example.com")).query(query, **ids)
    assert as_theo["sessions"] == {
        "totalCount": 2,
        "nodes": [
            {"title": "Theo 1", "therapistId": str(theo["id"])},
            {"title": "Theo 2", "therapistId": str(theo["id"])},
        ],
    }
    assert as_theo["mine"] == {"title": "Theo 1"} and as_theo["hers"] is None  # not found, like a missing one
    assert sorted(s["title"] for s in as_theo["contact"]["sessions"]) == ["Theo 1", "Theo 2"]

    # "team": the sessions of the therapists in the head's team, and no one else's
    as_head = await (await GraphQLClient.as_user(kith, "head@example.com")).query(query, **ids)
    assert [n["title"] for n in as_head["sessions"]["nodes"]] == ["Theo 1", "Theo 2", "Tina 1"]
    assert as_head["sessions"]["totalCount"] == 3 and as_head["hers"] == {"title": "Tina 1"}
    assert len(as_head["contact"]["sessions"]) == 3

    # updating someone else's session is refused as not found
    theo_client = await GraphQLClient.as_user(kith, "theo@example.com")
    refused = await theo_client.query(
        'mutation($id: ID!) { updateSession(id: $id, input: {title: "Mine now"}) { errors { code } } }',
        id=str(hers["id"]),
    )
    assert refused["updateSession"]["errors"] == [{"code": "not_found"}]
    assert (await kith.records.get("session", hers["id"]))["title"] == "Tina 1"


async def test_a_session_created_by_a_therapist_is_theirs(make_kith):
    kith = await make_kith(plugins=[clinic(owners=("therapist",))], enable=["clinic"])
    theo = await _user(kith, "theo@example.com", "therapist")
    as_theo = await GraphQLClient.as_user(kith, "theo@example.com")
    created = await as_theo.query(
        'mutation { createSession(input: {title: "First visit"}) { session { id therapistId } } }'
    )
    record = created["createSession"]["session"]
    assert record["therapistId"] == str(theo["id"])
    assert (await kith.records.get("session", int(record["id"])))["therapist"] == theo["id"]
    listed = await as_theo.query("{ sessions { totalCount nodes { title } } }")
    assert listed["sessions"] == {"totalCount": 1, "nodes": [{"title": "First visit"}]}


async def test_without_owners_a_therapist_column_is_nobodys_own(make_kith):
    """The default is unchanged: only ``owner``/``assignee`` count, so an undeclared
    ``therapist`` makes nothing anyone's own (and is not filled on create)."""
    kith = await make_kith(plugins=[clinic()], enable=["clinic"])
    theo = await _user(kith, "theo@example.com", "therapist")
    await kith.records.create("session", {"title": "Theo 1", "therapist": theo["id"]})
    as_theo = await GraphQLClient.as_user(kith, "theo@example.com")
    assert (await as_theo.query("{ sessions { totalCount } }"))["sessions"] == {"totalCount": 0}
    # not filled in: the new session would be no one's, so outside the "own" scope
    refused = await as_theo.query('mutation { createSession(input: {title: "Unassigned"}) { errors { code } } }')
    assert refused["createSession"]["errors"] == [{"code": "not_found"}]
    everything = await GraphQLClient(kith).query("{ sessions { nodes { title therapistId } } }")
    assert everything["sessions"]["nodes"] == [{"title": "Theo 1", "therapistId": str(theo["id"])}]
    assert kith.entity("session").owner_fields == ()


@pytest.mark.parametrize(
    ("owners", "message"),
    [
        (("therapists",), "entity session: owners names 'therapists', but it is not a column of its table"),
        (("title",), "entity session: owners names 'title', but it is not a relation (a ForeignKey to User)"),
        (
            ("contact",),
            "entity session: owners names 'contact', but it points at contact, not at user (a ForeignKey to User)",
        ),
        ("therapist", "entity session: owners must be a tuple of column names, e.g. ('therapist',)"),
    ],
)
async def test_a_bad_owners_declaration_is_refused_with_its_reason(make_kith, owners, message):
    with pytest.raises(PluginError, match=re.escape(message)):
        await make_kith(plugins=[clinic(owners=owners)], enable=["clinic"])


def test_owners_and_owner_via_together_are_refused():
    with pytest.raises(ValueError, match=re.escape("entity session: declare owners or owner_via, not both")):
        Entity("session", Session, owners=("therapist",), owner_via="contact")


def test_the_default_owner_fields_are_owner_and_assignee():
    class Job(RecordColumns, Table, tablename="owners_job"):
        assignee = ForeignKey(references=User, null=True, default=None)
        owner = ForeignKey(references=User, null=True, default=None)

    class Chore(RecordColumns, Table, tablename="owners_chore"):
        assignee = ForeignKey(references=User, null=True, default=None)

    job, chore = Entity("job", Job), Entity("chore", Chore)
    assert (job.owner_fields, job.default_owner) == (("owner", "assignee"), "owner")
    assert (chore.owner_fields, chore.default_owner) == (("assignee",), None)  # an assignee is never implied
    declared = Entity("job", Job, owners=("assignee", "owner"))
    assert (declared.owner_fields, declared.default_owner) == (("assignee", "owner"), "assignee")
