"""Benchmark: publishing 1,000 scheduled posts exactly once against a faulty platform.

The social plugin's promise (``plugins/social/publishing/publisher.py``): whatever the
platform does (answers that never come after the post was accepted, 5xx before or
after creating it, 429s with reset headers, a token that expires half-way), no post is
published twice and none is silently lost; every target ends ``published``, ``failed``
with a reason, or ``needs_attention`` (flagged for a person).

Set-up: the local Mastodon-compatible server of the tests (``tests/social/mastodon_server.py``,
in this process, its request budget ``--rate-limit`` per ``--rate-window`` seconds), a
Kith with the social plugin (a credentials key, ``outbound_allow=["127.0.0.1"]``,
``call_timeout_seconds`` ``--call-timeout``), one Mastodon account connected through
``connectSocialAccount``, N drafts scheduled for now with ``schedulePost`` (``--too-long``
of them longer than Mastodon's 500 characters: refused for good, they must end
``failed``).  Then a worker process (``Worker.run_once`` in a loop, in a process of its
own) publishes them while this process plays a seeded random mix of faults on the
server (on the status creations and on the reads ``find_published`` makes), and:

* at ``--kill-at`` of the creations, holds one accepted creation's answer and kills the
  worker with SIGKILL while its call is in flight (the status exists, the target is
  ``publishing``), then starts a new worker; a second kill (``--kills 2``) lands at a
  random moment once 70 % of the targets have ended;
* at ``--expire-at`` of the creations, expires the token; as soon as the account is
  ``reconnect_needed`` this process gives the server a new token and reconnects the
  account (``reconnectSocialAccount``); the targets flagged meanwhile are reported.

Time: retries and checks of an unknown outcome back off 5 s, 20 s, 80 s...  The worker
runs on real time while it has work; when nothing is due it moves its clock
(``Worker.clock``, as tests/social/test_publishing.py does) to the next publish run's
time instead of waiting, the offset shared by the workers that follow a kill.  While the
platform's budget is spent (a 429 or the usage headers) it sleeps for real until the
reset rather than running early.  The plugin's own clock (``updated_at``,
``first_attempt_at``, the staleness of a call in flight) stays real time.

Printed: posts and targets, outcome counts (with reasons), statuses on the server,
duplicates (two statuses with one post's text: must be 0), lost (targets not ended, or
published without their status on the server: must be 0), statuses without a published
target (split into "flagged for a person" and "no target or a failed one": the latter
must be 0), targets that needed checks, faults played, kills, elapsed time and posts/s.

    .venv/bin/python tests/benchmarks/bench_publish_faults.py                    # 1,000 posts, SQLite
    .venv/bin/python tests/benchmarks/bench_publish_faults.py \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench_publish'

Exits 1 if a post was published twice, a target was lost, or a status exists whose
target says it failed (or that has no target).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import random
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "social"))

from bench_db import fresh_database  # noqa: E402
from mastodon_server import Fault, MastodonServer, mastodon_server  # noqa: E402

from kith.core.automations.worker import Worker  # noqa: E402
from kith.core.plugins import lifecycle  # noqa: E402
from kith.core.runtime import Kith  # noqa: E402
from kith.core.settings import load_settings  # noqa: E402
from kith.sdk.testing import GraphQLClient, system_context  # noqa: E402

PUBLISH_EVENT = "job.social.publish"
TERMINAL = ("published", "failed", "needs_attention", "cancelled")
STATUSES_PATH = "/api/v1/statuses"

CONNECT = """mutation($url: String!, $token: String!) {
  connectSocialAccount(platform: "mastodon", baseUrl: $url, credentials: {access_token: $token}) {
    account { id } errors { field message } } }"""
RECONNECT = """mutation($id: ID!, $token: String!) {
  reconnectSocialAccount(accountId: $id, credentials: {access_token: $token}) {
    account { id status } errors { field message } } }"""
SCHEDULE = """mutation($id: ID!, $targets: [PostTargetInput!]!) {
  schedulePost(postId: $id, targets: $targets) { post { id status } errors { field message } } }"""

WORDS = ("spring", "sale", "launch", "garden", "coffee", "team", "update", "release", "thanks", "event", "city")


# -- settings, shared by this process and the workers -----------------------------------


def kith_settings(url: str, key: str, options: dict[str, Any]) -> Any:
    social = {"credentials_key": key, "call_timeout_seconds": options["call_timeout"], "poll_seconds": 86400}
    extra: dict[str, Any] = {}
    if options.get("lease"):
        extra["worker_lease_seconds"] = options["lease"]
    return load_settings(
        database_url=url, outbound_allow=["127.0.0.1"], worker_poll_seconds=0.1, plugin={"social": social}, **extra
    )


# -- the worker process -----------------------------------------------------------------


def run_worker(url: str, key: str, options: dict[str, Any], offset: Any) -> None:
    """A worker on a clock ``offset`` seconds ahead of real time, the offset moved
    forward (for every worker) whenever nothing is due."""
    asyncio.run(_work(url, key, options, offset))


def _as_time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def _next_publish_due(kith: Kith) -> dt.datetime | None:
    """When the next publish run may be claimed (its time, or its lease's end)."""
    rows = await kith.db.execute(
        "SELECT available_at, locked_until FROM kith_outbox WHERE status = 'pending' AND event = {}", PUBLISH_EVENT
    )
    due = [max(t for t in (_as_time(r["available_at"]), _as_time(r["locked_until"])) if t is not None) for r in rows]
    return min(due) if due else None


async def _work(url: str, key: str, options: dict[str, Any], offset: Any) -> None:
    from kith.plugins.social import accounts
    from kith.plugins.social.connectors.mastodon import MastodonConnector

    reserve = MastodonConnector.limits.reserve
    kith = await Kith.open(kith_settings(url, key, options))
    worker = Worker(kith)
    worker.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset.value)
    while True:
        now = dt.datetime.now(dt.UTC)
        resets = [u.wait_until(now, reserve) for u in list(accounts._USAGE.values())]
        spent = max((r for r in resets if r is not None), default=None)
        if spent is not None and offset.value > 0:
            # the platform's budget is real time: do not run early on a clock that is ahead
            await asyncio.sleep(min((spent - now).total_seconds(), 2.0) + 0.01)
            continue
        if await worker.run_once():
            continue
        due = await _next_publish_due(kith)
        if due is None or spent is not None:
            await asyncio.sleep(0.05)
            continue
        ahead = (due - worker.clock()).total_seconds()
        if ahead > 0:
            with offset.get_lock():
                offset.value += ahead + 0.001  # nothing to do until then: skip the wait
        else:
            await asyncio.sleep(0.01)


