"""A cost limit on GraphQL operations, in addition to depth, token and alias limits.

Each field costs 1; a field with ``first`` multiplies what is under it by how many
items it may return (a variable counts as the page-size cap; a timeline or a reverse
list without ``first`` counts its default of 20).  A query for 100
contacts each with 50 activities costs about 5,000; the default limit refuses the
deeply nested fan-outs that would make the database return millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)


def cost_rule(
    limit: int, page_cap: int, default_page: int = 20, paged_by_default: Iterable[str] = ("timeline",)
) -> type[ValidationRule]:
    """A validation rule class (built once per schema) refusing operations above ``limit``;
    ``paged_by_default`` names the list fields that return ``default_page`` items when
    not given ``first``."""
    paged = frozenset(paged_by_default)

    class QueryCostLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            fragments = {d.name.value: d for d in context.document.definitions if isinstance(d, FragmentDefinitionNode)}
            for definition in context.document.definitions:
                if isinstance(definition, OperationDefinitionNode):
                    cost = _cost(definition.selection_set, fragments, page_cap, default_page, paged, set())
                    if cost > limit:
                        context.report_error(
                            GraphQLError(
                                f"query cost {cost} exceeds the limit of {limit}; ask for fewer items "
                                "or fewer nested lists",
                                definition,
                            )
                        )

    return QueryCostLimit


def _multiplier(field: FieldNode, page_cap: int, default_page: int, paged: frozenset[str]) -> int:
    for argument in field.arguments or ():
        if argument.name.value in ("first", "timelineSize", "limit"):
            if isinstance(argument.value, IntValueNode):
                return max(1, min(int(argument.value.value), page_cap))
            return page_cap
    # lists without ``first`` that return several records by default
    return default_page if field.name.value in paged else 1


def _cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, Any],
    page_cap: int,
    default_page: int,
    paged: frozenset[str],
    seen: set[str],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = _cost(selection.selection_set, fragments, page_cap, default_page, paged, seen)
            total += 1 + _multiplier(selection, page_cap, default_page, paged) * inner
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(selection.selection_set, fragments, page_cap, default_page, paged, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:
                total += _cost(fragments[name].selection_set, fragments, page_cap, default_page, paged, seen | {name})
    return total
