"""Web forms: a site's sign-up form posts to ``/marketing/forms/<key>`` (see
``form_posts``); this module is the ``marketing_form`` record that says what such a
post may do.

A form names the topics it subscribes to (keys of the ``topics`` setting), whether it
asks for a double opt-in, which contact fields a post may set (a fixed list of the
contact's own fields, ``company`` for the organization's name, and the contact's custom
fields by name), where to send a browser afterwards, and whether it is active.  Its
``key`` is the public part of its address: URL-safe, unique, generated from the name
when left empty.  Topics and custom fields are checked against the running
installation in the before-hooks (a normaliser has no context to ask).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from piccolo.columns import JSON, Boolean, ForeignKey, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import Change, Entity, PluginContext, RecordColumns, User, ValidationFailed

#: the contact fields a form may set besides the address (always taken): the input
#: name is the field's name; ``phone`` adds a number to the contact's phones and
#: ``company`` links the organization of that name (created when there is none)
CONTACT_FIELDS = ("first_name", "last_name", "title", "phone", "company", "street", "city", "region",
                  "postal_code", "country")  # fmt: skip
#: the input a person never sees (hidden with CSS); a bot filling every field fills it
HONEYPOT = "website"
#: a form's key: it is the last part of the address the site posts to
KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}")


class WebForm(RecordColumns, Table, tablename="marketing_form"):
    name = Varchar(length=200)
    #: the public part of the address (``/marketing/forms/<key>``), unique and URL-safe
    key = Varchar(length=80, unique=True)
    #: the topics a post subscribes to (keys of the ``topics`` setting), as a JSON list
    topics = JSON(default="[]")
    double_opt_in = Boolean(default=False)
    #: the contact fields a post may set (``CONTACT_FIELDS`` and custom field names)
    fields = JSON(default="[]")
    #: where a browser goes after a post (303); empty: a small thank-you page
    redirect_url = Varchar(length=500, null=True, default=None)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    active = Boolean(default=True)


FORM_TABLES: list[type[Table]] = [WebForm]


def _names(value: Any, region: Any) -> list[str]:
    """A list of names, given as a list or its JSON text; duplicates dropped."""
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON: {exc.msg}") from exc
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise ValueError("must be a list of names")
    return list(dict.fromkeys(i.strip() for i in items))


def _key(value: Any, region: Any) -> str:
    """Lower-case letters, digits, ``-`` and ``_``; empty: one is generated from the name."""
    text = str(value or "").strip().lower()
    if text and not KEY.fullmatch(text):
        raise ValueError("use lower-case letters, digits, '-' and '_' (at most 80), starting with a letter or digit")
    return text


def _redirect(value: Any, region: Any) -> str | None:
    text = str(value or "").strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// address")
    return text


def entity() -> Entity:
    return Entity(
        "marketing_form",
        WebForm,
        label="Web form",
        required=("name",),
        searchable=("name", "key"),
        normalisers={"key": _key, "topics": _names, "fields": _names, "redirect_url": _redirect},
        reverse={"owner": None},
        timeline=False,
        customizable=False,
    )


def slug(name: str) -> str:
    """``Spring sign-up!`` -> ``spring-sign-up``."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60]
    return text or "form"


async def _free_key(name: str) -> str:
    base = slug(name)
    if not await WebForm.exists().where(WebForm.key == base):
        return base
    while True:
        candidate = f"{base}-{secrets.token_hex(3)}"
        if not await WebForm.exists().where(WebForm.key == candidate):
            return candidate


def check_topics(context: PluginContext, topics: list[str]) -> None:
    known = marketing_settings(context).topics
    unknown = [t for t in topics if t not in known]
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise ValidationFailed.single("topics", "invalid", f"no topic {unknown[0]!r} (the topics are: {listed})")


def check_fields(context: PluginContext, fields: list[str]) -> None:
    allowed = (*CONTACT_FIELDS, *context.custom_field_names("contact"))
    unknown = [f for f in fields if f not in allowed]
    if unknown:
        raise ValidationFailed.single(
            "fields", "invalid", f"a form cannot set {unknown[0]!r} (it may set: {', '.join(allowed)})"
        )


async def before_write(change: Change) -> None:
    """A new form without a key gets one from its name; an existing form keeps one.
    Topics and custom fields must exist on this installation."""
    values = change.values
    if change.action == "create" and not values.get("key"):
        values["key"] = await _free_key(str(values.get("name") or ""))
    elif "key" in values and not values["key"]:
        raise ValidationFailed.single("key", "required", "a form keeps its key (sites post to it)")
    if "topics" in values:
        check_topics(change.context, values["topics"] or [])
    if "fields" in values:
        check_fields(change.context, values["fields"] or [])


async def by_key(context: PluginContext, key: str) -> dict[str, Any] | None:
    """The live form with ``key``, read as the system (the route's callers are anonymous)."""
    if not KEY.fullmatch(key):
        return None
    rows = await WebForm.select(WebForm.id).where((WebForm.key == key) & WebForm.deleted_at.is_null())
    return await context.system.get("marketing_form", int(rows[0]["id"])) if rows else None
