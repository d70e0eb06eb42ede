"""``POST /social/webhooks/<account id>``: the generic webhook connector's way in.

The delivery's signature is checked with the account's secret (Standard Webhooks:
``webhook-id``, ``webhook-timestamp`` within five minutes, ``webhook-signature``), its
items are parsed (a bad one is a 400 naming the field, and nothing of the delivery is
kept), and they are stored, committed, before the answer: a ``202`` means Kith has them,
whatever happens to the process next.  A replay stores nothing new (items are unique by
their platform id) and is answered ``200``.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, post

from kith.plugins.social import credentials as vault
from kith.plugins.social import intake
from kith.plugins.social.connectors.webhook import parse_items
from kith.sdk import ValidationFailed, context_from


def _answer(status: int, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(body, status_code=status, media_type="application/json")


@post("/social/webhooks/{account_id:int}", status_code=202)
async def receive(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    account_id = int(request.path_params["account_id"])
    context = context_from(request).as_plugin(keep_permissions=False, name="social webhook")
    account = await context.system.get("social_account", account_id)
    if account is None or account["platform"] != "webhook":
        return _answer(404, {"error": f"no webhook account {account_id}"})
    if account["status"] != "connected":
        return _answer(409, {"error": f"the account is {account['status']}"})
    body = await request.body()
    secret = (await vault.load(context, account_id)).get("secret", "")
    try:
        Webhook(secret).verify(body, dict(request.headers))
    except (WebhookVerificationError, ValueError) as exc:
        return _answer(401, {"error": f"rejected: {exc or 'bad signature'}"})
    try:
        items = parse_items(json.loads(body))
    except json.JSONDecodeError:
        return _answer(400, {"error": "the body is not JSON"})
    except ValidationFailed as exc:
        return _answer(
            400, {"error": "invalid items", "errors": [{"field": e.field, "message": e.message} for e in exc.errors]}
        )
    stored = await intake.store(context, account, items)
    if stored == 0 and items:
        return _answer(200, {"status": "duplicate", "stored": 0})
    return _answer(202, {"status": "accepted", "stored": stored})


ROUTES = [receive]
