"""Bulk sending: many already-composed messages over a few long-lived SMTP connections.

``context.mail.send`` stores every mail and queues a worker job per mail, which opens a
connection for it: right for a reply, far too slow and heavy for a campaign of 100,000.
A campaign keeps its own per-recipient rows, so it needs only delivery from the core:

    async with context.mail.bulk(rate_per_second=150, on_result=record) as sender:
        for row in recipients:                        # read in pages, never all at once
            await sender.submit(message_for(row), key=row.id)

``BulkSender`` keeps ``connections`` SMTP connections open and sends over them in turn
(reconnecting when one drops, and sending the message it was sending once more), signs
with DKIM when the ``dkim_*`` settings are set, and paces the whole sender to
``rate_per_second`` (a slot every ``1/rate`` seconds, never a burst to catch up more than
``CATCH_UP`` seconds).  Every message gets a ``BulkResult``: each recipient ``sent``,
``temporary`` (4xx, no connection: try later) or ``permanent`` (5xx) with the server's
answer.  Nothing is stored by the core: the caller records results as they come.

Memory stays flat: ``submit`` waits while ``queue_size`` messages are waiting, and a
message is dropped once its result is handed over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr
from typing import TYPE_CHECKING, Any, Literal

from kith.core.errors import KithError
from kith.core.mail.bulk_signing import SigningPool
from kith.core.mail.dkim_signing import dkim_signer
from kith.core.mail.outbound import WIRE_POLICY, smtp_client

if TYPE_CHECKING:
    import aiosmtplib

    from kith.core.settings import Settings

log = logging.getLogger("kith.mail")

RecipientStatus = Literal["sent", "temporary", "permanent"]
#: how far behind its schedule the pacer may catch up: a stall this short (a busy machine,
#: a slow answer) costs no slots, a longer one loses the rest; the most it ever sends
#: back to back is this many seconds' worth (a quarter second: 50 messages at 200/s)
CATCH_UP = 0.25


@dataclass(frozen=True)
class RecipientResult:
    """What the server said about one recipient: ``status`` ``sent``, ``temporary`` or
    ``permanent``, the reply ``code`` (0: no answer, the connection failed) and ``answer``."""

    address: str
    status: RecipientStatus
    code: int
    answer: str


@dataclass(frozen=True)
class BulkResult:
    """The outcome of one message: a ``RecipientResult`` per recipient, the server's
    ``answer`` to the message (or the error), how many ``attempts`` it took (2 after a
    dropped connection), its ``message_id`` and the caller's ``key``."""

    message_id: str | None
    recipients: tuple[RecipientResult, ...]
    answer: str
    attempts: int = 1
    key: Any = None

    @property
    def status(self) -> Literal["sent", "partial", "temporary", "permanent"]:
        """``sent`` (every recipient), ``partial`` (some), else ``temporary`` when one
        may succeed later, ``permanent`` when all were refused for good."""
        statuses = {r.status for r in self.recipients}
        if statuses == {"sent"}:
            return "sent"
        if "sent" in statuses:
            return "partial"
        return "temporary" if "temporary" in statuses else "permanent"

    def _with(self, status: RecipientStatus) -> list[str]:
        return [r.address for r in self.recipients if r.status == status]

    @property
    def sent(self) -> list[str]:
        return self._with("sent")

    @property
    def temporary(self) -> list[str]:
        return self._with("temporary")

    @property
    def permanent(self) -> list[str]:
        return self._with("permanent")


