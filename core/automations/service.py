"""Administering automations: rules (apply, list, enable, disable, delete, dry run),
the dead-letter list (failed, retry, discard) and the record of runs.

The CLI and GraphQL both call these functions, so they behave the same.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.automations import visibility
from kith.core.automations.actions import ActionContext, rendered_params
from kith.core.automations.rules import Rule, check_rule
from kith.core.errors import ValidationFailed
from kith.core.records.change import Actor
from kith.core.records.encoding import dumps
from kith.core.records.query import ListRequest

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions


@dataclass(frozen=True)
class RuleInfo:
    name: str
    description: str
    trigger: str
    enabled: bool
    source: str
    version: int
    definition: dict[str, Any]


def _describe_trigger(definition: dict[str, Any]) -> str:
    trigger = definition.get("trigger") or {}
    if "event" in trigger:
        text = str(trigger["event"])
        if trigger.get("changed"):
            text += f" ({', '.join(trigger['changed']) if isinstance(trigger['changed'], list) else trigger['changed']}"
            if trigger.get("from") is not None:
                text += f" from {trigger['from']!r}"
            if trigger.get("to") is not None:
                text += f" to {trigger['to']!r}"
            text += ")"
        return text
    for kind in ("schedule", "relative", "webhook", "manual"):
        if kind in trigger:
            return f"{kind}: {trigger[kind]}"
    return "?"


async def apply_rule(kith: Kith, raw: dict[str, Any], source: str = "admin") -> tuple[Rule, bool]:
    """Create or replace a rule from its definition; returns (rule, created)."""
    rule = await check_rule(kith, raw, source)
    visibility.check_run_as(kith, await _run_as(kith, rule), rule)
    definition = rule.definition.model_dump(mode="json", by_alias=True, exclude_none=True)
    now = dt.datetime.now(dt.UTC)
    async with kith.db.write_transaction():
        existing = await kith.db.fetch_one(
            QueryString("SELECT version FROM kith_automation_rule WHERE name = {}", rule.name)
        )
        if existing is None:
            await kith.db.fetch(
                QueryString(
                    "INSERT INTO kith_automation_rule (name, description, definition, trigger_kind, trigger_key, "
                    "enabled, source, version, created_at, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, 1, {}, {})",
                    rule.name,
                    rule.definition.description,
                    dumps(definition),
                    rule.trigger.kind,
                    rule.trigger_key,
                    rule.definition.enabled,
                    source,
                    now,
                    now,
                )
            )
        else:
            await kith.db.fetch(
                QueryString(
                    "UPDATE kith_automation_rule SET description = {}, definition = {}, trigger_kind = {}, "
                    "trigger_key = {}, enabled = {}, version = version + 1, next_run_at = NULL, "
                    "checked_until = NULL, updated_at = {} WHERE name = {}",
                    rule.definition.description,
                    dumps(definition),
                    rule.trigger.kind,
                    rule.trigger_key,
                    rule.definition.enabled,
                    now,
                    rule.name,
                )
            )
        await kith.automations.rules_changed()
    return rule, existing is None


async def list_rules(kith: Kith) -> list[RuleInfo]:
    rows = await kith.db.execute(
        "SELECT name, description, definition, enabled, source, version FROM kith_automation_rule ORDER BY name"
    )
    out = []
    for row in rows:
        definition = json.loads(row["definition"]) if isinstance(row["definition"], str) else row["definition"]
        out.append(
            RuleInfo(
                row["name"],
                row["description"] or "",
                _describe_trigger(definition),
                bool(row["enabled"]),
                row["source"],
                int(row["version"]),
                definition,
            )
        )
    return out


async def get_rule(kith: Kith, name: str) -> RuleInfo:
    for info in await list_rules(kith):
        if info.name == name:
            return info
    raise ValidationFailed.single("rule", "not_found", f"no rule named {name!r}")


async def set_enabled(kith: Kith, name: str, enabled: bool) -> None:
    info = await get_rule(kith, name)
    if enabled:
        await check_rule(kith, info.definition, info.source)  # still valid against today's fields?
    definition = {**info.definition, "enabled": enabled}
    await kith.db.fetch(
        QueryString(
            "UPDATE kith_automation_rule SET enabled = {}, definition = {}, next_run_at = NULL, "
            "checked_until = NULL, updated_at = {} WHERE name = {}",
            enabled,
            dumps(definition),
            dt.datetime.now(dt.UTC),
            name,
        )
    )
    await kith.automations.rules_changed()


async def delete_rule(kith: Kith, name: str) -> None:
    await get_rule(kith, name)
    await kith.db.fetch(QueryString("DELETE FROM kith_automation_rule WHERE name = {}", name))
    await kith.automations.rules_changed()


async def sync_plugin_rules(kith: Kith) -> list[str]:
    """Store the rules enabled plugins declare in code, unless an admin already has them."""
    added = []
    for plugin, rules in kith.plugins.call("kith_automation_rules"):
        for raw in rules:
            name = raw.get("name")
            exists = await kith.db.fetch_one(
                QueryString("SELECT 1 AS x FROM kith_automation_rule WHERE name = {}", name)
            )
            if exists is None:
                await apply_rule(kith, raw, source=f"plugin:{plugin}")
                added.append(str(name))
    return added


async def run_on(
    kith: Kith, name: str, record_ids: list[int] | None = None, filter_: dict[str, Any] | None = None
) -> int:
    """Queue rule ``name`` on the given records and/or every record matching ``filter_``."""
    ids = list(record_ids or [])
    if filter_ is not None:
        rule = await kith.automations.load_rule(name)
        if rule is None:
            raise ValidationFailed.single("rule", "not_found", f"no rule named {name!r}")
        if rule.entity is None:
            raise ValidationFailed.single("filter", "invalid", f"rule {name} has no records to filter")
        after = None
        while True:
            page = await kith.query.list(kith.db, ListRequest(rule.entity, filter_, first=500, after=after))
            ids += [r["id"] for r in page.rows]
            if not page.has_next_page:
                break
            after = page.end_cursor
    if not ids:
        raise ValidationFailed.single("recordIds", "required", "give record ids or a filter that matches records")
    return await kith.automations.run_now(name, ids)


# -- dry run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DryRunItem:
    record_id: int | None
    label: str
    actions: list[str]


async def dry_run(
    kith: Kith, name_or_definition: str | dict[str, Any], limit: int = 20
) -> tuple[int, list[DryRunItem]]:
    """Which existing records the rule's conditions match (count and the first ``limit``),
    and what each action would do to them.  Nothing is written.

    A ``run_as`` rule is dried with its user's visibility, as it would run: only records
    in their scope, hidden fields empty in labels and rendered templates.  Who may ask
    for a dry run at all (automation managers) is the caller's check."""
    if isinstance(name_or_definition, str):
        info = await get_rule(kith, name_or_definition)
        rule = await check_rule(kith, info.definition, info.source)
    else:
        rule = await check_rule(kith, name_or_definition)
    permissions = await _run_as(kith, rule)
    visibility.check_run_as(kith, permissions, rule)
    actor = Actor(name=f"automation:{rule.name}", source="automation", permissions=permissions)
    if rule.entity is None:
        ctx = ActionContext(kith, rule.name, None, None, {}, "dry-run", actor)
        return 1, [DryRunItem(None, "(no record)", await _describe(rule, ctx))]
    # a run_as rule only ever touches the records its user may read: the same scope here
    scope = permissions.predicate(rule.entity, "read") if permissions is not None else None
    extra = [scope] if scope is not None else []
    conditions = await rule.conditions_now(kith.templates)  # written by an admin: read without the user's mask
    total = await kith.query.count(kith.db, rule.entity, conditions, extra=extra)
    page = await kith.query.list(kith.db, ListRequest(rule.entity, conditions, first=limit, extra_where=extra))
    items = []
    for record in page.rows:
        seen = visibility.mask(kith, permissions, rule.entity, {"record": record})["record"]
        ctx = ActionContext(kith, rule.name, rule.entity, seen, {}, "dry-run", actor)
        items.append(DryRunItem(record["id"], _label(seen), await _describe(rule, ctx)))
    return total, items


