"""The connector interface: what the social plugin asks of a platform.

A connector is a small object per platform (``mastodon``, ``webhook``, a vendor's
``bluesky``…) that turns the platform's API into these calls.  Everything stateful
(cursors, publish attempts, rate-limit budgets, retries) lives in the plugin, so a
connector stays a thin, testable translation, and the plugin can guarantee the same
things for every platform:

- ``fetch_items`` returns inbound items after a cursor, and the cursor to use next time; the
  plugin stores the items *before* it stores the cursor, so a crash between the two
  fetches the items again (and deduplicates them by platform id) rather than losing them.
- ``publish`` is called with an idempotency key that stays the same for every attempt of
  one post on one account.  A connector whose platform honours idempotency keys
  (``supports_idempotency``) sends it; then a retry after a time-out is safe.  When the
  connector cannot know whether the platform accepted a post (a time-out after the
  request was sent, a 5xx), it raises ``OutcomeUnknown``: the plugin then asks
  ``find_published`` (or, with idempotency, publishes again with the same key) and
  never blindly retries.
- Every response's usage headers go into ``account.usage`` (``Usage.observe``), so the
  plugin backs off *before* the platform's limit, and a 429 raises ``RateLimited`` with
  the time the budget comes back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: what an inbound item is: a public mention of the account, a comment under one of its
#: posts, a direct message, or a post of the account itself (seen when fetching)
ItemKind = Literal["mention", "comment", "message", "post"]


class ConnectorError(Exception):
    """A platform call failed; ``reason`` is what a person is shown."""

    def __init__(self, reason: str, *, retry_at: dt.datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        #: when trying again makes sense (None: the plugin's own backoff)
        self.retry_at = retry_at


class RateLimited(ConnectorError):
    """429, or the budget the usage headers announced is spent: wait until ``retry_at``."""


class TokenExpired(ConnectorError):
    """The credentials no longer work (401, revoked, expired): the account needs a person
    to reconnect it; nothing is retried until then."""


class Rejected(ConnectorError):
    """The platform refused this request for good (422 text too long, media refused, the
    post to reply to is gone): retrying the same request cannot succeed."""


class Unavailable(ConnectorError):
    """The platform could not be reached, or failed (5xx) before it could have acted:
    safe to retry later (a ``fetch_items`` or ``delete``; a ``publish`` raises ``OutcomeUnknown``
    instead whenever the request may have arrived)."""


class OutcomeUnknown(ConnectorError):
    """A publish whose request was sent but whose answer never came (a time-out, a reset
    connection, a 5xx after sending): the post may exist.  Check, do not retry blindly."""


@dataclass
class Usage:
    """A platform's rate-limit budget for one account, as its last response told it."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: dt.datetime | None = None

    def observe(self, limit: Any, remaining: Any, reset_at: dt.datetime | None) -> None:
        """Record what a response's usage headers said (None or garbage: unknown)."""
        self.limit = _int(limit, self.limit)
        self.remaining = _int(remaining, self.remaining)
        self.reset_at = reset_at or self.reset_at

    def wait_until(self, now: dt.datetime, reserve: int) -> dt.datetime | None:
        """When the next call may be made without spending the last ``reserve`` calls
        of the budget (None: now)."""
        if self.remaining is None or self.reset_at is None or self.remaining > reserve:
            return None
        return self.reset_at if self.reset_at > now else None


def _int(value: Any, default: int | None) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class Limits:
    """What a connector declares about its platform, so the plugin paces itself.

    ``requests``/``per_seconds``: the platform's documented request budget per account;
    ``concurrency``: calls in flight at once per account; ``posts_per_day``: publishes per
    account per day (None: no such limit); ``reserve``: calls of the budget left unspent,
    so the plugin stops before the platform would refuse; ``idempotency_seconds``: how
    long the platform honours an idempotency key."""

    requests: int = 300
    per_seconds: float = 300
    concurrency: int = 2
    posts_per_day: int | None = None
    reserve: int = 5
    #: how long the platform remembers an idempotency key (seconds): within it, a post
    #: whose outcome is unknown is sent again with its key; after it, it is looked for
    idempotency_seconds: float = 3600


@dataclass
class AccountAccess:
    """One managed account as a connector sees it: where its API is, its credentials
    (decrypted for the call only), and the budget its responses report."""

    platform: str
    handle: str
    base_url: str
    credentials: Mapping[str, str]
    client: Any  # an httpx.AsyncClient through Kith's outbound guard (context.http_client)
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class Author:
    handle: str
    display_name: str | None = None
    #: the platform's id of the author (stable when a handle changes)
    platform_id: str | None = None
    url: str | None = None
    #: an address the platform (or a bridge) knows for them: matches a contact by email
    email: str | None = None


@dataclass(frozen=True)
class InboundItem:
    """One mention, comment, message or post, as the platform gave it."""

    platform_id: str
    kind: ItemKind
    author: Author
    text: str
    created_at: dt.datetime
    #: the platform id of the item this one answers (threading), if any
    in_reply_to: str | None = None
    url: str | None = None
    #: hashtags without the ``#``, lower-case
    tags: Sequence[str] = ()
    #: the language the platform says it is in (ISO 639-1), if it says
    language: str | None = None


@dataclass(frozen=True)
class Fetched:
    items: Sequence[InboundItem]
    #: what to pass to the next ``fetch_items`` (None: keep the one used)
    cursor: str | None
    #: the fetch stopped at its page bound with more waiting: fetch again straight away
    more: bool = False


@dataclass(frozen=True)
class Media:
    filename: str
    content_type: str
    data: bytes
    description: str = ""


@dataclass(frozen=True)
class PostRequest:
    text: str
    #: the same for every attempt of this post on this account
    idempotency_key: str
    #: the platform id of the item this post answers (a reply in a thread)
    in_reply_to: str | None = None
    media: Sequence[Media] = ()
    #: when the first attempt was made: ``find_published`` ignores older posts with the
    #: same text (a recurring message), allowing a minute of clock difference
    not_before: dt.datetime | None = None


@dataclass(frozen=True)
class Published:
    platform_id: str
    url: str | None = None


@dataclass(frozen=True)
class AccountInfo:
    handle: str
    display_name: str | None = None
    #: when the credentials stop working, if the platform says
    expires_at: dt.datetime | None = None


class Connector(Protocol):
    """What a platform connector implements (see the module's docstring)."""

    #: the platform's key: ``mastodon``, ``webhook`` …
    platform: str
    #: whether ``publish`` sends the idempotency key and the platform honours it
    supports_idempotency: bool
    limits: Limits

    async def verify(self, account: AccountAccess) -> AccountInfo:
        """Check the credentials; raises ``TokenExpired`` when they do not work."""
        ...

    async def fetch_items(self, account: AccountAccess, cursor: str | None) -> Fetched:
        """Inbound items newer than ``cursor`` (all of them, paging as the platform
        needs), oldest first."""
        ...

    async def publish(self, account: AccountAccess, post: PostRequest) -> Published:
        """Publish ``post``; raises ``OutcomeUnknown`` when it may or may not exist."""
        ...

    async def find_published(self, account: AccountAccess, post: PostRequest) -> Published | None:
        """After ``OutcomeUnknown``: the post if the platform has it, None if it surely
        does not.  Raises ``OutcomeUnknown`` again when it still cannot tell."""
        ...

    async def delete(self, account: AccountAccess, platform_id: str) -> None:
        """Remove a published post (already gone: no error)."""
        ...
