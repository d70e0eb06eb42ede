"""Benchmark: one page of 100 contacts through GraphQL against the hand-written SQL floor.

Loads N contacts (and N/10 organizations) into SQLite or PostgreSQL, then measures, in
the same process and run, five ways of producing the same JSON response body:

* ``graphql``: ``contacts(first: 100)`` with 8 built-in fields, 3 custom fields and the
  organization's name, run in-process through ``kith.core.web.app.execute`` (no HTTP)
  and serialised with ``json.dumps`` as the web app would;
* ``kith-query``: Kith's record layer without GraphQL (``kith.query.list`` with the
  columns GraphQL asks for, plus one batched organization read);
* ``kith-sql``: only the SQL statements ``kith-query`` sends, replayed as they are;
* ``floor``: the same 100 rows fetched with one hand-written SELECT (LEFT JOIN for the
  organization name, custom values extracted in SQL) through the same engine and pool
  (``kith.db.fetch``), serialised to the same JSON shape;
* ``floor-direct``: the same SQL straight on the driver, with no Piccolo in between
  (an asyncpg pool on PostgreSQL; one long-lived aiosqlite connection on SQLite).

With ``--tier T`` the request is filtered on the custom field ``tier`` instead
(``contacts(first: 100, filter: {customFields: {tier: {eq: T}}})``, and the floor's
``WHERE`` has the same condition); ``--page`` sets the page size and ``--indexed`` adds
the custom fields as indexed ones.

Before measuring it checks that all but kith-sql return the same payload (same ids in the
same order, same first names, same values), and exits non-zero if not, so the
comparison is honest.  Run ``--help`` for the options; tests/benchmarks/README.md says
what the figures mean.  The file is named ``bench_*.py`` so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import json
import os
import pstats
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from piccolo.querystring import QueryString

from kith.core.customfields import FIELD_TYPES
from kith.core.demo import INDUSTRIES
from kith.core.demo import TITLES as DEMO_TITLES
from kith.core.entities.builtin import LIFECYCLE_STAGES
from kith.core.graphql.loaders import load_records
from kith.core.records.encoding import jsonable
from kith.core.records.query import ListRequest
from kith.core.runtime import Kith
from kith.core.settings import load_settings
from kith.core.storage.database import count_statements
from kith.core.web.app import execute

PAGE = 100  # the default page size (--page)


def graphql_query(page: int, tier: int | None) -> str:
    """The measured request: a page of contacts, filtered on ``tier`` when it is given."""
    where = f", filter: {{customFields: {{tier: {{eq: {int(tier)}}}}}}}" if tier is not None else ""
    return f"""