class Workers:
    """The worker process of the moment: started, killed with SIGKILL, started again."""

    def __init__(self, url: str, key: str, options: dict[str, Any]) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.offset = self.ctx.Value("d", 0.0)
        self.url, self.key, self.options = url, key, options
        self.process: Any = None
        self.started = 0
        self.kills: list[str] = []

    def start(self) -> None:
        self.process = self.ctx.Process(
            target=run_worker, args=(self.url, self.key, self.options, self.offset), daemon=True
        )
        self.process.start()
        self.started += 1

    async def kill(self, why: str) -> None:
        assert self.process is not None and self.process.pid is not None
        os.kill(self.process.pid, signal.SIGKILL)
        await asyncio.to_thread(self.process.join)
        self.kills.append(why)

    def died(self) -> int | None:
        """The exit code of a worker that ended by itself (None: running)."""
        return self.process.exitcode if self.process is not None else None

    async def stop(self) -> None:
        if self.process is not None and self.process.exitcode is None:
            self.process.kill()
            await asyncio.to_thread(self.process.join)


# -- faults -------------------------------------------------------------------------------


class FaultPlan:
    """Decides, request by request, which fault the server plays (seeded): installed
    as the server's ``_take_fault``, after the faults armed in ``server.faults``."""

    # per status creation (POST /api/v1/statuses)
    CREATE = (("timeout_after_accept", 0.03), ("error_503_after", 0.02), ("error_500_before", 0.02),
              ("rate_limit", 0.015))  # fmt: skip
    # per read (the look-ups of find_published, the account's polling)
    READ = (("error_500_before", 0.03), ("timeout_after_accept", 0.02), ("rate_limit", 0.02))

    def __init__(self, server: MastodonServer, rng: random.Random, posts: int, args: argparse.Namespace) -> None:
        self.server, self.rng, self.scale = server, rng, args.fault_rate
        self.armed_take = server._take_fault
        self.creations = 0
        self.kill_at = int(posts * args.kill_at) if args.kills >= 1 else -1
        self.expire_at = int(posts * args.expire_at) if args.expire_at > 0 else -1
        self.played: Counter[str] = Counter()
        self.held = asyncio.Event()  # the creation whose answer is held for the kill arrived
        self.statuses_before = 0
        self.paused = False
        server._take_fault = self.take  # type: ignore[method-assign]

    def take(self, method: str, path: str) -> Fault | None:
        armed = self.armed_take(method, path)
        if armed is not None or self.paused:
            return armed
        creating = method == "POST" and path == STATUSES_PATH
        if creating:
            self.creations += 1
            if self.creations == self.kill_at:
                self.statuses_before = len(self.server.statuses)
                self.held.set()
                self.played["timeout_after_accept (worker killed during the call)"] += 1
                return Fault("timeout_after_accept", seconds=15)
            if self.creations == self.expire_at:
                self.played["expire_token"] += 1
                return Fault("expire_token")
        elif method != "GET":
            return None
        draw = self.rng.random()
        for kind, rate in self.CREATE if creating else self.READ:
            if draw < rate * self.scale:
                self.played[f"{kind} ({'create' if creating else 'read'})"] += 1
                seconds = self.rng.uniform(0.5, 2.0) if kind == "rate_limit" else 2.0
                return Fault(kind, seconds=seconds)  # type: ignore[arg-type]
            draw -= rate * self.scale
        return None


