"""Survivorship rules: which record's value each field of the survivor keeps.

A merge takes one rule per field: a default for every field plus overrides by field
name (custom fields included).  Each rule picks one record's value among the merged
records, or (``union``, lists only) combines them:

``primary``         the survivor's value, even when empty;
``only_if_empty``   the survivor's value; when that is empty, the others' (most recent first);
``most_recent``     the value of the record updated most recently;
``most_complete``   the value with the most content (longest text, most items);
``trusted_source``  the value written through the source ranked highest in the merge's
                    ordered list (``["import", "graphql"]``): a value's source is the
                    ``source`` of the audit entry that last wrote that field of that record;
``union``           every item of every record's list, the survivor's first (list fields'
                    default: tags, emails, phones, multi-selects).

An empty value (nothing, blank text, an empty list) is never picked over a filled one,
except by ``primary``: a merge fills gaps, and only ``primary`` keeps one on purpose.
Ties go to the survivor, then to the record updated most recently, then to the newer
record (higher id), so the same records and rules always give the same result.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kith.core.errors import FieldError, ValidationFailed

PRIMARY = "primary"
ONLY_IF_EMPTY = "only_if_empty"
MOST_RECENT = "most_recent"
MOST_COMPLETE = "most_complete"
TRUSTED_SOURCE = "trusted_source"
UNION = "union"
RULES = (MOST_RECENT, MOST_COMPLETE, PRIMARY, TRUSTED_SOURCE, ONLY_IF_EMPTY, UNION)
#: a merge with no rules fills the survivor's gaps and changes nothing it holds
DEFAULT_RULE = ONLY_IF_EMPTY

_OLDEST = dt.datetime.min.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class MergeRules:
    """What a caller asks for: ``default`` for every field, ``fields`` by field name as a
    client writes it (``firstName``, ``first_name``, ``customFields.tier``) -> rule, and
    the sources ``trusted_source`` ranks, most trusted first."""

    default: str = DEFAULT_RULE
    fields: Mapping[str, str] = field(default_factory=dict)
    trusted_sources: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"default": self.default, "fields": dict(self.fields), "trustedSources": list(self.trusted_sources)}


def check_rules(rules: MergeRules) -> None:
    """Refuse an unknown rule, or ``trusted_source`` without sources, naming the input."""
    errors = []
    if rules.default not in RULES or rules.default == UNION:
        allowed = ", ".join(r for r in RULES if r != UNION)
        errors.append(FieldError("rules.default", "invalid", f"must be one of: {allowed}"))
    for name, rule in rules.fields.items():
        if rule not in RULES:
            errors.append(FieldError(f"rules.{name}", "invalid", f"must be one of: {', '.join(RULES)}"))
    uses_trust = rules.default == TRUSTED_SOURCE or TRUSTED_SOURCE in rules.fields.values()
    if uses_trust and not rules.trusted_sources:
        errors.append(FieldError("rules.trustedSources", "required", "the trusted_source rule needs sources to rank"))
    if errors:
        raise ValidationFailed(errors)


@dataclass(frozen=True)
class Candidate:
    """One merged record's value of one field, with what the rules weigh."""

    record_id: int
    value: Any
    updated_at: dt.datetime | None
    survivor: bool
    source: str | None = None


def is_empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or (isinstance(value, str) and not value.strip())


def _content(value: Any) -> int:
    """How much a value says: characters of text, items of a list, 1 for anything else."""
    if isinstance(value, str):
        return len(value.strip())
    if isinstance(value, list):
        return len(value)
    return 1


def _recency(c: Candidate) -> tuple[dt.datetime, bool, int]:
    return (c.updated_at or _OLDEST, c.survivor, c.record_id)


def _ties(c: Candidate) -> tuple[bool, dt.datetime, int]:
    """The order among equals: the survivor, then the most recent, then the newer record."""
    return (c.survivor, c.updated_at or _OLDEST, c.record_id)


def choose(rule: str, candidates: Sequence[Candidate], trusted: Sequence[str] = ()) -> Candidate | None:
    """The candidate whose value the survivor takes under ``rule`` (not ``union``);
    None: no record has a value, the survivor keeps its (empty) one."""
    survivor = next(c for c in candidates if c.survivor)
    filled = [c for c in candidates if not is_empty(c.value)]
    if rule == PRIMARY or not filled:
        return survivor if rule == PRIMARY else None
    pickers: dict[str, Callable[[Candidate], Any]] = {
        ONLY_IF_EMPTY: _recency,
        MOST_RECENT: _recency,
        MOST_COMPLETE: lambda c: (_content(c.value), *_ties(c)),
        TRUSTED_SOURCE: lambda c: (-_rank(c.source, trusted), *_ties(c)),
    }
    if rule == ONLY_IF_EMPTY and not is_empty(survivor.value):
        return survivor
    return max(filled, key=pickers[rule])


def _rank(source: str | None, trusted: Sequence[str]) -> int:
    """0 for the most trusted source; every source not listed ranks below all listed."""
    return trusted.index(source) if source in trusted else len(trusted)


def union(candidates: Sequence[Candidate]) -> list[Any]:
    """Every item once, the survivor's first, then each other record's in the order given."""
    ordered = sorted(candidates, key=lambda c: not c.survivor)
    out: list[Any] = []
    for candidate in ordered:
        for item in candidate.value or []:
            if item not in out:
                out.append(item)
    return out
