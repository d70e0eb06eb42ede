"""Webhooks, both ways, against real HTTP.

Outbound (a subscription, and a rule's ``send_webhook``): a failing receiver is retried
with growing delays and the same ``webhook-id``, lands in the dead-letter list after
the last attempt, and is delivered once when replayed after the receiver recovers.
The receiver is a real HTTP server on 127.0.0.1 (allowed with ``outbound_allow``, as a
local development set-up would); the worker runs in-process with short retry delays.

Inbound (``POST /webhooks/<source>``): only a correctly signed, fresh, first delivery
has an effect; everything else gets the status code that says why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from standardwebhooks import Webhook

from kith.core.automations import service, webhooks
from kith.core.automations.webhooks import new_secret, signed_request
from kith.core.automations.worker import Worker
from kith.core.settings import load_settings
from kith.core.web.app import create_app
from kith.sdk.testing import make_contact

BASE = 0.25  # seconds: the first retry delay in these tests (automation_retry_base_seconds)
ATTEMPTS = 3  # automation_max_attempts
RECEIVER_ALLOWED = ["127.0.0.1"]  # outbound_allow: the receiver is on loopback, which is refused otherwise


# -- a receiver that fails until told otherwise ------------------------------------------------


@dataclass
class Delivery:
    at: dt.datetime
    headers: dict[str, str]
    body: bytes
    answered: int


@dataclass
class Receiver:
    url: str = ""
    status: int = 500
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self, status: int) -> list[Delivery]:
        with self.lock:
            return [d for d in self.deliveries if d.answered == status]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on an ephemeral 127.0.0.1 port that records every POST and answers
    ``receiver.status`` (500 until a test sets 200)."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = dt.datetime.now(dt.UTC)
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            with state.lock:
                status = state.status
                state.deliveries.append(Delivery(at, {k.lower(): v for k, v in self.headers.items()}, body, status))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def drive(worker: Worker, done: Any, within: float = 15.0) -> None:
    """Run the worker in-process until ``await done()`` (waiting for retries to come due)."""
    deadline = time.monotonic() + within
    while not await done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s driving the worker")
        if await worker.run_once() == 0:
            await asyncio.sleep(0.02)


def spy_on_backoff(kith: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float]]:
    """Record (attempt, delay in seconds) each time the engine picks a retry delay."""
    chosen: list[tuple[int, float]] = []
    real = kith.automations.backoff

    def backoff(attempt: int) -> dt.timedelta:
        delay = real(attempt)
        chosen.append((attempt, delay.total_seconds()))
        return delay

    monkeypatch.setattr(kith.automations, "backoff", backoff)
    return chosen


async def job_row(kith: Any, job_id: int | None = None) -> dict[str, Any] | None:
    """The (one) automation job in the outbox, or the one with ``job_id``."""
    if job_id is not None:
        rows = await kith.db.execute("SELECT * FROM kith_outbox WHERE id = {}", job_id)
    else:
        rows = await kith.db.execute("SELECT * FROM kith_outbox WHERE event = 'automation.run'")
        assert len(rows) <= 1, rows
    return dict(rows[0]) if rows else None


def as_datetime(value: Any) -> dt.datetime:
    """A timestamp as read back by either engine (SQLite returns text)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def fail_until_dead(kith: Any, worker: Worker, receiver: Receiver) -> list[tuple[dt.datetime, int]]:
    """Drive the worker through every attempt against a failing receiver; returns, after
    each failed attempt that was retried, when the job became due again and its attempts."""
    schedule: list[tuple[dt.datetime, int]] = []

    async def dead() -> bool:
        row = await job_row(kith)
        if row is not None and row["status"] == "pending" and row["last_error"]:
            due = (as_datetime(row["available_at"]), int(row["attempts"]))
            if due not in schedule:
                schedule.append(due)
        return row is not None and row["status"] == "dead"

    await drive(worker, dead)
    return schedule


