"""Social to ticket: the glue between the social and service plugins, enabled by itself
as soon as both are (``glue=True``) and disabled before either is, so each of them
works alone and neither imports the other.

A mention or direct message becomes a ticket when a rule says so (the shipped rules:
negative mentions and direct messages; admins add their own with the
``create_social_ticket`` action, conditions in the filter language: sentiment,
keywords, ``contact: {deals: {some: ...}}`` for customers with open deals).  Later
mentions in the same thread join that ticket's conversation.  An agent's public reply
goes back out through the account's connector, in the same thread.
"""

from kith.sdk import Plugin

plugin = Plugin(
    name="social.service",
    version="0.1.0",
    summary="Social mentions and messages become tickets; agents' replies go back to the same thread.",
    depends=("social", "service"),
    glue=True,
    hooks="kith.plugins.social.service_link.hooks",
    source="kith.plugins.social.service_link",
)
