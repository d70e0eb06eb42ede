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

from piccolo.querystring import QueryString

from kith.plugins.sales import lead_model
from kith.sdk import Actor, Change, Kith, ValidationFailed

SCORE_CHANGED = "lead.score_changed"
#: statuses whose leads are still worth scoring (converted and disqualified ones keep theirs)
OPEN_STATUSES = ("new", "contacted", "qualified")
SCORER = Actor(name="lead scoring", source="plugin")


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


async def enabled_rules(kith: Kith) -> list[dict[str, Any]]:
    rows = await kith.db.execute(
        "SELECT id, name, description, points, conditions, activity_kind, max_points, half_life_days "
        "FROM sales_scoring_rule WHERE enabled = {} AND deleted_at IS NULL ORDER BY id",
        True,
    )
    return [dict(r) for r in rows]


async def _matching(kith: Kith, rules: list[dict[str, Any]], lead_ids: list[int]) -> dict[int, set[int]]:
    """Which rules' conditions each lead meets, in one statement."""
    checks = [r for r in rules if _conditions(r)]
    matches: dict[int, set[int]] = {i: set() for i in lead_ids}
    if not checks or not lead_ids:
        return matches
    entity = kith.entity("lead")
    columns = [
        QueryString("CASE WHEN {} THEN 1 ELSE 0 END AS " + f"_r{i}", kith.query.where(entity, _conditions(r)))
        for i, r in enumerate(checks)
    ]
    placeholders = ", ".join("{}" for _ in lead_ids)
    rows = await kith.db.fetch(
        QueryString(
            "SELECT t.id" + "".join(", {}" for _ in columns) + f" FROM sales_lead t WHERE t.id IN ({placeholders})",
            *columns,
            *lead_ids,
        )
    )
    for row in rows:
        matches[int(row["id"])] = {checks[i]["id"] for i in range(len(checks)) if row[f"_r{i}"]}
    return matches


async def _activities(kith: Kith, kinds: set[str], lead_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in lead_ids}
    if not kinds or not lead_ids:
        return found
    ids = ", ".join("{}" for _ in lead_ids)
    kind_list = ", ".join("{}" for _ in kinds)
    rows = await kith.db.execute(
        "SELECT subject_id, kind, occurred_at, created_at FROM activity WHERE subject_type = 'lead' "
        f"AND subject_id IN ({ids}) AND kind IN ({kind_list}) AND deleted_at IS NULL",
        *lead_ids,
        *sorted(kinds),
    )
    for row in rows:
        found[int(row["subject_id"])].append(dict(row))
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


async def score_leads(kith: Kith, lead_ids: Iterable[int] | None = None, now: dt.datetime | None = None) -> int:
    """Score these leads (default: every open lead); returns how many scores changed."""
    now = now or dt.datetime.now(dt.UTC)
    rules = await enabled_rules(kith)
    model = await lead_model.current(kith)
    changed = 0
    for batch in await _batches(kith, None if lead_ids is None else list(lead_ids)):
        leads = await kith.db.execute(
            "SELECT * FROM sales_lead WHERE id IN ({}) AND deleted_at IS NULL".format(", ".join("{}" for _ in batch)),
            *batch,
        )
        ids = [int(r["id"]) for r in leads]
        matched = await _matching(kith, rules, ids)
        kinds = {str(r["activity_kind"]) for r in rules if r.get("activity_kind")} | (
            set(lead_model.ACTIVITY_KINDS) if model else set()
        )
        activities = await _activities(kith, kinds, ids)
        for lead in leads:
            lead_id = int(lead["id"])
            lines = rule_lines(rules, lead, matched[lead_id], activities[lead_id], now)
            chance, factors = (None, []) if model is None else lead_model.predict(model, lead, activities[lead_id])
            changed += await _store(kith, dict(lead), lines + factors, chance, now)
    return changed


async def _batches(kith: Kith, lead_ids: list[int] | None, size: int = 200) -> list[list[int]]:
    if lead_ids is None:
        rows = await kith.db.execute(
            "SELECT id FROM sales_lead WHERE deleted_at IS NULL AND status IN ({}, {}, {}) ORDER BY id", *OPEN_STATUSES
        )
        lead_ids = [int(r["id"]) for r in rows]
    return [lead_ids[i : i + size] for i in range(0, len(lead_ids), size)]


async def _store(kith: Kith, lead: dict[str, Any], lines: list[ScoreLine], chance: int | None, now: dt.datetime) -> int:
    score = sum(line.points for line in lines if line.source == "rules")
    async with kith.db.write_transaction():
        await kith.db.execute("DELETE FROM sales_lead_score_item WHERE lead = {}", lead["id"])
        for line in lines:
            await kith.db.execute(
                "INSERT INTO sales_lead_score_item (lead, source, name, points, reason, created_at, updated_at, "
                "version, custom) VALUES ({}, {}, {}, {}, {}, {}, {}, 1, {})",
                lead["id"],
                line.source,
                line.name,
                line.points,
                line.reason,
                now,
                now,
                "{}",
            )
        if score == lead.get("score") and chance == lead.get("score_model"):
            return 0
        await kith.records.update("lead", lead["id"], {"score": score, "score_model": chance, "scored_at": now}, SCORER)
        if score != lead.get("score"):
            await kith.automations.emit(SCORE_CHANGED, "lead", lead["id"], {"from": lead.get("score"), "to": score})
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
        try:
            change.context._kith.query.where(change.context._kith.entity("lead"), conditions)
        except ValidationFailed as exc:
            first = exc.errors[0]
            where = f"{first.field}: " if first.field else ""
            raise ValidationFailed.single("conditions", first.code, where + first.message) from None
        change.values["conditions"] = json.dumps(conditions, sort_keys=True)
    kinds = change.context._kith.entity("activity").fields["kind"].choices
    if values.get("activity_kind") not in (None, "") and values["activity_kind"] not in kinds:
        raise ValidationFailed.single("activityKind", "invalid", f"must be one of {', '.join(kinds)}")
    if raw in (None, "") and not values.get("activity_kind"):
        raise ValidationFailed.single("conditions", "required", "give conditions, an activityKind, or both")
