"""What the social tests share: a Kith with the social plugin and a credentials key,
and signing a webhook delivery as a bridge would."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from cryptography.fernet import Fernet

KEY = Fernet.generate_key().decode()


async def social_kith(make_kith: Any, *, enable: tuple[str, ...] = ("social",), **settings: Any) -> Any:
    plugin = {"social": {"credentials_key": KEY, **settings.pop("social", {})}, **settings.pop("plugin", {})}
    return await make_kith(enable=list(enable), plugin=plugin, **settings)


def signed(
    secret: str, payload: Any, delivery_id: str | None = None, at: dt.datetime | None = None
) -> tuple[str, dict[str, str]]:
    """A delivery body and its Standard Webhooks headers, as a bridge sends them."""
    from standardwebhooks.webhooks import Webhook

    body = json.dumps(payload)
    message_id = delivery_id or f"msg_{uuid.uuid4().hex}"
    at = at or dt.datetime.now(dt.UTC)
    return body, {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
        "content-type": "application/json",
    }


def item(
    platform_id: str, text: str, handle: str = "ann", name: str | None = "Ann Lee", **extra: Any
) -> dict[str, Any]:
    return {
        "id": platform_id,
        "kind": extra.pop("kind", "mention"),
        "text": text,
        "createdAt": extra.pop("createdAt", "2026-03-02T09:30:00Z"),
        "author": {"handle": handle, "name": name, **extra.pop("author", {})},
        **extra,
    }
