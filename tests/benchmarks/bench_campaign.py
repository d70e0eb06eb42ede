"""Benchmark: a campaign sent for real, with a worker killed half-way.

N contacts in a segment get one campaign through a local SMTP sink (aiosmtpd in its own
process, answering 250 and writing each Message-ID to a file).  The campaign is started
as a marketer starts it (recipients fixed set-wise, then worker slices), and sent by a
worker process (``Worker.run_forever``, production settings, DKIM off) that is killed
with SIGKILL after ``--kill-at`` of the mail went out; a second worker finishes it.

Printed:

* the rate each worker achieved (mails/s, counted at the sink), and the worker's RSS at
  10 %, 50 % and 90 % of the campaign (flat memory: no growth with N);
* recipients, distinct Message-IDs received, duplicates (a Message-ID received twice:
  only mails in flight at the kill, sent again with the same Message-ID) against what
  ``campaignReport.resent`` reports, and lost recipients (must be 0);
* a second campaign to ``--limited`` of the contacts with ``rate_per_minute`` set to
  ``--rate`` a second: the achieved rate and its ratio to the limit (goal within 5 %);
* the floor: the same number of messages composed and pushed through one raw
  aiosmtplib connection by a bare loop, no database (bench_mail_bulk.py's floor).

    .venv/bin/python tests/benchmarks/bench_campaign.py                      # 20,000 contacts, SQLite
    .venv/bin/python tests/benchmarks/bench_campaign.py --contacts 100000 \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench_campaign'

Exits 1 if a recipient was lost or the duplicates differ from what the report says.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_db import fresh_database
from bench_mail_bulk import floor

from kith.core.automations.worker import Worker
from kith.core.plugins import lifecycle
from kith.core.runtime import Kith
from kith.core.settings import load_settings
from kith.plugins.marketing.consent.models import Subscription
from kith.sdk import Contact
from kith.sdk.testing import system_context


def run_sink(port_out: Any, path: str) -> None:
    from aiosmtpd.smtp import SMTP

    out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    out.write(f"{time.time():.6f} {line.split(b':', 1)[1].strip().decode()}\n")
                    break
            return "250 2.0.0 Ok"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Sink(), decode_data=False, loop=loop), "127.0.0.1", 0)
        port_out.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(serve())


def settings(url: str, port: int, **extra: Any) -> Any:
    return load_settings(
        database_url=url, smtp_host="127.0.0.1", smtp_port=port, smtp_security="none",
        mail_from="News <news@acme.example>", mail_domain="acme.example", worker_poll_seconds=0.2,
        plugin={"marketing": {"rate_per_minute": None}}, **extra,
    )  # fmt: skip


def run_worker(url: str, port: int) -> None:
    async def work() -> None:
        kith = await Kith.open(settings(url, port))
        await Worker(kith).run_forever(asyncio.Event())

    asyncio.run(work())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def load_contacts(kith: Kith, n: int, stage: str) -> None:
    """``n`` contacts in ``stage``, each subscribed to the newsletter (a campaign goes only
    to those who may be sent it), written with multi-row INSERTs."""
    now = dt.datetime.now(dt.UTC)
    for start in range(0, n, 1000):  # PostgreSQL takes at most 32,767 parameters a statement
        rows = [
            Contact(first_name=f"{stage}{i}", last_name="Example", emails=json.dumps([f"{stage}{i}@client.example"]),
                    lifecycle_stage=stage, created_at=now, updated_at=now)
            for i in range(start, min(n, start + 1000))
        ]  # fmt: skip
        made = await Contact.insert(*rows).returning(Contact.id)
        await Subscription.insert(
            *(Subscription(contact=row["id"], topic="newsletter", status="subscribed", confirmed_at=now,
                           wording_version="1", source="bench", created_at=now, updated_at=now) for row in made)
        )  # fmt: skip


async def campaign(kith: Kith, name: str, definition: dict[str, Any], rate_per_minute: int | None) -> int:
    records = system_context(kith).records
    segment = await records.create("segment", {"name": name, "definition": json.dumps(definition)})
    made = await records.create(
        "campaign",
        {"name": name, "subject": "Spring news for {{ contact.first_name }}", "segment": segment["id"],
         "html": "<h1>Spring</h1>" + "<p>Dear {{ contact.first_name }}, our spring collection is here.</p>" * 10,
         "rate_per_minute": rate_per_minute},
    )  # fmt: skip
    return int(made["id"])


class Watcher:
    """One open Kith to read a campaign's state from while workers send it (opening one
    per look would cost the CPU the benchmark measures)."""

    def __init__(self, url: str, port: int) -> None:
        self.url, self.port = url, port
        self.kith: Kith | None = None

    async def __aenter__(self) -> Watcher:
        self.kith = await Kith.open(settings(self.url, self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.kith is not None
        await self.kith.close()

    async def status(self, campaign_id: int) -> tuple[str, int, int]:
        """The campaign's status, its sent deliveries and how many were handed over again."""
        assert self.kith is not None
        rows = await self.kith.db.execute(
            "SELECT (SELECT status FROM marketing_campaign WHERE id = {}) AS status, COUNT(*) AS n, "
            "SUM(CASE WHEN attempts > 1 THEN 1 ELSE 0 END) AS resent "
            "FROM marketing_campaign_delivery WHERE campaign = {} AND status = 'sent'",
            campaign_id, campaign_id,
        )  # fmt: skip
        return str(rows[0]["status"]), int(rows[0]["n"] or 0), int(rows[0]["resent"] or 0)