async def _run_as(kith: Kith, rule: Rule) -> Permissions | None:
    """The permissions a rule runs with: its ``run_as`` user's (None: the system or an admin)."""
    if not rule.definition.run_as:
        return None
    try:
        return await visibility.permissions_of(kith, rule.definition.run_as)
    except LookupError:
        raise ValidationFailed.single("run_as", "unknown", f"no user with email {rule.definition.run_as!r}") from None


async def _describe(rule: Rule, ctx: ActionContext) -> list[str]:
    lines = []
    for action, params in zip(rule.actions, rule.params, strict=True):
        try:
            lines.append(action.describe(ctx, await rendered_params(ctx, params)))
        except Exception as exc:  # a template that fails on this record is worth showing
            lines.append(f"{action.name}: would fail: {exc}")
    return lines


def _label(record: dict[str, Any]) -> str:
    for keys in (("first_name", "last_name"), ("name",), ("subject",), ("email",)):
        parts = [str(record[k]) for k in keys if record.get(k)]
        if parts:
            return " ".join(parts)
    return f"#{record['id']}"


# -- failures and runs --------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedJob:
    id: int
    rule: str | None
    entity: str
    record_id: int | None
    attempts: int
    error: str
    created_at: dt.datetime


async def failed_jobs(kith: Kith, limit: int = 100) -> list[FailedJob]:
    rows = await kith.db.execute(
        "SELECT id, event, entity, record_id, payload, attempts, last_error, created_at FROM kith_outbox "
        "WHERE status = 'dead' ORDER BY id DESC LIMIT {}",
        limit,
    )
    out = []
    for row in rows:
        payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
        rule = payload.get("rule") or (f"webhook:{payload['delivery']['name']}" if payload.get("delivery") else None)
        out.append(
            FailedJob(
                row["id"],
                rule,
                row["entity"],
                row["record_id"],
                row["attempts"],
                row["last_error"] or "",
                row["created_at"],
            )
        )
    return out