# -- this process: scheduling, watching, checking ------------------------------------------


def post_text(n: int, rng: random.Random, too_long: bool) -> str:
    words = " ".join(rng.choice(WORDS) for _ in range(8))
    if too_long:
        return f"Post {n:05d} is far too long for Mastodon: " + ("all the news of the season, " * 25) + words
    return f"Post {n:05d}: {words} #kith"


async def snapshot(kith: Kith) -> tuple[Counter[str], int]:
    """Targets by status, and publish runs still queued."""
    rows = await kith.db.execute("SELECT status, COUNT(*) AS n FROM social_post_target GROUP BY status")
    queued = await kith.db.execute(
        "SELECT COUNT(*) AS n FROM kith_outbox WHERE status = 'pending' AND event = {}", PUBLISH_EVENT
    )
    return Counter({str(r["status"]): int(r["n"]) for r in rows}), int(queued[0]["n"])


async def account_status(kith: Kith, account_id: str) -> str:
    rows = await kith.db.execute("SELECT status FROM social_account WHERE id = {}", int(account_id))
    return str(rows[0]["status"])


async def reconnect(
    kith: Kith, gql: GraphQLClient, server: MastodonServer, plan: FaultPlan, account_id: str
) -> str | None:
    """What a person does when told to: a new token, the account connected again with
    ``reconnectSocialAccount``.  When that mutation refuses, the account is reconnected
    with ``accounts.reconnect`` acting as the plugin, and the refusal is returned."""
    import secrets

    from kith.plugins.social import accounts

    server.token, server.token_valid = secrets.token_urlsafe(24), True
    plan.paused = True  # the person's reconnect is not the platform under test
    try:
        done = (await gql.query(RECONNECT, id=account_id, token=server.token))["reconnectSocialAccount"]
        if not done["errors"]:
            return None
        context = system_context(kith).as_plugin(keep_permissions=False, name="bench reconnect")
        await accounts.reconnect(context, int(account_id), {"access_token": server.token})
        return f"reconnectSocialAccount refused: {done['errors']}"
    finally:
        plan.paused = False


