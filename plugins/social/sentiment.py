"""Sentiment of inbound social mentions, scored offline.

Every mention the social plugin stores gets a ``Sentiment``: VADER's compound score and a
positive / neutral / negative label.  Scoring is offline and CPU-only on purpose: no
mention text leaves the installation, there is no per-call fee or rate limit, and the
same text always gets the same score, so a list of mentions filtered by label stays
stable.

VADER (the ``vaderSentiment`` package) is built for short social-media English: it
understands emoji and emoticons, ALL CAPS, "!!!", boosters ("very"), negation ("not
good") and "but".  It has no lexicon for other languages, and scoring a French or
Japanese mention with it would give a confident-looking but meaningless number.  So
``analyzer_for`` picks an analyzer per language and answers None when nothing covers it:
the mention is then stored unscored rather than scored wrongly.  Vendors contribute
analyzers for other languages (or a better English one) through a plugin hook; those are
passed to ``analyzer_for`` as ``extra`` and are preferred over VADER.

Analyzers are synchronous and CPU-bound; the plugin calls ``score_many`` off the event
loop, in batches.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

Label = Literal["positive", "neutral", "negative"]

# VADER's documented thresholds on the compound score ("About the Scoring",
# https://github.com/cjhutto/vaderSentiment#about-the-scoring):
#   positive: compound >= 0.05; neutral: -0.05 < compound < 0.05; negative: compound <= -0.05
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05


@dataclass(frozen=True)
class Sentiment:
    """The sentiment of one text: ``score`` is the compound score in -1..1 (rounded to 4
    places, as VADER rounds it), ``label`` its reading by ``label_for``."""

    score: float
    label: Label


def label_for(compound: float) -> Label:
    """The label of a compound score, by VADER's documented thresholds (both boundaries
    belong to the polar labels: 0.05 is positive, -0.05 is negative)."""
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


class SentimentAnalyzer(Protocol):
    """What a sentiment analyzer implements: VADER here, vendors' analyzers through the
    plugin hook."""

    #: a short key stored with each score, so one can tell later which analyzer gave it
    name: str
    #: ISO 639-1 codes of the languages it scores well (``("en",)``); empty: any language
    languages: tuple[str, ...]

    def score_many(self, texts: Sequence[str]) -> list[Sentiment]:
        """One ``Sentiment`` per text, in order.  Synchronous and CPU-only: it is called
        off the event loop, so it must not do I/O or need a running loop."""
        ...


class _VaderLibrary(Protocol):
    """The part of ``vaderSentiment.SentimentIntensityAnalyzer`` used here, typed: the
    package ships no type information (no ``py.typed``, no stub package)."""

    def polarity_scores(self, text: str) -> Mapping[str, float]: ...


#: identical texts (boosts and retweets of one post, "Thanks!", a bot's repeated message)
#: are scored once while they stay among the last CACHE_SIZE distinct texts seen
CACHE_SIZE = 4096
#: longer texts are scored every time, so the cache holds at most about 4096 x 1,000 chars
CACHE_MAX_CHARS = 1000


class VaderAnalyzer:
    """VADER, English only.  Scores equal the library's own
    ``polarity_scores(text)["compound"]``, text for text.

    One ``SentimentIntensityAnalyzer`` is created per instance (it reads its two lexicon
    files, a few milliseconds) and reused for every text; its ``polarity_scores`` only
    reads the lexicons, so one instance may score from several threads at once.

    The hot path is the library's own call, unchanged: measured first, on one core of a
    2-core development machine, the library alone scores about 25,000-30,000 mentions of
    ~50 characters a second and about 4,000 of ~220 (a long tweet), far above the 3,000 a
    second the plugin needs, so nothing about VADER itself needed speeding up.  The one
    addition is a bounded LRU cache of exact texts (``functools.lru_cache``, thread-safe):
    VADER is a pure function of the text, so a cached score is the library's score, and
    repeated texts are common in social streams.  It costs about 1.5 µs a text when it
    misses (tests/benchmarks/bench_sentiment.py).  ``cache_size=0`` turns it off.
    """

    name = "vader"
    languages: tuple[str, ...] = ("en",)

    def __init__(self, cache_size: int = CACHE_SIZE) -> None:
        # imported here, not at the top of the module: plugin modules are imported when
        # Kith starts, and only a process that scores mentions should pay for VADER.
        # import_module rather than an import statement because vaderSentiment has no type
        # information: the untyped class is confined to this line, and everything below
        # goes through the typed _VaderLibrary.
        module = importlib.import_module("vaderSentiment.vaderSentiment")
        library: _VaderLibrary = module.SentimentIntensityAnalyzer()

        def compound(text: str) -> float:
            return library.polarity_scores(text)["compound"]

        self._compound: Callable[[str], float] = compound
        # a closure over the library object (not over self), so the cache keeps no
        # reference to this analyzer
        self._cached: Callable[[str], float] = functools.lru_cache(maxsize=cache_size)(compound)

    def score(self, text: str) -> Sentiment:
        """The sentiment of one text."""
        compound = self._cached(text) if len(text) <= CACHE_MAX_CHARS else self._compound(text)
        score = round(compound, 4)  # VADER rounds already; kept so the dataclass's promise holds
        return Sentiment(score=score, label=label_for(score))

    def score_many(self, texts: Sequence[str]) -> list[Sentiment]:
        """One ``Sentiment`` per text, in order (an empty text is neutral, 0.0)."""
        return [self.score(text) for text in texts]


@functools.cache
def vader() -> VaderAnalyzer:
    """The process's one VADER analyzer, created on first use (and its cache shared by
    every caller)."""
    return VaderAnalyzer()


def _primary_language(language: str | None) -> str:
    """``"en-US"``, ``"EN"``, ``"en_GB"`` → ``"en"``; None or empty (not detected) → ``"en"``."""
    if not language:
        return "en"
    return language.replace("_", "-").split("-", 1)[0].strip().lower() or "en"


def _covers(analyzer: SentimentAnalyzer, language: str) -> bool:
    return not analyzer.languages or language in (code.lower() for code in analyzer.languages)


def analyzer_for(language: str | None, extra: Sequence[SentimentAnalyzer] = ()) -> SentimentAnalyzer | None:
    """The analyzer to score a mention in ``language`` with, or None: leave it unscored.

    ``language`` is the mention's language as the platform or a detector reported it, an
    ISO 639-1 code optionally with a region (``"en"``, ``"pt-BR"``); None or empty means
    it is not known, and is taken as English, the language most mentions are in and the
    one VADER was built for.

    1. The first of ``extra`` (vendors' analyzers, in hook order) whose ``languages``
       include the language, or are empty (any language).  Extras come first so that a
       vendor can also replace VADER for English.
    2. Else VADER, for English (and so for an unknown language).
    3. Else None: VADER would read a non-English text through an English lexicon and
       give a meaningless score, and an unscored mention is better than a wrong one.
    """
    code = _primary_language(language)
    for analyzer in extra:
        if _covers(analyzer, code):
            return analyzer
    if code in VaderAnalyzer.languages:
        return vader()
    return None
