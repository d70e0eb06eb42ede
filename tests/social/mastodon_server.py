"""A Mastodon-compatible server for the connector tests, on 127.0.0.1 in the test's own
event loop (litestar served by uvicorn on a free port)::

    async with mastodon_server() as server:
        server.mention(from_acct="ann@example.social", text="hello #Kith")
        ...  # call server.url with "Authorization: Bearer " + server.token

It answers as docs.joinmastodon.org documents (and Mastodon's own code does where the
docs are silent), with entities shaped like the documentation's examples:

- ``GET /api/v1/accounts/verify_credentials``; ``GET /api/v1/accounts/:id/statuses``
  (limit default 20, max 40); ``GET /api/v1/notifications`` with ``types[]`` /
  ``exclude_types[]`` (limit default 40, max 80).  Lists are newest first and page with
  ``max_id`` / ``since_id`` / ``min_id`` as Mastodon's ``to_a_paginated_by_id`` does,
  with ``Link: <…max_id=…>; rel="next", <…min_id=…>; rel="prev"`` on a non-empty page.
- ``POST /api/v1/statuses``: ``Idempotency-Key`` kept an hour per account (a repeated
  key answers the status already created, or 404 when it was deleted since, as
  ``@account.statuses.find`` does); 422 ``Validation failed: Text can't be blank`` /
  ``Validation failed: Text character limit of 500 exceeded`` (URLs count 23
  characters, a remote mention its local part); media that is unknown, attached or
  still processing is refused as Mastodon refuses it; an unknown ``in_reply_to_id``
  is a 404.  ``GET`` / ``DELETE /api/v1/statuses/:id`` (404 ``Record not found``).
- ``POST /api/v2/media``: 200 with a ``url``, or 202 without one while "processing"
  (``media_processing_polls``: how many ``GET /api/v1/media/:id`` answer 206 first).
- ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (ISO 8601, the end of the fixed
  window, as rack-attack computes it) on every response; past ``rate_limit`` requests
  per ``rate_window`` seconds a 429 ``{"error": "Too many requests"}``.
- 401 ``{"error": "The access token is invalid"}`` for a missing, wrong or expired token.

Faults a test arms (``server.faults.append(Fault(...))``), each for ``times`` requests
matching ``on`` ("POST /api/v1/statuses" by default for the first three, any request
for the others), after letting ``after`` of them through:

- ``timeout_after_accept``: the request is carried out (the status IS created), then
  the answer is held back ``seconds`` (or until the server stops), past the client's
  time-out;
- ``error_500_before``: a 500 and nothing done;
- ``error_503_after``: carried out, then a 503;
- ``rate_limit``: a 429 whose ``X-RateLimit-Reset`` is ``seconds`` away;
- ``expire_token``: the token stops working from this request on (``revoke_token()``
  does the same at once).

Simplified: one local account owns the token; every request counts against one
budget (Mastodon keeps several, per token, per user, per IP, and reports the closest);
no streaming, polls, scheduled statuses or edits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import uvicorn
from litestar import Litestar, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException

__all__ = ["Fault", "FaultKind", "MastodonServer", "StoredAccount", "StoredMedia", "StoredStatus", "mastodon_server"]

FaultKind = Literal["timeout_after_accept", "error_500_before", "error_503_after", "rate_limit", "expire_token"]

_CREATING = ("timeout_after_accept", "error_500_before", "error_503_after")

#: Mastodon's own texts (config/locales/en.yml)
INVALID_TOKEN = "The access token is invalid"
NOT_FOUND = "Record not found"
TOO_MANY_REQUESTS = "Too many requests"
REPLY_NOT_FOUND = "The post you are trying to reply to does not appear to exist."
TEXT_BLANK = "Validation failed: Text can't be blank"
TEXT_TOO_LONG = "Validation failed: Text character limit of 500 exceeded"
MEDIA_NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!"
MEDIA_TOO_MANY = "Cannot attach more than 4 files"
MEDIA_INVALID = "Validation failed: File content type is invalid, File is invalid"
ERROR_500 = "We're sorry, but something went wrong on our end."
ERROR_503 = "The page could not be served due to a temporary server failure."

MAX_CHARS = 500
URL_LENGTH = 23  # every link counts as this many characters, whatever its length


@dataclass
class Fault:
    """A failure the server plays on the next ``times`` requests matching ``on``
    ("METHOD /path" or a prefix of it; "*" any request; None: the kind's default),
    after letting ``after`` of them through.  ``times=None``: every matching request."""

    kind: FaultKind
    times: int | None = 1
    on: str | None = None
    after: int = 0
    #: rate_limit: the reset is this far away; timeout_after_accept: how long the answer
    #: is held back (the server's stop ends the wait sooner)
    seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.on is None:
            self.on = "POST /api/v1/statuses" if self.kind in _CREATING else "*"

    def matches(self, method: str, path: str) -> bool:
        if self.on == "*":
            return True
        want_method, _, want_path = (self.on or "").partition(" ")
        return want_method.upper() == method.upper() and path.startswith(want_path)


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]


@dataclass
class StoredAccount:
    id: str
    username: str
    acct: str
    display_name: str
    url: str
    created_at: dt.datetime


@dataclass
class StoredMedia:
    id: str
    type: str
    filename: str
    content_type: str
    size: int
    description: str | None
    url: str
    #: GETs that still answer 206 (processing)
    polls_left: int = 0
    status_id: str | None = None


@dataclass
class StoredStatus:
    """A status as the server keeps it: ``text`` as typed, ``content`` as rendered."""

    id: str
    account: StoredAccount
    text: str
    content: str
    created_at: dt.datetime
    visibility: str = "public"
    in_reply_to_id: str | None = None
    in_reply_to_account_id: str | None = None
    media_ids: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    mentions: list[StoredAccount] = field(default_factory=list)
    spoiler_text: str = ""
    idempotency_key: str | None = None
    #: the mention notification it caused (statuses by other accounts)
    notification_id: str | None = None


@dataclass
class StoredNotification:
    id: str
    type: str
    created_at: dt.datetime
    account: StoredAccount
    status: StoredStatus | None


class MastodonServer:
    """The server's state: what tests arrange and inspect."""

    def __init__(self, *, url: str = "http://127.0.0.1", rate_limit: int = 300, rate_window: float = 300) -> None:
        self.url = url
        self.token = secrets.token_urlsafe(24)
        self.token_valid = True
        #: the rate-limit budget: requests per fixed window of ``rate_window`` seconds
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        #: statuses the token's account published and has not deleted, oldest first
        self.statuses: list[StoredStatus] = []
        self.deleted: list[StoredStatus] = []
        #: statuses by other accounts (``mention``)
        self.others: list[StoredStatus] = []
        self.notifications: list[StoredNotification] = []
        self.media: dict[str, StoredMedia] = {}
        #: how many ``GET /api/v1/media/:id`` answer 206 before an upload is processed
        #: (0: images are processed at once and the upload answers 200)
        self.media_processing_polls = 0
        self.idempotency_ttl = 3600.0
        self._idempotency: dict[str, tuple[str, float]] = {}
        self._idempotency_locks: dict[str, asyncio.Lock] = {}
        self._window: int | None = None
        self._used = 0
        self._last_id = 0
        self._closing = asyncio.Event()
        self.accounts: dict[str, StoredAccount] = {}
        self.me = self._account("kith", display_name="Kith CRM")

    # -- what tests call ---------------------------------------------------------------

    @property
    def domain(self) -> str:
        return self.url.split("://", 1)[-1]

    def release(self) -> None:
        """Answers held back (``timeout_after_accept``) are sent now."""
        self._closing.set()

    def revoke_token(self) -> None:
        """The token stops working: 401 from now on."""
        self.token_valid = False

    def mention(
        self,
        *,
        from_acct: str = "ann@example.social",
        text: str = "hello",
        in_reply_to_id: str | None = None,
        visibility: str = "public",
        display_name: str | None = None,
        content: str | None = None,
        spoiler_text: str = "",
        created_at: dt.datetime | None = None,
    ) -> StoredStatus:
        """A status by ``from_acct`` mentioning this server's account (``@kith`` is put
        in front of ``text`` unless it mentions it already) and its ``mention``
        notification.  ``content``: the HTML as is, instead of rendering ``text``."""
        author = self._account(from_acct, display_name=display_name)
        if not re.search(rf"(?<![\w@])@{self.me.username}(?![\w@])", text):
            text = f"@{self.me.username} {text}"
        rendered, tags, mentioned = self.render(text)
        reply_to = self._find_status(in_reply_to_id) if in_reply_to_id else None
        status = StoredStatus(
            id=self._next_id(),
            account=author,
            text=text,
            content=content if content is not None else rendered,
            created_at=created_at or _now(),
            visibility=visibility,
            in_reply_to_id=in_reply_to_id,
            in_reply_to_account_id=reply_to.account.id if reply_to else None,
            tags=tags,
            mentions=mentioned,
            spoiler_text=spoiler_text,
        )
        self.others.append(status)
        notification = StoredNotification(self._next_id(), "mention", status.created_at, author, status)
        self.notifications.append(notification)
        status.notification_id = notification.id
        return status

    def notify(self, kind: str, from_acct: str = "bob@example.social") -> StoredNotification:
        """A notification of another ``kind`` (``follow``, ``favourite``…)."""
        author = self._account(from_acct)
        notification = StoredNotification(self._next_id(), kind, _now(), author, None)
        self.notifications.append(notification)
        return notification

    def status(self, status_id: str) -> StoredStatus | None:
        """A live status by id (the account's or another's)."""
        return self._find_status(status_id)

    # -- rendering, as Mastodon's TextFormatter does -------------------------------------

    _TOKENS = re.compile(
        r"(?P<url>https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'])"
        r"|(?<![\w/@])#(?P<tag>\w*[^\W\d_]\w*)"
        r"|(?<![\w/@])@(?P<user>\w+)(?:@(?P<domain>[\w.-]+\w))?"
    )

    def render(self, text: str) -> tuple[str, list[str], list[StoredAccount]]:
        """``text`` as status HTML (links, hashtags and mentions linked; a blank line a
        new paragraph, a line break ``<br />``), its hashtags and the accounts it
        mentions."""
        tags: list[str] = []
        mentioned: list[StoredAccount] = []
        pieces: list[str] = []
        at = 0
        for match in self._TOKENS.finditer(text):
            pieces.append(html.escape(text[at : match.start()], quote=False))
            at = match.end()
            if match["url"]:
                pieces.append(_link(match["url"]))
            elif match["tag"]:
                tag = match["tag"]
                if tag.lower() not in (t.lower() for t in tags):
                    tags.append(tag)
                href = f"{self.url}/tags/{tag.lower()}"
                pieces.append(
                    f'<a href="{href}" class="mention hashtag" rel="tag">#<span>{html.escape(tag)}</span></a>'
                )
            else:
                acct = match["user"] if match["domain"] in (None, self.domain) else f"{match['user']}@{match['domain']}"
                account = self._account(acct)
                if account not in mentioned:
                    mentioned.append(account)
                pieces.append(
                    f'<span class="h-card" translate="no"><a href="{account.url}" class="u-url mention">'
                    f"@<span>{html.escape(account.username)}</span></a></span>"
                )
        pieces.append(html.escape(text[at:], quote=False))
        body = "".join(pieces).strip()
        paragraphs = [p.replace("\n", "<br />") for p in re.split(r"\n\s*\n", body) if p.strip()]
        return "".join(f"<p>{p.strip()}</p>" for p in paragraphs), tags, mentioned

    # -- the app -------------------------------------------------------------------------

    def app(self) -> Litestar:
        server = self

        @get("/api/v1/accounts/verify_credentials")
        async def verify_credentials(request: Request[Any, Any, Any]) -> Response[Any]:
            return await server.dispatch(request, server.verify_credentials)

        @get("/api/v1/accounts/{account_id:str}/statuses")
        async def account_statuses(request: Request[Any, Any, Any]) -> Response[Any]:
            return await server.dispatch(request, server.account_statuses, str(request.path_params["account_id"]))

        @get("/api/v1/notifications")
        async def notifications(request: Request[Any, Any, Any]) -> Response[Any]:
            return await server.dispatch(request, server.list_notifications)

        @post("/api/v1/statuses")
        async def create_status(request: Request[Any, Any, Any]) -> Response[Any]:
            return await server.dispatch(request, server.create_status)

        @get("/api/v1/statuses/{status_id:str}")
        async def show_status(request: Request[Any, Any, Any]) -> Response[Any]:
            return await server.dispatch(request, server.show_status, str(request.path_params["status_id"]))

        @delete("/api/v1/statuses/{status_id:str}", status_code=200)
        async def delete_status(request: Request[Any, Any, Any]) -> Response[Any]:
            return await server.dispatch(request, server.delete_status, str(request.path_params["status_id"]))

        @post("/api/v2/media")
        async def upload_media(request: Request[Any, Any, Any]) -> Response[Any]:
            return await server.dispatch(request, server.upload_media)

        @get("/api/v1/media/{media_id:str}")
        async def show_media(request: Request[Any, Any, Any]) -> Response[Any]:
            return await server.dispatch(request, server.show_media, str(request.path_params["media_id"]))

        def not_found(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
            return Response({"error": NOT_FOUND}, status_code=404)

        return Litestar(
            route_handlers=[
                verify_credentials,
                account_statuses,
                notifications,
                create_status,
                show_status,
                delete_status,
                upload_media,
                show_media,
            ],
            exception_handlers={NotFoundException: not_found},
            logging_config=None,
            openapi_config=None,
            debug=False,
        )

    async def dispatch(
        self,
        request: Request[Any, Any, Any],
        action: Callable[..., Awaitable[tuple[int, Any, dict[str, str]]]],
        *args: str,
    ) -> Response[Any]:
        """One request: logged, faults played, the budget counted (before the app, as
        rack-attack does), the token checked, then ``action``."""
        method, path = request.method, request.url.path
        self.requests.append(
            LoggedRequest(method, path, list(request.query_params.multi_items()), dict(request.headers.items()))
        )
        fault = self._take_fault(method, path)
        now = time.time()
        if fault is not None and fault.kind == "rate_limit":
            reset = dt.datetime.fromtimestamp(now + fault.seconds, dt.UTC)
            headers = {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": "0"}
            headers["X-RateLimit-Reset"] = _iso(reset)
            return Response({"error": TOO_MANY_REQUESTS}, status_code=429, headers=headers)
        if fault is not None and fault.kind == "expire_token":
            self.token_valid = False
        usage = self._count(now)
        if int(usage["X-RateLimit-Remaining"]) < 0:
            usage["X-RateLimit-Remaining"] = "0"
            return Response({"error": TOO_MANY_REQUESTS}, status_code=429, headers=usage)
        if fault is not None and fault.kind == "error_500_before":
            return Response({"error": ERROR_500}, status_code=500, headers=usage)
        if not self._authorised(request):
            return Response({"error": INVALID_TOKEN}, status_code=401, headers=usage)
        status_code, body, headers = await action(request, *args)
        if fault is not None and fault.kind == "error_503_after":
            return Response({"error": ERROR_503}, status_code=503, headers=usage)
        if fault is not None and fault.kind == "timeout_after_accept":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.seconds)
        return Response(body, status_code=status_code, headers={**usage, **headers})

    # -- endpoints: (status code, body, extra headers) -----------------------------------

    async def verify_credentials(self, request: Request[Any, Any, Any]) -> tuple[int, Any, dict[str, str]]:
        body = self.account_json(self.me)
        body["source"] = {
            "privacy": "public",
            "sensitive": False,
            "language": "",
            "note": "",
            "fields": [],
            "follow_requests_count": 0,
            "attribution_domains": [],
            "hide_collections": False,
            "discoverable": True,
            "indexable": True,
        }
        body["role"] = {"id": "-99", "name": "", "permissions": "65536", "color": "", "highlighted": False}
        return 200, body, {}

    async def account_statuses(
        self, request: Request[Any, Any, Any], account_id: str
    ) -> tuple[int, Any, dict[str, str]]:
        account = next((a for a in self.accounts.values() if a.id == account_id), None)
        if account is None:
            return 404, {"error": NOT_FOUND}, {}
        mine = [s for s in [*self.statuses, *self.others] if s.account is account]
        page, link = self._page(request, mine, default=20, maximum=40, keep=("limit", "exclude_reblogs"))
        return 200, [self.status_json(s) for s in page], link

    async def list_notifications(self, request: Request[Any, Any, Any]) -> tuple[int, Any, dict[str, str]]:
        query = request.query_params
        types = set(query.getall("types[]", []))
        excluded = set(query.getall("exclude_types[]", []))
        chosen = [n for n in self.notifications if (not types or n.type in types) and n.type not in excluded]
        page, link = self._page(
            request, chosen, default=40, maximum=80, keep=("limit", "types[]", "exclude_types[]", "account_id")
        )
        return 200, [self.notification_json(n) for n in page], link

    async def create_status(self, request: Request[Any, Any, Any]) -> tuple[int, Any, dict[str, str]]:
        form = await _params(request)
        text = _one(form, "status") or ""
        reply_to_id = _one(form, "in_reply_to_id") or None
        media_ids = form.get("media_ids[]") or form.get("media_ids") or []
        reply_to = self._find_status(reply_to_id) if reply_to_id else None
        if reply_to_id and reply_to is None:  # set_thread, a before_action
            return 404, {"error": REPLY_NOT_FOUND}, {}
        key = request.headers.get("Idempotency-Key")
        if not key:
            return self._create(form, text, reply_to, media_ids, None)
        lock = self._idempotency_locks.setdefault(key, asyncio.Lock())
        async with lock:
            seen = self._idempotency.get(key)
            if seen is not None and time.monotonic() - seen[1] < self.idempotency_ttl:
                existing = next((s for s in self.statuses if s.id == seen[0]), None)
                if existing is None:  # @account.statuses.find: deleted since
                    return 404, {"error": NOT_FOUND}, {}
                return 200, self.status_json(existing), {}
            return self._create(form, text, reply_to, media_ids, key)

    def _create(
        self,
        form: dict[str, list[str]],
        text: str,
        reply_to: StoredStatus | None,
        media_ids: list[str],
        key: str | None,
    ) -> tuple[int, Any, dict[str, str]]:
        if len(media_ids) > 4:
            return 422, {"error": MEDIA_TOO_MANY}, {}
        media = [self.media.get(m) for m in media_ids]
        missing = [m for m, found in zip(media_ids, media, strict=True) if found is None or found.status_id]
        if missing:
            return 422, {"error": f"Media {', '.join(missing)} not found or already attached to another post"}, {}
        if any(m is not None and m.polls_left > 0 for m in media):
            return 422, {"error": MEDIA_NOT_READY}, {}
        if not text.strip() and not media_ids:
            return 422, {"error": TEXT_BLANK}, {}
        if _length(text) > MAX_CHARS:
            return 422, {"error": TEXT_TOO_LONG}, {}
        content, tags, mentioned = self.render(text)
        status = StoredStatus(
            id=self._next_id(),
            account=self.me,
            text=text,
            content=content,
            created_at=_now(),
            visibility=_one(form, "visibility") or "public",
            in_reply_to_id=reply_to.id if reply_to else None,
            in_reply_to_account_id=reply_to.account.id if reply_to else None,
            media_ids=list(media_ids),
            tags=tags,
            mentions=mentioned,
            spoiler_text=_one(form, "spoiler_text") or "",
            idempotency_key=key,
        )
        for m in media:
            assert m is not None
            m.status_id = status.id
        self.statuses.append(status)
        if key:
            self._idempotency[key] = (status.id, time.monotonic())
        return 200, self.status_json(status), {}

    async def show_status(self, request: Request[Any, Any, Any], status_id: str) -> tuple[int, Any, dict[str, str]]:
        status = self._find_status(status_id)
        if status is None:
            return 404, {"error": NOT_FOUND}, {}
        return 200, self.status_json(status), {}

    async def delete_status(self, request: Request[Any, Any, Any], status_id: str) -> tuple[int, Any, dict[str, str]]:
        status = next((s for s in self.statuses if s.id == status_id), None)
        if status is None:  # not owned by you or does not exist
            return 404, {"error": NOT_FOUND}, {}
        self.statuses.remove(status)
        self.deleted.append(status)
        body = self.status_json(status)
        body["text"] = status.text  # the source, for delete-and-redraft
        return 200, body, {}

    async def upload_media(self, request: Request[Any, Any, Any]) -> tuple[int, Any, dict[str, str]]:
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.content_type:
            return 422, {"error": MEDIA_INVALID}, {}
        kind = upload.content_type.split("/", 1)[0]
        if kind not in ("image", "video", "audio"):
            return 422, {"error": MEDIA_INVALID}, {}
        data = await upload.read()
        media_id = self._next_id()
        description = form.get("description")
        polls = self.media_processing_polls if kind == "image" else max(1, self.media_processing_polls)
        media = StoredMedia(
            id=media_id,
            type=kind,
            filename=upload.filename,
            content_type=upload.content_type,
            size=len(data),
            description=description if isinstance(description, str) else None,
            url=f"{self.url}/system/media_attachments/files/{media_id}/original/{upload.filename}",
            polls_left=polls,
        )
        self.media[media_id] = media
        return (202 if polls else 200), self.media_json(media), {}

    async def show_media(self, request: Request[Any, Any, Any], media_id: str) -> tuple[int, Any, dict[str, str]]:
        media = self.media.get(media_id)
        if media is None:
            return 404, {"error": NOT_FOUND}, {}
        if media.polls_left > 0:
            media.polls_left -= 1
            return 206, self.media_json(media, processing=True), {}
        return 200, self.media_json(media), {}

    # -- entities ------------------------------------------------------------------------

    def account_json(self, account: StoredAccount) -> dict[str, Any]:
        count = sum(1 for s in [*self.statuses, *self.others] if s.account is account)
        return {
            "id": account.id,
            "username": account.username,
            "acct": account.acct,
            "display_name": account.display_name,
            "locked": False,
            "bot": False,
            "discoverable": True,
            "group": False,
            "created_at": _iso(account.created_at, 3),
            "note": "",
            "url": account.url,
            "uri": account.url.replace("/@", "/users/"),
            "avatar": f"{self.url}/avatars/original/missing.png",
            "avatar_static": f"{self.url}/avatars/original/missing.png",
            "header": f"{self.url}/headers/original/missing.png",
            "header_static": f"{self.url}/headers/original/missing.png",
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": count,
            "last_status_at": None,
            "indexable": True,
            "roles": [],
            "emojis": [],
            "fields": [],
        }

    def status_json(self, status: StoredStatus) -> dict[str, Any]:
        origin = status.account.url.rsplit("/@", 1)[0]
        return {
            "id": status.id,
            "created_at": _iso(status.created_at, 3),
            "in_reply_to_id": status.in_reply_to_id,
            "in_reply_to_account_id": status.in_reply_to_account_id,
            "sensitive": False,
            "spoiler_text": status.spoiler_text,
            "visibility": status.visibility,
            "language": "en",
            "uri": f"{origin}/users/{status.account.username}/statuses/{status.id}",
            "url": f"{status.account.url}/{status.id}",
            "replies_count": sum(1 for s in [*self.statuses, *self.others] if s.in_reply_to_id == status.id),
            "reblogs_count": 0,
            "favourites_count": 0,
            "quotes_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "pinned": False,
            "content": status.content,
            "filtered": [],
            "reblog": None,
            "application": {"name": "Kith", "website": None} if status.account is self.me else None,
            "account": self.account_json(status.account),
            "media_attachments": [self.media_json(self.media[m]) for m in status.media_ids if m in self.media],
            "mentions": [{"id": a.id, "username": a.username, "url": a.url, "acct": a.acct} for a in status.mentions],
            "tags": [{"name": t, "url": f"{self.url}/tags/{t.lower()}"} for t in status.tags],
            "emojis": [],
            "quote": None,
            "card": None,
            "poll": None,
        }

    def notification_json(self, notification: StoredNotification) -> dict[str, Any]:
        return {
            "id": notification.id,
            "type": notification.type,
            "group_key": f"ungrouped-{notification.id}",
            "created_at": _iso(notification.created_at, 3),
            "account": self.account_json(notification.account),
            "status": self.status_json(notification.status) if notification.status else None,
        }

    def media_json(self, media: StoredMedia, *, processing: bool | None = None) -> dict[str, Any]:
        busy = media.polls_left > 0 if processing is None else processing
        small = media.url.replace("/original/", "/small/")
        return {
            "id": media.id,
            "type": media.type,
            "url": None if busy else media.url,
            "preview_url": small,
            "remote_url": None,
            "text_url": f"{self.url}/media/{media.id}",
            "meta": {
                "original": {"width": 640, "height": 480, "size": "640x480", "aspect": 1.3333333333333333},
                "small": {"width": 461, "height": 346, "size": "461x346", "aspect": 1.3323699421965318},
            },
            "description": media.description,
            "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}",
        }

    # -- internals -----------------------------------------------------------------------

    def _account(self, acct: str, *, display_name: str | None = None) -> StoredAccount:
        acct = acct.lstrip("@")
        if acct.endswith(f"@{self.domain}"):
            acct = acct.split("@", 1)[0]
        if acct in self.accounts:
            return self.accounts[acct]
        username, _, domain = acct.partition("@")
        origin = f"https://{domain}" if domain else self.url
        account = StoredAccount(
            id=self._next_id(),
            username=username,
            acct=acct,
            display_name=display_name if display_name is not None else username.capitalize(),
            url=f"{origin}/@{username}",
            created_at=_now(),
        )
        self.accounts[acct] = account
        return account

    def _find_status(self, status_id: str | None) -> StoredStatus | None:
        return next((s for s in [*self.statuses, *self.others] if s.id == status_id), None)

    def _next_id(self) -> str:
        """Ids as Mastodon makes them (milliseconds << 16, then a sequence): increasing
        numbers, as strings."""
        self._last_id = max(self._last_id + 1, int(time.time() * 1000) << 16)
        return str(self._last_id)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                return fault
        return None

    def _count(self, now: float) -> dict[str, str]:
        """Count one request in the fixed window it falls in; its usage headers."""
        window = int(now // self.rate_window)
        if window != self._window:
            self._window, self._used = window, 0
        self._used += 1
        reset = dt.datetime.fromtimestamp((window + 1) * self.rate_window, dt.UTC)
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(self.rate_limit - self._used),
            "X-RateLimit-Reset": _iso(reset),
        }

    def _authorised(self, request: Request[Any, Any, Any]) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return self.token_valid and scheme.lower() == "bearer" and secrets.compare_digest(token, self.token)

    def _page(
        self,
        request: Request[Any, Any, Any],
        entries: Sequence[Any],
        *,
        default: int,
        maximum: int,
        keep: tuple[str, ...],
    ) -> tuple[list[Any], dict[str, str]]:
        """One page of ``entries`` (each with an ``id``), newest first, as Mastodon's
        ``to_a_paginated_by_id``: with ``min_id`` the ``limit`` entries just above it,
        else the newest ``limit`` below ``max_id`` and above ``since_id``; and the
        ``Link`` header of a non-empty page."""
        query = request.query_params
        try:
            limit = abs(int(query.get("limit") or default)) or default
        except ValueError:
            limit = default
        limit = min(limit, maximum)
        max_id, since_id, min_id = (_id(query.get(name)) for name in ("max_id", "since_id", "min_id"))
        ordered = sorted(entries, key=lambda e: int(e.id))
        below = [e for e in ordered if max_id is None or int(e.id) < max_id]
        if min_id is not None:
            page = [e for e in below if int(e.id) > min_id][:limit][::-1]
        else:
            page = [e for e in below if since_id is None or int(e.id) > since_id][::-1][:limit]
        if not page:
            return page, {}
        kept = [(k, v) for k, v in query.multi_items() if k in keep]
        base = f"{self.url}{request.url.path}"
        next_url = f"{base}?{urlencode([*kept, ('max_id', page[-1].id)])}"
        prev_url = f"{base}?{urlencode([*kept, ('min_id', page[0].id)])}"
        return page, {"Link": f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'}


# -- helpers -----------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime, digits: int = 6) -> str:
    """Ruby's ``iso8601(digits)`` of a UTC time: ``2019-12-08T03:48:33.901Z``."""
    moment = moment.astimezone(dt.UTC)
    fraction = f"{moment.microsecond:06d}"[:digits]
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"


def _id(value: str | None) -> int | None:
    """A paging parameter as Rails reads it (``to_i``: garbage is 0)."""
    if value is None or value == "":
        return None
    match = re.match(r"\d+", value)
    return int(match.group()) if match else 0


def _length(text: str) -> int:
    """Mastodon's count: a URL is 23 characters, a remote mention its ``@user`` part."""
    text = re.sub(r"https?://[^\s<>\"]+", "x" * URL_LENGTH, text)
    text = re.sub(r"(?<![\w/])@(\w+)@[\w.-]+\w", r"@\1", text)
    return len(text)


def _link(url: str) -> str:
    """A URL as Mastodon links it: the scheme (and ``www.``) hidden, the rest shown up
    to 30 characters with an ellipsis, the tail hidden."""
    match = re.match(r"(https?://(?:www\.)?)(.*)", url)
    prefix, rest = (match.group(1), match.group(2)) if match else ("", url)
    shown, hidden = rest[:30], rest[30:]
    shown_class = "ellipsis" if hidden else ""
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{html.escape(prefix)}</span>'
        f'<span class="{shown_class}">{html.escape(shown)}</span>'
        f'<span class="invisible">{html.escape(hidden)}</span></a>'
    )


async def _params(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    """The request's parameters, from a form or a JSON body (Mastodon takes both)."""
    if request.headers.get("Content-Type", "").startswith("application/json"):
        body = await request.json()
        result: dict[str, list[str]] = {}
        for key, value in (body or {}).items():
            values = value if isinstance(value, list) else [value]
            result[key] = [str(v) for v in values if v is not None]
        return result
    form = await request.form()
    return {key: [v for v in form.getall(key) if isinstance(v, str)] for key in form}


def _one(form: dict[str, list[str]], key: str) -> str | None:
    values = form.get(key)
    return values[0] if values else None


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C stops the tests, not just the server."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def mastodon_server(*, rate_limit: int = 300, rate_window: float = 300) -> AsyncIterator[MastodonServer]:
    """A ``MastodonServer`` listening on 127.0.0.1 (a free port) until the block ends."""
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say they
    # are TCP, and without it every answer on a kept-alive connection waits 40 ms for
    # the client's delayed ACK
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    state = MastodonServer(url=f"http://127.0.0.1:{port}", rate_limit=rate_limit, rate_window=rate_window)
    config = uvicorn.Config(
        state.app(), log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why it could not start
            await asyncio.sleep(0.005)
        yield state
    finally:
        state.release()  # held answers (timeout_after_accept) end now
        server.should_exit = True
        await task
        sock.close()
