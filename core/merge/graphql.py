"""GraphQL for merges: ``mergeRecords``, ``undoMerge``, and ``merges`` / ``merge`` to read
the journal.

Everything runs as the caller: merging needs ``update`` on the survivor and ``delete``
on the others, undoing ``update`` and ``restore``; a merge is listed (and can be undone)
only when the caller may read its survivor, and shows no field hidden from them.
Refusals come back in ``errors`` (``field``, ``code``, ``message``), as for every
mutation.
"""

import datetime
import enum
from typing import Optional

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from kith.core import merge as merging
from kith.core.errors import ValidationFailed
from kith.core.graphql.common import PageInfo, UserError
from kith.core.graphql.convert import record_id


@strawberry.enum(description="A survivorship rule: which merged record's value a field of the survivor keeps.")
class MergeRule(enum.Enum):
    MOST_RECENT = "most_recent"
    MOST_COMPLETE = "most_complete"
    PRIMARY = "primary"
    TRUSTED_SOURCE = "trusted_source"
    ONLY_IF_EMPTY = "only_if_empty"
    UNION = "union"


@strawberry.input(description="The rule of one field (`firstName`, `customFields.tier`).")
class MergeFieldRuleInput:
    field: str
    rule: MergeRule


@strawberry.input(description="How a merge decides each field of the survivor.")
class MergeRulesInput:
    default: MergeRule = strawberry.field(
        default=MergeRule.ONLY_IF_EMPTY, description="The rule of every field not named in `fields` (lists: union)."
    )
    fields: list[MergeFieldRuleInput] = strawberry.field(default_factory=list)
    trusted_sources: list[str] = strawberry.field(
        default_factory=list,
        description="For TRUSTED_SOURCE: audit sources (`import`, `graphql`, `api`, …), most trusted first.",
    )


@strawberry.type(description="What a merge decided for one field the merged records disagreed on.")
class MergeFieldChoice:
    field: str
    rule: MergeRule
    from_id: Optional[strawberry.ID] = strawberry.field(description="The record the value came from (null: union).")
    before: Optional[JSON] = strawberry.field(description="The survivor's value before the merge.")
    value: Optional[JSON] = strawberry.field(description="The survivor's value after the merge.")


@strawberry.type(description="A change undo kept because the record changed since the merge.")
class MergeConflict:
    entity: str
    record_id: strawberry.ID
    field: str
    value_at_merge: Optional[JSON]
    current_value: Optional[JSON] = strawberry.field(description="The value the record holds now, and keeps.")
    reason: str = strawberry.field(description="`changed`, or `deleted` (the record was deleted since).")


@strawberry.type(description="Records merged into a survivor (docs/merge.md).")
class Merge:
    id: strawberry.ID
    entity: str
    survivor_id: strawberry.ID
    merged_ids: list[strawberry.ID]
    rules: JSON = strawberry.field(description="The rules asked for: default, fields, trustedSources.")
    choices: list[MergeFieldChoice]
    actor: str
    created_at: Optional[datetime.datetime]
    undone_at: Optional[datetime.datetime]
    undone_by: Optional[str]
    conflicts: list[MergeConflict] = strawberry.field(description="What the undo kept (empty until undone).")


@strawberry.type(description="A page of merges, newest first.")
class MergePage:
    nodes: list[Merge]
    page_info: PageInfo


@strawberry.type
class MergePayload:
    merge: Optional[Merge]
    errors: list[UserError]


@strawberry.type
class UndoMergePayload:
    merge: Optional[Merge]
    conflicts: list[MergeConflict]
    errors: list[UserError]


def _conflict(conflict: merging.Conflict) -> MergeConflict:
    return MergeConflict(
        entity=conflict.entity,
        record_id=strawberry.ID(str(conflict.record_id)),
        field=conflict.field,
        value_at_merge=conflict.value_at_merge,
        current_value=conflict.current_value,
        reason=conflict.reason,
    )


