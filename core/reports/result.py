"""What running a report gives: named columns and rows of JSON-ready values.

Every kind of report (an aggregate, a funnel, a cohort, a plugin's source) answers in
this one shape, so a dashboard draws any of them, a schedule writes any of them to CSV
or XLSX and the CLI prints any of them, without knowing which kind it was.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any, Literal

ColumnKind = Literal["dimension", "measure"]


@dataclass(frozen=True)
class ReportColumn:
    """One column: ``name`` keys it in each row, ``label`` is for people, and ``kind``
    says whether it is a ``dimension`` (what a row is about: a stage, a month) or a
    ``measure`` (a number about it)."""

    name: str
    label: str
    kind: ColumnKind = "measure"


@dataclass(frozen=True)
class ReportResult:
    """The figures: ``rows`` are dicts keyed by column name, values JSON-ready (text,
    numbers, booleans, null; dates as ISO text, exact decimals as numbers)."""

    columns: list[ReportColumn]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": [{"name": c.name, "label": c.label, "kind": c.kind} for c in self.columns],
            "rows": self.rows,
        }


def json_value(value: Any) -> Any:
    """``value`` as JSON can carry it: dates as ISO text, decimals as numbers (whole ones
    as integers), anything else unknown as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    return str(value)


#: decimal places of a measure that is not whole (an average): the same on both engines
PLACES = 6


def number(value: Any) -> Any:
    """A measure as a JSON number, to ``PLACES`` decimal places (a money sum arrives as
    decimal text; PostgreSQL and SQLite carry averages to different lengths)."""
    if isinstance(value, str):
        try:
            value = decimal.Decimal(value)
        except decimal.InvalidOperation:
            return value
    value = json_value(value)
    return round(value, PLACES) if isinstance(value, float) else value


def ratio(numerator: Any, denominator: Any) -> float | None:
    """``numerator / denominator`` to four places; None when either is empty or the
    denominator is 0."""
    if numerator is None or denominator in (None, 0):
        return None
    return round(float(numerator) / float(denominator), 4)


def humanise(name: str) -> str:
    """A label from a field name: ``lifecycleStage`` -> ``Lifecycle stage``,
    ``customFields.leadSource`` -> ``Lead source``, ``closedAt:month`` -> ``Closed at (month)``."""
    base, _, unit = name.partition(":")
    base = base.removeprefix("customFields.").replace(".", " ").replace("_", " ")
    words = ""
    for char in base:
        words += f" {char.lower()}" if char.isupper() else char
    words = " ".join(words.split())
    words = words[:1].upper() + words[1:]
    return f"{words} ({unit})" if unit else words