def received(path: str, campaign_id: int | None = None) -> list[tuple[float, str]]:
    """(time, Message-ID) of every mail the sink took (of one campaign: its ids carry
    ``.c<id>.``), in order."""
    rows = [line.split(" ", 1) for line in Path(path).read_text().splitlines() if " " in line]
    tag = f".c{campaign_id}." if campaign_id is not None else ""
    return [(float(t), mid) for t, mid in rows if tag in mid]


def rate(rows: list[tuple[float, str]]) -> float:
    """Mails a second between the first and the last of ``rows``, by the sink's clock."""
    if len(rows) < 2:
        return 0.0
    return (len(rows) - 1) / (rows[-1][0] - rows[0][0])


async def send_with_kill(args: argparse.Namespace, url: str, port: int, sink_file: str, campaign_id: int) -> int:
    ctx = multiprocessing.get_context("spawn")
    async with Watcher(url, port) as watcher:
        total = args.contacts
        rss: dict[str, float] = {}

        seen = {"offset": 0, "count": 0}
        tag = f".c{campaign_id}.".encode()

        def progress() -> int:
            """Mails of this campaign the sink took so far, reading only what was added since
            the last look (the benchmark must not eat the CPU it measures)."""
            with open(sink_file, "rb") as log:
                log.seek(seen["offset"])
                chunk = log.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            seen["offset"] += len(complete)
            seen["count"] += sum(1 for line in complete.splitlines() if tag in line)
            return seen["count"]

        first = ctx.Process(target=run_worker, args=(url, port), daemon=True)
        first.start()
        while progress() < total * args.kill_at:
            for mark in (0.1, 0.5):
                if f"{mark:.0%}" not in rss and progress() >= total * mark:
                    rss[f"{mark:.0%}"] = rss_mb(first.pid or 0)
            await asyncio.sleep(0.2)
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.time()
        first.join()
        second = ctx.Process(target=run_worker, args=(url, port), daemon=True)
        second.start()
        while (await watcher.status(campaign_id))[0] != "sent":
            for mark in (0.5, 0.9):
                if f"{mark:.0%}" not in rss and progress() >= total * mark:
                    rss[f"{mark:.0%}"] = rss_mb(second.pid or 0)
            await asyncio.sleep(0.5)
        second.kill()
        second.join()
        rows = received(sink_file, campaign_id)
        before = [r for r in rows if r[0] <= killed_at]
        after = [r for r in rows if r[0] > killed_at]
        waited = after[0][0] - killed_at if after else 0.0
        print(f"  first worker (killed)  {len(before):>8,} mails, {rate(before):7.0f}/s")
        print(f"  second worker          {len(after):>8,} mails, {rate(after):7.0f}/s "
              f"(started sending {waited:.1f}s after the kill: the killed worker's lease ran out)")  # fmt: skip
        print("  worker RSS: " + ", ".join(f"{mark} {mb:.0f} MB" for mark, mb in sorted(rss.items())))
        ids = Counter(mid for _, mid in rows)
        duplicates = sum(1 for c in ids.values() if c > 1)
        _, _, resent = await watcher.status(campaign_id)
        lost = total - len(ids)
        print(f"  recipients {total:,}; distinct Message-IDs received {len(ids):,}; lost {lost}")
        print(f"  received twice (in flight at the kill, same Message-ID) {duplicates}; "
              f"campaignReport.resent (handed over again, at most received twice) {resent}")  # fmt: skip
        return 0 if lost == 0 and duplicates <= resent else 1


