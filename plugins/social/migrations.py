"""The social plugin's schema steps."""

from __future__ import annotations

from kith.plugins.social.models import SOCIAL_TABLES, Mention, MentionTopic, SocialIdentity
from kith.plugins.social.publishing.models import PUBLISHING_TABLES, PostTarget
from kith.sdk import add_columns, add_index, initial_migration

MIGRATIONS = [
    initial_migration(*SOCIAL_TABLES),
    # an inbound item is stored once per account, however often it is delivered (ids are
    # an account's view: two instances, or two bridges, may give one id to different items)
    add_index("0002_one_mention_per_item", Mention, "account", "platform_id", unique=True),
    # intake's queue, a thread's items, and a contact's mentions
    add_index("0003_mentions_to_process", Mention, "state", "id"),
    add_index("0004_mentions_of_a_thread", Mention, "thread", "posted_at"),
    add_index("0005_mentions_of_a_contact", Mention, "contact", "posted_at"),
    # one identity per handle on a platform; a contact's identities
    add_index("0006_one_identity_per_handle", SocialIdentity, "platform", "handle", unique=True),
    add_index("0007_identities_of_a_contact", SocialIdentity, "contact"),
    # a reply that came before the item it answers is found when that item comes
    add_index("0008_replies_to_an_item", Mention, "account", "in_reply_to"),
    # publishing (plugins/social/publishing)
    initial_migration(*PUBLISHING_TABLES, name="0100_publishing"),
    add_index("0101_targets_of_a_post", PostTarget, "post", "status"),
    # the budgets: calls in flight and posts published today, per account
    add_index("0102_targets_of_an_account", PostTarget, "account", "status", "published_at"),
    add_columns("0103_first_attempt", PostTarget, "first_attempt_at"),
    # listening: what mentions are about (hashtags, the topics setting's keywords)
    initial_migration(MentionTopic, name="0200_mention_topics"),
    add_index("0201_topics_by_tag", MentionTopic, "kind", "tag", "posted_at"),
    add_index("0202_topics_of_a_mention", MentionTopic, "mention"),
]
