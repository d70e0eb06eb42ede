"""Account credentials, encrypted at rest.

Tokens are the keys to a company's public voice, so they are never stored in clear,
never part of an entity (no GraphQL field, export, audit row or log line carries them)
and decrypted only for the call that needs them.  The key is the ``credentials_key``
setting (a Fernet key: AES-128-CBC with an HMAC, from ``cryptography``); keys listed in
``previous_credentials_keys`` still decrypt, so a key can be rotated with ``kith social
rotate-key`` without reconnecting every account.  Outside production an unset key falls
back to one derived from the installation's secret (``development_key``), so the demo
connects accounts with no setup.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kith.plugins.social.models import SocialCredential
from kith.plugins.social.settings import social_settings
from kith.sdk import PluginContext, ValidationFailed

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet


def new_key() -> str:
    """A fresh key for the ``credentials_key`` setting."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _cipher(context: PluginContext) -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet

    settings = social_settings(context)
    if settings.credentials_key is None:
        if context.in_production:
            raise ValidationFailed.single(
                "credentials_key", "missing",
                "set [plugin.social] credentials_key (kith social new-key prints one) before connecting accounts",
            )  # fmt: skip
        return MultiFernet([Fernet(development_key(context))])
    keys = [settings.credentials_key, *settings.previous_credentials_keys]
    try:
        given = [Fernet(key.get_secret_value().encode()) for key in keys]
        # the development key only decrypts, so rotate-key moves a developer's accounts to the real key
        return MultiFernet([*given, Fernet(development_key(context))])
    except ValueError:
        raise ValidationFailed.single(
            "credentials_key", "invalid", "is not a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None


def development_key(context: PluginContext) -> bytes:
    """Outside production, without a ``credentials_key``: a key derived from the
    installation's secret, so the demo and a developer's database connect accounts with
    no setup.  That secret lives in the database (unless set), so this protects nothing
    against a copy of it.  Production refuses to connect without a real key; once one is
    set this key still decrypts (never encrypts), so ``kith social rotate-key`` moves
    accounts connected before to the real key."""
    return base64.urlsafe_b64encode(bytes.fromhex(context.sign("social.credentials_key", "development")))


def require_key(context: PluginContext) -> None:
    """Refuse, naming the setting, when accounts cannot be connected for want of a key."""
    _cipher(context)


async def store(context: PluginContext, account_id: int, credentials: Mapping[str, str]) -> None:
    """Keep ``credentials`` for the account, replacing any it had (in the caller's transaction)."""
    token = _cipher(context).encrypt(json.dumps(dict(credentials), sort_keys=True).encode()).decode()
    now = dt.datetime.now(dt.UTC)
    await SocialCredential.insert(SocialCredential(account=account_id, ciphertext=token, updated_at=now)).on_conflict(
        target=SocialCredential.account,
        action="DO UPDATE",
        values=[SocialCredential.ciphertext, SocialCredential.updated_at],
    )


async def replaced_since(account_id: int, moment: dt.datetime) -> bool:
    """Whether the account's credentials were stored after ``moment`` (a reconnect while
    a call made with the old ones was out)."""
    row = (
        await SocialCredential.select(SocialCredential.updated_at).where(SocialCredential.account == account_id).first()
    )
    return row is not None and row["updated_at"] is not None and row["updated_at"] > moment


async def load(context: PluginContext, account_id: int) -> dict[str, str]:
    """The account's credentials in clear ({} when it has none)."""
    from cryptography.fernet import InvalidToken

    row = (
        await SocialCredential.select(SocialCredential.ciphertext).where(SocialCredential.account == account_id).first()
    )
    if row is None:
        return {}
    try:
        plain = _cipher(context).decrypt(str(row["ciphertext"]).encode())
    except InvalidToken:
        raise ValidationFailed.single(
            "credentials_key",
            "wrong_key",
            "cannot decrypt this account's credentials: the key changed without a rotation",
        ) from None
    found = json.loads(plain)
    return {str(k): str(v) for k, v in found.items()}


async def rotate(context: PluginContext) -> int:
    """Encrypt every account's credentials again with the current key (after it was
    changed and the old one moved to ``previous_credentials_keys``); returns how many."""
    cipher = _cipher(context)
    rows = await SocialCredential.select(SocialCredential.account, SocialCredential.ciphertext)
    for row in rows:
        await SocialCredential.update(
            {SocialCredential.ciphertext: cipher.rotate(str(row["ciphertext"]).encode()).decode()}
        ).where(SocialCredential.account == row["account"])
    return len(rows)
