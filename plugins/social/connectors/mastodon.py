"""Mastodon: the connector for any server speaking Mastodon's REST API.

Written against the API as docs.joinmastodon.org documents it:

- ``GET /api/v1/accounts/verify_credentials`` checks the token (401 when it is invalid,
  403 when the login is disabled or unconfirmed: both need a person).
- ``GET /api/v1/notifications?types[]=mention`` gives mentions (and private mentions,
  the ``direct`` visibility).  Results come newest first; ``min_id`` "sets a cursor at
  this ID and paginates forward", and the ``Link`` header's ``prev`` relation is the
  next newer page (methods/notifications, api/guidelines#pagination).  Walking forward
  from the cursor with ``min_id`` means every page joins the one before it, so a fetch
  cut short (a page limit, a 429 half-way) still returns a contiguous run and a cursor
  that skips nothing.
- ``POST /api/v2/media`` uploads an attachment: 200 when processed at once, 202 while
  the server still processes it; ``GET /api/v1/media/:id`` then answers 206 until it
  answers 200 with the ``url`` set (methods/media).  A status naming unprocessed media
  is refused with a 422, so ``publish`` waits for them (bounded).
- ``POST /api/v1/statuses`` with an ``Idempotency-Key`` header: Mastodon keeps the key
  for an hour and answers a repeated key with the status it already created, so
  publishing again after a time-out is safe within that hour (methods/statuses#create).
- ``GET /api/v1/accounts/:id/statuses`` lists the account's own posts (``find_published``).
- ``DELETE /api/v1/statuses/:id`` deletes one (404: not there, which is what we want).
- Every response carries ``X-RateLimit-Limit`` / ``X-RateLimit-Remaining`` /
  ``X-RateLimit-Reset`` (an ISO 8601 timestamp), about the limit closest to being hit;
  a spent budget answers 429 (api/rate-limits).

Errors come as ``{"error": "..."}``; that text is what a person is shown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from kith.plugins.social.connectors.base import (
    AccountAccess,
    AccountInfo,
    Author,
    Fetched,
    InboundItem,
    Limits,
    Media,
    OutcomeUnknown,
    PostRequest,
    Published,
    RateLimited,
    Rejected,
    TokenExpired,
    Unavailable,
)

__all__ = ["MastodonConnector", "html_to_text"]

#: what a failure of a call means for the caller: a read (``fetch_items``, ``verify``, the
#: look-ups of ``find_published``), a request that changes nothing the caller cannot
#: redo (``delete``, a media upload), or the one request that creates the post
Purpose = Literal["read", "write", "create"]

#: transport errors raised before any byte of the request left: the platform cannot
#: have acted on it, whatever the call was
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


class MastodonConnector:
    """Mastodon's REST API as the social plugin's ``Connector``.

    Stateless: everything it knows about an account comes in ``AccountAccess`` (the
    client, the server's address, the token, the budget the last response reported), so
    one instance serves every Mastodon account.  The knobs exist for tests and for
    servers that are slow to process media; the defaults suit mastodon.social."""

    platform = "mastodon"
    supports_idempotency = True
    # docs.joinmastodon.org/api/rate-limits: "Per account: All endpoints and methods can
    # be called 300 times within 5 minutes" (media uploads 30 / 30 min and deletes
    # 30 / 30 min are further limits; the headers report whichever is closest, so the
    # plugin's reserve keeps those in check too).  No documented daily posting limit.
    # methods/statuses#create: "Idempotency keys are stored for up to 1 hour."
    limits = Limits(requests=300, per_seconds=300, concurrency=2, posts_per_day=None, idempotency_seconds=3600)

    def __init__(
        self,
        *,
        page_size: int = 40,
        max_pages: int = 10,
        lookback_pages: int = 2,
        media_poll_interval: float = 1.0,
        media_poll_timeout: float = 60.0,
    ) -> None:
        #: notifications per page (the documented default is 40, the maximum 80; servers
        #: clamp it, and paging follows the links whatever size comes back)
        self.page_size = page_size
        #: pages one ``fetch_items`` reads at most; the rest waits for the next fetch (the
        #: cursor moves only as far as what was read, so nothing is skipped)
        self.max_pages = max_pages
        #: pages of the account's own statuses ``find_published`` looks through
        self.lookback_pages = lookback_pages
        #: how often and how long ``publish`` waits for a 202 upload to be processed
        self.media_poll_interval = media_poll_interval
        self.media_poll_timeout = media_poll_timeout

    # -- the Connector protocol --------------------------------------------------------

    async def verify(self, account: AccountAccess) -> AccountInfo:
        """The account the token belongs to; ``TokenExpired`` when it does not work."""
        response = await self._call(account, "GET", "/api/v1/accounts/verify_credentials", purpose="read")
        me = _json_object(response)
        return AccountInfo(
            handle=str(me.get("acct") or me.get("username") or ""), display_name=_text_or_none(me, "display_name")
        )

    async def fetch_items(self, account: AccountAccess, cursor: str | None) -> Fetched:
        """Mentions (and private mentions) newer than ``cursor``, the newest notification
        id seen, oldest first.  Without a cursor it starts at the oldest notification the
        server kept; ``max_pages`` bounds one call, and the next one goes on from there."""
        url = self._url(account, "/api/v1/notifications")
        params: list[tuple[str, str | int]] | None = [
            ("types[]", "mention"),
            ("limit", self.page_size),
            ("min_id", cursor or "0"),
        ]
        items: list[InboundItem] = []
        newest = cursor
        more = False
        for page in range(self.max_pages):
            try:
                response = await self._call(account, "GET", url, params=params, purpose="read")
                notifications = _json_list(response)
            except (RateLimited, Unavailable):
                if page == 0:
                    raise
                break  # keep what was read: it joins the cursor, the next fetch goes on
            if not notifications:
                break
            # a page is newest first; the pages themselves go from old to new
            items.extend(_inbound(n) for n in reversed(notifications) if _is_mention(n))
            newest = str(notifications[0]["id"])
            url, params = self._page_link(account, response, "prev", url, ("min_id", newest))
            more = page == self.max_pages - 1 and len(notifications) >= self.page_size
        return Fetched(items=items, cursor=newest, more=more)

    async def publish(self, account: AccountAccess, post: PostRequest) -> Published:
        """Upload the media, then create the status with ``post.idempotency_key``.

        A failure while uploading means the status was never asked for, so it is
        reported as what it is (``Unavailable``, ``Rejected``…); only the status request
        itself can end in ``OutcomeUnknown``."""
        media_ids = [await self._upload(account, media) for media in post.media]
        data: dict[str, str | list[str]] = {"status": post.text}
        if post.in_reply_to:
            data["in_reply_to_id"] = post.in_reply_to
        if media_ids:
            data["media_ids[]"] = media_ids
        response = await self._call(
            account,
            "POST",
            "/api/v1/statuses",
            data=data,
            headers={"Idempotency-Key": post.idempotency_key},
            purpose="create",
        )
        try:
            status = _json_object(response)
        except Unavailable as exc:  # a 2xx we cannot read: the post may well exist
            raise OutcomeUnknown(exc.reason) from exc
        return Published(platform_id=str(status["id"]), url=_status_url(status))

    async def find_published(self, account: AccountAccess, post: PostRequest) -> Published | None:
        """The account's recent status with the post's text (compared as plain text,
        whitespace folded, since Mastodon keeps only the HTML it rendered), the same
        reply target and as many attachments; None when the last ``lookback_pages``
        pages have none.  ``OutcomeUnknown`` when the server cannot be asked now."""
        try:
            me = _json_object(await self._call(account, "GET", "/api/v1/accounts/verify_credentials", purpose="read"))
            url = self._url(account, f"/api/v1/accounts/{quote(str(me['id']), safe='')}/statuses")
            params: list[tuple[str, str | int]] | None = [("limit", 40), ("exclude_reblogs", "true")]
            wanted = _fold(post.text)
            earliest = post.not_before - dt.timedelta(minutes=1) if post.not_before else None
            for _page in range(self.lookback_pages):
                response = await self._call(account, "GET", url, params=params, purpose="read")
                statuses = _json_list(response)
                if not statuses:
                    return None
                for status in statuses:
                    if (
                        _fold(html_to_text(str(status.get("content") or ""))) == wanted
                        and (status.get("in_reply_to_id") or None) == (post.in_reply_to or None)
                        and len(status.get("media_attachments") or ()) == len(post.media)
                        and not _older(status, earliest)
                    ):
                        return Published(platform_id=str(status["id"]), url=_status_url(status))
                url, params = self._page_link(account, response, "next", url, ("max_id", str(statuses[-1]["id"])))
            return None
        except (RateLimited, Unavailable, Rejected) as exc:
            raise OutcomeUnknown(f"cannot tell whether the post exists: {exc.reason}", retry_at=exc.retry_at) from exc

    async def delete(self, account: AccountAccess, platform_id: str) -> None:
        """Delete one of the account's statuses; a 404 (already gone) is success."""
        path = f"/api/v1/statuses/{quote(platform_id, safe='')}"
        await self._call(account, "DELETE", path, purpose="write", missing_ok=True)

    # -- media -------------------------------------------------------------------------

    async def _upload(self, account: AccountAccess, media: Media) -> str:
        """Upload one attachment and wait until the server has processed it; its id."""
        data = {"description": media.description} if media.description else None
        response = await self._call(
            account,
            "POST",
            "/api/v2/media",
            files={"file": (media.filename, media.data, media.content_type)},
            data=data,
            purpose="write",
        )
        attachment = _json_object(response)
        media_id = str(attachment["id"])
        ready = response.status_code == 200 and bool(attachment.get("url"))
        deadline = time.monotonic() + self.media_poll_timeout
        while not ready:
            if time.monotonic() >= deadline:
                raise Unavailable(f"Mastodon is still processing {media.filename}; try again later")
            await asyncio.sleep(self.media_poll_interval)
            response = await self._call(account, "GET", f"/api/v1/media/{quote(media_id, safe='')}", purpose="read")
            # 206: still processing (its body, if any, is the attachment without a url)
            ready = response.status_code == 200 and bool(_json_object(response).get("url"))
        return media_id

    # -- one HTTP call -----------------------------------------------------------------

    def _url(self, account: AccountAccess, path: str) -> str:
        return account.base_url.rstrip("/") + path

    def _page_link(
        self,
        account: AccountAccess,
        response: httpx.Response,
        rel: str,
        current: str,
        fallback: tuple[str, str],
    ) -> tuple[str, list[tuple[str, str | int]] | None]:
        """The next page: the ``Link`` header's ``rel`` when it points at the same server
        (the token is sent along, so a link elsewhere is never followed), else the
        current URL with the paging parameter built from the page, as the docs allow."""
        link = response.links.get(rel, {}).get("url")
        if link and _same_origin(link, account.base_url):
            return link, None
        params: list[tuple[str, str | int]] = [
            (k, v) for k, v in response.request.url.params.multi_items() if k not in ("min_id", "max_id", "since_id")
        ]
        params.append(fallback)
        return current.split("?", 1)[0], params

    async def _call(
        self,
        account: AccountAccess,
        method: str,
        url_or_path: str,
        *,
        purpose: Purpose,
        params: Sequence[tuple[str, str | int]] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> httpx.Response:
        """Send one request and turn every failure into the connector's errors.

        Checks the budget the last response announced first (``RateLimited`` without
        calling when only the reserve is left), and records the usage headers of every
        answer, errors included."""
        now = dt.datetime.now(dt.UTC)
        retry_at = account.usage.wait_until(now, self.limits.reserve)
        if retry_at is not None:
            raise RateLimited(f"Mastodon's request budget is spent until {retry_at:%H:%M:%S} UTC", retry_at=retry_at)
        token = account.credentials.get("access_token")
        if not token:
            raise TokenExpired("this Mastodon account has no access token; reconnect it")
        url = url_or_path if "://" in url_or_path else self._url(account, url_or_path)
        try:
            response: httpx.Response = await account.client.request(
                method,
                url,
                params=list(params) if params is not None else None,
                data=data,
                files=files,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})},
            )
        except _NOT_SENT as exc:
            raise Unavailable(f"cannot reach {_host(url)}: {_describe(exc)}") from exc
        except httpx.TransportError as exc:
            # sent, perhaps whole: the server may have acted and its answer was lost
            reason = f"no answer from {_host(url)}: {_describe(exc)}"
            if purpose == "create":
                raise OutcomeUnknown(reason) from exc
            raise Unavailable(reason) from exc
        _observe(account, response)
        _raise_for_status(response, purpose=purpose, missing_ok=missing_ok)
        return response


