"""Finding pairs in memory: exact keys joined, fuzzy texts compared inside blocks only.

Records are read once into ``Item``s (their keys, texts and blocking keys), then:

* an exact rule pairs the records that share a key; a key shared by more than
  ``max_group`` records (``info@``, a switchboard) says nothing about any two of them and
  is skipped (counted in ``Stats.skipped_keys``);
* a fuzzy rule compares records only inside a block (``normalise.block_keys``), with
  ``rapidfuzz.process.extract`` walking each record's block in C.  A block larger than
  ``max_block`` (a very common name) is sorted by its texts and compared in overlapping
  windows of ``max_block``: similar texts sort near each other, and the cost stays linear
  in the block's size instead of quadratic.

Rules that read the same fields the same way (``contact.name`` and
``contact.name_and_organization``) share one comparison, at the lower threshold.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from kith.core.duplicates.normalise import EXACT_KEYS, FUZZY_PARTS, block_keys, compared_text
from kith.core.duplicates.rules import DuplicateRule

#: (phase, done, total): what a scan reports as it goes
Progress = Callable[[str, int, int], None]
Pair = tuple[int, int]

MAX_BLOCK = 500
MAX_GROUP = 25
#: each part of a multi-part name (first, last) must be at least this similar on its own:
#: "mary jones" and "mark jones" are 90 similar as wholes, but Mary is not Mark
PART_FLOOR = 80
#: a name shared by more records than this counts for less (below)
COMMON_NAME = 2
#: pairs scoring less are not worth a reviewer's time and are not queued
MIN_SCORE = 60


@dataclass
class Stats:
    """What a pass cost: how many blocks and comparisons, what was capped or skipped."""

    records: int = 0
    blocks: int = 0
    comparisons: int = 0
    largest_block: int = 0
    capped_blocks: int = 0
    skipped_keys: int = 0


@dataclass
class Item:
    """One record as the rules read it."""

    id: int
    keys: dict[str, set[str]] = field(default_factory=dict)  # exact rule -> its keys
    parts: dict[int, list[str]] = field(default_factory=dict)  # fuzzy profile -> its parts, normalised
    texts: dict[int, str] = field(default_factory=dict)  # fuzzy profile -> the text compared
    blocks: dict[int, set[str]] = field(default_factory=dict)  # fuzzy profile -> blocking keys
    same: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Profile:
    """Fuzzy rules that read the same fields the same way, compared once."""

    fields: tuple[str, ...]
    normalise: str
    rules: tuple[DuplicateRule, ...]

    @property
    def cutoff(self) -> float:
        return min(rule.threshold for rule in self.rules)


class Matcher:
    """The rules of one entity, applied to records in memory."""

    def __init__(
        self, rules: Iterable[DuplicateRule], region: str = "US", max_block: int = MAX_BLOCK, max_group: int = MAX_GROUP
    ) -> None:
        self.rules = list(rules)
        self.region = region
        self.max_block = max(2, max_block)
        self.max_group = max(2, max_group)
        self.exact = [rule for rule in self.rules if rule.kind == "exact"]
        grouped: dict[tuple[tuple[str, ...], str], list[DuplicateRule]] = defaultdict(list)
        for rule in self.rules:
            if rule.kind == "fuzzy":
                grouped[(rule.fields, rule.normalise)].append(rule)
        self.profiles = [_Profile(fields, how, tuple(group)) for (fields, how), group in grouped.items()]
        self.weights = {rule.name: rule.weight for rule in self.rules}

    def columns(self) -> list[str]:
        """The fields the rules read, in a stable order."""
        names = [name for rule in self.rules for name in (*rule.fields, *rule.same)]
        return list(dict.fromkeys(names))

    def read(self, record: Mapping[str, Any]) -> Item:
        item = Item(int(record.get("id") or 0))
        for rule in self.exact:
            to_key = EXACT_KEYS[rule.normalise]
            values = [value for name in rule.fields for value in _values(record.get(name))]
            keys = {key for value in values if (key := to_key(value, self.region))}
            if keys:
                item.keys[rule.name] = keys
        for index, profile in enumerate(self.profiles):
            parts = FUZZY_PARTS[profile.normalise]([record.get(name) for name in profile.fields])
            text = compared_text(parts)
            if text:
                item.parts[index] = parts
                item.texts[index] = text
                item.blocks[index] = block_keys(parts)
        for rule in self.rules:
            for name in rule.same:
                item.same[name] = record.get(name)
        return item

    # -- a whole table -----------------------------------------------------------------

    def pairs(self, items: list[Item], progress: Progress | None = None) -> tuple[dict[Pair, dict[str, float]], Stats]:
        """Every pair of ``items`` some rule matches, with each matching rule's strength:
        its similarity, less for a common name.

        How common a name is, is read from the records themselves: when ``n`` records
        share a pair's name (eight Michael Smiths), the name counts ``COMMON_NAME / n`` of
        its similarity, so it needs another piece of evidence (an email, a phone) to reach
        the queue, while a name only two records share counts in full."""
        stats = Stats(records=len(items))
        found: dict[Pair, dict[str, float]] = defaultdict(dict)
        for rule in self.exact:
            groups: dict[str, list[int]] = defaultdict(list)
            for position, item in enumerate(items):
                for key in item.keys.get(rule.name, ()):
                    groups[key].append(position)
            for members in groups.values():
                if len(members) > self.max_group:
                    stats.skipped_keys += 1
                    continue
                for i, first in enumerate(members):
                    for second in members[i + 1 :]:
                        stats.comparisons += 1
                        found[_pair(items[first].id, items[second].id)][rule.name] = 100.0
        for index, profile in enumerate(self.profiles):
            blocks: dict[str, list[int]] = defaultdict(list)
            for position, item in enumerate(items):
                for key in item.blocks.get(index, ()):
                    blocks[key].append(position)
            multi = [members for members in blocks.values() if len(members) > 1]
            stats.blocks += len(multi)
            shared = Counter(item.texts[index] for item in items if index in item.texts)
            for done, members in enumerate(multi, 1):
                self._compare_block(index, profile, [items[m] for m in members], shared, found, stats)
                if progress is not None and (done % 500 == 0 or done == len(multi)):
                    progress("comparing", done, len(multi))
        return {pair: evidence for pair, evidence in found.items() if evidence}, stats

    def _compare_block(
        self,
        index: int,
        profile: _Profile,
        members: list[Item],
        shared: Counter[str],
        found: dict[Pair, dict[str, float]],
        stats: Stats,
    ) -> None:
        stats.largest_block = max(stats.largest_block, len(members))
        windows = [members]
        if len(members) > self.max_block:
            stats.capped_blocks += 1
            members = sorted(members, key=lambda item: item.texts[index])
            step = self.max_block // 2
            windows = [members[start : start + self.max_block] for start in range(0, len(members) - step, step)]
        for window in windows:
            texts = [item.texts[index] for item in window]
            for i in range(len(window) - 1):
                rest = texts[i + 1 :]
                stats.comparisons += len(rest)
                hits = process.extract(
                    texts[i], rest, scorer=fuzz.token_sort_ratio, score_cutoff=profile.cutoff, limit=None
                )
                for text, similarity, j in hits:
                    first, second = window[i], window[i + 1 + j]
                    if not _parts_agree(first.parts[index], second.parts[index]):
                        continue
                    common = max(shared[texts[i]], shared[text])
                    strength = similarity * min(1.0, COMMON_NAME / common)
                    self._note(profile, first, second, similarity, strength, found[_pair(first.id, second.id)])

    @staticmethod
    def _note(
        profile: _Profile, first: Item, second: Item, similarity: float, strength: float, evidence: dict[str, float]
    ) -> None:
        """Add what the rules of ``profile`` make of one comparison to a pair's evidence."""
        for rule in profile.rules:
            if similarity < rule.threshold or not all(_same(first, second, name) for name in rule.same):
                continue
            evidence[rule.name] = max(evidence.get(rule.name, 0.0), float(strength))

    # -- one incoming record -------------------------------------------------------------

    def against(self, incoming: Item, items: Iterable[Item]) -> dict[int, dict[str, float]]:
        """The records of ``items`` some rule pairs with ``incoming``, and how."""
        found: dict[int, dict[str, float]] = defaultdict(dict)
        for item in items:
            if item.id == incoming.id:
                continue
            for rule in self.exact:
                if incoming.keys.get(rule.name, set()) & item.keys.get(rule.name, set()):
                    found[item.id][rule.name] = 100.0
            for index, profile in enumerate(self.profiles):
                if not incoming.blocks.get(index, set()) & item.blocks.get(index, set()):
                    continue
                texts = incoming.texts[index], item.texts[index]
                similarity = fuzz.token_sort_ratio(*texts, score_cutoff=profile.cutoff)
                if similarity and _parts_agree(incoming.parts[index], item.parts[index]):
                    self._note(profile, incoming, item, similarity, similarity, found[item.id])
        return {record_id: evidence for record_id, evidence in found.items() if evidence}

    def score(self, evidence: Mapping[str, float]) -> int:
        """The pair's score, 0-100: each rule's similarity times weight, as independent evidence."""
        missing = 1.0
        for name, similarity in evidence.items():
            missing *= 1.0 - similarity / 100.0 * self.weights.get(name, 1.0)
        return round((1.0 - missing) * 100)


def _pair(first: int, second: int) -> Pair:
    return (first, second) if first < second else (second, first)


def _parts_agree(first: list[str], second: list[str]) -> bool:
    """Each part present in both is at least ``PART_FLOOR`` similar to its counterpart,
    in order or (two parts) swapped: *Smith John* is *John Smith*."""
    if len(first) < 2:
        return True
    orders = [second, second[::-1]] if len(second) == 2 else [second]
    for other in orders:
        if all(fuzz.ratio(a, b) >= PART_FLOOR for a, b in zip(first, other, strict=True) if a and b):
            return True
    return False


def _same(first: Item, second: Item, name: str) -> bool:
    value = first.same.get(name)
    return value not in (None, "") and value == second.same.get(name)


def _values(value: Any) -> list[Any]:
    """A field's values: a list field's items, or the value."""
    if isinstance(value, list):
        return value
    return [] if value is None else [value]
