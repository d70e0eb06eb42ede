"""Values in rules may be Jinja2 templates over the record, rendered in a sandbox.

``"Follow up with {{ record.first_name }}"`` or ``"{{ record.owner }}"``.  Rendering
happens when the action runs, against the record as it is then.  The sandbox keeps
an admin-written rule from reaching Python internals (``sandbox.py``); rendering runs
in a child process under time, output and memory limits, so a template cannot stall
the server (``rendering.py``: ``await kith.templates.render(value, context)``).

This module holds what needs no child process: recognising templates, and the
compile check made when a rule is saved (parsing is linear in the text's length).
"""

from __future__ import annotations

from typing import Any

from jinja2 import TemplateError

from kith.core.automations.sandbox import DEFAULT_MAX_OUTPUT, sandbox


class TemplateProblem(ValueError):
    """A template that does not compile or render; the message says why."""


class TemplateLimitExceeded(TemplateProblem):
    """A template went over a limit; ``limit`` names the setting (or ``memory``)."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def contains_template(value: Any) -> bool:
    return any(is_template(text) for text in strings(value))


def check(value: Any) -> None:
    """Compile every template inside ``value`` (raises ``TemplateProblem``)."""
    for text in strings(value):
        if is_template(text):
            try:
                sandbox(DEFAULT_MAX_OUTPUT).parse(text)
            except TemplateError as exc:
                raise TemplateProblem(f"template does not compile: {exc}") from None


def template_strings(value: Any) -> list[str]:
    """The distinct templates inside ``value``, in order."""
    return list(dict.fromkeys(text for text in strings(value) if is_template(text)))


def substitute(value: Any, rendered: dict[str, str]) -> Any:
    """``value`` with each template replaced by its output from ``rendered``."""
    if isinstance(value, dict):
        return {k: substitute(v, rendered) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, rendered) for v in value]
    if isinstance(value, str) and value in rendered:
        return rendered[value]
    return value


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []
