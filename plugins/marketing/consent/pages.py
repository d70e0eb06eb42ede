"""The small HTML pages people reach from links in mail (no sign-in: the signed token
in the link is the credential).  Jinja2 with autoescape, one template."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from litestar import Response

_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>{{ title }}</h1>
{% for line in lines %}<p>{{ line }}</p>
{% endfor %}{% if form %}<form method="post">
{% for field in form.hidden %}<input type="hidden" name="{{ field[0] }}" value="{{ field[1] }}">
{% endfor %}{% for box in form.boxes %}<p><label><input type="checkbox" name="{{ box.name }}" value="{{ box.value }}"
{%- if box.checked %} checked{% endif %}> {{ box.label }}</label></p>
{% endfor %}{% for choice in form.choices %}<fieldset><legend>{{ choice.legend }}</legend>
{% for option in choice.options %}<label><input type="radio" name="{{ choice.name }}" value="{{ option[0] }}"
{%- if option[0] == choice.chosen %} checked{% endif %}> {{ option[1] }}</label>
{% endfor %}</fieldset>
{% endfor %}<p><button type="submit">{{ form.button }}</button></p>
</form>{% endif %}
</main></body></html>
"""
)


def page(title: str, *lines: str, status: int = 200, form: dict[str, Any] | None = None) -> Response[Any]:
    return Response(
        _PAGE.render(title=title, lines=lines, form=form),
        media_type="text/html",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
