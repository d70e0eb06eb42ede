"""``kith serve`` and ``kith demo``."""

from __future__ import annotations

import click
import uvicorn

from kith.cli.common import console, open_kith, run, settings_from
from kith.core.settings import Settings


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    from kith.core.web.app import create_app

    host = host or settings.host
    port = port or settings.port
    console.print(
        f"Kith is serving GraphQL at [bold]http://{host}:{port}/graphql[/]"
        + (" (GraphiQL in your browser)" if settings.graphiql_enabled else "")
    )
    console.print(f"Dashboards at [bold]http://{host}:{port}/dashboards[/] (sign in with an email and password)")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@click.command("serve")
@click.option("--host", help="Interface to listen on (default from settings).")
@click.option("--port", type=int, help="Port (default from settings).")
@click.pass_context
def serve_command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the GraphQL API."""
    settings = settings_from(ctx)

    async def check() -> None:
        async with open_kith(ctx):
            pass

    run(check())  # migrate and fail with one clear line before starting the server
    _serve(settings, host, port)


@click.command("demo")
@click.option("--contacts", default=300, show_default=True, help="How many demo contacts to create.")
@click.option("--seed", default=7, show_default=True, help="Random seed (same seed, same data).")
@click.option(
    "--plugin",
    "plugins",
    multiple=True,
    help="Enable this plugin (and its demo data) first; repeatable. Default: every installed plugin.",
)
@click.option("--core-only", is_flag=True, help="Enable no plugins: the core's demo data only.")
@click.option("--no-serve", is_flag=True, help="Create the data and exit.")
@click.option("--host", help="Interface to listen on.")
@click.option("--port", type=int, help="Port.")
@click.pass_context
def demo_command(
    ctx: click.Context,
    contacts: int,
    seed: int,
    plugins: tuple[str, ...],
    core_only: bool,
    no_serve: bool,
    host: str | None,
    port: int | None,
) -> None:
    """Fill the database with realistic demo data, then serve it.

    On an empty database the installed plugins are enabled first (or those named with
    --plugin), so the demo shows them too; an existing database is served as it is.
    """
    from kith.core.demo import ensure_demo_admin, load_demo
    from kith.core.plugins import lifecycle

    async def body() -> tuple[dict[str, int], tuple[str, str, str | None]]:
        async with open_kith(ctx) as kith:
            if not core_only and not await kith.count("contact"):
                wanted = plugins or tuple(n for n, p in sorted(kith.plugins.available.items()) if not p.essential)
                enabled = set(await kith.enabled_plugins())
                for name in wanted:
                    if name not in enabled:
                        await lifecycle.enable(kith, name)
                        console.print(f"Enabled plugin [bold]{name}[/]")
            return await load_demo(kith, contacts=contacts, seed=seed), await ensure_demo_admin(kith)

    counts, (email, password, key) = run(body())
    if counts:
        console.print("[green]Demo data:[/] " + ", ".join(f"{n} {name}" for name, n in counts.items()))
    else:
        console.print("Demo data is already there; serving it.")
    console.print(f"Sign in as [bold]{email}[/] with password [bold]{password}[/] (the login mutation)")
    if key:
        console.print(f"API key (shown once): [bold]{key}[/]  -> header 'Authorization: Bearer <key>'")
    if not no_serve:
        _serve(settings_from(ctx), host, port)