async def publish_all(
    kith: Kith, gql: GraphQLClient, server: MastodonServer, plan: FaultPlan, workers: Workers,
    account_id: str, total: int, args: argparse.Namespace,
) -> dict[str, Any]:  # fmt: skip
    """Run workers until every target has ended (or nothing can move any more)."""
    notes: dict[str, Any] = {"killed_targets": [], "flagged_before_reconnect": None, "stuck": False}

    async def killed(why: str) -> None:
        await workers.kill(why)
        rows = await kith.db.execute("SELECT id FROM social_post_target WHERE status = 'publishing' ORDER BY id")
        notes["killed_targets"].append([int(r["id"]) for r in rows])
        workers.start()

    started = time.perf_counter()
    workers.start()

    async def kill_during_call() -> None:
        await plan.held.wait()
        deadline = time.perf_counter() + 0.4  # well within the worker's call time-out
        while len(server.statuses) <= plan.statuses_before and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.001)  # the server creates the status, then holds the answer back
        made = len(server.statuses) > plan.statuses_before
        await killed(f"during a creation whose answer was held (the status {'was' if made else 'was not'} created)")

    killer = asyncio.create_task(kill_during_call())
    last_print = last_change = time.perf_counter()
    last_ended = -1
    notes["longest_stall"] = 0.0
    stuck_since: float | None = None
    try:
        while True:
            await asyncio.sleep(0.05)
            counts, queued = await snapshot(kith)
            ended = sum(counts[s] for s in TERMINAL)
            if ended != last_ended:
                last_ended, last_change = ended, time.perf_counter()
            notes["longest_stall"] = max(notes["longest_stall"], time.perf_counter() - last_change)
            if await account_status(kith, account_id) == "reconnect_needed":
                before = counts.get("needs_attention", 0)
                notes["reconnect_problem"] = await reconnect(kith, gql, server, plan, account_id)
                notes["flagged_before_reconnect"] = before
                notes["reconnected_after"] = round(time.perf_counter() - started, 2)
            if args.kills >= 2 and len(workers.kills) == 1 and ended >= 0.7 * total:
                await killed("at a random moment")
            code = workers.died()
            if code is not None:
                raise SystemExit(f"the worker exited by itself with {code}")
            if time.perf_counter() - last_print >= 5:
                last_print = time.perf_counter()
                print(f"  {time.perf_counter() - started:6.1f}s  ended {ended:>5,}/{total:,}  "
                      + " ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                      + f"  queued runs {queued}  statuses {len(server.statuses):,}  "
                      f"clock +{workers.offset.value:.0f}s", flush=True)  # fmt: skip
            if ended == total:
                break
            if queued == 0:
                # nothing is queued for the targets still open: nothing will ever move them
                stuck_since = stuck_since or time.perf_counter()
                if time.perf_counter() - stuck_since > 3:
                    notes["stuck"] = True
                    break
            else:
                stuck_since = None
            if time.perf_counter() - started > args.max_seconds:
                notes["timed_out"] = True
                break
    finally:
        killer.cancel()
        await workers.stop()
    notes["elapsed"] = time.perf_counter() - started
    return notes


