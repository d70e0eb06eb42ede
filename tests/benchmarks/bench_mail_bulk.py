"""Benchmark: bulk mail through ``context.mail.bulk`` against a raw aiosmtplib floor.

A local SMTP sink (aiosmtpd, answering 250 to everything and keeping nothing) runs in a
process of its own.  The same N messages — composed one at a time by
``context.mail.compose`` (text + HTML, List-Unsubscribe headers, a Message-ID each) and
never all held in memory — are sent:

* ``floor``: one raw ``aiosmtplib`` connection, ``sendmail`` after ``sendmail``, no signing,
  no pacing: the least work that delivers them;
* ``bulk``: ``context.mail.bulk()`` unthrottled, without DKIM;
* ``bulk+dkim``: the same, DKIM-signed (RSA 2048) in this process;
* ``bulk+dkim/P``: DKIM-signed in P worker processes (``--signing-processes``);
* ``limited``: DKIM-signed in this process, with ``rate_per_second=--rate``: the achieved
  rate and its ratio to the limit.

For each it prints messages/s, the ratio to the floor, connections opened, and this
process's RSS at the start, middle and end (flat memory: no growth with N).  The sink's
count is checked against what was sent; the script exits 1 when they differ.

    .venv/bin/python tests/benchmarks/bench_mail_bulk.py                   # 20,000 messages
    .venv/bin/python tests/benchmarks/bench_mail_bulk.py --messages 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from kith.core.mail.outbound import WIRE_POLICY
from kith.core.runtime import Kith
from kith.core.settings import load_settings
from kith.sdk import BulkResult, Mail, OutboundMail
from kith.sdk.testing import system_context

BODY = "Dear customer,\n\n" + "Our spring collection is here, with something for everyone. " * 20 + "\n"
HTML = "<html><body><h1>Spring</h1>" + "<p>Our spring collection is here, with something for everyone.</p>" * 20


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- the sink, in a process of its own ------------------------------------------------------


def run_sink(port_out: Any, counter: Any) -> None:
    from aiosmtpd.smtp import SMTP

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with counter.get_lock():
                counter.value += 1
            return "250 2.0.0 Ok"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Sink(), decode_data=False, loop=loop), "127.0.0.1", 0)
        port_out.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(serve())


# -- the messages ---------------------------------------------------------------------------


async def messages(mail: Mail, n: int, tag: str) -> AsyncIterator[tuple[int, EmailMessage]]:
    for i in range(n):
        message = await mail.compose(
            OutboundMail(
                to=f"Customer {i} <customer{i}@client.example>",
                subject="Spring collection",
                text=BODY,
                html=HTML,
                headers={
                    "List-Unsubscribe": f"<https://acme.example/unsubscribe/{tag}/{i}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            )
        )
        yield i, message


class Run:
    """Time and memory of one variant."""

    def __init__(self, name: str, n: int) -> None:
        self.name, self.n = name, n
        self.rss = [rss_mb()]
        self.started = time.perf_counter()
        self.first_at: float | None = None
        self.seconds = 0.0
        self.results: dict[str, int] = {}
        self.connections = 0

    def progress(self, i: int) -> None:
        if i == self.n // 2:
            self.rss.append(rss_mb())

    def finish(self) -> None:
        self.seconds = time.perf_counter() - self.started
        self.rss.append(rss_mb())

    @property
    def rate(self) -> float:
        return self.n / self.seconds


async def floor(kith: Kith, port: int, n: int) -> Run:
    import aiosmtplib

    mail = system_context(kith).mail
    run = Run("floor", n)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    sent = 0
    async for i, message in messages(mail, n, "floor"):
        await client.sendmail(
            "news@acme.example", [f"customer{i}@client.example"], message.as_bytes(policy=WIRE_POLICY)
        )
        sent += 1
        run.progress(i)
    await client.quit()
    run.finish()
    run.results = {"sent": sent}
    run.connections = 1
    return run


async def bulk(kith: Kith, name: str, n: int, **options: Any) -> Run:
    mail = system_context(kith).mail
    run = Run(name, n)
    counts: dict[str, int] = {}

    async def record(result: BulkResult) -> None:
        counts[result.status] = counts.get(result.status, 0) + 1

    async with mail.bulk(on_result=record, **options) as sender:
        run.started = time.perf_counter()  # the signing processes are up: time the sending
        async for i, message in messages(mail, n, name):
            await sender.submit(message, key=i)
            run.progress(i)
    run.finish()
    run.results = counts
    run.connections = sender.connections_opened
    return run


def make_key(directory: Path) -> Path:
    key = directory / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    return key


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000, help="messages per variant (default 20000)")
    parser.add_argument("--rate", type=float, default=150.0, help="the limit of the 'limited' variant (default 150/s)")
    parser.add_argument("--connections", type=int, default=2, help="SMTP connections of the bulk sender (default 2)")
    parser.add_argument("--signing-processes", type=int, default=2, help="signing processes (default 2)")
    parser.add_argument(
        "--variants",
        default="floor,bulk,bulk+dkim,bulk+dkim/P,limited",
        help="comma-separated, of floor, bulk, bulk+dkim, bulk+dkim/P, limited",
    )
    args = parser.parse_args()
    variants = args.variants.split(",")

    context = multiprocessing.get_context("spawn")
    port_queue: Any = context.Queue()
    counter: Any = context.Value("q", 0)
    sink = context.Process(target=run_sink, args=(port_queue, counter), daemon=True)
    sink.start()
    port = port_queue.get(timeout=30)
    workdir = Path(tempfile.mkdtemp(prefix="kith_bench_mail_"))
    try:
        key = make_key(workdir)
        base = {
            "database_url": f"sqlite:///{workdir / 'kith.sqlite3'}",
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "mail_from": "Acme News <news@acme.example>",
            "mail_domain": "acme.example",
        }
        dkim = {"dkim_domain": "acme.example", "dkim_selector": "k1", "dkim_private_key_file": str(key)}
        plain = await Kith.open(load_settings(**base))
        signed = await Kith.open(load_settings(**base, **dkim))
        n, conns, procs = args.messages, args.connections, args.signing_processes
        runs: list[Run] = []
        try:
            for variant in variants:
                if variant == "floor":
                    runs.append(await floor(plain, port, n))
                elif variant == "bulk":
                    runs.append(await bulk(plain, "bulk", n, connections=conns))
                elif variant == "bulk+dkim":
                    runs.append(await bulk(signed, "bulk+dkim", n, connections=conns))
                elif variant == "bulk+dkim/P":
                    name = f"bulk+dkim/{procs}"
                    runs.append(await bulk(signed, name, n, connections=conns, signing_processes=procs))
                elif variant == "limited":
                    name = f"limited {args.rate:g}/s"
                    options = {"connections": conns, "rate_per_second": args.rate}  # signing in this process
                    runs.append(await bulk(signed, name, n, **options))
                else:
                    parser.error(f"unknown variant {variant}")
                print(f"  {runs[-1].name}: {runs[-1].rate:,.0f} msg/s", file=sys.stderr, flush=True)
        finally:
            await plain.close()
            await signed.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    expected = sum(r.n for r in runs)
    received = int(counter.value)
    sink.terminate()
    floor_rate = next((r.rate for r in runs if r.name == "floor"), None)
    print(f"\n{n:,} messages per variant, {conns} connection(s), sink in its own process (aiosmtpd)\n")
    print(
        f"{'variant':<18}{'msg/s':>9}{'vs floor':>10}{'vs limit':>10}{'conns':>7}  {'RSS MB start/mid/end':<24}results"
    )
    summary = []
    for r in runs:
        versus = f"{r.rate / floor_rate:.2f}x" if floor_rate else "-"
        limit = f"{r.rate / args.rate:.3f}" if r.name.startswith("limited") else "-"
        rss = "/".join(f"{m:.0f}" for m in r.rss)
        print(f"{r.name:<18}{r.rate:>9,.0f}{versus:>10}{limit:>10}{r.connections:>7}  {rss:<24}{r.results}")
        summary.append({"variant": r.name, "rate": round(r.rate, 1), "seconds": round(r.seconds, 2),
                        "rss_mb": [round(m, 1) for m in r.rss], "connections": r.connections, "results": r.results})  # fmt: skip
    print(f"\nthe sink received {received:,} of {expected:,} messages sent")
    print(json.dumps({"messages": n, "rate_limit": args.rate, "runs": summary}))
    return 0 if received == expected else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
