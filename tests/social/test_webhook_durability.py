"""A webhook delivery is durable before it is answered, proven with a real ``kith serve``.

The server is a subprocess running the installed ``kith`` command on the test's own
database (a SQLite file, or a PostgreSQL database when ``KITH_TEST_DATABASE_URL`` is
set), with the social plugin's settings in ``KITH_PLUGIN`` and no worker inside it.  A
bridge's signed delivery is sent over a raw socket and the server is killed with SIGKILL
the moment the status line of its answer arrives: no graceful shutdown, no code of it
runs after the answer.  Every item of the delivery must then be in the database.  A
second server is started and the identical delivery (same body, same headers) replayed:
it is answered ``200 duplicate`` and nothing new is stored or queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from social_helpers import KEY, item, signed, social_kith

from kith.sdk.testing import GraphQLClient, system_context

KITH = Path(sys.executable).with_name("kith")  # the console script of this environment
CONNECT = """mutation { connectSocialAccount(platform: "webhook", handle: "acme") {
  account { id } signingSecret errors { field message } } }"""
ITEMS = 25


def server_env(url: str) -> dict[str, str]:
    """This environment without any KITH_* setting of the shell, plus the test's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITH_")}
    env.update(
        KITH_DATABASE_URL=url,
        KITH_PLUGIN=json.dumps({"social": {"credentials_key": KEY}}),
        KITH_WORKER_IN_SERVE="false",  # nothing but the route touches the mentions
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_of(path: Path) -> str:
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


def start_server(directory: Path, name: str, url: str, port: int) -> subprocess.Popen[bytes]:
    """``kith serve`` in the background, its output in ``<directory>/<name>.log``."""
    with (directory / f"{name}.log").open("wb") as out:
        return subprocess.Popen(
            [str(KITH), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=directory, env=server_env(url), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


@contextlib.asynccontextmanager
async def serving(directory: Path, name: str, url: str) -> AsyncIterator[tuple[subprocess.Popen[bytes], int]]:
    """``kith serve`` on a free port until it answers ``/health``; SIGKILLed on the way
    out if it is still running."""
    port = free_port()
    log = directory / f"{name}.log"
    process = start_server(directory, name, url, port)
    try:
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"kith serve exited ({process.returncode}) before answering:\n{log_of(log)}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    pytest.fail(f"kith serve did not answer /health within 60 s:\n{log_of(log)}")
                await asyncio.sleep(0.05)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


async def deliver(port: int, path: str, body: str, headers: dict[str, str], kill: int | None = None) -> tuple[int, Any]:
    """POST the delivery over a raw socket; with ``kill`` (a pid), SIGKILL it as soon as
    the status line of the answer is in, then read what had been sent.  Returns the
    status and the JSON body (None when the body did not make it before the kill)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = body.encode()
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(data)}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), timeout=30)
    if kill is not None:
        os.kill(kill, signal.SIGKILL)  # the answer has begun: nothing of the server runs after this
    rest = await asyncio.wait_for(reader.read(), timeout=30)
    writer.close()
    status = int(status_line.split()[1])
    _, _, payload = rest.partition(b"\r\n\r\n")
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, None


async def counts(kith: Any) -> dict[str, int]:
    rows = await kith.db.execute(
        "SELECT (SELECT COUNT(*) FROM social_mention) AS mentions, "
        "(SELECT COUNT(*) FROM kith_outbox WHERE event = 'job.social.process') AS process_runs"
    )
    return {name: int(value) for name, value in dict(rows[0]).items()}


async def test_a_delivery_answered_survives_a_kill_and_its_replay_stores_nothing(
    make_kith, kith_database_url, tmp_path
):
    kith = await social_kith(make_kith)
    made = (await GraphQLClient(kith).query(CONNECT))["connectSocialAccount"]
    assert made["errors"] == [], made
    account, secret = made["account"]["id"], made["signingSecret"]
    payload = {"items": [
        item(f"d-{n}", f"@acme message {n} about my order", handle=f"person{n % 7}", name=f"Person {n % 7}",
             **({"inReplyTo": f"d-{n - 1}"} if n % 5 else {}))
        for n in range(ITEMS)
    ]}  # fmt: skip
    body, headers = signed(secret, payload, "delivery-1")
    path = f"/social/webhooks/{account}"

    async with serving(tmp_path, "first", kith_database_url) as (first, port):
        status, answer = await deliver(port, path, body, headers, kill=first.pid)
        assert first.wait(timeout=10) == -signal.SIGKILL
    assert status == 202, (status, answer, log_of(tmp_path / "first.log"))
    assert answer in (None, {"status": "accepted", "stored": ITEMS})

    # killed the moment it answered: every item of the delivery is stored all the same
    stored = await system_context(kith).records.list("social_mention", first=100, order_by=[{"id": "ASC"}])
    assert sorted(m["platform_id"] for m in stored) == sorted(f"d-{n}" for n in range(ITEMS))
    assert {m["state"] for m in stored} == {"received"}
    assert {(m["platform_id"], m["text"]) for m in stored} == {(i["id"], i["text"]) for i in payload["items"]}
    before = await counts(kith)
    assert before == {"mentions": ITEMS, "process_runs": 1}  # and their processing is queued, once

    # the bridge never saw the answer (or doubts it): it sends the same delivery again
    async with serving(tmp_path, "second", kith_database_url) as (_second, port):
        replay = await deliver(port, path, body, headers)
    assert replay == (200, {"status": "duplicate", "stored": 0})
    assert await counts(kith) == before  # nothing new stored, nothing new queued