async def retry_job(kith: Kith, job_id: int) -> None:
    """Put a dead job back in the queue, due now, with a fresh set of attempts."""
    rows = await kith.db.fetch(
        QueryString(
            "UPDATE kith_outbox SET status = 'pending', attempts = 0, available_at = {}, locked_until = NULL "
            "WHERE id = {} AND status = 'dead' RETURNING id",
            dt.datetime.now(dt.UTC),
            job_id,
        )
    )
    if not rows:
        raise ValidationFailed.single("id", "not_found", f"no failed job {job_id}")


async def discard_job(kith: Kith, job_id: int) -> None:
    rows = await kith.db.fetch(
        QueryString(
            "UPDATE kith_outbox SET status = 'discarded', processed_at = {} WHERE id = {} AND status = 'dead' "
            "RETURNING id",
            dt.datetime.now(dt.UTC),
            job_id,
        )
    )
    if not rows:
        raise ValidationFailed.single("id", "not_found", f"no failed job {job_id}")


async def runs(
    kith: Kith, rule: str | None = None, record_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    clauses: list[str] = ["1 = 1"]
    args: list[Any] = []
    if rule:
        clauses.append("rule = {}")
        args.append(rule)
    if record_id is not None:
        clauses.append("record_id = {}")
        args.append(record_id)
    rows = await kith.db.fetch(
        QueryString(
            f"SELECT * FROM kith_automation_run WHERE {' AND '.join(clauses)} ORDER BY id DESC LIMIT {{}}", *args, limit
        )
    )
    out = []
    for row in rows:
        item = dict(row)
        item["actions"] = json.loads(item["actions"]) if isinstance(item["actions"], str) else item["actions"]
        out.append(item)
    return out