query BenchContacts {{
  contacts(first: {page}{where}) {{
    edges {{
      node {{
        id firstName lastName emails title city lifecycleStage createdAt
        customFields {{ tier score segment }}
        organization {{ name }}
      }}
    }}
  }}
}}
"""


#: the contact columns GraphQL reads for this selection (graphql/selection.py works them out)
NODE_COLUMNS = ("id", "first_name", "last_name", "emails", "title", "city", "lifecycle_stage", "created_at", "custom",
                "organization")  # fmt: skip

CUSTOM_FIELDS: list[tuple[str, str, dict[str, Any]]] = [
    ("tier", "integer", {}),
    ("score", "decimal", {}),
    ("segment", "single_select", {"choices": ["smb", "mid_market", "enterprise", "public_sector"]}),
]
SEGMENTS = CUSTOM_FIELDS[2][2]["choices"]
TITLES = (*DEMO_TITLES, None)  # the demo's titles, and some contacts without one
FREE_MAIL = ("gmail.com", "outlook.com", "proton.me")
TAGS = ("vip", "newsletter", "partner", "churn-risk", "upsell", "referral", "enterprise")

#: SQLite refuses more than 32766 bound parameters per statement, asyncpg more than 32767.
MAX_PARAMS = 32_000
#: schema names --drop may remove: a plain identifier, never a system schema.
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PROTECTED_SCHEMAS = {"public", "information_schema"}


# -- options and target database -----------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default_sqlite = Path(tempfile.gettempdir()) / "kith_bench.sqlite3"
    parser = argparse.ArgumentParser(
        description="Benchmark contacts(first: 100) through GraphQL against hand-written SQL.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("KITH_DATABASE_URL") or f"sqlite:///{default_sqlite}",
        help="sqlite:///file.sqlite3 or postgresql://user@host:port/db?schema=NAME "
        "(default: $KITH_DATABASE_URL, else %(default)s). PostgreSQL needs ?schema=: the "
        "benchmark only ever writes into that schema.",
    )
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to load (default 100000)")
    parser.add_argument(
        "--organizations", type=int, default=None, help="organizations to load (default: contacts / 10)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=5.0,
        help="seconds measured per variant, in interleaved half-second slices (default 5)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once, via asyncio.gather (default 1)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the contacts already in the database instead of refusing (loads only if there are none)",
    )
    parser.add_argument(
        "--drop",
        action="store_true",
        help="at the end drop the PostgreSQL schema, or delete the SQLite file if this run created it",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed for the generated data")
    parser.add_argument("--page", type=int, default=PAGE, help=f"contacts per page (default {PAGE})")
    parser.add_argument(
        "--tier",
        type=int,
        default=None,
        metavar="T",
        help="filter the page on the custom field tier (customFields: {tier: {eq: T}}); tiers are 1-5",
    )
    parser.add_argument(
        "--indexed",
        action="store_true",
        help="add the custom fields as indexed ones (a field that exists already is indexed now)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print how the database runs Kith's list statement (EXPLAIN ANALYZE on PostgreSQL, "
        "EXPLAIN QUERY PLAN on SQLite) and the floor's",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after measuring, run N GraphQL requests under cProfile and print the "
        "top functions (not part of the figures)",
    )
    args = parser.parse_args(argv)
    if args.organizations is None:
        args.organizations = max(1, args.contacts // 10)
    if args.contacts < 1 or args.organizations < 1 or args.concurrency < 1 or args.seconds <= 0 or args.page < 1:
        parser.error("--contacts, --organizations, --concurrency and --page must be >= 1, --seconds > 0")
    args.default_sqlite = args.database_url == f"sqlite:///{default_sqlite}"
    return args


def sqlite_path(url: str) -> Path:
    parsed = urlparse(url)
    return Path(url[len("sqlite:///") :] if url.startswith("sqlite:///") else parsed.path)


def remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def pg_schema(url: str) -> str:
    schema = parse_qs(urlparse(url).query).get("schema", [""])[0]
    if not schema:
        raise SystemExit("PostgreSQL: give a dedicated schema, e.g. ...?schema=kith_bench")
    if not SCHEMA_NAME.match(schema) or schema in PROTECTED_SCHEMAS or schema.startswith("pg_"):
        raise SystemExit(f"PostgreSQL: refusing schema {schema!r}: use a dedicated one like kith_bench")
    return schema


async def pg_admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url.split("?", 1)[0])
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# -- loading -------------------------------------------------------------------------------


async def ensure_custom_fields(kith: Kith, indexed: bool = False) -> None:
    for name, type_, extra in CUSTOM_FIELDS:
        field = kith.custom_fields.get("contact", name)
        if field is None:
            await kith.custom_fields.add("contact", name, type_, indexed=indexed, **extra)
        elif indexed and not field.indexed:
            await kith.custom_fields.set_indexed("contact", name)
    await kith.refresh_if_changed(force=True)


async def insert_rows(kith: Kith, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs, as many rows per statement as the bound-parameter limit allows."""
    per_statement = max(1, min(5000, MAX_PARAMS // len(columns)))
    row_template = "(" + ", ".join("{}" for _ in columns) + ")"
    column_list = ", ".join(f'"{c}"' for c in columns)
    for start in range(0, len(rows), per_statement):
        batch = rows[start : start + per_statement]
        sql = f'INSERT INTO "{table}" ({column_list}) VALUES ' + ", ".join(row_template for _ in batch)
        await kith.db.fetch(QueryString(sql, *(value for row in batch for value in row)))


def _slug(text: str, keep: str = "") -> str:
    return re.sub(rf"[^a-z0-9{keep}]+", "-" if not keep else "", text.lower()).strip("-")


async def load(kith: Kith, contacts: int, organizations: int, seed: int) -> None:
    """Bulk-load with raw multi-row INSERTs in one transaction.

    This deliberately bypasses the record service (no validation, audit, outbox or
    hooks): it exists to put 100k rows in place in seconds, not to test writes.  Values
    are stored as the record service stores them (JSON text in the list and custom
    columns, aware UTC datetimes, version 1), so reads see ordinary records.  Names come
    from Faker pools drawn once; the JSON texts of each row are formatted directly
    (every value in them is generated here and needs no escaping).
    """
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    rand = rng.random
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    span = 2 * 365 * 86400  # records created over the last two years
    first_names = sorted({fake.first_name() for _ in range(1500)})
    last_names = sorted({fake.last_name() for _ in range(2000)})
    firsts = [(name, _slug(name, ".")) for name in first_names]  # (name, e-mail local part)
    lasts = [(name, _slug(name, ".")) for name in last_names]
    cities = sorted({fake.city() for _ in range(500)})
    companies = sorted({fake.company() for _ in range(min(organizations, 2000) + 20)})
    tag_sets = [json.dumps(rng.sample(TAGS, rng.randint(0, 3))) for _ in range(300)]
    stages = [s for s, weight in zip(LIFECYCLE_STAGES, (10, 40, 20, 25, 3, 2), strict=True) for _ in range(weight)]

    def pick(pool: Any) -> Any:
        return pool[int(rand() * len(pool))]

    def timestamps() -> tuple[dt.datetime, dt.datetime]:
        age = int(rand() * span) + 3600
        return now - dt.timedelta(seconds=age), now - dt.timedelta(seconds=int(rand() * age))

    org_columns = (
        "name",
        "domain",
        "industry",
        "size",
        "website",
        "city",
        "country",
        "tags",
        "created_at",
        "updated_at",
        "version",
        "custom",
    )
    org_rows: list[tuple[Any, ...]] = []
    for index in range(organizations):
        name = companies[index % len(companies)]
        if index >= len(companies):
            name = f"{name} {index // len(companies) + 1}"
        domain = f"{_slug(name)[:50] or 'org'}-{index}.example.com"
        created, updated = timestamps()
        size = pick((5, 12, 40, 120, 450, 2000))
        tags = pick(tag_sets)
        org_rows.append(
            (name, domain, pick(INDUSTRIES), size, f"https://www.{domain}", pick(cities), "US", tags,
             created, updated, 1, "{}")
        )  # fmt: skip

    contact_columns = (
        "first_name",
        "last_name",
        "emails",
        "phones",
        "title",
        "organization",
        "lifecycle_stage",
        "city",
        "country",
        "tags",
        "created_at",
        "updated_at",
        "version",
        "custom",
    )
    async with kith.db.write_transaction():
        await insert_rows(kith, "organization", org_columns, org_rows)
        del org_rows
        orgs = [(row["id"], row["domain"]) for row in await kith.db.execute("SELECT id, domain FROM organization")]
        rows: list[tuple[Any, ...]] = []
        for index in range(contacts):
            (first, first_local), (last, last_local) = pick(firsts), pick(lasts)
            org_id, domain = pick(orgs) if rand() < 0.85 else (None, pick(FREE_MAIL))
            emails = f'"{first_local}.{last_local}{index}@{domain}"'
            if rand() < 0.2:
                emails += f', "{first_local}.{last_local}.{index}@gmail.com"'
            custom = f'"score":"{rand() * 100:.2f}",'
            if rand() < 0.9:  # some records leave a custom field empty
                custom += f'"segment":"{pick(SEGMENTS)}",'
            custom = f'{{{custom}"tier":{1 + int(rand() * 5)}}}'
            phones = f'["+1 {201 + int(rand() * 789)} 555 {1000 + int(rand() * 9000)}"]'
            created, updated = timestamps()
            rows.append(
                (first, last, f"[{emails}]", phones, pick(TITLES), org_id, pick(stages), pick(cities), "US",
                 pick(tag_sets), created, updated, 1, custom)
            )  # fmt: skip
            if len(rows) >= 20_000:
                await insert_rows(kith, "contact", contact_columns, rows)
                rows = []
        if rows:
            await insert_rows(kith, "contact", contact_columns, rows)
    if kith.db.dialect.is_postgres:
        schema = kith.db.schema
        for table in ("organization", "contact"):
            await kith.db.run_ddl(f'ANALYZE "{schema}"."{table}"')


# -- the ways of answering the same request -----------------------------------------------


def floor_sql(postgres: bool, page: int = PAGE, tier_eq: int | None = None) -> str:
    if postgres:
        tier, score, segment = ("(c.custom->>'tier')::bigint", "c.custom->>'score'", "c.custom->>'segment'")
    else:
        tier, score, segment = (f"json_extract(c.custom, '$.{key}')" for key in ("tier", "score", "segment"))
    where = f" AND {tier} = {int(tier_eq)}" if tier_eq is not None else ""
    return (
        "SELECT c.id, c.first_name, c.last_name, c.emails, c.title, c.city, c.lifecycle_stage, "
        f"c.created_at, {tier} AS cf_tier, {score} AS cf_score, {segment} AS cf_segment, "
        "o.id AS org_id, o.name AS org_name "
        'FROM "contact" c LEFT JOIN "organization" o ON o.id = c.organization AND o.deleted_at IS NULL '
        f"WHERE c.deleted_at IS NULL{where} ORDER BY c.id LIMIT {page}"
    )


def floor_json(rows: list[Any]) -> str:
    """Rows of the floor query as the GraphQL response body would be, as JSON text."""
    edges = []
    for row in rows:
        emails = row["emails"]
        created = row["created_at"]
        edges.append(
            {
                "node": {
                    "id": str(row["id"]),
                    "firstName": row["first_name"],
                    "lastName": row["last_name"],
                    "emails": json.loads(emails) if isinstance(emails, str) else emails,
                    "title": row["title"],
                    "city": row["city"],
                    "lifecycleStage": row["lifecycle_stage"],
                    "createdAt": created.isoformat() if created is not None else None,
                    "customFields": {
                        "tier": row["cf_tier"],
                        "score": row["cf_score"],
                        "segment": row["cf_segment"],
                    },
                    "organization": {"name": row["org_name"]} if row["org_id"] is not None else None,
                }
            }
        )
    return json.dumps({"data": {"contacts": {"edges": edges}}})


class Variants:
    """Each variant is a coroutine function returning the JSON body of one request."""

    def __init__(self, kith: Kith, page: int = PAGE, tier: int | None = None) -> None:
        self.kith = kith
        self.page = page
        self.filter = {"customFields": {"tier": {"eq": tier}}} if tier is not None else None
        self.query = graphql_query(page, tier)
        self.sql = floor_sql(kith.db.dialect.is_postgres, page, tier)
        self._pool: Any = None
        self._sqlite: Any = None
        self._kith_sql: list[QueryString] = []

    async def graphql(self) -> str:
        result = await execute(self.kith, self.query)
        if "errors" in result:
            raise RuntimeError(f"GraphQL errors: {result['errors']}")
        return json.dumps(result)

    async def kith_query(self) -> str:
        """Kith's record layer without GraphQL: the list query GraphQL runs (same columns,
        same keyset ORDER BY, cursors, row decoding) plus one batched organization read."""
        kith = self.kith
        page = await kith.query.list(
            kith.db,
            ListRequest(kith.entity("contact"), self.filter, first=self.page, columns=set(NODE_COLUMNS)),
        )
        org_ids = list(dict.fromkeys(r["organization"] for r in page.rows if r["organization"] is not None))
        orgs = await load_records(kith, "organization", org_ids) if org_ids else []
        org_names = {org["id"]: org["name"] for org in orgs if org is not None}
        decoders = {
            f.name: FIELD_TYPES[f.type].decode or (lambda v: v) for f in kith.custom_fields.for_entity("contact")
        }
        edges = []
        for r in page.rows:
            stored = r["custom"] or {}
            custom = {n: (decode(stored[n]) if stored.get(n) is not None else None) for n, decode in decoders.items()}
            edges.append(
                {
                    "node": {
                        "id": str(r["id"]),
                        "firstName": r["first_name"],
                        "lastName": r["last_name"],
                        "emails": r["emails"],
                        "title": r["title"],
                        "city": r["city"],
                        "lifecycleStage": r["lifecycle_stage"],
                        "createdAt": jsonable(r["created_at"]),
                        "customFields": jsonable(custom),
                        "organization": {"name": org_names[r["organization"]]}
                        if r["organization"] in org_names
                        else None,
                    }
                }
            )
        return json.dumps({"data": {"contacts": {"edges": edges}}})

    async def capture_kith_sql(self) -> None:
        """Record the statements (with their arguments) one kith-query request sends."""
        db = self.kith.db
        real_fetch = db.fetch
        captured: list[QueryString] = []

        async def spy(query: QueryString) -> Any:
            captured.append(query)
            return await real_fetch(query)

        db.fetch = spy  # type: ignore[method-assign]
        try:
            await self.kith_query()
        finally:
            del db.fetch
        self._kith_sql = captured

    async def explain(self) -> str:
        """The plans of Kith's list statement and of the floor's, as the database reports them."""
        postgres = self.kith.db.dialect.is_postgres
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        out = []
        for name, query in (("kith list statement", self._kith_sql[0]), ("floor", QueryString(self.sql))):
            rows = await self.kith.db.fetch(QueryString(prefix + "{}", query))
            lines = [str(row["QUERY PLAN"] if postgres else row["detail"]) for row in rows]
            out.append(f"plan of the {name}:\n    " + "\n    ".join(lines))
        return "\n".join(out)

    async def kith_sql(self) -> str:
        """Only the SQL of kith-query, replayed through the same engine: no decoding, no JSON."""
        for query in self._kith_sql:
            await self.kith.db.fetch(query)
        return ""

    async def floor(self) -> str:
        return floor_json(await self.kith.db.fetch(QueryString(self.sql)))

    async def start_direct(self) -> None:
        db = self.kith.db
        if db.dialect.is_postgres:
            import asyncpg

            self._pool = await asyncpg.create_pool(
                db.url.split("?", 1)[0],
                min_size=1,
                max_size=int(os.environ.get("KITH_DB_POOL_SIZE", "10")),
                server_settings={"search_path": db.schema},
            )
        else:
            import aiosqlite

            self._sqlite = await aiosqlite.connect(**db.engine.connection_kwargs)
            self._sqlite.row_factory = sqlite3.Row

    async def floor_direct(self) -> str:
        if self._pool is not None:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(self.sql)
        else:
            async with self._sqlite.execute(self.sql) as cursor:
                rows = await cursor.fetchall()
        return floor_json(rows)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._sqlite is not None:
            await self._sqlite.close()


async def verify(variants: Variants) -> list[str]:
    """Same ids, same order, same first names — in fact the same payload — or exit non-zero."""
    async with count_statements() as counter:
        graphql = json.loads(await variants.graphql())
    reference = graphql["data"]["contacts"]["edges"]
    if len(reference) != variants.page:
        raise SystemExit(f"verify: GraphQL returned {len(reference)} contacts, expected {variants.page}")
    for name, run in (
        ("kith-query", variants.kith_query),
        ("floor", variants.floor),
        ("floor-direct", variants.floor_direct),
    ):
        edges = json.loads(await run())["data"]["contacts"]["edges"]
        for field in ("id", "firstName"):
            got = [e["node"][field] for e in edges]
            want = [e["node"][field] for e in reference]
            if got != want:
                raise SystemExit(f"verify: {name} and GraphQL disagree on {field}: {got[:5]}... vs {want[:5]}...")
        for mine, theirs in zip(edges, reference, strict=True):
            if mine != theirs:
                raise SystemExit(
                    f"verify: {name} returns a different node than GraphQL:\n  {name}: {mine}\n  graphql: {theirs}"
                )
    return counter.statements


# -- measuring -------------------------------------------------------------------------------


class Measurement:
    """Latencies and statement counts of one variant, gathered over one or more time slices."""

    def __init__(self, run: Callable[[], Awaitable[str]], count_sql: bool) -> None:
        self.run = run
        self.count_sql = count_sql
        self.latencies: list[float] = []
        self.statements: list[int] = []
        self.elapsed = 0.0
        self.cpu = 0.0

    async def one(self) -> None:
        started = time.perf_counter()
        if self.count_sql:
            async with count_statements() as counter:
                await self.run()
            self.statements.append(counter.count)
        else:
            await self.run()
        self.latencies.append(time.perf_counter() - started)

    async def warm_up(self, requests: int) -> None:
        for _ in range(requests):  # caches, the pool, the schema
            await self.one()
        self.latencies.clear()
        self.statements.clear()

    async def slice(self, seconds: float, concurrency: int) -> None:
        started, cpu = time.perf_counter(), time.process_time()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            if concurrency == 1:
                await self.one()
            else:
                await asyncio.gather(*(self.one() for _ in range(concurrency)))
        self.elapsed += time.perf_counter() - started
        self.cpu += time.process_time() - cpu

    def result(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "requests": len(ordered),
            "rps": round(len(ordered) / self.elapsed, 1),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 3),
            "cpu_ms": round(self.cpu / len(ordered) * 1000, 3),
            "statements_per_request": round(statistics.fmean(self.statements), 3) if self.statements else None,
        }


async def measure_all(
    runs: dict[str, tuple[Callable[[], Awaitable[str]], bool]], seconds: float, concurrency: int
) -> dict[str, dict[str, Any]]:
    """Each variant for ``seconds`` in total, in interleaved slices of about half a second,
    so a burst of load from elsewhere on the machine is shared out instead of hitting one."""
    measurements = {name: Measurement(run, counted) for name, (run, counted) in runs.items()}
    for measurement in measurements.values():
        await measurement.warm_up(max(5, concurrency))
    rounds = max(1, round(seconds / 0.5))
    for _ in range(rounds):
        for measurement in measurements.values():
            await measurement.slice(seconds / rounds, concurrency)
    return {name: m.result() for name, m in measurements.items()}


async def run_profile(variants: Variants, requests: int) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        await variants.graphql()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)
    return out.getvalue()


