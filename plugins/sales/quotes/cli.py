"""``kith sales quote-html``: a quote's HTML document from the command line (added to the
``kith sales`` group)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from kith.plugins.sales.cli import sales_group
from kith.plugins.sales.quotes.document import ContextReader, render_quote
from kith.plugins.sales.settings import sales_settings
from kith.sdk import KithError, PluginContext, with_context


@sales_group.command("quote-html")
@click.argument("quote_id", metavar="ID", type=int)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the document to this file instead of printing it.",
)
@with_context
async def quote_html(context: PluginContext, quote_id: int, output: Path | None) -> None:
    """The HTML document of quote ID (the same as the quoteDocument query)."""
    html = await render_quote(ContextReader(context), quote_id, sales_settings(context))
    if html is None:
        raise KithError(f"quote {quote_id} does not exist")
    if output is None:
        click.echo(html, nl=False)
    else:
        await asyncio.to_thread(output.write_text, html, encoding="utf-8")
        click.echo(f"Wrote quote {quote_id} to {output}")
