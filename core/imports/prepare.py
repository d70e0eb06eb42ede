"""A chunk of an import's file made ready to write, without the database: its rows
read, their cells converted and checked by the entity's own validation.

This is about a third of an import's Python work, and none of it waits for the
database, so the next chunk is prepared while the current one is written (``ahead``
decides where): ``read`` hands control back to the event loop every few rows, so that
the writer goes on as soon as each of its statements returns; ``prepare_now`` does a
chunk in one go, in a helper process.

Relations named by a key (``organization.domain``) are found only when the chunk is
written, since rows written just before may be the records they name; until then they
are checked as a placeholder id, which validation treats as any other id, and the real
one replaces it in both the values and the checked values (``Checked.link``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kith.core.entities.declaration import Entity, FieldKind
from kith.core.errors import FieldError, ValidationFailed
from kith.core.imports import mapping
from kith.core.imports.convert import blank, convert
from kith.core.imports.csv_file import CsvProblem
from kith.core.imports.sources import Row
from kith.core.records.validation import graphql_name, validate_input

if TYPE_CHECKING:
    from kith.core.customfields import CustomField
    from kith.core.runtime import Kith

#: rows prepared between two turns of the event loop (a fifth of a millisecond of work):
#: the writer's next statement waits no longer than that for its turn.  A chunk's
#: duplicate check is dozens of short look-ups, and with slices of 25 rows their waits
#: cost more than the overlap saved
SLICE = 5
#: the id a relation named by a key is checked as until the chunk is written
PLACEHOLDER_ID = 1


@dataclass
class Checked:
    """One converted row: its values, its relations as the text that names them, and
    what validation made of it (``checked``), or why it refused it (``errors``)."""

    line: int
    values: dict[str, Any]
    refs: dict[mapping.Target, str]
    checked: dict[str, Any] | None = None
    errors: list[FieldError] = field(default_factory=list)

    def link(self, target: mapping.Target, record_id: int) -> None:
        """Give the relation ``target`` the id of the record its text named."""
        for values in (self.values, self.checked or {}):
            if target.custom:
                values.setdefault("custom", {})[target.field] = record_id
            else:
                values[target.field] = record_id


@dataclass
class Prepared:
    """A chunk: its last line, the rows refused while converting (a cell that is no
    date, a row the CSV reader could not read), and the rest, checked."""

    last: int
    refused: list[tuple[int, list[FieldError]]]
    rows: list[Checked]


@dataclass
class RowPreparer:
    """What stays the same from one chunk to the next: the mapping's targets, the
    ``--set`` defaults, the zone of dates, and how rows are validated."""

    entity: Entity
    targets: list[mapping.Target]
    defaults: list[tuple[mapping.Target, str]]
    zone: ZoneInfo
    fields: list[CustomField]
    region: str
    creating: bool
    trusted: bool
    #: each target's path, worked out once rather than per row (defaults match by it)
    paths: dict[mapping.Target, str] = field(init=False)

    def __post_init__(self) -> None:
        self.paths = {target: target.path for target in [*self.targets, *(t for t, _ in self.defaults)]}

    def multiline(self) -> list[str]:
        """The headers whose cells may hold line breaks (long-text fields)."""
        return [target.header for target in self.targets if target.kind == FieldKind.TEXT.value]

    async def read(self, items: Iterator[Row | CsvProblem], size: int) -> Prepared | None:
        """The next ``size`` rows of ``items``, prepared, giving the event loop a turn
        every ``SLICE`` rows; None when there are none."""
        batch: list[Row | CsvProblem] = []
        for item in items:
            batch.append(item)
            if len(batch) >= size:
                break
            if len(batch) % SLICE == 0:
                await asyncio.sleep(0)
        if not batch:
            return None
        prepared = Prepared(0, [], [])
        for start in range(0, len(batch), SLICE):
            self._add(prepared, batch[start : start + SLICE])
            await asyncio.sleep(0)
        return prepared

    def prepare_now(self, items: Sequence[Row | CsvProblem]) -> Prepared:
        """``items`` prepared in one go (in a helper process, where nothing waits)."""
        prepared = Prepared(0, [], [])
        self._add(prepared, items)
        return prepared

    def _add(self, prepared: Prepared, items: Sequence[Row | CsvProblem]) -> None:
        for item in items:
            if isinstance(item, CsvProblem):
                prepared.refused.append((item.line, [FieldError(item.column, "invalid", item.message)]))
                prepared.last = max(prepared.last, item.line)
                continue
            line, cells = item
            prepared.last = max(prepared.last, line)
            values, refs, errors = self.convert(cells)
            if errors:
                prepared.refused.append((line, errors))
            else:
                prepared.rows.append(self.check(Checked(line, values, refs)))

    def check(self, row: Checked) -> Checked:
        """Validate ``row`` as the record service would, its relations as placeholders."""
        values = dict(row.values)
        if row.refs:
            placeholders = {target.field: PLACEHOLDER_ID for target in row.refs if not target.custom}
            custom = {target.field: PLACEHOLDER_ID for target in row.refs if target.custom}
            values.update(placeholders)
            if custom:
                values["custom"] = {**values.get("custom", {}), **custom}
        try:
            row.checked = validate_input(self.entity, self.fields, values, creating=self.creating,
                                         region=self.region, trusted=self.trusted)  # fmt: skip
        except ValidationFailed as exc:
            row.errors = list(exc.errors)
        return row

    def convert(self, cells: Mapping[str, Any]) -> tuple[dict[str, Any], dict[mapping.Target, str], list[FieldError]]:
        """The row's values, its relations as the text that names them, and what is
        wrong with its cells."""
        values: dict[str, Any] = {}
        refs: dict[mapping.Target, str] = {}
        custom: dict[str, Any] = {}
        currencies: dict[str, str] = {}
        errors: list[FieldError] = []
        given = [(target, cells.get(target.header)) for target in self.targets]
        if self.defaults:  # only for rows whose own cell for the field is empty
            filled = {self.paths[target] for target, raw in given if not blank(raw)}
            given += [(target, text) for target, text in self.defaults if self.paths[target] not in filled]
        for target, raw in given:
            if blank(raw):
                continue  # an empty cell leaves the field as it is
            if target.currency:
                currencies[target.field] = str(raw).strip().upper()
                continue
            if target.relation is not None:
                refs[target] = str(raw).strip()
                continue
            try:
                value = convert(target.kind, raw, self.zone)
            except ValueError as exc:
                errors.append(FieldError(self.path(target), "invalid", str(exc)))
                continue
            (custom if target.custom else values)[target.field] = value
        for name, currency in currencies.items():
            money = values.get(name)
            if isinstance(money, dict) and not money.get("currency"):
                money["currency"] = currency
        if custom:
            values["custom"] = custom
        return values, refs, errors

    def path(self, target: mapping.Target) -> str:
        """The target as errors name it (``organizationId``, ``customFields.tier``)."""
        if target.custom:
            return f"customFields.{target.field}"
        return graphql_name(self.entity.fields[target.field])


def preparer_for(kith: Kith, stored: Mapping[str, Any], headers: Sequence[str], trusted: bool) -> RowPreparer:
    """The preparer of a stored run (``ImportRun``) of a file with ``headers``."""
    entity = kith.entities.get(str(stored["entity"]))
    return RowPreparer(
        entity,
        mapping.parse(kith, entity, json.loads(stored["mapping"]), list(headers)),
        default_targets(kith, entity, json.loads(stored["defaults"] or "{}")),
        zone(str(stored["time_zone"])),
        list(kith.custom_fields.for_entity(entity.name)),
        kith.records.region,
        creating=stored["mode"] == "create",
        trusted=trusted,
    )


def default_targets(kith: Kith, entity: Entity, defaults: Mapping[str, str]) -> list[tuple[mapping.Target, str]]:
    """The targets ``defaults`` fill, with their text; every problem names its target."""
    if not defaults:
        return []
    headers = [f"default {path}" for path in defaults]
    try:
        targets = mapping.parse(kith, entity, dict(zip(headers, defaults, strict=True)), headers)
    except ValidationFailed as exc:
        raise ValidationFailed(
            [FieldError(f"defaults.{(e.field or '').removeprefix('default ')}", e.code, e.message) for e in exc.errors]
        ) from None
    return [(target, defaults[target.header.removeprefix("default ")]) for target in targets]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; refused as ``timeZone``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.single("timeZone", "invalid", f"{name!r} is not an IANA time zone") from None