# -- responses ---------------------------------------------------------------------------


def _observe(account: AccountAccess, response: httpx.Response) -> None:
    headers = response.headers
    account.usage.observe(
        headers.get("X-RateLimit-Limit"),
        headers.get("X-RateLimit-Remaining"),
        _timestamp(headers.get("X-RateLimit-Reset")),
    )


def _raise_for_status(response: httpx.Response, *, purpose: Purpose, missing_ok: bool) -> None:
    """A failed answer as the error that tells the plugin what to do next: wait (429),
    ask a person (401/403), try later (5xx; for the post itself: check first), or give
    up on this request (any other 4xx: Mastodon's 404 and 422 mean it will not do it)."""
    status = response.status_code
    if status < 400 or (missing_ok and status == 404):
        return
    message = _error_message(response)
    if status == 429:
        retry_at = _timestamp(response.headers.get("X-RateLimit-Reset")) or _retry_after(response)
        raise RateLimited(f"Mastodon's rate limit: {message}", retry_at=retry_at)
    if status in (401, 403):
        raise TokenExpired(f"Mastodon refused the credentials: {message}")
    if status >= 500:
        if purpose == "create":
            raise OutcomeUnknown(f"Mastodon failed ({status}) after the post was sent: {message}")
        raise Unavailable(f"Mastodon failed ({status}): {message}")
    if status == 408:  # the server gave up reading the request: a time-out, in effect
        if purpose == "create":
            raise OutcomeUnknown(f"Mastodon timed out on the post: {message}")
        raise Unavailable(f"Mastodon timed out: {message}")
    raise Rejected(f"Mastodon refused it ({status}): {message}")


