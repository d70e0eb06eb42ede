"""``kith sales …``: pipelines and their stages."""

from __future__ import annotations

import asyncio

import click

from kith.sdk import Actor, Kith, KithError, load_settings

CLI = Actor(name="cli", source="cli")


def _run(body):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        kith = await Kith.open(load_settings())
        try:
            return await body(kith)
        finally:
            await kith.close()

    try:
        return asyncio.run(main())
    except KithError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("sales")
def sales_group() -> None:
    """Sales: pipelines and stages."""


@sales_group.command("pipelines")
def pipelines() -> None:
    """Every pipeline with its stages, in order."""

    async def body(kith: Kith) -> None:
        rows = await kith.db.execute(
            "SELECT p.name AS pipeline, s.name, s.probability, s.kind FROM sales_pipeline p "
            "LEFT JOIN sales_stage s ON s.pipeline = p.id AND s.deleted_at IS NULL "
            "WHERE p.deleted_at IS NULL ORDER BY p.id, s.position, s.id"
        )
        current = None
        for row in rows:
            if row["pipeline"] != current:
                current = row["pipeline"]
                click.echo(current)
            if row["name"]:
                click.echo(f"  {row['name']:<20} {row['probability']:>3}%  {row['kind']}")

    _run(body)


@sales_group.command("add-stage")
@click.argument("pipeline")
@click.argument("name")
@click.option("--probability", type=int, required=True, help="Win probability of open deals here, in percent.")
@click.option("--kind", type=click.Choice(["open", "won", "lost"]), default="open", show_default=True)
def add_stage(pipeline: str, name: str, probability: int, kind: str) -> None:
    """Add stage NAME at the end of PIPELINE."""

    async def body(kith: Kith) -> None:
        rows = await kith.db.execute("SELECT id FROM sales_pipeline WHERE name = {} AND deleted_at IS NULL", pipeline)
        if not rows:
            raise KithError(f"no pipeline named {pipeline!r}")
        count = await kith.db.execute("SELECT COUNT(*) AS n FROM sales_stage WHERE pipeline = {}", rows[0]["id"])
        await kith.records.create(
            "stage",
            {
                "pipeline": rows[0]["id"],
                "name": name,
                "probability": probability,
                "kind": kind,
                "position": int(count[0]["n"]),
            },
            CLI,
        )
        click.echo(f"Added stage {name} to {pipeline}")

    _run(body)


# the commands of products/quotes and of forecasts join the group when it is imported
from kith.plugins.sales.forecast import cli as _forecast_cli  # noqa: E402,F401
from kith.plugins.sales.quotes import cli as _quote_cli  # noqa: E402,F401
