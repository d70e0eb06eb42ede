"""Duplicate detection: rules per entity, scans that fill a review queue, and a check for
one incoming record (docs/duplicates.md).

Exact rules join normalised keys (email, E.164 phone, domain); fuzzy rules compare names
with rapidfuzz, only inside blocks of records that share a phonetic or prefix key, so a
scan of 100,000 contacts makes a few million comparisons instead of five billion.
"""

from kith.core.duplicates.matching import Matcher, Stats
from kith.core.duplicates.rules import DEFAULT_RULES, DuplicateRule, all_rules, rules_for
from kith.core.duplicates.scan import DuplicateMatch, ScanReport, find_duplicates_of, scan
from kith.core.duplicates.store import Candidate, CandidatePage, decide, dismiss, get_candidate, list_candidates

__all__ = [
    "DEFAULT_RULES",
    "Candidate",
    "CandidatePage",
    "DuplicateMatch",
    "DuplicateRule",
    "Matcher",
    "ScanReport",
    "Stats",
    "all_rules",
    "decide",
    "dismiss",
    "find_duplicates_of",
    "get_candidate",
    "list_candidates",
    "rules_for",
    "scan",
]
