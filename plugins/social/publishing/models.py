"""A post and its targets: the post is what a person writes (a default text, media, a
time); each target is its publication on one account, with its own variant text and
its own state, so one account's failure never holds back or repeats another's."""

from __future__ import annotations

from piccolo.columns import Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.column_types import ForeignKey
from piccolo.table import Table

from kith.plugins.social.models import SocialAccount
from kith.sdk import RecordColumns, User

#: draft: being written; awaiting_approval: an account it goes to needs a second person;
#: scheduled: its targets go out at ``scheduled_at``; done: every target ended (see them);
#: cancelled: withdrawn before going out
POST_STATUSES = ("draft", "awaiting_approval", "scheduled", "done", "cancelled")
#: pending: waits for its time (or for a budget); publishing: the call is being made;
#: unknown: the call's outcome is not known (a time-out after sending) and is being
#: checked against the platform, never blindly retried; published; failed (``error``
#: says why); needs_attention: a person must look (checks could not settle it, or the
#: account needs reconnecting); cancelled
TARGET_STATUSES = ("pending", "publishing", "unknown", "published", "failed", "needs_attention", "cancelled")


class SocialPost(RecordColumns, Table, tablename="social_post"):
    text = Text(default="")
    #: file ids (``context.files``) of images to attach, as a JSON list
    media = Text(default="[]")
    #: when it goes out; a naive time is read in each account's time zone
    scheduled_at = Timestamptz(null=True, default=None)
    status = Varchar(length=20, default="draft")
    #: the platform id of the item it answers (a reply in a thread), e.g. a social ticket's mention
    in_reply_to = Varchar(length=200, null=True, default=None)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    approved_by = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    approved_at = Timestamptz(null=True, default=None)


class PostTarget(RecordColumns, Table, tablename="social_post_target"):
    post = ForeignKey(references=SocialPost, on_delete=OnDelete.cascade)
    account = ForeignKey(references=SocialAccount, on_delete=OnDelete.cascade)
    #: this account's own text (None: the post's)
    text = Text(null=True, default=None)
    status = Varchar(length=20, default="pending")
    #: the same for every attempt on this account: the platform's idempotency key
    idempotency_key = Varchar(length=80, default="")
    attempts = Integer(default=0)
    #: when the first attempt was made (the idempotency key's age; what find_published looks after)
    first_attempt_at = Timestamptz(null=True, default=None)
    #: checks of an unknown outcome made so far
    checks = Integer(default=0)
    #: when this target goes out (the post's time, read in the account's time zone)
    due_at = Timestamptz(null=True, default=None)
    platform_id = Varchar(length=200, null=True, default=None)
    url = Varchar(length=1000, null=True, default=None)
    published_at = Timestamptz(null=True, default=None)
    error = Text(null=True, default=None)


PUBLISHING_TABLES: list[type[Table]] = [SocialPost, PostTarget]
