"""SLA compliance as a report source, ``service.sla``: per policy and target (first
response, next response, resolution), how many tickets met it on time, how many late
(met after the deadline, or still unmet past it), how many are still running, and the
share of the decided ones met on time.

Which tickets count is a read through the reader's context (``records.each``), so an
agent who sees only the tickets assigned to them gets the compliance of those; the
dashboard's date range picks tickets by when they were created and its filter narrows
them where it names ticket fields.  The targets' states are the clocks the SLA engine
keeps (``SlaStatus``), read for those tickets only.  Params: ``policy`` (one policy's
rows only).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from kith.plugins.service.models import SlaStatus
from kith.sdk import PluginContext, ReportColumn, ReportRequest, ReportSource, ValidationFailed

#: tickets whose clocks are read with one query
CHUNK = 500
PARAMS = ("policy",)
COLUMNS = [
    ReportColumn("policy", "Policy", "dimension"),
    ReportColumn("target", "Target", "dimension"),
    ReportColumn("tickets", "Tickets"),
    ReportColumn("onTime", "Met on time"),
    ReportColumn("late", "Late"),
    ReportColumn("running", "Running"),
    ReportColumn("compliance", "Compliance"),
]


def _outcome(row: dict[str, Any]) -> str:
    if row["breached_at"] is not None:
        return "late"
    if row["state"] == "met":
        return "onTime"
    return "running"


async def run(context: PluginContext, request: ReportRequest) -> list[dict[str, Any]]:
    unknown = request.unknown_params(*PARAMS)
    if unknown:
        raise ValidationFailed(unknown)
    parts = [part for part in (request.within("createdAt"), request.filter_for("ticket")) if part]
    policy = request.params.get("policy")
    parts.append({"slaPolicy": {"eq": str(policy)} if policy else {"isNull": False}})
    counts: Counter[tuple[str, str, str]] = Counter()
    ids: list[int] = []

    async def tally() -> None:
        if not ids:
            return
        rows = await SlaStatus.select(SlaStatus.policy, SlaStatus.target, SlaStatus.state, SlaStatus.breached_at).where(
            (SlaStatus.entity == "ticket") & SlaStatus.record_id.is_in(list(ids))
        )
        for row in rows:
            counts[(str(row["policy"]), str(row["target"]), _outcome(row))] += 1
        ids.clear()

    async for ticket in context.records.each("ticket", {"and": parts}):
        ids.append(int(ticket["id"]))
        if len(ids) >= CHUNK:
            await tally()
    await tally()
    out = []
    for policy, target in sorted({(p, t) for p, t, _o in counts}):
        on_time, late, running = (counts[(policy, target, outcome)] for outcome in ("onTime", "late", "running"))
        decided = on_time + late
        out.append(
            {
                "policy": policy,
                "target": target,
                "tickets": on_time + late + running,
                "onTime": on_time,
                "late": late,
                "running": running,
                "compliance": round(on_time / decided, 4) if decided else None,
            }
        )
    return out


SOURCE = ReportSource(
    name="service.sla",
    title="SLA compliance",
    columns=COLUMNS,
    run=run,
    description="Per SLA policy and target: tickets met on time, late and running, and the share met on time.",
)
