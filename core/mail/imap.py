"""Fetching mail from an IMAP mailbox (``kith mail fetch``).

The standard library's ``imaplib``, run in a worker thread (it blocks), one command at a
time: it is always there and speaks plain IMAP4rev1, which is all this needs (the
asyncio IMAP client on PyPI is GPL, which Kith's licence cannot take in).

Each unseen message of ``imap_folder`` is read with ``BODY.PEEK[]`` (which leaves it
unseen), stored with ``receive``, and only then marked ``\\Seen`` — or moved to
``imap_move_to``.  A crash in between leaves it unseen, so the next fetch reads it
again, and the stored row's dedupe key makes that second store a no-op.  Messages are
addressed by UID, so another client changing the folder meanwhile does not shift them.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kith.core.errors import KithError
from kith.core.mail.inbound import receive

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.settings import Settings

log = logging.getLogger("kith.mail")


class ImapError(KithError):
    """The mailbox could not be read (connection, login, folder)."""


@dataclass
class Fetched:
    """What one fetch did: messages ``read``, ``stored`` new, ``known`` (stored before),
    ``failed`` (left unseen, read again next time)."""

    read: int = 0
    stored: int = 0
    known: int = 0
    failed: int = 0


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(response: tuple[str, list[Any]], what: str) -> list[Any]:
    status, data = response
    if status != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
        raise ImapError(f"IMAP {what} failed: {status} {detail}".strip())
    return data


class Mailbox:
    """One IMAP connection (blocking; use from a thread)."""

    def __init__(self, settings: Settings) -> None:
        if not (settings.imap_host and settings.imap_username and settings.imap_password is not None):
            raise ImapError("set imap_host, imap_username and imap_password to fetch mail")
        self.settings = settings
        security = settings.imap_security
        port = settings.imap_port or (993 if security == "tls" else 143)
        self.where = f"{settings.imap_host}:{port}/{settings.imap_folder}"
        timeout = settings.imap_timeout_seconds
        try:
            if security == "tls":
                self.client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    settings.imap_host, port, ssl_context=ssl.create_default_context(), timeout=timeout
                )
            else:
                self.client = imaplib.IMAP4(settings.imap_host, port, timeout=timeout)
                if security == "starttls":
                    self.client.starttls(ssl.create_default_context())
            self.client.login(settings.imap_username, settings.imap_password)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"cannot open {self.where}: {exc}") from None
        _check(self.client.select(_quote(settings.imap_folder)), f"SELECT {settings.imap_folder}")
        self.can_move = "MOVE" in self.client.capabilities

    def unseen(self) -> list[str]:
        data = _check(self.client.uid("SEARCH", "UNSEEN"), "SEARCH")
        first = data[0] if data else b""
        return [uid.decode() for uid in first.split()] if isinstance(first, bytes) else []

    def read(self, uid: str) -> bytes | None:
        data = _check(self.client.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None  # expunged by another client meanwhile

    def done(self, uid: str) -> None:
        """Mark a stored message seen, or move it to ``imap_move_to``."""
        target = self.settings.imap_move_to
        if not target:
            _check(self.client.uid("STORE", uid, "+FLAGS", "(\\Seen)"), "STORE")
        elif self.can_move:
            _check(self.client.uid("MOVE", uid, _quote(target)), f"MOVE to {target}")
        else:
            _check(self.client.uid("COPY", uid, _quote(target)), f"COPY to {target}")
            _check(self.client.uid("STORE", uid, "+FLAGS", "(\\Seen \\Deleted)"), "STORE")
            _check(self.client.expunge(), "EXPUNGE")

    def close(self) -> None:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            self.client.logout()


async def fetch_once(kith: Kith) -> Fetched:
    """Store every unseen message of the configured mailbox; see the module's docstring."""
    mailbox = await asyncio.to_thread(Mailbox, kith.settings)
    fetched = Fetched()
    try:
        for uid in await asyncio.to_thread(mailbox.unseen):
            raw = await asyncio.to_thread(mailbox.read, uid)
            if raw is None:
                continue
            fetched.read += 1
            try:
                stored = await receive(kith, raw, source="imap")
            except Exception:
                log.exception("%s: message UID %s could not be stored; it stays unseen", mailbox.where, uid)
                fetched.failed += 1
                continue
            fetched.stored += stored.new
            fetched.known += not stored.new
            await asyncio.to_thread(mailbox.done, uid)
    finally:
        await asyncio.to_thread(mailbox.close)
    return fetched