async def main(args: argparse.Namespace) -> int:
    ctx = multiprocessing.get_context("spawn")
    ports: Any = ctx.Queue()
    folder = tempfile.mkdtemp(prefix="kith_bench_campaign_")
    sink_file = str(Path(folder) / "received.txt")
    open(sink_file, "w").close()  # noqa: ASYNC230 - before anything runs
    sink = ctx.Process(target=run_sink, args=(ports, sink_file), daemon=True)
    sink.start()
    port = ports.get(timeout=30)
    try:
        async with fresh_database(args.database_url) as url:
            kith = await Kith.open(settings(url, port))
            try:
                await lifecycle.enable(kith, "marketing")
                started = time.perf_counter()
                await load_contacts(kith, args.contacts, "customer")
                await load_contacts(kith, args.limited, "subscriber")
                await kith.db.execute("ANALYZE")  # as autovacuum would after a load this size
                print(f"loaded {args.contacts + args.limited:,} contacts in {time.perf_counter() - started:.1f}s")
                big = await campaign(kith, "Everyone", {"lifecycleStage": {"eq": "customer"}}, None)
                limited = await campaign(kith, "Limited", {"lifecycleStage": {"eq": "subscriber"}}, int(args.rate * 60))
                started = time.perf_counter()
                context = system_context(kith)
                from kith.plugins.marketing.campaigns import control

                await control.start(context, big)
                print(f"fixed {args.contacts:,} recipients in {time.perf_counter() - started:.1f}s")
            finally:
                await kith.close()
            print(f"\ncampaign to {args.contacts:,}, unthrottled, worker killed at {args.kill_at:.0%}:")
            code = await send_with_kill(args, url, port, sink_file, big)

            kith = await Kith.open(settings(url, port))
            try:
                await control.start(system_context(kith), limited)
            finally:
                await kith.close()
            worker = ctx.Process(target=run_worker, args=(url, port), daemon=True)
            worker.start()
            async with Watcher(url, port) as watcher:
                while (await watcher.status(limited))[0] != "sent":  # noqa: ASYNC110 - another process's database
                    await asyncio.sleep(0.5)
            worker.kill()
            worker.join()
            achieved = rate(received(sink_file, limited))
            print(f"\ncampaign to {args.limited:,} at rate_per_minute {args.rate * 60:.0f} ({args.rate:.0f}/s):")
            print(f"  achieved {achieved:.1f}/s, {achieved / args.rate:.3f} of the limit (goal: within 5%)")

            kith = await Kith.open(settings(url, port))
            try:
                raw = await floor(kith, port, args.floor)
            finally:
                await kith.close()
            print(f"\nfloor: {args.floor:,} messages composed and sent over one raw aiosmtplib connection: "
                  f"{raw.rate:.0f}/s")  # fmt: skip
            return code
    finally:
        sink.terminate()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", help="sqlite:///new-file or postgresql://...?schema=NEW (default: temp SQLite)"
    )
    parser.add_argument("--contacts", type=int, default=20000)
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of the mail sent when the worker is killed")
    parser.add_argument("--limited", type=int, default=3000, help="recipients of the rate-limited campaign")
    parser.add_argument("--rate", type=float, default=150.0, help="the limited campaign's rate (mails a second)")
    parser.add_argument("--floor", type=int, default=5000, help="messages for the raw floor")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
