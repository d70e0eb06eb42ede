"""Social: managed accounts and connectors, mentions in (deduplicated, threaded,
matched to contacts, scored for sentiment), social to ticket with the service plugin,
and publishing exactly once.

Written only against ``kith.sdk``, like any third-party plugin.  Enable it with
``kith plugins enable social``.  Other plugins add platforms and sentiment analyzers
through the extension hooks in ``hookspecs.py``.
"""

from kith.plugins.social.migrations import MIGRATIONS
from kith.plugins.social.models import SOCIAL_TABLES
from kith.plugins.social.publishing.models import PUBLISHING_TABLES
from kith.plugins.social.settings import SocialSettings
from kith.sdk import Plugin

plugin = Plugin(
    name="social",
    version="0.1.0",
    summary="Social accounts and connectors, mentions with sentiment, social to ticket, publishing exactly once.",
    hooks="kith.plugins.social.hooks",
    hookspecs="kith.plugins.social.hookspecs",
    tables=[*SOCIAL_TABLES, *PUBLISHING_TABLES],
    migrations=MIGRATIONS,
    source="kith.plugins.social",
    settings=SocialSettings,
)
