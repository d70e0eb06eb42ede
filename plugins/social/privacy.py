"""What the social plugin holds about a person, for ``kith gdpr export|erase``.

Their own records: their social identities (the handles that find them), the mentions
they wrote (by contact, or by one of those identities) and what those mentions are
about (``social_mention_topic``).  The core exports them and, on erasure, clears their
personal fields (the handle, the name, the text, the address a bridge gave …), cuts
the person's values out of the rest and of their timeline and journals; the rows stay,
so a platform delivering the same item again stores nothing (items are unique by
their platform id) and counts still add up.

Shared records that involve them are scrubbed only of the person's values: other
people's replies to their mentions (which name them) and the posts, with their
targets, that answered them.

An identity's handle is unique per platform, so it is nullable: the core erases it to
no handle (a shared ``[erased]`` placeholder would collide for the second person erased
on a platform, or for one person with two handles there).
"""

from __future__ import annotations

from typing import Any

from kith.plugins.social.models import Mention, MentionTopic, SocialIdentity
from kith.plugins.social.publishing.models import PostTarget, SocialPost
from kith.sdk import PersonalRecords, PluginContext


def _ids(rows: list[dict[str, Any]]) -> list[int]:
    return sorted({int(row["id"]) for row in rows})


async def footprint(contact: dict[str, Any]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """(the person's own records, shared ones that involve them), by entity; deleted
    records included, as they still hold the person's data."""
    contact_id = int(contact["id"])
    identities = _ids(await SocialIdentity.select(SocialIdentity.id).where(SocialIdentity.contact == contact_id))
    theirs: Any = Mention.contact == contact_id
    if identities:
        theirs = theirs | Mention.identity.is_in(identities)
    written = await Mention.select(Mention.id, Mention.platform, Mention.platform_id).where(theirs)
    mentions = _ids(written)
    topics: list[int] = []
    replies: list[int] = []
    posts: list[int] = []
    targets: list[int] = []
    if mentions:
        topics = _ids(
            await MentionTopic.select(MentionTopic.id).where(
                MentionTopic.mention.is_in(mentions) | (MentionTopic.contact == contact_id)
            )
        )
        replies = [
            i for i in _ids(await Mention.select(Mention.id).where(Mention.parent.is_in(mentions))) if i not in mentions
        ]
        answered = sorted({str(m["platform_id"]) for m in written})
        posts = _ids(await SocialPost.select(SocialPost.id).where(SocialPost.in_reply_to.is_in(answered)))
        if posts:
            targets = _ids(await PostTarget.select(PostTarget.id).where(PostTarget.post.is_in(posts)))
    else:
        topics = _ids(await MentionTopic.select(MentionTopic.id).where(MentionTopic.contact == contact_id))
    own = {"social_identity": identities, "social_mention": mentions, "social_mention_topic": topics}
    shared = {"social_mention": replies, "social_post": posts, "social_post_target": targets}
    return own, shared


async def personal_records(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    own, shared = await footprint(contact)
    own = {name: ids for name, ids in own.items() if ids}
    shared = {name: ids for name, ids in shared.items() if ids}
    if not own and not shared:
        return None
    return PersonalRecords(erase=own, scrub=shared)
