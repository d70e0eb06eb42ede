"""The dashboards page: ``/dashboards`` (the list) and ``/dashboards/{id}`` (one dashboard).

Both serve the same static page; its script signs the user in with the ``login``
mutation (the token stays in the tab's sessionStorage) and fetches everything through
``POST /graphql`` with that token, so the figures are exactly those the GraphQL API
gives the user.  The page itself holds no data, so serving it needs no credentials.
Chart.js is vendored beside the script (MIT, ``static/LICENSE.chartjs``): nothing is
fetched from another site.  The headers forbid anything but this origin's scripts,
styles and requests, and framing, so a token in sessionStorage has less to fear.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.response import Response
from litestar.static_files import create_static_files_router

HERE = Path(__file__).parent
PAGE = HERE / "page.html"
STATIC = HERE / "static"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _page() -> Response[str]:
    return Response(PAGE.read_text(), media_type="text/html", headers=HEADERS)


@get("/dashboards", include_in_schema=False)
async def dashboard_list_page() -> Response[str]:
    return _page()


@get("/dashboards/{dashboard_id:int}", include_in_schema=False)
async def dashboard_page() -> Response[str]:
    """The page; its script reads the dashboard's id from the path and asks for it as the viewer."""
    return _page()


dashboard_assets = create_static_files_router(
    path="/dashboards/static", directories=[STATIC], name="dashboard_assets", include_in_schema=False
)

DASHBOARD_ROUTES: list[HTTPRouteHandler | Router] = [dashboard_list_page, dashboard_page, dashboard_assets]
