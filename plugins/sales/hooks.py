"""The sales plugin's hooks: deal defaults, stage moves (history, closing, the
``deal.stage_changed`` event), and what it declares to the core.

Lifecycle hooks are scoped to their entity with ``entity_hook`` (Kith calls each only
for writes of that entity); the quote entities' ones live in ``quotes.hooks``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from kith.plugins.sales import automations, conversion, privacy, scoring
from kith.plugins.sales import entities as declarations
from kith.plugins.sales.models import DealContact, Pipeline, Stage, StageChange
from kith.plugins.sales.quotes import hooks as quote_hooks
from kith.sdk import (
    Change,
    CustomerViewSection,
    DomainEvent,
    DuplicateRule,
    Entity,
    FieldError,
    PersonalRecords,
    PluginContext,
    ReportSource,
    RoleDefinition,
    ValidationFailed,
    entity_hook,
    hookimpl,
)

STAGE_CHANGED = "deal.stage_changed"

# The quote entities' lifecycle hooks: pluggy looks for implementations in this module.
line_before_create = quote_hooks.line_before_create
line_before_delete = quote_hooks.line_before_delete
line_before_update = quote_hooks.line_before_update
price_before_create = quote_hooks.price_before_create
price_before_update = quote_hooks.price_before_update
product_before_create = quote_hooks.product_before_create
product_before_update = quote_hooks.product_before_update
quote_before_create = quote_hooks.quote_before_create
quote_before_delete = quote_hooks.quote_before_delete
quote_before_update = quote_hooks.quote_before_update


@hookimpl
def kith_entities() -> list[Entity]:
    return declarations.entities()


@hookimpl
def kith_roles() -> list[RoleDefinition]:
    return declarations.roles()


@hookimpl
def kith_duplicate_rules() -> list[DuplicateRule]:
    """Leads cannot share an email (refused on write), so a double has another address:
    a similar name at the same company domain (a work and a personal address)."""
    return [
        DuplicateRule(
            "lead.name_and_domain", "lead", "fuzzy", ("first_name", "last_name"), 85, 0.95, "person_name", ("domain",)
        )
    ]


@hookimpl
def kith_automation_events() -> list[DomainEvent]:
    return [
        DomainEvent(
            STAGE_CHANGED,
            "deal",
            "A deal moved to another stage (payload: from, to, kinds).",
            reveals={"from": "stage", "to": "stage", "from_kind": "stage", "to_kind": "stage"},
        ),
        *automations.events(),
        *quote_hooks.EVENTS,
    ]


@hookimpl
def kith_automation_functions() -> dict[str, Any]:
    return dict(automations.FUNCTIONS)


@hookimpl
def kith_automation_rules() -> list[dict[str, Any]]:
    return automations.rules()


@hookimpl
async def kith_personal_data(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    """The person's leads, deal roles and score lines; the deals, quotes and stage history
    that involve them (see ``privacy``)."""
    return await privacy.personal_records(context, contact)


@hookimpl
async def kith_customer_view(context: PluginContext, contact: dict[str, Any]) -> CustomerViewSection:
    """The person's deals: as the main contact or in another role, within what the viewer may read."""
    roles = {
        row["deal"]: row["role"]
        for row in await DealContact.select(DealContact.deal, DealContact.role)
        .where((DealContact.contact == contact["id"]) & DealContact.deleted_at.is_null())
        .order_by(DealContact.id, ascending=False)
    }
    mine: dict[str, Any] = {"contactId": {"eq": contact["id"]}}
    if roles:
        mine = {"or": [mine, {"id": {"in": sorted(roles)}}]}
    rows = await context.records.list("deal", mine, order_by=[{"id": "ASC"}], first=500)
    stages = await _stages([row["stage"] for row in rows if row.get("stage") is not None])
    items = [
        {
            "id": row["id"],
            "name": row["name"],
            "amount": None if not row.get("amount") else str(row["amount"]["amount"]),
            "currency": (row.get("amount") or {}).get("currency"),
            "stage": stages.get(row.get("stage") or 0, {}).get("name"),
            "status": stages.get(row.get("stage") or 0, {}).get("kind"),
            "expectedClose": _iso(row.get("expected_close")),
            "role": roles.get(row["id"]) or "contact",
        }
        for row in rows
    ]
    return CustomerViewSection("Deals", items, entity="deal")


@hookimpl
async def kith_demo_data(context: PluginContext, seed: int) -> dict[str, int]:
    from kith.plugins.sales.demo import load

    return await load(context, seed)


@hookimpl
def kith_cli_commands() -> list[click.Command]:
    from kith.plugins.sales.cli import sales_group

    return [sales_group]


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else value


_STAGE = (Stage.id, Stage.pipeline, Stage.name, Stage.kind, Stage.probability)


