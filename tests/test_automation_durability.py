"""Durability of the automation worker, proven with real ``kith worker`` processes.

* A worker killed with SIGKILL in the middle of a batch, then started again, processes
  every event, and no action's effect happens twice (both engines): on the path that
  handles events one at a time (a rule with an action outside the database), and inside
  the transaction of the batch path, between the batch's effects and its commit.
* Two workers on PostgreSQL share 10,000 events: none handled twice, none missed.

The workers are subprocesses running the installed ``kith`` command against the test's
own database (a SQLite file, or a PostgreSQL schema when ``KITH_TEST_DATABASE_URL`` is
set); every one of them is killed in a ``finally`` block.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kith.core.automations import service
from kith.core.records.change import Actor
from kith_test_plugins import slow_steps

TESTS = Path(__file__).resolve().parent
KITH = Path(sys.executable).with_name("kith")  # the console script of this environment
ADMIN = Actor(name="test", source="system")
BATCH = 50  # events a worker claims at once (KITH_WORKER_BATCH)
LEASE = 2.0  # seconds a claimed event stays reserved (KITH_WORKER_LEASE_SECONDS)


def welcome_rule(extra_actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """contact.created -> one "welcome <id>" activity on the contact (plus ``extra_actions``)."""
    return {
        "name": "welcome",
        "enabled": True,
        "trigger": {"event": "contact.created"},
        "actions": [
            {
                "create_record": {
                    "entity": "activity",
                    "values": {
                        "kind": "note",
                        "subject": "welcome {{ record.id }}",
                        "subjectType": "contact",
                        "subjectId": "{{ record.id }}",
                    },
                }
            },
            *(extra_actions or []),
        ],
    }


async def create_contacts(kith: Any, n: int, per_transaction: int = 500) -> list[int]:
    """``n`` contacts through the record service (so each writes its outbox event)."""
    ids: list[int] = []
    for start in range(0, n, per_transaction):
        async with kith.db.write_transaction():
            for i in range(start, min(n, start + per_transaction)):
                record = await kith.records.create("contact", {"first_name": "Person", "last_name": f"{i}"}, ADMIN)
                ids.append(record["id"])
    return ids


def worker_env(url: str, **settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITH_")}
    env["KITH_DATABASE_URL"] = url
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)
    env.update({f"KITH_{key.upper()}": str(value) for key, value in settings.items()})
    return env


@contextlib.contextmanager
def worker_process(directory: Path, name: str, env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``kith worker ARGS`` in the background, output to ``<directory>/<name>.log``;
    killed (SIGKILL) on the way out if it is still running."""
    with (directory / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(
            [str(KITH), "worker", *args], cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def log_of(directory: Path, name: str) -> str:
    path = directory / f"{name}.log"
    return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


async def wait_until(
    check: Callable[[], Awaitable[bool]],
    *,
    within: float,
    what: str,
    processes: dict[str, subprocess.Popen[bytes]],
    directory: Path,
    every: float = 0.05,
) -> None:
    """Poll ``check`` until it is true; fail early (with its log) if a worker died."""
    deadline = time.monotonic() + within
    while not await check():
        for name, process in processes.items():
            if process.poll() is not None:
                pytest.fail(f"worker {name} exited ({process.returncode}) before {what}:\n{log_of(directory, name)}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {name}\n{log_of(directory, name)}" for name in processes)
            pytest.fail(f"timed out after {within}s waiting for {what}\n{logs}")
        await asyncio.sleep(every)


async def scalar(kith: Any, sql: str, *args: Any) -> int:
    rows = await kith.db.execute(sql, *args)
    return int(next(iter(dict(rows[0]).values())))


async def outbox_statuses(kith: Any) -> dict[str, int]:
    rows = await kith.db.execute("SELECT status, COUNT(*) AS n FROM kith_outbox GROUP BY status")
    return {row["status"]: int(row["n"]) for row in rows}


def actions_of(run: dict[str, Any]) -> list[dict[str, Any]]:
    value = run["actions"]
    return json.loads(value) if isinstance(value, str) else value


# -- a worker killed in the middle of a batch --------------------------------------------------


HOLD_ON = 75  # the 75th contact: the middle of the second batch of 50
N_CONTACTS = 200


async def test_worker_killed_mid_batch_resumes_without_repeating_effects(make_kith, kith_database_url, tmp_path):
    kith = await make_kith(plugins=[slow_steps.plugin], enable=["slow_steps"])
    ids = await create_contacts(kith, N_CONTACTS)
    held, hold_file = ids[HOLD_ON - 1], tmp_path / "hold"
    # welcome activity first, then a step that holds still on one contact while the file exists:
    # the kill lands after that contact's activity committed and before its run was recorded.
    hold = {"call_function": {"function": "hold", "args": {"record_id": held, "while_exists": str(hold_file)}}}
    await service.apply_rule(kith, welcome_rule([hold]))
    hold_file.touch()
    env = worker_env(
        kith_database_url,
        extra_plugins="kith_test_plugins.slow_steps:plugin",
        worker_batch=BATCH,
        worker_lease_seconds=LEASE,
        worker_poll_seconds=0.1,
    )
    progress_sql = (
        "SELECT (SELECT COUNT(*) FROM activity WHERE subject LIKE 'welcome %') AS activities, "
        "(SELECT COUNT(*) FROM kith_automation_run WHERE rule = 'welcome') AS runs"
    )

    async def held_mid_rule() -> bool:
        row = (await kith.db.execute(progress_sql))[0]
        return int(row["activities"]) == HOLD_ON and int(row["runs"]) == HOLD_ON - 1

    with worker_process(tmp_path, "first", env) as first:
        await wait_until(held_mid_rule, within=60, what="the worker to reach the held contact",
                         processes={"first": first}, directory=tmp_path)  # fmt: skip
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL

    # What the kill left: 74 events finished, the held one half done (its activity exists,
    # its run is not recorded), the rest of its batch leased to a dead worker, 100 untouched.
    row = (await kith.db.execute(progress_sql))[0]
    assert (int(row["activities"]), int(row["runs"])) == (HOLD_ON, HOLD_ON - 1)
    leased = await kith.db.execute(
        "SELECT record_id FROM kith_outbox WHERE event = 'contact.created' AND status = 'pending' "
        "AND locked_until IS NOT NULL ORDER BY id"
    )
    assert [r["record_id"] for r in leased] == ids[HOLD_ON - 1 : 2 * BATCH]
    untouched = await scalar(
        kith, "SELECT COUNT(*) AS n FROM kith_outbox WHERE event = 'contact.created' AND locked_by IS NULL"
    )
    assert untouched == N_CONTACTS - 2 * BATCH

    hold_file.unlink()
    await asyncio.sleep(LEASE + 0.5)  # the dead worker's leases run out
    with (tmp_path / "second.log").open("wb") as log:
        second = await asyncio.to_thread(
            subprocess.run, [str(KITH), "worker", "--once"], cwd=tmp_path, env=env,
            stdout=log, stderr=subprocess.STDOUT, timeout=120,
        )  # fmt: skip
    assert second.returncode == 0, log_of(tmp_path, "second")
    assert "Processed" in log_of(tmp_path, "second")

    # Every contact has exactly one welcome activity: none missed, none doubled.
    rows = await kith.db.execute(
        "SELECT subject_id, subject FROM activity WHERE subject LIKE 'welcome %' ORDER BY subject_id"
    )
    assert Counter(r["subject_id"] for r in rows) == Counter(ids)
    assert all(r["subject"] == f"welcome {r['subject_id']}" for r in rows)
    # The queue is drained: the 200 contact events and the 200 activity events they caused.
    assert await outbox_statuses(kith) == {"done": 2 * N_CONTACTS}
    # One recorded run per event, all succeeded; the held contact's run found its activity
    # already made (by the killed worker) and did not make it again.
    runs = [dict(r) for r in await kith.db.execute("SELECT * FROM kith_automation_run WHERE rule = 'welcome'")]
    assert Counter(r["record_id"] for r in runs) == Counter(ids)
    assert {r["status"] for r in runs} == {"succeeded"}
    (held_run,) = [r for r in runs if r["record_id"] == held]
    (activity_id,) = [r["id"] for r in await kith.db.execute("SELECT id FROM activity WHERE subject_id = {}", held)]
    assert actions_of(held_run) == [
        {"action": "create_record", "already_done": {"created": "activity", "id": activity_id}},
        {"action": "call_function", "done": {"function": "hold", "result": {"held": False}}},
    ]
    others = [actions_of(r)[0] for r in runs if r["record_id"] != held]
    assert all("done" in entry for entry in others)


# -- a worker killed inside a batch's transaction ---------------------------------------------------


async def test_worker_killed_inside_a_batch_transaction_keeps_nothing_of_it(make_kith, kith_database_url, tmp_path):
    """A rule that only writes to the database takes the batch path: its events are
    claimed and marked done, their effects, effect records and runs written, all in one
    transaction.  Here each event tags its contact (the batch's first round writes the
    tags, their audit rows, events and effect records) and then gets a welcome activity
    (the second round).  The kill lands in the second round of the second batch, after
    its first effects were written and before it committed: nothing of that batch stays
    — no effect, no effect record, no run, not even the claim — and a new worker does it
    all, once."""
    kith = await make_kith(plugins=[slow_steps.plugin], enable=["slow_steps"])
    ids = await create_contacts(kith, N_CONTACTS)
    held, hold_file = ids[HOLD_ON - 1], tmp_path / "hold"
    rule = welcome_rule()
    rule["actions"].insert(0, {"add_tag": {"tag": "welcomed"}})
    await service.apply_rule(kith, rule)
    hold_file.touch()
    env = worker_env(
        kith_database_url,
        extra_plugins="kith_test_plugins.slow_steps:plugin",
        worker_batch=BATCH,
        worker_lease_seconds=LEASE,
        worker_poll_seconds=0.1,
    )
    # the plugin's before-create hook holds the write of the held contact's activity
    env.update(KITH_TEST_HOLD_FILE=str(hold_file), KITH_TEST_HOLD_SUBJECT=str(held))
    progress_sql = (
        "SELECT (SELECT COUNT(*) FROM activity WHERE subject LIKE 'welcome %') AS activities, "
        "(SELECT COUNT(*) FROM kith_audit WHERE actor = 'automation:welcome' AND entity = 'contact') AS tagged, "
        "(SELECT COUNT(*) FROM kith_action_effect) AS effects, "
        "(SELECT COUNT(*) FROM kith_automation_run WHERE rule = 'welcome') AS runs, "
        "(SELECT COUNT(*) FROM kith_outbox WHERE event = 'contact.created' AND status = 'done') AS done"
    )
    first_batch = {"activities": BATCH, "tagged": BATCH, "effects": 2 * BATCH, "runs": BATCH, "done": BATCH}

    async def progress() -> dict[str, int]:
        return {k: int(v) for k, v in dict((await kith.db.execute(progress_sql))[0]).items()}

    async def held_in_the_batch() -> bool:
        return (tmp_path / "hold.held").exists()

    with worker_process(tmp_path, "first", env) as first:
        await wait_until(held_in_the_batch, within=60, what="the worker to hold inside the second batch",
                         processes={"first": first}, directory=tmp_path)  # fmt: skip
        # seen from outside while it holds: the first batch, committed; nothing of the second
        assert await progress() == first_batch
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL

    # What the kill left: the first batch done, the second as if no worker had taken it
    # (pending, never claimed, no lease to wait out), the rest untouched.
    assert await progress() == first_batch
    marks = ", ".join("{}" for _ in ids[BATCH : 2 * BATCH])
    second = await kith.db.execute(
        "SELECT record_id, status, claims, locked_by, locked_until FROM kith_outbox "
        f"WHERE event = 'contact.created' AND record_id IN ({marks}) ORDER BY id",
        *ids[BATCH : 2 * BATCH],
    )
    assert [r["record_id"] for r in second] == ids[BATCH : 2 * BATCH]
    assert {(r["status"], r["claims"], r["locked_by"], r["locked_until"]) for r in second} == {
        ("pending", 0, None, None)
    }

    hold_file.unlink()
    with (tmp_path / "second.log").open("wb") as log:  # no lease to wait for: start at once
        second_run = await asyncio.to_thread(
            subprocess.run, [str(KITH), "worker", "--once"], cwd=tmp_path, env=env,
            stdout=log, stderr=subprocess.STDOUT, timeout=120,
        )  # fmt: skip
    assert second_run.returncode == 0, log_of(tmp_path, "second")

    # Every contact is tagged once and has one welcome activity, with one effect record
    # per action: none missed, none doubled.
    rows = await kith.db.execute("SELECT subject_id FROM activity WHERE subject LIKE 'welcome %'")
    assert Counter(r["subject_id"] for r in rows) == Counter(ids)
    tagged = await kith.db.execute(
        "SELECT record_id FROM kith_audit WHERE actor = 'automation:welcome' AND entity = 'contact'"
    )
    assert Counter(r["record_id"] for r in tagged) == Counter(ids)
    tags = await kith.db.execute("SELECT DISTINCT CAST(tags AS TEXT) AS tags FROM contact")
    assert [json.loads(r["tags"]) for r in tags] == [["welcomed"]]
    effects = await kith.db.execute("SELECT key FROM kith_action_effect")
    assert len(effects) == len({r["key"] for r in effects}) == 2 * N_CONTACTS
    # the contact events, the tag changes and the activities they caused, all done
    assert await outbox_statuses(kith) == {"done": 3 * N_CONTACTS}
    # One run per event, all succeeded, and none found an effect already done: the killed
    # batch kept nothing that the second worker could have found.
    runs = [dict(r) for r in await kith.db.execute("SELECT * FROM kith_automation_run WHERE rule = 'welcome'")]
    assert Counter(r["record_id"] for r in runs) == Counter(ids)
    assert {r["status"] for r in runs} == {"succeeded"}
    assert all("done" in entry for r in runs for entry in actions_of(r))


# -- two workers, 10,000 events ------------------------------------------------------------------


#: events per engine: SQLite lets one writer in at a time, so its two workers take turns
#: (and the test keeps to a size that runs in seconds there)
EVENTS = {"postgres": 10_000, "sqlite": 2_000}


async def test_two_workers_process_10000_events_exactly_once(kith_engine, make_kith, kith_database_url, tmp_path):
    n_events = EVENTS[kith_engine]
    kith = await make_kith()
    await service.apply_rule(kith, welcome_rule())
    started = time.perf_counter()
    ids = await create_contacts(kith, n_events)
    created = time.perf_counter() - started
    assert await scalar(kith, "SELECT COUNT(*) AS n FROM kith_outbox WHERE status = 'pending'") == n_events

    env = worker_env(kith_database_url, worker_poll_seconds=0.2)
    total = 2 * n_events  # each contact event causes an activity.created event

    async def drained() -> bool:
        return await outbox_statuses(kith) == {"done": total}

    started = time.perf_counter()
    with worker_process(tmp_path, "a", env) as a, worker_process(tmp_path, "b", env) as b:
        try:
            await wait_until(drained, within=240, what=f"{total} events to be processed",
                             processes={"a": a, "b": b}, directory=tmp_path, every=0.5)  # fmt: skip
        finally:
            for process in (a, b):  # a clean stop; worker_process kills whatever is left
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in (a, b):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=15)
    processed = time.perf_counter() - started
    print(f"\n{n_events} events, 2 workers: created in {created:.1f}s, processed in {processed:.1f}s "
          f"({n_events / processed:.0f} contact events/s, {total / processed:.0f} outbox rows/s)")  # fmt: skip

    # Every contact event was claimed by a worker (on PostgreSQL both took a real share) ...
    shares = await kith.db.execute(
        "SELECT locked_by, COUNT(*) AS n FROM kith_outbox WHERE event = 'contact.created' GROUP BY locked_by"
    )
    by_worker = {r["locked_by"]: int(r["n"]) for r in shares}
    assert None not in by_worker, by_worker
    if kith_engine == "postgres":  # claims side by side (SKIP LOCKED)
        assert len(by_worker) == 2 and min(by_worker.values()) >= n_events // 10, by_worker
    # On SQLite the two processes take the one write lock in turns, and the one that
    # holds it often claims again first: the shares are not asserted there, only that
    # two processes competing for the same file handle each event exactly once.
    # ... and every event was handled exactly once: one activity per contact, ...
    counts = (
        await kith.db.execute(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT subject_id) AS contacts FROM activity WHERE subject LIKE 'welcome %'"
        )
    )[0]
    assert (int(counts["n"]), int(counts["contacts"])) == (n_events, n_events)
    missed = await scalar(
        kith,
        "SELECT COUNT(*) AS n FROM contact c WHERE NOT EXISTS "
        "(SELECT 1 FROM activity a WHERE a.subject_id = c.id AND a.subject_type = 'contact')",
    )
    assert missed == 0
    # ... one run per event (a second handling would add a run, even with the effect skipped), ...
    runs = (
        await kith.db.execute(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS events, "
            "SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS ok FROM kith_automation_run"
        )
    )[0]
    assert (int(runs["n"]), int(runs["events"]), int(runs["ok"])) == (n_events, n_events, n_events)
    event_ids = await kith.db.execute(
        "SELECT COUNT(*) AS n FROM kith_outbox o WHERE o.event = 'contact.created' AND NOT EXISTS "
        "(SELECT 1 FROM kith_automation_run r WHERE r.event_id = o.id)"
    )
    assert int(event_ids[0]["n"]) == 0
    # ... and no effect was ever found already done (nothing ran twice).
    repeated = await scalar(
        kith, "SELECT COUNT(*) AS n FROM kith_automation_run WHERE CAST(actions AS TEXT) LIKE '%already_done%'"
    )
    assert repeated == 0
    assert len(ids) == n_events
