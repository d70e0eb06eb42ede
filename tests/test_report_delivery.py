"""Scheduled delivery of saved reports by mail: local times across daylight saving, the
worker's job sending a real message (aiosmtpd) with the report attached as CSV or XLSX,
computed as the schedule's owner, and no second mail after a crash at any point."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from typing import Any

import openpyxl
import pytest

from kith.core.errors import ValidationFailed
from kith.core.reports import save_report
from kith.core.reports.delivery import deliver
from kith.core.reports.schedules import (
    create_schedule,
    delete_schedule,
    get_schedule,
    list_schedules,
    next_run,
)
from kith.core.security.permissions import permissions_for
from kith.sdk.testing import make_contact, make_user, run_worker_until_idle, smtp_sink

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def test_local_times_follow_the_zone_across_daylight_saving():
    eight = dt.time(8)
    monday = {"weekday": 0}
    # weekly on Monday at 08:00 in Berlin: 07:00 UTC in winter, 06:00 UTC in summer
    assert next_run("weekly", eight, "Europe/Berlin", dt.datetime(2026, 1, 7, tzinfo=UTC), **monday) == dt.datetime(
        2026, 1, 12, 7, tzinfo=UTC
    )
    assert next_run("weekly", eight, "Europe/Berlin", dt.datetime(2026, 3, 24, tzinfo=UTC), **monday) == dt.datetime(
        2026, 3, 30, 6, tzinfo=UTC
    )
    # a time the clocks skip runs when the clocks show it would have been: 02:30 -> 03:30 CEST
    assert next_run("daily", dt.time(2, 30), "Europe/Berlin", dt.datetime(2026, 3, 28, 12, tzinfo=UTC)) == dt.datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    # day 31 of a shorter month is its last day; exactly at a run time, the next one
    assert next_run("monthly", eight, "UTC", dt.datetime(2026, 2, 1, tzinfo=UTC), day=31) == dt.datetime(
        2026, 2, 28, 8, tzinfo=UTC
    )
    assert next_run("daily", eight, "UTC", dt.datetime(2026, 2, 1, 8, tzinfo=UTC)) == dt.datetime(
        2026, 2, 2, 8, tzinfo=UTC
    )


async def outbound(kith: Any) -> list[dict[str, Any]]:
    return await kith.db.execute("SELECT id, subject, status FROM kith_mail_outbound ORDER BY id")


async def scheduled(kith: Any, **given: Any) -> Any:
    rep = await make_user(kith, roles=["sales_rep"])
    for owner in (rep["id"], None, None):
        await make_contact(kith, owner=owner, lifecycle_stage="lead")
    principal = await kith.auth.principal_for_user(rep["id"], "token")
    permissions = await permissions_for(kith, principal)
    report = await save_report(
        kith, "Leads by stage", {"entity": "contact", "groupBy": ["lifecycleStage"]}, permissions
    )
    # saved ten days ago: its first delivery is due already
    schedule = await create_schedule(
        kith, report.id, recipients=["Boss <boss@example.com>", "ann@example.com"], permissions=permissions,
        now=dt.datetime.now(UTC) - dt.timedelta(days=10), **given,
    )  # fmt: skip
    return rep, report, schedule


async def test_a_due_report_is_mailed_as_xlsx_computed_as_its_owner(make_kith):
    async with smtp_sink() as sink:
        kith = await make_kith(**sink.settings)
        rep, report, schedule = await scheduled(
            kith, format="xlsx", cadence="weekly", weekday="monday", at="08:00", time_zone="Europe/Berlin"
        )
        assert schedule.run_as == rep["id"] and schedule.recipients == ["boss@example.com", "ann@example.com"]
        assert schedule.next_run_at.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 08:00"
        # a restart: another process's worker finds the delivery in the queue
        other = await make_kith(**sink.settings)
        await run_worker_until_idle(other)
        assert len(sink.received) == 1
    received = sink.received[0]
    assert sorted(received.recipients) == ["ann@example.com", "boss@example.com"]
    message = received.message
    assert message["Subject"] == "Leads by stage" and message["X-Kith-Report"] == str(report.id)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename().startswith("leads-by-stage-") and attachment.get_filename().endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(attachment.get_content())).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [["Lifecycle stage", "Count"], ["lead", 1]]
    after = await get_schedule(kith, schedule.id)
    now = dt.datetime.now(UTC)
    assert after.last_sent_at is not None and after.last_error is None
    assert now < after.next_run_at <= now + dt.timedelta(days=7)  # missed Mondays are not all mailed
    assert after.next_run_at.astimezone(BERLIN).strftime("%a %H:%M") == "Mon 08:00"
    assert await run_worker_until_idle(kith) == 0  # the next one is queued for its time


async def test_no_second_mail_after_a_crash_before_or_after_the_send_is_recorded(make_kith, monkeypatch):
    from kith.core.mail.outbound import Mail

    async with smtp_sink() as sink:
        kith = await make_kith(**sink.settings)
        _rep, _report, schedule = await scheduled(kith, format="csv", cadence="daily", at="07:15", span="previous")
        due = schedule.next_run_at
        real_send = Mail.send
        calls = 0

        async def crashing_send(self: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionError("the process died here")
            return await real_send(self, *args, **kwargs)

        monkeypatch.setattr(Mail, "send", crashing_send)
        with pytest.raises(ConnectionError):
            await deliver(kith, schedule.id, due)
        # the crash rolled everything back: the schedule still waits for this delivery
        assert (await get_schedule(kith, schedule.id)).next_run_at == due and await outbound(kith) == []
        await run_worker_until_idle(kith)  # the job is still pending: it runs now
        assert len(await outbound(kith)) == 1
        # a second run of the same delivery (a crash after its commit) finds it done
        assert await deliver(kith, schedule.id, due) is False
        await run_worker_until_idle(kith)
        assert len(await outbound(kith)) == 1 and len(sink.received) == 1
    message = sink.received[0].message
    yesterday = (due.astimezone(UTC) - dt.timedelta(days=1)).date().isoformat()
    assert message["Subject"] == f"Leads by stage ({yesterday})"
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename().endswith(".csv")
    rows = list(csv.reader(io.StringIO(attachment.get_payload(decode=True).decode("utf-8-sig"))))
    assert rows == [["Lifecycle stage", "Count"]]  # nothing was created yesterday


async def test_schedules_are_checked_and_belong_to_the_reports_owner(make_kith):
    async with smtp_sink() as sink:
        kith = await make_kith(**sink.settings)
        _rep, report, schedule = await scheduled(kith)
        other = await make_user(kith, roles=["sales_rep"])
        as_other = await permissions_for(kith, await kith.auth.principal_for_user(other["id"], "token"))
        with pytest.raises(ValidationFailed) as refused:
            await create_schedule(kith, report.id, recipients=["x@example.com"], permissions=as_other)
        assert refused.value.errors[0].code == "forbidden"
        with pytest.raises(ValidationFailed) as bad:
            await create_schedule(
                kith, report.id, recipients=["not an address"], format="pdf", cadence="weekly", at="8 o'clock",
                time_zone="Mars/Olympus",
            )  # fmt: skip
        assert {(e.field, e.code) for e in bad.value.errors} == {
            ("recipients[0]", "invalid"),
            ("format", "invalid"),
            ("at", "invalid"),
            ("timeZone", "invalid"),
            ("weekday", "invalid"),
        }
        assert [s.id for s in await list_schedules(kith, report.id)] == [schedule.id]
        await delete_schedule(kith, schedule.id)
        # its queued delivery is stale now: the worker runs it and sends nothing
        await run_worker_until_idle(kith)
        assert await outbound(kith) == [] and sink.received == []