class Pacer:
    """Hands out one slot every ``1 / rate`` seconds to whoever asks, shared by all
    connections: the achieved rate is the limit when the sender can keep up, and a
    sender that fell behind (a slow server) catches up at most ``CATCH_UP`` seconds'
    worth, so it never bursts."""

    def __init__(self, rate_per_second: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_second is not None and rate_per_second <= 0:
            raise KithError(f"rate_per_second: must be more than 0, not {rate_per_second}")
        self.interval = 1.0 / rate_per_second if rate_per_second else 0.0
        self.clock = clock
        self._next = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        slot = max(self._next, now - CATCH_UP) if self._next else now  # the first slot is now: no burst
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass
class _Job:
    raw: bytes
    sender: str
    recipients: list[str]
    message_id: str | None
    key: Any
    future: asyncio.Future[BulkResult] | None


class _Connection:
    """One SMTP connection, opened when first needed and again after it dropped."""

    def __init__(self, settings: Settings, opened: Callable[[], None]) -> None:
        self.settings = settings
        self.client: aiosmtplib.SMTP | None = None
        self._opened = opened

    async def ready(self) -> aiosmtplib.SMTP:

        if self.client is not None and self.client.is_connected:
            return self.client
        settings = self.settings
        if not settings.smtp_host:
            raise KithError("smtp_host is not set: bulk mail needs an SMTP server")
        client = smtp_client(settings)
        await client.connect()
        self.client = client
        self._opened()
        return client

    async def drop(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except Exception:  # closing anyway
                client.close()


def _everyone(
    recipients: Sequence[str], status: RecipientStatus, code: int, answer: str
) -> tuple[RecipientResult, ...]:
    return tuple(RecipientResult(address, status, code, answer) for address in recipients)


def _status_of(code: int) -> RecipientStatus:
    return "permanent" if code >= 500 else "temporary"


class BulkSender:
    """``context.mail.bulk(...)``: an ``async with`` block that delivers messages over
    ``connections`` kept-open SMTP connections at ``rate_per_second`` (None: as fast as
    they go), DKIM-signed when configured.  ``send`` waits for a message's result;
    ``submit`` only for room in the queue, and hands the result to ``on_result``."""

    def __init__(
        self,
        settings: Settings,
        *,
        rate_per_second: float | None = None,
        connections: int = 1,
        envelope_from: str | None = None,
        on_result: Callable[[BulkResult], Awaitable[None]] | None = None,
        queue_size: int = 100,
        signing_processes: int = 0,
    ) -> None:
        if connections < 1:
            raise KithError(f"connections: at least 1, not {connections}")
        if queue_size < 1:
            raise KithError(f"queue_size: at least 1, not {queue_size}")
        if signing_processes < 0:
            raise KithError(f"signing_processes: 0 (sign in this process) or more, not {signing_processes}")
        self.settings = settings
        self.pacer = Pacer(rate_per_second)
        self.envelope_from = parseaddr(envelope_from or settings.mail_from or "")[1] or None
        self.on_result = on_result
        self.signer = dkim_signer(settings)
        self._signing = SigningPool(self.signer, signing_processes)
        self._count = connections
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=queue_size)
        self._workers: list[asyncio.Task[None]] = []
        self._failure: BaseException | None = None
        #: connections opened so far (one per connection, plus one per reconnect)
        self.connections_opened = 0
        #: results handed over so far, by ``BulkResult.status``
        self.counts: dict[str, int] = {"sent": 0, "partial": 0, "temporary": 0, "permanent": 0}

    async def __aenter__(self) -> BulkSender:
        await self._signing.start()
        self._workers = [asyncio.create_task(self._work(), name=f"kith-bulk-{i}") for i in range(self._count)]
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if isinstance(exc, asyncio.CancelledError):
                for worker in self._workers:
                    worker.cancel()
            else:  # what was handed over is sent and reported, also when the caller's loop failed
                for _ in self._workers:
                    await self._queue.put(None)
            await asyncio.gather(*self._workers, return_exceptions=True)
        finally:
            await self._signing.close()
        if self._failure is not None and exc is None:
            raise KithError(f"bulk sending stopped: on_result failed: {self._failure!r}") from self._failure

    # -- what callers use ----------------------------------------------------------------

    async def send(
        self,
        message: EmailMessage | bytes,
        *,
        recipients: Sequence[str] | None = None,
        envelope_from: str | None = None,
        key: Any = None,
    ) -> BulkResult:
        """Deliver ``message`` and return its result (also handed to ``on_result``).
        ``recipients`` default to the addresses of its To and Cc headers; ``envelope_from``
        (where bounces go) to the sender's, else ``mail_from``, else the From address."""
        job = self._job(message, recipients, envelope_from, key)
        job.future = asyncio.get_running_loop().create_future()
        await self._put(job)
        return await job.future

    async def submit(
        self,
        message: EmailMessage | bytes,
        *,
        recipients: Sequence[str] | None = None,
        envelope_from: str | None = None,
        key: Any = None,
    ) -> None:
        """Queue ``message`` and return once there is room; its result goes to
        ``on_result`` (with ``key``, to find your row again)."""
        if self.on_result is None:
            raise KithError("submit hands results to on_result: give bulk(on_result=...), or use send")
        await self._put(self._job(message, recipients, envelope_from, key))

    # -- inside ----------------------------------------------------------------------------

    def _job(
        self, message: EmailMessage | bytes, recipients: Sequence[str] | None, envelope_from: str | None, key: Any
    ) -> _Job:
        parsed: Message
        if isinstance(message, EmailMessage):
            parsed = message
            raw = message.as_bytes(policy=WIRE_POLICY)
        else:
            parsed = BytesParser(policy=default_policy).parsebytes(message, headersonly=True)
            raw = message
        if parsed["Bcc"] is not None:
            raise KithError("the message has a Bcc header: give those addresses in recipients instead")
        if recipients is None:
            recipients = [a for _n, a in getaddresses([*parsed.get_all("To", []), *parsed.get_all("Cc", [])]) if a]
        if not recipients:
            raise KithError("the message has no recipient: give recipients, or To or Cc headers")
        sender = parseaddr(envelope_from)[1] if envelope_from else self.envelope_from
        sender = sender or parseaddr(str(parsed.get("From", "")))[1]
        if not sender:
            raise KithError("no envelope sender: give envelope_from, set mail_from, or a From header")
        message_id = parsed.get("Message-ID")
        return _Job(raw, sender, list(recipients), str(message_id) if message_id else None, key, None)

    async def _put(self, job: _Job) -> None:
        if self._failure is not None:
            raise KithError(f"bulk sending stopped: on_result failed: {self._failure!r}") from self._failure
        if not self._workers:
            raise KithError("use the sender inside `async with context.mail.bulk(...) as sender:`")
        await self._queue.put(job)

    async def _work(self) -> None:
        connection = _Connection(self.settings, self._opened)
        try:
            while (job := await self._queue.get()) is not None:
                if self._failure is not None:
                    continue  # results can no longer be reported: send nothing more
                try:
                    result = await self._deliver(connection, job)
                except Exception as exc:  # a bug must not lose the result: report it as temporary
                    log.exception("bulk mail %s: unexpected error", job.message_id)
                    answer = f"{type(exc).__name__}: {exc}"
                    result = BulkResult(job.message_id, _everyone(job.recipients, "temporary", 0, answer), answer)
                await self._report(job, result)
        finally:
            await connection.close()

    def _opened(self) -> None:
        self.connections_opened += 1

    async def _report(self, job: _Job, result: BulkResult) -> None:
        self.counts[result.status] += 1
        if job.future is not None and not job.future.done():
            job.future.set_result(result)
        if self.on_result is not None:
            try:
                await self.on_result(result)
            except Exception as exc:
                log.exception("bulk mail: on_result failed for %s; sending stops", result.message_id)
                self._failure = self._failure or exc

    async def _deliver(self, connection: _Connection, job: _Job) -> BulkResult:
        import aiosmtplib

        raw = await self._signing.sign(job.raw)
        await self.pacer.wait()  # last, so the time signing takes does not push the slot back
        done = job.message_id, job.key
        for attempt in (1, 2):
            try:
                client = await connection.ready()
                refused, accepted = await client.sendmail(job.sender, job.recipients, raw)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                results = tuple(
                    RecipientResult(r.recipient, _status_of(r.code), r.code, f"{r.code} {r.message}")
                    for r in exc.recipients
                )
                return BulkResult(done[0], results, "every recipient was refused", attempt, done[1])
            except aiosmtplib.SMTPResponseException as exc:
                text = f"{exc.code} {exc.message}"
                if exc.code == 421 and attempt == 1:  # the server is closing this connection: take a new one
                    await connection.drop()
                    continue
                everyone = _everyone(job.recipients, _status_of(exc.code), exc.code, text)
                return BulkResult(done[0], everyone, text, attempt, done[1])
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await connection.drop()
                if attempt == 1:
                    log.info("bulk mail %s: connection lost (%s); sending again", job.message_id, exc)
                    continue
                text = f"{type(exc).__name__}: {exc}"
                return BulkResult(done[0], _everyone(job.recipients, "temporary", 0, text), text, attempt, done[1])
            except ValueError as exc:  # an address aiosmtplib cannot put on the wire
                text = str(exc)
                return BulkResult(done[0], _everyone(job.recipients, "permanent", 0, text), text, attempt, done[1])
            answer = f"250 {accepted}"  # sendmail returns normally only on a 250 to DATA
            results = tuple(
                RecipientResult(a, _status_of(no.code), no.code, f"{no.code} {no.message}")
                if (no := refused.get(a)) is not None
                else RecipientResult(a, "sent", 250, answer)
                for a in job.recipients
            )
            return BulkResult(done[0], results, answer, attempt, done[1])
        raise AssertionError("unreachable: the second attempt always returns")
