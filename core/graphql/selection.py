"""Which columns a query asked for, so list reads fetch only those."""

from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField


def _names(selections: list[Any], out: set[str]) -> None:
    for selection in selections:
        if isinstance(selection, SelectedField):
            out.add(selection.name)
        elif isinstance(selection, FragmentSpread | InlineFragment):
            _names(selection.selections, out)


def _children(selections: list[Any], name: str) -> list[Any]:
    found: list[Any] = []
    for selection in selections:
        if isinstance(selection, SelectedField) and selection.name == name:
            found.extend(selection.selections)
        elif isinstance(selection, FragmentSpread | InlineFragment):
            found.extend(_children(selection.selections, name))
    return found


def _node_selections(info: Any) -> list[Any]:
    top = info.selected_fields[0].selections
    return _children(_children(top, "edges"), "node") + _children(top, "nodes")


def node_fields(info: Any) -> set[str]:
    """The field names selected on the nodes of a connection field (edges and nodes)."""
    names: set[str] = set()
    _names(_node_selections(info), names)
    return names


def selected_under(info: Any, field: str) -> set[str]:
    """The field names selected on ``field`` of the nodes of a connection field."""
    names: set[str] = set()
    _names(_children(_node_selections(info), field), names)
    return names


def node_columns(names: set[str], columns: dict[str, set[str]]) -> set[str] | None:
    """Columns needed for the selected node fields, or None for all of them."""
    needed: set[str] = set()
    for name in names:
        if name == "__typename":
            continue
        if name not in columns:
            return None  # a field we do not know (added by a plugin): fetch everything
        needed |= columns[name]
    return needed


def edge_cursor_selected(info: Any) -> bool:
    """Whether the query asks for ``edges { cursor }``."""
    names: set[str] = set()
    _names(_children(info.selected_fields[0].selections, "edges"), names)
    return "cursor" in names
