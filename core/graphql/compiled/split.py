"""The part of a document the general executor answers when the compiler takes the rest.

A query may mix generated fields with a plugin's: the compiled statement answers the
first, the general executor the others, in one response.  The executor gets the same
document text with the compiled root fields — and the variable and fragment
definitions only they used — overwritten by spaces, so every line and column it reports
in an error is where the client wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    OperationDefinitionNode,
    VariableNode,
    Visitor,
    visit,
)


class _Uses(Visitor):
    """The fragments and variables a piece of a document refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.fragments: set[str] = set()
        self.variables: set[str] = set()

    def enter_fragment_spread(self, node: FragmentSpreadNode, *_: Any) -> None:
        self.fragments.add(node.name.value)

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        self.variables.add(node.name.value)


def _uses(nodes: Iterable[Any], fragments: dict[str, FragmentDefinitionNode]) -> _Uses:
    """What ``nodes`` use, following fragment spreads to the fragments' own uses."""
    uses = _Uses()
    pending = list(nodes)
    seen: set[str] = set()
    while pending:
        visit(pending.pop(), uses)
        for name in uses.fragments - seen:
            seen.add(name)
            if name in fragments:
                pending.append(fragments[name])
    return uses


def remaining_document(
    source: str, document: DocumentNode, operation: OperationDefinitionNode, taken: list[FieldNode]
) -> str | None:
    """``source`` without the root fields in ``taken`` (and what only they used), or None
    when that cannot be written without moving text (a taken field inside a fragment)."""
    if any(node.loc is None for node in taken):
        return None
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    roots = operation.selection_set.selections
    if any(not isinstance(node, FieldNode) for node in roots) or any(node not in roots for node in taken):
        return None
    kept = [node for node in roots if node not in taken]
    others = [d for d in document.definitions if isinstance(d, OperationDefinitionNode) and d is not operation]
    uses = _uses([*kept, *others], fragments)
    blank: list[tuple[int, int]] = [(node.loc.start, node.loc.end) for node in taken if node.loc]
    definitions = operation.variable_definitions or ()
    unused = [d for d in definitions if d.variable.name.value not in uses.variables]
    if definitions and len(unused) == len(definitions):
        first, last = definitions[0].loc, definitions[-1].loc
        if first is None or last is None:
            return None
        opening = source.rfind("(", 0, first.start)
        closing = source.find(")", last.end)
        blank.append((opening, closing + 1))
    else:
        blank += [(d.loc.start, d.loc.end) for d in unused if d.loc]
    blank += [(d.loc.start, d.loc.end) for name, d in fragments.items() if name not in uses.fragments and d.loc]
    text = list(source)
    for start, end in blank:
        for i in range(start, end):
            if text[i] not in "\r\n":
                text[i] = " "
    return "".join(text)
