"""Scoring a batch of mentions with the analyzer for each one's language: an add-on's
(``social_sentiment_analyzers``) where one covers it, else the built-in English VADER;
a language nothing covers is left unscored rather than scored wrongly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kith.plugins.social.sentiment import SentimentAnalyzer, analyzer_for
from kith.sdk import PluginContext


@dataclass(frozen=True)
class Scored:
    score: float
    label: str
    #: the analyzer's name, stored with the score
    by: str


class Scorer:
    """Built in the event loop (it asks the plugins for analyzers); ``score`` runs in a
    thread, as it is CPU work."""

    def __init__(self, context: PluginContext) -> None:
        self.extra: list[SentimentAnalyzer] = [
            analyzer
            for _plugin, offered in context.extensions("social_sentiment_analyzers")
            for analyzer in offered or ()
        ]

    def score(self, texts: Sequence[tuple[str, str | None]]) -> list[Scored | None]:
        by_analyzer: dict[int, tuple[SentimentAnalyzer, list[int]]] = {}
        for index, (_text, language) in enumerate(texts):
            analyzer = analyzer_for(language, self.extra)
            if analyzer is not None:
                by_analyzer.setdefault(id(analyzer), (analyzer, []))[1].append(index)
        found: list[Scored | None] = [None] * len(texts)
        for analyzer, indexes in by_analyzer.values():
            for index, result in zip(indexes, analyzer.score_many([texts[i][0] for i in indexes]), strict=True):
                found[index] = Scored(result.score, result.label, analyzer.name)
        return found
