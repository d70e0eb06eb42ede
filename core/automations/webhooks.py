"""Webhooks, signed the Standard Webhooks way (HMAC-SHA256 over id, timestamp and body;
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers).

Outbound: subscriptions receive the events they filter on; every delivery of one event
to one subscription keeps the same ``webhook-id`` across retries, so receivers can
deduplicate.  Inbound: ``POST /webhooks/<source>`` verifies the signature, refuses
stale timestamps, ignores a delivery id it has already accepted, and queues the
``webhook.<source>`` event for rules.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import json
import secrets
from typing import TYPE_CHECKING, Any, Literal

import httpx
from piccolo.querystring import QueryString
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from kith.core.automations.visibility import visible_event
from kith.core.errors import KithError, ValidationFailed
from kith.core.records.encoding import jsonable
from kith.core.security.outbound import OutboundRefused, check_outbound_url, outbound_client
from kith.core.storage.outbox import enqueue

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions
    from kith.core.settings import Settings

TIMEOUT = httpx.Timeout(10.0)


class DeliveryFailed(KithError):
    """The receiver did not answer 2xx (or could not be reached)."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_request(secret: str, message_id: str, body: str, at: dt.datetime | None = None) -> dict[str, str]:
    """Headers for a signed delivery of ``body``."""
    at = at or dt.datetime.now(dt.UTC)
    signature = Webhook(secret).sign(message_id, at, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


async def deliver(
    url: str, secret: str, message_id: str, event_type: str, data: Any, *, allow: Settings | None = None
) -> int:
    """POST one signed delivery; raises ``DeliveryFailed`` unless the receiver says 2xx.

    The request goes through the outbound guard: an internal address (loopback,
    private, metadata, …) is refused unless ``allow.outbound_allow`` names it, and the
    refusal is a failed delivery like any other (retried, then dead-lettered)."""
    body = json.dumps(
        {"type": event_type, "timestamp": dt.datetime.now(dt.UTC).isoformat(), "data": jsonable(data)},
        separators=(",", ":"),
    )
    try:
        async with outbound_client(allow, timeout=TIMEOUT) as client:
            response = await client.post(url, content=body, headers=signed_request(secret, message_id, body))
    except OutboundRefused as exc:
        raise DeliveryFailed(f"{url}: {exc}") from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{url}: {type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"{url} answered {response.status_code}")
    return response.status_code


# -- outbound subscriptions ------------------------------------------------------------------


async def subscriptions_for(kith: Kith, event: str) -> list[dict[str, Any]]:
    """Enabled subscriptions whose event patterns match ``event`` (names only, no secrets)."""
    cache = kith.automations.subscription_cache
    if cache is None:
        rows = await kith.db.execute("SELECT name, events FROM kith_webhook_subscription WHERE enabled = {}", True)
        cache = [(row["name"], _patterns(row["events"])) for row in rows]
        kith.automations.subscription_cache = cache
    return [{"name": name} for name, patterns in cache if any(fnmatch.fnmatchcase(event, p) for p in patterns)]


def _patterns(value: Any) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value or [])


async def deliver_event(kith: Kith, job: dict[str, Any], row: dict[str, Any]) -> None:
    """Deliver one queued event to one subscription (retried by the worker on failure)."""
    from kith.core.automations.engine import DeadLetter, RetryJob

    name = job["delivery"]["name"]
    sub = await kith.db.fetch_one(
        QueryString("SELECT url, secret, enabled, user_id FROM kith_webhook_subscription WHERE name = {}", name)
    )
    if sub is None or not sub["enabled"]:
        return
    permissions: Permissions | None = None
    if sub["user_id"] is not None:
        subscriber = await _subscriber(kith, int(sub["user_id"]))
        if subscriber is False:
            return  # the subscriber was deactivated: nothing leaves
        permissions = subscriber
    view = await visible_event(
        kith, permissions, job.get("entity"), job.get("record_id"), job.get("payload") or {}, job.get("event")
    )
    if view is None:
        return  # the subscriber may not see this record: nothing leaves
    data = {"entity": job.get("entity"), "id": job.get("record_id"), **view}
    message_id = f"{job['key']}:{name}"
    attempt = row["attempts"] + 1
    try:
        await deliver(sub["url"], sub["secret"], message_id, job.get("event") or "event", data, allow=kith.settings)
    except DeliveryFailed as exc:
        if attempt >= kith.settings.automation_max_attempts:
            raise DeadLetter(str(exc)) from None
        raise RetryJob(kith.automations.backoff(attempt), 0, str(exc)) from None