# -- main ------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    url = args.database_url
    scheme = urlparse(url).scheme
    created_file = False
    if scheme == "sqlite":
        path = sqlite_path(url)
        if args.default_sqlite and not args.reuse:
            remove_sqlite(path)
        created_file = not path.exists()
        engine = "sqlite"
    elif scheme in ("postgres", "postgresql"):
        schema = pg_schema(url)
        await pg_admin(url, f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        engine = "postgresql"
    else:
        raise SystemExit(f"unsupported database URL {url!r}")

    kith = await Kith.open(load_settings(database_url=url))
    variants = Variants(kith, args.page, args.tier)
    try:
        existing = await kith.count("contact")
        load_seconds = None
        if existing and not args.reuse:
            print(
                f"{kith.db.display_url} already holds {existing} contacts: pass --reuse to measure "
                "them, or point at a fresh database or schema.",
                file=sys.stderr,
            )
            args.drop = False  # never drop data this run refused to touch
            return 2
        await ensure_custom_fields(kith, args.indexed)
        if not existing:
            print(
                f"loading {args.contacts} contacts and {args.organizations} organizations "
                f"into {kith.db.display_url} ...",
                flush=True,
            )
            started = time.perf_counter()
            await load(kith, args.contacts, args.organizations, args.seed)
            load_seconds = round(time.perf_counter() - started, 2)
            print(f"loaded in {load_seconds:.2f} s ({args.contacts / load_seconds:,.0f} contacts/s)", flush=True)
        else:
            print(f"reusing the {existing} contacts already in {kith.db.display_url}", flush=True)
        rows = await kith.count("contact")
        organizations = await kith.count("organization")

        await variants.start_direct()
        statements = await verify(variants)
        print(
            f"verified: GraphQL, kith-query, floor and floor-direct return the same {args.page} contacts "
            "in the same order"
        )
        print("SQL of one GraphQL request:")
        for sql in statements:
            print("   ", re.sub(r"\s+", " ", sql)[:150])

        await variants.capture_kith_sql()
        if args.explain:
            print(await variants.explain())
        runs = {
            "graphql": (variants.graphql, True),
            "kith-query": (variants.kith_query, True),
            "kith-sql": (variants.kith_sql, True),
            "floor": (variants.floor, True),
            "floor-direct": (variants.floor_direct, False),
        }
        print(
            f"measuring {', '.join(runs)}: {args.seconds:g} s each, interleaved (concurrency {args.concurrency}) ...",
            flush=True,
        )
        results = await measure_all(runs, args.seconds, args.concurrency)

        graphql, floor, direct = results["graphql"], results["floor"], results["floor-direct"]
        ratio = round(floor["rps"] / graphql["rps"], 2)
        direct_ratio = round(direct["rps"] / graphql["rps"], 2)
        driver = "asyncpg pool" if engine == "postgresql" else "one aiosqlite connection"

        print()
        print(
            f"{'engine':<11} {'rows':>9} {'graphql req/s':>14} {'floor req/s':>12} "
            f"{'ratio':>7} {'stmts/graphql req':>18}"
        )
        print(
            f"{engine:<11} {rows:>9} {graphql['rps']:>14.1f} {floor['rps']:>12.1f} "
            f"{ratio:>6.2f}x {graphql['statements_per_request']:>18.2f}"
        )
        print()
        print(
            f"{'variant':<14} {'req/s':>9} {'mean ms':>9} {'p95 ms':>9} {'cpu ms':>8} {'stmts/req':>10} "
            f"{'mean/floor':>11}"
        )
        for name, result in results.items():
            stmts = result["statements_per_request"]
            print(
                f"{name:<14} {result['rps']:>9.1f} {result['mean_ms']:>9.2f} {result['p95_ms']:>9.2f} "
                f"{result['cpu_ms']:>8.2f} {(f'{stmts:.2f}' if stmts is not None else '1 (direct)'):>10} "
                f"{result['mean_ms'] / floor['mean_ms']:>10.1f}x"
            )
        print(
            "  graphql:      execute(kith, query) in-process + json.dumps of the response\n"
            "  kith-query:   Kith's record layer without GraphQL (the same list query, decoding, cursors,\n"
            "                one batched organization read) + json.dumps\n"
            "  kith-sql:     only the statements kith-query sends, replayed through the same engine\n"
            "  floor:        one hand-written SELECT (LEFT JOIN organization) via kith.db.fetch + json.dumps\n"
            f"  floor-direct: the same SELECT on the driver alone ({driver}) + json.dumps\n"
            "  cpu ms: CPU time of this process per request (Python; on SQLite also the query itself)\n"
            f"  ratio = floor req/s / graphql req/s (against floor-direct: {direct_ratio:.2f}x)"
        )

        if args.profile:
            print(await run_profile(variants, args.profile))

        print(
            json.dumps(
                {
                    "benchmark": "contacts_list",
                    "engine": engine,
                    "rows": rows,
                    "organizations": organizations,
                    "page": args.page,
                    "filter": variants.filter,
                    "seconds": args.seconds,
                    "concurrency": args.concurrency,
                    "load_seconds": load_seconds,
                    "graphql": graphql,
                    "floor": floor,
                    "floor_direct": {**direct, "driver": driver},
                    "kith_query": results["kith-query"],
                    "kith_sql": results["kith-sql"],
                    "ratio": ratio,
                    "ratio_direct": direct_ratio,
                    "statements_per_graphql_request": graphql["statements_per_request"],
                },
                separators=(",", ":"),
            )
        )
        return 0
    finally:
        await variants.close()
        await kith.close()
        if args.drop:
            if engine == "postgresql":
                await pg_admin(url, f'DROP SCHEMA IF EXISTS "{pg_schema(url)}" CASCADE')
                print(f"dropped schema {pg_schema(url)}", file=sys.stderr)
            elif created_file or args.default_sqlite:
                remove_sqlite(sqlite_path(url))
                print(f"deleted {sqlite_path(url)}", file=sys.stderr)
            else:
                print(f"--drop: left {sqlite_path(url)} alone (this run did not create it)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
