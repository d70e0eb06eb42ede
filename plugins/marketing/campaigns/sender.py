"""Sending a campaign: slices of work by the worker, each delivering queued rows over
kept-open SMTP connections at the campaign's rate.

A delivery is marked ``sending`` (``attempts`` + 1) before its mail is handed to SMTP
and ``sent`` or ``failed`` when the server has answered, a batch at a time.  A worker
killed in between leaves rows ``sending``: the next slice (another worker, after the
lease) sends those again first, with the same Message-ID, which is made from the
delivery's id, so receivers can tell the repeat.  Those are the only duplicates, and
``attempts`` counts them (``campaignReport.resent``).

A slice runs for at most ``SLICE_SECONDS`` and queues the next, so pausing or
cancelling takes effect within a slice, and no run holds its job for long.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlparse

from kith.plugins.marketing.campaigns import ab_test, caps, recipients, rendering, window
from kith.plugins.marketing.campaigns.models import Campaign, CampaignDelivery
from kith.plugins.marketing.consent import list_unsubscribe_headers, preferences_url, unsubscribe_url
from kith.plugins.marketing.engagement import links as tracking
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import BulkResult, JobRun, OutboundMail, PluginContext, ValidationFailed

SEND_JOB = "marketing.campaign_send"
SLICE_SECONDS = 20.0
#: rows claimed at a time; with the sender's queue (half of it) this bounds what a crash
#: leaves in flight, and so what may be received twice
BATCH = 100
#: a delivery the server keeps refusing for now is given up after this many attempts
MAX_ATTEMPTS = 5


def message_id(context: PluginContext, campaign: Mapping[str, Any], delivery_id: int) -> str:
    """The same Message-ID every time this delivery is sent: a repeat after a crash is
    recognisable, and the id cannot be guessed from the outside."""
    sender = parseaddr(str(campaign.get("from_address") or ""))[1]
    domain = sender.rpartition("@")[2] or urlparse(context.public_url()).hostname or "kith.invalid"
    tag = context.sign("marketing.message-id", f"{campaign['id']}.{delivery_id}")[:16]
    return f"<kith.c{campaign['id']}.d{delivery_id}.{tag}@{domain}>"


async def schedule_slice(context: PluginContext, campaign_id: int, number: int, at: dt.datetime | None = None) -> None:
    await context.schedule(SEND_JOB, key=f"{SEND_JOB}:{campaign_id}:{number}", at=at, payload={"slice": number},
                           entity="campaign", record_id=campaign_id)  # fmt: skip


async def run_slice(context: PluginContext, run: JobRun) -> None:
    """The job: send for a while, then queue the next slice while rows are left."""
    campaign = await context.system.get("campaign", int(run.record_id or 0))
    if campaign is None or campaign["status"] != "sending":
        return  # paused, cancelled or gone: a later resume queues a new slice
    # a run is never early, so its due time only matters when a test moves the worker's clock
    now = max(dt.datetime.now(dt.UTC), run.due_at or dt.datetime.now(dt.UTC))
    is_open, change = window.state(campaign, now)
    if not is_open:  # outside the send window: the next slice waits for it to open
        await schedule_slice(context, int(campaign["id"]), int(run.payload.get("slice", 0)) + 1, at=change)
        return
    seconds = SLICE_SECONDS if change is None else min(SLICE_SECONDS, (change - now).total_seconds())
    left = await send_for(context, campaign, max(seconds, 0.0))
    if left:
        await schedule_slice(context, int(campaign["id"]), int(run.payload.get("slice", 0)) + 1)
    elif await CampaignDelivery.exists().where(
        (CampaignDelivery.campaign == campaign["id"]) & (CampaignDelivery.status == "held")
    ):
        return  # the A/B test's recipients are through; the rest wait for its winner
    else:
        now = dt.datetime.now(dt.UTC)
        await context.as_plugin(keep_permissions=False, name="marketing").system.update(
            "campaign", campaign["id"], {"status": "sent", "finished_at": now}
        )


def _rate_per_second(context: PluginContext, campaign: Mapping[str, Any]) -> float | None:
    per_minute = campaign.get("rate_per_minute") or marketing_settings(context).rate_per_minute
    return per_minute / 60 if per_minute else None


async def send_for(context: PluginContext, campaign: Mapping[str, Any], seconds: float) -> int:
    """Deliver the campaign's rows (those in flight at a crash first) for about
    ``seconds``; returns how many are left to send."""
    templates = {None: rendering.compile_templates(campaign)}
    for variant in ab_test.variants(campaign):  # an A/B test's variants replace what they give
        templates[variant["name"]] = rendering.compile_templates({**campaign, **variant})
    results: list[BulkResult] = []

    async def collect(result: BulkResult) -> None:
        results.append(result)

    settings = marketing_settings(context)
    deadline = time.monotonic() + seconds
    async with context.mail.bulk(
        rate_per_second=_rate_per_second(context, campaign),
        connections=settings.smtp_connections,
        on_result=collect,
        queue_size=BATCH // 2,
    ) as sender:
        stale = await _left_in_flight(int(campaign["id"]))
        while time.monotonic() < deadline:
            batch = await _claim(int(campaign["id"]), stale)
            if not batch:
                break
            ids = [int(row["contact"]) for row in batch if row["contact"]]
            contacts = await _contacts(context, ids)
            eligible = await recipients.still_eligible(context, campaign, ids)
            capped = await caps.over_cap(settings, ids)
            for row in batch:
                contact = contacts.get(int(row["contact"] or 0))
                emails = (contact or {}).get("emails") or []
                if not emails:
                    await _finish(row["id"], "skipped", "the contact has no email address any more")
                    continue
                if int(row["contact"]) not in eligible:
                    await _finish(row["id"], "skipped", "unsubscribed or suppressed since the campaign started")
                    continue
                if int(row["contact"]) in capped:
                    await _finish(row["id"], "skipped", capped[int(row["contact"])])
                    continue
                try:
                    chosen = templates.get(row.get("variant")) or templates[None]
                    mail = await _compose(context, campaign, chosen, contact or {}, row)
                except ValidationFailed as exc:
                    await _finish(row["id"], "failed", str(exc))
                    continue
                await sender.submit(mail, key=int(row["id"]))
            await _record(results)
            if (await Campaign.select(Campaign.status).where(Campaign.id == campaign["id"]).first() or {}).get(
                "status"
            ) != "sending":
                break
    await _record(results)
    return await CampaignDelivery.count().where(
        (CampaignDelivery.campaign == campaign["id"]) & CampaignDelivery.status.is_in(["queued", "sending"])
    )


async def _claim(campaign_id: int, stale: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The next batch, marked ``sending`` with one more attempt before any is handed to
    SMTP: first the rows a killed run left ``sending`` (``stale``, read when the slice
    began; later ``sending`` rows are this slice's own, in flight), then queued ones."""
    if stale:
        rows, stale[:] = stale[:BATCH], stale[BATCH:]
    else:
        rows = await (
            CampaignDelivery.select(CampaignDelivery.id, CampaignDelivery.contact, CampaignDelivery.variant)
            .where((CampaignDelivery.campaign == campaign_id) & (CampaignDelivery.status == "queued"))
            .order_by(CampaignDelivery.id)
            .limit(BATCH)
        )
    if rows:
        ids = [int(r["id"]) for r in rows]
        await CampaignDelivery.update(
            {CampaignDelivery.status: "sending", CampaignDelivery.attempts: CampaignDelivery.attempts + 1}
        ).where(CampaignDelivery.id.is_in(ids))
    return list(rows)


