"""``kith merge …``: merge duplicate records into a survivor, list merges, undo one.

``kith merge contact 12 13 14`` reads like what it does, so ``records`` is the group's
default subcommand: any first word that is not a subcommand (``undo``, ``list``) is an
entity, and the line is run as ``kith merge records …``.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from kith.cli.common import console, with_kith
from kith.core.records.change import Actor
from kith.core.runtime import Kith

RULE_NAMES = ("most_recent", "most_complete", "primary", "trusted_source", "only_if_empty", "union")
CLI = Actor(name="cli", source="cli")


class _MergeGroup(click.Group):
    """A group whose first word, when it names no subcommand, starts ``records``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["records", *args]
        return super().parse_args(ctx, args)


@click.group("merge", cls=_MergeGroup)
def merge_group() -> None:
    """Merge duplicate records into one, field by field; list merges; undo one.

    `kith merge ENTITY SURVIVOR_ID OTHER_ID...` is short for `kith merge records ...`.
    """


def _field_rules(given: tuple[str, ...]) -> dict[str, str]:
    rules: dict[str, str] = {}
    for item in given:
        field, sep, rule = item.partition("=")
        if not sep or not field.strip() or not rule.strip():
            raise click.BadParameter(f"{item!r} is not FIELD=RULE", param_hint="--rule")
        rules[field.strip()] = rule.strip()
    return rules


@merge_group.command("records")
@click.argument("entity")
@click.argument("survivor_id", type=int)
@click.argument("other_ids", type=int, nargs=-1, required=True)
@click.option("--rule", "rules", multiple=True, metavar="FIELD=RULE", help="The rule of one field (repeatable).")
@click.option(
    "--default-rule",
    default="only_if_empty",
    show_default=True,
    type=click.Choice(RULE_NAMES[:-1]),
    help="The rule of every field not named with --rule (list fields: union).",
)
@click.option("--trusted-sources", metavar="A,B", help="For trusted_source: audit sources, most trusted first.")
@with_kith
async def merge_records_command(
    kith: Kith,
    entity: str,
    survivor_id: int,
    other_ids: tuple[int, ...],
    rules: tuple[str, ...],
    default_rule: str,
    trusted_sources: str | None,
) -> None:
    """Merge OTHER_IDS of ENTITY into SURVIVOR_ID: each field by its rule, everything pointing
    at them moved to the survivor, and they are deleted (undo with `kith merge undo`)."""
    from kith.core.merge import MergeRules, merge_records

    asked = MergeRules(
        default=default_rule,
        fields=_field_rules(rules),
        trusted_sources=tuple(s.strip() for s in (trusted_sources or "").split(",") if s.strip()),
    )
    merge = await merge_records(kith, entity, survivor_id, list(other_ids), asked, CLI)
    others = ", ".join(str(i) for i in merge.merged_ids)
    console.print(f"Merged {entity} {others} into {survivor_id} (merge {merge.id})")
    table = Table("field", "rule", "from", "before", "after", title="Fields the records disagreed on")
    for choice in merge.choices:
        source = "all" if choice.from_id is None else str(choice.from_id)
        table.add_row(choice.field, choice.rule, source, _shown(choice.before), _shown(choice.value))
    if merge.choices:
        console.print(table)
    console.print(f"Undo with: kith merge undo {merge.id}")


def _shown(value: Any) -> str:
    if value is None or value == []:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@merge_group.command("undo")
@click.argument("merge_id", type=int)
@with_kith
async def undo_command(kith: Kith, merge_id: int) -> None:
    """Undo merge MERGE_ID, once: fields changed since the merge are kept and listed as conflicts."""
    from kith.core.merge import undo_merge

    merge = await undo_merge(kith, merge_id, CLI)
    restored = ", ".join(str(i) for i in merge.merged_ids)
    console.print(f"Undid merge {merge.id}: {merge.entity} {restored} restored, {merge.survivor_id} as it was")
    if merge.conflicts:
        table = Table("record", "field", "value at merge", "kept value", title="Changed since the merge (kept)")
        for c in merge.conflicts:
            table.add_row(f"{c.entity} {c.record_id}", c.field, _shown(c.value_at_merge), _shown(c.current_value))
        console.print(table)


@merge_group.command("list")
@click.argument("entity")
@click.option("--record", "record_id", type=int, help="Only the merges this record took part in.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many merges.")
@with_kith
async def list_command(kith: Kith, entity: str, record_id: int | None, limit: int) -> None:
    """The merges of ENTITY, newest first."""
    from kith.core.merge import list_merges

    page = await list_merges(kith, entity, record_id=record_id, first=limit)
    table = Table("merge", "survivor", "merged", "by", "at", "undone", title=f"Merges of {entity}")
    for m in page.merges:
        undone = "-" if m.undone_at is None else f"{m.undone_at:%Y-%m-%d %H:%M} by {m.undone_by}"
        at = "-" if m.created_at is None else f"{m.created_at:%Y-%m-%d %H:%M}"
        table.add_row(str(m.id), str(m.survivor_id), ", ".join(str(i) for i in m.merged_ids), m.actor, at, undone)
    console.print(table)
    more = " (more with --limit)" if page.has_next_page else ""
    console.print(f"{len(page.merges)} merges{more}")
