"""The public tracking routes: ``/marketing/o/<token>.gif`` (the open pixel) and
``/marketing/c/<token>`` (a click, redirected to the link's URL).

The pixel is always a 200 with the image, so a mail program shows nothing broken, but
a bad token records nothing.  A click's target is inside the signed token: a forged or
altered token gets 404 and goes nowhere, so the route cannot be used as an open
redirect.  Both answer without caching, so each open reaches us.
"""

from __future__ import annotations

import base64
from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from kith.plugins.marketing.consent.pages import page
from kith.plugins.marketing.engagement import links, record
from kith.sdk import context_from

#: a transparent 1x1 GIF
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")
_NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}


def _client(request: Request[Any, Any, Any]) -> tuple[str | None, str | None]:
    return request.headers.get("user-agent"), request.client.host if request.client else None


@get("/marketing/o/{token:str}")
async def open_pixel(request: Request[Any, Any, Any]) -> Response[bytes]:
    context = context_from(request)
    delivery = links.read_open(context, str(request.path_params["token"]))
    if delivery is not None:
        await record.record_open(context, delivery, *_client(request))
    return Response(PIXEL, media_type="image/gif", headers=_NO_CACHE)


@get("/marketing/c/{token:str}")
async def click_redirect(request: Request[Any, Any, Any]) -> Response[Any]:
    context = context_from(request)
    found = links.read_click(context, str(request.path_params["token"]))
    if found is None:
        return page("Link", "This link is not valid. If you copied it from a mail, check that all of it was copied.",
                    status=404)  # fmt: skip
    delivery, url = found
    await record.record_click(context, delivery, url, *_client(request))
    return Redirect(path=url, status_code=302, headers={**_NO_CACHE, "Referrer-Policy": "no-referrer"})


ROUTES = [open_pixel, click_redirect]
