"""Authentication: passwords, signed tokens and API keys, each turned into a Principal.

- Passwords: argon2id (``passwords.py``), rehashed when the parameters change.
- Tokens: JWT signed with HS256 only (the algorithm is fixed on both sides, never read
  from the token), with an expiry and the credential version, so changing a password
  ends every token issued before.
- API keys: ``kith_<8 hex>_<secret>``; the prefix is the public handle shown in lists, the
  whole key is shown once and stored only as a SHA-256 hash; keys expire and can be
  revoked, and their last use is recorded (in batches, ``cache.KeyUses``).

An HTTP request's credential is checked against the database once and then answered
from memory (``identify``, ``cache.CredentialCache``) until it expires or anything about
users, credentials or roles changes: every change below calls ``changed()`` in its
transaction, and other processes see the new ``auth_version`` within
``auth_check_interval``.

Every refusal is one clear message to the caller and a ``kith.security`` log line plus
an audit row, never a stack trace.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt
from piccolo.querystring import QueryString

from kith.core.errors import KithError, ValidationFailed
from kith.core.records.change import Actor
from kith.core.records.encoding import dumps
from kith.core.security import passwords
from kith.core.security.cache import Authenticated, CredentialCache, KeyUses
from kith.core.security.permissions import permissions_for
from kith.core.security.throttle import Reservation, SignInThrottle, Throttled
from kith.core.storage.meta import bump_auth_version

if TYPE_CHECKING:
    from kith.core.runtime import Kith

log = logging.getLogger("kith.security")

ALGORITHM = "HS256"
KEY_PREFIX = "kith_"
ADMIN_ROLE = "admin"


class AuthFailed(KithError):
    """Credentials were refused; the message is safe to show to the caller."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user (through a password, token or key), or the system itself."""

    user_id: int | None
    name: str
    via: str  # password, token, api_key, system, cli
    roles: tuple[str, ...] = ()
    team_id: int | None = None
    key_prefix: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_admin(self) -> bool:
        return self.user_id is None or ADMIN_ROLE in self.roles

    def actor(self, source: str) -> Actor:
        """How this principal appears in the audit trail; admin powers are marked."""
        via = f" via {self.key_prefix}" if self.key_prefix else ""
        admin = " [admin]" if ADMIN_ROLE in self.roles else ""
        return Actor(name=f"{self.name}{via}{admin}", source=source, user_id=self.user_id)


