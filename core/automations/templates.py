"""Values in rules may be Jinja2 templates over the record, rendered in a sandbox.

``"Follow up with {{ record.first_name }}"`` or ``"{{ record.owner }}"``.  Rendering
happens when the action runs, against the record as it is then.  The sandbox keeps
an admin-written rule from reaching Python internals.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def _days_from_now(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days, hours=hours, minutes=minutes)).isoformat()


_env.globals["in_days"] = lambda days: _days_from_now(days=days)
_env.globals["in_hours"] = lambda hours: _days_from_now(hours=hours)
_env.globals["now"] = lambda: dt.datetime.now(dt.UTC).isoformat()


class TemplateProblem(ValueError):
    """A template that does not compile or render; the message says why."""


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def contains_template(value: Any) -> bool:
    return any(is_template(text) for text in _strings(value))


def check(value: Any) -> None:
    """Compile every template inside ``value`` (raises ``TemplateProblem``)."""
    for text in _strings(value):
        if is_template(text):
            try:
                _env.parse(text)
            except TemplateError as exc:
                raise TemplateProblem(f"template does not compile: {exc}") from None


def render(value: Any, context: dict[str, Any]) -> Any:
    """Render every template inside ``value``; other values are returned unchanged."""
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    if is_template(value):
        try:
            return _compiled(value).render(**context)
        except TemplateError as exc:
            raise TemplateProblem(f"template {value!r} failed: {exc}") from None
    return value


@functools.lru_cache(maxsize=2048)
def _compiled(text: str) -> Template:
    """Templates compiled once: rules render the same few strings for every event, and
    compiling is what rendering cost (about a millisecond each)."""
    return _env.from_string(text)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []
