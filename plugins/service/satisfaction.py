"""Satisfaction surveys by mail: CSAT (1-5) when a ticket is solved, NPS (0-10) of a
contact, answered through a signed one-time link.

A solved ticket schedules its survey (``csat_after_minutes`` later); the job sends it
only if the ticket is still solved since that moment, so a quick reopen asks nothing.
The link is ``/service/survey/<id>-<signature>``: the signature is ``context.sign`` of
the survey's id, so links cannot be made up or altered, and the same link can be sent
again as a reminder.  Opening it shows the question (a score in the link, from the
mail's quick buttons, is only preselected: mail scanners open links, so only the form's
POST records an answer); an answered or expired survey says so.  The score lands on the
survey, on the ticket (``satisfaction``) and as the ``survey.answered`` event.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from jinja2 import Environment
from litestar import Request, Response, get, post

from kith.plugins.service.models import DONE_CATEGORIES
from kith.plugins.service.settings import service_settings
from kith.sdk import DomainEvent, JobRun, OutboundMail, PluginContext, ValidationFailed, context_from

SEND_JOB = "service.survey_send"
REMIND_JOB = "service.survey_remind"
ANSWERED = "survey.answered"
PURPOSE = "service.survey"
SCALES = {"csat": range(1, 6), "nps": range(0, 11)}
QUESTIONS = {
    "csat": "How satisfied are you with the help you got on {subject}?",
    "nps": "How likely are you to recommend us to a friend or colleague?",
}

_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{{ title }}</h1>
{% if form %}<form method="post">
<fieldset><legend>{{ question }}</legend>
{% for n in scale %}<label><input type="radio" name="score" value="{{ n }}"
{%- if n == chosen %} checked{% endif %}> {{ n }}</label>
{% endfor %}</fieldset>
<p><label>Anything to add? <textarea name="comment" rows="4" cols="50"></textarea></label></p>
<p><button type="submit">Send</button></p>
</form>{% else %}<p>{{ text }}</p>{% endif %}
</main></body></html>
"""
)


def events() -> list[DomainEvent]:
    return [DomainEvent(ANSWERED, "survey", "A satisfaction survey was answered (payload: kind, score, ticket).")]


