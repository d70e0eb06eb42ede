"""Worker leases: short, renewed by a live worker, and given up by a dead one.

A live worker on a slow job keeps its rows past the original lease (another worker
takes nothing, the job runs once); a worker that claimed and died leaves its rows to
another once the lease has run out — 30 seconds by default."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from kith.core.automations import service
from kith.core.automations.worker import Worker
from kith.sdk.testing import make_contact
from kith_test_plugins import slow_steps


def welcome_rule(hold: dict[str, Any] | None = None) -> dict[str, Any]:
    actions: list[dict[str, Any]] = [
        {"create_record": {"entity": "activity", "values": {
            "kind": "note", "subject": "welcome {{ record.id }}", "subjectType": "contact",
            "subjectId": "{{ record.id }}"}}},
    ]  # fmt: skip
    if hold is not None:
        actions.append({"call_function": {"function": "hold", "args": hold}})
    return {"name": "welcome", "enabled": True, "trigger": {"event": "contact.created"}, "actions": actions}


async def welcomes(kith: Any) -> int:
    rows = await kith.db.execute("SELECT COUNT(*) AS n FROM activity WHERE subject LIKE 'welcome %'")
    return int(rows[0]["n"])


def test_the_default_lease_is_thirty_seconds() -> None:
    from kith.core.settings import load_settings

    assert load_settings().worker_lease_seconds == 30


async def test_a_live_worker_keeps_its_lease_on_a_slow_job(make_kith: Any, tmp_path: Any) -> None:
    lease = 0.6
    kith = await make_kith(plugins=[slow_steps.plugin], enable=["slow_steps"], worker_lease_seconds=lease)
    hold_file = tmp_path / "hold"
    hold_file.touch()
    contact = await make_contact(kith)
    await service.apply_rule(kith, welcome_rule({"record_id": contact["id"], "while_exists": str(hold_file)}))
    second = await make_contact(kith)
    live, other = Worker(kith, name="live"), Worker(kith, name="other")
    started = dt.datetime.now(dt.UTC)
    running = asyncio.create_task(live.run_until_idle())
    try:
        for _ in range(600):  # until the live worker has renewed three times (a whole lease)
            if live.renewals >= 3 or running.done():
                break
            await asyncio.sleep(0.05)
        assert not running.done() and live.renewals >= 3
        assert (dt.datetime.now(dt.UTC) - started).total_seconds() > lease  # the first lease is long over
        held = await kith.db.execute(
            "SELECT id FROM kith_outbox WHERE event = 'contact.created' AND locked_by = 'live' AND status = 'pending'"
        )
        assert held  # the held contact's event (at least) is still being worked on
        taken = await other.claim()  # new events (the activity just made) are free to take; the held ones are not
        assert {r["event"] for r in taken} <= {"activity.created"}
        assert not {r["id"] for r in held} & {r["id"] for r in taken}
    finally:
        hold_file.unlink()
        await asyncio.wait_for(running, timeout=60)
    assert await welcomes(kith) == 2  # the held contact and the other one, each once
    runs = await kith.db.execute("SELECT record_id, status FROM kith_automation_run WHERE rule = 'welcome'")
    assert sorted((r["record_id"], r["status"]) for r in runs) == sorted(
        [(contact["id"], "succeeded"), (second["id"], "succeeded")]
    )


@pytest.mark.parametrize("lease", [30.0, 5.0])
async def test_a_dead_workers_rows_go_to_another_after_the_lease(make_kith: Any, lease: float) -> None:
    kith = await make_kith(worker_lease_seconds=lease)
    await service.apply_rule(kith, welcome_rule())
    for _ in range(3):
        await make_contact(kith)
    now = dt.datetime.now(dt.UTC)
    dead, other = Worker(kith, name="dead"), Worker(kith, name="other")
    dead.clock = lambda: now
    assert len(await dead.claim()) == 3  # claimed, then the process died: no heartbeat, no work
    other.clock = lambda: now + dt.timedelta(seconds=lease - 1)
    assert await other.claim() == []
    other.clock = lambda: now + dt.timedelta(seconds=lease + 1)
    taken = await other.claim()
    assert len(taken) == 3 and {r["locked_by"] for r in taken} == {"other"}
    # the dead worker's renewal (had it woken up) cannot take them back
    assert await dead.renew([r["id"] for r in taken]) == 0


async def test_renewal_extends_only_this_workers_unfinished_rows(make_kith: Any) -> None:
    kith = await make_kith(worker_lease_seconds=30)
    for _ in range(2):
        await make_contact(kith)
    now = dt.datetime.now(dt.UTC)
    worker = Worker(kith, name="w")
    worker.clock = lambda: now
    first, second = await worker.claim()
    await worker._finish(first, "done", None)
    worker.clock = lambda: now + dt.timedelta(seconds=20)
    assert await worker.renew([first["id"], second["id"]]) == 1  # the finished row stays finished
    rows = {r["id"]: r for r in await kith.db.execute("SELECT id, locked_until FROM kith_outbox")}
    assert rows[first["id"]]["locked_until"] is None
    later = Worker(kith, name="later")
    later.clock = lambda: now + dt.timedelta(seconds=45)  # past the first lease, within the renewed one
    assert await later.claim() == []
