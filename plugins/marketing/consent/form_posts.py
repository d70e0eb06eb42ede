"""The public address a site's sign-up form posts to: ``POST /marketing/forms/<key>``.

No sign-in: anyone may post, so the route guards itself.

- **Rate limit**: ``form_rate_limit_per_minute`` posts per client address and form a
  minute (counted where the core counts requests, ``kith.sdk.rate_limit``); past it
  ``429`` with ``Retry-After``, before the form is even looked up.
- **Honeypot**: an input named ``website`` that people never see (hidden with CSS);
  filled in, the post is answered exactly as a success and nothing is stored, so a bot
  learns nothing.
- **One transaction**: the contact found by address (or created), the fields the form
  allows written (a non-empty value only: an empty input never erases what is there),
  the subscriptions to the form's topics with source ``form:<key>``; bad input is
  ``400`` naming the input, and nothing is stored.

The body is form-encoded (a plain HTML form, which needs no CORS) or JSON (a site's
script: preflight ``OPTIONS`` is answered, and every answer allows any origin, since
the route uses no cookies or credentials).  The answer is JSON when the request asked
for JSON, else a ``303`` to the form's ``redirect_url`` or a small thank-you page.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from litestar import Request, Response, route

from kith.plugins.marketing.consent import forms
from kith.plugins.marketing.consent.pages import page
from kith.plugins.marketing.consent.subscriptions import subscribe
from kith.plugins.marketing.consent.suppression import normalised
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import PluginContext, ValidationFailed, context_from, rate_limit

PATH = "/marketing/forms/{key:str}"
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Accept",
    "Access-Control-Max-Age": "86400",
}
#: the longest input taken (a contact field's own limit may be shorter)
_LONGEST = 2000


def _wants_json(request: Request[Any, Any, Any]) -> bool:
    kind = request.headers.get("content-type", "")
    accept = request.headers.get("accept", "")
    return "json" in kind or ("application/json" in accept and "text/html" not in accept)


def _answer(
    request: Request[Any, Any, Any], status: int, title: str, message: str, *, errors: Any = None, headers: Any = None
) -> Response[Any]:
    extra = {**CORS, **(headers or {})}
    if _wants_json(request):
        body = {"ok": status < 400, "message": message, "errors": errors or []}
        return Response(body, status_code=status, headers={**extra, "Cache-Control": "no-store"})
    shown = page(title, message, status=status)
    shown.headers.update(extra)
    return shown


def _success(request: Request[Any, Any, Any], form: dict[str, Any]) -> Response[Any]:
    if not _wants_json(request) and form.get("redirect_url"):
        return Response("", status_code=303, headers={**CORS, "Location": str(form["redirect_url"])})
    return _answer(request, 200, "Thank you", "Thank you: we have your details.")


async def _read(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The post's inputs as text (the first value of a repeated one)."""
    if "json" in request.headers.get("content-type", ""):
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ValidationFailed.single(None, "invalid", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ValidationFailed.single(None, "invalid", "the body must be a JSON object of inputs")
        values: dict[str, str] = {}
        for name, value in body.items():
            if isinstance(value, (dict, list)):
                raise ValidationFailed.single(str(name), "invalid", "must be a text, number or true/false")
            values[str(name)] = "" if value is None else str(value)
        return values
    form = await request.form()
    return {str(name): str(form.get(name)) for name in form}


def _field_of(error_field: str | None, allowed: list[str]) -> str | None:
    """The input a contact write's error is about (``firstName`` -> ``first_name``,
    ``phones`` -> ``phone``, ``customFields.tier`` -> ``tier``)."""
    if error_field is None:
        return None
    name = error_field.removeprefix("customFields.").removeprefix("custom.")
    name = re.sub(r"(?<!^)([A-Z])", r"_\1", name.split(".")[0]).lower()
    if name == "phones":
        return "phone"
    if name in ("emails", "email"):
        return "email"
    return name if name in allowed else error_field


async def _organization(context: PluginContext, name: str) -> int:
    found = await context.system.list("organization", {"name": {"eq": name}}, order_by=[{"id": "ASC"}], first=1)
    if found:
        return int(found[0]["id"])
    try:
        made = await context.records.create("organization", {"name": name})
    except ValidationFailed as exc:
        raise ValidationFailed.single("company", "invalid", exc.errors[0].message) from None
    return int(made["id"])


async def submit(context: PluginContext, form: dict[str, Any], inputs: dict[str, str]) -> dict[str, Any]:
    """Apply one post of ``form`` as ``context`` (the route's plugin writer): the
    contact, found or created by address, with the allowed fields written, and the
    form's subscriptions, all or nothing.  Returns the contact."""
    email = normalised(inputs.get("email") or "", "email")
    allowed = [str(f) for f in form.get("fields") or []]
    given = {name: inputs[name].strip() for name in allowed if (inputs.get(name) or "").strip()}
    for name, value in given.items():
        if len(value) > _LONGEST:
            raise ValidationFailed.single(name, "too_long", f"at most {_LONGEST} characters")
    custom_names = set(context.custom_field_names("contact"))
    async with context.db.transaction():
        found = await context.system.list("contact", {"emails": {"contains": email}}, order_by=[{"id": "ASC"}], first=1)
        contact = found[0] if found else None
        values: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        for name, value in given.items():
            if name == "phone":
                phones = list((contact or {}).get("phones") or [])
                values["phones"] = [*phones, value]
            elif name == "company":
                values["organization"] = await _organization(context, value)
            elif name in forms.CONTACT_FIELDS:
                values[name] = value
            elif name in custom_names:
                custom[name] = value
        if custom:
            values["custom"] = custom
        try:
            if contact is None:
                owner = form.get("owner")
                contact = await context.records.create(
                    "contact", {"emails": [email], **({"owner": owner} if owner else {}), **values}
                )
            elif values:
                contact = await context.records.update("contact", int(contact["id"]), values)
        except ValidationFailed as exc:
            error = exc.errors[0]
            raise ValidationFailed.single(_field_of(error.field, allowed), error.code, error.message) from None
        for topic in form.get("topics") or []:
            await subscribe(
                context,
                int(contact["id"]),
                str(topic),
                source=f"form:{form['key']}",
                double_opt_in=bool(form.get("double_opt_in")),
            )
    return contact


@route(PATH, http_method=["POST", "OPTIONS"], status_code=200)
async def form_post(request: Request[Any, Any, Any]) -> Response[Any]:
    if request.method == "OPTIONS":  # a site's script posting JSON from another origin asks first
        return Response(None, status_code=204, headers=CORS)
    context = context_from(request)
    key = str(request.path_params["key"])
    client = request.client.host if request.client else "unknown"
    limit = marketing_settings(context).form_rate_limit_per_minute
    wait = await rate_limit(request, f"marketing.form:{key}:{client}", limit)
    if wait is not None:
        retry = str(math.ceil(wait))
        return _answer(
            request,
            429,
            "Please wait",
            f"Too many posts from your address; try again in {retry} seconds.",
            errors=[{"field": None, "code": "rate_limited", "message": "too many posts"}],
            headers={"Retry-After": retry},
        )
    form = await forms.by_key(context, key)
    if form is None or not form.get("active"):
        return _answer(request, 404, "Not found", "There is no such form.")
    writer = context.as_plugin(keep_permissions=False, name=f"web form {key}")
    try:
        inputs = await _read(request)
        if (inputs.get(forms.HONEYPOT) or "").strip():
            return _success(request, form)  # a bot: answered as a person, nothing stored
        await submit(writer, form, inputs)
    except ValidationFailed as exc:
        errors = [{"field": e.field, "code": e.code, "message": e.message} for e in exc.errors]
        first = exc.errors[0]
        message = f"{first.field}: {first.message}" if first.field else first.message
        return _answer(request, 400, "Please check the form", message, errors=errors)
    return _success(request, form)


ROUTES = [form_post]
