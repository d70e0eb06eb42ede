"""Sign-in throttling: per account and address, and per address across accounts.

Guessing passwords costs an attacker one ``login`` per guess, however the guesses are
sent — one request each, 50 aliases in one document, or many processes at once — so
the count is kept per attempt, in the database every API process shares:

- **account + address**: after ``login_max_failures`` wrong passwords for one email
  from one client address, that pair is locked for ``login_lockout_seconds``; each
  further failure after a lock doubles it, up to ``login_lockout_max_seconds``.  A
  stranger elsewhere cannot lock a user out: the user's own address has its own count.
- **address**: ``login_max_failures_per_address`` wrong passwords from one address,
  whatever the emails (credential stuffing), lock that address the same way.

Failures are forgotten ``login_failure_window_seconds`` after the last one (or after
the lock ends, if later); a successful sign-in clears its account + address count.

Each attempt is *reserved* before the password is checked: the count goes up in a
short write transaction, and a success takes its reservation back.  Checking first and
counting after would let concurrent requests all pass the check before any failure is
written.  A refused attempt writes nothing and checks no password.  Unknown emails are
counted exactly like known ones (the key is the email as typed, normalised), so the
throttle says nothing about which accounts exist.  Keys are hashes: the table holds no
email or address in clear.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from piccolo.querystring import QueryString

from kith.core.errors import KithError

if TYPE_CHECKING:
    from kith.core.settings import Settings
    from kith.core.storage.database import Database

TABLE = "kith_signin_throttle"
PRUNE_EVERY = 60.0  # seconds between deletions of forgotten counts (per process)


@dataclass(frozen=True)
class Reservation:
    """An attempt counted in advance; ``locks`` is what a failure of it imposes."""

    account_key: str
    address_key: str
    failures: int  # of the account + address, this attempt included
    address_failures: int
    locked_until: float | None  # the account + address lock this attempt set, if it fails
    address_locked_until: float | None


class Throttled(KithError):
    """Sign-in is locked for this account and address (or this address) for a while."""

    def __init__(self, retry_after: int, scope: str) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after
        self.scope = scope


def _key(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class SignInThrottle:
    """The throttle of one Kith (its settings and database)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        #: seconds since the epoch; tests replace it to move time on
        self.clock: Callable[[], float] = time.time
        self._last_prune = 0.0

    def _lock(self, failures: int, limit: int) -> float | None:
        """How long ``failures`` lock for: none below ``limit``, then doubling."""
        if failures < limit:
            return None
        seconds = self.settings.login_lockout_seconds * 2 ** min(failures - limit, 32)
        return min(seconds, self.settings.login_lockout_max_seconds)

    async def reserve(self, account: str, address: str) -> Reservation:
        """Count an attempt for ``account`` from ``address``; raises ``Throttled`` if
        either is locked now (and then counts nothing)."""
        now = self.clock()
        window = self.settings.login_failure_window_seconds
        account_key, address_key = _key("account", account, address), _key("address", address)
        keys = sorted((account_key, address_key))
        lock_rows = " FOR UPDATE" if self.db.dialect.is_postgres else ""
        async with self.db.write_transaction():
            await self.db.fetch(
                QueryString(
                    f"INSERT INTO {TABLE} (key, failures, locked_until, expires_at) "
                    "VALUES ({}, 0, NULL, {}), ({}, 0, NULL, {}) ON CONFLICT (key) DO NOTHING",
                    keys[0],
                    now,
                    keys[1],
                    now,
                )
            )
            rows = await self.db.fetch(
                QueryString(
                    f"SELECT key, failures, locked_until, expires_at FROM {TABLE} "
                    f"WHERE key IN ({{}}, {{}}) ORDER BY key{lock_rows}",
                    *keys,
                )
            )
            state: dict[str, tuple[int, float | None]] = {}
            for row in rows:
                if float(row["expires_at"]) <= now:  # forgotten
                    state[row["key"]] = (0, None)
                else:
                    until = row["locked_until"]
                    state[row["key"]] = (int(row["failures"]), None if until is None else float(until))
            for key, scope in ((account_key, "account"), (address_key, "address")):
                until = state[key][1]
                if until is not None and until > now:
                    raise Throttled(math.ceil(until - now), scope)  # rolls the transaction back
            counted: dict[str, tuple[int, float | None]] = {}
            for key, limit in (
                (account_key, self.settings.login_max_failures),
                (address_key, self.settings.login_max_failures_per_address),
            ):
                failures = state[key][0] + 1
                lock = self._lock(failures, limit)
                until = None if lock is None else now + lock
                counted[key] = (failures, until)
                await self.db.fetch(
                    QueryString(
                        f"UPDATE {TABLE} SET failures = {{}}, locked_until = {{}}, expires_at = {{}} WHERE key = {{}}",
                        failures,
                        until,
                        max(now, until or now) + window,
                        key,
                    )
                )
        await self._prune(now)
        return Reservation(
            account_key, address_key, counted[account_key][0], counted[address_key][0],
            counted[account_key][1], counted[address_key][1],
        )  # fmt: skip

    async def succeeded(self, reservation: Reservation) -> None:
        """A correct password: clear the account + address count and take this
        attempt back from the address count (and the lock it set, if it set one)."""
        async with self.db.write_transaction():
            await self.db.fetch(QueryString(f"DELETE FROM {TABLE} WHERE key = {{}}", reservation.account_key))
            await self.db.fetch(
                QueryString(
                    f"UPDATE {TABLE} SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END, "
                    "locked_until = CASE WHEN locked_until = {} THEN NULL ELSE locked_until END WHERE key = {}",
                    reservation.address_locked_until,
                    reservation.address_key,
                )
            )

    async def _prune(self, now: float) -> None:
        """Forget expired counts now and then, so guessed emails do not pile up."""
        if now - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = now
        await self.db.fetch(QueryString(f"DELETE FROM {TABLE} WHERE expires_at <= {{}}", now))


def client_address(request: object) -> str:
    """The address a request came from (``request.client.host``, which the ASGI server
    sets from the proxy's ``X-Forwarded-For`` when it trusts the proxy), or ``local``
    for in-process callers."""
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return str(host) if host else "local"