def _merge(merge: merging.Merge) -> Merge:
    return Merge(
        id=strawberry.ID(str(merge.id)),
        entity=merge.entity,
        survivor_id=strawberry.ID(str(merge.survivor_id)),
        merged_ids=[strawberry.ID(str(i)) for i in merge.merged_ids],
        rules=JSON(dict(merge.rules)),
        choices=[
            MergeFieldChoice(
                field=c.field,
                rule=MergeRule(c.rule),
                from_id=None if c.from_id is None else strawberry.ID(str(c.from_id)),
                before=c.before,
                value=c.value,
            )
            for c in merge.choices
        ],
        actor=merge.actor,
        created_at=merge.created_at,
        undone_at=merge.undone_at,
        undone_by=merge.undone_by,
        conflicts=[_conflict(c) for c in merge.conflicts],
    )


def _rules(given: Optional[MergeRulesInput]) -> merging.MergeRules:
    if given is None:
        return merging.MergeRules()
    return merging.MergeRules(
        default=given.default.value,
        fields={item.field: item.rule.value for item in given.fields},
        trusted_sources=tuple(given.trusted_sources),
    )


def _ids(values: list[strawberry.ID]) -> list[int]:
    try:
        return [int(value) for value in values]
    except (TypeError, ValueError):
        raise ValidationFailed.single("ids", "invalid", "every id must be a record id") from None


@strawberry.type
class MergeQueries:
    @strawberry.field(
        description="Merges of `entity` whose survivor you may read, newest first; with `recordId`, "
        "those the record took part in (as the survivor or merged into it)."
    )
    async def merges(
        self,
        info: Info,
        entity: str,
        record_id: Optional[strawberry.ID] = None,
        first: int = 50,
        after: Optional[str] = None,
    ) -> MergePage:
        context = info.context
        page = await merging.list_merges(
            context.kith,
            entity,
            viewer=context.permissions,
            record_id=None if record_id is None else record_id_of(record_id),
            first=first,
            after=after,
        )
        return MergePage(
            nodes=[_merge(m) for m in page.merges],
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=after is not None,
                start_cursor=None,
                end_cursor=page.end_cursor,
            ),
        )

    @strawberry.field(description="One merge, if you may read its survivor.")
    async def merge(self, info: Info, id: strawberry.ID) -> Optional[Merge]:
        context = info.context
        try:
            found = await merging.get_merge(context.kith, record_id(id), viewer=context.permissions)
        except ValidationFailed:
            return None
        return _merge(found)


def record_id_of(value: strawberry.ID) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed.single("recordId", "invalid", f"{value!r} is not a record id") from None


@strawberry.type
class MergeMutations:
    @strawberry.mutation(
        description="Merge the records `ids` of `entity` into `survivorId`, each field by its rule; what "
        "pointed at them points at the survivor, and they are deleted. Undo with `undoMerge`."
    )
    async def merge_records(
        self,
        info: Info,
        entity: str,
        survivor_id: strawberry.ID,
        ids: list[strawberry.ID],
        rules: Optional[MergeRulesInput] = None,
    ) -> MergePayload:
        context = info.context
        try:
            survivor = record_id(survivor_id)
            done = await merging.merge_records(context.kith, entity, survivor, _ids(ids), _rules(rules), context.actor)
            seen = await merging.get_merge(context.kith, done.id, viewer=context.permissions)
        except ValidationFailed as exc:
            return MergePayload(merge=None, errors=[UserError.from_error(e) for e in exc.errors])
        return MergePayload(merge=_merge(seen), errors=[])

    @strawberry.mutation(
        description="Undo a merge, once: the merged records come back and what moved moves back; "
        "fields changed since the merge keep their value and are returned as conflicts."
    )
    async def undo_merge(self, info: Info, id: strawberry.ID) -> UndoMergePayload:
        context = info.context
        try:
            done = await merging.undo_merge(context.kith, record_id(id), context.actor)
            seen = await merging.get_merge(context.kith, done.id, viewer=context.permissions)
        except ValidationFailed as exc:
            return UndoMergePayload(merge=None, conflicts=[], errors=[UserError.from_error(e) for e in exc.errors])
        merge = _merge(seen)
        return UndoMergePayload(merge=merge, conflicts=merge.conflicts, errors=[])
