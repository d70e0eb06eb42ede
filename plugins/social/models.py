"""The social plugin's tables: the accounts a company manages (and, apart, their
encrypted credentials), the social identities of contacts, and inbound mentions.

Publishing keeps its tables in ``publishing/models.py``."""

from __future__ import annotations

from piccolo.columns import BigInt, Boolean, Float, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.sdk import Contact, RecordColumns, User

#: connected: works; reconnect_needed: its credentials stopped working (expired, revoked)
#: and a person must connect it again; paused: a person stopped it (nothing fetched or published)
ACCOUNT_STATUSES = ("connected", "reconnect_needed", "paused")
#: how a social identity came to belong to its contact
MATCHED_BY = ("handle", "email", "agent", "created")
#: what an inbound item is (``connectors.base.ItemKind``)
MENTION_KINDS = ("mention", "comment", "message", "post")
SENTIMENT_LABELS = ("positive", "neutral", "negative")


class SocialAccount(RecordColumns, Table, tablename="social_account"):
    #: the connector's platform key (``mastodon``, ``webhook`` …)
    platform = Varchar(length=40)
    #: the account's handle on its platform (``acme@mastodon.social``), lower-case
    handle = Varchar(length=200)
    display_name = Varchar(length=200, null=True, default=None)
    #: where the platform's API is (``https://mastodon.social``); a webhook account's
    #: bridge URL for posts out (None: it only receives)
    base_url = Varchar(length=500, null=True, default=None)
    status = Varchar(length=20, default="connected")
    #: when the credentials stop working, if the platform said
    token_expires_at = Timestamptz(null=True, default=None)
    #: the time zone posts to it are scheduled in (IANA name)
    time_zone = Varchar(length=60, default="UTC")
    #: posts to it need a second person's approval before they go out
    requires_approval = Boolean(default=False)
    #: publishes a day at most (None: the connector's limit)
    posts_per_day = Integer(null=True, default=None)
    #: where fetching got to (the connector's cursor) and when
    cursor = Text(null=True, default=None)
    fetched_at = Timestamptz(null=True, default=None)
    #: why the last fetch or publish failed, for the person looking after the account
    last_error = Text(null=True, default=None)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)


class SocialCredential(Table, tablename="social_credential"):
    """An account's credentials, encrypted with the ``credentials_key`` setting (Fernet).
    Not an entity: no GraphQL field, export or audit row ever carries them; they are
    written by ``connectSocialAccount`` / ``kith social connect`` and read for a call."""

    account = ForeignKey(references=SocialAccount, on_delete=OnDelete.cascade, unique=True)
    ciphertext = Text()
    updated_at = Timestamptz(null=True, default=None)


class SocialIdentity(RecordColumns, Table, tablename="social_identity"):
    """A contact's handle on a platform: how a mention finds its person."""

    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.cascade)
    platform = Varchar(length=40)
    #: lower-case, without a leading ``@``; unique per platform, so an erased identity
    #: has none (NULL) rather than a shared placeholder
    handle = Varchar(length=200, null=True, default=None)
    display_name = Varchar(length=200, null=True, default=None)
    #: the platform's own id of the person (stable when the handle changes)
    platform_user_id = Varchar(length=200, null=True, default=None)
    profile_url = Varchar(length=500, null=True, default=None)
    matched_by = Varchar(length=10, default="handle")


class Mention(RecordColumns, Table, tablename="social_mention"):
    """One inbound item (a mention, a comment, a direct message), stored before the
    platform's delivery is acknowledged; ``account`` + ``platform_id`` is unique."""

    account = ForeignKey(references=SocialAccount, null=True, default=None, on_delete=OnDelete.set_null)
    platform = Varchar(length=40)
    platform_id = Varchar(length=200)
    kind = Varchar(length=10, default="mention")
    identity = ForeignKey(references=SocialIdentity, null=True, default=None, on_delete=OnDelete.set_null)
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    author_handle = Varchar(length=200)
    author_name = Varchar(length=200, null=True, default=None)
    author_platform_id = Varchar(length=200, null=True, default=None)
    #: an address the platform or bridge gave for the author: matches a contact by email
    author_email = Varchar(length=320, null=True, default=None)
    text = Text(default="")
    #: ISO 639-1, when the platform says (picks the sentiment analyzer)
    language = Varchar(length=10, null=True, default=None)
    url = Varchar(length=1000, null=True, default=None)
    posted_at = Timestamptz(null=True, default=None)
    #: the platform id of the item this one answers, and the mention it is (once both are in)
    in_reply_to = Varchar(length=200, null=True, default=None)
    parent: ForeignKey[Mention] = ForeignKey(references="self", null=True, default=None, on_delete=OnDelete.set_null)
    #: the first mention of its thread (itself for a thread's start)
    thread = BigInt(null=True, default=None)
    #: hashtags, space-separated, lower-case, each between spaces (`` spring sale ``)
    tags = Text(default="")
    sentiment_score = Float(null=True, default=None)
    sentiment_label = Varchar(length=10, null=True, default=None)
    #: the analyzer that scored it (``vader``); None: not scored (no analyzer for its language)
    sentiment_by = Varchar(length=40, null=True, default=None)
    #: received: stored, not yet matched and scored; processed: on the timeline
    state = Varchar(length=10, default="received")
    activity = BigInt(null=True, default=None)
    #: the ticket it became (the service plugin), if any
    ticket = BigInt(null=True, default=None)


#: hashtag: a ``#tag`` of the mention; topic: one of the ``topics`` setting's names, whose
#: keywords the text contains
MENTION_TOPIC_KINDS = ("hashtag", "topic")


class MentionTopic(RecordColumns, Table, tablename="social_mention_topic"):
    """What a mention is about, one row per hashtag or topic: listening's share by topic
    is a count grouped by ``tag`` in SQL.  The contact and account are copied from the
    mention so the rows are visible exactly as their mention is (``owner_via`` contact)."""

    mention = ForeignKey(references=Mention, on_delete=OnDelete.cascade)
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    account = ForeignKey(references=SocialAccount, null=True, default=None, on_delete=OnDelete.set_null)
    kind = Varchar(length=10, default="hashtag")
    tag = Varchar(length=100)
    posted_at = Timestamptz(null=True, default=None)


SOCIAL_TABLES: list[type[Table]] = [SocialAccount, SocialCredential, SocialIdentity, Mention, MentionTopic]
