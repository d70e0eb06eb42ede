"""Report sources: figures a plugin computes (a forecast, SLA compliance, campaign ROI,
sentiment) offered to reports through the ``kith_report_sources`` hook.

A source is run with a ``PluginContext`` acting as the person running the report, so a
plugin that computes its figures through ``context.records`` gets the reader's
visibility for free, exactly as its own GraphQL fields do.  Its rows are kept to the
columns it declares and made JSON-ready here, so a dashboard, a CSV and the CLI all get
what every other report gives.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kith.core.errors import FieldError, KithError, ValidationFailed
from kith.core.records.change import Actor
from kith.core.reports.result import ReportColumn, ReportResult, json_value

if TYPE_CHECKING:
    from kith.core.plugins.context import PluginContext
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class ReportRequest:
    """What a source is asked for: the report's ``params`` (whatever the source
    documents), the dashboard's date range (``date_from`` included, ``date_to``
    excluded; None: open) and filter, and the report's time zone."""

    params: Mapping[str, Any] = field(default_factory=dict)
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    time_zone: str = "UTC"
    #: the dashboard's filter as given; ``filter_for(entity)`` is the part that applies
    filter: Mapping[str, Any] | None = None
    _narrow: Callable[[str], dict[str, Any] | None] | None = field(default=None, repr=False, compare=False)

    def filter_for(self, entity: str) -> dict[str, Any] | None:
        """The parts of the dashboard's filter that name fields of ``entity`` (None:
        none), as every other report applies it: ``{"ownerId": {"eq": 5}}`` narrows
        deals and tickets' ``assigneeId`` not at all."""
        if not self.filter or self._narrow is None:
            return None
        return self._narrow(entity)

    def unknown_params(self, *known: str) -> list[FieldError]:
        """An error for each param not among ``known`` (a typo is refused, not ignored)."""
        unknown = [name for name in self.params if name not in known]
        return [FieldError(name, "unknown", "is not a param of this source") for name in unknown]

    def checked_params(
        self,
        choices: Mapping[str, tuple[Sequence[str], str]] | None = None,
        ids: Sequence[str] = (),
        others: Sequence[str] = (),
    ) -> dict[str, Any]:
        """The params, checked at once: each of ``choices`` (name -> (options, default))
        one of its options, or its default when not given; each of ``ids`` a record id
        (an ``int``, or None when not given); ``others`` as given.  Any other param, and
        every bad value, is one ``ValidationFailed`` naming each param."""
        choices = choices or {}
        errors = self.unknown_params(*choices, *ids, *others)
        out: dict[str, Any] = {name: self.params.get(name) for name in others}
        for name, (options, default) in choices.items():
            out[name] = self.params.get(name, default)
            if out[name] not in options:
                errors.append(FieldError(name, "invalid", f"must be one of: {', '.join(options)}"))
        for name in ids:
            value = self.params.get(name)
            if value is not None and not str(value).isdigit():
                errors.append(FieldError(name, "invalid", f"{value!r} is not a record id"))
            out[name] = None if value is None or not str(value).isdigit() else int(value)
        if errors:
            raise ValidationFailed(errors)
        return out

    def within(self, field_name: str) -> dict[str, Any] | None:
        """A filter: the timestamp ``field_name`` is in the date range (None: no range)."""
        bounds: dict[str, Any] = {}
        if self.date_from is not None:
            bounds["gte"] = self.date_from.astimezone(dt.UTC).isoformat()
        if self.date_to is not None:
            bounds["lt"] = self.date_to.astimezone(dt.UTC).isoformat()
        return {field_name: bounds} if bounds else None


@dataclass(frozen=True)
class ReportSource:
    """Figures a plugin offers to reports: ``name`` (``sales.forecast``), ``title``,
    the ``columns`` its rows have, and ``run(context, request)`` returning the rows.
    ``run`` may raise ``ValidationFailed`` for bad ``params`` (the field is reported
    under ``params.``)."""

    name: str
    title: str
    columns: Sequence[ReportColumn]
    run: Callable[[PluginContext, ReportRequest], Awaitable[Rows]]
    description: str = ""
    plugin: str = field(default="", compare=False)


def collect(kith: Kith) -> dict[str, ReportSource]:
    """The enabled plugins' sources by name; a name declared twice is an error naming both."""
    sources: dict[str, ReportSource] = {}
    for plugin, declared in kith.plugins.call("kith_report_sources"):
        for source in declared or ():
            if source.name in sources:
                raise KithError(
                    f"report source {source.name!r} is declared by both {sources[source.name].plugin} and {plugin}"
                )
            sources[source.name] = ReportSource(
                source.name, source.title, list(source.columns), source.run, source.description, plugin
            )
    return sources


def find(kith: Kith, name: str, path: str = "source") -> ReportSource:
    sources = collect(kith)
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none: no enabled plugin offers one"
        raise ValidationFailed.single(path, "unknown", f"no report source {name!r} (known: {known})")
    return sources[name]


def reader_context(kith: Kith, permissions: Permissions | None) -> PluginContext:
    """A ``PluginContext`` that reads as the person running the report (None: the system)."""
    from kith.core.plugins.context import PluginContext

    if permissions is None:
        return PluginContext(kith, Actor(name="reports", source="system"))
    principal = permissions.principal
    actor = principal.actor("api")
    return PluginContext(kith, Actor(actor.name, actor.source, principal.user_id, permissions))


async def run_source(
    kith: Kith, source: ReportSource, permissions: Permissions | None, request: ReportRequest
) -> ReportResult:
    """The source's rows, kept to its columns and JSON-ready."""
    try:
        rows = await source.run(reader_context(kith, permissions), request)
    except ValidationFailed as exc:
        raise ValidationFailed(
            [FieldError(f"params.{e.field}" if e.field else None, e.code, e.message) for e in exc.errors]
        ) from None
    names = [column.name for column in source.columns]
    return ReportResult(list(source.columns), [{name: json_value(row.get(name)) for name in names} for row in rows])
