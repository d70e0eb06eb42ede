"""The worker's batch path (``core/automations/batch.py``) keeps the guarantees of
handling events one at a time: the same effects and run history, per-record order,
a poisoned event failing alone, and a bounded number of SQL statements per event.

Killing a worker inside a batch's transaction is tested with real processes in
``test_automation_durability.py``."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

import pytest

from kith.core.automations import service
from kith.core.automations.batch import Batching
from kith.core.automations.worker import Worker
from kith.core.records.change import Actor
from kith.core.storage.database import count_statements

ADMIN = Actor(name="test", source="system")


def note(subject: str, **extra: Any) -> dict[str, Any]:
    values = {"kind": "note", "subject": subject, "subjectType": "contact", "subjectId": "{{ record.id }}", **extra}
    return {"create_record": {"entity": "activity", "values": values}}


#: rules in the spirit of tests/benchmarks/bench_worker.py, plus a rule that reads what
#: an earlier rule of the same event wrote (eu-tag after eu-region), and one that waits
RULES: list[dict[str, Any]] = [
    {"name": "welcome-note", "trigger": {"event": "contact.created"},
     "conditions": {"emails": {"isNull": False}}, "actions": [note("Welcome {{ record.first_name }}")]},
    {"name": "vip-tag", "trigger": {"event": "contact.created"},
     "conditions": {"title": {"in": ["CEO", "CFO"]}}, "actions": [{"add_tag": {"tag": "vip"}}]},
    {"name": "eu-region", "trigger": {"event": "contact.created"},
     "conditions": {"and": [{"country": {"in": ["DE", "FR"]}}, {"region": {"isNull": True}}]},
     "actions": [{"update_fields": {"values": {"region": "EU"}}}]},
    {"name": "eu-tag", "trigger": {"event": "contact.created"},
     "conditions": {"region": {"eq": "EU"}}, "actions": [{"add_tag": {"tag": "eu"}}]},
    {"name": "follow-up", "trigger": {"event": "contact.created"}, "conditions": {"title": {"eq": "Wait"}},
     "actions": [{"add_tag": {"tag": "step-1"}}, {"wait": {"hours": 1}}, {"add_tag": {"tag": "step-2"}}]},
    {"name": "onboarding", "trigger": {"event": "contact.updated", "changed": "lifecycleStage", "to": "customer"},
     "actions": [note("Onboard {{ record.first_name }}", kind="task", dueAt="{{ in_days(3) }}"),
                 {"update_fields": {"values": {"title": "Customer {{ record.first_name }}"}}}]},
    {"name": "qualified", "trigger": {"event": "contact.updated", "changed": "lifecycleStage", "to": "opportunity"},
     "conditions": {"emails": {"isNull": False}},
     "actions": [note("Qualified: {{ record.first_name }} {{ record.last_name }}")]},
    {"name": "churn-watch", "trigger": {"event": "contact.updated", "changed": "lifecycleStage", "from": "customer"},
     "conditions": {"tags": {"contains": "vip"}}, "actions": [{"remove_tag": {"tag": "vip"}}]},
]  # fmt: skip

TITLES = ("CEO", "CFO", "Engineer", "Wait", None)
COUNTRIES = ("DE", "FR", "US", "GB")


async def apply_rules(kith: Any) -> None:
    for rule in RULES:
        await service.apply_rule(kith, {**rule, "enabled": True})


async def write_events(kith: Any, prefix: str, n: int = 30) -> list[int]:
    """``n`` contacts and some changes of each kind, through the record service, some of
    them changing a contact created in the same batch of events."""
    ids = []
    async with kith.db.write_transaction():
        for i in range(n):
            values: dict[str, Any] = {
                "first_name": f"{prefix}{i}",
                "last_name": "Lee",
                "title": TITLES[i % len(TITLES)],
                "country": COUNTRIES[i % len(COUNTRIES)],
            }
            if i % 3:
                values["emails"] = [f"{prefix.lower()}{i}@example.com"]
            ids.append((await kith.records.create("contact", values, ADMIN))["id"])
        for i in range(0, n, 2):
            await kith.records.update("contact", ids[i], {"lifecycle_stage": "customer"}, ADMIN)
        for i in range(0, n, 4):
            await kith.records.update("contact", ids[i], {"lifecycle_stage": "opportunity"}, ADMIN)
    return ids


async def outcome(kith: Any, prefix: str, ids: list[int]) -> dict[str, Any]:
    """What the rules did to these contacts, with ids and times left out and the name
    prefix replaced, so that two sets of contacts can be compared."""
    position = {record_id: i for i, record_id in enumerate(ids)}

    def plain(text: Any) -> Any:
        return re.sub(rf"\b{prefix}(\d+)", r"#\1", text, flags=re.IGNORECASE) if isinstance(text, str) else text

    contacts = {}
    for record_id in ids:
        record = await kith.records.get("contact", record_id)
        contacts[position[record_id]] = {
            key: plain(record[key]) for key in ("title", "region", "tags", "lifecycle_stage", "version")
        }
    activities = Counter()
    for row in await kith.db.execute("SELECT subject_id, kind, subject, due_at FROM activity"):
        if row["subject_id"] in position:
            activities[(position[row["subject_id"]], row["kind"], plain(row["subject"]), row["due_at"] is None)] += 1
    runs = Counter()
    for row in await kith.db.execute(
        "SELECT rule, record_id, status, attempt, actions, error FROM kith_automation_run"
    ):
        if row["record_id"] in position:
            actions = row["actions"] if isinstance(row["actions"], str) else json.dumps(row["actions"])
            actions = re.sub(r'"(id|version|waiting_until)":\s*[^,}]+', r'"\1": _', actions)
            runs[(row["rule"], position[row["record_id"]], row["status"], row["attempt"], plain(actions))] += 1
    audit = Counter()
    for row in await kith.db.execute(
        "SELECT record_id, action, actor, changes FROM kith_audit WHERE entity = 'contact'"
    ):
        if row["record_id"] in position:
            changes = row["changes"] if isinstance(row["changes"], str) else json.dumps(row["changes"])
            audit[(position[row["record_id"]], row["action"], row["actor"], plain(changes))] += 1
    jobs = Counter()
    for row in await kith.db.execute("SELECT event, record_id, status, payload FROM kith_outbox"):
        if row["record_id"] in position and row["event"] == "automation.run":
            payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
            jobs[(position[row["record_id"]], row["status"], payload["rule"], payload["start"])] += 1
    return {"contacts": contacts, "activities": activities, "runs": runs, "audit": audit, "jobs": jobs}


@pytest.mark.parametrize("batch", [50, 7, 1])
async def test_the_batch_path_does_what_handling_one_event_at_a_time_does(make_kith, monkeypatch, batch):
    """The same events, handled in batches (cut anywhere: 7 and 1 cut between events of
    one record) and then one at a time, leave the same records, activities, audit rows,
    runs and queued jobs."""
    kith = await make_kith(worker_batch=batch)
    await apply_rules(kith)
    batched_ids = await write_events(kith, "Bat")
    async with count_statements() as batched:
        await Worker(kith).run_until_idle()
    with monkeypatch.context() as patch:  # every event the old way, one at a time
        patch.setattr(Batching, "firing", lambda self, row: None)
        single_ids = await write_events(kith, "One")
        async with count_statements() as single:
            await Worker(kith).run_until_idle()
    result = await outcome(kith, "Bat", batched_ids)
    assert result == await outcome(kith, "One", single_ids)
    # ... and the rules did their work: every kind of run, a rule that waits, tags set by
    # a rule that reads what an earlier rule of the same event wrote
    assert {status for (_rule, _i, status, *_rest) in result["runs"]} == {"succeeded", "skipped", "waiting"}
    assert result["contacts"][4]["tags"] == ["eu"]  # DE: region set by eu-region, then tagged by eu-tag
    assert result["contacts"][4]["title"] == "Customer #4"
    assert result["contacts"][3]["tags"] == ["step-1"] and result["jobs"][(3, "pending", "follow-up", 2)] == 1
    assert result["contacts"][0]["tags"] == ["eu"]  # vip added, then removed by churn-watch
    if batch == 50:
        assert batched.count * 3 < single.count  # with far fewer statements


async def test_events_of_one_record_in_one_batch_run_in_order(make_kith):
    kith = await make_kith()
    rules = [
        {"name": "a-first", "trigger": {"event": "contact.created"}, "actions": [{"add_tag": {"tag": "a"}}]},
        {"name": "b-after-a", "trigger": {"event": "contact.updated", "changed": "title"},
         "conditions": {"tags": {"contains": "a"}}, "actions": [{"add_tag": {"tag": "b"}}]},
        {"name": "c-after-b", "trigger": {"event": "contact.updated", "changed": "title"},
         "conditions": {"tags": {"contains": "b"}},
         "actions": [{"add_tag": {"tag": "c"}}, {"update_fields": {"values": {"city": "{{ record.tags | length }}"}}}]},
    ]  # fmt: skip
    for rule in rules:
        await service.apply_rule(kith, {**rule, "enabled": True})
    contact = await kith.records.create("contact", {"first_name": "Ann"}, ADMIN)
    await kith.records.update("contact", contact["id"], {"title": "CTO"}, ADMIN)
    await kith.records.update("contact", contact["id"], {"title": "CEO"}, ADMIN)
    # three events of one record in one claim: created, then two title changes
    assert await Worker(kith).run_until_idle() > 3
    stored = await kith.records.get("contact", contact["id"])
    assert stored["tags"] == ["a", "b", "c"]
    assert stored["city"] == "3"  # rendered after add_tag c was written: it saw three tags
    runs = await service.runs(kith, None)
    by_rule = Counter((run["rule"], run["status"]) for run in runs)
    assert by_rule == {("a-first", "succeeded"): 1, ("b-after-a", "succeeded"): 2, ("c-after-b", "succeeded"): 2}


async def test_a_poisoned_event_fails_alone_and_the_rest_of_its_batch_succeeds(make_kith):
    kith = await make_kith(automation_retry_base_seconds=0.01, automation_max_attempts=3, worker_batch=50)
    orgs = [(await kith.records.create("organization", {"name": f"Org {i}"}, ADMIN))["id"] for i in range(3)]
    for rule in (
        {"name": "link-org", "trigger": {"event": "contact.created"},
         "actions": [{"update_fields": {"values": {"organizationId": "{{ record.city }}"}}}]},
        {"name": "welcome", "trigger": {"event": "contact.created"}, "actions": [note("Welcome {{ record.id }}")]},
    ):  # fmt: skip
        await service.apply_rule(kith, {**rule, "enabled": True})
    contacts = []
    for i in range(120):  # three batches of 50, 50 and 20; the poisoned one in the first
        city = "999999" if i == 7 else str(orgs[i % 3])  # organization 999999 does not exist
        contacts.append((await kith.records.create("contact", {"first_name": f"P{i}", "city": city}, ADMIN))["id"])
    poisoned = contacts[7]
    worker = Worker(kith)
    for _ in range(100):
        await worker.run_until_idle()
        if await service.failed_jobs(kith):
            break
        await asyncio.sleep(0.02)
    (failed,) = await service.failed_jobs(kith)
    assert failed.rule == "link-org" and "organizationId" in failed.error and "999999" in failed.error
    assert failed.attempts == 3
    # every other contact is linked, once; the poisoned one is not
    for i, contact_id in enumerate(contacts):
        stored = await kith.records.get("contact", contact_id)
        assert stored["organization"] == (None if contact_id == poisoned else orgs[i % 3])
    updates = await kith.db.execute(
        "SELECT record_id, COUNT(*) AS n FROM kith_audit WHERE entity = 'contact' AND action = 'update' GROUP BY record_id"
    )
    assert {row["record_id"]: int(row["n"]) for row in updates} == {c: 1 for c in contacts if c != poisoned}
    # every contact has exactly one welcome note (the poisoned event's other rule succeeded)
    notes = await kith.db.execute("SELECT subject_id FROM activity WHERE subject LIKE 'Welcome %'")
    assert Counter(row["subject_id"] for row in notes) == Counter(contacts)
    # one run per rule and event, except the poisoned rule's retries: nothing was recorded twice
    runs = Counter((r["rule"], r["record_id"], r["status"]) for r in await service.runs(kith, None, limit=1000))
    expected = Counter({("welcome", c, "succeeded"): 1 for c in contacts})
    expected.update({("link-org", c, "succeeded"): 1 for c in contacts if c != poisoned})
    expected.update({("link-org", poisoned, "retrying"): 2, ("link-org", poisoned, "dead"): 1})
    assert runs == expected
    statuses = await kith.db.execute("SELECT status, COUNT(*) AS n FROM kith_outbox GROUP BY status")
    assert {row["status"]: int(row["n"]) for row in statuses} == {"done": 3 + 120 + 120 + 119, "dead": 1}


async def test_statements_per_event_stay_below_three(make_kith):
    kith = await make_kith()
    await apply_rules(kith)
    ids = await write_events(kith, "S", n=100)
    events = len(await kith.db.execute("SELECT id FROM kith_outbox WHERE status = 'pending'"))
    assert events == 100 + 50 + 25
    async with count_statements() as counter:
        handled = await Worker(kith).run_until_idle()
    assert handled > events  # the events the rules caused, too
    assert counter.count <= 3 * events, f"{counter.count} statements for {events} events"
    # ... and they did the work: no failure, every contact welcomed that has an email
    runs = Counter(r["status"] for r in await service.runs(kith, None, limit=10_000))
    assert set(runs) == {"succeeded", "skipped", "waiting"}
    notes = await kith.db.execute("SELECT COUNT(*) AS n FROM activity WHERE subject LIKE 'Welcome %'")
    assert int(notes[0]["n"]) == len([i for i in range(100) if i % 3])
    assert len(ids) == 100
