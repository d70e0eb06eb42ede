"""The dashboards page in a real headless Chromium, over the demo's data and dashboard.

Each test loads the demo (``load_demo``: sales reps whose role reads only their own
contacts, organizations and activities, and the demo dashboard of seven tiles: number,
line, bar, pie, funnel and table), serves Kith on a free port and drives the page as a
person would: sign in through its form, wait for the tiles, read what they show.
Every figure on the page is compared with the saved report run as that person
(``run_saved_report`` with their permissions, date range and filter), and the charts'
screenshots must hold the drawn colours: a blank canvas fails.

One browser serves the whole module (``tests/browser.py``: Debian's chromium and
chromium-driver; missing, these tests fail under CI=true and are skipped elsewhere,
saying so).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, chromium, drawn_pixels, inked_share, serving

from kith.core.dashboards import get_dashboard, list_dashboards
from kith.core.demo import ensure_demo_admin, load_demo
from kith.core.reports import delete_report, run_saved_report
from kith.core.security.permissions import Permissions, permissions_for
from kith.core.security.roles import BUILTIN_ROLES

PASSWORD = "a-rep-password-1"
BLUE = (0x00, 0x72, 0xB2)  # the first colour of the page's palette: every chart's first series
PALETTE = [(0x00, 0x72, 0xB2), (0xE6, 0x9F, 0x00), (0x00, 0x9E, 0x73), (0xD5, 0x5E, 0x00), (0xCC, 0x79, 0xA7)]
CHARTS = ("bar", "line", "pie", "funnel")  # drawn on a canvas; number and table tiles are HTML
READY = "document.body.dataset.state === 'ready'"
FIGURES = """
return [...document.querySelectorAll('#tiles .tile')].map((tile) => {
  const canvas = tile.querySelector('canvas');
  const chart = canvas ? Chart.getChart(canvas) : null;
  const number = tile.querySelector('.number data');
  return {
    report: tile.dataset.report,
    title: tile.querySelector('h2').innerText,
    chart: tile.dataset.chart,
    state: tile.dataset.state,
    number: number ? number.value : null,
    text: tile.innerText,
    table: [...tile.querySelectorAll('tbody tr')].map((tr) => [...tr.cells].map((td) => td.dataset.value ?? null)),
    series: chart ? chart.data.datasets.map((set) => set.data) : null,
  };
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as started:
        yield started


@dataclass
class Demo:
    kith: Any
    url: str
    dashboard: int
    admin: tuple[str, str]
    rep: dict[str, Any]  # a demo sales rep, with PASSWORD


@pytest.fixture
async def demo(kith: Any) -> AsyncIterator[Demo]:
    await load_demo(kith, contacts=40)
    email, password, _key = await ensure_demo_admin(kith)
    [dashboard] = await list_dashboards(kith)
    rep = await kith.records.create("user", {"name": "Rita Rep", "email": "rita@example.com"})
    await kith.auth.set_password(rep["id"], PASSWORD)
    await kith.auth.grant_role(rep["id"], "sales_rep")
    # a quarter of the demo's contacts become hers, with the activities on them
    contacts = await kith.db.execute("SELECT id FROM contact ORDER BY id")
    for contact in contacts[::4]:
        await kith.records.update("contact", contact["id"], {"owner": rep["id"]})
        about = "SELECT id FROM activity WHERE subject_type = 'contact' AND subject_id = {}"
        for activity in await kith.db.execute(about, contact["id"]):
            await kith.records.update("activity", activity["id"], {"owner": rep["id"]})
    async with serving(kith) as url:
        yield Demo(kith, url, dashboard.id, (email, password), rep)


async def sign_in(browser: Browser, demo: Demo, email: str, password: str) -> None:
    await browser.open(f"{demo.url}/dashboards/{demo.dashboard}")
    await browser.wait_for("document.body.dataset.state === 'signed-out'", "the sign-in form")
    await browser.fill("sign-in-email", email)
    await browser.fill("sign-in-password", password)
    await browser.click("#sign-in-form button[type=submit]")
    await browser.wait_for(READY, "every tile drawn")


async def permissions_of(kith: Any, user_id: int) -> Permissions:
    return await permissions_for(kith, await kith.auth.principal_for_user(user_id, "token"))


OWNED = {
    "contact": "SELECT COUNT(*) AS n FROM contact WHERE owner = {} AND deleted_at IS NULL",
    # an activity is read with the record it is about: hers, on contacts of hers
    "activity": "SELECT COUNT(*) AS n FROM activity WHERE (owner = {} OR assignee = {}) AND deleted_at IS NULL"
    " AND subject_type = 'contact' AND subject_id IN (SELECT id FROM contact WHERE owner = {} AND deleted_at IS NULL)",
}


async def owned(demo: Demo, entity: str) -> int:
    """How many live ``entity`` records the rep may read, counted by hand."""
    sql = OWNED[entity]
    return int((await demo.kith.db.execute(sql, *[demo.rep["id"]] * sql.count("{}")))[0]["n"])


def shown(value: Any) -> str | None:
    """A figure as the page keeps it in ``data-value`` (JavaScript's ``String(value)``)."""
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


async def expected(demo: Demo, permissions: Permissions | None, **applied: Any) -> list[dict[str, Any]]:
    """What each tile must show: its saved report run as the viewer."""
    dashboard = await get_dashboard(demo.kith, demo.dashboard)
    out = []
    for tile in dashboard.tiles:
        result = await run_saved_report(demo.kith, tile.report, permissions, **applied)
        measures = [c.name for c in result.columns if c.kind == "measure"]
        values = [row[measures[0]] for row in result.rows]
        out.append(
            {
                "report": str(tile.report),
                "chart": tile.chart,
                "title": tile.title,
                "number": shown(values[0]) if tile.chart == "number" and values else None,
                "table": [[shown(row[c.name]) for c in result.columns] for row in result.rows],
                "first": sorted(values, reverse=True) if tile.chart == "funnel" else values,
            }
        )
    return out


async def check_figures(browser: Browser, demo: Demo, permissions: Permissions | None, **applied: Any) -> list[Any]:
    """Every tile drawn, showing its report's figures for this viewer; returns them."""
    figures = await browser.script(FIGURES)
    wanted = await expected(demo, permissions, **applied)
    assert [(f["report"], f["title"], f["chart"], f["state"]) for f in figures] == [
        (w["report"], w["title"], w["chart"], "ready") for w in wanted
    ]
    for figure, want in zip(figures, wanted, strict=True):
        if want["chart"] == "number":
            assert figure["number"] == want["number"], figure
        else:
            assert figure["table"] == want["table"], figure  # the table tile, or a chart's figures as a table
        if not want["table"]:
            assert figure["series"] is None and "No figures for this range." in figure["text"], figure
        elif want["chart"] in CHARTS:
            assert figure["series"] is not None, f"the {want['chart']} tile has no chart"
            assert figure["series"][0] == [0 if v is None else v for v in want["first"]], figure
        else:
            assert figure["series"] is None, figure
    return figures


async def test_a_signed_out_visit_shows_the_sign_in_form_and_no_data(browser: Browser, demo: Demo) -> None:
    await browser.open(f"{demo.url}/dashboards/{demo.dashboard}")
    await browser.wait_for("document.body.dataset.state === 'signed-out'", "the sign-in form")
    seen = await browser.script(
        """return {
          signIn: !document.getElementById('sign-in').hidden,
          dashboard: !document.getElementById('dashboard').hidden,
          tiles: document.querySelectorAll('#tiles > *').length,
          canvases: document.querySelectorAll('canvas').length,
          asked: performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/graphql')).length,
          text: document.querySelector('main').innerText,
        };"""
    )
    assert seen["signIn"] and not seen["dashboard"]
    assert seen["tiles"] == 0 and seen["canvases"] == 0 and seen["asked"] == 0  # nothing was even asked for
    assert "Sign in" in seen["text"] and "Customers and activity" not in seen["text"]

    await browser.fill("sign-in-email", demo.admin[0])
    await browser.fill("sign-in-password", "not-the-password")
    await browser.click("#sign-in-form button[type=submit]")
    await browser.wait_for("!document.getElementById('sign-in-error').hidden", "the sign-in error")
    refused = await browser.script(
        "return [document.getElementById('sign-in-error').innerText, document.querySelectorAll('.tile').length];"
    )
    assert refused[0] == "Email or password is wrong." and refused[1] == 0


async def test_every_chart_is_drawn_with_the_figures_of_its_report(
    browser: Browser, demo: Demo, tmp_path: Path
) -> None:
    await sign_in(browser, demo, *demo.admin)
    figures = await check_figures(browser, demo, None)
    assert {f["chart"] for f in figures} == {"number", "line", "bar", "pie", "funnel", "table"}
    await browser.save_screenshot(tmp_path / "dashboard.png")  # kept with the test's files, for a look

    for index, figure in enumerate(figures):
        if figure["chart"] not in CHARTS:
            continue
        image = await browser.element_png(f"#tiles .tile:nth-child({index + 1}) canvas")
        assert image.width > 200 and image.height > 200, figure["chart"]
        assert inked_share(image) > 0.02, f"the {figure['chart']} chart's canvas is blank"
        if figure["chart"] == "pie":
            colours = [c for c in PALETTE if drawn_pixels(image, c, tolerance=12) > 300]
            assert len(colours) >= 3, f"the pie shows {len(colours)} of its slices' colours"
        else:
            assert drawn_pixels(image, BLUE, tolerance=12) > 300, f"the {figure['chart']} chart has no drawn series"

    await browser.click(".breadcrumb a")
    await browser.wait_for(f"location.pathname === '/dashboards' && {READY}", "the list of dashboards")
    names = await browser.script(
        "return [...document.querySelectorAll('#dashboard-list strong')].map((e) => e.innerText);"
    )
    assert names == ["Customers and activity"]


async def test_a_user_whose_scope_is_own_sees_only_their_own_figures(browser: Browser, demo: Demo) -> None:
    [sales_rep] = [role for role in BUILTIN_ROLES if role.name == "sales_rep"]
    assert {sales_rep.grants[e].scope for e in ("contact", "activity", "organization")} == {"own"}
    await sign_in(browser, demo, "rita@example.com", PASSWORD)
    rita = await permissions_of(demo.kith, demo.rep["id"])
    figures = await check_figures(browser, demo, rita)

    numbers = {f["report"]: int(f["number"]) for f in figures if f["chart"] == "number"}
    everyone = {w["report"]: int(w["number"]) for w in await expected(demo, None) if w["chart"] == "number"}
    own_contacts, own_activities = [await owned(demo, entity) for entity in ("contact", "activity")]
    assert sorted(numbers.values()) == sorted([own_contacts, own_activities])
    assert 0 < own_contacts < 40 and all(numbers[r] < everyone[r] for r in numbers)

    # asking for someone else's figures gives her nothing more: none of theirs are hers
    other = str(
        (await demo.kith.db.execute("SELECT owner FROM contact WHERE owner <> {} LIMIT 1", demo.rep["id"]))[0]["owner"]
    )
    await browser.script(
        "document.getElementById('filter-owner').value = arguments[0];"
        "document.querySelector('#filters button[type=submit]').click();",
        other,
    )
    await browser.wait_for(f"location.search === '?owner={other}' && {READY}", "the tiles of another owner")
    figures = await check_figures(browser, demo, rita, filter={"ownerId": {"eq": other}})
    assert [f["number"] for f in figures if f["chart"] == "number"] == ["0", "0"]


async def test_the_date_range_and_the_owner_filter_apply_to_every_tile(browser: Browser, demo: Demo) -> None:
    await sign_in(browser, demo, *demo.admin)
    today = dt.date.today()
    first, last = today - dt.timedelta(days=60), today - dt.timedelta(days=20)
    await browser.script(
        "document.getElementById('filter-from').value = arguments[0];"
        "document.getElementById('filter-to').value = arguments[1];"
        "document.querySelector('#filters button[type=submit]').click();",
        first.isoformat(),
        last.isoformat(),
    )
    await browser.wait_for(f"location.search.includes('from={first}') && {READY}", "the tiles for the range")
    # the page asks for the range in the browser's time zone: from its first day's
    # midnight up to the midnight after its last day
    start, end = await browser.script(
        "const day = (text, plus) => { const [y, m, d] = text.split('-').map(Number);"
        " return new Date(y, m - 1, d + plus).toISOString(); };"
        "return [day(arguments[0], 0), day(arguments[1], 1)];",
        first.isoformat(),
        last.isoformat(),
    )
    span = {"date_from": dt.datetime.fromisoformat(start), "date_to": dt.datetime.fromisoformat(end)}
    ranged = await check_figures(browser, demo, None, **span)
    whole = {w["title"]: w for w in await expected(demo, None)}
    numbers = {f["title"]: f["number"] for f in ranged if f["chart"] == "number"}
    assert 0 < int(numbers["Activities"]) < int(whole["Activities"]["number"])
    assert numbers["Contacts"] == "0" and whole["Contacts"]["number"] == "40"  # every contact was made today
    [by_kind] = [f for f in ranged if f["title"] == "Activities by kind"]
    assert sum(by_kind["series"][0]) == int(numbers["Activities"])

    await browser.script("document.getElementById('filters-clear').click();")
    await browser.wait_for(f"location.search === '' && {READY}", "the tiles without a range")
    rep = str(demo.rep["id"])
    await browser.script(
        "document.getElementById('filter-owner').value = arguments[0];"
        "document.querySelector('#filters button[type=submit]').click();",
        rep,
    )
    await browser.wait_for(f"location.search === '?owner={rep}' && {READY}", "the tiles of one owner")
    await check_figures(browser, demo, None, filter={"ownerId": {"eq": rep}})
    status = await browser.script("return document.getElementById('dashboard-status').innerText;")
    assert status == "Figures owned by Rita Rep."


async def test_a_tile_whose_report_is_gone_says_so_and_the_others_are_drawn(browser: Browser, demo: Demo) -> None:
    dashboard = await get_dashboard(demo.kith, demo.dashboard)
    gone = dashboard.tiles[2]  # the line chart's report
    await delete_report(demo.kith, gone.report)
    await sign_in(browser, demo, *demo.admin)
    figures = await browser.script(FIGURES)
    assert [f["state"] for f in figures] == ["ready", "ready", "error", "ready", "ready", "ready", "ready"]
    assert figures[2]["text"].split() == [
        *gone.title.split(),
        *f"This tile could not be drawn: Report {gone.report} does not exist.".split(),
    ]
    assert figures[2]["series"] is None and figures[3]["series"]  # the bars after it are drawn
