"""The floor of bench_http.py: the least work that answers its GraphQL requests.

A hand-written ASGI app, no framework: it checks ``Authorization: Bearer <key>`` with
one dict lookup, recognises the request by its ``query`` text (one dict lookup), runs
one hand-written SQL statement per read and serialises the rows with orjson into the same
JSON Kith answers with.  The two writes (create a contact, change a contact's title)
write what Kith's record service writes, in one transaction: the row, its audit row (the
changes, old and new) and its outbox row (the event with the record as written).  It is served by ``uvicorn.run`` with the arguments ``kith serve``
uses, so both servers run the same ASGI server with the same settings.

Run by bench_http.py (``python http_floor.py --host H --port P``), configured by
environment variables:

* ``FLOOR_DATABASE_URL``: Kith's database (``postgresql://…?schema=NAME``: an asyncpg
  pool of ``KITH_DB_POOL_SIZE`` connections, default 10, as Kith's; ``sqlite:///file``:
  one long-lived aiosqlite connection, as Kith's reads use);
* ``FLOOR_KEYS_FILE``: a JSON object ``{api key: user id}`` (the keys bench_http.py made
  with Kith, so both servers accept the same credentials);
* ``BENCH_STATEMENTS_FILE``: on SIGUSR1 the number of SQL statements sent so far is
  written there as ``{"count": n}`` (the same mechanism as serve_counted.py for Kith).

Cursors are signed like Kith's (HMAC-SHA256 of the sort values with the installation's
secret, read from ``kith_meta``, bound to the list and the user), so the floor does the
same checking a cursor needs; the floor's own binding differs from Kith's, so each
server is handed cursors it gave out itself.  The file is not named ``bench_*.py``: it is
not a benchmark, only a part of one (and pytest collects neither).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import re
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson
import uvicorn

Json = dict[str, Any]

# -- the four requests (bench_http.py sends exactly these texts) -------------------------------

CONTACT_PAGE = 100
CONTACTS_PAGE_QUERY = (
    "query ContactsPage($after: String) { contacts(first: 100, after: $after) { edges { node { "
    "id firstName lastName emails title city lifecycleStage createdAt customFields { tier score segment } "
    "organization { name } } } pageInfo { endCursor hasNextPage } } }"
)
NESTED_QUERY = (
    "query Nested { organizations(first: 20) { edges { node { id name contacts(first: 10) { "
    "id firstName lastName timeline(first: 5) { id kind subject occurredAt } } } } } }"
)
CONTACT_QUERY = (
    "query OneContact($id: ID!) { contact(id: $id) { id firstName lastName emails phones title city country "
    "lifecycleStage tags createdAt updatedAt version customFields { tier score segment } organization { id name } } }"
)
FILTERED_QUERY = (
    "query ByTier { contacts(first: 50, filter: {customFields: {tier: {eq: 3}}}) { edges { node { "
    "id firstName lastName customFields { tier score segment } } } } }"
)


CREATE_MUTATION = (
    "mutation Create($input: ContactCreateInput!) { createContact(input: $input) { "
    "contact { id firstName lastName emails title lifecycleStage version } errors { field message } } }"
)
UPDATE_MUTATION = (
    "mutation Retitle($id: ID!, $input: ContactUpdateInput!) { updateContact(id: $id, input: $input) { "
    "contact { id title version } errors { field message } } }"
)
#: the columns of a new contact the floor writes, and the fields of its answer
CREATED_COLUMNS = ("first_name", "last_name", "emails", "title", "lifecycle_stage")


def floor_binding(user_id: int) -> bytes:
    """What the floor's cursors are bound to: the list, its order and the user."""
    return f"contacts|id|{user_id}".encode()


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, binding: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, binding + b"\x00" + payload, hashlib.sha256).digest()[:16]


def make_cursor(secret: bytes, user_id: int, last_id: int) -> str:
    payload = orjson.dumps([last_id])
    return b64(payload) + "." + b64(sign(secret, floor_binding(user_id), payload))


def read_cursor(secret: bytes, user_id: int, cursor: str) -> int | None:
    """The id a cursor holds, or None when it is not one the floor signed for this user."""
    body, _, signature = cursor.partition(".")
    try:
        payload, given = unb64(body), unb64(signature)
    except ValueError:
        return None
    if not hmac.compare_digest(given, sign(secret, floor_binding(user_id), payload)):
        return None
    values = orjson.loads(payload)
    return int(values[0]) if isinstance(values, list) and len(values) == 1 else None


