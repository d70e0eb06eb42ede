"""Cutting one person's values out of text and parsed JSON, without touching anything else.

Two ways a value goes, and why both are needed:

- **by value**: every string anywhere in a row tied to the person is searched for their
  values (case-insensitively, longest first, so an email goes whole before the name
  inside it) and each match becomes ``[erased]``.  That is what catches a deal named
  after them or a note quoting their phone number.
- **by key**: in the journal rows of the person's own records, the value stored under a
  personal field's name is erased whatever it is — a number, a date, a money object, a
  select — because a value that is not text (``42``, ``true``) cannot be searched for
  without hitting unrelated data.

JSON is always parsed and rebuilt, never edited as text, so every stored document stays
valid whatever the values contain (quotes, backslashes, unicode).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers

ERASED = "[erased]"
#: values shorter than this are erased where they are stored, but not searched for in
#: free text, where an initial or a two-digit number would match unrelated words
MIN_SEARCH_LENGTH = 3
#: custom field types whose values are categories or references, not words a person is
#: recognised by: erased by key, never searched for (a choice also lives in the field's
#: definition, and an id is a number shared with every other table)
NOT_SEARCHED_TYPES = frozenset({"boolean", "single_select", "multi_select", "relation"})


def phone_spellings(phone: str, region: str = "US") -> list[str]:
    """How a stored (E.164) number is written by people: ``+1 415-555-0123``,
    ``(415) 555-0123``, ``4155550123``; so a note quoting it either way is found."""
    try:
        number = phonenumbers.parse(phone, region)
    except phonenumbers.NumberParseException:
        return [phone]
    formats = (
        phonenumbers.PhoneNumberFormat.E164,
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
        phonenumbers.PhoneNumberFormat.NATIONAL,
    )
    spellings = {phone, *(phonenumbers.format_number(number, f) for f in formats)}
    spellings.add(str(number.national_number))
    return sorted(spellings)


def searchable_strings(value: Any) -> list[str]:
    """The spellings of one stored value that free text may quote."""
    if value is None or isinstance(value, bool):
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, int | float | decimal.Decimal):
        return [str(value)]
    if isinstance(value, dt.date | dt.datetime):
        return [value.isoformat()]
    if isinstance(value, dict):  # money: the amount is what identifies it
        return searchable_strings(value.get("amount"))
    if isinstance(value, list | tuple):
        return [s for item in value for s in searchable_strings(item)]
    return [str(value)]


@dataclass
class Scrubber:
    """A person's values, and the one compiled pattern that finds any of them."""

    values: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pattern: re.Pattern[str] | None = None
        self.add(self.values)

    def add(self, values: Iterable[str]) -> None:
        by_key = {v.casefold(): v for v in self.values}
        for value in values:
            if len(value) >= MIN_SEARCH_LENGTH:
                by_key.setdefault(value.casefold(), value)
        self.values = sorted(by_key.values(), key=lambda v: (-len(v), v))
        self._pattern = re.compile("|".join(re.escape(v) for v in self.values), re.IGNORECASE) if self.values else None

    def text(self, text: str) -> str:
        """``text`` with every one of the values replaced by ``[erased]``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(ERASED, text)

    def found_in(self, text: str) -> bool:
        return self._pattern is not None and bool(self._pattern.search(text))

    def json(self, value: Any) -> Any:
        """A parsed JSON value with every string (keys excepted) scrubbed."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        return value


def marked(value: Any) -> Any:
    """A journal's copy of an erased value: ``[erased]`` where there was one, empty stays empty."""
    return value if value in (None, "", [], {}) else ERASED


@dataclass(frozen=True)
class PersonalKeys:
    """The names a personal field of one entity goes by in journal JSON: column names in
    ``record`` objects, client names (``firstName``, ``customFields.passport``) in
    ``changes``, custom field keys inside ``custom``."""

    columns: frozenset[str]
    list_columns: frozenset[str]
    client_names: frozenset[str]
    custom: frozenset[str]

    def erase_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """A record snapshot as the erased record reads: personal values empty."""
        out = dict(record)
        for column in self.columns & out.keys():
            if out[column] not in (None, []):
                out[column] = [] if column in self.list_columns else None
        custom = out.get("custom")
        if isinstance(custom, dict) and self.custom & custom.keys():
            out["custom"] = {k: v for k, v in custom.items() if k not in self.custom}
        return out

    def erase_changes(self, changes: dict[str, Any]) -> dict[str, Any]:
        """``{field: [old, new]}`` with the personal fields' values marked erased."""
        out = dict(changes)
        for name, pair in changes.items():
            if name in self.client_names and isinstance(pair, list):
                out[name] = [marked(v) for v in pair]
        return out

    def erase_payload(self, value: Any) -> Any:
        """An event or job payload (nested: a job carries its event's payload) with the
        personal values of ``record`` and ``changes`` objects erased."""
        if isinstance(value, list):
            return [self.erase_payload(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: self.erase_payload(v) for k, v in value.items()}
        if isinstance(out.get("record"), dict):
            out["record"] = self.erase_record(out["record"])
        if isinstance(out.get("changes"), dict):
            out["changes"] = self.erase_changes(out["changes"])
        return out
