"""``kith sales …``: pipelines and their stages, importing leads, scoring them."""

from __future__ import annotations

from pathlib import Path

import click

from kith.plugins.sales.models import Pipeline, Stage
from kith.sdk import KithError, PluginContext, ValidationFailed, with_context


@click.group("sales")
def sales_group() -> None:
    """Sales: pipelines and stages, leads, scores, quotes and forecasts."""


@sales_group.command("pipelines")
@with_context
async def pipelines(context: PluginContext) -> None:
    """Every pipeline with its stages, in order."""
    stages = (
        await Stage.select(Stage.pipeline, Stage.name, Stage.probability, Stage.kind)
        .where(Stage.deleted_at.is_null())
        .order_by(Stage.position, Stage.id)
    )
    for pipeline in (
        await Pipeline.select(Pipeline.id, Pipeline.name).where(Pipeline.deleted_at.is_null()).order_by(Pipeline.id)
    ):
        click.echo(pipeline["name"])
        for row in (s for s in stages if s["pipeline"] == pipeline["id"]):
            click.echo(f"  {row['name']:<20} {row['probability']:>3}%  {row['kind']}")


@sales_group.command("add-stage")
@click.argument("pipeline")
@click.argument("name")
@click.option("--probability", type=int, required=True, help="Win probability of open deals here, in percent.")
@click.option("--kind", type=click.Choice(["open", "won", "lost"]), default="open", show_default=True)
@with_context
async def add_stage(context: PluginContext, pipeline: str, name: str, probability: int, kind: str) -> None:
    """Add stage NAME at the end of PIPELINE."""
    found = await pipeline_id(pipeline)
    if found is None:
        raise KithError(f"no pipeline named {pipeline!r}")
    count = await Stage.count().where(Stage.pipeline == found)
    await context.records.create(
        "stage",
        {"pipeline": found, "name": name, "probability": probability, "kind": kind, "position": count},
    )
    click.echo(f"Added stage {name} to {pipeline}")


#: what to do about a file refused as a whole, by (field, code) of the error
_IMPORT_HINTS: dict[tuple[str | None, str], str] = {
    ("encoding", "invalid"): " with --encoding",
    ("columns", "unknown"): "; or import the known ones with --skip-unknown-columns",
}


@sales_group.command("import-leads")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", help="Source of rows that name none (e.g. 'trade show 2026').")
@click.option("--owner", help="Email of the user who owns rows that name no owner.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--all-or-nothing", is_flag=True, help="Import nothing if any row is refused or a duplicate.")
@click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    help="The file's text encoding, e.g. cp1252 or latin-1 for files saved by older spreadsheet programs.",
)
@click.option(
    "--skip-unknown-columns",
    is_flag=True,
    help="Import the known columns and skip (and list) the others, instead of refusing the file.",
)
@with_context
async def import_leads_command(
    context: PluginContext,
    file: Path,
    source: str | None,
    owner: str | None,
    dry_run: bool,
    all_or_nothing: bool,
    encoding: str,
    skip_unknown_columns: bool,
) -> None:
    """Import leads from a CSV FILE (a header row, then one lead per row).

    Columns: first_name, last_name, email, phone, title, company, domain, country,
    source, status, need, authority (yes/no), decision_date (YYYY-MM-DD), budget,
    budget_currency, owner (a user's email). Leads already in Kith (same email, or same
    name at the same domain, as a lead or contact) are skipped and listed. Rows that
    cannot be read (an unclosed quote, a NUL character, a value too long, too many or
    too few values) are listed by line; the file is refused if it is not in ENCODING or
    has unknown columns (unless --skip-unknown-columns).
    """
    from kith.plugins.sales.lead_import import import_leads

    defaults: dict[str, str] = {"source": source or ""}
    if owner:
        found = await context.system.list("user", {"email": {"eq": owner.strip().lower()}}, first=1)
        if not found:
            raise KithError(f"--owner: no user with the email {owner!r}")
        defaults["owner"] = str(found[0]["id"])
    try:
        report = await import_leads(
            context,
            file,
            defaults=defaults,
            dry_run=dry_run,
            all_or_nothing=all_or_nothing,
            encoding=encoding,
            skip_unknown_columns=skip_unknown_columns,
        )
    except ValidationFailed as exc:  # the file as a whole cannot be read
        reasons = [f"{file.name}: {e.message}{_IMPORT_HINTS.get((e.field, e.code), '')}" for e in exc.errors]
        raise KithError("; ".join(reasons)) from None
    if report.skipped_columns:
        click.echo(f"Skipped columns: {', '.join(report.skipped_columns)}")
    for line in report.problems:
        click.echo(line)
    done = "Would import" if dry_run or (all_or_nothing and report.problems) else "Imported"
    click.echo(
        f"{done} {len(report.imported)} leads; {len(report.duplicates)} duplicates skipped; "
        f"{len(report.refused)} rows refused"
    )
    if all_or_nothing and report.problems and not dry_run:
        raise KithError("nothing was imported (--all-or-nothing): fix the rows above")


@sales_group.command("train-lead-model")
@with_context
async def train_lead_model(context: PluginContext) -> None:
    """Train the lead model on converted leads whose deals were won or lost, then rescore open leads."""
    from kith.plugins.sales import lead_model, scoring

    model = await lead_model.train(context)
    rescored = await scoring.score_leads(context)
    accuracy = "n/a" if model["accuracy"] is None else f"{model['accuracy']:.0%}"
    click.echo(
        f"Trained on {model['samples']} leads ({model['won']} won, {model['lost']} lost); "
        f"cross-validated accuracy {accuracy}; {rescored} scores changed"
    )
    pairs = sorted(zip(model["features"], model["coefficients"], strict=True), key=lambda p: -abs(p[1]))
    for feature, weight in pairs:
        click.echo(f"  {feature:<24} {weight:+.3f}")


@sales_group.command("rescore")
@with_context
async def rescore(context: PluginContext) -> None:
    """Rescore every open lead now (the shipped rules do it nightly and on every change)."""
    from kith.plugins.sales import scoring

    click.echo(f"{await scoring.score_leads(context)} scores changed")


async def pipeline_id(name: str) -> int | None:
    """The id of the live pipeline called ``name``."""
    row = await Pipeline.select(Pipeline.id).where((Pipeline.name == name) & Pipeline.deleted_at.is_null()).first()
    return None if row is None else int(row["id"])


# the commands of products/quotes and of forecasts join the group when it is imported
from kith.plugins.sales.forecast import cli as _forecast_cli  # noqa: E402,F401
from kith.plugins.sales.quotes import cli as _quote_cli  # noqa: E402,F401
