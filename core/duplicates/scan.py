"""Scanning an entity for duplicates, and checking one incoming record against it.

A scan reads the live records' rule fields in one statement (as the system: the queue
holds every pair; each reader later sees the pairs of records they may read), pairs them
in memory (``matching.Matcher``) and upserts the pairs into the review queue.  A full
scan (every rule, no ``limit``) also removes the open pairs it no longer finds.

``find_duplicates_of`` answers "is this record already here?" for one record on its way
in (an import row, a form): the same rules, against only the records that could share a
key or a block with it, read in the caller's scope.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.duplicates import store
from kith.core.duplicates.matching import MAX_BLOCK, MAX_GROUP, MIN_SCORE, Item, Matcher, Progress
from kith.core.duplicates.normalise import NICKNAMES
from kith.core.duplicates.rules import rules_for
from kith.core.entities import Entity, FieldKind
from kith.core.storage.dialect import escape_like

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions


@dataclass(frozen=True)
class ScanReport:
    """What a scan read, compared and found."""

    entity: str
    rules: tuple[str, ...]
    records: int
    blocks: int
    comparisons: int
    largest_block: int
    capped_blocks: int
    skipped_keys: int
    candidates: int  # pairs found by this scan
    new: int  # of which were not in the queue yet
    removed: int  # open pairs of earlier scans this one no longer found
    seconds: float


@dataclass(frozen=True)
class DuplicateMatch:
    """A record that may be the same as the one checked, how likely (0-100) and why."""

    record_id: int
    score: int
    rules: tuple[str, ...]
    #: each matching rule's strength (similarity, 0-100), as the review queue keeps it
    evidence: Mapping[str, float] = field(default_factory=dict)


async def scan(
    kith: Kith,
    entity: str,
    *,
    rules: Sequence[str] = (),
    limit: int | None = None,
    progress: Progress | None = None,
    max_block: int = MAX_BLOCK,
    max_group: int = MAX_GROUP,
) -> ScanReport:
    """Find the duplicate pairs of ``entity`` with its rules (only those named in
    ``rules``, when given) among its live records (the ``limit`` newest, when given), and
    put them in the review queue."""
    started = time.perf_counter()
    chosen = rules_for(kith, entity, tuple(rules))  # refuses an entity without rules first
    matcher = Matcher(chosen, kith.settings.default_phone_region, max_block, max_group)
    declared = kith.entity(entity)
    if progress is not None:
        progress("reading", 0, 1)
    order = f" ORDER BY t.id DESC LIMIT {int(limit)}" if limit is not None else ""
    rows = await _read(kith, declared, matcher, QueryString(kith.db.dialect.live("t") + order))
    items = [matcher.read(row) for row in rows]
    if progress is not None:
        progress("reading", 1, 1)
    pairs, stats = matcher.pairs(items, progress)
    if progress is not None:
        progress("saving", 0, 1)
    scored = {pair: (matcher.score(evidence), evidence) for pair, evidence in pairs.items()}
    found = {pair: result for pair, result in scored.items() if result[0] >= MIN_SCORE}
    new = await store.save(kith, entity, found)
    removed = 0
    if not rules and limit is None:
        removed = await store.remove_stale(kith, entity, found)
    if progress is not None:
        progress("saving", 1, 1)
    return ScanReport(
        entity=entity,
        rules=tuple(rule.name for rule in chosen),
        records=stats.records,
        blocks=stats.blocks,
        comparisons=stats.comparisons,
        largest_block=stats.largest_block,
        capped_blocks=stats.capped_blocks,
        skipped_keys=stats.skipped_keys,
        candidates=len(found),
        new=new,
        removed=removed,
        seconds=time.perf_counter() - started,
    )


async def find_duplicates_of(
    kith: Kith,
    entity: str,
    values: Mapping[str, Any],
    *,
    viewer: Permissions | None = None,
    rules: Sequence[str] = (),
) -> list[DuplicateMatch]:
    """The live records of ``entity`` that ``values`` (a record not stored yet, by field
    name) may duplicate, best first: ``(record_id, score, rules)``.  With a ``viewer``,
    only records they may read.  ``values["id"]``, when given, is left out of the answer
    (checking a stored record against the others)."""
    chosen = rules_for(kith, entity, tuple(rules))  # refuses an entity without rules first
    declared = kith.entity(entity)
    if viewer is not None:
        viewer.require(entity, "read")
        # a rule on a field hidden from the viewer would tell them what it holds
        chosen = [r for r in chosen if not any(viewer.is_hidden(declared, f) for f in (*r.fields, *r.same))]
    matcher = Matcher(chosen, kith.settings.default_phone_region)
    incoming = matcher.read({**values, "id": values.get("id") or 0})
    narrow = _could_match(kith, declared, matcher, incoming)
    if narrow is None:
        return []
    where = kith.query.where(declared, None, extra=[narrow], viewer=viewer)
    items = [matcher.read(row) for row in await _read(kith, declared, matcher, where)]
    matches = [
        DuplicateMatch(record_id, matcher.score(evidence), tuple(sorted(evidence)), dict(evidence))
        for record_id, evidence in matcher.against(incoming, items).items()
    ]
    return sorted(matches, key=lambda match: (-match.score, match.record_id))


async def _read(kith: Kith, entity: Entity, matcher: Matcher, where: QueryString) -> list[dict[str, Any]]:
    """The id and rule fields of ``entity``'s records (``t``) that ``where`` selects."""
    columns = matcher.columns()
    select = ", ".join(["t.id", *(f't."{entity.fields[name].column}" AS "{name}"' for name in columns)])
    rows = await kith.db.fetch(QueryString(f'SELECT {select} FROM "{entity.tablename}" t WHERE {{}}', where))
    lists = [name for name in columns if entity.fields[name].kind is FieldKind.STRING_LIST]
    out = []
    for row in rows:
        record = dict(row)
        for name in lists:
            if isinstance(record[name], str):
                record[name] = json.loads(record[name])
        out.append(record)
    return out


def _could_match(kith: Kith, entity: Entity, matcher: Matcher, incoming: Item) -> QueryString | None:
    """SQL for the records that could share a key or a block with ``incoming`` (a superset,
    checked in memory afterwards); None when nothing could; ``1 = 1`` when a rule cannot
    be narrowed in SQL (a single-field fuzzy rule: its blocks are words of the value)."""
    dialect = kith.db.dialect
    ors: list[QueryString] = []
    for rule in matcher.exact:
        for key in incoming.keys.get(rule.name, ()):
            pattern = "%" + escape_like(key) + "%"
            for name in rule.fields:
                column = entity.fields[name].column
                ors.append(QueryString(dialect.ilike(f'CAST(t."{column}" AS TEXT)'), pattern))
    for index, profile in enumerate(matcher.profiles):
        if index not in incoming.texts:
            continue
        pairs = zip(profile.fields, incoming.parts[index], strict=True)
        present = [(i, name, part) for i, (name, part) in enumerate(pairs) if part]
        if len(present) < 2:
            return QueryString("1 = 1")
        for position, name, part in present:
            initials = {part[0]}
            if position == 0 and profile.normalise == "person_name":
                word = part.split()[0]
                initials.update(nick[0] for nick, full in NICKNAMES.items() if full == word)
            letters = sorted({*initials, *(letter.upper() for letter in initials)})
            column = entity.fields[name].column
            ors.append(QueryString(f'substr(t."{column}", 1, 1) IN ({", ".join("{}" for _ in letters)})', *letters))
    if not ors:
        return None
    return QueryString("(" + " OR ".join("{}" for _ in ors) + ")", *ors)
