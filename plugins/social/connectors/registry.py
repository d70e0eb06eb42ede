"""Which connector serves which platform: the two the plugin ships (``mastodon``,
``webhook``) and those add-on plugins contribute through ``social_connectors``."""

from __future__ import annotations

from kith.plugins.social.connectors.base import Connector
from kith.sdk import PluginContext, ValidationFailed


def connectors(context: PluginContext) -> dict[str, Connector]:
    from kith.plugins.social.connectors.mastodon import MastodonConnector
    from kith.plugins.social.connectors.webhook import WebhookConnector

    found: dict[str, Connector] = {"mastodon": MastodonConnector(), "webhook": WebhookConnector()}
    for plugin, offered in context.extensions("social_connectors"):
        for connector in offered or ():
            key = getattr(connector, "platform", None)
            if not isinstance(key, str) or not key or key in found:
                context.log.error(
                    "social: plugin %s offers a connector for %r, which is taken or not a name", plugin, key
                )
                continue
            found[key] = connector
    return found


def connector(context: PluginContext, platform: str, field: str = "platform") -> Connector:
    """The connector of ``platform``; an error naming ``field`` when there is none."""
    found = connectors(context)
    if platform not in found:
        raise ValidationFailed.single(
            field, "unknown", f"no connector for {platform!r} (known: {', '.join(sorted(found))})"
        )
    return found[platform]
