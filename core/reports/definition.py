"""What a report is: a ``ReportDefinition``, stored as JSON with a saved report and
sent as JSON over GraphQL (``runReport(definition: …)``).

One model for every kind keeps the stored JSON flat and the GraphQL input one ``JSON``
value; which parts a kind uses is checked here, and every refusal names the part as a
client wrote it (``groupBy[2]``, ``measures[0].field``, ``steps[1].entity``).  Whether
the fields exist is checked when the report is saved or run, against the entities of
the moment (``kith.core.reports.runner.check``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from kith.core.errors import FieldError, ValidationFailed

Kind = Literal["aggregate", "funnel", "cohort", "source"]
Unit = Literal["day", "week", "month", "quarter", "year"]
Operation = Literal["count", "sum", "avg", "distinct"]
#: the most fields a report groups by (a bucket comes on top)
MAX_GROUP_BY = 2
MAX_STEPS = 20
MAX_COHORT_MONTHS = 36
#: a column name: what a row is keyed by (``won``, ``winRate``)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class _Model(BaseModel):
    """camelCase in JSON (``groupBy``), snake_case in Python; unknown keys refused, so
    a typo is an error instead of a silently ignored setting."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class BucketSpec(_Model):
    """A date bucket: the rows grouped by the ``unit`` their date ``field`` falls in."""

    field: str
    unit: Unit


class MeasureSpec(_Model):
    """One figure per group: ``count`` (rows), ``sum`` / ``avg`` of a number field,
    ``distinct`` (how many different values of ``field``), over the group's rows that
    match ``filter`` when one is given (``{"stage": {"eq": "won"}}``: the won ones)."""

    op: Operation = "count"
    field: str | None = None
    filter: dict[str, Any] | None = None
    #: the column's name in the rows; default ``count``, ``sum_amount``, ``avg_score``…
    name: str | None = None
    label: str | None = None

    def column(self) -> str:
        if self.name:
            return self.name
        if self.op == "count" or not self.field:
            return "count"
        return f"{self.op}_{re.sub(r'[^A-Za-z0-9]+', '_', self.field).strip('_')}"


class RatioSpec(_Model):
    """``numerator / denominator`` of two measures of the same row (by name), computed
    after the query: ``{"name": "winRate", "numerator": "won", "denominator": "count"}``.
    Empty (null) where the denominator is 0 or empty."""

    name: str
    numerator: str
    denominator: str
    label: str | None = None


class FunnelStep(_Model):
    """One step of a funnel: how many ``entity`` records match ``filter``."""

    label: str
    entity: str
    filter: dict[str, Any] | None = None


