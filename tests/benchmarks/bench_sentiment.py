"""Benchmark: the social plugin's sentiment scoring against a bare VADER loop.

Scores ``--messages`` short social-media messages on one CPU (the process pins itself
with ``sched_setaffinity``) two ways, on two workloads, and prints messages per second:

* ``floor``: a hand-written loop calling the library directly,
  ``[analyzer.polarity_scores(text)["compound"] for text in texts]`` on one
  ``SentimentIntensityAnalyzer``: the least work that gives VADER's scores;
* ``kith``: ``VaderAnalyzer().score_many(batch)`` on batches of ``--batch`` texts, as the
  plugin calls it (``Sentiment`` objects, labels, the LRU cache of identical texts).

Workloads, both generated from tests/social/sentiment_sample.txt with a fixed seed:

* ``distinct``: every text different (a handle, one or two sample messages and sometimes
  a hashtag or a number), so the cache never hits: this is the figure the target
  (>= 3,000 messages/s) is about;
* ``repeats``: the same, except that a ``--repeat-rate`` share of the messages copy one of
  the 500 texts seen most recently (boosts and retweets of a post, "Thanks!"-style
  replies, a bot repeating itself): what the cache is for.

Every round runs both variants over each workload with analyzers created for that round
(outside the timing; VADER reads its lexicons, ~10 ms), so no round starts with a warm
cache.  The variants are interleaved batch by batch, their order flipping every batch,
so load from elsewhere on the machine falls on both alike.  The figure is the median
round's CPU time of this process (steadier than the wall clock on a shared machine; the
wall-clock rate is printed beside it).  Every round checks that ``kith`` gave the
library's own compound score for every text, and the script exits 1 if not.  The last
line is the whole result as JSON.

    .venv/bin/python tests/benchmarks/bench_sentiment.py
    .venv/bin/python tests/benchmarks/bench_sentiment.py --messages 30000 --repeat-rate 0.3 --parts 8

The file is named ``bench_*.py`` so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from kith.plugins.social.sentiment import VaderAnalyzer

SAMPLE = Path(__file__).resolve().parents[1] / "social" / "sentiment_sample.txt"
TARGET = 3000  # messages/s on distinct texts, one core
RECENT = 500  # a repeat copies one of this many most recent distinct texts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=30000, help="messages per workload (default 30000)")
    parser.add_argument(
        "--repeat-rate",
        type=float,
        default=0.25,
        help="share of the repeats workload's messages that copy a recent text (default 0.25)",
    )
    parser.add_argument(
        "--parts",
        type=int,
        default=2,
        help="at most this many sample messages joined into one text (default 2: ~50 characters on average)",
    )
    parser.add_argument("--batch", type=int, default=500, help="texts per score_many call (default 500)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of every variant and workload (default 5)")
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the first allowed)")
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args(argv)


def sample_messages() -> list[str]:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("## ")]


def distinct_texts(rng: random.Random, sample: list[str], count: int, parts: int) -> list[str]:
    """``count`` different texts: an @handle, 1..parts sample messages, now and then a
    hashtag or a number.  The handle carries a counter, so no two texts are equal."""
    texts = []
    for i in range(count):
        body = " ".join(rng.choice(sample) for _ in range(rng.randint(1, parts)))
        tail = rng.choice(["", "", "", f" #{rng.choice(['crm', 'support', 'launch', 'pricing'])}", f" ({i % 97})"])
        texts.append(f"@user{i} {body}{tail}")
    return texts


def with_repeats(rng: random.Random, distinct: list[str], rate: float) -> list[str]:
    """As many texts as ``distinct``: each is, with probability ``rate``, a copy of one
    of the RECENT texts before it, else the next distinct text."""
    texts: list[str] = []
    fresh = iter(distinct)
    for _ in range(len(distinct)):
        if texts and rng.random() < rate:
            texts.append(rng.choice(texts[-RECENT:]))
        else:
            texts.append(next(fresh))
    return texts


Seconds = dict[str, tuple[float, float]]  # variant -> (CPU seconds, wall-clock seconds)


def one_pass(texts: list[str], batch: int, flip: bool) -> tuple[dict[str, list[float]], Seconds]:
    """Both variants over ``texts``, interleaved batch by batch (the order of the two
    flips every batch), each with its own analyzer created here, outside the timing;
    returns each variant's scores, and its CPU and wall-clock seconds summed over its
    batches."""
    library = SentimentIntensityAnalyzer()
    kith = VaderAnalyzer()

    def floor_batch(chunk: list[str]) -> list[float]:
        return [library.polarity_scores(text)["compound"] for text in chunk]

    def kith_batch(chunk: list[str]) -> list[float]:
        return [s.score for s in kith.score_many(chunk)]

    variants: dict[str, Callable[[list[str]], list[float]]] = {"floor": floor_batch, "kith": kith_batch}
    scores: dict[str, list[float]] = {name: [] for name in variants}
    cpu = dict.fromkeys(variants, 0.0)
    wall = dict.fromkeys(variants, 0.0)
    for i, start in enumerate(range(0, len(texts), batch)):
        chunk = texts[start : start + batch]
        for name in sorted(variants, reverse=(i % 2 == 1) != flip):
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            scores[name].extend(variants[name](chunk))
            cpu[name] += time.process_time() - started_cpu
            wall[name] += time.perf_counter() - started_wall
    return scores, {name: (cpu[name], wall[name]) for name in variants}


def pin(cpu: int | None) -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[0] if cpu is None else cpu
    os.sched_setaffinity(0, {chosen})
    return f"CPU {chosen} of {len(allowed)} allowed"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pinned = pin(args.cpu)
    rng = random.Random(args.seed)
    sample = sample_messages()
    distinct = distinct_texts(rng, sample, args.messages, args.parts)
    workloads = {"distinct": distinct, "repeats": with_repeats(rng, distinct, args.repeat_rate)}
    print(f"python {platform.python_version()}, {pinned}, {len(sample)} sample messages, seed {args.seed}")
    for name, texts in workloads.items():
        mean_chars = statistics.fmean(len(t) for t in texts)
        print(f"{name:9} {len(texts):,} messages, {len(set(texts)):,} distinct, {mean_chars:.0f} characters on average")

    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for round_ in range(args.rounds):
        for workload, texts in workloads.items():
            scores, seconds = one_pass(texts, args.batch, flip=round_ % 2 == 1)
            wrong = [i for i, (a, b) in enumerate(zip(scores["floor"], scores["kith"], strict=True)) if a != b]
            if wrong:
                i = wrong[0]
                print(f"MISMATCH on {workload}: {len(wrong)} texts, e.g. {texts[i]!r}: "
                      f"library {scores['floor'][i]}, kith {scores['kith'][i]}")  # fmt: skip
                return 1
            for variant, pair in seconds.items():
                runs.setdefault((workload, variant), []).append(pair)
    print("checked: kith's scores equal the library's polarity_scores()['compound'] for every text, every round")

    result: dict[str, dict[str, float]] = {}
    print()
    print(f"{'workload':9} {'variant':7} {'msg/s':>8} {'cpu µs/msg':>10} {'wall msg/s':>10} {'vs floor':>8}")
    for workload, texts in workloads.items():
        rates = {v: len(texts) / statistics.median(c for c, _ in runs[workload, v]) for v in ("floor", "kith")}
        for variant, rate in rates.items():
            wall_rate = len(texts) / statistics.median(w for _, w in runs[workload, variant])
            print(
                f"{workload:9} {variant:7} {rate:8,.0f} {1e6 / rate:10.1f} {wall_rate:10,.0f} "
                f"{rate / rates['floor']:7.2f}x"
            )
            result.setdefault(workload, {})[variant] = round(rate)
            result[workload][f"{variant}_wall"] = round(wall_rate)
        result[workload]["kith_vs_floor"] = round(rates["kith"] / rates["floor"], 3)
    print()
    print(f"msg/s: messages per second of this process's CPU time on one core, median of {args.rounds} rounds;")
    print("wall msg/s: the same by the wall clock (lower when other work shares the CPU)")
    print("vs floor: kith msg/s ÷ floor msg/s (1.00x: as fast as calling the library by hand; above: faster)")
    rate = result["distinct"]["kith"]
    verdict = "meets" if rate >= TARGET else "is BELOW"
    print(f"distinct texts: kith scores {rate:,} msg/s on one core, which {verdict} the target of {TARGET:,} msg/s")
    print(json.dumps({"messages": args.messages, "repeat_rate": args.repeat_rate, "parts": args.parts, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
