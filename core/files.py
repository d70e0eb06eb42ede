"""The core's file store: bytes kept in the database, referenced by id.

Inbound mail stores its attachments here before plugins see the message, so a ticket
comment can keep ``[a.file_id for a in message.attachments]`` and a reply can attach the
same files again by id (``OutboundMail(attachments=[...])``).  Plugins store files of
their own through ``context.files``.  Keeping them in the database (``BYTEA`` on
PostgreSQL, ``BLOB`` on SQLite) makes a file commit or roll back with the record that
refers to it, and needs no shared disk between processes; it suits attachments and
reports, not a media library.

The store has no visibility of its own: a plugin that serves a file to a user checks
that they may see the record that refers to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from piccolo.columns import BigInt, Bytea, Text, Timestamptz, Varchar
from piccolo.querystring import QueryString
from piccolo.table import Table

if TYPE_CHECKING:
    from kith.core.storage.database import Database

#: columns read when the data itself is not wanted
_INFO = "id, name, content_type, size, sha256, key, created_at"


class FileRow(Table, tablename="kith_file"):
    """One stored file."""

    name = Text(default="")
    content_type = Varchar(length=255, default="application/octet-stream")
    size = BigInt(default=0)
    sha256 = Varchar(length=64, index=True)
    data = Bytea()
    #: the caller's own name for the file, making a second store of it a no-op (None: none)
    key = Varchar(length=200, null=True, default=None, unique=True)
    created_at = Timestamptz(null=True, default=None)


@dataclass(frozen=True)
class StoredFile:
    """A file in the store: ``id`` to keep and pass around, what it is, and (when read
    with ``read``) its bytes in ``data``."""

    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    key: str | None = None
    created_at: dt.datetime | None = None
    data: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_row(cls, row: Any) -> StoredFile:
        data = row.get("data")
        return cls(
            id=int(row["id"]),
            name=row["name"] or "",
            content_type=row["content_type"],
            size=int(row["size"]),
            sha256=row["sha256"],
            key=row.get("key"),
            created_at=row.get("created_at"),
            data=bytes(data) if data is not None else None,
        )


async def store_file(
    db: Database,
    data: bytes,
    *,
    name: str = "",
    content_type: str = "application/octet-stream",
    key: str | None = None,
) -> StoredFile:
    """Store ``data``; with ``key``, a file already stored under that key is returned
    instead (so a retried step does not store it twice).  In the caller's transaction."""
    data = bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    rows = await db.fetch(
        QueryString(
            "INSERT INTO kith_file (name, content_type, size, sha256, data, key, created_at) "
            f"VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, {{}}, {{}}) ON CONFLICT (key) DO NOTHING RETURNING {_INFO}",
            name or "",
            content_type or "application/octet-stream",
            len(data),
            digest,
            data,
            key,
            dt.datetime.now(dt.UTC),
        )
    )
    if not rows:  # the key was taken: the file stored the first time
        row = await db.fetch_one(QueryString(f"SELECT {_INFO} FROM kith_file WHERE key = {{}}", key))
        assert row is not None
        return StoredFile.from_row(row)
    return StoredFile.from_row(rows[0])


async def read_file(db: Database, file_id: int, *, data: bool = True) -> StoredFile | None:
    """The file ``file_id`` (with its bytes unless ``data=False``), or None."""
    columns = f"{_INFO}, data" if data else _INFO
    row = await db.fetch_one(QueryString(f"SELECT {columns} FROM kith_file WHERE id = {{}}", int(file_id)))
    return StoredFile.from_row(row) if row is not None else None


class Files:
    """``context.files``: store bytes and read them back by id."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def store(
        self,
        data: bytes,
        *,
        name: str = "",
        content_type: str = "application/octet-stream",
        key: str | None = None,
    ) -> StoredFile:
        """Store ``data`` (in the current transaction, if any) and return it with its id;
        with ``key`` (your own unique name for it), storing again returns the first one."""
        return await store_file(self._db, data, name=name, content_type=content_type, key=key)

    async def read(self, file_id: int) -> StoredFile | None:
        """The file with its bytes in ``data``, or None when there is no such file."""
        return await read_file(self._db, file_id)

    async def info(self, file_id: int) -> StoredFile | None:
        """The file without its bytes (name, type, size, checksum), or None."""
        return await read_file(self._db, file_id, data=False)
