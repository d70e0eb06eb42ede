"""Reading and checking a segment's definition: the filter it is, and the other
segments it names (``segmentMemberships: {some: {segmentId: {eq: 3}}}``), which must
be brought up to date first and may not lead back to it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from kith.sdk import FieldError, ValidationFailed, uses_relative_time

__all__ = ["MEMBERSHIPS", "ordered", "parse", "referenced", "uses_relative_time"]

#: the contact's reverse list of its memberships, as the filter language names it
MEMBERSHIPS = "segmentMemberships"


def parse(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def referenced(definition: Any) -> set[int]:
    """The ids of the segments a definition reads the membership of."""
    found: set[int] = set()
    if isinstance(definition, Mapping):
        for key, value in definition.items():
            if key == MEMBERSHIPS and isinstance(value, Mapping):
                for quantified in value.values():
                    found |= _segment_ids(quantified)
            else:
                found |= referenced(value)
    elif isinstance(definition, list):
        for item in definition:
            found |= referenced(item)
    return found


def _segment_ids(node: Any) -> set[int]:
    ids: set[int] = set()
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "segmentId" and isinstance(value, Mapping):
                for op in ("eq", "in"):
                    raw = value.get(op)
                    for item in raw if isinstance(raw, list) else [raw]:
                        if item is not None and str(item).isdigit():
                            ids.add(int(item))
            else:
                ids |= _segment_ids(value)
    elif isinstance(node, list):
        for item in node:
            ids |= _segment_ids(item)
    return ids


def ordered(segments: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Segments in an order where each comes after the segments it reads; a cycle is
    refused naming the segments in it."""
    by_id = {int(s["id"]): s for s in segments}
    done: list[dict[str, Any]] = []
    state: dict[int, str] = {}

    def visit(segment_id: int, trail: list[int]) -> None:
        if state.get(segment_id) == "done" or segment_id not in by_id:
            return
        if state.get(segment_id) == "visiting":
            names = " → ".join(str(by_id[i]["name"]) for i in [*trail[trail.index(segment_id) :], segment_id])
            raise ValidationFailed([FieldError("definition", "invalid", f"segments refer to each other: {names}")])
        state[segment_id] = "visiting"
        for other in sorted(referenced(parse(by_id[segment_id].get("definition")))):
            visit(other, [*trail, segment_id])
        state[segment_id] = "done"
        done.append(by_id[segment_id])

    for segment_id in sorted(by_id):
        visit(segment_id, [])
    return done