class ReportDefinition(_Model):
    """A report of one ``kind``:

    - ``aggregate``: ``entity`` records matching ``filter``, grouped by up to two fields
      (``groupBy``) and an optional date ``bucket`` read in ``timeZone``, with
      ``measures`` (default: a count) and ``ratios`` between them;
    - ``funnel``: the count of each of ``steps``, with the conversion from the step
      before and from the first;
    - ``cohort``: ``entity`` records (default ``contact``) grouped by the month of their
      first activity, with how many were active in each of the ``months`` after;
    - ``source``: the figures a plugin offers as the report source ``source``, with
      ``params`` it understands.

    ``dateField`` is the field a dashboard's date range applies to (default: the
    bucket's field, else ``createdAt``; a cohort's range applies to the cohort month)."""

    kind: Kind = "aggregate"
    entity: str | None = None
    filter: dict[str, Any] | None = None
    group_by: list[str] = Field(default_factory=list)
    bucket: BucketSpec | None = None
    time_zone: str = "UTC"
    measures: list[MeasureSpec] = Field(default_factory=list)
    ratios: list[RatioSpec] = Field(default_factory=list)
    date_field: str | None = None
    limit: int = Field(default=1000, ge=1, le=10_000)
    steps: list[FunnelStep] = Field(default_factory=list)
    months: int = Field(default=12, ge=0, le=MAX_COHORT_MONTHS)
    activity_filter: dict[str, Any] | None = None
    source: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _parts_of_the_kind(self) -> ReportDefinition:
        errors = shape_errors(self)
        if errors:
            raise _Refused(errors)
        return self

    def measure_specs(self) -> list[MeasureSpec]:
        """The measures, a count when none is given."""
        return list(self.measures) or [MeasureSpec(op="count")]

    def range_field(self) -> str:
        """The field a dashboard's date range applies to."""
        return self.date_field or (self.bucket.field if self.bucket else "createdAt")

    def to_json(self) -> dict[str, Any]:
        """The definition as stored and sent: camelCase keys, defaults left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True, exclude={"kind"}) | {
            "kind": self.kind
        }


class _Refused(ValueError):
    """Raised inside pydantic validation; carries the errors with their paths."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def shape_errors(report: ReportDefinition) -> list[FieldError]:
    """What the report's ``kind`` needs and lacks, or has that belongs to another kind."""
    errors: list[FieldError] = []
    kind = report.kind
    if kind in ("aggregate",) and not report.entity:
        errors.append(FieldError("entity", "required", "an aggregate report needs an entity"))
    if kind == "aggregate":
        for index in range(MAX_GROUP_BY, len(report.group_by)):
            errors.append(FieldError(f"groupBy[{index}]", "invalid", f"group by at most {MAX_GROUP_BY} fields"))
        names: list[str] = []
        for index, measure in enumerate(report.measure_specs()):
            if measure.op != "count" and not measure.field:
                errors.append(FieldError(f"measures[{index}].field", "required", f"{measure.op} needs a field"))
            name = measure.column()
            if not _NAME.match(name):
                errors.append(FieldError(f"measures[{index}].name", "invalid", "letters, digits and _ only"))
            elif name in names or name in report.group_by:
                errors.append(FieldError(f"measures[{index}].name", "duplicate", f"another column is named {name}"))
            names.append(name)
        for index, ratio in enumerate(report.ratios):
            if not _NAME.match(ratio.name):
                errors.append(FieldError(f"ratios[{index}].name", "invalid", "letters, digits and _ only"))
            elif ratio.name in names:
                errors.append(FieldError(f"ratios[{index}].name", "duplicate", f"another column is named {ratio.name}"))
            for part in ("numerator", "denominator"):
                if getattr(ratio, part) not in [m.column() for m in report.measure_specs()]:
                    errors.append(
                        FieldError(f"ratios[{index}].{part}", "unknown", f"no measure is named {getattr(ratio, part)}")
                    )
            names.append(ratio.name)
    if kind == "funnel":
        if not report.steps:
            errors.append(FieldError("steps", "required", "a funnel needs at least one step"))
        for index in range(MAX_STEPS, len(report.steps)):
            errors.append(FieldError(f"steps[{index}]", "invalid", f"a funnel has at most {MAX_STEPS} steps"))
    if kind == "source" and not report.source:
        errors.append(FieldError("source", "required", "name the report source (kith reports sources)"))
    foreign = {
        "groupBy": bool(report.group_by) and kind != "aggregate",
        "bucket": report.bucket is not None and kind != "aggregate",
        "measures": bool(report.measures) and kind != "aggregate",
        "ratios": bool(report.ratios) and kind != "aggregate",
        "steps": bool(report.steps) and kind != "funnel",
        "activityFilter": report.activity_filter is not None and kind != "cohort",
        "source": report.source is not None and kind != "source",
        "params": bool(report.params) and kind != "source",
        "entity": report.entity is not None and kind in ("funnel", "source"),
    }
    errors += [
        FieldError(name, "invalid", f"a {kind} report has no {name}") for name, wrong in foreign.items() if wrong
    ]
    return errors


def _path(location: tuple[int | str, ...]) -> str:
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_definition(value: Any, path: str = "definition") -> ReportDefinition:
    """A ``ReportDefinition`` from JSON (a dict, or its text), or ``ValidationFailed``
    with each problem's path under ``path`` (``definition.measures[0].op``); an empty
    ``path`` names the parts alone (``measures[0].op``)."""
    if isinstance(value, ReportDefinition):
        return value
    prefix = f"{path}." if path else ""
    if isinstance(value, str):
        try:
            return ReportDefinition.model_validate_json(value)
        except ValidationError as exc:
            raise _failed(exc, prefix) from None
    if not isinstance(value, dict):
        raise ValidationFailed.single(path or None, "invalid", "a report definition is a JSON object")
    try:
        return ReportDefinition.model_validate(value)
    except ValidationError as exc:
        raise _failed(exc, prefix) from None


def _failed(exc: ValidationError, prefix: str) -> ValidationFailed:
    errors: list[FieldError] = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _Refused):
            errors += [FieldError(prefix + (e.field or ""), e.code, e.message) for e in cause.errors]
            continue
        location = _path(tuple(error["loc"]))
        code = "unknown" if error["type"] == "extra_forbidden" else "invalid"
        message = "is not a part of a report definition" if code == "unknown" else str(error["msg"])
        errors.append(FieldError((prefix + location).rstrip(".") or None, code, message))
    return ValidationFailed(errors)
