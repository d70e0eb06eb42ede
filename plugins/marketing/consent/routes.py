"""The public unsubscribe link: ``/marketing/unsubscribe/<token>``.

A GET never unsubscribes: mail scanners, link checkers and security gateways open the
links in mail, so opening it only shows a page with a button.  A POST to the same
address unsubscribes, idempotently: the page's button, or a mail program's RFC 8058
one-click (a POST with ``List-Unsubscribe=One-Click``, sent without cookies or a
session, which is why the token alone is the credential).  A token that was forged or
altered gets 404 and changes nothing.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from kith.plugins.marketing.consent import links, subscriptions
from kith.plugins.marketing.consent.pages import page
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import PluginContext, ValidationFailed, context_from

INVALID = "This link is not valid. If you copied it from a mail, check that all of it was copied."


async def _target(context: PluginContext, token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(the link's data, its contact), or None for a bad link or a contact now gone."""
    data = links.read_token(context, links.UNSUBSCRIBE, token)
    if data is None or not isinstance(data.get("c"), int):
        return None
    contact = await context.system.get("contact", data["c"])
    return (data, contact) if contact is not None else None


def _what(context: PluginContext, data: dict[str, Any]) -> str:
    topic = data.get("t")
    if topic:
        return f"“{marketing_settings(context).topics.get(topic, topic)}”"
    return "all our marketing mail"


@get("/marketing/unsubscribe/{token:str}")
async def unsubscribe_page(request: Request[Any, Any, Any]) -> Response[Any]:
    context = context_from(request)
    found = await _target(context, str(request.path_params["token"]))
    if found is None:
        return page("Unsubscribe", INVALID, status=404)
    data, _contact = found
    return page(
        "Unsubscribe",
        f"Press the button to stop getting {_what(context, data)}.",
        form={"button": "Unsubscribe", "hidden": [("confirm", "yes")]},
    )


@post("/marketing/unsubscribe/{token:str}", status_code=200)
async def unsubscribe_post(request: Request[Any, Any, Any]) -> Response[Any]:
    context = context_from(request)
    found = await _target(context, str(request.path_params["token"]))
    if found is None:
        return page("Unsubscribe", INVALID, status=404)
    data, contact = found
    form = await request.form()
    one_click = form.get("List-Unsubscribe") == "One-Click"
    writer = context.as_plugin(keep_permissions=False, name="unsubscribe link")
    await subscriptions.unsubscribe(
        writer,
        int(contact["id"]),
        topic=data.get("t") if data.get("t") in marketing_settings(context).topics else None,
        source="one-click" if one_click else "unsubscribe-page",
        campaign=data.get("k"),
    )
    return page("You are unsubscribed", f"You will not get {_what(context, data)} from us any more.")


@get("/marketing/confirm/{token:str}")
async def confirm_page(request: Request[Any, Any, Any]) -> Response[Any]:
    """A double opt-in's link: a page with a button (opening it confirms nothing)."""
    context = context_from(request)
    data = links.read_token(context, subscriptions.CONFIRM, str(request.path_params["token"]))
    if data is None:
        return page("Confirm your subscription", INVALID, status=404)
    label = marketing_settings(context).topics.get(str(data.get("t")), str(data.get("t")))
    return page(
        "Confirm your subscription",
        f"Press the button to confirm that you want to receive “{label}”.",
        form={"button": "Confirm", "hidden": [("confirm", "yes")]},
    )


@post("/marketing/confirm/{token:str}", status_code=200)
async def confirm_post(request: Request[Any, Any, Any]) -> Response[Any]:
    context = context_from(request)
    writer = context.as_plugin(keep_permissions=False, name="double opt-in link")
    try:
        found = await subscriptions.confirm(writer, str(request.path_params["token"]))
    except ValidationFailed as exc:
        error = exc.errors[0]
        return page("Confirm your subscription", error.message, status=404 if error.code == "not_found" else 409)
    label = marketing_settings(context).topics.get(found["topic"], found["topic"])
    return page("Thank you", f"You are subscribed to “{label}”.")


ROUTES = [unsubscribe_page, unsubscribe_post, confirm_page, confirm_post]
