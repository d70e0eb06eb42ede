"""The knowledge base: articles with categories, a draft → published → archived life,
locales, full-text search on both engines, suggestions for a ticket, and a public
read-only endpoint (JSON and HTML) for published articles.

Search goes through ``context.db.search_text`` (PostgreSQL full-text search, SQLite
FTS5) for ids in rank order, then reads the articles through the caller's visibility:
agents see drafts, the public endpoint only what is published.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from jinja2 import Environment
from litestar import Request, Response, get
from litestar.exceptions import NotFoundException, ValidationException

from kith.plugins.service.models import KbArticle, TicketMessage
from kith.sdk import Change, PluginContext, ValidationFailed, context_from

SEARCHED = ("title", "body")
_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="{{ article.locale }}"><head><meta charset="utf-8"><title>{{ article.title }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><article><h1>{{ article.title }}</h1>
{% for paragraph in paragraphs %}<p>{{ paragraph }}</p>
{% endfor %}</article></main></body></html>
"""
)


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:120] or "article"


def before_write(change: Change) -> None:
    values = change.values
    before = change.before or {}
    if change.action == "create" and not values.get("slug"):
        values["slug"] = slugify(values.get("title") or "")
    elif "slug" in values and values["slug"] != slugify(values["slug"]):
        raise ValidationFailed.single("slug", "invalid", "use lowercase letters, digits and '-'")
    status = values.get("status", before.get("status") or "draft")
    if status == "published" and before.get("status") != "published":
        values["published_at"] = dt.datetime.now(dt.UTC)
    if status == "published" and not (values.get("body", before.get("body")) or "").strip():
        raise ValidationFailed.single("body", "required", "an article is published with a body")


async def search(
    context: PluginContext,
    text: str,
    *,
    locale: str | None = None,
    published_only: bool = False,
    match: str = "all",
    first: int = 10,
    as_system: bool = False,
) -> list[dict[str, Any]]:
    """Articles matching ``text``, best first, as the context's caller may see them."""
    ids = await context.db.search_text(KbArticle, SEARCHED, text, match=match, limit=max(first, 1) * 5)
    if not ids:
        return []
    conditions: dict[str, Any] = {"id": {"in": ids}}
    if locale:
        conditions["locale"] = {"eq": locale}
    if published_only:
        conditions["status"] = {"eq": "published"}
    records = context.system if as_system else context.records
    found = {row["id"]: row for row in await records.list("kb_article", conditions, first=len(ids))}
    return [found[i] for i in ids if i in found][:first]


async def suggest(context: PluginContext, ticket_id: int, first: int = 5) -> list[dict[str, Any]]:
    """Published articles for a ticket: its subject and its customer's words, any of them, ranked."""
    ticket = await context.records.get("ticket", ticket_id)
    if ticket is None:
        raise ValidationFailed.single("ticketId", "not_found", f"ticket {ticket_id} does not exist")
    rows = await (
        TicketMessage.select(TicketMessage.body)
        .where(
            (TicketMessage.ticket == ticket_id)
            & (TicketMessage.direction == "inbound")
            & TicketMessage.deleted_at.is_null()
        )
        .order_by(TicketMessage.id)
        .limit(3)
    )
    text = " ".join([ticket["subject"], *(row["body"] or "" for row in rows)])
    return await search(context, text, published_only=True, match="any", first=first)


def public(article: dict[str, Any]) -> dict[str, Any]:
    published = article.get("published_at")
    return {
        "slug": article["slug"],
        "locale": article["locale"],
        "title": article["title"],
        "body": article["body"],
        "tags": article.get("tags") or [],
        "publishedAt": published.isoformat() if isinstance(published, dt.datetime) else published,
    }


def _first(request: Request) -> int:
    raw = request.query_params.get("first") or "20"
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise ValidationException("first: a whole number from 1 to 100")
    return int(raw)


@get("/kb/articles")
async def list_articles(request: Request) -> dict[str, Any]:
    """Published articles (a search with ``q``, in one ``locale``), for a public help centre."""
    context = context_from(request)
    q, locale, first = request.query_params.get("q"), request.query_params.get("locale"), _first(request)
    if q:
        rows = await search(context, q, locale=locale, published_only=True, first=first, as_system=True)
    else:
        conditions: dict[str, Any] = {"status": {"eq": "published"}}
        if locale:
            conditions["locale"] = {"eq": locale}
        rows = await context.system.list("kb_article", conditions, order_by=[{"publishedAt": "DESC"}], first=first)
    return {"articles": [public(row) for row in rows]}


@get("/kb/articles/{slug:str}")
async def show_article(request: Request) -> Response[Any]:
    """One published article: HTML for a browser, JSON when asked (``Accept: application/json``)."""
    context = context_from(request)
    slug, locale = str(request.path_params["slug"]), request.query_params.get("locale") or "en"
    article = await context.system.first(
        "kb_article", {"slug": {"eq": slug}, "locale": {"eq": locale}, "status": {"eq": "published"}}
    )
    if article is None:
        raise NotFoundException(f"no published article {slug!r} in {locale!r}")
    if "application/json" in request.headers.get("accept", ""):
        return Response(public(article))
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", article["body"] or "") if p.strip()]
    html = _PAGE.render(article=article, paragraphs=paragraphs)
    return Response(html, media_type="text/html")


ROUTES = [list_articles, show_article]