def _error_message(response: httpx.Response) -> str:
    """The ``error`` (and ``error_description``) Mastodon sends, else the reason phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("error"):
        text = str(body["error"])
        if body.get("error_description"):
            text += f": {body['error_description']}"
        return text
    return response.reason_phrase or f"HTTP {response.status_code}"


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = _json(response)
    if not isinstance(body, dict) or "id" not in body:
        raise Unavailable(f"Mastodon answered {response.request.url.path} with something that is not an entity")
    return body


def _json_list(response: httpx.Response) -> list[dict[str, Any]]:
    body = _json(response)
    if not isinstance(body, list) or not all(isinstance(entry, dict) and "id" in entry for entry in body):
        raise Unavailable(f"Mastodon answered {response.request.url.path} with something that is not a list")
    return body


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise Unavailable(f"Mastodon answered {response.request.url.path} with something that is not JSON") from exc


def _older(status: dict[str, Any], earliest: dt.datetime | None) -> bool:
    """Whether the status was made before ``earliest`` (so not by this attempt)."""
    made = _timestamp(status.get("created_at"))
    return earliest is not None and made is not None and made < earliest


def _timestamp(value: str | None) -> dt.datetime | None:
    """An ISO 8601 timestamp (``2019-12-08T03:48:33.901Z``) as an aware datetime; None
    for anything else."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _retry_after(response: httpx.Response) -> dt.datetime | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)


