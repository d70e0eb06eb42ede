"""The generic webhook connector: any platform bridge or automation tool feeds Kith
signed events in one documented JSON shape, and receives posts the same way.

Inbound, a bridge posts to ``/social/webhooks/<account id>`` (``routes.py``), signed
the Standard Webhooks way with the account's secret (shown once when the account is
connected).  The body is ``{"items": [item, ...]}`` (or one item), each::

    {"id": "t-1001", "kind": "mention", "text": "@acme my order is late",
     "createdAt": "2026-03-02T09:30:00Z", "inReplyTo": null, "url": "https://…",
     "tags": ["orders"],
     "author": {"handle": "ann", "name": "Ann Lee", "id": "u-7", "url": "https://…",
                "email": "ann@example.com"}}

Outbound (an agent's reply, a scheduled post), when the account has a ``base_url``, the
connector POSTs ``{"text", "inReplyTo", "media": [{"filename", "contentType",
"base64"}]}`` there, signed the same way, with an ``Idempotency-Key`` header the bridge
must honour (the same key answers the same post); the bridge answers ``{"id", "url"}``.
``GET <base_url>/<idempotency key>`` answers that post, or 404 if it was never made,
and ``DELETE <base_url>/<id>`` removes one.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kith.plugins.social.connectors.base import (
    AccountAccess,
    AccountInfo,
    Author,
    Fetched,
    InboundItem,
    Limits,
    OutcomeUnknown,
    PostRequest,
    Published,
    RateLimited,
    Rejected,
    TokenExpired,
    Unavailable,
)
from kith.sdk import FieldError, ValidationFailed


class _Author(BaseModel):
    model_config = ConfigDict(extra="ignore")

    handle: str = Field(min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    id: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=500)
    email: str | None = Field(default=None, max_length=320)


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=200)
    kind: Literal["mention", "comment", "message", "post"] = "mention"
    text: str = Field(default="", max_length=100_000)
    created_at: dt.datetime = Field(alias="createdAt")
    in_reply_to: str | None = Field(default=None, alias="inReplyTo", max_length=200)
    url: str | None = Field(default=None, max_length=1000)
    tags: list[str] = Field(default_factory=list)
    author: _Author


def parse_items(body: Any) -> list[InboundItem]:
    """The items of a delivery's JSON body; ``ValidationFailed`` naming each bad field
    (``items[2].author.handle``) otherwise, so the bridge learns what to fix."""
    raw = body.get("items") if isinstance(body, dict) and "items" in body else [body]
    if not isinstance(raw, list):
        raise ValidationFailed.single("items", "invalid", "must be a list of items")
    items, errors = [], []
    for index, entry in enumerate(raw):
        try:
            parsed = _Item.model_validate(entry)
        except ValidationError as exc:
            for error in exc.errors():
                where = ".".join(str(part) for part in error["loc"])
                errors.append(
                    FieldError(f"items[{index}].{where}" if where else f"items[{index}]", "invalid", error["msg"])
                )
            continue
        at = parsed.created_at if parsed.created_at.tzinfo else parsed.created_at.replace(tzinfo=dt.UTC)
        author = parsed.author
        items.append(
            InboundItem(
                platform_id=parsed.id,
                kind=parsed.kind,
                author=Author(author.handle, author.name, author.id, author.url, author.email),
                text=parsed.text,
                created_at=at,
                in_reply_to=parsed.in_reply_to,
                url=parsed.url,
                tags=tuple(t.lstrip("#").lower() for t in parsed.tags if t.strip("#")),
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return items


def new_secret() -> str:
    """A signing secret in the Standard Webhooks form (``whsec_`` and 32 random bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookConnector:
    """A bridge's events in, and posts out to its URL (see the module's docstring)."""

    platform = "webhook"
    supports_idempotency = True
    limits = Limits(requests=600, per_seconds=60, concurrency=4)

    async def verify(self, account: AccountAccess) -> AccountInfo:
        if not account.credentials.get("secret"):
            raise TokenExpired("the account has no signing secret: connect it again")
        return AccountInfo(handle=account.handle)

    async def fetch_items(self, account: AccountAccess, cursor: str | None) -> Fetched:
        return Fetched([], cursor)  # a bridge pushes; there is nothing to fetch

    def _signed(self, account: AccountAccess, body: str) -> dict[str, str]:
        from standardwebhooks.webhooks import Webhook

        message_id = f"msg_{uuid.uuid4().hex}"
        now = dt.datetime.now(dt.UTC)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(account.credentials["secret"]).sign(message_id, now, body),
            "content-type": "application/json",
        }

    async def publish(self, account: AccountAccess, post: PostRequest) -> Published:
        import httpx

        if not account.base_url:
            raise Rejected("this webhook account has no URL to post to (its base_url)")
        body = json.dumps(
            {
                "text": post.text,
                "inReplyTo": post.in_reply_to,
                "media": [
                    {"filename": m.filename, "contentType": m.content_type, "base64": base64.b64encode(m.data).decode()}
                    for m in post.media
                ],
            }
        )
        headers = {**self._signed(account, body), "Idempotency-Key": post.idempotency_key}
        try:
            answer = await account.client.post(account.base_url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None
        except httpx.HTTPError as exc:
            raise OutcomeUnknown(f"{type(exc).__name__}: {exc}") from None
        return self._published(answer, unknown_on_5xx=True)

    def _published(self, answer: Any, *, unknown_on_5xx: bool) -> Published:
        status = answer.status_code
        if status == 429:
            retry = answer.headers.get("retry-after")
            at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(retry)) if retry and retry.isdigit() else None
            raise RateLimited("the bridge is rate limiting (429)", retry_at=at)
        if status in (401, 403):
            raise TokenExpired(f"the bridge refused the signature ({status})")
        if status >= 500:
            raise (OutcomeUnknown if unknown_on_5xx else Unavailable)(f"the bridge answered {status}")
        if status >= 400:
            raise Rejected(f"the bridge refused the post ({status}): {answer.text[:300]}")
        found = answer.json()
        return Published(str(found["id"]), found.get("url"))

    async def find_published(self, account: AccountAccess, post: PostRequest) -> Published | None:
        import httpx

        url = f"{account.base_url.rstrip('/')}/{post.idempotency_key}"
        try:
            answer = await account.client.get(url, headers=self._signed(account, ""))
        except httpx.HTTPError as exc:
            raise OutcomeUnknown(f"{type(exc).__name__}: {exc}") from None
        if answer.status_code == 404:
            return None
        return self._published(answer, unknown_on_5xx=True)

    async def delete(self, account: AccountAccess, platform_id: str) -> None:
        import httpx

        url = f"{account.base_url.rstrip('/')}/{platform_id}"
        try:
            answer = await account.client.delete(url, headers=self._signed(account, ""))
        except httpx.HTTPError as exc:
            raise Unavailable(f"{type(exc).__name__}: {exc}") from None
        if answer.status_code not in (200, 202, 204, 404):
            self._published(answer, unknown_on_5xx=False)
