"""``kith marketing …`` as an admin runs it: segments with their counts, a refresh, and
a campaign started and reported on."""

from __future__ import annotations

import asyncio
import json

from kith.core.runtime import Kith
from kith.core.settings import load_settings
from kith.plugins.marketing.consent import subscribe
from kith.sdk.testing import make_contact, system_context


def test_segments_refresh_and_a_campaign(kith_cli, kith_database_url):
    assert kith_cli("plugins", "enable", "marketing").exit_code == 0

    async def setup() -> None:
        kith = await Kith.open(load_settings(database_url=kith_database_url))
        try:
            context = system_context(kith)
            for name in ("Ann", "Bob"):
                made = await make_contact(
                    kith, first_name=name, lifecycle_stage="customer", emails=[f"{name}@example.com"]
                )
                await subscribe(context, made["id"], "newsletter", source="test")
            records = context.records
            customers = {"lifecycleStage": {"eq": "customer"}}
            segment = await records.create("segment", {"name": "Customers", "definition": json.dumps(customers)})
            await records.create("segment", {"name": "Hand-picked", "kind": "static"})
            await records.create("campaign", {"name": "Spring", "subject": "Hi", "html": "<p>Hi</p>",
                                              "segment": segment["id"]})  # fmt: skip
            # a write no hook follows: the refresh catches it
            await kith.db.execute("UPDATE contact SET lifecycle_stage = 'lead' WHERE first_name = 'Bob'")
        finally:
            await kith.close()

    asyncio.run(setup())
    listed = kith_cli("marketing", "segments")
    assert listed.exit_code == 0, listed.output
    lines = [line.split() for line in listed.output.splitlines()]
    assert lines == [["Customers", "dynamic", "2"], ["Hand-picked", "static", "0"]]
    refreshed = kith_cli("marketing", "refresh")
    assert refreshed.output.strip() == "Customers: 0 joined, 1 left"
    sent = kith_cli("marketing", "send", "Spring")
    assert sent.exit_code == 0 and sent.output.strip() == "Spring: sending to 1 recipient(s)"
    assert kith_cli("marketing", "campaigns").output.split() == ["Spring", "sending", "queued", "1"]
    again = kith_cli("marketing", "send", "Spring")
    assert again.exit_code != 0 and "a sending campaign cannot start" in again.output
    unknown = kith_cli("marketing", "send", "Autumn")
    assert unknown.exit_code != 0 and "no campaign named 'Autumn'" in unknown.output
