"""Demo data for ``kith demo``: three segments over the demo's contacts (customers, the
people called in the last 30 days, a hand-picked VIP list) and a draft campaign to the
customers, ready for ``kith marketing send`` once SMTP is set up."""

from __future__ import annotations

import json

from kith.plugins.marketing.consent import subscribe
from kith.plugins.marketing.segments import members
from kith.sdk import PluginContext

WELCOME = """<h1>Hello {{ contact.first_name }}!</h1>
<p>Thank you for working with us. Here is what is new this spring.</p>"""


async def load(context: PluginContext, seed: int) -> dict[str, int]:
    demo = context.as_plugin(keep_permissions=False, name="demo")
    records = demo.system
    # the demo's customers subscribed to the newsletter on the website (single opt-in)
    for customer in await records.list("contact", {"lifecycleStage": {"eq": "customer"}}, first=1000):
        await subscribe(demo, int(customer["id"]), "newsletter", source="demo")
    customers = await records.create(
        "segment",
        {"name": "Customers", "definition": json.dumps({"lifecycleStage": {"eq": "customer"}})},
    )
    recent = {"timeline": {"some": {"kind": {"eq": "call"}, "occurredAt": {"withinLast": "P30D"}}}}
    await records.create("segment", {"name": "Called in the last 30 days", "definition": json.dumps(recent)})
    vip = await records.create("segment", {"name": "VIP list", "kind": "static"})
    picked = await records.list("contact", {"tags": {"contains": "vip"}}, first=20)
    if not picked:
        picked = await records.list("contact", {"lifecycleStage": {"eq": "customer"}}, first=5)
    await members.change_list(demo, int(vip["id"]), [int(c["id"]) for c in picked], add=True)
    await records.create(
        "campaign",
        {"name": "Spring welcome", "subject": "Spring news for {{ contact.first_name }}", "html": WELCOME,
         "segment": customers["id"], "exclude_segments": [str(vip["id"])],
         "cost": {"amount": "250.00", "currency": "EUR"}},
    )  # fmt: skip
    return {"segments": 3, "campaigns": 1}
