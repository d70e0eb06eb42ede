"""``kith duplicates …``: scan an entity for duplicates, review the queue, dismiss pairs."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.table import Table

from kith.cli.common import console, with_kith
from kith.core.runtime import Kith


@click.group("duplicates")
def duplicates_group() -> None:
    """Find duplicate records: scan, list the review queue, dismiss pairs."""


@duplicates_group.command("scan")
@click.argument("entity")
@click.option("--rule", "rules", multiple=True, help="Use only this rule (repeatable); default: all of ENTITY's.")
@click.option("--limit", type=click.IntRange(min=2), help="Scan only the N newest records.")
@with_kith
async def scan(kith: Kith, entity: str, rules: tuple[str, ...], limit: int | None) -> None:
    """Compare the records of ENTITY with its duplicate rules and queue the pairs found."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kith.core import duplicates

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True, disable=not sys.stdout.isatty()) as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase.capitalize(), total=total)
            bar.update(tasks[phase], completed=done, total=total)

        report = await duplicates.scan(kith, entity, rules=rules, limit=limit, progress=progress)
    console.print(
        f"Scanned {report.records} {entity} records with {', '.join(report.rules)} in {report.seconds:.1f} s: "
        f"{report.comparisons} comparisons in {report.blocks} blocks"
    )
    if report.capped_blocks or report.skipped_keys:
        console.print(
            f"{report.capped_blocks} blocks larger than the cap were compared in windows; "
            f"{report.skipped_keys} values shared by too many records were skipped"
        )
    removed = f", {report.removed} no longer found" if report.removed else ""
    console.print(f"Found {report.candidates} candidate pairs ({report.new} new{removed})")


@duplicates_group.command("list")
@click.argument("entity")
@click.option("--status", type=click.Choice(["open", "dismissed", "merged"]), default="open", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many pairs.")
@with_kith
async def list_pairs(kith: Kith, entity: str, status: str, limit: int) -> None:
    """The review queue of ENTITY, highest score first."""
    from kith.core import duplicates

    page = await duplicates.list_candidates(kith, entity, status=status, first=limit)
    ids = sorted({i for c in page.candidates for i in c.record_ids})
    labels = await _labels(kith, entity, ids)
    table = Table("id", "score", "record", "name", "other", "name", "rules", title=f"Possible duplicates of {entity}")
    for c in page.candidates:
        a, b = c.record_ids
        table.add_row(str(c.id), str(c.score), str(a), labels.get(a, ""), str(b), labels.get(b, ""), ", ".join(c.rules))
    console.print(table)
    more = " (more with --limit)" if page.has_next_page else ""
    console.print(f"{len(page.candidates)} {status} pairs{more}")


async def _labels(kith: Kith, entity: str, ids: list[int]) -> dict[int, str]:
    """What each record is called in the table: its name, else its first email or title."""
    declared = kith.entity(entity)
    wanted = [name for name in ("first_name", "last_name", "name", "title", "subject") if name in declared.fields]
    if not ids or not wanted:
        return {}
    from piccolo.querystring import QueryString

    columns = ", ".join(f't."{name}"' for name in wanted)
    among = kith.db.dialect.in_ids("t.id", ids)
    rows = await kith.db.fetch(QueryString(f'SELECT t.id, {columns} FROM "{declared.tablename}" t WHERE {{}}', among))
    return {int(row["id"]): " ".join(str(row[name]) for name in wanted if row[name]) for row in rows}


@duplicates_group.command("dismiss")
@click.argument("candidate_id", type=int)
@with_kith
async def dismiss(kith: Kith, candidate_id: int) -> None:
    """Mark pair CANDIDATE_ID as not duplicates (later scans keep it dismissed)."""
    from kith.core import duplicates

    candidate = await duplicates.dismiss(kith, candidate_id, "cli")
    a, b = candidate.record_ids
    console.print(f"Dismissed pair {candidate.id}: {candidate.entity} {a} and {b} are not duplicates")


@duplicates_group.command("rules")
@click.argument("entity", required=False)
@with_kith
async def rules(kith: Kith, entity: str | None) -> None:
    """The duplicate rules, of ENTITY or of every entity (the core's and enabled plugins')."""
    from kith.core import duplicates

    table = Table("rule", "entity", "kind", "fields", "normalise", "threshold", "weight", title="Duplicate rules")
    for rule in duplicates.all_rules(kith):
        if entity is None or rule.entity == entity:
            threshold = f"{rule.threshold:g}" if rule.kind == "fuzzy" else "-"
            fields = ", ".join(rule.fields) + (f" (same {', '.join(rule.same)})" if rule.same else "")
            table.add_row(rule.name, rule.entity, rule.kind, fields, rule.normalise, threshold, f"{rule.weight:g}")
    console.print(table)
