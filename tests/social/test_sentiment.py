"""The social plugin's sentiment scoring: VADER's own scores and labels, and the choice of
analyzer per language (kith.plugins.social.sentiment)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from kith.plugins.social.sentiment import (
    CACHE_MAX_CHARS,
    Sentiment,
    VaderAnalyzer,
    analyzer_for,
    label_for,
    vader,
)

SAMPLE = Path(__file__).with_name("sentiment_sample.txt")


def sample_messages() -> list[str]:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("## ")]


def library_label(compound: float) -> str:
    """VADER's documented thresholds, written out here rather than taken from the module."""
    if compound >= 0.05:
        return "positive"
    if compound <= -0.05:
        return "negative"
    return "neutral"


class FakeAnalyzer:
    def __init__(self, name: str, languages: tuple[str, ...]) -> None:
        self.name = name
        self.languages = languages

    def score_many(self, texts: Sequence[str]) -> list[Sentiment]:
        return [Sentiment(score=0.0, label="neutral") for _ in texts]


def test_the_sample_is_a_mix_of_all_three_labels() -> None:
    library = SentimentIntensityAnalyzer()
    messages = sample_messages()
    labels = [library_label(library.polarity_scores(text)["compound"]) for text in messages]

    assert len(messages) >= 200
    assert len(set(messages)) == len(messages)
    assert min(labels.count(label) for label in ("positive", "neutral", "negative")) >= 40


def test_scores_and_labels_are_the_librarys_own_on_the_sample() -> None:
    library = SentimentIntensityAnalyzer()
    messages = sample_messages()
    expected = [library.polarity_scores(text)["compound"] for text in messages]

    first = VaderAnalyzer().score_many(messages)
    again = VaderAnalyzer().score_many(messages * 2)  # the second half comes from the cache
    uncached = VaderAnalyzer(cache_size=0).score_many(messages)

    for result in (first, again[: len(messages)], again[len(messages) :], uncached):
        assert [s.score for s in result] == expected
        assert [s.label for s in result] == [library_label(c) for c in expected]


def test_long_texts_bypass_the_cache_and_still_score_as_the_library() -> None:
    library = SentimentIntensityAnalyzer()
    text = " ".join(sample_messages())[: CACHE_MAX_CHARS + 500]
    assert len(text) > CACHE_MAX_CHARS

    scored = VaderAnalyzer().score_many([text, text])

    compound = library.polarity_scores(text)["compound"]
    assert scored == [Sentiment(compound, library_label(compound))] * 2


def test_what_a_user_sees_for_typical_mentions() -> None:
    scored = VaderAnalyzer().score_many(
        [
            "Love the new update, great work team!",
            "Worst experience ever. Never again.",
            "Not good",
            "Not bad at all",
            "How do I reset my password?",
            "This app is amazing 😍",
            ":( no reply yet",
        ]
    )

    assert [s.label for s in scored] == [
        "positive",
        "negative",
        "negative",
        "positive",
        "neutral",
        "positive",
        "negative",
    ]
    assert all(-1 <= s.score <= 1 for s in scored)


def test_an_empty_text_is_neutral_zero() -> None:
    assert VaderAnalyzer().score_many(["", "   ", "\n"]) == [Sentiment(score=0.0, label="neutral")] * 3
    assert VaderAnalyzer().score_many([]) == []


def test_thresholds_at_the_boundaries() -> None:
    assert label_for(0.05) == "positive"
    assert label_for(0.0499) == "neutral"
    assert label_for(0.0) == "neutral"
    assert label_for(-0.0499) == "neutral"
    assert label_for(-0.05) == "negative"
    assert label_for(1.0) == "positive"
    assert label_for(-1.0) == "negative"


def test_english_and_unknown_languages_get_vader() -> None:
    for language in ("en", "en-US", "EN_gb", None, ""):
        analyzer = analyzer_for(language)
        assert analyzer is vader(), language
        assert analyzer.name == "vader"


def test_other_languages_are_left_unscored_without_an_analyzer_for_them() -> None:
    assert analyzer_for("fr") is None
    assert analyzer_for("pt-BR") is None
    assert analyzer_for("ja", extra=[FakeAnalyzer("acme-fr", ("fr",))]) is None


def test_a_vendor_analyzer_scores_its_languages() -> None:
    french = FakeAnalyzer("acme-fr", ("fr", "de"))

    assert analyzer_for("fr", extra=[french]) is french
    assert analyzer_for("fr-CA", extra=[french]) is french
    assert analyzer_for("DE", extra=[french]) is french
    assert analyzer_for("en", extra=[french]) is vader()
    assert analyzer_for(None, extra=[french]) is vader()


def test_the_first_vendor_analyzer_that_covers_the_language_wins_even_over_vader() -> None:
    spanish = FakeAnalyzer("acme-es", ("es",))
    english = FakeAnalyzer("acme-en", ("en",))
    anything = FakeAnalyzer("acme-any", ())
    later_english = FakeAnalyzer("other-en", ("en",))

    assert analyzer_for("en", extra=[spanish, english, later_english]) is english
    assert analyzer_for(None, extra=[english]) is english
    assert analyzer_for("es", extra=[anything, spanish]) is anything
    assert analyzer_for("ja", extra=[spanish, anything]) is anything


def test_importing_the_module_does_not_load_vader() -> None:
    probe = (
        "import sys, kith.plugins.social.sentiment as s\n"
        "assert 'vaderSentiment' not in sys.modules\n"
        "s.analyzer_for('fr')\n"
        "assert 'vaderSentiment' not in sys.modules\n"
        "s.analyzer_for('en')\n"
        "assert 'vaderSentiment' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