async def report(kith: Kith, server: MastodonServer, plan: FaultPlan, workers: Workers, notes: dict[str, Any],
                 posts: int, too_long: int) -> int:  # fmt: skip
    rows = await kith.db.execute(
        "SELECT t.id, t.status, t.error, t.platform_id, t.attempts, t.checks, t.idempotency_key, "
        "COALESCE(t.text, p.text) AS text FROM social_post_target t JOIN social_post p ON p.id = t.post ORDER BY t.id"
    )
    targets = [dict(r) for r in rows]
    by_text = {t["text"]: t for t in targets}
    statuses = list(server.statuses)
    on_server = Counter(s.text for s in statuses)
    status_by_id = {s.id: s for s in statuses}
    outcome = Counter(t["status"] for t in targets)
    duplicates = sum(n - 1 for n in on_server.values() if n > 1)
    not_ended = [t for t in targets if t["status"] not in TERMINAL]
    vanished = [
        t for t in targets
        if t["status"] == "published"
        and (t["platform_id"] not in status_by_id or status_by_id[t["platform_id"]].text != t["text"])
    ]  # fmt: skip
    lost = len(not_ended) + len(vanished)
    flagged_posted, failed_posted, open_posted, no_target = 0, 0, 0, 0
    for status in statuses:
        target = by_text.get(status.text)
        if target is None:
            no_target += 1
        elif target["status"] == "published":
            continue  # its own (a second copy is a duplicate, counted above)
        elif target["status"] == "needs_attention":
            flagged_posted += 1
        elif target["status"] in TERMINAL:
            failed_posted += 1  # the target says failed (or cancelled), yet the post is out
        else:
            open_posted += 1  # the target never ended: counted in lost
    elapsed = notes["elapsed"]
    ended = sum(outcome[s] for s in TERMINAL)

    def reasons(status: str) -> list[tuple[str, int]]:
        found = Counter(_reason(str(t["error"] or "")) for t in targets if t["status"] == status)
        return found.most_common()

    print(f"\nposts {posts:,} ({too_long} too long for Mastodon), targets {len(targets):,}")
    print("outcomes: " + ", ".join(f"{s} {outcome[s]:,}" for s in (*TERMINAL, "pending", "publishing", "unknown")
                                   if outcome[s] or s in TERMINAL))  # fmt: skip
    for status in ("failed", "needs_attention"):
        for reason, n in reasons(status):
            print(f"  {status:<16} {n:>5}  {reason}")
    print(f"statuses on the server {len(statuses):,}")
    print(f"duplicates on the server (a second status with one post's text) {duplicates}")
    print(f"lost {lost} (targets not ended {len(not_ended)}"
          + (": " + ", ".join(f"#{t['id']} {t['status']} attempts {t['attempts']} checks {t['checks']}"
                              for t in not_ended[:5]) if not_ended else "")
          + f"; published without their status on the server {len(vanished)})")  # fmt: skip
    print(
        f"statuses on the server without a published target {flagged_posted + failed_posted + open_posted + no_target}"
        f": no target {no_target}, target failed {failed_posted}, target flagged for a person {flagged_posted}, "
        f"target never ended {open_posted} (in lost)"
    )
    by_id = {t["id"]: t for t in targets}
    texts_out = set(on_server)
    for n, ids in enumerate(notes["killed_targets"], 1):
        for target_id in ids:
            t = by_id[target_id]
            print(
                f"  in flight at kill {n}: target #{target_id} ended {t['status']}"
                + (f" ({_reason(str(t['error']))})" if t["error"] else "")
                + f", its post {'is' if t['text'] in texts_out else 'is not'} on the server"
                + (" (too long for Mastodon)" if len(t["text"]) > 500 else "")
            )
    checked = [t for t in targets if t["checks"]]
    retried = [t for t in targets if (t["attempts"] or 0) > 1]
    print(
        f"targets that needed checks {len(checked):,} (checks {sum(t['checks'] for t in checked):,}); "
        f"tried more than once {len(retried):,}"
    )
    print("faults played: " + ", ".join(f"{k} {v}" for k, v in sorted(plan.played.items())))
    print(f"requests to the server {len(server.requests):,} (status creations {plan.creations:,})")
    kills = [
        f"{why} ({len(ids)} target in flight)" for why, ids in zip(workers.kills, notes["killed_targets"], strict=False)
    ]
    print(f"workers started {workers.started}, killed with SIGKILL {len(workers.kills)}: " + "; ".join(kills))
    if notes.get("flagged_before_reconnect") is not None:
        print(f"token expired and reconnected at {notes['reconnected_after']}s; "
              f"targets flagged by then {notes['flagged_before_reconnect']}")  # fmt: skip
        if notes.get("reconnect_problem"):
            print(f"  {notes['reconnect_problem']}; reconnected with accounts.reconnect as the plugin")
    print(f"longest stretch with no target ending {notes['longest_stall']:.1f}s")
    if notes.get("stuck"):
        print("stopped: targets still open with no publish run queued for them (nothing would ever move them)")
    if notes.get("timed_out"):
        print("stopped: --max-seconds reached")
    print(f"elapsed {elapsed:.1f}s (worker clock moved on by {workers.offset.value:.0f}s of waits), "
          f"{ended / elapsed:.1f} posts/s")  # fmt: skip
    orphans = failed_posted + no_target
    summary = {
        "posts": posts, "targets": len(targets), "outcomes": dict(outcome), "statuses": len(statuses),
        "duplicates": duplicates, "lost": lost, "flagged_but_posted": flagged_posted, "orphans": orphans,
        "checked": len(checked), "faults": dict(plan.played), "kills": len(workers.kills),
        "elapsed_s": round(elapsed, 2), "posts_per_s": round(ended / elapsed, 2),
    }  # fmt: skip
    print(json.dumps(summary))
    return 1 if duplicates or lost or orphans else 0


