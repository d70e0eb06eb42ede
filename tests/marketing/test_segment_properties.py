"""The maintained members of every segment equal what its definition matches, after
any sequence of writes and as time passes.

Random sequences (fixed seeds, so a failure replays) of the writes that reach segments
in different ways: a contact's own fields, its organization's name, activities on its
timeline, deletes and restores; and the clock moving on, after which the refresh of
time-relative segments runs.  After every step each segment's stored members are
compared with the contacts its definition selects, read afresh.
"""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from kith.plugins.marketing.models import SegmentMembership
from kith.plugins.marketing.segments import engine
from kith.sdk.testing import system_context

RECENT = {"timeline": {"some": {"kind": {"eq": "call"}, "occurredAt": {"withinLast": "P30D"}}}}
DEFINITIONS = {
    "tier": {"customFields": {"tier": {"gte": 2}}},
    "b-orgs": {"organization": {"name": {"startsWith": "B"}}},
    "recent": RECENT,
    # the benchmark's shape: a custom field, a relation and recent activity
    "three": {"customFields": {"tier": {"gte": 1}}, "organization": {"name": {"startsWith": "B"}}, **RECENT},
}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_members_equal_the_definition_after_random_changes_and_time(make_kith, seed):
    kith = await make_kith(enable=["marketing"])
    await kith.custom_fields.add("contact", "tier", "integer", indexed=True)
    context = system_context(kith)
    rng = random.Random(seed)
    now = [dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)]
    kith.query.ctx.clock = lambda: now[0]
    records = context.records
    orgs = [await records.create("organization", {"name": name}) for name in ("Acme", "Beta", "Bolt")]
    contacts = [
        await records.create("contact", {"first_name": f"C{i}", "custom": {"tier": rng.randint(0, 3)}})
        for i in range(12)
    ]
    segments = {}
    for name, definition in DEFINITIONS.items():
        segments[name] = await records.create("segment", {"name": name, "definition": json.dumps(definition)})
    either = {
        "segmentMemberships": {
            "some": {"segmentId": {"in": [str(segments["tier"]["id"]), str(segments["recent"]["id"])]}}
        }
    }
    segments["either"] = await records.create("segment", {"name": "either", "definition": json.dumps(either)})
    activities: list[int] = []
    deleted: set[int] = set()

    async def check(step: str) -> None:
        for name, seg in segments.items():
            definition = json.loads(seg["definition"])
            expected = {int(c["id"]) for c in await records.list("contact", definition, first=1000)}
            rows = await SegmentMembership.select(SegmentMembership.contact).where(
                SegmentMembership.segment == seg["id"]
            )
            assert {int(r["contact"]) for r in rows} == expected, f"{name} after {step}"

    await check("setup")
    for step in range(40):
        contact = rng.choice(contacts)
        action = rng.choice(["tier", "org", "call", "uncall", "rename", "delete", "time", "time"])
        if action == "tier" and contact["id"] not in deleted:
            await records.update("contact", contact["id"], {"custom": {"tier": rng.randint(0, 3)}})
        elif action == "org" and contact["id"] not in deleted:
            org = rng.choice([*orgs, None])
            await records.update("contact", contact["id"], {"organization": org["id"] if org else None})
        elif action == "call" and contact["id"] not in deleted:
            when = now[0] - dt.timedelta(days=rng.randint(0, 45))
            made = await records.create(
                "activity",
                {
                    "kind": "call",
                    "subject": "Call",
                    "subject_type": "contact",
                    "subject_id": contact["id"],
                    "occurred_at": when,
                },
            )
            activities.append(made["id"])
        elif action == "uncall" and activities:
            await records.delete("activity", activities.pop(rng.randrange(len(activities))))
        elif action == "rename":
            org = rng.choice(orgs)
            await records.update("organization", org["id"], {"name": rng.choice(["Bravo", "Alpha", "Blue", "Zed"])})
        elif action == "delete":
            if contact["id"] in deleted:
                await records.restore("contact", contact["id"])
                deleted.discard(contact["id"])
            else:
                await records.delete("contact", contact["id"])
                deleted.add(contact["id"])
        elif action == "time":
            now[0] += dt.timedelta(days=rng.randint(1, 20))
            await engine.refresh_all(context, only_time_relative=True)  # what the refresh job runs
        await check(f"step {step}: {action}")
