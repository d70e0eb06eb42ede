"""Signed links a contact gets in mail: unsubscribe (and, in later parts, confirm a
subscription, open the preference page).

A token is the link's data (JSON, base64url) and ``context.sign`` of it for the link's
purpose, so a link cannot be made up or altered, and a token made for one purpose does
not open another.  Links do not expire: an unsubscribe link must keep working for as
long as the mail it came in may be read.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kith.sdk import PluginContext

UNSUBSCRIBE = "marketing.unsubscribe"
UNSUBSCRIBE_PATH = "/marketing/unsubscribe/"


def make_token(context: PluginContext, purpose: str, data: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":"), sort_keys=True).encode()).decode()
    body = body.rstrip("=")
    return f"{body}.{context.sign(purpose, body)}"


def read_token(context: PluginContext, purpose: str, token: str) -> dict[str, Any] | None:
    """The data of a token made for ``purpose``; None when it was forged or altered."""
    body, _, signature = token.rpartition(".")
    if not body or not context.verify(purpose, body, signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        return None
    return data if isinstance(data, dict) else None


def unsubscribe_url(
    context: PluginContext, contact_id: int, campaign_key: str | None = None, *, topic: str | None = None
) -> str:
    """The absolute unsubscribe link for a contact (``public_url`` setting): opening it
    shows a page with a button, and only a POST to it (the button, or a mail program's
    RFC 8058 one-click) unsubscribes, from ``topic`` or (None) from all marketing.
    ``campaign_key`` is recorded with the suppression, for the campaign's report."""
    data: dict[str, Any] = {"c": int(contact_id)}
    if campaign_key:
        data["k"] = str(campaign_key)
    if topic:
        data["t"] = topic
    return context.public_url(UNSUBSCRIBE_PATH + make_token(context, UNSUBSCRIBE, data))


def list_unsubscribe_headers(
    context: PluginContext, contact_id: int, campaign_key: str | None = None, *, topic: str | None = None
) -> dict[str, str]:
    """The headers a marketing mail carries so mail programs show an unsubscribe button
    that works in one click (RFC 2369 ``List-Unsubscribe`` and RFC 8058
    ``List-Unsubscribe-Post``); give them as ``OutboundMail(headers=...)``."""
    url = unsubscribe_url(context, contact_id, campaign_key, topic=topic)
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


#: the preference page's token purpose and path (the page itself is ``preferences``,
#: which needs litestar; making the link must not, since every sender makes one)
PREFERENCES = "marketing.preferences"
PREFERENCES_PATH = "/marketing/preferences/"


def preferences_url(context: PluginContext, contact_id: int) -> str:
    """The contact's preference page (for a mail's footer, beside the unsubscribe link)."""
    return context.public_url(PREFERENCES_PATH + make_token(context, PREFERENCES, {"c": int(contact_id)}))
