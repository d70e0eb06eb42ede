"""The knowledge base: full-text search on both engines, suggestions for a ticket, and the
public endpoint that shows only published articles."""

from __future__ import annotations

import pytest

from kith.sdk.testing import GraphQLClient, make_user, system_context, web_client

SEARCH = """query($text: String!) { searchArticles(text: $text) { title status } }"""
SUGGEST = """query($id: ID!) { suggestedArticles(ticketId: $id) { title } }"""


@pytest.fixture
async def service(make_kith):
    kith = await make_kith(enable=["service"])
    records = system_context(kith).records
    for title, body, status in (
        ("Resetting your password", "Open the sign-in page and choose 'forgot password'.", "published"),
        ("Printers and paper jams", "A jammed printer needs its tray opened.", "published"),
        ("Refund policy", "Refunds are paid within 14 days.", "draft"),
        ("Old printer drivers", "Printers from 2010 need old drivers.", "archived"),
    ):
        await records.create("kb_article", {"title": title, "body": body, "status": status})
    return kith


async def test_search_stems_words_ranks_and_shows_drafts_only_to_who_may_read_them(service):
    gql = GraphQLClient(service)
    found = (await gql.query(SEARCH, text="printer"))["searchArticles"]
    assert {a["title"] for a in found} == {"Printers and paper jams", "Old printer drivers"}  # "printers" stems
    assert (await gql.query(SEARCH, text="refunds paid"))["searchArticles"] == [
        {"title": "Refund policy", "status": "draft"}
    ]
    assert (await gql.query(SEARCH, text='"; DROP TABLE x; -- )(*'))["searchArticles"] == []  # words only
    records = system_context(service).records
    article = await records.first("kb_article", {"title": {"eq": "Refund policy"}})
    await records.update("kb_article", article["id"], {"body": "Money back within 30 days."})
    assert (await gql.query(SEARCH, text="refunds paid"))["searchArticles"] == []  # the index follows edits
    assert [a["title"] for a in (await gql.query(SEARCH, text="money"))["searchArticles"]] == ["Refund policy"]
    rep = await make_user(service, roles=["sales_rep"])
    as_rep = await GraphQLClient.as_user(service, rep["id"])
    refused = await as_rep.execute(SEARCH, {"text": "printer"})
    assert refused["errors"][0]["extensions"]["errors"][0]["code"] == "forbidden"


async def test_a_ticket_gets_published_articles_that_may_answer_it(service):
    records = system_context(service).records
    ticket = await records.create("ticket", {"subject": "My printer is jammed again"})
    await records.create("ticket_message", {"ticket": ticket["id"], "body": "paper everywhere", "direction": "inbound"})
    suggested = (await GraphQLClient(service).query(SUGGEST, id=str(ticket["id"])))["suggestedArticles"]
    assert [a["title"] for a in suggested] == ["Printers and paper jams"]  # not the archived one


async def test_the_public_endpoint_serves_only_published_articles(service):
    async with web_client(service) as client:
        listed = (await client.get("/kb/articles")).json()["articles"]
        assert {a["title"] for a in listed} == {"Resetting your password", "Printers and paper jams"}
        searched = (await client.get("/kb/articles", params={"q": "password"})).json()["articles"]
        assert [a["slug"] for a in searched] == ["resetting-your-password"]
        page = await client.get("/kb/articles/resetting-your-password")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "<h1>Resetting your password</h1>" in page.text and "&#39;forgot password&#39;" in page.text
        as_json = await client.get("/kb/articles/printers-and-paper-jams", headers={"Accept": "application/json"})
        assert as_json.json()["title"] == "Printers and paper jams"
        assert (await client.get("/kb/articles/refund-policy")).status_code == 404  # a draft
        assert (await client.get("/kb/articles", params={"q": "refund"})).json()["articles"] == []