def check_retries(receiver: Receiver, chosen: list[tuple[int, float]], schedule: list[tuple[dt.datetime, int]]) -> str:
    """The failed attempts: one webhook-id, growing delays, each honoured; returns the id."""
    failed = receiver.answered(500)
    assert len(failed) == ATTEMPTS, [d.at for d in failed]
    (message_id,) = {d.headers["webhook-id"] for d in failed}  # the same id on every attempt
    # the engine chose a delay after each failure but the last, doubling (with jitter)
    assert [attempt for attempt, _ in chosen] == list(range(1, ATTEMPTS))
    delays = [delay for _, delay in chosen]
    for attempt, delay in enumerate(delays, start=1):
        full = BASE * 2 ** (attempt - 1)
        assert full / 2 <= delay <= full, (attempt, delay)
    assert delays == sorted(delays) and delays[0] < delays[-1]
    # the job became due that long after the failure, and was not tried again before then
    assert [attempts for _, attempts in schedule] == list(range(1, ATTEMPTS))
    for index, (due, _) in enumerate(schedule):
        waited = (due - failed[index].at).total_seconds()
        assert delays[index] <= waited <= delays[index] + 0.5, (index, waited, delays[index])
        assert failed[index + 1].at >= due
    return message_id


# -- outbound ---------------------------------------------------------------------------------------


async def test_subscription_retries_dead_letters_and_replays(make_kith, receiver, monkeypatch):
    kith = await make_kith(
        automation_retry_base_seconds=BASE, automation_max_attempts=ATTEMPTS, outbound_allow=RECEIVER_ALLOWED
    )
    secret = await webhooks.add_subscription(kith, "crm-sync", receiver.url, ["contact.*"])
    chosen = spy_on_backoff(kith, monkeypatch)
    contact = await make_contact(kith, first_name="Ann")
    worker = Worker(kith)

    schedule = await fail_until_dead(kith, worker, receiver)
    message_id = check_retries(receiver, chosen, schedule)
    for delivery in receiver.deliveries:  # every attempt is signed with the subscription's secret
        body = Webhook(secret).verify(delivery.body, delivery.headers)
        assert body["type"] == "contact.created"
        assert body["data"]["entity"] == "contact" and body["data"]["id"] == contact["id"]
        assert body["data"]["record"]["first_name"] == "Ann"

    (failed,) = await service.failed_jobs(kith)
    assert failed.rule == "webhook:crm-sync"
    assert (failed.entity, failed.record_id, failed.attempts) == ("contact", contact["id"], ATTEMPTS)
    assert failed.error == f"{receiver.url} answered 500"
    await worker.run_until_idle()
    assert len(receiver.deliveries) == ATTEMPTS  # a dead job stays dead until replayed

    receiver.status = 200
    await service.retry_job(kith, failed.id)
    await worker.run_until_idle()
    (delivered,) = receiver.answered(200)
    assert delivered.headers["webhook-id"] == message_id  # the receiver can tell it is the same event
    Webhook(secret).verify(delivered.body, delivered.headers)
    assert await service.failed_jobs(kith) == []
    assert (await job_row(kith, failed.id))["status"] == "done"
    await worker.run_until_idle()
    assert len(receiver.deliveries) == ATTEMPTS + 1  # delivered once


async def test_send_webhook_action_retries_dead_letters_and_replays(make_kith, receiver, monkeypatch):
    kith = await make_kith(
        automation_retry_base_seconds=BASE, automation_max_attempts=ATTEMPTS, outbound_allow=RECEIVER_ALLOWED
    )
    secret = new_secret()
    await service.apply_rule(
        kith,
        {
            "name": "notify-billing",
            "enabled": True,
            "trigger": {"event": "contact.created"},
            "conditions": {"lastName": {"eq": "Buyer"}},
            "actions": [
                {
                    "send_webhook": {
                        "url": receiver.url,
                        "secret": secret,
                        "event": "customer.new",
                        "data": {"contact": "{{ record.id }}", "name": "{{ record.first_name }}"},
                    }
                }
            ],
        },
    )
    chosen = spy_on_backoff(kith, monkeypatch)
    await make_contact(kith, first_name="Bob", last_name="Browser")  # conditions not met: no webhook
    contact = await make_contact(kith, first_name="Ann", last_name="Buyer")
    worker = Worker(kith)

    schedule = await fail_until_dead(kith, worker, receiver)
    message_id = check_retries(receiver, chosen, schedule)
    for delivery in receiver.deliveries:
        body = Webhook(secret).verify(delivery.body, delivery.headers)
        assert body["type"] == "customer.new"
        assert body["data"] == {"contact": str(contact["id"]), "name": "Ann"}

    (failed,) = await service.failed_jobs(kith)
    assert failed.rule == "notify-billing" and failed.attempts == ATTEMPTS
    assert failed.error == f"DeliveryFailed: {receiver.url} answered 500"
    runs = await service.runs(kith, rule="notify-billing")
    assert [(r["attempt"], r["status"]) for r in reversed(runs)] == [
        (1, "skipped"),
        (1, "retrying"),
        (2, "retrying"),
        (3, "dead"),
    ]

    receiver.status = 200
    await service.retry_job(kith, failed.id)
    await worker.run_until_idle()
    (delivered,) = receiver.answered(200)
    assert delivered.headers["webhook-id"] == message_id
    assert Webhook(secret).verify(delivered.body, delivered.headers)["data"]["name"] == "Ann"
    assert await service.failed_jobs(kith) == []
    latest = (await service.runs(kith, rule="notify-billing", limit=1))[0]
    assert latest["status"] == "succeeded" and latest["record_id"] == contact["id"]
    assert latest["actions"][0]["done"]["webhook_id"] == message_id
    await worker.run_until_idle()
    assert len(receiver.deliveries) == ATTEMPTS + 1


