"""Lead scoring by rules: points for what a lead is (conditions in the filter language,
custom fields included) and for what it does (activities on its timeline), halving
every ``half_life_days`` so that old interest counts for less.

A lead's score is the sum of its explanation's lines, each rounded on its own, so the
explanation always adds up to the score a user sees.  The lines are derived rows,
rewritten whole on every scoring; the score itself is written through the record
service (audited, and announced as ``lead.score_changed`` when it moves).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from kith.plugins.sales import lead_model
from kith.plugins.sales.models import Lead, LeadScoreItem, ScoringRule
from kith.sdk import Change, PluginContext, ValidationFailed

SCORE_CHANGED = "lead.score_changed"
#: statuses whose leads are still worth scoring (converted and disqualified ones keep theirs)
OPEN_STATUSES = ("new", "contacted", "qualified")
#: the name the audit gives the plugin when it writes a score
SCORER = "lead scoring"


@dataclass(frozen=True)
class ScoreLine:
    source: str  # "rules" or "model"
    name: str
    points: int
    reason: str


def decay(points: float, age_days: float, half_life_days: int | None) -> float:
    """``points`` halved once per ``half_life_days`` of age (no half-life: no decay)."""
    if not half_life_days or age_days <= 0:
        return points
    return points * 0.5 ** (age_days / half_life_days)


def _round(value: float) -> int:
    return int(Decimal(repr(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _age_days(moment: Any, now: dt.datetime) -> float:
    if moment is None:
        return 0.0
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0.0, (now - moment).total_seconds() / 86400)


def _conditions(rule: dict[str, Any]) -> dict[str, Any] | None:
    raw = rule.get("conditions")
    return json.loads(raw) if isinstance(raw, str) and raw.strip() else raw or None


async def enabled_rules() -> list[dict[str, Any]]:
    rule = ScoringRule
    columns = (rule.id, rule.name, rule.description, rule.points, rule.conditions, rule.activity_kind)
    rows = (
        await rule.select(*columns, rule.max_points, rule.half_life_days)
        .where((rule.enabled == True) & rule.deleted_at.is_null())  # noqa: E712 (a Piccolo condition)
        .order_by(rule.id)
    )
    return [dict(r) for r in rows]


async def _matching(context: PluginContext, rules: list[dict[str, Any]], lead_ids: list[int]) -> dict[int, set[int]]:
    """Which rules' conditions each lead meets: one query per rule with conditions, over
    the batch, as the system (a score counts what the lead is, not who asks)."""
    matches: dict[int, set[int]] = {i: set() for i in lead_ids}
    if not lead_ids:
        return matches
    for rule in rules:
        conditions = _conditions(rule)
        if not conditions:
            continue
        batch = {"and": [conditions, {"id": {"in": lead_ids}}]}
        for lead in await context.system.list("lead", batch, first=len(lead_ids)):
            matches[int(lead["id"])].add(rule["id"])
    return matches


async def _activities(context: PluginContext, kinds: set[str], lead_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in lead_ids}
    if not kinds or not lead_ids:
        return found
    timelines = {"subjectType": {"eq": "lead"}, "subjectId": {"in": lead_ids}, "kind": {"in": sorted(kinds)}}
    async for row in context.system.each("activity", timelines):
        found[int(row["subject_id"])].append(row)
    return found


def rule_lines(
    rules: list[dict[str, Any]],
    lead: Mapping[str, Any],
    matched: set[int],
    activities: list[dict[str, Any]],
    now: dt.datetime,
) -> list[ScoreLine]:
    """The explanation of one lead's rule score: one line per rule that gave points."""
    lines = []
    lead_age = _age_days(lead.get("created_at"), now)
    for rule in rules:
        has_conditions = bool(_conditions(rule))
        if has_conditions and rule["id"] not in matched:
            continue
        half_life = rule.get("half_life_days")
        if rule.get("activity_kind"):
            own = [a for a in activities if a["kind"] == rule["activity_kind"]]
            if not own:
                continue
            raw = sum(
                decay(rule["points"], _age_days(a["occurred_at"] or a["created_at"], now), half_life) for a in own
            )
            reason = f"{len(own)} {rule['activity_kind']}{'s' if len(own) != 1 else ''} at {rule['points']} points each"
            cap = rule.get("max_points")
            if cap is not None and abs(raw) > abs(cap):
                raw = cap if raw > 0 else -abs(cap)
                reason += f", capped at {cap}"
        else:
            raw = decay(rule["points"], lead_age, half_life)
            reason = rule.get("description") or "matches the rule's conditions"
        if half_life:
            reason += f" (halving every {half_life} days)"
        points = _round(raw)
        if points:
            lines.append(ScoreLine("rules", rule["name"], points, reason))
    return lines


