"""Dashboards: stored, listed and changed over GraphQL; the page and its assets served by Kith.

What the page draws, in a real browser, is tests/test_dashboards_browser.py.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path
from typing import Any

from kith.core.dashboards import CHART_TYPES, DashboardDefinition, DashboardTile, list_dashboards, save_dashboard
from kith.core.demo import load_demo
from kith.core.reports import run_saved_report, save_report
from kith.core.security.permissions import permissions_for
from kith.core.web.dashboards import STATIC
from kith.sdk.testing import GraphQLClient, make_user, web_client

ROOT = Path(__file__).parent.parent
SAVE = """mutation Save($input: DashboardInput!, $id: ID) {
  saveDashboard(input: $input, id: $id) {
    dashboard { id name ownerId tiles { reportId chart title width } }
    errors { field code message }
  }
}"""
DELETE = "mutation($id: ID!) { deleteDashboard(id: $id) { dashboard { id } errors { field code message } } }"
READ = "query($id: ID!) { dashboard(id: $id) { name tiles { reportId chart title } } }"


async def reports(kith: Any) -> tuple[int, int]:
    """Two saved reports: contacts by lifecycle stage, and the count of contacts."""
    stages = await save_report(kith, "Contacts by stage", {"entity": "contact", "groupBy": ["lifecycleStage"]})
    total = await save_report(kith, "Contacts", {"entity": "contact"})
    return stages.id, total.id


async def user(kith: Any, email: str, *roles: str) -> GraphQLClient:
    made = await make_user(kith, email=email, name=email.split("@")[0])
    for role in roles:
        await kith.auth.grant_role(made["id"], role)
    return await GraphQLClient.as_user(kith, made["id"])


async def test_a_dashboard_is_saved_read_and_listed_over_graphql(kith: Any) -> None:
    stages, total = await reports(kith)
    ann = await user(kith, "ann@example.com", "sales_rep")
    tiles = [
        {"reportId": str(stages), "chart": "PIE", "width": 2},
        {"reportId": str(total), "chart": "NUMBER", "title": "  All contacts ", "width": 1},
    ]
    saved = (await ann.query(SAVE, input={"name": "Pipeline", "tiles": tiles}))["saveDashboard"]
    assert saved["errors"] == []
    dashboard = saved["dashboard"]
    assert dashboard["ownerId"] == str(ann.principal.user_id)
    assert dashboard["tiles"] == [
        {"reportId": str(stages), "chart": "PIE", "title": "Contacts by stage", "width": 2},  # the report's name
        {"reportId": str(total), "chart": "NUMBER", "title": "All contacts", "width": 1},
    ]
    other = await user(kith, "bob@example.com", "sales_rep")
    assert (await other.query(READ, id=dashboard["id"]))["dashboard"] == {
        "name": "Pipeline",
        "tiles": [
            {"reportId": str(stages), "chart": "PIE", "title": "Contacts by stage"},
            {"reportId": str(total), "chart": "NUMBER", "title": "All contacts"},
        ],
    }
    await save_dashboard(kith, DashboardDefinition(name="Another", tiles=[DashboardTile(report=total, chart="table")]))
    listed = await other.query("{ dashboards { name tiles { chart } } }")
    assert listed["dashboards"] == [
        {"name": "Another", "tiles": [{"chart": "TABLE"}]},
        {"name": "Pipeline", "tiles": [{"chart": "PIE"}, {"chart": "NUMBER"}]},
    ]
    assert (await other.query(READ, id="999"))["dashboard"] is None


async def test_bad_dashboards_are_refused_naming_each_field_and_nothing_is_written(kith: Any) -> None:
    stages, _total = await reports(kith)
    gql = GraphQLClient(kith)
    tiles = [
        {"reportId": str(stages), "chart": "BAR", "width": 5},
        {"reportId": "4040", "chart": "LINE"},
        {"reportId": str(stages), "chart": "FUNNEL", "title": "x" * 201},
    ]
    refused = (await gql.query(SAVE, input={"name": "Fine", "tiles": tiles}))["saveDashboard"]
    assert refused["dashboard"] is None
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [
        ("tiles[0].width", "invalid"),
        ("tiles[2].title", "invalid"),
    ]
    unknown = (await gql.query(SAVE, input={"name": "Fine", "tiles": tiles[1:2]}))["saveDashboard"]
    assert unknown["errors"] == [
        {"field": "tiles[0].report", "code": "not_found", "message": "there is no saved report 4040"}
    ]
    blank = (await gql.query(SAVE, input={"name": "   ", "tiles": []}))["saveDashboard"]
    assert [(e["field"], e["code"]) for e in blank["errors"]] == [("name", "invalid")]
    too_many = [{"reportId": str(stages), "chart": "TABLE"}] * 25
    crowded = (await gql.query(SAVE, input={"name": "Crowded", "tiles": too_many}))["saveDashboard"]
    assert [(e["field"], e["code"]) for e in crowded["errors"]] == [("tiles", "invalid")]
    missing = (await gql.query(SAVE, id="77", input={"name": "Gone", "tiles": []}))["saveDashboard"]
    assert missing["errors"] == [{"field": "id", "code": "not_found", "message": "dashboard 77 does not exist"}]
    assert await list_dashboards(kith) == []


async def test_only_the_owner_or_an_admin_changes_or_deletes_a_dashboard(kith: Any) -> None:
    stages, total = await reports(kith)
    ann = await user(kith, "ann@example.com", "sales_rep")
    bob = await user(kith, "bob@example.com", "sales_rep")
    boss = await user(kith, "boss@example.com", "admin")
    made = await ann.query(SAVE, input={"name": "Ann's", "tiles": [{"reportId": str(stages), "chart": "BAR"}]})
    dashboard = made["saveDashboard"]["dashboard"]["id"]

    change = {"name": "Bob's now", "tiles": []}
    refused = (await bob.query(SAVE, id=dashboard, input=change))["saveDashboard"]
    assert refused["errors"] == [
        {
            "field": None,
            "code": "forbidden",
            "message": f"dashboard {dashboard} is not yours: only its owner or an admin may change it",
        }
    ]
    assert (await bob.query(DELETE, id=dashboard))["deleteDashboard"]["errors"][0]["code"] == "forbidden"
    assert (await bob.query(READ, id=dashboard))["dashboard"]["name"] == "Ann's"

    better = {"name": "Ann's, better", "tiles": [{"reportId": str(total), "chart": "NUMBER"}]}
    renamed = await ann.query(SAVE, id=dashboard, input=better)
    assert renamed["saveDashboard"]["dashboard"]["name"] == "Ann's, better"
    assert renamed["saveDashboard"]["dashboard"]["ownerId"] == str(ann.principal.user_id)
    deleted = await boss.query(DELETE, id=dashboard)
    assert deleted["deleteDashboard"] == {"dashboard": {"id": dashboard}, "errors": []}
    assert (await ann.query(READ, id=dashboard))["dashboard"] is None
    assert {r.id for r in await _reports(kith)} == {stages, total}  # its reports stay


async def _reports(kith: Any) -> list[Any]:
    from kith.core.reports import list_reports

    return await list_reports(kith)


async def test_the_demo_has_a_dashboard_of_every_chart_type_that_a_sales_rep_can_run(kith: Any) -> None:
    await load_demo(kith, contacts=12)
    [dashboard] = await list_dashboards(kith)
    assert {tile.chart for tile in dashboard.tiles} == set(CHART_TYPES)
    rep_id = (await kith.db.execute("SELECT user_id FROM kith_user_role WHERE role = 'sales_rep' LIMIT 1"))[0]
    rep = await permissions_for(kith, await kith.auth.principal_for_user(rep_id["user_id"], "token"))
    for tile in dashboard.tiles:
        everyone = await run_saved_report(kith, tile.report, None)
        theirs = await run_saved_report(kith, tile.report, rep)
        assert everyone.rows and [c.name for c in theirs.columns] == [c.name for c in everyone.columns], tile.title


async def test_the_page_is_served_with_its_assets_and_holds_no_data(kith: Any) -> None:
    stages, _total = await reports(kith)
    saved = await save_dashboard(
        kith, DashboardDefinition(name="Secret plans", tiles=[DashboardTile(report=stages, chart="pie")])
    )
    async with web_client(kith) as client:
        for path in ("/dashboards", f"/dashboards/{saved.id}"):
            page = await client.get(path)  # no credentials: the page alone, which asks for them
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
            assert "Secret plans" not in page.text and 'id="sign-in-form"' in page.text
            policy = page.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
            for asset in ("chart.umd.min.js", "dashboards.js", "dashboards.css"):
                assert f'"/dashboards/static/{asset}"' in page.text
        chart_js = await client.get("/dashboards/static/chart.umd.min.js")
        assert chart_js.status_code == 200 and chart_js.text.startswith("/*!\n * Chart.js v4.")
        licence = await client.get("/dashboards/static/LICENSE.chartjs")
        assert licence.status_code == 200 and "MIT License" in licence.text
        asked = await client.post("/graphql", json={"query": "{ dashboards { name } }"})
        assert asked.status_code == 401 and "Secret plans" not in asked.text
        assert (await client.get("/dashboards/not-a-number")).status_code == 404


def test_the_page_and_its_assets_are_installed_with_kith() -> None:
    """Every file the page needs is package data (pyproject.toml), so a wheel carries it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = [*config["*"], *config["kith.core.web.dashboards"]]
    package = STATIC.parent
    files = [path.relative_to(package).as_posix() for path in package.rglob("*") if path.is_file()]
    needed = [f for f in files if not f.endswith((".py", ".pyc"))]
    assert {"page.html", "static/chart.umd.min.js", "static/LICENSE.chartjs"} <= set(needed)
    assert [f for f in needed if not any(fnmatch.fnmatch(f, p) for p in patterns)] == []
