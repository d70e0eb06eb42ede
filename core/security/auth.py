"""Authentication: passwords, signed tokens and API keys, each turned into a Principal.

- Passwords: argon2id (``passwords.py``), rehashed when the parameters change.
- Tokens: JWT signed with HS256 only (the algorithm is fixed on both sides, never read
  from the token), with an expiry and the credential version, so changing a password
  ends every token issued before.
- API keys: ``kith_<8 hex>_<secret>``; the prefix is the public handle shown in lists, the
  whole key is shown once and stored only as a SHA-256 hash; keys expire and can be
  revoked, and their last use is recorded.

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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jwt
from piccolo.querystring import QueryString

from kith.core.errors import KithError, ValidationFailed
from kith.core.records.change import Actor
from kith.core.records.encoding import dumps
from kith.core.security import passwords
from kith.core.security.throttle import Reservation, SignInThrottle, Throttled

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
        return await self.principal_for_user(user_id, "token")

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
        last = row["last_used_at"]
        if last is None or _now() - last > dt.timedelta(minutes=1):  # at most one write a minute per key
            await self.kith.db.fetch(
                QueryString("UPDATE kith_api_key SET last_used_at = {} WHERE id = {}", _now(), row["id"])
            )
        principal = await self.principal_for_user(int(row["user_id"]), "api_key")
        return Principal(principal.user_id, principal.name, "api_key", principal.roles, principal.team_id, prefix)

    async def revoke_key(self, prefix: str) -> None:
        rows = await self.kith.db.fetch(
            QueryString(
                "UPDATE kith_api_key SET revoked_at = {} WHERE prefix = {} AND revoked_at IS NULL RETURNING user_id",
                _now(),
                prefix,
            )
        )
        if not rows:
            raise ValidationFailed.single("prefix", "not_found", f"no active key {prefix!r}")
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
        if credential.startswith(KEY_PREFIX):
            return await self.principal_from_key(credential)
        return await self.principal_from_token(credential)

    # -- roles -------------------------------------------------------------------------

    async def grant_role(self, user_id: int, role: str) -> None:
        if role not in await self.role_names():
            raise ValidationFailed.single("role", "unknown", f"no role named {role!r}")
        exists = await self.kith.db.fetch_one(
            QueryString("SELECT id FROM kith_user_role WHERE user_id = {} AND role = {}", user_id, role)
        )
        if exists is None:
            await self.kith.db.fetch(
                QueryString("INSERT INTO kith_user_role (user_id, role) VALUES ({}, {})", user_id, role)
            )
            await self.audit("role_granted", user_id, {"role": role})

    async def revoke_role(self, user_id: int, role: str) -> None:
        await self.kith.db.fetch(
            QueryString("DELETE FROM kith_user_role WHERE user_id = {} AND role = {}", user_id, role)
        )
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
