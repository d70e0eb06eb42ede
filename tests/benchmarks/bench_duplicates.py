"""Duplicate detection at size: a scan of N contacts, a few percent of them seeded doubles.

Loads N contacts with realistic names (Faker, seeded), of which ``--dupes`` (a fraction)
are doubles of an earlier contact: a typo in a name, the name in other capitals, a
nickname for the first name, and independently of that the same e-mail (maybe in other
capitals), the same phone or the same organization, or none of those.  Then runs
``kith.core.duplicates.scan`` on all of them and prints the time, the comparisons made,
the candidates found and their recall and precision against the seeded doubles (pairs of
two doubles of one contact count as true too).

The floor: the same fuzzy blocks (``block_keys`` of the same normalised names) compared
by a hand-written loop with rapidfuzz alone, over the names in memory: no database, no
rules, no scoring, no queue.  The ratio is scan time / floor time.

    .venv/bin/python tests/benchmarks/bench_duplicates.py --contacts 100000
    .venv/bin/python tests/benchmarks/bench_duplicates.py --contacts 100000 \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench_dupes'

The contacts are written with raw multi-row INSERTs (as ``bench_contacts_list.py`` does):
values as the record service stores them, no audit, events or hooks.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_db import fresh_database
from rapidfuzz import fuzz, process

from kith.core.duplicates import scan
from kith.core.duplicates.normalise import NICKNAMES, block_keys, compared_text, person_parts
from kith.core.runtime import Kith
from kith.core.settings import load_settings

GOAL_SECONDS = 120
CONTACT_COLUMNS = (
    ("first_name", "VARCHAR"),
    ("last_name", "VARCHAR"),
    ("emails", "JSON"),
    ("phones", "JSON"),
    ("organization", "INTEGER"),
    ("lifecycle_stage", "VARCHAR"),
    ("created_at", "TIMESTAMPTZ"),
    ("updated_at", "TIMESTAMPTZ"),
    ("version", "INTEGER"),
    ("custom", "JSONB"),
    ("tags", "JSON"),
)
FULL_NAMES = defaultdict(list)
for _nick, _full in NICKNAMES.items():
    FULL_NAMES[_full].append(_nick)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--dupes", type=float, default=0.03, help="fraction of contacts that are doubles")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


def typo(rng: random.Random, word: str) -> str:
    """One keyboard slip: a letter swapped with the next, dropped, doubled or replaced."""
    if len(word) < 3:
        return word + word[-1]
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiourstln") + word[i + 1 :]


def generate(count: int, rate: float, seed: int, organizations: list[int]) -> tuple[list[dict[str, Any]], set]:
    """The contacts (in insertion order, ids 1..count) and the seeded duplicate pairs."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    people: list[dict[str, Any]] = []
    double_of: dict[int, int] = {}  # contact id -> the original it doubles
    for index in range(count):
        record_id = index + 1
        if people and rng.random() < rate:
            original = rng.choice(people)
            while original["id"] in double_of:
                original = people[double_of[original["id"]] - 1]
            first, last = original["first_name"], original["last_name"]
            change = rng.randrange(4)
            if change == 0:
                first = typo(rng, first)
            elif change == 1:
                last = typo(rng, last)
            elif change == 2:
                first, last = (first.upper(), last.upper()) if rng.random() < 0.5 else (first.lower(), last.lower())
            else:
                nicks = FULL_NAMES.get(first.lower())
                first = rng.choice(nicks).capitalize() if nicks else typo(rng, first)
            emails = (
                [rng.choice(original["emails"]).upper()] if rng.random() < 0.4 else [f"other{record_id}@mail.example"]
            )
            phones = list(original["phones"]) if rng.random() < 0.25 else []
            organization = original["organization"] if rng.random() < 0.5 else None
            double_of[record_id] = original["id"]
        else:
            first, last = fake.first_name(), fake.last_name()
            emails = [f"{first.lower()}.{last.lower()}{record_id}@example.com"]
            phones = [f"+1{rng.randint(201, 989)}555{rng.randint(1000, 9999)}"] if rng.random() < 0.6 else []
            organization = rng.choice(organizations) if rng.random() < 0.7 else None
        people.append(
            {"id": record_id, "first_name": first, "last_name": last, "emails": emails, "phones": phones,
             "organization": organization}
        )  # fmt: skip
    clusters: dict[int, list[int]] = defaultdict(list)
    for double, original in double_of.items():
        clusters[original].append(double)
    truth = set()
    for original, doubles in clusters.items():
        members = sorted([original, *doubles])
        truth.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    return people, truth


