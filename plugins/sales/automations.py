"""The automations the sales plugin ships: lead scores kept current by the automation
engine, a task for the owner of a hot lead, a task on each stage move, and a weekly
reminder about deals nobody touched.  They are ordinary rules: admins see them in
``kith automations list``, can disable or change them, and they rest while the plugin
is disabled."""

from __future__ import annotations

from typing import Any

from kith.plugins.sales import scoring
from kith.sdk import ActionContext, DomainEvent

RULES_CHANGED = "sales.scoring_rules_changed"
HOT_LEAD_SCORE = 80
STALE_AFTER_DAYS = 14
SCORE_COLUMNS = ["score", "scoreModel", "scoredAt"]


def events() -> list[DomainEvent]:
    return [
        DomainEvent(
            scoring.SCORE_CHANGED,
            "lead",
            "A lead's rule score moved (payload: from, to).",
            reveals={"from": "score", "to": "score"},
        ),
        DomainEvent(RULES_CHANGED, "scoring_rule", "A scoring rule was added, changed or removed."),
    ]


async def score_lead(ctx: ActionContext, lead: Any = None) -> dict[str, Any]:
    """``sales.score_lead``: rescore one lead (default: the rule's record)."""
    lead_id = int(lead if lead not in (None, "") else (ctx.record or {})["id"])
    return {"lead": lead_id, "changed": await scoring.score_leads(ctx.context, [lead_id])}


async def rescore_leads(ctx: ActionContext) -> dict[str, Any]:
    """``sales.rescore_leads``: rescore every open lead (decay, or rules that changed)."""
    return {"changed": await scoring.score_leads(ctx.context)}


FUNCTIONS = {"sales.score_lead": score_lead, "sales.rescore_leads": rescore_leads}


def _score(name: str, description: str, trigger: dict[str, Any], **extra: Any) -> dict[str, Any]:
    args = extra.pop("args", {})
    function = extra.pop("function", "sales.score_lead")
    return {
        "name": name,
        "description": description,
        "enabled": True,
        "trigger": trigger,
        "actions": [{"call_function": {"function": function, "args": args}}],
        **extra,
    }


def _task(subject: str, subject_type: str, assignee: str, due_in_days: int) -> dict[str, Any]:
    return {
        "create_record": {
            "entity": "activity",
            "values": {
                "kind": "task",
                "status": "open",
                "subject": subject,
                "subjectType": subject_type,
                "subjectId": "{{ record.id }}",
                "assigneeId": assignee,
                "dueAt": f"{{{{ in_days({due_in_days}) }}}}",
            },
        }
    }


def rules() -> list[dict[str, Any]]:
    on_lead_activity = {"subjectType": {"eq": "lead"}}
    return [
        _score("sales.score-new-lead", "Score a lead when it is created.", {"event": "lead.created"}),
        _score(
            "sales.score-changed-lead",
            "Rescore a lead when its fields change (not when only its score does).",
            {"event": "lead.updated", "ignore": SCORE_COLUMNS},
        ),
        _score(
            "sales.score-lead-activity",
            "Rescore a lead when an activity is logged on it.",
            {"event": "activity.created"},
            conditions=on_lead_activity,
            args={"lead": "{{ record.subject_id }}"},
        ),
        _score(
            "sales.score-removed-lead-activity",
            "Rescore a lead when an activity on it is deleted.",
            {"event": "activity.deleted"},
            conditions=on_lead_activity,
            args={"lead": "{{ record.subject_id }}"},
        ),
        _score(
            "sales.rescore-on-rule-change",
            "Rescore open leads when the scoring rules change.",
            {"event": RULES_CHANGED},
            function="sales.rescore_leads",
        ),
        _score(
            "sales.score-decay",
            "Rescore open leads every night, so that points fade as their half-lives pass.",
            {"schedule": "0 3 * * *"},
            function="sales.rescore_leads",
        ),
        {
            "name": "sales.hot-lead",
            "description": f"A task for the owner when a lead's score reaches {HOT_LEAD_SCORE}.",
            "enabled": True,
            "trigger": {
                "event": scoring.SCORE_CHANGED,
                "data": {"from": {"lt": HOT_LEAD_SCORE}, "to": {"gte": HOT_LEAD_SCORE}},
            },
            "conditions": {"ownerId": {"isNull": False}},
            "actions": [
                _task(
                    "Hot lead: {{ record.first_name }} {{ record.last_name }} scored {{ event.data.to }}",
                    "lead",
                    "{{ record.owner }}",
                    1,
                )
            ],
        },
        {
            "name": "sales.stage-change-task",
            "description": "A task for the deal's owner each time it moves to an open stage.",
            "enabled": True,
            "trigger": {"event": "deal.stage_changed", "data": {"to_kind": "open"}},
            "conditions": {"ownerId": {"isNull": False}},
            "actions": [_task("{{ event.data.to }}: next step for {{ record.name }}", "deal", "{{ record.owner }}", 3)],
        },
        {
            "name": "sales.stale-deal-reminder",
            "description": f"Every Monday, a task for the owner of each open deal untouched for {STALE_AFTER_DAYS} "
            "days.",
            "enabled": True,
            "trigger": {"schedule": "0 8 * * 1", "entity": "deal"},
            "conditions": {
                "closedAt": {"isNull": True},
                "ownerId": {"isNull": False},
                "updatedAt": {"lt": f"{{{{ in_days(-{STALE_AFTER_DAYS}) }}}}"},
            },
            "actions": [
                _task(
                    f"Stale deal: {{{{ record.name }}}} has not moved in {STALE_AFTER_DAYS} days",
                    "deal",
                    "{{ record.owner }}",
                    2,
                )
            ],
        },
    ]
