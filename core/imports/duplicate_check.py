"""Rows checked against duplicates on the way in: the entity's duplicate rules (exact on
normalised e-mails, phones and domains, fuzzy on names) between each row about to be
created and the records the importer may read, and between the rows of one pass.

A person chooses what a likely duplicate does: ``skip`` leaves the row out (reported
with the record it looks like, and why), ``flag`` creates it and puts the pair in the
duplicate review queue, where it is merged or dismissed like any other pair.  Exact keys
(``--key``) are checked either way; this is the check for what a key cannot see (the
same person spelt twice, a second e-mail address).

Each row costs one look-up narrowed by the rules' blocking keys, so a checked import is
slower than an unchecked one; it is a choice, not the default.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kith.core.duplicates import store
from kith.core.duplicates.matching import MAX_BLOCK, Item, Matcher
from kith.core.duplicates.rules import rules_for
from kith.core.duplicates.scan import find_duplicates_of
from kith.core.errors import FieldError, ValidationFailed

if TYPE_CHECKING:
    from kith.core.entities.declaration import Entity
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

CHOICES = ("off", "skip", "flag")
#: the score (0-100) from which a row counts as a likely duplicate: an exact rule of full
#: weight alone, a name at least 94% alike (a typo; names score at most 80 alone, being
#: common), or a looser name with another piece of evidence (the same organization)
LIKELY = 75


@dataclass(frozen=True)
class Likely:
    """A stored record (``record_id``) or an earlier row of the same pass (``line``) that a
    row may duplicate."""

    score: int
    rules: Mapping[str, float]
    record_id: int | None = None
    line: int | None = None

    def describe(self, entity: str) -> str:
        what = f"{entity} {self.record_id}" if self.record_id is not None else f"line {self.line}"
        return f"may be the same as {what} ({', '.join(sorted(self.rules))}; score {self.score})"


def check_choice(kith: Kith, entity: str, choice: str) -> None:
    """Refuse an unknown choice, or a check on an entity without duplicate rules."""
    if choice not in CHOICES:
        raise ValidationFailed.single("duplicates", "invalid", f"must be one of: {', '.join(CHOICES)}")
    if choice != "off":
        try:
            rules_for(kith, entity)
        except ValidationFailed as exc:
            raise ValidationFailed([FieldError("duplicates", e.code, e.message) for e in exc.errors]) from None


class _Seen:
    """Rows checked so far, indexed by their exact keys and blocking keys, so a row is
    compared only with the earlier rows it shares a key with (as a scan compares only
    within blocks), never with all of them.  A key shared by more than ``MAX_BLOCK``
    rows (a very common name) stops growing: its rows are already findable by others."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, object, str], list[Item]] = defaultdict(list)

    @staticmethod
    def _keys(item: Item) -> list[tuple[str, object, str]]:
        exact = [("x", rule, key) for rule, keys in item.keys.items() for key in keys]
        return exact + [("b", index, key) for index, keys in item.blocks.items() for key in keys]

    def add(self, item: Item) -> None:
        for key in self._keys(item):
            bucket = self.by_key[key]
            if len(bucket) < MAX_BLOCK:
                bucket.append(item)

    def near(self, item: Item) -> list[Item]:
        found: dict[int, Item] = {}
        for key in self._keys(item):
            for other in self.by_key.get(key, ()):
                found.setdefault(other.id, other)
        return list(found.values())


class DuplicateCheck:
    """One import's check: the rules it reads with and who is importing.

    Rows are compared with the stored records (one narrowed query each) and with the
    rows checked before them in the same pass.  A real run's earlier passes are stored;
    a dry run undoes each chunk, so it remembers the rows it "created" (their keys, not
    the rows) to find in later chunks what the real run will find there."""

    def __init__(self, kith: Kith, entity: Entity, viewer: Permissions | None, *, dry_run: bool = False) -> None:
        self.kith = kith
        self.entity = entity
        self.viewer = viewer
        self.dry_run = dry_run
        rules = rules_for(kith, entity.name)
        if viewer is not None:  # a rule on a field hidden from the importer would tell what it holds
            rules = [r for r in rules if not any(viewer.is_hidden(entity, f) for f in (*r.fields, *r.same))]
        self.matcher = Matcher(rules, kith.settings.default_phone_region)
        self.seen = _Seen()

    async def likely(self, rows: Sequence[tuple[int, Mapping[str, Any]]]) -> dict[int, Likely]:
        """The best likely duplicate of each row (by line) that has one: a stored record
        the importer may read, else an earlier row."""
        out: dict[int, Likely] = {}
        earlier = _Seen()
        for line, values in rows:
            stored = await find_duplicates_of(self.kith, self.entity.name, values, viewer=self.viewer)
            best = next((m for m in stored if m.score >= LIKELY), None)
            item = self._item(line, values)
            if best is not None:
                out[line] = Likely(best.score, best.evidence, record_id=best.record_id)
            else:
                near = {other.id: other for other in [*earlier.near(item), *self.seen.near(item)]}
                found = self.matcher.against(item, near.values())
                scored = sorted(((self.matcher.score(ev), -key, ev) for key, ev in found.items()), reverse=True)
                if scored and scored[0][0] >= LIKELY:
                    score, line_of, evidence = scored[0]
                    out[line] = Likely(score, evidence, line=line_of)
            earlier.add(item)
        return out

    def remember(self, rows: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """A dry run's created rows (by line), which its undone chunks no longer hold:
        later chunks are checked against them, as the real run checks the stored ones."""
        if self.dry_run:
            for line, values in rows:
                self.seen.add(self._item(line, values))

    def _item(self, line: int, values: Mapping[str, Any]) -> Item:
        return self.matcher.read({**values, "id": -line})  # rows have no id yet: their line stands in

    async def flag(self, pairs: Sequence[tuple[int, int, Likely]]) -> None:
        """Put created rows and what they look like in the review queue."""
        found = {(min(a, b), max(a, b)): (likely.score, likely.rules) for a, b, likely in pairs if a != b}
        await store.save(self.kith, self.entity.name, found)