async def score_leads(
    context: PluginContext, lead_ids: Iterable[int] | None = None, now: dt.datetime | None = None
) -> int:
    """Score these leads (default: every open lead); returns how many scores changed.

    The plugin scores on its own account: it reads every lead and writes the score as
    itself (``lead scoring`` in the audit), whoever triggered the scoring."""
    now = now or dt.datetime.now(dt.UTC)
    rules = await enabled_rules()
    model = await lead_model.current()
    changed = 0
    for batch in await _batches(None if lead_ids is None else list(lead_ids)):
        leads = await Lead.select().where(Lead.id.is_in(batch) & Lead.deleted_at.is_null()).order_by(Lead.id)
        ids = [int(r["id"]) for r in leads]
        matched = await _matching(context, rules, ids)
        kinds = {str(r["activity_kind"]) for r in rules if r.get("activity_kind")} | (
            set(lead_model.ACTIVITY_KINDS) if model else set()
        )
        activities = await _activities(context, kinds, ids)
        for lead in leads:
            lead_id = int(lead["id"])
            lines = rule_lines(rules, lead, matched[lead_id], activities[lead_id], now)
            chance, factors = (None, []) if model is None else lead_model.predict(model, lead, activities[lead_id])
            changed += await _store(context, dict(lead), lines + factors, chance, now)
    return changed


async def _batches(lead_ids: list[int] | None, size: int = 200) -> list[list[int]]:
    if lead_ids is None:
        rows = (
            await Lead.select(Lead.id)
            .where(Lead.deleted_at.is_null() & Lead.status.is_in(list(OPEN_STATUSES)))
            .order_by(Lead.id)
        )
        lead_ids = [int(r["id"]) for r in rows]
    return [lead_ids[i : i + size] for i in range(0, len(lead_ids), size)]


async def _store(
    context: PluginContext, lead: dict[str, Any], lines: list[ScoreLine], chance: int | None, now: dt.datetime
) -> int:
    score = sum(line.points for line in lines if line.source == "rules")
    async with context.db.transaction():
        # the explanation is derived rows, rewritten whole (not records: no audit, no events)
        await LeadScoreItem.delete().where(LeadScoreItem.lead == lead["id"])
        if lines:
            items = [
                LeadScoreItem(
                    lead=lead["id"],
                    source=line.source,
                    name=line.name,
                    points=line.points,
                    reason=line.reason,
                    created_at=now,
                    updated_at=now,
                )
                for line in lines
            ]
            await LeadScoreItem.insert(*items)
        if score == lead.get("score") and chance == lead.get("score_model"):
            return 0
        scorer = context.as_plugin(keep_permissions=False, name=SCORER)
        await scorer.records.update("lead", lead["id"], {"score": score, "score_model": chance, "scored_at": now})
        if score != lead.get("score"):
            await context.emit(SCORE_CHANGED, "lead", lead["id"], {"from": lead.get("score"), "to": score})
    return 1


async def check_rule(change: Change) -> None:
    """A scoring rule needs conditions that compile, or an activity kind, or both."""
    values = {**(change.before or {}), **change.values}
    raw = values.get("conditions")
    if raw not in (None, ""):
        try:
            conditions = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            raise ValidationFailed.single("conditions", "invalid", f"not JSON: {exc}") from None
        if not isinstance(conditions, dict):
            raise ValidationFailed.single("conditions", "invalid", 'must be a filter object, like {"source": ...}')
        try:  # counting with them compiles them (the answer does not matter)
            await change.context.system.count("lead", conditions)
        except ValidationFailed as exc:
            first = exc.errors[0]
            where = f"{first.field}: " if first.field else ""
            raise ValidationFailed.single("conditions", first.code, where + first.message) from None
        change.values["conditions"] = json.dumps(conditions, sort_keys=True)
    kinds = activity_kinds(change.context)
    if values.get("activity_kind") not in (None, "") and values["activity_kind"] not in kinds:
        raise ValidationFailed.single("activityKind", "invalid", f"must be one of {', '.join(kinds)}")
    if raw in (None, "") and not values.get("activity_kind"):
        raise ValidationFailed.single("conditions", "required", "give conditions, an activityKind, or both")


def activity_kinds(context: PluginContext) -> tuple[str, ...]:
    """The kinds an activity may have (the core's and those plugins add)."""
    return context.choices("activity", "kind")