def _text_or_none(entity: Mapping[str, Any], key: str) -> str | None:
    value = entity.get(key)
    return str(value) if value else None


def _status_url(status: Mapping[str, Any]) -> str | None:
    """Where people see a status (``url``; a remote one may have only its ``uri``)."""
    return _text_or_none(status, "url") or _text_or_none(status, "uri")


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


# -- entities ----------------------------------------------------------------------------


def _is_mention(notification: Mapping[str, Any]) -> bool:
    """A mention with its status (a status deleted since has none: nothing to store)."""
    return notification.get("type") == "mention" and isinstance(notification.get("status"), dict)


def _inbound(notification: Mapping[str, Any]) -> InboundItem:
    status: dict[str, Any] = notification["status"]
    account: dict[str, Any] = status.get("account") or notification.get("account") or {}
    text = html_to_text(str(status.get("content") or ""))
    if status.get("spoiler_text"):  # the content warning is part of what was written
        text = f"{status['spoiler_text']}\n\n{text}" if text else str(status["spoiler_text"])
    created = _timestamp(status.get("created_at")) or _timestamp(notification.get("created_at"))
    return InboundItem(
        platform_id=str(status["id"]),
        kind="message" if status.get("visibility") == "direct" else "mention",
        author=Author(
            handle=str(account.get("acct") or account.get("username") or ""),
            display_name=_text_or_none(account, "display_name"),
            platform_id=_text_or_none(account, "id"),
            url=_text_or_none(account, "url"),
        ),
        text=text,
        created_at=created or dt.datetime.now(dt.UTC),
        in_reply_to=_text_or_none(status, "in_reply_to_id"),
        url=_status_url(status),
        tags=tuple(
            str(tag["name"]).lower() for tag in status.get("tags") or () if isinstance(tag, dict) and tag.get("name")
        ),
        language=_text_or_none(status, "language"),  # ISO 639-1, or null when unknown
    )