def _reason(text: str) -> str:
    """A reason without what varies from target to target (times, counts)."""
    import re

    text = re.sub(r"\d{2}:\d{2}:\d{2}", "HH:MM:SS", text)
    text = re.sub(r"after \d+ attempts", "after N attempts", text)
    return text[:150]


def database_url(given: str | None) -> str | None:
    """A PostgreSQL URL without a schema gets the benchmark's own (created, then dropped)."""
    if given and urlparse(given).scheme.startswith("postgres") and "schema" not in parse_qs(urlparse(given).query):
        return f"{given}{'&' if '?' in given else '?'}schema=kith_bench_publish_faults"
    return given


async def main(args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    rng = random.Random(args.seed)
    options = {"call_timeout": args.call_timeout, "lease": args.lease}
    async with (
        fresh_database(database_url(args.database_url), keep=args.keep) as url,
        mastodon_server(rate_limit=args.rate_limit, rate_window=args.rate_window) as server,
    ):
        kith = await Kith.open(kith_settings(url, key, options))
        try:
            await lifecycle.enable(kith, "social")
            gql = GraphQLClient(kith)
            made = (await gql.query(CONNECT, url=server.url, token=server.token))["connectSocialAccount"]
            assert made["errors"] == [], made
            account_id = str(made["account"]["id"])
            too_long = set(rng.sample(range(args.posts), min(args.too_long, args.posts)))
            started = time.perf_counter()
            records = system_context(kith).records
            for n in range(args.posts):
                post = await records.create("social_post", {"text": post_text(n, rng, n in too_long)})
                done = await gql.query(SCHEDULE, id=str(post["id"]), targets=[{"accountId": account_id}])
                assert done["schedulePost"]["errors"] == [], done
            engine = "PostgreSQL" if kith.db.dialect.is_postgres else "SQLite"
            if args.keep:
                print(f"database (kept): {url}")
            print(f"{engine}: {args.posts:,} posts drafted and scheduled (schedulePost) in "
                  f"{time.perf_counter() - started:.1f}s; publishing, faults seeded {args.seed}:", flush=True)  # fmt: skip
            plan = FaultPlan(server, rng, args.posts, args)
            workers = Workers(url, key, options)
            notes = await publish_all(kith, gql, server, plan, workers, account_id, args.posts, args)
            return await report(kith, server, plan, workers, notes, args.posts, len(too_long))
        finally:
            server.release()
            await kith.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="sqlite:///new-file or postgresql://... (default: a temporary SQLite "
                        "file; a PostgreSQL URL without ?schema= gets schema kith_bench_publish_faults)")  # fmt: skip
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--too-long", type=int, default=10, help="posts over Mastodon's 500 characters")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fault-rate", type=float, default=1.0, help="multiplies every fault's probability")
    parser.add_argument("--call-timeout", type=float, default=0.5, help="the call_timeout_seconds setting")
    parser.add_argument("--rate-limit", type=int, default=300, help="the server's requests per window")
    parser.add_argument("--rate-window", type=float, default=10.0, help="the server's window (seconds)")
    parser.add_argument("--kills", type=int, default=2, choices=(0, 1, 2), help="workers killed with SIGKILL")
    parser.add_argument("--kill-at", type=float, default=0.25, help="share of the creations at the first kill")
    parser.add_argument("--expire-at", type=float, default=0.9, help="share of the creations at which the token "
                        "expires (0: never)")  # fmt: skip
    parser.add_argument("--lease", type=float, default=None, help="worker_lease_seconds (default: Kith's)")
    parser.add_argument("--keep", action="store_true", help="keep the database (its URL is printed)")
    parser.add_argument("--max-seconds", type=float, default=900, help="give up after this long")
    return parser.parse_args()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main(parse_args())))