# -- SQL, one statement per request ----------------------------------------------------------


class Sql:
    """The four statements, written once with ``$n`` parameters (``?n`` on SQLite), and how
    this engine returns what Kith answers with: JSON columns come back as text on both
    engines (passed through with ``orjson.Fragment``), timestamps as datetimes on
    PostgreSQL and as text on SQLite."""

    def __init__(self, postgres: bool) -> None:
        self.postgres = postgres
        if postgres:
            # the expression Kith's custom-field index and filters use, so the index serves it
            tier = "(c.custom->>'tier')::bigint"
            score, segment = "c.custom->>'score'", "c.custom->>'segment'"
        else:
            tier, score, segment = (f"json_extract(c.custom, '$.{key}')" for key in ("tier", "score", "segment"))
        custom = f"{tier}, {score}, {segment}"
        live = "c.deleted_at IS NULL"
        self.page = (
            "SELECT c.id, c.first_name, c.last_name, c.emails, c.title, c.city, c.lifecycle_stage, c.created_at, "
            f"{custom}, o.name FROM contact c "
            "LEFT JOIN organization o ON o.id = c.organization AND o.deleted_at IS NULL "
            f"WHERE {live} AND c.id > $1 ORDER BY c.id LIMIT {CONTACT_PAGE + 1}"
        )
        # 20 organizations, the first 10 contacts of each, the newest 5 activities of each
        # contact: LATERAL joins on PostgreSQL; SQLite has none, so correlated subqueries
        # (``+deleted_at`` keeps SQLite, which has no statistics here, on the relation's index)
        orgs = "(SELECT id, name FROM organization WHERE deleted_at IS NULL ORDER BY id LIMIT 20) o"
        columns = "o.id, o.name, c.id, c.first_name, c.last_name, a.id, a.kind, a.subject, a.occurred_at"
        if postgres:
            self.nested = (
                f"SELECT {columns} FROM {orgs} "
                "LEFT JOIN LATERAL (SELECT id, first_name, last_name FROM contact "
                "WHERE organization = o.id AND deleted_at IS NULL ORDER BY id LIMIT 10) c ON true "
                "LEFT JOIN LATERAL (SELECT id, kind, subject, occurred_at FROM activity "
                "WHERE subject_type = 'contact' AND subject_id = c.id AND deleted_at IS NULL "
                "ORDER BY occurred_at DESC NULLS LAST, id DESC LIMIT 5) a ON true "
                "ORDER BY o.id, c.id, a.occurred_at DESC NULLS LAST, a.id DESC"
            )
        else:
            self.nested = (
                f"SELECT {columns} FROM {orgs} "
                "LEFT JOIN contact c ON c.id IN (SELECT x.id FROM contact x "
                "WHERE x.organization = o.id AND +x.deleted_at IS NULL ORDER BY x.id LIMIT 10) "
                "LEFT JOIN activity a ON a.id IN (SELECT y.id FROM activity y "
                "WHERE y.subject_type = 'contact' AND y.subject_id = c.id AND +y.deleted_at IS NULL "
                "ORDER BY y.occurred_at DESC NULLS LAST, y.id DESC LIMIT 5) "
                "ORDER BY o.id, c.id, a.occurred_at DESC NULLS LAST, a.id DESC"
            )
        self.one = (
            "SELECT c.id, c.first_name, c.last_name, c.emails, c.phones, c.title, c.city, c.country, "
            f"c.lifecycle_stage, c.tags, c.created_at, c.updated_at, c.version, {custom}, o.id, o.name "
            "FROM contact c LEFT JOIN organization o ON o.id = c.organization AND o.deleted_at IS NULL "
            f"WHERE c.id = $1 AND {live}"
        )
        self.filtered = (
            f"SELECT c.id, c.first_name, c.last_name, {custom} FROM contact c "
            f"WHERE {tier} = 3 AND {live} ORDER BY c.id LIMIT 50"
        )
        now = "now()" if postgres else "strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')"
        self.insert = (
            "INSERT INTO contact (first_name, last_name, emails, title, lifecycle_stage, phones, tags, custom, "
            f"created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, '[]', '[]', '{{}}', {now}, {now}, 1) "
            "RETURNING *"
        )
        self.old_title = "SELECT title FROM contact WHERE id = $1 AND deleted_at IS NULL" + (
            " FOR UPDATE" if postgres else ""
        )
        self.retitle = (
            f"UPDATE contact SET title = $2, version = version + 1, updated_at = {now} WHERE id = $1 RETURNING *"
        )
        self.audit = (
            "INSERT INTO kith_audit (entity, record_id, action, actor, source, changes, at) "
            f"VALUES ('contact', $1, $2, 'bench-floor', 'api', $3, {now})"
        )
        self.outbox = (
            "INSERT INTO kith_outbox (event, entity, record_id, payload, idempotency_key, created_at, "
            f"available_at, attempts, status, depth) VALUES ($1, 'contact', $2, $3, $4, {now}, {now}, 0, 'done', 0)"
        )
        if not postgres:
            for name in ("page", "nested", "one", "filtered", "insert", "old_title", "retitle", "audit", "outbox"):
                setattr(self, name, re.sub(r"\$(\d+)", r"?\1", getattr(self, name)))

    def json(self, text: str | None) -> Any:
        return None if text is None else orjson.Fragment(text)

    def time(self, value: Any) -> Any:
        """A timestamp as Kith writes it (ISO 8601); orjson writes datetimes the same way."""
        if value is None or self.postgres:
            return value
        return value[:10] + "T" + value[11:]  # SQLite keeps '2024-01-02 03:04:05+00:00'


