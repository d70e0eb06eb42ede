"""What authentication keeps in memory between requests.

``CredentialCache``: a credential (API key or token, by its SHA-256) that was checked
against the database is answered from memory afterwards — its principal and that
principal's permissions — until its own expiry time passes or anything about users,
credentials or roles changes.  Every such change bumps ``auth_version`` in
``kith_meta`` in its own transaction (``AuthService.changed``); this process forgets
everything at once when it made the change, and every process forgets everything when
its periodic check (``auth_check_interval``) sees a new version.  Refusals are never
kept, so each one is checked, logged and audited as before.

``KeyUses``: when each API key was last used, collected in memory and written in
batches, at most once per ``api_key_last_used_interval`` per key.

docs/architecture.md ("Nothing per request that could be per change") says why.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kith.core.security.auth import Principal
    from kith.core.security.permissions import Permissions


@dataclass(slots=True)
class Authenticated:
    """A checked credential: who it is and what they may do (None: everything, admins)."""

    principal: Principal
    permissions: Permissions | None
    #: seconds since the epoch after which the credential is no longer valid (None: never)
    expires: float | None = None
    #: the API key's row id, for recording its use (None for tokens)
    key_id: int | None = None
    #: the schema version ``permissions`` was built for: its predicates depend on it
    schema_version: int = 0


class CredentialCache:
    """Checked credentials by SHA-256, least recently used dropped first.

    ``generation`` changes with every ``clear``: a request that began checking a
    credential before a change must not store what it read (``put`` with the generation
    it saw), or a revoked key could be cached again after the clear.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.generation = 0
        #: the auth version the entries are valid for (None: not read yet)
        self.version: int | None = None
        #: ``time.monotonic()`` of the last version check
        self.checked_at = -math.inf
        self._entries: OrderedDict[str, Authenticated] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: str) -> Authenticated | None:
        entry = self._entries.get(digest)
        if entry is not None:
            self._entries.move_to_end(digest)
        return entry

    def put(self, digest: str, entry: Authenticated, generation: int) -> None:
        """Keep ``entry`` unless the cache was cleared since ``generation`` was read."""
        if self.size <= 0 or generation != self.generation:
            return
        self._entries[digest] = entry
        self._entries.move_to_end(digest)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def drop(self, digest: str) -> None:
        self._entries.pop(digest, None)

    def clear(self) -> None:
        self._entries.clear()
        self.generation += 1

    def observe(self, version: int, now: float) -> None:
        """The auth version read from the database at ``now`` (monotonic)."""
        self.checked_at = now
        if version != self.version:
            self.version = version
            self.clear()


class KeyUses:
    """The latest use of each API key, until it is written.

    ``take_due`` hands out the keys whose last write by this process is at least
    ``interval`` seconds old (all of them with ``force``, at shutdown), so a key in use is
    written at most once per interval by each process, and a key used for the first time
    is written with the next batch.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._pending: dict[int, float] = {}  # key id -> when it was last used (epoch seconds)
        self._written: dict[int, float] = {}  # key id -> clock() of this process's last write

    def used(self, key_id: int, at: float) -> None:
        self._pending[key_id] = at

    def pending(self) -> int:
        return len(self._pending)

    def take_due(self, *, force: bool = False) -> dict[int, float]:
        now = self.clock()
        self._written = {k: t for k, t in self._written.items() if now - t < self.interval}
        due = {k: at for k, at in self._pending.items() if force or k not in self._written}
        for key_id in due:
            del self._pending[key_id]
            self._written[key_id] = now
        return due

    def put_back(self, due: dict[int, float]) -> None:
        """A batch that could not be written waits for the next one (newer uses win)."""
        for key_id, at in due.items():
            self._pending[key_id] = max(at, self._pending.get(key_id, at))
            self._written.pop(key_id, None)
