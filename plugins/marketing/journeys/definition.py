"""What a journey's steps may say, checked when the journey is saved.

Each step is an object with a unique ``id`` and a ``type``; ``next`` names the step
after it (none: the journey ends there):

- ``send``: ``subject`` and ``html`` (and optional ``text``), templates as a campaign's;
- ``wait``: ``duration`` (ISO 8601, ``P2D``) or ``until`` (a date-time); with
  ``until_matches`` (a contact filter) it ends as soon as the contact matches it (they
  opened a mail, became a customer), the duration being the longest it waits;
- ``branch``: ``if`` (a contact filter), ``then`` and ``else`` (step ids);
- ``split``: ``branches``, a list of ``{weight, next}`` (a random A/B split, stable per contact);
- ``update``: ``values`` for the contact (column names, as the record service takes them);
- ``tag``: ``add`` and ``remove`` (tag lists);
- ``task``: ``subject``, optional ``due_in`` (a duration): a task on the contact's timeline;
- ``create``: ``entity`` and ``values``, with ``{contact}`` standing for the contact's id
  (hand over to sales: a lead, a deal);
- ``webhook``: ``url``: a JSON POST about the contact and the step, with an
  ``Idempotency-Key`` that is the same if the step is ever tried again.

The steps may not loop: every way through ends.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from kith.sdk import FieldError, OutboundRefused, PluginContext, ValidationFailed, parse_duration

STEP_TYPES = ("send", "wait", "branch", "split", "update", "tag", "task", "create", "webhook")


def parse(text: str | None) -> list[dict[str, Any]]:
    value = json.loads(text) if text else []
    return value if isinstance(value, list) else []


def exits(step: Mapping[str, Any]) -> list[str]:
    """The ids a step may go on to."""
    if step.get("type") == "branch":
        return [str(s) for s in (step.get("then"), step.get("else")) if s]
    if step.get("type") == "split":
        return [str(b.get("next")) for b in step.get("branches") or [] if isinstance(b, Mapping) and b.get("next")]
    return [str(step["next"])] if step.get("next") else []


def check_steps(context: PluginContext, steps: Any) -> list[dict[str, Any]]:
    """The steps, or ``ValidationFailed`` naming each problem by ``steps[i].field``."""
    errors: list[FieldError] = []
    if not isinstance(steps, list):
        raise ValidationFailed.single("steps", "invalid", "must be a list of steps")
    ids: dict[str, int] = {}
    for i, step in enumerate(steps):
        where = f"steps[{i}]"
        if not isinstance(step, Mapping):
            errors.append(FieldError(where, "invalid", "must be an object with id and type"))
            continue
        step_id = step.get("id")
        if not isinstance(step_id, str) or not step_id or len(step_id) > 60:
            errors.append(FieldError(f"{where}.id", "invalid", "must be a name of at most 60 characters"))
        elif step_id in ids:
            errors.append(FieldError(f"{where}.id", "invalid", f"{step_id!r} is the id of steps[{ids[step_id]}] too"))
        else:
            ids[step_id] = i
        kind = step.get("type")
        if kind not in STEP_TYPES:
            errors.append(FieldError(f"{where}.type", "invalid", f"must be one of: {', '.join(STEP_TYPES)}"))
            continue
        errors += _check(context, step, where)
    for i, step in enumerate(steps):
        if isinstance(step, Mapping):
            for target in exits(step):
                if target not in ids:
                    errors.append(FieldError(f"steps[{i}]", "unknown", f"goes on to {target!r}, which is no step"))
    if errors:
        raise ValidationFailed(errors)
    if _loops(steps):
        raise ValidationFailed.single("steps", "invalid", f"the steps loop: {_loops(steps)} comes round again")
    return [dict(s) for s in steps]


def _check(context: PluginContext, step: Mapping[str, Any], where: str) -> list[FieldError]:
    errors: list[FieldError] = []
    kind = step["type"]

    def need(name: str, ok: bool, message: str) -> None:
        if not ok:
            errors.append(FieldError(f"{where}.{name}", "invalid", message))

    if kind == "send":
        need("subject", isinstance(step.get("subject"), str) and bool(step["subject"]), "a send needs a subject")
        need("html", isinstance(step.get("html"), str) and bool(step["html"]), "a send needs html")
    elif kind == "wait":
        if step.get("duration") is not None:
            try:
                parse_duration(step["duration"])
            except ValueError as exc:
                need("duration", False, str(exc))
        elif step.get("until") is not None:
            try:
                until = dt.datetime.fromisoformat(str(step["until"]).replace("Z", "+00:00"))
                need("until", until.tzinfo is not None, "must include a time zone")
            except ValueError:
                need("until", False, "must be a date and time like 2026-06-01T09:00:00Z")
        else:
            need("duration", False, "a wait needs a duration (P2D) or until (a date-time)")
        if step.get("until_matches") is not None:
            need("duration", step.get("duration") is not None, "a wait for a condition needs a duration, its longest")
            try:
                context.db.check_filter("contact", step["until_matches"], path=f"{where}.until_matches")
            except ValidationFailed as exc:
                errors += exc.errors
    elif kind == "branch":
        try:
            context.db.check_filter("contact", step.get("if") or {}, path=f"{where}.if")
        except ValidationFailed as exc:
            errors += exc.errors
        need("then", bool(step.get("then") or step.get("else")), "a branch goes on somewhere: then or else")
    elif kind == "split":
        branches = step.get("branches")
        ok = (
            isinstance(branches, list)
            and len(branches) >= 2
            and all(
                isinstance(b, Mapping) and isinstance(b.get("weight"), int | float) and b["weight"] > 0
                for b in branches
            )
        )
        need("branches", ok, "a split needs two or more branches, each with a positive weight")
    elif kind == "update":
        need("values", isinstance(step.get("values"), Mapping) and bool(step["values"]), "an update needs values")
    elif kind == "tag":
        tags = [*(step.get("add") or []), *(step.get("remove") or [])]
        need("add", bool(tags) and all(isinstance(t, str) for t in tags), "a tag step adds or removes tags")
    elif kind == "task":
        need("subject", isinstance(step.get("subject"), str) and bool(step["subject"]), "a task needs a subject")
        if step.get("due_in") is not None:
            try:
                parse_duration(step["due_in"])
            except ValueError as exc:
                need("due_in", False, str(exc))
    elif kind == "webhook":
        url = step.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            need("url", False, "a webhook needs an http(s) url")
        else:
            try:
                context.check_url(url)
            except OutboundRefused as exc:
                need("url", False, str(exc))
    elif kind == "create":
        need("entity", step.get("entity") in context.entity_names(), "must be an entity of this Kith")
        need("values", isinstance(step.get("values"), Mapping), "must be an object of values")
    return errors


def _loops(steps: list[Any]) -> str | None:
    """The id of a step on a loop, if any (depth-first, white/grey/black)."""
    by_id = {s["id"]: s for s in steps if isinstance(s, Mapping) and isinstance(s.get("id"), str)}
    state: dict[str, int] = {}

    def visit(step_id: str) -> str | None:
        state[step_id] = 1
        for target in exits(by_id[step_id]):
            if state.get(target) == 1:
                return target
            if target in by_id and state.get(target) is None and (found := visit(target)):
                return found
        state[step_id] = 2
        return None

    for step_id in by_id:
        if state.get(step_id) is None and (found := visit(step_id)):
            return found
    return None