# -- the database ----------------------------------------------------------------------------


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = urlparse(url).scheme in ("postgres", "postgresql")
        self.statements = 0
        self._pool: Any = None
        self._sqlite: Any = None
        self._writer = asyncio.Lock()  # SQLite: one transaction at a time on the one connection

    async def open(self) -> None:
        if self.postgres:
            import asyncpg

            schema = parse_qs(urlparse(self.url).query).get("schema", [None])[0]
            self._pool = await asyncpg.create_pool(
                self.url.split("?", 1)[0],
                min_size=1,
                max_size=int(os.environ.get("KITH_DB_POOL_SIZE", "10")),
                server_settings={"search_path": schema} if schema else None,
            )
        else:
            import aiosqlite

            self._sqlite = await aiosqlite.connect(self.url[len("sqlite:///") :], isolation_level=None)
            self._sqlite.row_factory = aiosqlite.Row
            await self._sqlite.execute("PRAGMA busy_timeout = 5000")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._sqlite is not None:
            await self._sqlite.close()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.statements += 1
        if self._pool is not None:
            async with self._pool.acquire() as conn:
                return list(await conn.fetch(sql, *args))
        async with self._sqlite.execute(sql, args) as cursor:
            return list(await cursor.fetchall())

    async def write(self, statements: Callable[[Callable[..., Awaitable[list[Any]]]], Awaitable[Json | None]]) -> Any:
        """Run ``statements`` (given a ``fetch(sql, *args)``) in one write transaction: on
        PostgreSQL a pooled connection's transaction; on SQLite the one connection, one
        writer at a time, ``BEGIN IMMEDIATE`` as Kith's writes."""
        if self._pool is not None:
            async with self._pool.acquire() as conn, conn.transaction():

                async def fetch(sql: str, *args: Any) -> list[Any]:
                    self.statements += 1
                    return list(await conn.fetch(sql, *args))

                return await statements(fetch)
        async with self._writer:
            await self._sqlite.execute("BEGIN IMMEDIATE")
            try:
                result = await statements(self.fetch)
            except BaseException:
                await self._sqlite.execute("ROLLBACK")
                raise
            await self._sqlite.execute("COMMIT")
            return result


# -- the app ---------------------------------------------------------------------------------------


