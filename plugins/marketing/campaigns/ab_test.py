"""A/B tests of a campaign's subject or content.

When a campaign with variants starts, ``test_share`` per cent of its recipients (chosen
by a hash of the delivery, so the choice is fixed and spread) get the variants in turn;
the rest are ``held``.  After ``test_duration`` the job ``marketing.ab_decide`` compares
the variants among the mails each sent, by ``winner_by``:

- ``opens``, ``clicks``, ``replies``: the share of its mails a person opened, clicked in
  or answered (machine opens and scanner clicks do not count, nor automatic replies);
- ``deals``: won deals per mail, of its recipients, won after their mail was sent;
- ``revenue``: the amount of those deals per mail, in one currency: the campaign cost's,
  or else the one most of those deals are in (a deal in another currency is not added
  to a different one).

The best is the ``winner`` (ties: the first) and goes to the held recipients.  Deals
need the sales plugin: without a ``deal`` entity, ``deals`` and ``revenue`` are refused
before the campaign starts.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import math
from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any

from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.sdk import JobRun, PluginContext, ValidationFailed, parse_duration

DECIDE_JOB = "marketing.ab_decide"
WINNER_BY = ("opens", "clicks", "replies", "deals", "revenue")
#: the engagement kind each engagement-based ``winner_by`` counts
_ENGAGEMENT = {"opens": "open", "clicks": "click", "replies": "reply"}


def variants(campaign: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = campaign.get("variants") or "[]"
    value = json.loads(raw) if isinstance(raw, str) else raw
    return [dict(v) for v in value] if isinstance(value, list) else []


def check(campaign: Mapping[str, Any], entity_names: Collection[str]) -> None:
    """Before a campaign starts: its variants are usable (field-named errors)."""
    found = variants(campaign)
    if not found:
        return
    names = [v.get("name") for v in found]
    if len(found) < 2 or not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        raise ValidationFailed.single(
            "variants", "invalid", "an A/B test needs two or more variants with distinct names"
        )
    for i, variant in enumerate(found):
        if not set(variant) & {"subject", "html", "text"}:
            raise ValidationFailed.single(f"variants[{i}]", "invalid", "a variant changes subject, html or text")
    if not 1 <= int(campaign.get("test_share") or 0) <= 100:
        raise ValidationFailed.single("testShare", "invalid", "must be a percentage from 1 to 100")
    if campaign.get("winner_by") not in WINNER_BY:
        raise ValidationFailed.single("winnerBy", "invalid", f"must be one of: {', '.join(WINNER_BY)}")
    if campaign["winner_by"] not in _ENGAGEMENT and "deal" not in entity_names:
        raise ValidationFailed.single("winnerBy", "unavailable", "deals and revenue need the sales plugin enabled")
    try:
        parse_duration(campaign.get("test_duration"))
    except ValueError as exc:
        raise ValidationFailed.single("testDuration", "invalid", str(exc)) from None


def _rank(campaign_id: int, delivery_id: int) -> bytes:
    return hashlib.sha256(f"{campaign_id}:{delivery_id}".encode()).digest()


async def split(context: PluginContext, campaign: Mapping[str, Any]) -> None:
    """Give the test share its variants and hold the rest (right after the recipients
    were fixed); queue the decision."""
    found = variants(campaign)
    if not found:
        return
    campaign_id = int(campaign["id"])
    rows = await CampaignDelivery.select(CampaignDelivery.id).where(
        (CampaignDelivery.campaign == campaign_id) & (CampaignDelivery.status == "queued")
    )
    ids = sorted((int(r["id"]) for r in rows), key=lambda i: _rank(campaign_id, i))
    tried = min(len(ids), max(len(found), math.ceil(len(ids) * int(campaign["test_share"]) / 100)))
    for index, variant in enumerate(found):
        chosen = ids[index : tried : len(found)]
        for start in range(0, len(chosen), 500):
            await CampaignDelivery.update({CampaignDelivery.variant: variant["name"]}).where(
                CampaignDelivery.id.is_in(chosen[start : start + 500])
            )
    held = ids[tried:]
    for start in range(0, len(held), 500):
        await CampaignDelivery.update({CampaignDelivery.status: "held"}).where(
            CampaignDelivery.id.is_in(held[start : start + 500])
        )
    at = dt.datetime.now(dt.UTC) + parse_duration(campaign["test_duration"])
    await context.schedule(
        DECIDE_JOB, key=f"{DECIDE_JOB}:{campaign_id}", at=at, entity="campaign", record_id=campaign_id
    )


async def rates(context: PluginContext, campaign: Mapping[str, Any]) -> dict[str, float]:
    """Each variant's figure per mail it sent, by the campaign's ``winner_by``."""
    winner_by = str(campaign.get("winner_by") or "opens")
    found: dict[str, float] = {}
    won = await _won_deals(context, campaign) if winner_by not in _ENGAGEMENT else {}
    for variant in variants(campaign):
        mine = {"campaignId": {"eq": str(campaign["id"])}, "variant": {"eq": variant["name"]}}
        sent = await context.system.count("campaign_delivery", {**mine, "sentAt": {"isNull": False}})
        if winner_by in _ENGAGEMENT:
            human = {"kind": {"eq": _ENGAGEMENT[winner_by]}, "machine": {"eq": False}, "scanner": {"eq": False}}
            score = float(await context.system.count("campaign_delivery", {**mine, "engagements": {"some": human}}))
        else:
            deals = won.get(str(variant["name"]), [])
            score = float(len(deals)) if winner_by == "deals" else float(sum(amount for amount, _ in deals))
        found[str(variant["name"])] = score / sent if sent else 0.0
    return found


async def _won_deals(
    context: PluginContext, campaign: Mapping[str, Any]
) -> dict[str, list[tuple[decimal.Decimal, str]]]:
    """Per variant, the (amount, currency) of deals its recipients won after their mail
    was sent, in the one currency revenue is compared in (``deals`` counts them all)."""
    rows = await CampaignDelivery.select(
        CampaignDelivery.contact, CampaignDelivery.variant, CampaignDelivery.sent_at
    ).where(
        (CampaignDelivery.campaign == int(campaign["id"]))
        & CampaignDelivery.sent_at.is_not_null()
        & CampaignDelivery.variant.is_not_null()
    )
    sent = {int(r["contact"]): (str(r["variant"]), _aware(r["sent_at"])) for r in rows if r["contact"]}
    touched = {"campaignDeliveries": {"some": {"campaignId": {"eq": str(campaign["id"])}, "sentAt": {"isNull": False}}}}
    wanted = {"stage": {"kind": {"eq": "won"}}, "closedAt": {"isNull": False}, "contact": touched}
    found: dict[str, list[tuple[decimal.Decimal, str]]] = {}
    async for deal in context.system.each("deal", wanted):
        variant, at = sent.get(int(deal.get("contact") or 0), ("", None))
        if at is None or _aware(deal["closed_at"]) < at:
            continue
        amount = deal.get("amount") or {}
        value = decimal.Decimal(str(amount["amount"])) if amount.get("amount") is not None else decimal.Decimal(0)
        found.setdefault(variant, []).append((value, str(amount.get("currency") or "")))
    if campaign.get("winner_by") != "revenue":
        return found
    currencies = [currency for deals in found.values() for _, currency in deals if currency]
    cost = campaign.get("cost") or {}
    by_use = sorted(Counter(currencies).items(), key=lambda pair: (-pair[1], pair[0]))  # most used, then A-Z
    currency = cost.get("currency") or (by_use[0][0] if by_use else "")
    return {variant: [d for d in deals if d[1] == currency] for variant, deals in found.items()}


def _aware(value: Any) -> dt.datetime:
    at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


async def run_decide(context: PluginContext, run: JobRun) -> None:
    """The job: name the winner and send it to the held recipients."""
    from kith.plugins.marketing.campaigns import sender

    campaign = await context.system.get("campaign", int(run.record_id or 0))
    if campaign is None or campaign.get("winner") or campaign["status"] in ("cancelled", "draft"):
        return
    found = await rates(context, campaign)
    winner = max(found, key=lambda name: found[name])  # max keeps the first of equals
    async with context.db.transaction():
        await context.as_plugin(keep_permissions=False, name="ab-test").system.update(
            "campaign", campaign["id"], {"winner": winner}
        )
        held = (CampaignDelivery.campaign == campaign["id"]) & (CampaignDelivery.status == "held")
        await CampaignDelivery.update({CampaignDelivery.status: "queued", CampaignDelivery.variant: winner}).where(held)
        if campaign["status"] == "sending":
            await sender.schedule_slice(context, int(campaign["id"]), 1_000_000)
