"""Merging duplicate records into a survivor, field by field, and undoing a merge
(docs/merge.md).

``merge_records`` decides each field of the survivor by a survivorship rule, moves
everything that points at the merged-away records (relations of every entity, the
timeline, consents, queued duplicate pairs) to the survivor through the one write path,
soft-deletes the others and journals every change; ``undo_merge`` reverts it from the
journal, keeping what changed since and reporting it as conflicts.
"""

from kith.core.merge.fields import FieldChoice
from kith.core.merge.listing import MergePage, get_merge, list_merges
from kith.core.merge.merge_records import MAX_RECORDS, merge_records
from kith.core.merge.model import Conflict, Merge
from kith.core.merge.rules import DEFAULT_RULE, RULES, MergeRules
from kith.core.merge.undo import undo_merge

__all__ = [
    "DEFAULT_RULE",
    "MAX_RECORDS",
    "RULES",
    "Conflict",
    "FieldChoice",
    "Merge",
    "MergePage",
    "MergeRules",
    "get_merge",
    "list_merges",
    "merge_records",
    "undo_merge",
]
