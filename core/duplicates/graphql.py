"""GraphQL for the duplicate review queue: ``duplicateCandidates`` and ``dismissDuplicate``.

Both read as the caller: a pair is listed, and can be dismissed, only when the caller may
read both of its records (``store`` applies the records' own read scope); dismissing
also needs ``update`` on the entity.  Scans run from the CLI (``kith duplicates scan``).
"""

import datetime
import enum
from typing import Optional

import strawberry
from strawberry.types import Info

from kith.core.duplicates import store
from kith.core.errors import ValidationFailed
from kith.core.graphql.common import PageInfo, UserError
from kith.core.graphql.convert import record_id


@strawberry.enum(description="Where a pair of the duplicate review queue stands.")
class DuplicateStatus(enum.Enum):
    OPEN = "open"
    DISMISSED = "dismissed"
    MERGED = "merged"


@strawberry.type(description="Two records of one entity that may be the same (the duplicate review queue).")
class DuplicateCandidate:
    id: strawberry.ID
    entity: str
    record_ids: list[strawberry.ID] = strawberry.field(description="The two records, the lower id first.")
    score: int = strawberry.field(description="How likely they are the same, 0-100.")
    rules: list[str] = strawberry.field(description="The duplicate rules the pair matched.")
    status: DuplicateStatus
    created_at: Optional[datetime.datetime]
    decided_by: Optional[str]
    decided_at: Optional[datetime.datetime]


@strawberry.type(description="A page of duplicate candidates, highest score first.")
class DuplicateCandidatePage:
    nodes: list[DuplicateCandidate]
    page_info: PageInfo


@strawberry.type
class DuplicateCandidatePayload:
    candidate: Optional[DuplicateCandidate]
    errors: list[UserError]


def _candidate(candidate: store.Candidate) -> DuplicateCandidate:
    return DuplicateCandidate(
        id=strawberry.ID(str(candidate.id)),
        entity=candidate.entity,
        record_ids=[strawberry.ID(str(i)) for i in candidate.record_ids],
        score=candidate.score,
        rules=list(candidate.rules),
        status=DuplicateStatus(candidate.status),
        created_at=candidate.created_at,
        decided_by=candidate.decided_by,
        decided_at=candidate.decided_at,
    )


@strawberry.type
class DuplicateQueries:
    @strawberry.field(
        description="Pairs of `entity` records that may be duplicates and that you may read both of, "
        "highest score first (fill the queue with `kith duplicates scan ENTITY`)."
    )
    async def duplicate_candidates(
        self,
        info: Info,
        entity: str,
        status: DuplicateStatus = DuplicateStatus.OPEN,
        first: int = 50,
        after: Optional[str] = None,
    ) -> DuplicateCandidatePage:
        context = info.context
        page = await store.list_candidates(
            context.kith, entity, viewer=context.permissions, status=status.value, first=first, after=after
        )
        return DuplicateCandidatePage(
            nodes=[_candidate(c) for c in page.candidates],
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=after is not None,
                start_cursor=None,
                end_cursor=page.end_cursor,
            ),
        )


@strawberry.type
class DuplicateMutations:
    @strawberry.mutation(description="Mark a pair as not duplicates; later scans keep it dismissed.")
    async def dismiss_duplicate(self, info: Info, id: strawberry.ID) -> DuplicateCandidatePayload:
        context = info.context
        try:
            candidate = await store.dismiss(context.kith, record_id(id), context.actor.name, viewer=context.permissions)
        except ValidationFailed as exc:
            return DuplicateCandidatePayload(candidate=None, errors=[UserError.from_error(e) for e in exc.errors])
        return DuplicateCandidatePayload(candidate=_candidate(candidate), errors=[])