async def load(kith: Kith, people: list[dict[str, Any]]) -> None:
    now = dt.datetime.now(dt.UTC)
    rows = [
        (p["first_name"], p["last_name"], json.dumps(p["emails"]), json.dumps(p["phones"]), p["organization"],
         "lead", now, now, 1, "{}", "[]")
        for p in people
    ]  # fmt: skip
    async with kith.db.write_transaction():
        await kith.db.insert_rows("contact", CONTACT_COLUMNS, rows)
    if kith.db.dialect.is_postgres:
        await kith.db.run_ddl('ANALYZE "contact"')


def floor(people: list[dict[str, Any]], cutoff: float = 85) -> tuple[float, int, int]:
    """The same fuzzy blocks compared with rapidfuzz alone: seconds, comparisons, hits."""
    started = time.perf_counter()
    blocks: dict[str, list[str]] = defaultdict(list)
    for person in people:
        parts = person_parts([person["first_name"], person["last_name"]])
        text = compared_text(parts)
        for key in block_keys(parts):
            blocks[key].append(text)
    comparisons = hits = 0
    for texts in blocks.values():
        for i in range(len(texts) - 1):
            rest = texts[i + 1 :]
            comparisons += len(rest)
            hits += len(process.extract(texts[i], rest, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff, limit=None))
    return time.perf_counter() - started, comparisons, hits


async def main(args: argparse.Namespace) -> int:
    async with fresh_database(args.database_url, keep=args.keep) as url:
        kith = await Kith.open(load_settings(database_url=url))
        try:
            engine = "postgresql" if kith.db.dialect.is_postgres else "sqlite"
            organizations = []
            for n in range(200):
                organizations.append((await kith.records.create("organization", {"name": f"Company {n}"}))["id"])
            started = time.perf_counter()
            people, truth = generate(args.contacts, args.dupes, args.seed, organizations)
            await load(kith, people)
            print(f"{engine}: loaded {len(people)} contacts ({len(truth)} seeded duplicate pairs) "
                  f"in {time.perf_counter() - started:.1f} s")  # fmt: skip

            report = await scan(kith, "contact")
            rows = await kith.db.execute("SELECT record_a, record_b, score FROM kith_duplicate_candidate")
            found = {(int(r["record_a"]), int(r["record_b"])): int(r["score"]) for r in rows}
            print(
                f"scan: {report.seconds:.1f} s, {report.records} records, {report.blocks} blocks "
                f"(largest {report.largest_block}, {report.capped_blocks} capped), {report.comparisons} comparisons "
                f"({report.comparisons / (report.records * (report.records - 1) / 2):.4%} of all pairs), "
                f"{report.skipped_keys} keys skipped"
            )
            for label, least in (("all candidates", 0), ("score >= 90", 90)):
                chosen = {pair for pair, score in found.items() if score >= least}
                true = len(chosen & truth)
                recall = true / len(truth) if truth else 1.0
                precision = true / len(chosen) if chosen else 1.0
                print(f"{label}: {len(chosen)} pairs, recall {recall:.1%}, precision {precision:.1%}")

            seconds, comparisons, hits = floor(people)
            print(
                f"floor (same blocks, rapidfuzz alone, names in memory): {seconds:.1f} s, {comparisons} comparisons, "
                f"{hits} hits; scan / floor = {report.seconds / seconds:.1f}x"
            )
            verdict = "within" if report.seconds < GOAL_SECONDS else "OVER"
            print(f"goal: under {GOAL_SECONDS} s on {engine}: {verdict}")
            return 0 if report.seconds < GOAL_SECONDS else 1
        finally:
            await kith.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
