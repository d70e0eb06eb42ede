"""The hooks the social plugin offers to plugins that depend on it (docs/social.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from kith.sdk import hookspec

if TYPE_CHECKING:
    from kith.plugins.social.connectors.base import Connector
    from kith.plugins.social.sentiment import SentimentAnalyzer


@hookspec
def social_connectors() -> Sequence[Connector] | None:
    """Return connectors for more platforms (objects following
    ``kith.plugins.social.connectors.base.Connector``), each with its ``platform`` key.
    A key the plugin already has (``mastodon``, ``webhook``) is refused in the log."""


@hookspec
def social_sentiment_analyzers() -> Sequence[SentimentAnalyzer] | None:
    """Return sentiment analyzers for more languages or better models
    (``kith.plugins.social.sentiment.SentimentAnalyzer``); the first that covers a
    mention's language scores it, before the built-in English VADER."""