def link(context: PluginContext, survey_id: int) -> str:
    token = f"{survey_id}-{context.sign(PURPOSE, str(survey_id))}"
    return context.public_url(f"/service/survey/{token}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def ticket_solved(context: PluginContext, ticket: dict[str, Any]) -> None:
    """Schedule the CSAT survey of a ticket that was just solved."""
    minutes = service_settings(context).csat_after_minutes
    solved_at = ticket.get("solved_at")
    if minutes is None or solved_at is None or ticket.get("requester") is None or ticket.get("merged_into"):
        return
    await context.schedule(
        SEND_JOB,
        key=f"csat:{ticket['id']}:{solved_at.isoformat()}",
        at=solved_at + dt.timedelta(minutes=minutes),
        payload={"ticket": ticket["id"], "solved_at": solved_at.isoformat()},
        entity="ticket",
        record_id=ticket["id"],
    )


async def run_send(context: PluginContext, run: JobRun) -> None:
    ticket = await context.system.get("ticket", int(run.payload["ticket"]))
    if ticket is None or ticket["status_category"] not in DONE_CATEGORIES:
        return  # reopened (or gone) before its survey was due
    if ticket.get("solved_at") is None or ticket["solved_at"].isoformat() != run.payload.get("solved_at"):
        return  # solved again since: that solve schedules its own
    contact = await context.system.get("contact", int(ticket["requester"])) if ticket.get("requester") else None
    if contact is not None:
        async with context.db.transaction():
            await send(context, "csat", contact, ticket)


async def send(
    context: PluginContext, kind: str, contact: dict[str, Any], ticket: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Create a survey and mail its link; None when the contact has no email address."""
    emails = contact.get("emails") or []
    if not emails or not context.mail.configured:
        return None
    settings = service_settings(context)
    writer = context.as_plugin(keep_permissions=False, name="surveys").system
    now = _now()
    survey = await writer.create(
        "survey",
        {
            "kind": kind,
            "ticket": ticket["id"] if ticket else None,
            "contact": contact["id"],
            "sent_at": now,
            "expires_at": now + dt.timedelta(days=settings.survey_valid_days),
        },
    )
    await _mail(context, survey, contact, ticket)
    if settings.survey_reminder_days is not None:
        await context.schedule(
            REMIND_JOB,
            key=f"remind:{survey['id']}",
            at=now + dt.timedelta(days=settings.survey_reminder_days),
            payload={"survey": survey["id"]},
            entity="survey",
            record_id=survey["id"],
        )
    return survey


async def _mail(context: PluginContext, survey: dict[str, Any], contact: dict[str, Any], ticket: Any) -> None:
    url = link(context, survey["id"])
    question = QUESTIONS[survey["kind"]].format(subject=f"{ticket['number']} ({ticket['subject']})" if ticket else "")
    quick = "\n".join(f"  {n}: {url}?score={n}" for n in SCALES[survey["kind"]])
    text = f"{question}\n\nChoose a score:\n{quick}\n\nOr open {url}\n"
    buttons = " ".join(f'<a href="{html.escape(url)}?score={n}">{n}</a>' for n in SCALES[survey["kind"]])
    page = f"<p>{html.escape(question)}</p><p>{buttons}</p>"
    subject = f"[{ticket['number']}] How did we do?" if ticket else "A quick question"
    await context.mail.send(
        OutboundMail(to=contact["emails"][0], subject=subject, text=text, html=page),
        automatic=True,
        loop_keys=[f"survey:{contact['id']}"],
    )


async def run_remind(context: PluginContext, run: JobRun) -> None:
    survey = await context.system.get("survey", int(run.payload["survey"]))
    if survey is None or survey["status"] != "sent" or (survey["expires_at"] and survey["expires_at"] <= _now()):
        return
    contact = await context.system.get("contact", int(survey["contact"])) if survey.get("contact") else None
    ticket = await context.system.get("ticket", int(survey["ticket"])) if survey.get("ticket") else None
    if contact is not None and (contact.get("emails") or []):
        async with context.db.transaction():
            await _mail(context, survey, contact, ticket)
            await context.as_plugin(keep_permissions=False, name="surveys").system.update(
                "survey", survey["id"], {"reminded_at": _now()}
            )


async def _survey_of(context: PluginContext, token: str) -> dict[str, Any] | None:
    survey_id, _, signature = token.partition("-")
    if not survey_id.isdigit() or not context.verify(PURPOSE, survey_id, signature):
        return None
    return await context.system.get("survey", int(survey_id))


async def answer(context: PluginContext, token: str, score: Any, comment: str | None) -> dict[str, Any]:
    """Record an answer once; refused (by field) when the link, score or timing is wrong."""
    async with context.db.transaction():
        survey = await _survey_of(context, token)
        if survey is None:
            raise ValidationFailed.single("token", "not_found", "this link is not valid")
        if survey["status"] == "answered":
            raise ValidationFailed.single("token", "answered", "this survey was answered already; thank you")
        if survey["expires_at"] is not None and survey["expires_at"] <= _now():
            raise ValidationFailed.single("token", "expired", "this survey has closed")
        scale = SCALES[survey["kind"]]
        if not (isinstance(score, str) and score.strip().isdigit() and int(score) in scale):
            raise ValidationFailed.single("score", "invalid", f"choose a score from {scale[0]} to {scale[-1]}")
        writer = context.as_plugin(keep_permissions=False, name="surveys").system
        value = int(score)
        answered = await writer.update(
            "survey",
            survey["id"],
            {
                "status": "answered",
                "score": value,
                "comment": (comment or "").strip()[:5000] or None,
                "answered_at": _now(),
            },
            expected_version=survey["version"],
        )
        if survey["kind"] == "csat" and survey.get("ticket") is not None:
            await writer.update("ticket", int(survey["ticket"]), {"satisfaction": value})
        await context.emit(
            ANSWERED, "survey", survey["id"], {"kind": survey["kind"], "score": value, "ticket": survey.get("ticket")}
        )
        return answered


def _page(status: int = 200, **values: Any) -> Response[Any]:
    return Response(_PAGE.render(**values), media_type="text/html", status_code=status)


@get("/service/survey/{token:str}")
async def survey_page(request: Request) -> Response[Any]:
    context = context_from(request)
    survey = await _survey_of(context, str(request.path_params["token"]))
    if survey is None:
        return _page(404, title="Survey", text="This link is not valid.")
    if survey["status"] == "answered":
        return _page(title="Thank you", text="We have your answer already. Thank you!")
    if survey["expires_at"] is not None and survey["expires_at"] <= _now():
        return _page(410, title="Survey", text="This survey has closed.")
    ticket = await context.system.get("ticket", int(survey["ticket"])) if survey.get("ticket") else None
    chosen = request.query_params.get("score")
    subject = f"{ticket['number']} ({ticket['subject']})" if ticket else ""
    return _page(
        title="How did we do?",
        form=True,
        question=QUESTIONS[survey["kind"]].format(subject=subject),
        scale=list(SCALES[survey["kind"]]),
        chosen=int(chosen) if chosen and chosen.isdigit() else None,
    )


@post("/service/survey/{token:str}", status_code=200)
async def survey_answer(request: Request) -> Response[Any]:
    context = context_from(request)
    form = await request.form()
    try:
        await answer(context, str(request.path_params["token"]), form.get("score"), form.get("comment"))
    except ValidationFailed as exc:
        error = exc.errors[0]
        status = {"not_found": 404, "expired": 410, "answered": 409}.get(error.code, 400)
        return _page(status, title="Survey", text=error.message)
    return _page(title="Thank you", text="Thank you for your answer!")


ROUTES = [survey_page, survey_answer]
