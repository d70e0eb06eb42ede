"""``kith init`` and ``kith migrate``."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

from kith.cli.common import console, open_kith, run
from kith.core import distributions
from kith.core.settings import DEFAULT_DATABASE_URL

CONFIG_TEMPLATE = """\
# Kith settings; every value can be overridden with a KITH_<NAME> environment variable.
database_url = "{database_url}"
mode = "development"          # "production" turns off GraphiQL and introspection
host = "127.0.0.1"
port = 8000
secret_key = "{secret_key}"
# plugins = ["sales"]         # allow-list; leave out to allow every installed plugin
"""


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing kith.toml.")
@click.option(
    "--distribution",
    help="Set the database up from this installed distribution (its plugins, fields, roles, rules and records).",
)
@click.pass_context
def init_command(ctx: click.Context, force: bool, distribution: str | None) -> None:
    """Create kith.toml here (if missing) and set the database up."""
    config = Path("kith.toml")
    url = ctx.find_root().params.get("database_url") or DEFAULT_DATABASE_URL
    if config.exists() and not force:
        console.print(f"kith.toml exists; keeping it ({config.resolve()})")
    else:
        config.write_text(CONFIG_TEMPLATE.format(database_url=url, secret_key=secrets.token_urlsafe(32)))
        console.print(f"[green]Wrote[/] {config.resolve()}")

    async def body() -> None:
        async with open_kith(ctx) as kith:
            if distribution:
                chosen = distributions.find(distribution, kith.settings.extra_distributions)
                counts = await distributions.install(kith, chosen)
                made = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing new"
                console.print(f"[green]Set up from {chosen.name} {chosen.version}:[/] {made}")
            console.print(f"[green]Database ready:[/] {kith.db.display_url}")

    run(body())


@click.command("migrate")
@click.pass_context
def migrate_command(ctx: click.Context) -> None:
    """Apply pending migrations of the core and every enabled plugin."""

    async def body() -> None:
        async with open_kith(ctx, migrate=False, load=False) as kith:
            ran = await kith.migrate()
            await kith.reload()
            await kith.sync_plugin_rules()
            steps = [f"{app}: {name}" for app, names in ran.items() for name in names]
            if steps:
                for step in steps:
                    console.print(f"[green]applied[/] {step}")
            else:
                console.print("Nothing to migrate; the database is up to date.")

    run(body())
