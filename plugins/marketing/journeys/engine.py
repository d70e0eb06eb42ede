"""Moving contacts through journeys, one step per plugin job.

A step runs as the job ``marketing.journey_step`` keyed by the enrollment and how many
steps it has taken.  The job reads the enrollment, checks the goal, does the step's
work (a mail through ``context.mail.send`` is stored in the same transaction), appends
the step to the path and queues the next step's job, all in one transaction:

- a worker killed before the commit leaves nothing: the job runs again after its lease;
- a job run again after the commit finds ``taken`` moved on and does nothing.

So every step runs exactly once, across restarts.  Waits are the next job's due time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from kith.plugins.marketing.campaigns import rendering
from kith.plugins.marketing.consent import eligible_filter, list_unsubscribe_headers, preferences_url, unsubscribe_url
from kith.plugins.marketing.journeys import definition
from kith.plugins.marketing.journeys.models import Journey, JourneyEnrollment
from kith.sdk import JobRun, OutboundMail, PluginContext, ValidationFailed, parse_duration

STEP_JOB = "marketing.journey_step"
#: one step of a journey's ``steps`` (``definition`` says what it may hold)
Step = Mapping[str, Any]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def enroll(context: PluginContext, journey: Mapping[str, Any], contact_ids: Sequence[int]) -> int:
    """Put contacts on an active journey at its first step (as its re-entry rule allows:
    never twice, or again once they left); returns how many entered."""
    steps = definition.parse(journey.get("steps"))
    if journey.get("status") != "active" or not steps or not contact_ids:
        return 0
    ids = sorted({int(i) for i in contact_ids})
    rows = await JourneyEnrollment.select(
        JourneyEnrollment.contact, JourneyEnrollment.run, JourneyEnrollment.status
    ).where((JourneyEnrollment.journey == journey["id"]) & JourneyEnrollment.contact.is_in(ids))
    runs: dict[int, int] = {}
    busy: set[int] = set()
    for row in rows:
        runs[int(row["contact"])] = max(runs.get(int(row["contact"]), 0), int(row["run"]))
        if row["status"] == "active":
            busy.add(int(row["contact"]))
    entering = [i for i in ids if i not in busy and (i not in runs or journey.get("reentry") == "after_exit")]
    now = _now()
    writer = context.as_plugin(keep_permissions=False, name="journey").system
    async with context.db.transaction():
        for contact_id in entering:
            made = await writer.create(
                "journey_enrollment",
                {"journey": journey["id"], "contact": contact_id, "run": runs.get(contact_id, 0) + 1,
                 "step": steps[0]["id"], "entered_at": now},
            )  # fmt: skip
            await _queue(context, int(made["id"]), 0, None)
    return len(entering)


async def _queue(context: PluginContext, enrollment_id: int, taken: int, at: dt.datetime | None) -> None:
    await context.schedule(STEP_JOB, key=f"{STEP_JOB}:{enrollment_id}:{taken}", at=at,
                           payload={"taken": taken}, entity="journey_enrollment", record_id=enrollment_id)  # fmt: skip


async def run_step(context: PluginContext, run: JobRun) -> None:
    """The job: one step of one enrollment, exactly once (see the module's docstring)."""
    async with context.db.transaction():
        enrollment = await JourneyEnrollment.select().where(JourneyEnrollment.id == int(run.record_id or 0)).first()
        if enrollment is None or enrollment["status"] != "active":
            return
        if int(enrollment["taken"]) != int(run.payload.get("taken", -1)):
            return  # this step ran already (a job run again after its commit)
        journey = await Journey.select().where(Journey.id == enrollment["journey"]).first()
        if journey is None or journey["status"] != "active":
            return  # a paused journey's contacts wait; resuming queues them again
        await _take(context, journey, enrollment)


async def _take(context: PluginContext, journey: Mapping[str, Any], enrollment: Mapping[str, Any]) -> None:
    contact = await context.system.get("contact", int(enrollment["contact"] or 0))
    path = json.loads(enrollment["path"] or "[]")
    now = _now()
    if contact is None:
        await _leave(enrollment, path, "stopped", {"step": None, "outcome": "the contact is gone", "at": now})
        return
    if await goal_met(context, journey, int(contact["id"])):
        await _leave(enrollment, path, "goal_met", {"step": None, "outcome": "goal met", "at": now})
        return
    steps = {s["id"]: s for s in definition.parse(journey["steps"])}
    step = steps.get(str(enrollment["step"]))
    if step is None:
        await _leave(enrollment, path, "failed", {"step": enrollment["step"], "outcome": "no such step", "at": now})
        return
    outcome, following, at = await _do(context, journey, step, dict(contact), int(enrollment["id"]))
    path.append({"step": step["id"], "type": step["type"], "at": now.isoformat(), "outcome": outcome})
    taken = int(enrollment["taken"]) + 1
    if following is None:
        await JourneyEnrollment.update(
            {JourneyEnrollment.path: json.dumps(path), JourneyEnrollment.taken: taken, JourneyEnrollment.step: None,
             JourneyEnrollment.status: "completed", JourneyEnrollment.left_at: now}
        ).where(JourneyEnrollment.id == enrollment["id"])  # fmt: skip
        return
    waiting_for = json.dumps(step["until_matches"]) if step.get("until_matches") and at is not None else None
    await JourneyEnrollment.update(
        {JourneyEnrollment.path: json.dumps(path), JourneyEnrollment.taken: taken, JourneyEnrollment.step: following,
         JourneyEnrollment.waiting_for: waiting_for}
    ).where(JourneyEnrollment.id == enrollment["id"])  # fmt: skip
    await _queue(context, int(enrollment["id"]), taken, at)


async def _leave(enrollment: Mapping[str, Any], path: list[Any], status: str, entry: dict[str, Any]) -> None:
    entry = {**entry, "at": entry["at"].isoformat()}
    await JourneyEnrollment.update(
        {JourneyEnrollment.path: json.dumps([*path, entry]), JourneyEnrollment.status: status,
         JourneyEnrollment.step: None, JourneyEnrollment.left_at: _now(),
         JourneyEnrollment.taken: int(enrollment["taken"]) + 1}
    ).where(JourneyEnrollment.id == enrollment["id"])  # fmt: skip


async def leave_for_goal(enrollment: Mapping[str, Any]) -> None:
    """The contact met the goal between steps: they leave now; their queued step finds
    the enrollment no longer active and does nothing."""
    path = json.loads(enrollment["path"] or "[]")
    await _leave(enrollment, path, "goal_met", {"step": None, "outcome": "goal met", "at": _now()})


async def matches(context: PluginContext, contact_id: int, condition: Mapping[str, Any]) -> bool:
    return await context.system.count("contact", {"and": [{"id": {"eq": str(contact_id)}}, dict(condition)]}) > 0


async def condition_met(context: PluginContext, enrollment: Mapping[str, Any]) -> None:
    """A waiting contact now matches its wait step's condition: the next step runs now
    (the step queued for the end of the wait finds it taken and does nothing)."""
    await JourneyEnrollment.update({JourneyEnrollment.waiting_for: None}).where(
        JourneyEnrollment.id == enrollment["id"]
    )
    taken = int(enrollment["taken"])
    await context.schedule(STEP_JOB, key=f"{STEP_JOB}:{enrollment['id']}:{taken}:met", payload={"taken": taken},
                           entity="journey_enrollment", record_id=int(enrollment["id"]))  # fmt: skip


async def goal_met(context: PluginContext, journey: Mapping[str, Any], contact_id: int) -> bool:
    goal = json.loads(journey["goal"]) if journey.get("goal") else None
    if not goal:
        return False
    return await context.system.count("contact", {"and": [{"id": {"eq": str(contact_id)}}, goal]}) > 0


async def _do(
    context: PluginContext,
    journey: Mapping[str, Any],
    step: Mapping[str, Any],
    contact: dict[str, Any],
    enrollment: int,
) -> tuple[str, str | None, dt.datetime | None]:
    """Run one step: (what happened, the next step's id, when it is due)."""
    kind = step["type"]
    following = step.get("next")
    writer = context.as_plugin(keep_permissions=False, name="journey").system
    if kind == "wait":
        if step.get("until_matches") and await matches(context, int(contact["id"]), step["until_matches"]):
            return "condition met", following, None
        if step.get("duration"):
            return f"waiting {step['duration']}", following, _now() + parse_duration(step["duration"])
        until = dt.datetime.fromisoformat(str(step["until"]).replace("Z", "+00:00"))
        return f"waiting until {until.isoformat()}", following, until
    if kind == "branch":
        matched = await context.system.count("contact", {"and": [{"id": {"eq": str(contact["id"])}}, step["if"]]})
        return ("then" if matched else "else"), (step.get("then") if matched else step.get("else")), None
    if kind == "split":
        branches = step["branches"]
        point = _stable_fraction(f"{enrollment}:{step['id']}") * sum(b["weight"] for b in branches)
        for index, branch in enumerate(branches):
            point -= branch["weight"]
            if point < 0 or index == len(branches) - 1:
                return f"branch {index + 1}", branch.get("next"), None
    if kind == "send":
        return await _send(context, journey, step, contact), following, None
    if kind == "update":
        await writer.update("contact", contact["id"], dict(step["values"]))
        return "updated", following, None
    if kind == "tag":
        tags = [t for t in contact.get("tags") or [] if t not in (step.get("remove") or [])]
        tags += [t for t in step.get("add") or [] if t not in tags]
        await writer.update("contact", contact["id"], {"tags": tags})
        return "tagged", following, None
    if kind == "task":
        due = _now() + parse_duration(step["due_in"]) if step.get("due_in") else None
        await writer.create("activity", {"kind": "task", "subject": step["subject"], "subject_type": "contact",
                                         "subject_id": contact["id"], "due_at": due, "status": "open",
                                         "assignee": contact.get("owner")})  # fmt: skip
        return "task created", following, None
    if kind == "webhook":
        return await _webhook(context, journey, step, contact, enrollment), following, None
    if kind == "create":
        values = {k: (contact["id"] if v == "{contact}" else v) for k, v in dict(step["values"]).items()}
        made = await writer.create(str(step["entity"]), values)
        return f"{step['entity']} {made['id']} created", following, None
    raise ValidationFailed.single("type", "invalid", f"unknown step type {kind!r}")


def _stable_fraction(seed: str) -> float:
    """A number in [0, 1) fixed by ``seed``: the same contact takes the same branch if the
    step is ever run again, and contacts spread by the weights."""
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2**64


async def _send(
    context: PluginContext, journey: Mapping[str, Any], step: Mapping[str, Any], contact: dict[str, Any]
) -> str:
    purpose = str(journey.get("purpose") or "newsletter")
    allowed = await context.system.count(
        "contact", {"and": [{"id": {"eq": str(contact["id"])}}, eligible_filter(purpose)]}
    )
    emails = contact.get("emails") or []
    if not allowed or not emails:
        return "not sent: not subscribed, suppressed or no address"
    if not context.mail.configured:
        return "not sent: outgoing mail is not set up (mail_from)"
    templates = rendering.compile_templates(
        {"subject": step["subject"], "html": step["html"], "text": step.get("text")}
    )
    key = f"journey-{journey['id']}"
    links = {
        "unsubscribe_url": unsubscribe_url(context, int(contact["id"]), key, topic=purpose),
        "preferences_url": preferences_url(context, int(contact["id"])),
    }
    rendered = rendering.render(templates, contact, {"name": journey["name"]}, links)
    sent = await context.mail.send(
        OutboundMail(
            to=emails[0], subject=rendered.subject, text=rendered.text, html=rendered.html,
            headers={"Precedence": "bulk", **list_unsubscribe_headers(context, int(contact["id"]), key, topic=purpose)},
        )
    )  # fmt: skip
    return f"sent {sent.message_id}"


async def _webhook(
    context: PluginContext, journey: Mapping[str, Any], step: Step, contact: dict[str, Any], enrollment: int
) -> str:
    """POST the step to its URL.  It runs inside the step's transaction: a failure (no
    answer, not 2xx) rolls the step back and the job tries again later, so the receiver
    may see a repeat, always with the same ``Idempotency-Key``."""
    body = {
        "journey": journey["name"], "step": step["id"], "enrollment": enrollment,
        "contact": {key: contact.get(key) for key in ("id", "first_name", "last_name", "emails")},
    }  # fmt: skip
    key = f"kith-journey-{enrollment}-{step['id']}"
    async with context.http_client(timeout=10) as client:
        answer = await client.post(str(step["url"]), json=body, headers={"Idempotency-Key": key})
    if not 200 <= answer.status_code < 300:
        raise ValidationFailed.single("url", "invalid", f"the webhook answered {answer.status_code}")
    return f"webhook answered {answer.status_code}"