SYSTEM = Principal(None, "system", "system")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class AuthService:
    def __init__(self, kith: Kith) -> None:
        self.kith = kith
        self.throttle = SignInThrottle(kith.db, kith.settings)
        #: checked credentials of HTTP requests (``identify``)
        self.cache = CredentialCache(kith.settings.auth_cache_size)
        #: API keys' latest uses, written by ``flush_key_uses``
        self.key_uses = KeyUses(kith.settings.api_key_last_used_interval)

    async def changed(self) -> None:
        """Users, passwords, keys, roles or grants change in the current write transaction:
        bump the auth version with them, and forget this process's cached credentials once
        it commits (other processes forget theirs when they next check the version)."""
        await bump_auth_version(self.kith.db)

        async def forget() -> None:
            self.cache.clear()

        await self.kith.db.after_commit(forget)

    # -- users and passwords ---------------------------------------------------------

    async def user_by_email(self, email: str) -> dict[str, Any] | None:
        row = await self.kith.db.fetch_one(
            QueryString("SELECT * FROM kith_user WHERE email = {} AND deleted_at IS NULL", email.strip().lower())
        )
        return dict(row) if row else None

    async def set_password(self, user_id: int, password: str) -> None:
        problem = passwords.check_strength(password)
        if problem:
            raise ValidationFailed.single("password", "weak", problem)
        digest = passwords.hash_password(password)
        async with self.kith.db.write_transaction():
            updated = await self.kith.db.fetch(
                QueryString(
                    "UPDATE kith_credential SET password_hash = {}, version = version + 1, updated_at = {} "
                    "WHERE user_id = {} RETURNING id",
                    digest,
                    _now(),
                    user_id,
                )
            )
            if not updated:
                await self.kith.db.fetch(
                    QueryString(
                        "INSERT INTO kith_credential (user_id, password_hash, version, updated_at) "
                        "VALUES ({}, {}, 1, {})",
                        user_id,
                        digest,
                        _now(),
                    )
                )
            await self.changed()
            await self.audit("password_set", user_id, {"user": user_id})

    async def login(self, email: str, password: str, address: str = "local") -> tuple[str, dt.datetime, Principal]:
        """A token for the user whose password this is; refuses without saying which part was wrong.

        ``address`` is the client's (see ``throttle.client_address``): wrong passwords are
        counted per email and address, and per address, and sign-in is locked for a while
        past the limits (``Throttled``).  An unknown email, an inactive user and a wrong
        password take the same path: one lookup, one argon2 verification, one answer.
        """
        account = email.strip().lower()
        dummy = passwords.dummy_hash()  # made before the first lookup, so even that one costs the same
        try:
            reservation = await self.throttle.reserve(account, address)
        except Throttled as exc:
            log.warning("refused (login_throttled): %s from %s, %s locked for %d s", account, address, exc.scope,
                        exc.retry_after)  # fmt: skip
            raise
        row = await self.kith.db.fetch_one(
            QueryString(
                "SELECT u.id, u.email, u.is_active, c.password_hash, c.version FROM kith_user u "
                "LEFT JOIN kith_credential c ON c.user_id = u.id WHERE u.email = {} AND u.deleted_at IS NULL",
                account,
            )
        )
        usable = row is not None and bool(row["is_active"]) and row["password_hash"] is not None
        stored = str(row["password_hash"]) if usable and row is not None else dummy
        ok, rehash = await asyncio.to_thread(passwords.verify, stored, password)
        if not (ok and usable) or row is None:
            await self._failed(email, address, reservation, row["id"] if usable and row is not None else None)
        assert row is not None
        await self.throttle.succeeded(reservation)
        if rehash:
            await self.kith.db.fetch(
                QueryString(
                    "UPDATE kith_credential SET password_hash = {} WHERE user_id = {}",
                    passwords.hash_password(password),
                    row["id"],
                )
            )
        principal = await self.principal_for_user(row["id"], "password")
        token, expires = self.issue_token(row["id"], int(row["version"]))
        await self.audit("login", row["id"], {"email": row["email"]})
        return token, expires, principal

    async def _failed(self, email: str, address: str, reservation: Reservation, user_id: int | None) -> Any:
        """A wrong password (or no such user): audited, and the lock it sets, if any, too."""
        for scope, failures, until in (
            ("account", reservation.failures, reservation.locked_until),
            ("address", reservation.address_failures, reservation.address_locked_until),
        ):
            if until is not None:
                seconds = round(until - self.throttle.clock())
                log.warning("sign-in locked (%s) for %d s after %d failures: %s from %s",
                            scope, seconds, failures, email, address)  # fmt: skip
                await self.audit(
                    "login_throttled",
                    user_id,
                    {"email": email, "address": address, "scope": scope, "failures": failures, "seconds": seconds},
                )
        await self._refuse("login_failed", {"email": email, "address": address}, user_id)

    # -- tokens ------------------------------------------------------------------------

    def issue_token(self, user_id: int, credential_version: int) -> tuple[str, dt.datetime]:
        now = _now()
        expires = now + dt.timedelta(seconds=self.kith.settings.token_ttl_seconds)
        claims = {"sub": str(user_id), "ver": credential_version, "iat": now, "exp": expires, "iss": "kith"}
        return jwt.encode(claims, self.kith.secret, algorithm=ALGORITHM), expires

    async def principal_from_token(self, token: str) -> Principal:
        principal, _expires = await self._token(token)
        return principal

    async def _token(self, token: str) -> tuple[Principal, float]:
        """The principal of a token and when the token expires (seconds since the epoch)."""
        try:
            claims = jwt.decode(
                token,
                self.kith.secret,
                algorithms=[ALGORITHM],
                issuer="kith",
                options={"require": ["exp", "sub", "ver", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            await self._refuse("token_refused", {"reason": "expired"}, message="the token has expired; log in again")
        except jwt.PyJWTError as exc:
            await self._refuse("token_refused", {"reason": type(exc).__name__}, message="the token is not valid")
        user_id = int(claims["sub"])
        cred = await self.kith.db.fetch_one(
            QueryString("SELECT version FROM kith_credential WHERE user_id = {}", user_id)
        )
        if cred is None or int(cred["version"]) != int(claims["ver"]):
            await self._refuse(
                "token_refused",
                {"reason": "password changed"},
                user_id,
                message="the token is no longer valid; log in again",
            )
        return await self.principal_for_user(user_id, "token"), float(claims["exp"])

    # -- API keys ----------------------------------------------------------------------

    async def create_key(self, user_id: int, name: str, expires_in_days: float | None = None) -> tuple[str, str]:
        """A new key for ``user_id``: returns (the key, shown once; its prefix)."""
        if not name.strip():
            raise ValidationFailed.single("name", "required", "name the key (what uses it)")
        prefix = KEY_PREFIX + secrets.token_hex(4)
        key = f"{prefix}_{secrets.token_urlsafe(32)}"
        expires = _now() + dt.timedelta(days=expires_in_days) if expires_in_days else None
        await self.kith.db.fetch(
            QueryString(
                "INSERT INTO kith_api_key (user_id, name, prefix, key_hash, created_at, expires_at) "
                "VALUES ({}, {}, {}, {}, {}, {})",
                user_id,
                name.strip(),
                prefix,
                _hash_key(key),
                _now(),
                expires,
            )
        )
        await self.audit("api_key_created", user_id, {"prefix": prefix, "name": name})
        return key, prefix

    async def principal_from_key(self, key: str) -> Principal:
        principal, _key_id, _expires = await self._key(key)
        return principal

    async def _key(self, key: str) -> tuple[Principal, int, float | None]:
        """The principal of an API key, the key's id and when it expires (epoch seconds)."""
        prefix = key[: len(KEY_PREFIX) + 8]
        row = await self.kith.db.fetch_one(QueryString("SELECT * FROM kith_api_key WHERE prefix = {}", prefix))
        if row is None or not hmac.compare_digest(row["key_hash"], _hash_key(key)):
            await self._refuse(
                "api_key_refused", {"prefix": prefix, "reason": "unknown"}, message="the API key is not valid"
            )
        assert row is not None
        if row["revoked_at"] is not None:
            await self._refuse(
                "api_key_refused",
                {"prefix": prefix, "reason": "revoked"},
                row["user_id"],
                message="the API key was revoked",
            )
        if row["expires_at"] is not None and row["expires_at"] <= _now():
            await self._refuse(
                "api_key_refused",
                {"prefix": prefix, "reason": "expired"},
                row["user_id"],
                message="the API key has expired",
            )
        principal = await self.principal_for_user(int(row["user_id"]), "api_key")
        self.key_uses.used(int(row["id"]), time.time())
        expires = row["expires_at"].timestamp() if row["expires_at"] is not None else None
        principal = Principal(principal.user_id, principal.name, "api_key", principal.roles, principal.team_id, prefix)
        return principal, int(row["id"]), expires

    async def flush_key_uses(self, *, force: bool = False) -> int:
        """Write the latest use of each key that is due (``KeyUses``), in one statement per
        500 keys; returns how many were written.  ``force`` writes them all (shutdown)."""
        due = self.key_uses.take_due(force=force)
        if not due:
            return 0
        when = self.kith.db.dialect.timestamp_parameter()
        items = sorted(due.items())
        try:
            for start in range(0, len(items), 500):
                chunk = items[start : start + 500]
                cases = " ".join(f"WHEN {{}} THEN {when}" for _ in chunk)
                ids = ", ".join("{}" for _ in chunk)
                args = [v for key_id, at in chunk for v in (key_id, dt.datetime.fromtimestamp(at, dt.UTC))]
                await self.kith.db.fetch(
                    QueryString(
                        f"UPDATE kith_api_key SET last_used_at = CASE id {cases} END WHERE id IN ({ids})",
                        *args,
                        *(key_id for key_id, _ in chunk),
                    )
                )
        except Exception:
            self.key_uses.put_back(due)
            log.warning("could not record the last use of %d API keys; will try again", len(due), exc_info=True)
            return 0
        return len(due)

    async def revoke_key(self, prefix: str) -> None:
        async with self.kith.db.write_transaction():
            rows = await self.kith.db.fetch(
                QueryString(
                    "UPDATE kith_api_key SET revoked_at = {} WHERE prefix = {} AND revoked_at IS NULL "
                    "RETURNING user_id",
                    _now(),
                    prefix,
                )
            )
            if not rows:
                raise ValidationFailed.single("prefix", "not_found", f"no active key {prefix!r}")
            await self.changed()
            await self.audit("api_key_revoked", rows[0]["user_id"], {"prefix": prefix})

    async def keys(self, user_id: int | None = None) -> list[dict[str, Any]]:
        where, args = ("WHERE k.user_id = {}", [user_id]) if user_id is not None else ("", [])
        rows = await self.kith.db.fetch(
            QueryString(
                "SELECT k.prefix, k.name, k.created_at, k.expires_at, k.revoked_at, k.last_used_at, u.email "
                f"FROM kith_api_key k JOIN kith_user u ON u.id = k.user_id {where} ORDER BY k.id",
                *args,
            )
        )
        return [dict(r) for r in rows]

    # -- principals --------------------------------------------------------------------

    async def principal_for_user(self, user_id: int, via: str) -> Principal:
        user = await self.kith.db.fetch_one(
            QueryString(
                "SELECT id, email, team, is_active FROM kith_user WHERE id = {} AND deleted_at IS NULL", user_id
            )
        )
        if user is None or not user["is_active"]:
            await self._refuse(
                "access_refused", {"reason": "user inactive"}, user_id, message="this user is not active"
            )
        assert user is not None
        roles = await self.kith.db.fetch(
            QueryString("SELECT role FROM kith_user_role WHERE user_id = {} ORDER BY role", user_id)
        )
        return Principal(int(user["id"]), str(user["email"]), via, tuple(r["role"] for r in roles), user["team"])

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Principal | None:
        """The principal of an HTTP request's credentials; None when it carries none."""
        found = await self.identify(authorization, api_key)
        return found.principal if found is not None else None

    async def identify(self, authorization: str | None, api_key: str | None) -> Authenticated | None:
        """Who an HTTP request's credentials are and what they may do; None without credentials.

        A credential checked before is answered from memory (no statement) while it has
        not expired and nothing about users, credentials or roles has changed since; the
        caller keeps the cache current with ``Kith.refresh_if_changed(auth=True)``.
        Refusals are checked against the database, logged and audited every time.
        """
        credential = api_key
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                await self._refuse(
                    "access_refused", {"reason": "scheme"}, message="use 'Authorization: Bearer <token or API key>'"
                )
            credential = value.strip()
        if not credential:
            return None
        digest = _hash_key(credential)
        found = self.cache.get(digest)
        if found is not None:
            now = time.time()
            if found.expires is None or found.expires > now:
                if found.key_id is not None:
                    self.key_uses.used(found.key_id, now)
                if found.permissions is not None and found.schema_version != self.kith.schema_version:
                    # its predicates were built for other entities and fields: rebuild them, from the same grants
                    found.permissions = found.permissions.rebuilt()
                    found.schema_version = self.kith.schema_version
                return found
            self.cache.drop(digest)  # expired: checked (and refused, audited) below as before
        generation = self.cache.generation
        key_id: int | None = None
        expires: float | None
        if credential.startswith(KEY_PREFIX):
            principal, key_id, expires = await self._key(credential)
        else:
            principal, expires = await self._token(credential)
        permissions = None if principal.is_admin else await permissions_for(self.kith, principal)
        found = Authenticated(principal, permissions, expires, key_id, self.kith.schema_version)
        self.cache.put(digest, found, generation)
        return found

    # -- roles -------------------------------------------------------------------------

    async def grant_role(self, user_id: int, role: str) -> None:
        if role not in await self.role_names():
            raise ValidationFailed.single("role", "unknown", f"no role named {role!r}")
        async with self.kith.db.write_transaction():
            exists = await self.kith.db.fetch_one(
                QueryString("SELECT id FROM kith_user_role WHERE user_id = {} AND role = {}", user_id, role)
            )
            if exists is None:
                await self.kith.db.fetch(
                    QueryString("INSERT INTO kith_user_role (user_id, role) VALUES ({}, {})", user_id, role)
                )
                await self.changed()
                await self.audit("role_granted", user_id, {"role": role})

    async def revoke_role(self, user_id: int, role: str) -> None:
        async with self.kith.db.write_transaction():
            await self.kith.db.fetch(
                QueryString("DELETE FROM kith_user_role WHERE user_id = {} AND role = {}", user_id, role)
            )
            await self.changed()
            await self.audit("role_revoked", user_id, {"role": role})

    async def role_names(self) -> list[str]:
        return [r["name"] for r in await self.kith.db.execute("SELECT name FROM kith_role ORDER BY name")]

    # -- audit -------------------------------------------------------------------------

    async def audit(self, action: str, user_id: int | None, details: dict[str, Any]) -> None:
        """Record a security event (sign-ins, keys, roles) in the audit trail."""
        await self.kith.db.fetch(
            QueryString(
                "INSERT INTO kith_audit (entity, record_id, action, actor, source, changes, at) "
                "VALUES ('security', {}, {}, {}, 'security', {}, {})",
                user_id or 0,
                action,
                details.get("email") or (f"user {user_id}" if user_id else "anonymous"),
                dumps(details),
                _now(),
            )
        )

    async def _refuse(
        self,
        action: str,
        details: dict[str, Any],
        user_id: int | None = None,
        message: str = "email or password is wrong",
    ) -> Any:
        log.warning("refused (%s): %s", action, details)
        await self.audit(action, user_id, details)
        raise AuthFailed(message)
