"""How the database runs the list statements Kith sends, on the bench_contacts_list data.

For a set of list requests (filters on custom and built-in fields, sorts, a relation
filter, a reverse ``some``), it takes the statement ``RecordQuery.list`` sends — what a
GraphQL list runs — and has the database execute it several times under ``EXPLAIN
ANALYZE`` (PostgreSQL) or time it (SQLite, with ``EXPLAIN QUERY PLAN`` for the plan),
then prints, per request, the median time in the database, the indexes the plan reads
and whether it sorts.  Nothing is written.

    .venv/bin/python tests/benchmarks/bench_list_plans.py \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench'

The database must hold the contacts bench_contacts_list.py loads (run that first,
without ``--drop``).  The file is named ``bench_*.py`` so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from typing import Any

from piccolo.querystring import QueryString

from kith.core.records.query import ListRequest
from kith.core.runtime import Kith
from kith.core.settings import load_settings


class Recorder:
    """A stand-in for the database that keeps the statements instead of running them."""

    def __init__(self) -> None:
        self.statements: list[QueryString] = []

    async def fetch(self, query: QueryString) -> list[Any]:
        self.statements.append(query)
        return []


async def statement(kith: Kith, request: ListRequest) -> QueryString:
    recorder = Recorder()
    await kith.query.list(recorder, request)
    return recorder.statements[0]


async def requests(kith: Kith, page: int) -> dict[str, ListRequest]:
    contact, organization = kith.entity("contact"), kith.entity("organization")
    row = await kith.db.fetch_one(QueryString("SELECT emails, organization FROM contact ORDER BY id DESC LIMIT 1"))
    assert row is not None, "no contacts: load them with bench_contacts_list.py first"
    emails = row["emails"]
    email = (json.loads(emails) if isinstance(emails, str) else emails)[0]
    org = await kith.db.fetch_one(QueryString("SELECT name FROM organization WHERE id = {}", row["organization"]))
    by_tier = [{"customFields": {"tier": "ASC"}}]
    first = await kith.query.list(kith.db, ListRequest(contact, order_by=by_tier, first=page))

    def contacts(filter_: Any = None, **options: Any) -> ListRequest:
        return ListRequest(contact, filter_, first=page, **options)

    return {
        "tier eq 3": contacts({"customFields": {"tier": {"eq": 3}}}),
        "tier in [1, 2]": contacts({"customFields": {"tier": {"in": [1, 2]}}}),
        "score > 99.5": contacts({"customFields": {"score": {"gt": "99.5"}}}),
        "segment eq": contacts({"customFields": {"segment": {"eq": "public_sector"}}}),
        "segment > 'p' (text range)": contacts({"customFields": {"segment": {"gt": "p"}}}),
        "order by segment ASC": contacts(order_by=[{"customFields": {"segment": "ASC"}}]),
        "order by tier ASC": contacts(order_by=by_tier),
        "order by tier ASC, page 2": contacts(order_by=by_tier, after=first.end_cursor),
        "order by createdAt DESC": contacts(order_by=[{"createdAt": "DESC"}]),
        "createdAt in the last day": contacts(
            {"createdAt": {"gte": (await _days_ago(kith, 1)).isoformat().replace("+00:00", "Z")}}
        ),
        "lifecycleStage eq evangelist": contacts({"lifecycleStage": {"eq": "evangelist"}}),
        "emails contains": contacts({"emails": {"contains": email}}),
        "organization name eq": contacts({"organization": {"name": {"eq": org["name"] if org else "none"}}}),
        "organizations with some tier-3 contact": ListRequest(
            organization, {"contacts": {"some": {"customFields": {"tier": {"eq": 3}}}}}, first=page
        ),
    }


async def _days_ago(kith: Kith, days: int) -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=days)


async def measure(kith: Kith, query: QueryString, runs: int) -> tuple[float, set[str], bool]:
    """Median milliseconds in the database, the indexes read, whether the plan sorts."""
    db = kith.db
    if db.dialect.is_postgres:
        times = []
        for _ in range(runs):
            rows = await db.fetch(QueryString("EXPLAIN (ANALYZE, FORMAT JSON) {}", query))
            raw = rows[0]["QUERY PLAN"]
            tree = (json.loads(raw) if isinstance(raw, str) else raw)[0]
            times.append(tree["Execution Time"])
        indexes: set[str] = set()
        sorts = False
        stack = [tree["Plan"]]
        while stack:
            node = stack.pop()
            if "Index Name" in node:
                indexes.add(node["Index Name"])
            sorts = sorts or node["Node Type"] in ("Sort", "Incremental Sort")
            stack.extend(node.get("Plans", []))
        return statistics.median(times), indexes, sorts
    rows = await db.fetch(QueryString("EXPLAIN QUERY PLAN {}", query))
    text = "\n".join(row["detail"] for row in rows)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await db.fetch(query)
        times.append((time.perf_counter() - started) * 1000)
    used = set(re.findall(r"USING (?:COVERING )?INDEX (\w+)", text))
    return statistics.median(times), used, "ORDER BY" in text


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("KITH_DATABASE_URL"), required=False)
    parser.add_argument("--runs", type=int, default=7, help="executions per statement (default 7)")
    parser.add_argument("--page", type=int, default=50, help="page size (default 50)")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url (the database bench_contacts_list.py loaded)")
    kith = await Kith.open(load_settings(database_url=args.database_url))
    try:
        results = {}
        for name, request in (await requests(kith, args.page)).items():
            ms, indexes, sorts = await measure(kith, await statement(kith, request), args.runs)
            results[name] = {"ms": round(ms, 3), "indexes": sorted(indexes), "sorts": sorts}
        rows = await kith.count("contact")
        print(f"{kith.db.dialect.name}, {rows} contacts, page {args.page}, median of {args.runs} runs")
        print(f"{'request':<42} {'ms':>9}  {'sorts':<5}  indexes")
        for name, result in results.items():
            sorts = "yes" if result["sorts"] else ""
            print(f"{name:<42} {result['ms']:>9.3f}  {sorts:<5}  {', '.join(result['indexes'])}")
        print(json.dumps({"benchmark": "list_plans", "engine": kith.db.dialect.name, "rows": rows, **results}))
    finally:
        await kith.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