def _fold(text: str) -> str:
    """Text with every run of whitespace made one space: how Mastodon's rendering (a
    line break becomes ``<br>``, a blank line a new paragraph) is compared."""
    return " ".join(text.split())


# -- HTML to text ------------------------------------------------------------------------

_BLOCKS = {"p", "div", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"}
_VOID = {"br", "img", "hr", "wbr", "input", "meta", "link", "source"}
_SPACE = re.compile(r"\s+")


class _TextParser(HTMLParser):
    """Mastodon's status HTML as the text its author typed: paragraphs separated by a
    blank line, ``<br>`` a line break, links as their full text (Mastodon hides part of
    a long URL in ``invisible`` spans; the text keeps it), and the ``quote-inline``
    fallback paragraph (hidden by Mastodon's own interface) left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0  # depth inside an element left out
        self.pre = 0
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag in _VOID:
            if tag == "br" and not self.hidden:
                self.parts.append("\n")
            return
        self.stack.append(tag)
        if self.hidden:
            self.hidden += 1
            return
        if "quote-inline" in classes:
            self.hidden = 1
            return
        if tag in _BLOCKS:
            self._block()
        elif tag == "li":
            self._line()
            self.parts.append("- ")
        if tag == "pre":
            self.pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self.hidden:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or tag not in self.stack:
            return
        while self.stack:  # close what the HTML left open inside it
            if self.stack.pop() == tag:
                break
        if self.hidden:
            self.hidden -= 1
            return
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _BLOCKS:
            self._block()

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if not self.pre:
            data = _SPACE.sub(" ", data)
            if not self.parts or self.parts[-1].endswith("\n"):
                data = data.lstrip(" ")  # a line does not start with the markup's spacing
        if data:
            self.parts.append(data)

    def _block(self) -> None:
        text = "".join(self.parts)
        if text.strip() and not text.endswith("\n\n"):
            self.parts.append("\n" if text.endswith("\n") else "\n\n")

    def _line(self) -> None:
        text = "".join(self.parts)
        if text.strip() and not text.endswith("\n"):
            self.parts.append("\n")

    def text(self) -> str:
        lines = "".join(self.parts).split("\n")
        return "\n".join(line.rstrip(" ") for line in lines).strip("\n")


def html_to_text(html: str) -> str:
    """The plain text of a status's HTML ``content`` (see ``_TextParser``)."""
    if "<" not in html and "&" not in html:
        return html.strip()
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser.text()
