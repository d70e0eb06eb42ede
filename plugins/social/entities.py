"""What the social plugin declares: its entities, and how each role may use them."""

from __future__ import annotations

from typing import Any

from kith.plugins.social.models import (
    ACCOUNT_STATUSES,
    MATCHED_BY,
    MENTION_KINDS,
    MENTION_TOPIC_KINDS,
    SENTIMENT_LABELS,
    Mention,
    MentionTopic,
    SocialAccount,
    SocialIdentity,
)
from kith.plugins.social.publishing.models import POST_STATUSES, TARGET_STATUSES, PostTarget, SocialPost
from kith.sdk import Entity, Grant, RoleDefinition


def _handle(value: Any, region: Any) -> str:
    """Handles compare without case or a leading ``@``: ``@Ann@Example.social`` is
    ``ann@example.social``."""
    text = str(value or "").strip().lstrip("@").lower()
    if not text:
        raise ValueError("must not be empty")
    return text


def entities() -> list[Entity]:
    return [
        Entity(
            "social_account",
            SocialAccount,
            label="Social account",
            required=("platform", "handle"),
            searchable=("handle", "display_name"),
            choices={"status": ACCOUNT_STATUSES},
            normalisers={"handle": _handle},
            read_only=("cursor", "fetched_at", "last_error", "token_expires_at"),
            reverse={"owner": None},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "social_identity",
            SocialIdentity,
            label="Social identity",
            plural="social_identities",
            required=("platform", "handle"),
            searchable=("handle", "display_name"),
            personal=("handle", "display_name", "platform_user_id", "profile_url"),
            choices={"matched_by": MATCHED_BY},
            normalisers={"handle": _handle},
            reverse={"contact": "socialIdentities"},
            owner_via="contact",
            timeline=False,
            customizable=False,
        ),
        Entity(
            "social_mention",
            Mention,
            label="Social mention",
            required=("platform", "platform_id", "author_handle"),
            searchable=("text", "author_handle", "author_name"),
            personal=("text", "author_handle", "author_name", "author_platform_id", "author_email", "url"),
            choices={"kind": MENTION_KINDS, "sentiment_label": SENTIMENT_LABELS},
            read_only=("state", "activity", "thread", "sentiment_by"),
            reverse={"account": "mentions", "contact": "socialMentions", "identity": "mentions", "parent": "replies"},
            owner_via="contact",
            mutations=False,  # written by the connectors' intake only
            timeline=False,
            customizable=False,
        ),
        Entity(
            "social_mention_topic",
            MentionTopic,
            label="Social mention topic",
            required=("mention", "tag"),
            choices={"kind": MENTION_TOPIC_KINDS},
            reverse={"mention": "topics", "contact": None, "account": None},
            owner_via="contact",
            mutations=False,  # written with their mention
            timeline=False,
            customizable=False,
        ),
        Entity(
            "social_post",
            SocialPost,
            label="Social post",
            searchable=("text",),
            choices={"status": POST_STATUSES},
            read_only=("status", "scheduled_at", "approved_at"),
            reverse={"owner": None, "approved_by": None},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "social_post_target",
            PostTarget,
            label="Social post target",
            choices={"status": TARGET_STATUSES},
            reverse={"post": "targets", "account": "posts"},
            owner_via="post",
            mutations=False,  # written by schedulePost and the publisher
            timeline=False,
            customizable=False,
        ),
    ]


READ = Grant(actions=["read"])
ALL = Grant(actions=["read", "create", "update", "delete", "restore"])


def roles() -> list[RoleDefinition]:
    """Social media managers look after accounts, identities and posts; approvers also
    approve posts that need a second person: approving sets the post's ``approved_by``,
    which the manager's grant makes read-only, so the grant is the rule."""
    manager = {
        "social_account": ALL,
        "social_post": Grant(actions=["read", "create", "update", "delete", "restore"], read_only=["approved_by"]),
        "social_post_target": READ,
        "social_identity": ALL,
        "social_mention": READ,
        "social_mention_topic": READ,
        "contact": Grant(actions=["read", "create", "update"]),
        "organization": READ,
        "activity": READ,
        **{name: READ for name in ("user", "team", "tag")},
    }
    return [
        RoleDefinition(
            name="social_media_manager",
            description="Connects social accounts, reads mentions, links identities and writes posts.",
            grants=manager,
        ),
        RoleDefinition(
            name="social_approver",
            description="A social media manager who may also approve posts that need a second person.",
            grants={**manager, "social_post": ALL},
        ),
    ]