# -- inbound ----------------------------------------------------------------------------------------


def post_signed(secret: str, payload: Any, message_id: str | None = None, at: dt.datetime | None = None):  # type: ignore[no-untyped-def]
    body = json.dumps(payload)
    return body, signed_request(secret, message_id or f"msg_{uuid.uuid4().hex}", body, at)


async def inbound_events(kith: Any) -> list[dict[str, Any]]:
    rows = await kith.db.execute("SELECT event, payload FROM kith_outbox WHERE event LIKE 'webhook.%' ORDER BY id")
    return [
        {"event": r["event"], **(json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"])}
        for r in rows
    ]


def web_app(database_url: str) -> Any:
    """The web app as `kith serve` runs it, with its own Kith on the test's database.

    (Not ``create_app(kith=kith)``: litestar's test client runs the app on an event loop
    of its own, in another thread, where the test's asyncpg pool cannot be used.)
    """
    return create_app(load_settings(database_url=database_url), run_worker=False)


async def test_inbound_webhook_accepts_only_signed_fresh_first_deliveries(kith, kith_database_url):
    secret = await webhooks.add_source(kith, "billing")
    app = web_app(kith_database_url)
    async with AsyncTestClient(app) as client:
        # a good delivery: accepted, queued as webhook.billing
        body, headers = post_signed(secret, {"invoice": "INV-1"}, "msg_1")
        response = await client.post("/webhooks/billing", content=body, headers=headers)
        assert response.status_code == 202, response.text
        assert response.json() == {"status": "accepted", "id": "msg_1"}
        assert await inbound_events(kith) == [{"event": "webhook.billing", "data": {"invoice": "INV-1"}, "id": "msg_1"}]

        # the same id again (a sender's retry, freshly signed): acknowledged, no second event
        body, headers = post_signed(secret, {"invoice": "INV-1"}, "msg_1")
        response = await client.post("/webhooks/billing", content=body, headers=headers)
        assert (response.status_code, response.json()) == (200, {"status": "duplicate", "id": "msg_1"})

        # signed with another secret, or the body changed after signing: 401
        body, headers = post_signed(new_secret(), {"invoice": "INV-2"}, "msg_2")
        response = await client.post("/webhooks/billing", content=body, headers=headers)
        assert response.status_code == 401 and "signature" in response.json()["error"]
        body, headers = post_signed(secret, {"invoice": "INV-2"}, "msg_2")
        response = await client.post("/webhooks/billing", content=body.replace("INV-2", "INV-9"), headers=headers)
        assert response.status_code == 401
        # a malformed signature header, or none: 401 as well
        for bad in ("v1,not base64!", "garbage", ""):
            response = await client.post(
                "/webhooks/billing", content=body, headers={**headers, "webhook-signature": bad}
            )
            assert response.status_code == 401, (bad, response.status_code, response.text)

        # correctly signed, but more than 5 minutes old (a replay): 401
        old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
        body, headers = post_signed(secret, {"invoice": "INV-3"}, "msg_3", at=old)
        response = await client.post("/webhooks/billing", content=body, headers=headers)
        assert response.status_code == 401 and "too old" in response.json()["error"]

        # correctly signed, but not JSON: 400
        headers = signed_request(secret, "msg_5", "not json")
        response = await client.post("/webhooks/billing", content="not json", headers=headers)
        assert (response.status_code, response.json()) == (400, {"error": "the body is not JSON"})

        # a source nobody configured: 404
        body, headers = post_signed(secret, {"invoice": "INV-4"}, "msg_4")
        response = await client.post("/webhooks/nobody", content=body, headers=headers)
        assert response.status_code == 404

        # none of the refused deliveries had an effect ...
        assert [e["id"] for e in await inbound_events(kith)] == ["msg_1"]
        # ... nor used up its id: the genuine msg_2 and msg_3 are still accepted
        for message_id in ("msg_2", "msg_3"):
            body, headers = post_signed(secret, {"invoice": message_id}, message_id)
            response = await client.post("/webhooks/billing", content=body, headers=headers)
            assert response.status_code == 202, (message_id, response.text)
    assert [e["id"] for e in await inbound_events(kith)] == ["msg_1", "msg_2", "msg_3"]


async def test_rule_with_webhook_trigger_runs_on_inbound_delivery(kith, kith_database_url):
    secret = await webhooks.add_source(kith, "billing")
    contact = await make_contact(kith, first_name="Ann")
    await service.apply_rule(
        kith,
        {
            "name": "invoice-paid",
            "enabled": True,
            "trigger": {"webhook": "billing"},
            "actions": [
                {
                    "create_record": {
                        "entity": "activity",
                        "values": {
                            "kind": "note",
                            "subject": "paid {{ event.data.invoice }}",
                            "subjectType": "contact",
                            "subjectId": "{{ event.data.contact }}",
                        },
                    }
                }
            ],
        },
    )
    worker = Worker(kith)
    await worker.run_until_idle()  # the contact's own event: nothing fires
    app = web_app(kith_database_url)
    async with AsyncTestClient(app) as client:
        body, headers = post_signed(secret, {"invoice": "INV-7", "contact": contact["id"]}, "msg_7")
        assert (await client.post("/webhooks/billing", content=body, headers=headers)).status_code == 202
        assert (await client.post("/webhooks/billing", content=body, headers=headers)).status_code == 200
        other_secret = await webhooks.add_source(kith, "shop")  # another source does not fire the rule
        body, headers = post_signed(other_secret, {"invoice": "INV-8", "contact": contact["id"]}, "msg_8")
        assert (await client.post("/webhooks/shop", content=body, headers=headers)).status_code == 202
    await worker.run_until_idle()
    activities = await kith.db.execute("SELECT subject, subject_id FROM activity ORDER BY id")
    assert [(a["subject"], a["subject_id"]) for a in activities] == [("paid INV-7", contact["id"])]
    (run,) = await service.runs(kith, rule="invoice-paid")
    assert run["status"] == "succeeded" and run["actions"][0]["action"] == "create_record"


async def test_a_subscription_as_a_user_sends_only_what_they_may_read(make_kith, receiver):
    from kith.core.automations import webhooks
    from kith.core.records.encoding import dumps
    from kith.sdk.testing import make_contact, make_user

    kith = await make_kith(outbound_allow=RECEIVER_ALLOWED)
    receiver.status = 200
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ('partner', '', {}, 'admin')",
        dumps({"contact": {"actions": ["read"], "scope": "own", "hidden": ["phones"]}}),
    )
    partner = await make_user(kith, email="partner@example.com")
    await kith.auth.grant_role(partner["id"], "partner")
    await webhooks.add_subscription(kith, "partner-feed", receiver.url, ["contact.*"], partner["id"])
    theirs = await make_contact(kith, first_name="Theirs", phones=["+14155552671"], owner=partner["id"])
    await make_contact(kith, first_name="Not theirs", phones=["+14155552672"])
    await Worker(kith).run_until_idle()
    bodies = [json.loads(d.body) for d in receiver.answered(200)]
    assert [b["data"]["record"]["first_name"] for b in bodies] == ["Theirs"]
    assert bodies[0]["data"]["id"] == theirs["id"]
    assert bodies[0]["data"]["record"]["phones"] == [] and "phones" not in bodies[0]["data"]["changed"]
    assert "+1415555267" not in b"".join(d.body for d in receiver.deliveries).decode()