async def _stages(ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = await Stage.select(*_STAGE).where(Stage.id.is_in(sorted(set(ids))))
    return {row["id"]: row for row in rows}


async def _stage(stage_id: Any) -> dict[str, Any] | None:
    if stage_id is None:
        return None
    found: dict[str, Any] | None = (
        await Stage.select(*_STAGE).where((Stage.id == int(stage_id)) & Stage.deleted_at.is_null()).first()
    )
    return found


async def _first_open_stage(pipeline_id: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (
        await Stage.select(*_STAGE)
        .where((Stage.pipeline == pipeline_id) & (Stage.kind == "open") & Stage.deleted_at.is_null())
        .order_by(Stage.position, Stage.id)
        .first()
    )
    return found


@hookimpl
def kith_graphql_queries() -> list[type]:
    from kith.plugins.sales.forecast.graphql import ForecastQueries
    from kith.plugins.sales.graphql import SalesQueries
    from kith.plugins.sales.quotes.graphql import QuoteQueries

    return [SalesQueries, ForecastQueries, QuoteQueries]


@hookimpl
def kith_report_sources() -> list[ReportSource]:
    from kith.plugins.sales.forecast.report_source import SOURCE

    return [SOURCE]


@hookimpl
def kith_graphql_mutations() -> list[type]:
    from kith.plugins.sales.forecast.graphql import ForecastMutations
    from kith.plugins.sales.graphql import SalesMutations
    from kith.plugins.sales.quotes.graphql import QuoteMutations

    return [SalesMutations, QuoteMutations, ForecastMutations]


@entity_hook("kith_before_create", "lead")
async def lead_before_create(change: Change) -> None:
    """No manual conversion, no duplicates."""
    conversion.refuse_manual_conversion(change)
    await conversion.refuse_duplicates(change)


@entity_hook("kith_before_update", "lead")
def lead_before_update(change: Change) -> None:
    conversion.refuse_manual_conversion(change)


@entity_hook("kith_before_create", "scoring_rule")
async def scoring_rule_before_create(change: Change) -> None:
    await scoring.check_rule(change)
    await change.context.emit(automations.RULES_CHANGED, "scoring_rule", None)


@entity_hook("kith_before_update", "scoring_rule")
async def scoring_rule_before_update(change: Change) -> None:
    await scoring.check_rule(change)
    await change.context.emit(automations.RULES_CHANGED, "scoring_rule", change.record_id)


@entity_hook("kith_before_delete", "scoring_rule")
async def scoring_rule_before_delete(change: Change) -> None:
    await change.context.emit(automations.RULES_CHANGED, "scoring_rule", None)


@entity_hook("kith_before_create", "deal")
async def deal_before_create(change: Change) -> None:
    """Land in a pipeline (the first, unless given) at its first open stage."""
    values = change.values
    stage = await _stage(values.get("stage"))
    if stage is not None:
        values.setdefault("pipeline", stage["pipeline"])
    if values.get("pipeline") is None:
        first = await Pipeline.select(Pipeline.id).where(Pipeline.deleted_at.is_null()).order_by(Pipeline.id).first()
        if first is None:
            raise ValidationFailed.single("pipelineId", "required", "create a pipeline first")
        values["pipeline"] = first["id"]
    if stage is None:
        stage = await _first_open_stage(values["pipeline"])
        if stage is None:
            raise ValidationFailed.single("stageId", "required", "the pipeline has no open stage")
        values["stage"] = stage["id"]
    _check_stage(stage, values["pipeline"], values.get("lost_reason"))
    if stage["kind"] != "open":
        values["closed_at"] = dt.datetime.now(dt.UTC)


def _check_stage(stage: dict[str, Any], pipeline_id: Any, lost_reason: Any) -> None:
    errors = []
    if stage["pipeline"] != pipeline_id:
        errors.append(FieldError("stageId", "invalid", f"stage {stage['name']!r} is not in the deal's pipeline"))
    if stage["kind"] == "lost" and not (lost_reason or "").strip():
        errors.append(FieldError("lostReason", "required", "say why the deal was lost"))
    if errors:
        raise ValidationFailed(errors)


@entity_hook("kith_before_update", "deal")
async def deal_before_update(change: Change) -> None:
    """Moving a deal's stage: checked, closed or reopened, recorded, announced."""
    if change.action != "update" or "stage" not in change.values:
        return
    before = change.before or {}
    if change.values["stage"] == before.get("stage"):
        return
    stage = await _stage(change.values["stage"])
    if stage is None:
        raise ValidationFailed.single("stageId", "not_found", "no such stage")
    previous = await _stage(before.get("stage"))
    pipeline = change.values.get("pipeline", before.get("pipeline"))
    _check_stage(stage, pipeline, change.values.get("lost_reason", before.get("lost_reason")))
    now = dt.datetime.now(dt.UTC)
    change.values["closed_at"] = None if stage["kind"] == "open" else now
    entered = (
        await StageChange.select(StageChange.created_at)
        .where(StageChange.deal == before["id"])
        .order_by(StageChange.created_at, ascending=False)
        .first()
    )
    since = entered["created_at"] if entered else before.get("created_at")
    seconds = int((now - since).total_seconds()) if since else None
    await change.context.records.create(
        "stage_change",
        {
            "deal": before["id"],
            "from_stage": before.get("stage"),
            "to_stage": stage["id"],
            "changed_by": change.actor.name,
            "seconds_in_previous": seconds,
        },
    )
    await change.context.emit(
        STAGE_CHANGED,
        "deal",
        before["id"],
        {
            "from": previous["name"] if previous else None,
            "to": stage["name"],
            "from_kind": previous["kind"] if previous else None,
            "to_kind": stage["kind"],
        },
    )
