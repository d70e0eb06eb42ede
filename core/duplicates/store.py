"""The review queue: candidate pairs, kept between scans, read through the one visibility model.

A pair is stored once per entity as ``(record_a, record_b)`` with ``record_a <
record_b`` (a unique index), so a rescan updates its score and rules and never adds a
second row, and a decision (``dismissed``, later ``merged``) outlives every rescan.

Reads go through ``RecordQuery.where`` with the reader as viewer, once for each side: a
pair is listed only when both records are live and inside the reader's read scope, the
same predicate every list, count and look-up of those records uses; and a rule on a
field hidden from the reader is left out of what they see of a pair (``_as_seen``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from piccolo.columns import JSON, BigInt, Integer, Timestamptz, Varchar
from piccolo.querystring import QueryString
from piccolo.table import Table

from kith.core.errors import NotFound, ValidationFailed
from kith.core.records.encoding import dumps
from kith.core.records.query import CursorCodec

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

TABLE = "kith_duplicate_candidate"
STATUSES = ("open", "dismissed", "merged")
_COLUMNS = (
    ("entity", "VARCHAR"),
    ("record_a", "BIGINT"),
    ("record_b", "BIGINT"),
    ("score", "INTEGER"),
    ("rules", "JSON"),
    ("status", "VARCHAR"),
    ("created_at", "TIMESTAMPTZ"),
    ("updated_at", "TIMESTAMPTZ"),
)
#: a rescan refreshes what it measured and leaves the decision alone
_UPSERT = (
    " ON CONFLICT (entity, record_a, record_b) DO UPDATE SET score = excluded.score, rules = excluded.rules,"
    " updated_at = excluded.updated_at"
)


class DuplicateCandidateRow(Table, tablename=TABLE):
    """Two records of one entity that may be the same, and what was decided about them."""

    entity = Varchar(length=60)
    record_a = BigInt()  # the lower id of the pair
    record_b = BigInt()
    score = Integer(default=0)  # 0-100
    rules = JSON(default="{}")  # the rules the pair matched: name -> strength (similarity, 0-100)
    status = Varchar(length=12, default="open")  # open, dismissed, merged
    created_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)  # the last scan that found the pair
    decided_by = Varchar(length=200, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)


@dataclass(frozen=True)
class Candidate:
    """A pair in the review queue."""

    id: int
    entity: str
    record_ids: tuple[int, int]
    score: int
    rules: tuple[str, ...]
    status: str
    created_at: dt.datetime | None
    decided_by: str | None
    decided_at: dt.datetime | None
    #: each matched rule's strength, for scoring the pair again without some of them
    evidence: Mapping[str, float] = field(default_factory=dict, repr=False)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Candidate:
        evidence = row["rules"]
        evidence = json.loads(evidence) if isinstance(evidence, str) else evidence or {}
        return cls(
            id=int(row["id"]),
            entity=str(row["entity"]),
            record_ids=(int(row["record_a"]), int(row["record_b"])),
            score=int(row["score"]),
            rules=tuple(sorted(evidence)),
            status=str(row["status"]),
            created_at=row["created_at"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            evidence=evidence,
        )


@dataclass(frozen=True)
class CandidatePage:
    candidates: list[Candidate]
    has_next_page: bool
    end_cursor: str | None


async def save(kith: Kith, entity: str, found: Mapping[tuple[int, int], tuple[int, Mapping[str, float]]]) -> int:
    """Upsert the pairs a scan found (pair -> score, strength by rule); returns how many were new."""
    if not found:
        return 0
    now = dt.datetime.now(dt.UTC)
    before = await kith.db.fetch_value(QueryString(f"SELECT COUNT(*) AS n FROM {TABLE} WHERE entity = {{}}", entity))
    rows = [
        (
            entity,
            a,
            b,
            score,
            dumps({name: round(value, 1) for name, value in sorted(evidence.items())}),
            "open",
            now,
            now,
        )
        for (a, b), (score, evidence) in sorted(found.items())
    ]
    async with kith.db.write_transaction():
        await kith.db.insert_rows(TABLE, _COLUMNS, rows, _UPSERT)
    after = await kith.db.fetch_value(QueryString(f"SELECT COUNT(*) AS n FROM {TABLE} WHERE entity = {{}}", entity))
    return int(after) - int(before)


async def remove_stale(kith: Kith, entity: str, found: Mapping[tuple[int, int], Any]) -> int:
    """Remove the open pairs of ``entity`` a full scan no longer finds (their records
    changed); decided pairs stay.  Returns how many were removed."""
    rows = await kith.db.fetch(
        QueryString(f"SELECT id, record_a, record_b FROM {TABLE} WHERE entity = {{}} AND status = 'open'", entity)
    )
    stale = [int(row["id"]) for row in rows if (int(row["record_a"]), int(row["record_b"])) not in found]
    for start in range(0, len(stale), 10_000):
        chunk = stale[start : start + 10_000]
        await kith.db.fetch(QueryString(f"DELETE FROM {TABLE} WHERE {{}}", kith.db.dialect.in_ids("id", chunk)))
    return len(stale)


def _both_visible(kith: Kith, entity: str, viewer: Permissions | None) -> QueryString:
    """Both records of the pair (``c``) are live and readable by ``viewer`` (None: the system)."""
    declared = kith.entity(entity)
    readable = kith.query.where(declared, None, viewer=viewer)
    table = declared.tablename
    side = f'SELECT t.id FROM "{table}" t WHERE {{}}'
    return QueryString(f"c.record_a IN ({side}) AND c.record_b IN ({side})", readable, readable)


def _as_seen(kith: Kith, entity: str, viewer: Permissions | None, candidates: list[Candidate]) -> list[Candidate]:
    """The pairs as ``viewer`` may see them: a rule that reads a field hidden from them
    (a phone) is left out of the pair's rules and score, and a pair found only by such
    rules is left out, so the queue never says what a hidden field holds."""
    if viewer is None or not candidates:
        return candidates
    from kith.core.duplicates.matching import Matcher
    from kith.core.duplicates.rules import all_rules

    declared = kith.entity(entity)
    rules = [rule for rule in all_rules(kith) if rule.entity == entity]
    hidden = {rule.name for rule in rules if any(viewer.is_hidden(declared, f) for f in (*rule.fields, *rule.same))}
    if not hidden:
        return candidates
    matcher = Matcher(rules)
    out = []
    for candidate in candidates:
        shown = {name: value for name, value in candidate.evidence.items() if name not in hidden}
        if shown:
            out.append(replace(candidate, rules=tuple(sorted(shown)), score=matcher.score(shown), evidence=shown))
    return out


def check_entity(kith: Kith, entity: str, viewer: Permissions | None) -> None:
    """Refuse an unknown entity, or one the viewer may not read (the queue and the merge
    journal both list records of one entity)."""
    kith.entities.named(entity)
    if viewer is not None:
        viewer.require(entity, "read")


async def list_candidates(
    kith: Kith,
    entity: str,
    *,
    viewer: Permissions | None = None,
    status: str = "open",
    first: int = 50,
    after: str | None = None,
) -> CandidatePage:
    """The pairs of ``entity`` with ``status`` that ``viewer`` may see (both records
    readable), highest score first; ``after`` is the ``end_cursor`` of the page before."""
    check_entity(kith, entity, viewer)
    if status not in STATUSES:
        raise ValidationFailed.single("status", "invalid", f"status must be one of {', '.join(STATUSES)}")
    first = max(0, min(first, kith.settings.max_page_size))
    identity = viewer.cursor_identity if viewer is not None else "system"
    codec = CursorCodec(lambda: kith.secret, f"duplicates:{entity}:{status}:{identity}")
    parts = [QueryString("c.entity = {} AND c.status = {}", entity, status), _both_visible(kith, entity, viewer)]
    if after:
        score, last_id = codec.decode(after)
        parts.append(
            QueryString("(c.score < {} OR (c.score = {} AND c.id > {}))", int(score), int(score), int(last_id))
        )
    where = QueryString(" AND ".join("{}" for _ in parts), *parts)
    rows = await kith.db.fetch(
        QueryString(f"SELECT c.* FROM {TABLE} c WHERE {{}} ORDER BY c.score DESC, c.id LIMIT {first + 1}", where)
    )
    candidates = [Candidate.from_row(row) for row in rows[:first]]
    end = codec.encode([candidates[-1].score, candidates[-1].id]) if candidates else None
    return CandidatePage(_as_seen(kith, entity, viewer, candidates), len(rows) > first, end)


async def get_candidate(kith: Kith, candidate_id: int, *, viewer: Permissions | None = None) -> Candidate:
    """One pair, if ``viewer`` may read both its records (else not found, like a record)."""
    row = await kith.db.fetch_one(QueryString(f"SELECT c.entity FROM {TABLE} c WHERE c.id = {{}}", candidate_id))
    if row is None or str(row["entity"]) not in kith.entities:
        raise NotFound("duplicate candidate", candidate_id)
    entity = str(row["entity"])
    if viewer is not None and not viewer.allows(entity, "read"):
        raise NotFound("duplicate candidate", candidate_id)
    found = await kith.db.fetch_one(
        QueryString(
            f"SELECT c.* FROM {TABLE} c WHERE c.id = {{}} AND {{}}", candidate_id, _both_visible(kith, entity, viewer)
        )
    )
    seen = _as_seen(kith, entity, viewer, [Candidate.from_row(found)]) if found is not None else []
    if not seen:
        raise NotFound("duplicate candidate", candidate_id)
    return seen[0]


async def decide(
    kith: Kith, candidate_id: int, status: str, decided_by: str, *, viewer: Permissions | None = None
) -> Candidate:
    """Record a decision about a pair the decider can see and may update the records of."""
    if status not in STATUSES:
        raise ValidationFailed.single("status", "invalid", f"status must be one of {', '.join(STATUSES)}")
    candidate = await get_candidate(kith, candidate_id, viewer=viewer)
    if viewer is not None:
        viewer.require(candidate.entity, "update")
    await kith.db.fetch(
        QueryString(
            f"UPDATE {TABLE} SET status = {{}}, decided_by = {{}}, decided_at = {{}} WHERE id = {{}}",
            status,
            decided_by,
            dt.datetime.now(dt.UTC),
            candidate_id,
        )
    )
    return await get_candidate(kith, candidate_id, viewer=viewer)


async def dismiss(kith: Kith, candidate_id: int, decided_by: str, *, viewer: Permissions | None = None) -> Candidate:
    """Mark a pair as not duplicates: later scans keep it dismissed."""
    return await decide(kith, candidate_id, "dismissed", decided_by, viewer=viewer)
