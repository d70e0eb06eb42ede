"""Duplicate rules: data that says when two records of an entity may be the same.

A rule is ``exact`` (the records share a normalised value of one of its fields: an
email, a phone, a domain) or ``fuzzy`` (the texts of its fields are at least
``threshold`` similar, 0-100, measured by rapidfuzz's ``token_sort_ratio``).  Every rule a
pair matches is evidence: it gives its similarity times its weight (0-1), and these add up
as independent evidence (``1 - (1 - s1) * (1 - s2) ...``), so a name and a phone together score above
either alone, and only an exact rule of weight 1 makes a pair certain.

The core ships rules for contacts and organizations; plugins add theirs for any entity
through ``kith_duplicate_rules`` (a rule named like a core one replaces it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from kith.core.duplicates.normalise import EXACT_KEYS, FUZZY_PARTS
from kith.core.errors import FieldError, ValidationFailed

if TYPE_CHECKING:
    from kith.core.runtime import Kith


@dataclass(frozen=True)
class DuplicateRule:
    """When two records of ``entity`` may be duplicates, as data.

    ``kind="exact"``: they share a value of one of ``fields`` (list fields such as
    ``emails`` count each item) once read with ``normalise`` (``email``, ``phone``,
    ``domain`` or ``text``).  ``kind="fuzzy"``: the texts of ``fields`` together, read with
    ``normalise`` (``person_name``: nicknames as full names; ``company_name``: no legal
    forms; ``text``), are at least ``threshold`` similar (0-100).  ``same`` names fields
    that must also hold one non-empty value in both records (the same organization).
    ``weight`` (0-1) is how much a match counts towards the pair's score.
    """

    name: str
    entity: str
    kind: Literal["exact", "fuzzy"]
    fields: tuple[str, ...]
    threshold: float = 90.0
    weight: float = 1.0
    normalise: str = "text"
    same: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        known = EXACT_KEYS if self.kind == "exact" else FUZZY_PARTS
        if self.kind not in ("exact", "fuzzy"):
            problems.append(f"kind must be exact or fuzzy, not {self.kind!r}")
        elif self.normalise not in known:
            problems.append(f"normalise must be one of {', '.join(sorted(known))} for a {self.kind} rule")
        if not self.fields or isinstance(self.fields, str):
            problems.append("fields must be a tuple of field names")
        if not 0 < self.weight <= 1:
            problems.append("weight must be above 0 and at most 1")
        if not 0 <= self.threshold <= 100:
            problems.append("threshold must be between 0 and 100")
        if problems:
            raise ValidationFailed([FieldError(f"rule.{self.name}", "invalid", p) for p in problems])

    def check(self, kith: Kith) -> None:
        """Refuse a rule whose entity or fields do not exist (it would never match)."""
        if self.entity not in kith.entities:
            raise ValidationFailed.single(f"rule.{self.name}", "unknown", f"no entity named {self.entity!r}")
        entity = kith.entity(self.entity)
        missing = [name for name in (*self.fields, *self.same) if name not in entity.fields]
        if missing:
            raise ValidationFailed.single(
                f"rule.{self.name}", "unknown", f"{self.entity} has no field {', '.join(missing)}"
            )


DEFAULT_RULES: tuple[DuplicateRule, ...] = (
    DuplicateRule("contact.email", "contact", "exact", ("emails",), normalise="email"),
    # an office switchboard or a shared family phone is common: less than certain
    DuplicateRule("contact.phone", "contact", "exact", ("phones",), weight=0.9, normalise="phone"),
    DuplicateRule("contact.name", "contact", "fuzzy", ("first_name", "last_name"), 90, 0.8, "person_name"),
    DuplicateRule(
        "contact.name_and_organization",
        "contact",
        "fuzzy",
        ("first_name", "last_name"),
        85,
        0.95,
        "person_name",
        same=("organization",),
    ),
    DuplicateRule("organization.domain", "organization", "exact", ("domain", "website"), normalise="domain"),
    DuplicateRule("organization.name", "organization", "fuzzy", ("name",), 92, 0.85, "company_name"),
)


def rules_for(kith: Kith, entity: str, names: tuple[str, ...] = ()) -> list[DuplicateRule]:
    """The rules of ``entity``: the core's and the enabled plugins' (a plugin's rule named
    like another replaces it); only those named in ``names`` when it is given."""
    by_name = {rule.name: rule for rule in all_rules(kith)}
    rules = [rule for rule in by_name.values() if rule.entity == entity]
    if names:
        unknown = [name for name in names if name not in {rule.name for rule in rules}]
        if unknown:
            known = ", ".join(rule.name for rule in rules) or "none"
            raise ValidationFailed.single(
                "rule", "unknown", f"no duplicate rule {', '.join(unknown)} for {entity} (its rules: {known})"
            )
        rules = [rule for rule in rules if rule.name in names]
    if not rules:
        having = sorted({rule.entity for rule in by_name.values()})
        raise ValidationFailed.single(
            "entity", "unsupported", f"{entity} has no duplicate rules (rules exist for {', '.join(having)})"
        )
    for rule in rules:
        rule.check(kith)
    return rules


def all_rules(kith: Kith) -> list[DuplicateRule]:
    """Every rule: the core's, then each enabled plugin's in pluggy's order."""
    rules = list(DEFAULT_RULES)
    for _plugin, contributed in kith.plugins.call("kith_duplicate_rules"):
        rules.extend(contributed or [])
    return rules
