"""A campaign's mail for one contact: Jinja2 in a sandbox, with a plain-text part made
from the HTML when the campaign has none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inscriptis import get_text
from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from kith.sdk import ValidationFailed

_ENVIRONMENT = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


@dataclass(frozen=True)
class Templates:
    """A campaign's subject, HTML and text, compiled once for all its recipients."""

    subject: Template
    html: Template
    text: Template | None


def compile_templates(campaign: Mapping[str, Any]) -> Templates:
    """The campaign's templates; a syntax error is refused naming the field."""
    compiled: dict[str, Template | None] = {}
    for field in ("subject", "html", "text"):
        source = campaign.get(field)
        if field == "text" and not source:
            compiled[field] = None
            continue
        try:
            compiled[field] = _ENVIRONMENT.from_string(str(source or ""))
        except TemplateError as exc:
            raise ValidationFailed.single(field, "invalid", f"template: {exc}") from exc
    subject, html = compiled["subject"], compiled["html"]
    assert subject is not None and html is not None
    return Templates(subject, html, compiled["text"])


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str


def render(
    templates: Templates,
    contact: Mapping[str, Any],
    campaign: Mapping[str, Any],
    links: Mapping[str, str] | None = None,
) -> Rendered:
    """The mail for ``contact``; a template that fails for this contact (a field it
    lacks) raises ``ValidationFailed`` naming the template's field.  ``links``
    (``unsubscribe_url``, ``preferences_url``) are there for the template to place; one
    that does not place the unsubscribe link gets a footer with both, as every
    marketing mail must let its reader leave."""
    links = dict(links or {})
    values = {"contact": _contact_values(contact), "campaign": {"name": campaign.get("name")}, **links}
    try:
        subject = templates.subject.render(values).strip()
        html = templates.html.render(values)
        text = templates.text.render(values) if templates.text else get_text(html).strip() + "\n"
    except TemplateError as exc:
        raise ValidationFailed.single("html", "invalid", f"template: {exc}") from exc
    unsubscribe = links.get("unsubscribe_url")
    if unsubscribe and unsubscribe not in html:
        html += _FOOTER.render(unsubscribe_url=unsubscribe, preferences_url=links.get("preferences_url"))
    if unsubscribe and unsubscribe not in text:
        text += f"\n--\nUnsubscribe: {unsubscribe}\n" + (
            f"Preferences: {links['preferences_url']}\n" if links.get("preferences_url") else ""
        )
    return Rendered(" ".join(subject.split()), html, text)


_FOOTER = _ENVIRONMENT.from_string(
    '<p style="font-size:12px;color:#666"><a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    '{% if preferences_url %} · <a href="{{ preferences_url }}">Your preferences</a>{% endif %}</p>'
)


def _contact_values(contact: Mapping[str, Any]) -> dict[str, Any]:
    """What a template sees of a contact: its fields by column name, custom fields under
    ``custom``, and ``email`` (the first address)."""
    values = dict(contact)
    values["custom"] = dict(contact.get("custom") or {})
    emails = contact.get("emails") or []
    values["email"] = emails[0] if emails else None
    return values
