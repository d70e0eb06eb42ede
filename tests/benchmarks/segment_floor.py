"""The floor of bench_segment_count.py: the least work that answers its count request.

A hand-written ASGI app, no framework: it checks ``Authorization: Bearer <key>`` with one
dict lookup, runs one hand-written SQL count (asyncpg pool, or aiosqlite) and answers
``{"data": {"previewSegment": {"count": N}}}`` with orjson, whatever the request body
says (the benchmark sends it one request only).  Served by ``uvicorn.run`` with the
arguments ``kith serve`` uses.  Configured by environment variables:
``FLOOR_DATABASE_URL``, ``FLOOR_KEYS_FILE`` (a JSON list of API keys).
The file is not named ``bench_*.py``: it is a part of a benchmark, and pytest collects
neither.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson
import uvicorn

#: contacts of tier 3 or more, at an organization whose name starts with B, with a call
#: on their timeline in the last 30 days: what a developer would write by hand, with the
#: expression the tier's index is built on
COUNT_PG = """
SELECT count(*) FROM contact c
WHERE c.deleted_at IS NULL
  AND (c.custom->>'tier')::bigint >= 3
  AND EXISTS (SELECT 1 FROM organization o WHERE o.id = c.organization AND o.deleted_at IS NULL
              AND o.name ILIKE 'B%')
  AND EXISTS (SELECT 1 FROM activity a WHERE a.subject_type = 'contact' AND a.subject_id = c.id
              AND a.deleted_at IS NULL AND a.kind = 'call' AND a.occurred_at >= now() - interval '30 days')
"""
COUNT_SQLITE = """
SELECT count(*) FROM contact c
WHERE c.deleted_at IS NULL
  AND json_extract(c.custom, '$.tier') >= 3
  AND EXISTS (SELECT 1 FROM organization o WHERE o.id = c.organization AND o.deleted_at IS NULL
              AND o.name LIKE 'B%')
  AND EXISTS (SELECT 1 FROM activity a WHERE a.subject_type = 'contact' AND a.subject_id = c.id
              AND a.deleted_at IS NULL AND a.kind = 'call' AND a.occurred_at >= datetime('now', '-30 days'))
"""


class Floor:
    def __init__(self, url: str, keys: set[str]) -> None:
        self.url, self.keys = url, keys
        self.pool: Any = None
        self.sqlite: Any = None

    async def start(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme.startswith("postgres"):
            import asyncpg

            schema = parse_qs(parsed.query).get("schema", ["public"])[0]
            self.pool = await asyncpg.create_pool(
                self.url.split("?", 1)[0], min_size=1, max_size=4, server_settings={"search_path": schema}
            )
        else:
            import aiosqlite

            self.sqlite = await aiosqlite.connect(parsed.path)

    async def count(self) -> int:
        if self.pool is not None:
            # fetch, not fetchval: asyncpg's row-limited portal would forbid parallel workers
            rows = await self.pool.fetch(COUNT_PG)
            return int(rows[0][0])
        async with self.sqlite.execute(COUNT_SQLITE) as cursor:
            row = await cursor.fetchone()
        return int(row[0])

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/health":
            await _answer(send, 200, b'{"status":"ok"}')
            return
        more = True
        while more:  # the body is not read: there is one request it answers
            message = await receive()
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        key = headers.get(b"authorization", b"").removeprefix(b"Bearer ").decode()
        if key not in self.keys:
            await _answer(send, 401, b'{"errors":[{"message":"unauthenticated"}]}')
            return
        await _answer(send, 200, orjson.dumps({"data": {"previewSegment": {"count": await self.count()}}}))


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    keys = set(json.loads(open(os.environ["FLOOR_KEYS_FILE"]).read()))  # noqa: SIM115
    app = Floor(os.environ["FLOOR_DATABASE_URL"], keys)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")  # as `kith serve` runs Kith


if __name__ == "__main__":
    main()
