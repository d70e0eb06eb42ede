"""The sales plugin's hooks: deal defaults, stage moves (history, closing, the
``deal.stage_changed`` event), and what it declares to the core.

Lifecycle hooks are scoped to their entity with ``entity_hook`` (Kith calls each only
for writes of that entity); the quote entities' ones live in ``quotes.hooks``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import click
from piccolo.querystring import QueryString

from kith.plugins.sales import automations, conversion, privacy, scoring
from kith.plugins.sales import entities as declarations
from kith.plugins.sales.quotes import hooks as quote_hooks
from kith.sdk import (
    Change,
    CustomerViewSection,
    DomainEvent,
    Entity,
    FieldError,
    PersonalRecords,
    PluginContext,
    RoleDefinition,
    ValidationFailed,
    entity_hook,
    from_minor_units,
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
    return await privacy.personal_records(context._kith, contact)


@hookimpl
async def kith_customer_view(context: PluginContext, contact: dict[str, Any]) -> CustomerViewSection:
    """The person's deals: as the main contact or in another role, within what the viewer may read."""
    kith, viewer = context._kith, context.actor.permissions
    scope = viewer.predicate(kith.entity("deal"), "read") if viewer is not None else None
    rows = await kith.db.fetch(
        QueryString(
            "SELECT t.id, t.name, t.amount, t.currency, s.name AS stage, s.kind, t.expected_close, "
            "(SELECT dc.role FROM sales_deal_contact dc WHERE dc.deal = t.id AND dc.contact = {} "
            "AND dc.deleted_at IS NULL LIMIT 1) AS role "
            "FROM sales_deal t LEFT JOIN sales_stage s ON s.id = t.stage WHERE t.deleted_at IS NULL "
            "AND (t.contact = {} OR t.id IN (SELECT deal FROM sales_deal_contact WHERE contact = {} "
            "AND deleted_at IS NULL)) AND {} ORDER BY t.id",
            contact["id"],
            contact["id"],
            contact["id"],
            scope if scope is not None else QueryString("1 = 1"),
        )
    )
    items = [
        {
            "id": row["id"],
            "name": row["name"],
            "amount": None if row["amount"] is None else str(from_minor_units(row["amount"], row["currency"])),
            "currency": row["currency"],
            "stage": row["stage"],
            "status": row["kind"],
            "expectedClose": row["expected_close"].isoformat() if row["expected_close"] else None,
            "role": row["role"] or "contact",
        }
        for row in rows
    ]
    return CustomerViewSection("Deals", items, entity="deal")


@hookimpl
async def kith_demo_data(context: PluginContext, seed: int) -> dict[str, int]:
    from kith.plugins.sales.demo import load

    return await load(context._kith, seed)


@hookimpl
def kith_cli_commands() -> list[click.Command]:
    from kith.plugins.sales.cli import sales_group

    return [sales_group]


async def _stage(change: Change, stage_id: Any) -> dict[str, Any] | None:
    if stage_id is None:
        return None
    rows = await change.context._kith.db.execute(
        "SELECT id, pipeline, name, kind, probability FROM sales_stage WHERE id = {} AND deleted_at IS NULL",
        int(stage_id),
    )
    return dict(rows[0]) if rows else None


async def _first_open_stage(change: Change, pipeline_id: int) -> dict[str, Any] | None:
    rows = await change.context._kith.db.execute(
        "SELECT id, pipeline, name, kind, probability FROM sales_stage WHERE pipeline = {} AND kind = 'open' "
        "AND deleted_at IS NULL ORDER BY position, id LIMIT 1",
        pipeline_id,
    )
    return dict(rows[0]) if rows else None


@hookimpl
def kith_graphql_queries() -> list[type]:
    from kith.plugins.sales.forecast.graphql import ForecastQueries
    from kith.plugins.sales.graphql import SalesQueries
    from kith.plugins.sales.quotes.graphql import QuoteQueries

    return [SalesQueries, ForecastQueries, QuoteQueries]


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
    await change.context._kith.automations.emit(automations.RULES_CHANGED, "scoring_rule", None, {})


@entity_hook("kith_before_update", "scoring_rule")
async def scoring_rule_before_update(change: Change) -> None:
    await scoring.check_rule(change)
    await change.context._kith.automations.emit(automations.RULES_CHANGED, "scoring_rule", change.record_id, {})


@entity_hook("kith_before_delete", "scoring_rule")
async def scoring_rule_before_delete(change: Change) -> None:
    await change.context._kith.automations.emit(automations.RULES_CHANGED, "scoring_rule", None, {})


@entity_hook("kith_before_create", "deal")
async def deal_before_create(change: Change) -> None:
    """Land in a pipeline (the first, unless given) at its first open stage."""
    values = change.values
    stage = await _stage(change, values.get("stage"))
    if stage is not None:
        values.setdefault("pipeline", stage["pipeline"])
    if values.get("pipeline") is None:
        rows = await change.context._kith.db.execute(
            "SELECT id FROM sales_pipeline WHERE deleted_at IS NULL ORDER BY id LIMIT 1"
        )
        if not rows:
            raise ValidationFailed.single("pipelineId", "required", "create a pipeline first")
        values["pipeline"] = rows[0]["id"]
    if stage is None:
        stage = await _first_open_stage(change, values["pipeline"])
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
    stage = await _stage(change, change.values["stage"])
    if stage is None:
        raise ValidationFailed.single("stageId", "not_found", "no such stage")
    previous = await _stage(change, before.get("stage"))
    pipeline = change.values.get("pipeline", before.get("pipeline"))
    _check_stage(stage, pipeline, change.values.get("lost_reason", before.get("lost_reason")))
    now = dt.datetime.now(dt.UTC)
    change.values["closed_at"] = None if stage["kind"] == "open" else now
    # (the column itself, not MAX(): SQLite returns aggregates of timestamps as text)
    entered = await change.context._kith.db.execute(
        "SELECT created_at FROM sales_stage_change WHERE deal = {} ORDER BY created_at DESC LIMIT 1", before["id"]
    )
    since = entered[0]["created_at"] if entered else before.get("created_at")
    seconds = int((now - since).total_seconds()) if since else None
    await change.context._kith.records.create(
        "stage_change",
        {
            "deal": before["id"],
            "from_stage": before.get("stage"),
            "to_stage": stage["id"],
            "changed_by": change.actor.name,
            "seconds_in_previous": seconds,
        },
        change.actor,
    )
    await change.context._kith.automations.emit(
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