class Floor:
    def __init__(self) -> None:
        self.db = Database(os.environ["FLOOR_DATABASE_URL"])
        self.sql = Sql(self.db.postgres)
        with open(os.environ["FLOOR_KEYS_FILE"], "rb") as keys:
            self.keys: dict[bytes, int] = {key.encode(): int(user) for key, user in orjson.loads(keys.read()).items()}
        self.secret = b""
        self.handlers: dict[str, Callable[[Json, int], Awaitable[Json | None]]] = {
            CONTACTS_PAGE_QUERY: self.contacts_page,
            NESTED_QUERY: self.nested,
            CONTACT_QUERY: self.contact,
            FILTERED_QUERY: self.filtered,
            CREATE_MUTATION: self.create,
            UPDATE_MUTATION: self.update,
        }

    async def startup(self) -> None:
        await self.db.open()
        rows = await self.db.fetch("SELECT value FROM kith_meta WHERE key = 'secret_key'")
        self.secret = str(rows[0][0]).encode()
        self.db.statements = 0

    def custom(self, row: Any, at: int) -> Json:
        return {"tier": row[at], "score": row[at + 1], "segment": row[at + 2]}

    async def contacts_page(self, variables: Json, user_id: int) -> Json | None:
        after = variables.get("after")
        last = 0
        if after is not None:
            found = read_cursor(self.secret, user_id, after)
            if found is None:
                return None
            last = found
        rows = await self.db.fetch(self.sql.page, last)
        more = len(rows) > CONTACT_PAGE
        rows = rows[:CONTACT_PAGE]
        json, time, custom = self.sql.json, self.sql.time, self.custom
        edges = [
            {
                "node": {
                    "id": str(r[0]),
                    "firstName": r[1],
                    "lastName": r[2],
                    "emails": json(r[3]),
                    "title": r[4],
                    "city": r[5],
                    "lifecycleStage": r[6],
                    "createdAt": time(r[7]),
                    "customFields": custom(r, 8),
                    "organization": None if r[11] is None else {"name": r[11]},
                }
            }
            for r in rows
        ]
        end = make_cursor(self.secret, user_id, rows[-1][0]) if rows else None
        return {"contacts": {"edges": edges, "pageInfo": {"endCursor": end, "hasNextPage": more}}}

    async def nested(self, variables: Json, user_id: int) -> Json | None:
        rows = await self.db.fetch(self.sql.nested)
        time = self.sql.time
        edges: list[Json] = []
        org_id = contact_id = None
        contacts: list[Json] = []
        timeline: list[Json] = []
        for r in rows:
            if r[0] != org_id:
                org_id, contact_id = r[0], None
                contacts = []
                edges.append({"node": {"id": str(r[0]), "name": r[1], "contacts": contacts}})
            if r[2] is not None and r[2] != contact_id:
                contact_id = r[2]
                timeline = []
                contacts.append({"id": str(r[2]), "firstName": r[3], "lastName": r[4], "timeline": timeline})
            if r[5] is not None:
                timeline.append({"id": str(r[5]), "kind": r[6], "subject": r[7], "occurredAt": time(r[8])})
        return {"organizations": {"edges": edges}}

    async def contact(self, variables: Json, user_id: int) -> Json | None:
        try:
            wanted = int(variables["id"])
        except (KeyError, TypeError, ValueError):
            return None
        rows = await self.db.fetch(self.sql.one, wanted)
        if not rows:
            return {"contact": None}
        r = rows[0]
        json, time = self.sql.json, self.sql.time
        return {
            "contact": {
                "id": str(r[0]),
                "firstName": r[1],
                "lastName": r[2],
                "emails": json(r[3]),
                "phones": json(r[4]),
                "title": r[5],
                "city": r[6],
                "country": r[7],
                "lifecycleStage": r[8],
                "tags": json(r[9]),
                "createdAt": time(r[10]),
                "updatedAt": time(r[11]),
                "version": r[12],
                "customFields": self.custom(r, 13),
                "organization": None if r[16] is None else {"id": str(r[16]), "name": r[17]},
            }
        }

    async def filtered(self, variables: Json, user_id: int) -> Json | None:
        rows = await self.db.fetch(self.sql.filtered)
        custom = self.custom
        edges = [
            {"node": {"id": str(r[0]), "firstName": r[1], "lastName": r[2], "customFields": custom(r, 3)}} for r in rows
        ]
        return {"contacts": {"edges": edges}}

    def record(self, row: Any) -> Json:
        """A written row as the outbox payload's record (JSON columns parsed)."""
        record = dict(row)
        for column in ("emails", "phones", "tags", "custom"):
            if isinstance(record.get(column), str):
                record[column] = orjson.loads(record[column])
        return record

    async def journal(self, fetch: Any, action: str, row: Any, changes: Json) -> None:
        """The audit row and the outbox row of a change, as Kith's record service writes them."""
        payload = {"record": self.record(row), "changed": sorted(changes), "changes": changes, "actor": "bench-floor"}
        await fetch(self.sql.audit, row["id"], action, orjson.dumps(changes).decode())
        await fetch(self.sql.outbox, f"contact.{action}d", row["id"], orjson.dumps(payload).decode(), uuid.uuid4().hex)

    async def create(self, variables: Json, user_id: int) -> Json | None:
        given = variables.get("input")
        if not isinstance(given, dict) or not given.get("lastName"):
            return None
        values = (
            given.get("firstName"),
            given["lastName"],
            orjson.dumps([str(e).strip().lower() for e in given.get("emails") or []]).decode(),
            given.get("title"),
            given.get("lifecycleStage") or "lead",
        )

        async def statements(fetch: Any) -> Json:
            (row,) = await fetch(self.sql.insert, *values)
            changes = {column: [None, row[column]] for column in CREATED_COLUMNS if row[column] is not None}
            await self.journal(fetch, "create", row, changes)
            return {
                "id": str(row["id"]),
                "firstName": row["first_name"],
                "lastName": row["last_name"],
                "emails": orjson.loads(row["emails"]),
                "title": row["title"],
                "lifecycleStage": row["lifecycle_stage"],
                "version": row["version"],
            }

        contact = await self.db.write(statements)
        return {"createContact": {"contact": contact, "errors": []}}

    async def update(self, variables: Json, user_id: int) -> Json | None:
        given = variables.get("input")
        try:
            wanted = int(variables["id"])
        except (KeyError, TypeError, ValueError):
            return None
        if not isinstance(given, dict) or set(given) != {"title"}:
            return None
        title = given["title"]

        async def statements(fetch: Any) -> Json | None:
            old = await fetch(self.sql.old_title, wanted)
            if not old:
                return None
            (row,) = await fetch(self.sql.retitle, wanted, title)
            await self.journal(fetch, "update", row, {"title": [old[0][0], title]})
            return {"id": str(row["id"]), "title": row["title"], "version": row["version"]}

        contact = await self.db.write(statements)
        return {"updateContact": {"contact": contact, "errors": []}}

    async def __call__(self, scope: Json, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/health" and method == "GET":
            await respond(send, 200, b'{"status":"ok"}')
            return
        if path != "/graphql" or method != "POST":
            await respond(send, 404, b'{"errors":[{"message":"not found"}]}')
            return
        user_id = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                user_id = self.keys.get(value[7:]) if value[:7] == b"Bearer " else None
                break
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if user_id is None:
            await respond(send, 401, b'{"errors":[{"message":"authentication required"}]}')
            return
        try:
            request = orjson.loads(body)
            handler = self.handlers[request["query"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await respond(send, 400, b'{"errors":[{"message":"not one of the four requests"}]}')
            return
        data = await handler(request.get("variables") or {}, user_id)
        if data is None:
            await respond(send, 200, b'{"data":null,"errors":[{"message":"invalid input"}]}')
            return
        await respond(send, 200, orjson.dumps({"data": data}))

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # report it to uvicorn, which then exits
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.db.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def respond(send: Any, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def dump_statements_on_sigusr1(count: Callable[[], int]) -> None:
    """On SIGUSR1, write the statements sent so far to $BENCH_STATEMENTS_FILE (atomically)."""
    path = os.environ.get("BENCH_STATEMENTS_FILE")
    if not path:
        return

    def dump(signum: int, frame: Any) -> None:
        with open(path + ".tmp", "w") as out:
            out.write(orjson.dumps({"count": count()}).decode())
        os.replace(path + ".tmp", path)

    signal.signal(signal.SIGUSR1, dump)


def main() -> None:
    parser = argparse.ArgumentParser(description="The floor server of bench_http.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = Floor()
    dump_statements_on_sigusr1(lambda: app.db.statements)
    # the same call as `kith serve` (cli/server_cmd.py): uvicorn's defaults otherwise
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    sys.exit(main())
