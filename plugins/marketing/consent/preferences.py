"""A contact's preference page: ``/marketing/preferences/<token>``.

The token (signed, for this purpose only) is the credential: the link is only ever
sent to the contact's own address.  GET shows their topics as checkboxes, how often
they want mail, and "unsubscribe from everything"; only a POST saves (a form that
changes nothing on GET, with a single-purpose token as its only credential, has
nothing for a cross-site request to forge that the link itself would not give).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from kith.plugins.marketing.consent import links, subscriptions
from kith.plugins.marketing.consent.links import (
    PREFERENCES,
    preferences_url,  # noqa: F401
)
from kith.plugins.marketing.consent.models import FREQUENCIES, Subscription
from kith.plugins.marketing.consent.pages import page
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import PluginContext, ValidationFailed, context_from

FREQUENCY_LABELS = {"any": "Whenever there is news", "weekly": "At most weekly", "monthly": "At most monthly"}
INVALID = "This link is not valid. If you copied it from a mail, check that all of it was copied."


async def _contact(context: PluginContext, token: str) -> dict[str, Any] | None:
    data = links.read_token(context, PREFERENCES, token)
    if data is None or not isinstance(data.get("c"), int):
        return None
    return await context.system.get("contact", data["c"])


async def _states(contact_id: int) -> dict[str, dict[str, Any]]:
    rows = await Subscription.select(Subscription.topic, Subscription.status, Subscription.frequency).where(
        (Subscription.contact == contact_id) & (Subscription.channel == "email")
    )
    return {str(r["topic"]): r for r in rows}


@get("/marketing/preferences/{token:str}")
async def preferences_page(request: Request[Any, Any, Any]) -> Response[Any]:
    context = context_from(request)
    contact = await _contact(context, str(request.path_params["token"]))
    if contact is None:
        return page("Your preferences", INVALID, status=404)
    states = await _states(int(contact["id"]))
    subscribed = [t for t, s in states.items() if s["status"] == "subscribed"]
    frequency = next((str(states[t]["frequency"]) for t in subscribed), "any")
    topics = marketing_settings(context).topics
    boxes = [
        {"name": "topic", "value": key, "label": label, "checked": key in subscribed} for key, label in topics.items()
    ]
    boxes.append({"name": "unsubscribe_all", "value": "yes", "label": "Unsubscribe from everything", "checked": False})
    choice = {
        "legend": "How often?",
        "name": "frequency",
        "chosen": frequency,
        "options": [(f, FREQUENCY_LABELS[f]) for f in FREQUENCIES],
    }
    return page(
        "Your preferences",
        "Choose what you want to get from us.",
        form={"button": "Save", "boxes": boxes, "choices": [choice], "hidden": []},
    )


async def save(
    context: PluginContext, contact_id: int, topics: list[str], frequency: str, everything_off: bool
) -> None:
    """Apply the page's form: topics ticked are subscribed (the link proves the person
    reads this address), the others unsubscribed, the frequency set on every topic."""
    if frequency not in FREQUENCIES:
        raise ValidationFailed.single("frequency", "invalid", f"must be one of {', '.join(FREQUENCIES)}")
    known = marketing_settings(context).topics
    unknown = sorted(set(topics) - set(known))
    if unknown:
        raise ValidationFailed.single("topic", "invalid", f"no topic {unknown[0]!r}")
    async with context.db.transaction():
        if everything_off:
            await subscriptions.unsubscribe(context, contact_id, source="preferences")
            return
        states = await _states(contact_id)
        for topic in known:
            state = states.get(topic)
            if topic in topics:
                await subscriptions.subscribe(
                    context, contact_id, topic, source="preferences", frequency=frequency, confirmed=True
                )
            elif state is not None and state["status"] != "unsubscribed":
                await subscriptions.unsubscribe(context, contact_id, topic=topic, source="preferences")


@post("/marketing/preferences/{token:str}", status_code=200)
async def preferences_save(request: Request[Any, Any, Any]) -> Response[Any]:
    context = context_from(request)
    contact = await _contact(context, str(request.path_params["token"]))
    if contact is None:
        return page("Your preferences", INVALID, status=404)
    form = await request.form()
    writer = context.as_plugin(keep_permissions=False, name="preference page")
    try:
        await save(
            writer,
            int(contact["id"]),
            [str(t) for t in form.getall("topic", [])],
            str(form.get("frequency") or "any"),
            form.get("unsubscribe_all") == "yes",
        )
    except ValidationFailed as exc:
        return page("Your preferences", f"{exc.errors[0].field}: {exc.errors[0].message}", status=400)
    return page("Saved", "Your preferences are saved.")


ROUTES = [preferences_page, preferences_save]
