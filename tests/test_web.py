"""GraphQL over HTTP: the server a client talks to, and live schema changes."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import AsyncTestClient

from kith.core.runtime import Kith
from kith.core.settings import load_settings
from kith.core.web.app import create_app


async def test_graphql_over_http(kith_database_url, admin_key):
    app = create_app(load_settings(database_url=kith_database_url))
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        created = await client.post(
            "/graphql",
            json={
                "query": 'mutation { createOrganization(input: {name: "Acme"}) { organization { id name } errors { field } } }'
            },
        )
        assert created.status_code == 200
        assert created.json() == {
            "data": {"createOrganization": {"organization": {"id": "1", "name": "Acme"}, "errors": []}}
        }
        listed = await client.post(
            "/graphql",
            json={
                "query": "query Q($n: Int!) { organizations(first: $n) { totalCount } }",
                "variables": {"n": 5},
            },
        )
        assert listed.json() == {"data": {"organizations": {"totalCount": 1}}}
        bad = await client.post("/graphql", content=b"{not json")
        assert bad.status_code == 400 and "not JSON" in bad.json()["errors"][0]["message"]
        page = await client.get("/graphql")
        assert page.status_code == 200 and "graphiql" in page.text.lower()
        assert (await client.get("/health")).json()["status"] == "ok"


async def test_a_field_added_elsewhere_is_served_without_restart(kith_database_url, admin_key):
    settings = load_settings(database_url=kith_database_url, schema_check_interval=0)
    app = create_app(settings)
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        before = await client.post("/graphql", json={"query": "{ contacts { nodes { customFields { tier } } } }"})
        assert "Cannot query field 'customFields'" in before.json()["errors"][0]["message"]
        admin = await Kith.open(load_settings(database_url=kith_database_url))  # e.g. `kith fields add`
        try:
            await admin.custom_fields.add("contact", "tier", "integer")
            await admin.records.create("contact", {"first_name": "Ann", "custom": {"tier": 4}})
        finally:
            await admin.close()
        after = await client.post(
            "/graphql",
            json={
                "query": "{ contacts(filter: {customFields: {tier: {gt: 3}}}) { nodes { firstName customFields { tier } } } }"
            },
        )
        assert after.json() == {"data": {"contacts": {"nodes": [{"firstName": "Ann", "customFields": {"tier": 4}}]}}}


async def test_production_mode_hides_graphiql_introspection_and_internal_errors(
    kith_database_url, admin_key, monkeypatch, caplog
):
    app = create_app(load_settings(database_url=kith_database_url, mode="production"))
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        assert (await client.get("/graphql")).status_code == 404
        introspection = await client.post("/graphql", json={"query": "{ __schema { types { name } } }"})
        assert "introspection has been disabled" in introspection.json()["errors"][0]["message"].lower()
        kith = app.state.kith

        async def explode(*args, **kwargs):
            raise RuntimeError("secret connection string leaked")

        monkeypatch.setattr(kith.query, "count", explode)
        monkeypatch.setattr(kith.schema.compiled, "answer", explode)  # the general executor takes over
        masked = await client.post("/graphql", json={"query": "{ contacts { totalCount } }"})
        message = masked.json()["errors"][0]["message"]
        assert message.startswith("Unexpected error (ref ") and "secret" not in masked.text
        reference = message.removeprefix("Unexpected error (ref ").removesuffix(").")
        assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)  # the log has the cause
        readable = await client.post("/graphql", json={"query": "{ contacts(first: 100000) { totalCount } }"})
        error = readable.json()["errors"][0]
        assert error["message"] == "first: must be between 0 and 100"
        assert error["extensions"]["errors"][0]["field"] == "first"


async def test_the_embedded_worker_runs_automations_inside_the_server(kith_database_url, admin_key):
    import asyncio

    settings = load_settings(database_url=kith_database_url, worker_poll_seconds=0.05)
    app = create_app(settings)
    rule = {
        "name": "tag-new",
        "enabled": True,
        "trigger": {"event": "contact.created"},
        "actions": [{"add_tag": {"tag": "new"}}],
    }
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {admin_key}"
        applied = await client.post(
            "/graphql",
            json={
                "query": "mutation($d: JSON!) { applyAutomationRule(definition: $d) { errors { message } } }",
                "variables": {"d": rule},
            },
        )
        assert applied.json()["data"]["applyAutomationRule"]["errors"] == []
        await client.post(
            "/graphql", json={"query": 'mutation { createContact(input: {firstName: "Ann"}) { contact { id } } }'}
        )
        for _ in range(100):
            body = (await client.post("/graphql", json={"query": "{ contacts { nodes { tags } } }"})).json()
            if body["data"]["contacts"]["nodes"][0]["tags"] == ["new"]:
                break
            await asyncio.sleep(0.05)
        assert body["data"]["contacts"]["nodes"][0]["tags"] == ["new"]


async def test_graphiql_is_served_by_kith_itself_and_says_how_to_sign_in(kith_database_url):
    """No network at run time: the page loads GraphiQL and React from Kith, and explains
    (and does) signing in."""
    app = create_app(load_settings(database_url=kith_database_url))
    async with AsyncTestClient(app) as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        scripts = re.findall(r'<script src="([^"]+)"', page.text) + re.findall(r'href="([^"]+\.css)"', page.text)
        assert scripts and all(src.startswith("/graphiql/static/") for src in scripts), scripts
        assert "Authorization: Bearer" in page.text and "login(email:" in page.text
        for src in scripts:
            asset = await client.get(src)
            assert asset.status_code == 200 and len(asset.content) > 5000, src


async def test_in_development_a_local_client_may_read_the_schema_without_signing_in(kith_database_url):
    """Editors and code generators on the developer's machine fetch the schema; anyone
    else, and everyone in production, still needs a credential."""
    introspect = {"query": "{ __schema { queryType { name } } }"}

    def from_address(app: Any, host: str) -> Any:
        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                scope = {**scope, "client": (host, 40000)}
            await app(scope, receive, send)

        return asgi

    development = create_app(load_settings(database_url=kith_database_url))
    async with AsyncTestClient(from_address(development, "127.0.0.1")) as client:
        local = await client.post("/graphql", json=introspect)
        assert local.status_code == 200 and local.json()["data"] == {"__schema": {"queryType": {"name": "Query"}}}
        data = await client.post(
            "/graphql", json={"query": "{ __schema { queryType { name } } contacts { totalCount } }"}
        )
        assert data.status_code == 401  # the schema only, not the data
    async with AsyncTestClient(from_address(development, "203.0.113.9")) as client:
        assert (await client.post("/graphql", json=introspect)).status_code == 401
    production = create_app(load_settings(database_url=kith_database_url, mode="production"))
    async with AsyncTestClient(from_address(production, "127.0.0.1")) as client:
        assert (await client.post("/graphql", json=introspect)).status_code == 401
