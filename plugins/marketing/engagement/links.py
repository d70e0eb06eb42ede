"""The tracking links in a campaign mail: an open pixel and click redirects.

Each is a signed token (``consent.links.make_token``: the data, base64url, and
``context.sign`` of it for its purpose), so a link cannot be made up, and a click's
target URL is *inside* the signed token: the redirect goes only where the mail said,
and an altered token is refused (no open redirect).

Links are rewritten in the rendered HTML with a regular expression on the ``href`` of
``<a>`` tags rather than by parsing and re-serialising the document, which would be
slower and would change the author's markup.  Its limits, which a template does not
meet in practice: only quoted ``href`` values are seen (``href="…"``, ``href='…'``),
an ``<a`` tag with a ``>`` inside a quoted attribute before its ``href`` is not, and
links in the plain-text part are left as written.  Only ``http``/``https`` links are
tracked: ``mailto:``, ``tel:``, anchors and the mail's own unsubscribe and preference
links are left alone (a one-click unsubscribe must not pass through a redirect).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection
from typing import Any

from kith.plugins.marketing.consent.links import make_token, read_token
from kith.sdk import PluginContext

OPEN = "marketing.open"
CLICK = "marketing.click"
OPEN_PATH = "/marketing/o/"
CLICK_PATH = "/marketing/c/"

_HREF = re.compile(r"""(<a\b[^>]*?\shref\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE | re.DOTALL)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def open_url(context: PluginContext, delivery_id: int) -> str:
    return context.public_url(OPEN_PATH + make_token(context, OPEN, {"d": int(delivery_id)}) + ".gif")


def click_url(context: PluginContext, delivery_id: int, url: str) -> str:
    return context.public_url(CLICK_PATH + make_token(context, CLICK, {"d": int(delivery_id), "u": url}))


def read_open(context: PluginContext, token: str) -> int | None:
    """The delivery of an open token (``….gif``); None when forged or altered."""
    data = read_token(context, OPEN, token.removesuffix(".gif"))
    return data["d"] if data is not None and isinstance(data.get("d"), int) else None


def read_click(context: PluginContext, token: str) -> tuple[int, str] | None:
    """(delivery, target URL) of a click token; None when forged or altered."""
    data = read_token(context, CLICK, token)
    if data is None or not isinstance(data.get("d"), int) or not isinstance(data.get("u"), str):
        return None
    if not _tracked(data["u"]):
        return None
    return data["d"], data["u"]


def _tracked(url: str) -> bool:
    return url[:8].lower().startswith(("http://", "https://"))


def rewrite_links(body: str, redirect: Callable[[str], str], keep: Collection[str] = ()) -> str:
    """``body`` with each tracked ``<a href>`` replaced by ``redirect(url)`` (the URL as
    the reader's browser would see it: HTML entities decoded); ``keep`` are left as they are."""

    def replace(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        if not _tracked(url) or url in keep:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{html.escape(redirect(url), quote=True)}{quote}"

    return _HREF.sub(replace, body)


def add_pixel(body: str, pixel_url: str) -> str:
    """``body`` with a 1x1 image at the end of its ``<body>`` (or at its end)."""
    image = (
        f'<img src="{html.escape(pixel_url, quote=True)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0">'
    )
    ends = list(_BODY_END.finditer(body))
    if not ends:
        return body + image
    at = ends[-1].start()
    return body[:at] + image + body[at:]


def track(context: PluginContext, campaign: Any, delivery_id: int, body: str, keep: Collection[str]) -> str:
    """The rendered HTML of a delivery with its links and pixel, as the campaign's
    ``track_clicks`` and ``track_opens`` say (both on unless set off)."""
    if campaign.get("track_clicks", True) is not False:
        body = rewrite_links(body, lambda url: click_url(context, delivery_id, url), keep)
    if campaign.get("track_opens", True) is not False:
        body = add_pixel(body, open_url(context, delivery_id))
    return body
