"""Bad input is answered, never a 500 or a traceback: what a client sees (status, the
message naming the field or the operation, nothing stored) and what the log gets (one
INFO line per client error; ERROR with a traceback only for the server's own faults),
on both engines."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from kith.core.settings import load_settings
from kith.core.web.app import create_app
from kith.sdk import ValidationFailed
from kith.sdk.testing import make_contact

DOC = "query A { me { email } } query B { contacts { totalCount } }"

# (request keyword arguments, status, error code, words the message must contain)
MALFORMED = [
    ({"json": {"query": DOC, "operationName": 5}}, 400, "BAD_REQUEST", ["'operationName' must be a string", "number"]),
    ({"json": {"query": DOC, "operationName": {"a": 1}}}, 400, "BAD_REQUEST", ["'operationName'", "an object"]),
    ({"json": {"query": DOC, "operationName": ["A"]}}, 400, "BAD_REQUEST", ["'operationName'", "an array"]),
    ({"json": {"query": DOC, "operationName": True}}, 400, "BAD_REQUEST", ["'operationName'", "a boolean"]),
    ({"json": {"query": "{ me { email } }", "variables": [1]}}, 400, "BAD_REQUEST", ["'variables' must be an object"]),
    ({"json": {"query": "{ me { email } }", "variables": "{}"}}, 400, "BAD_REQUEST", ["'variables'", "a string"]),
    ({"json": {"query": "{ me { email } }", "extensions": 1}}, 400, "BAD_REQUEST", ["'extensions' must be an object"]),
    ({"json": {"query": 5}}, 400, "BAD_REQUEST", ["'query' must be a string"]),
    ({"json": {"query": ["{ me { email } }"]}}, 400, "BAD_REQUEST", ["'query' must be a string", "an array"]),
    ({"json": {"variables": {}}}, 400, "BAD_REQUEST", ["no 'query'"]),
    ({"json": {"query": "  "}}, 400, "BAD_REQUEST", ["'query' is empty"]),
    ({"json": [{"query": "{ me { email } }"}]}, 400, "BAD_REQUEST", ["must be a JSON object", "an array"]),
    ({"json": "{ me { email } }"}, 400, "BAD_REQUEST", ["must be a JSON object", "a string"]),
    ({"content": b"{not json"}, 400, "BAD_REQUEST", ["not JSON", "line 1, column 2"]),
    ({"content": b""}, 400, "BAD_REQUEST", ["not JSON"]),
    ({"content": b"\xff\xfe{}", "headers": {"content-type": "application/json"}}, 400, "BAD_REQUEST", ["not JSON"]),
    ({"content": b"[" * 100_000, "headers": {"content-type": "application/json"}}, 400, "BAD_REQUEST", ["not JSON"]),
    (
        {"content": b'{"query": "{ me { email } }", "variables": {"n": ' + b"9" * 5000 + b"}}"},
        400,
        "BAD_REQUEST",
        ["not JSON"],
    ),
    (
        {"content": b'{"query": "{ me { email } }"}', "headers": {"content-type": "text/plain"}},
        415,
        "BAD_REQUEST",
        ["unsupported Content-Type 'text/plain'", "application/json"],
    ),
    (
        {"content": b"query=%7B%7D", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        415,
        "BAD_REQUEST",
        ["application/x-www-form-urlencoded"],
    ),
    (
        {"content": b"{ me { email } }", "headers": {"content-type": "application/graphql"}},
        415,
        "BAD_REQUEST",
        ["application/graphql"],
    ),
]

# well-formed requests the GraphQL engine refuses: status 200, data null, the reason
REFUSED = [
    ({"query": DOC, "operationName": "C"}, "OPERATION_RESOLUTION_FAILURE", ["no operation 'C'", "'A', 'B'"]),
    ({"query": DOC}, "OPERATION_RESOLUTION_FAILURE", ["2 operations", "operationName"]),
    ({"query": "fragment F on Query { me { email } }"}, "OPERATION_RESOLUTION_FAILURE", ["no operation"]),
    ({"query": "{ me { email } }", "operationName": "Me"}, "OPERATION_RESOLUTION_FAILURE", ["no operation 'Me'"]),
    ({"query": "{ me { email "}, None, ["Syntax Error"]),
    ({"query": "query($n: Int!) { contacts(first: $n) { totalCount } }", "variables": {"n": "x"}}, None, ["$n"]),
    ({"query": "query($n: Int!) { contacts(first: $n) { totalCount } }"}, None, ["$n", "Int!"]),
    ({"query": "subscription { me { email } }"}, None, ["subscription"]),
]


@pytest.fixture
async def client(kith_database_url: str, admin_key: str) -> Any:
    app = create_app(load_settings(database_url=kith_database_url), run_worker=False)
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        yield client


def assert_one_info_line_each(caplog: pytest.LogCaptureFixture) -> None:
    """Client errors leave INFO lines without tracebacks, and nothing at WARNING or above."""
    ours = [r for r in caplog.records if r.name.startswith("kith.graphql")]
    assert ours, "the refusal was not logged"
    for record in ours:
        assert record.levelno == logging.INFO, record.getMessage()
        assert record.exc_info is None and "\n" not in record.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(("request_kwargs", "status", "code", "words"), MALFORMED)
async def test_a_malformed_request_gets_a_4xx_naming_the_problem(client, caplog, request_kwargs, status, code, words):
    caplog.set_level(logging.INFO)
    response = await client.post("/graphql", **request_kwargs)
    assert response.status_code == status, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == code
    for word in words:
        assert word in error["message"]
    assert "Traceback" not in response.text
    assert_one_info_line_each(caplog)


@pytest.mark.parametrize(("body", "code", "words"), REFUSED)
async def test_a_request_graphql_refuses_gets_200_with_the_reason(client, caplog, body, code, words):
    caplog.set_level(logging.INFO)
    response = await client.post("/graphql", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["data"] is None
    [error] = payload["errors"]
    for word in words:
        assert word in error["message"]
    if code is not None:
        assert error["extensions"]["code"] == code
    assert_one_info_line_each(caplog)


async def test_an_empty_operation_name_means_the_only_operation(client):
    response = await client.post("/graphql", json={"query": "{ me { email } }", "operationName": ""})
    assert response.json() == {"data": {"me": {"email": "ada@example.com"}}}


async def test_an_unknown_operation_name_without_credentials_is_still_answered(client):
    body = {"query": 'mutation A { login(email: "a@b.example", password: "x") { token } }', "operationName": "B"}
    response = await client.post("/graphql", json=body, headers={"Authorization": ""})
    assert response.status_code == 200
    assert "no operation 'B'" in response.json()["errors"][0]["message"]


async def test_operations_run_over_post_only(client, caplog):
    caplog.set_level(logging.INFO)
    for params in (
        {"query": "{ me { email } }"},
        {"query": "{ me { email } }", "variables": "nope"},
        {"variables": "{}"},
    ):
        response = await client.get("/graphql", params=params, headers={"accept": "application/json"})
        assert response.status_code == 405 and response.headers["allow"] == "POST"
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "METHOD_NOT_ALLOWED" and "sent with POST" in error["message"]
    other = await client.put("/graphql", json={"query": "{ me { email } }"})
    assert other.status_code == 405 and other.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert_one_info_line_each(caplog)
    page = await client.get("/graphql")  # a browser still gets GraphiQL in development
    assert page.status_code == 200 and "graphiql" in page.text.lower()


# -- NUL characters: refused the same way on both engines, nothing stored -------------


async def _contacts(client) -> int:
    """Stored contacts, asked over HTTP (the test client runs the app on its own loop)."""
    response = await client.post("/graphql", json={"query": "{ contacts { totalCount } }"})
    return int(response.json()["data"]["contacts"]["totalCount"])


NUL_CASES = [
    (
        "mutation($n: String) { createContact(input: {firstName: $n}) { contact { id } } }",
        {"n": "Ann\x00"},
        "$n",
    ),
    (
        'mutation { createContact(input: {firstName: "Ann\\u0000"}) { contact { id } } }',
        {},
        "input.firstName",
    ),
    (
        "mutation($i: ContactCreateInput!) { createContact(input: $i) { contact { id } } }",
        {"i": {"lastName": "Lee", "emails": ["a@example.com", "b\x00@example.com"]}},
        "$i.emails[1]",
    ),
    (
        'mutation { createContact(input: {lastName: "Lee", tags: ["ok", "n\\u0000"]}) { contact { id } } }',
        {},
        "input.tags[1]",
    ),
    ('{ contacts(search: "a\\u0000") { totalCount } }', {}, "search"),
    ('{ contacts(filter: {lastName: {eq: "a\\u0000"}}) { totalCount } }', {}, "filter.lastName.eq"),
    (
        "query($f: ContactFilter) { contacts(filter: $f) { totalCount } }",
        {"f": {"lastName": {"in": ["\x00"]}}},
        "$f.lastName.in[0]",
    ),
    ('mutation { login(email: "a\\u0000@example.com", password: "x") { token } }', {}, "email"),
    (
        "mutation($d: JSON!) { applyAutomationRule(definition: $d) { errors { message } } }",
        {"d": {"name": "r", "trigger": {"event": "contact.created"}, "actions": [{"add_tag": {"tag": "\x00"}}]}},
        "$d.actions[0].add_tag.tag",
    ),
    ('query($n: String = "\\u0000") { contacts(search: $n) { totalCount } }', {}, "$n"),
]


@pytest.mark.parametrize(("query", "variables", "field"), NUL_CASES)
async def test_a_nul_character_anywhere_in_graphql_is_refused_naming_the_field(client, caplog, query, variables, field):
    caplog.set_level(logging.INFO)
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200
    body = response.json()
    [error] = body["errors"]
    assert body["data"] is None
    assert error["message"].startswith(f"{field}: must not contain the NUL character")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["errors"][0]["field"].startswith(field)
    assert await _contacts(client) == 0
    assert_one_info_line_each(caplog)


async def test_a_nul_character_in_a_custom_field_value_is_refused(client):
    added = await client.post(
        "/graphql",
        json={
            "query": 'mutation { addCustomField(input: {entity: "contact", name: "nick_name", type: "text"}) '
            "{ errors { message } } }"
        },
    )
    assert added.json()["data"]["addCustomField"]["errors"] == []
    response = await client.post(
        "/graphql",
        json={
            "query": 'mutation($c: ContactCustomFieldsInput) { createContact(input: {lastName: "Lee", '
            "customFields: $c}) { contact { id } } }",
            "variables": {"c": {"nickName": "a\x00"}},
        },
    )
    assert response.json()["errors"][0]["message"].startswith("$c.nickName: must not contain the NUL character")
    assert await _contacts(client) == 0


async def test_the_record_service_refuses_nul_for_every_surface(kith):
    """The CLI, imports, automations and plugins write through the record service."""
    await kith.custom_fields.add("contact", "nick_name", "text")
    attempts = [
        ({"first_name": "Ann\x00"}, "firstName"),
        ({"last_name": "Lee", "emails": ["ann@example.com", "x\x00@example.com"]}, "emails"),
        ({"last_name": "Lee", "tags": ["a\x00"]}, "tags"),
        ({"last_name": "Lee", "custom": {"nick_name": "a\x00b"}}, "customFields.nickName"),
    ]
    for values, field in attempts:
        with pytest.raises(ValidationFailed) as caught:
            await kith.records.create("contact", values)
        assert [(e.field, e.code) for e in caught.value.errors] == [(field, "invalid")]
        assert "NUL character" in caught.value.errors[0].message
    assert (await kith.db.execute("SELECT COUNT(*) AS n FROM contact"))[0]["n"] == 0
    ann = await make_contact(kith, first_name="Ann")
    with pytest.raises(ValidationFailed) as caught:
        await kith.records.update("contact", ann["id"], {"title": "Boss\x00"})
    assert caught.value.errors[0].field == "title"
    assert (await kith.records.get("contact", ann["id"]))["title"] is None


async def test_the_query_service_refuses_nul_in_filters_and_search(kith):
    """Plugins and the CLI read through ``kith.query``: the same refusal on both engines."""
    from kith.core.records.query import ListRequest

    await make_contact(kith, first_name="Ann")
    contact = kith.entity("contact")
    for request, field in (
        (ListRequest(contact, {"lastName": {"eq": "x\x00"}}), "filter.lastName.eq"),
        (ListRequest(contact, {"or": [{"tags": {"contains": "\x00"}}]}), "filter.or[0].tags.contains"),
        (ListRequest(contact, search="An\x00"), "search"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            await kith.query.list(kith.db, request)
        assert [(e.field, e.code) for e in caught.value.errors] == [(field, "invalid")]
    with pytest.raises(ValidationFailed):
        await kith.query.count(kith.db, contact, {"firstName": {"startsWith": "\x00"}})


# -- a contact needs a name, an email or a phone ---------------------------------------


async def test_a_contact_with_no_name_email_or_phone_is_refused(gql, kith):
    created = await gql.query(
        'mutation { createContact(input: {title: "Buyer", firstName: "  "}) { contact { id } '
        "errors { field code message } } }"
    )
    [error] = created["createContact"]["errors"]
    assert created["createContact"]["contact"] is None
    assert error["code"] == "required"
    for name in ("firstName", "lastName", "emails", "phones"):
        assert name in error["message"]
    assert (await kith.db.execute("SELECT COUNT(*) AS n FROM contact"))[0]["n"] == 0

    ann = await kith.records.create("contact", {"first_name": "Ann", "phones": ["+14155550123"]})
    # clearing one of two is fine; clearing the last one is not
    await kith.records.update("contact", ann["id"], {"first_name": None})
    cleared = await gql.query(
        f'mutation {{ updateContact(id: "{ann["id"]}", input: {{phones: []}}) {{ errors {{ code message }} }} }}'
    )
    assert cleared["updateContact"]["errors"][0]["code"] == "required"
    assert (await kith.records.get("contact", ann["id"]))["phones"] == ["+14155550123"]
    # an update that touches none of them is not refused
    await kith.records.update("contact", ann["id"], {"title": "CEO"})


async def test_erasure_still_empties_a_contact(kith):
    from kith.core.privacy import service

    ann = await make_contact(kith, first_name="Ann")
    await service.erase_person(kith, ann["id"])
    erased = await kith.records.get("contact", ann["id"])
    assert (erased["first_name"], erased["last_name"], erased["emails"]) == (None, None, [])


# -- production: no schema hints; logging by kind ---------------------------------------


HINTED = [
    "{ contacts { nodes { firstNam } } }",
    "{ contacts(filtr: {}) { totalCount } }",
    "{ contacts(orderBy: [{firstName: ASCC}]) { totalCount } }",
    "query($f: ContactFiltr) { contacts(filter: $f) { totalCount } }",
]


@pytest.mark.parametrize("mode", ["development", "production"])
async def test_schema_hints_only_in_development(kith_database_url, admin_key, mode):
    app = create_app(load_settings(database_url=kith_database_url, mode=mode), run_worker=False)
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        for query in [*HINTED, None]:
            body = (
                {"query": query}
                if query
                else {
                    "query": "query($f: ContactFilter) { contacts(filter: $f) { totalCount } }",
                    "variables": {"f": {"firstNam": {"eq": "x"}}},
                }
            )
            message = (await client.post("/graphql", json=body)).json()["errors"][0]["message"]
            assert ("Did you mean" in message) == (mode == "development"), message


@pytest.mark.parametrize("mode", ["development", "production"])
async def test_internal_errors_are_logged_with_a_traceback_and_client_errors_are_not(
    kith_database_url, admin_key, caplog, monkeypatch, mode
):
    caplog.set_level(logging.INFO)
    app = create_app(load_settings(database_url=kith_database_url, mode=mode), run_worker=False)
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        for query in ['{ contacts(after: "forged") { totalCount } }', '{ contact(id: "1") { nope } }']:
            await client.post("/graphql", json={"query": query})
        await client.post(
            "/graphql", json={"query": 'mutation { deleteContact(id: "999") { errors { message } } }'}
        )  # not found: a payload error, nothing to log
        assert_one_info_line_each(caplog)
        caplog.clear()

        async def explode(*args: Any, **kwargs: Any) -> int:
            raise RuntimeError("database password is hunter2")

        monkeypatch.setattr(app.state.kith.query, "count", explode)
        # the general executor's count: the compiled path would not call it
        monkeypatch.setattr(app.state.kith.settings, "compiled_reads", False)
        response = await client.post("/graphql", json={"query": "{ contacts { totalCount } }"})
    message = response.json()["errors"][0]["message"]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "hunter2" in str(failures[0].exc_info[1])
    if mode == "production":
        assert message.startswith("Unexpected error (ref ") and "hunter2" not in response.text
        assert message.removeprefix("Unexpected error (ref ").removesuffix(").") in failures[0].getMessage()
    else:
        assert "hunter2" in message


# -- every ID is a record id ------------------------------------------------------------

NOT_IDS = ['"abc"', '""', '"-1"', '"0"', '"1.5"', '" 1"', '"99999999999999999999"', "99999999999999999999"]

ID_FIELDS = [
    ("query", "contact(id: {v}) {{ id }}", "id"),
    ("query", "customerView(contactId: {v}) {{ contact {{ id }} }}", "contactId"),
    ("query", "consents(contactId: {v}) {{ purpose }}", "contactId"),
    ("query", 'auditEntries(entity: "contact", recordId: {v}) {{ action }}', "recordId"),
    ("query", "contacts(filter: {{id: {{in: [{v}]}}}}) {{ totalCount }}", "filter.id.in[0]"),
    ("mutation", 'updateContact(id: {v}, input: {{title: "x"}}) {{ errors {{ code }} }}', "id"),
    ("mutation", "deleteContact(id: {v}) {{ errors {{ code }} }}", "id"),
    (
        "mutation",
        'createContact(input: {{lastName: "Lee", organizationId: {v}}}) {{ errors {{ code }} }}',
        "input.organizationId",
    ),
    ("mutation", "exportPersonalData(contactId: {v}) {{ errors {{ code }} }}", "contactId"),
    ("mutation", "erasePersonalData(contactId: {v}) {{ errors {{ code }} }}", "contactId"),
    ("mutation", "retryAutomationJob(id: {v}) {{ ok }}", "id"),
]


@pytest.mark.parametrize(("operation", "field", "where"), ID_FIELDS)
async def test_an_id_that_is_no_record_id_is_refused_naming_the_argument(gql, caplog, operation, field, where):
    caplog.set_level(logging.INFO)
    for value in NOT_IDS:
        body = await gql.execute(f"{operation} {{ {field.format(v=value)} }}")
        assert body["data"] is None, value
        [error] = body["errors"]
        assert error["message"].startswith(f"{where}: ") and "is not a record id" in error["message"], error
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert_one_info_line_each(caplog)


async def test_an_id_variable_is_checked_along_its_type(gql):
    query = (
        "query($ids: [ID!], $one: ID!) { contacts(filter: {id: {in: $ids}}) { totalCount } contact(id: $one) { id } }"
    )
    body = await gql.execute(query, {"ids": ["1", "x"], "one": "2"})
    assert (
        body["errors"][0]["message"] == "$ids[1]: 'x' is not a record id (a whole number from 1 to 9223372036854775807)"
    )
    body = await gql.execute(
        "mutation($i: ContactCreateInput!) { createContact(input: $i) { errors { code } } }",
        {"i": {"lastName": "Lee", "organizationId": 2**64}},
    )
    assert body["errors"][0]["message"].startswith("$i.organizationId: 18446744073709551616 is not a record id")
    ok = await gql.execute(query, {"ids": ["1", 2], "one": 3})
    assert ok == {"data": {"contacts": {"totalCount": 0}, "contact": None}}


# -- values the database would refuse: refused first, naming the field --------------------


async def test_a_taken_unique_value_is_refused_naming_the_field(gql, caplog):
    caplog.set_level(logging.INFO)
    create = "mutation($n: String!) { createTag(input: {name: $n}) { tag { id } errors { field code message } } }"
    first = await gql.query(create, n="vip")
    second = await gql.query(create, n="vip")
    assert second["createTag"] == {
        "tag": None,
        "errors": [{"field": "name", "code": "taken", "message": "another tag has this name already"}],
    }
    other = await gql.query(create, n="partner")
    tag_id = other["createTag"]["tag"]["id"]
    renamed = await gql.query(
        'mutation($id: ID!) { updateTag(id: $id, input: {name: "vip"}) { errors { field code } } }', id=tag_id
    )
    assert renamed["updateTag"]["errors"] == [{"field": "name", "code": "taken"}]
    same = await gql.query(
        'mutation($id: ID!) { updateTag(id: $id, input: {name: "partner"}) { errors { code } } }', id=tag_id
    )
    assert same["updateTag"]["errors"] == []  # its own value is not someone else's
    await gql.query(f'mutation {{ deleteTag(id: "{first["createTag"]["tag"]["id"]}") {{ errors {{ code }} }} }}')
    again = await gql.query(create, n="vip")
    assert "deleted: restore it" in again["createTag"]["errors"][0]["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_empty_value_for_a_field_that_cannot_be_empty_is_refused(gql, kith):
    ann = await make_contact(kith, first_name="Ann")
    changed = await gql.query(
        f'mutation {{ updateContact(id: "{ann["id"]}", input: {{lifecycleStage: ""}}) {{ errors {{ field code }} }} }}'
    )
    assert changed["updateContact"]["errors"] == [{"field": "lifecycleStage", "code": "required"}]
    assert (await kith.records.get("contact", ann["id"]))["lifecycle_stage"] == "lead"
    with pytest.raises(ValidationFailed) as caught:
        await kith.records.create("contact", {"first_name": "Bob", "lifecycle_stage": None})
    assert [(e.field, e.code) for e in caught.value.errors] == [("lifecycleStage", "required")]