async def _left_in_flight(campaign_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await (
        CampaignDelivery.select(CampaignDelivery.id, CampaignDelivery.contact, CampaignDelivery.variant)
        .where((CampaignDelivery.campaign == campaign_id) & (CampaignDelivery.status == "sending"))
        .order_by(CampaignDelivery.id)
    )
    return rows


async def _contacts(context: PluginContext, ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    found = await context.system.list("contact", {"id": {"in": [str(i) for i in ids]}}, first=len(ids))
    return {int(c["id"]): dict(c) for c in found}


async def _compose(
    context: PluginContext,
    campaign: Mapping[str, Any],
    templates: rendering.Templates,
    contact: Mapping[str, Any],
    row: Mapping[str, Any],
) -> Any:
    key = f"campaign-{campaign['id']}"
    links = {
        "unsubscribe_url": unsubscribe_url(context, int(contact["id"]), key, topic=campaign.get("purpose")),
        "preferences_url": preferences_url(context, int(contact["id"])),
    }
    rendered = rendering.render(templates, contact, campaign, links)
    body = tracking.track(context, campaign, int(row["id"]), rendered.html, keep=links.values())
    name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
    email = (contact.get("emails") or [])[0]
    return await context.mail.compose(
        OutboundMail(
            to=f"{name} <{email}>" if name else email,
            subject=rendered.subject,
            text=rendered.text,
            html=body,
            from_address=campaign.get("from_address") or None,
            message_id=message_id(context, campaign, int(row["id"])),
            headers={
                "Precedence": "bulk",
                "X-Kith-Campaign": str(campaign["id"]),
                **list_unsubscribe_headers(context, int(contact["id"]), key, topic=campaign.get("purpose")),
            },
        )
    )


async def _finish(delivery_id: int, status: str, error: str | None = None) -> None:
    now = dt.datetime.now(dt.UTC)
    values: dict[Any, Any] = {CampaignDelivery.status: status, CampaignDelivery.error: error}
    if status == "sent":
        values[CampaignDelivery.sent_at] = now
    await CampaignDelivery.update(values).where(CampaignDelivery.id == delivery_id)


async def _record(results: list[BulkResult]) -> None:
    """Write the results that came in: the sent ones in one statement, the rest one by
    one (with the server's answer); a temporary refusal goes back to the queue."""
    taken, results[:] = list(results), []
    sent = [int(r.key) for r in taken if r.status in ("sent", "partial")]
    if sent:
        now = dt.datetime.now(dt.UTC)
        await CampaignDelivery.update({CampaignDelivery.status: "sent", CampaignDelivery.sent_at: now}).where(
            CampaignDelivery.id.is_in(sent)
        )
    for result in taken:
        if result.status == "permanent":
            await _finish(int(result.key), "failed", result.answer[:1000])
        elif result.status == "temporary":  # again in a later batch, up to MAX_ATTEMPTS
            row = CampaignDelivery.id == int(result.key)
            await CampaignDelivery.update(
                {CampaignDelivery.status: "queued", CampaignDelivery.error: result.answer[:1000]}
            ).where(row & (CampaignDelivery.attempts < MAX_ATTEMPTS))
            await CampaignDelivery.update({CampaignDelivery.status: "failed"}).where(
                row & (CampaignDelivery.attempts >= MAX_ATTEMPTS) & (CampaignDelivery.status == "sending")
            )