async def _subscriber(kith: Kith, user_id: int) -> Permissions | Literal[False] | None:
    """What a subscription's user may read (None: an admin, everything; False: the user
    is gone or deactivated, so nothing is delivered)."""
    from kith.core.security.auth import AuthFailed
    from kith.core.security.permissions import permissions_for

    try:
        principal = await kith.auth.principal_for_user(user_id, "webhook")
    except AuthFailed:
        return False
    return None if principal.is_admin else await permissions_for(kith, principal)


async def add_subscription(kith: Kith, name: str, url: str, events: list[str], user_id: int | None = None) -> str:
    """Create a subscription; returns its signing secret (shown once).

    With ``user_id`` deliveries carry only records and fields that user may read.
    """
    if not url.startswith(("http://", "https://")):
        raise ValidationFailed.single("url", "invalid", "must be an http(s) URL")
    try:
        check_outbound_url(url, kith.settings)
    except OutboundRefused as exc:
        raise ValidationFailed.single("url", "refused", str(exc)) from None
    if not events:
        raise ValidationFailed.single("events", "required", "give at least one event pattern, e.g. contact.*")
    secret = new_secret()
    rows = await kith.db.fetch(
        QueryString(
            "INSERT INTO kith_webhook_subscription (name, url, secret, events, enabled, user_id, created_at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (name) DO NOTHING RETURNING id",
            name,
            url,
            secret,
            json.dumps(events),
            True,
            user_id,
            dt.datetime.now(dt.UTC),
        )
    )
    if not rows:
        raise ValidationFailed.single("name", "taken", f"a subscription named {name!r} exists")
    await kith.automations.rules_changed()
    return secret


async def remove_subscription(kith: Kith, name: str) -> None:
    rows = await kith.db.fetch(QueryString("DELETE FROM kith_webhook_subscription WHERE name = {} RETURNING id", name))
    if not rows:
        raise ValidationFailed.single("name", "not_found", f"no subscription named {name!r}")
    await kith.automations.rules_changed()


# -- inbound ------------------------------------------------------------------------------------


async def add_source(kith: Kith, name: str) -> str:
    """Allow a sender to post to /webhooks/<name>; returns the secret to give it."""
    secret = new_secret()
    rows = await kith.db.fetch(
        QueryString(
            "INSERT INTO kith_webhook_source (name, secret, created_at) VALUES ({}, {}, {}) "
            "ON CONFLICT (name) DO NOTHING RETURNING id",
            name,
            secret,
            dt.datetime.now(dt.UTC),
        )
    )
    if not rows:
        raise ValidationFailed.single("name", "taken", f"a webhook source named {name!r} exists")
    return secret


async def receive(kith: Kith, source: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Verify and accept one inbound delivery; returns (HTTP status, response body)."""
    row = await kith.db.fetch_one(QueryString("SELECT secret FROM kith_webhook_source WHERE name = {}", source))
    if row is None:
        return 404, {"error": f"no webhook source named {source!r}"}
    # Verify first, parse after: verify() raises ValueError (not WebhookVerificationError)
    # for a malformed signature header ("garbage", bad base64) or a non-UTF-8 body, which was answered
    # 400 "the body is not JSON"; an unverifiable request is a 401 whatever its body.
    try:
        Webhook(row["secret"]).verify(body, headers, json_parse=False)
    except WebhookVerificationError as exc:
        return 401, {"error": f"rejected: {exc}"}
    except ValueError:
        return 401, {"error": "rejected: a malformed webhook-signature header (or a body that is not UTF-8)"}
    try:
        data = json.loads(body)
    except ValueError:
        return 400, {"error": "the body is not JSON"}
    delivery_id = {k.lower(): v for k, v in headers.items()}["webhook-id"]
    async with kith.db.write_transaction():
        accepted = await kith.db.fetch(
            QueryString(
                "INSERT INTO kith_inbound_delivery (source, delivery_id, received_at) VALUES ({}, {}, {}) "
                "ON CONFLICT (source, delivery_id) DO NOTHING RETURNING id",
                source,
                delivery_id,
                dt.datetime.now(dt.UTC),
            )
        )
        if not accepted:
            return 200, {"status": "duplicate", "id": delivery_id}
        await enqueue(
            kith.db,
            f"webhook.{source}",
            entity="",
            payload={"data": data, "id": delivery_id},
            key=f"inbound:{source}:{delivery_id}",
            depth=0,
        )
    return 202, {"status": "accepted", "id": delivery_id}
