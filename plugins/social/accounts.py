"""Connecting managed accounts, and opening one for a connector's call.

An account is created only once its connector has verified the credentials, so a typo
in a token is an error on the form, not a failure at the first scheduled post.  When a
platform later refuses the credentials (``TokenExpired``) the account becomes
``reconnect_needed``: nothing is fetched or published for it until a person connects
it again, and the reason is on the account.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from kith.plugins.social import credentials as vault
from kith.plugins.social.connectors.base import AccountAccess, ConnectorError, TokenExpired, Usage
from kith.plugins.social.connectors.registry import connector
from kith.plugins.social.models import SocialAccount
from kith.plugins.social.settings import social_settings
from kith.sdk import PluginContext, Records, ValidationFailed

#: each account's rate-limit budget as its platform's last answer told it, shared by the
#: calls this process makes, so a spent budget is waited out before the next call
_USAGE: dict[int, Usage] = {}


@asynccontextmanager
async def opened(
    context: PluginContext, account: Mapping[str, Any], creds: Mapping[str, str] | None = None
) -> AsyncIterator[AccountAccess]:
    """The account as its connector sees it, with a client through the outbound guard."""
    found = dict(creds) if creds is not None else await vault.load(context, int(account["id"]))
    timeout = social_settings(context).call_timeout_seconds
    usage = _USAGE.setdefault(int(account["id"]), Usage()) if account.get("id") else Usage()
    async with context.http_client(timeout=timeout) as client:
        yield AccountAccess(
            str(account["platform"]), str(account["handle"]), str(account.get("base_url") or ""), found, client, usage
        )


async def connect(
    context: PluginContext,
    *,
    platform: str,
    handle: str = "",
    base_url: str = "",
    secrets: Mapping[str, str] | None = None,
    time_zone: str = "UTC",
    requires_approval: bool = False,
    posts_per_day: int | None = None,
) -> tuple[dict[str, Any], str | None]:
    """Verify and store an account; returns it and, for a webhook account, its signing
    secret (shown once: it is kept only encrypted)."""
    from kith.plugins.social import polling  # polling opens accounts: imported here, not at the top
    from kith.plugins.social.connectors.webhook import new_secret

    found = connector(context, platform)
    vault.require_key(context)
    given = {k: v for k, v in dict(secrets or {}).items() if v}
    shown = None
    if platform == "webhook" and "secret" not in given:
        shown = given["secret"] = new_secret()
    if base_url:
        try:
            context.check_url(base_url)
        except Exception as exc:
            raise ValidationFailed.single("baseUrl", "refused", str(exc)) from None
    _check_time_zone(time_zone)
    draft = {"id": 0, "platform": platform, "handle": handle, "base_url": base_url}
    try:
        async with opened(context, draft, given) as access:
            info = await found.verify(access)
    except TokenExpired as exc:
        raise ValidationFailed.single("credentials", "rejected", f"{platform} refused them: {exc.reason}") from None
    except ConnectorError as exc:
        raise ValidationFailed.single("baseUrl", "unreachable", f"{platform}: {exc.reason}") from None
    values = {
        "platform": platform, "handle": info.handle or handle, "display_name": info.display_name,
        "base_url": base_url or None, "time_zone": time_zone, "requires_approval": requires_approval,
        "posts_per_day": posts_per_day, "status": "connected",
    }  # fmt: skip
    async with context.db.transaction():
        account = await context.as_plugin().records.create("social_account", values)
        await vault.store(context, int(account["id"]), given)
        if info.expires_at is not None:
            await _machine(context).update("social_account", account["id"], {"token_expires_at": info.expires_at})
        if platform != "webhook":
            await polling.start(context, int(account["id"]))
    return dict(account), shown


async def reconnect(context: PluginContext, account_id: int, secrets: Mapping[str, str]) -> dict[str, Any]:
    """New credentials for an account: verified, stored, and the account connected again."""
    from kith.plugins.social import polling
    from kith.plugins.social.publishing import publisher

    await context.require("social_account", "update", account_id)
    account = await context.records.get("social_account", account_id)
    if account is None:
        raise ValidationFailed.single("accountId", "not_found", f"no social account {account_id}")
    given = {k: v for k, v in secrets.items() if v}
    try:
        async with opened(context, account, given) as access:
            info = await connector(context, str(account["platform"])).verify(access)
    except ConnectorError as exc:
        raise ValidationFailed.single("credentials", "rejected", exc.reason) from None
    values = {"status": "connected", "last_error": None, "token_expires_at": info.expires_at}
    async with context.db.transaction():
        await vault.store(context, account_id, given)
        await _machine(context).update("social_account", account_id, values)
        if account["platform"] != "webhook":
            await polling.start(context, account_id)
        await publisher.requeue_account(context, account_id)
    return dict(await context.records.get("social_account", account_id) or {})


async def needs_reconnect(
    context: PluginContext, account_id: int, reason: str, *, called_at: dt.datetime | None = None
) -> bool:
    """Stop fetching and publishing for the account until a person connects it again;
    returns whether it did.  A refusal of a call made at ``called_at`` with credentials
    a person has replaced since says nothing about the new ones: the account stays."""
    async with context.db.transaction():
        await context.db.lock_rows(SocialAccount, [account_id])  # a reconnect under way finishes first
        if called_at is not None and await vault.replaced_since(account_id, called_at):
            return False
        await _machine(context).update(
            "social_account", account_id, {"status": "reconnect_needed", "last_error": f"{reason}"[:2000]}
        )
        await context.emit("social.reconnect_needed", "social_account", account_id, {"reason": reason[:500]})
        return True


def _machine(context: PluginContext) -> Records:
    """The plugin's own writer, audited under the caller's name: an account's status,
    error and token expiry are read-only to clients, whoever's action (a reconnect, a
    failed call) changes them."""
    return context.as_plugin(keep_permissions=False).records


def _check_time_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.single("timeZone", "invalid", f"{name!r} is not an IANA time zone") from None
