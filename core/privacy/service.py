"""Export and erase everything tied to one person, across the core and every plugin.

Both start from the same footprint (``ties.footprint``): the contact, what each plugin
answers from ``kith_personal_data`` (a ``PersonalRecords``: the person's own records and
the shared ones that involve them), and the timelines of all of these.

Export writes every one of those records, their audit history, consents and webhook
deliveries as one JSON document of structured values.  Erasure clears the personal
fields of the person's own records, cuts the person's values out of the text of every
tied record and out of the journal rows of exactly those records, lets each plugin
finish through ``kith_erase_personal_data``, and reports every field it changed.  Rows
stay (counts and reports still add up); a keyed hash of each email stays, so a later
import of the same address is flagged.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.errors import ValidationFailed
from kith.core.mail.erasure import erase_mail
from kith.core.plugins.context import PluginContext
from kith.core.privacy.erasure import Erasure, ErasureReport, erase_records, learn_values, load, scrub_journals
from kith.core.privacy.scrub import ERASED
from kith.core.privacy.ties import Footprint, chunks, footprint, marks
from kith.core.records.change import Actor
from kith.core.records.encoding import jsonable
from kith.core.records.validation import graphql_name

if TYPE_CHECKING:
    from kith.core.runtime import Kith

log = logging.getLogger(__name__)

__all__ = ["ERASED", "PRIVACY", "ErasureReport", "erase_person", "export_person"]

PRIVACY = Actor(name="privacy", source="privacy")
PREVIOUSLY_ERASED_TAG = "previously-erased"


def email_hash(kith: Kith, email: str) -> str:
    return hmac.new(kith.secret.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


async def _contact(kith: Kith, contact_id: int) -> dict[str, Any]:
    return await kith.records.get("contact", contact_id, include_deleted=True)


def _parsed(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# -- export ------------------------------------------------------------------------------


async def export_person(kith: Kith, contact_id: int) -> dict[str, Any]:
    """One JSON-ready document with every record tied to the contact, as structured data
    (no JSON text inside it): the contact, its organization, timeline, consents, the
    audit history and webhook deliveries of all their records, and under ``plugins``
    each plugin's records by entity (plural name) plus any extra section it returned."""
    contact = await _contact(kith, contact_id)
    found = await footprint(kith, contact, refuse=False)
    organization = None
    if contact.get("organization"):
        rows = await kith.db.execute("SELECT id, name, domain FROM organization WHERE id = {}", contact["organization"])
        organization = dict(rows[0]) if rows else None
    consents = await kith.db.execute("SELECT * FROM kith_consent WHERE contact_id = {} ORDER BY id", contact_id)
    document: dict[str, Any] = {
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "contact": contact,
        "organization": organization,
        "timeline": [],
        "consents": [dict(c) for c in consents],
        "history": await _history(kith, found),
        "deliveries": await _deliveries(kith, found),
        "plugins": {},
    }
    for name, ids in sorted(found.records().items()):
        if name == "contact":
            continue
        entity = kith.entities.get(name)
        records = await load(kith, entity, ids)
        if name == "activity":
            document["timeline"] = records
            continue
        section = document["plugins"].setdefault(found.owners.get(name, "core"), {})
        section[str(entity.plural)] = records
    for plugin, extra in found.extra.items():
        document["plugins"].setdefault(plugin, {}).update(extra)
    exported: dict[str, Any] = jsonable(document)
    return exported


async def _history(kith: Kith, found: Footprint) -> list[dict[str, Any]]:
    """The audit entries of every tied record, oldest first, ``changes`` as JSON values."""
    entries: list[dict[str, Any]] = []
    for name, ids in found.records().items():
        for chunk in chunks(sorted(ids)):
            rows = await kith.db.execute(
                f"SELECT * FROM kith_audit WHERE entity = {{}} AND record_id IN ({marks(chunk)})", name, *chunk
            )
            entries += [{**dict(r), "changes": _parsed(r["changes"])} for r in rows]
    return sorted(entries, key=lambda e: int(e["id"]))


async def _deliveries(kith: Kith, found: Footprint) -> list[dict[str, Any]]:
    """Which webhook subscriptions were sent (or are to be sent) events of the person's
    records: who their data was disclosed to."""
    out: list[dict[str, Any]] = []
    for name, ids in found.records().items():
        for chunk in chunks(sorted(ids)):
            rows = await kith.db.execute(
                "SELECT id, record_id, payload, status, attempts, created_at, processed_at FROM kith_outbox "
                f"WHERE entity = {{}} AND record_id IN ({marks(chunk)})",
                name,
                *chunk,
            )
            for row in rows:
                job = _parsed(row["payload"])
                delivery = job.get("delivery") if isinstance(job, dict) else None
                if isinstance(delivery, dict):
                    out.append(
                        {
                            "id": row["id"],
                            "subscription": delivery.get("name"),
                            "event": job.get("event"),
                            "entity": name,
                            "record_id": row["record_id"],
                            "status": row["status"],
                            "attempts": row["attempts"],
                            "created_at": row["created_at"],
                            "processed_at": row["processed_at"],
                        }
                    )
    return sorted(out, key=lambda d: int(d["id"]))


# -- erasure -----------------------------------------------------------------------------


async def erase_person(kith: Kith, contact_id: int) -> ErasureReport:
    """Erase the person everywhere, in one transaction; returns what changed, field by field.
    Contacts merged into this one (``kith.core.merge``) are the same person: erased too.

    A plugin that fails to say what it holds, or fails to erase it, refuses the whole
    erasure: nothing is half-erased.
    """
    from kith.core.merge.erasure import merged_into, scrub_merge_journal

    contact = await _contact(kith, contact_id)
    async with kith.db.write_transaction():
        merged = [await erase_person(kith, other) for other in await merged_into(kith, "contact", contact_id)]
        found = await footprint(kith, contact, refuse=True)
        erasure = Erasure(kith, contact, found)
        loaded = await learn_values(erasure)
        for email in contact.get("emails") or []:
            await kith.db.fetch(
                QueryString(
                    "INSERT INTO kith_erasure_tombstone (email_hash, erased_at) VALUES ({}, {}) "
                    "ON CONFLICT (email_hash) DO NOTHING",
                    email_hash(kith, email),
                    dt.datetime.now(dt.UTC),
                )
            )
        await erase_records(erasure, loaded)
        await erase_mail(erasure)
        await kith.plugins.call_async(
            "kith_erase_personal_data", refuse=True, context=PluginContext(kith), contact=contact, erasure=erasure
        )
        await scrub_journals(erasure)  # last: the journal rows written above are covered too
        await scrub_merge_journal(erasure)
    for report in merged:  # the records merged into this one are the same person
        erasure.result.scrubbed.extend(report.scrubbed)
    return erasure.result


#: e-mails a bulk writer is about to create contacts with, and (once asked) which of
#: them were erased: the check then costs one query per batch instead of one per contact
_PREFETCH: contextvars.ContextVar[_Prefetched | None] = contextvars.ContextVar("kith_erased_prefetch", default=None)


@dataclass
class _Prefetched:
    emails: frozenset[str]
    #: which of ``emails`` were erased, once asked: each contact's check is then a set test
    erased: frozenset[str] | None = None


@contextmanager
def prefetch_erased(emails: Iterable[str]) -> Iterator[None]:
    """Inside the block, ``previously_erased`` answers for any of ``emails`` (as stored:
    normalised) from one query, made on first use: an import writes a thousand contacts
    with one look at the tombstones rather than a thousand."""
    token = _PREFETCH.set(_Prefetched(frozenset(emails)))
    try:
        yield
    finally:
        _PREFETCH.reset(token)


async def previously_erased(kith: Kith, emails: list[str]) -> bool:
    if not emails:
        return False
    batch = _PREFETCH.get()
    if batch is not None and batch.emails.issuperset(emails):
        if batch.erased is None:
            by_hash = {email_hash(kith, e): e.strip().lower() for e in batch.emails}
            batch.erased = frozenset(by_hash[h] for h in await _erased_hashes(kith, list(by_hash)))
        return any(e.strip().lower() in batch.erased for e in emails)
    return bool(await _erased_hashes(kith, [email_hash(kith, e) for e in emails]))


async def _erased_hashes(kith: Kith, hashes: list[str]) -> set[str]:
    """Which of ``hashes`` have a tombstone."""
    found: set[str] = set()
    for start in range(0, len(hashes), 500):
        part = hashes[start : start + 500]
        placeholders = ", ".join("{}" for _ in part)
        rows = await kith.db.fetch(
            QueryString(f"SELECT email_hash FROM kith_erasure_tombstone WHERE email_hash IN ({placeholders})", *part)
        )
        found.update(str(row["email_hash"]) for row in rows)
    return found


# -- consent ---------------------------------------------------------------------------------


DEFAULT_CHANNEL = "email"
_LIMITS = {"purpose": 120, "source": 120, "wordingVersion": 40, "channel": 40}


def _channel(channel: str | None) -> str:
    """A channel as stored: lower-case, ``email`` when not given."""
    value = (channel or DEFAULT_CHANNEL).strip().lower()
    if not value:
        raise ValidationFailed.single("channel", "required", "is required")
    if len(value) > _LIMITS["channel"]:
        raise ValidationFailed.single("channel", "too_long", f"must be at most {_LIMITS['channel']} characters")
    return value


async def record_consent(
    kith: Kith, contact_id: int, purpose: str, source: str, wording_version: str, channel: str | None = None
) -> int:
    """Record that the contact agreed to ``purpose`` by ``channel`` (default ``email``),
    where (``source``) and to which words (``wording_version``); returns the record's id."""
    await _contact(kith, contact_id)
    for name, value in (("purpose", purpose), ("source", source), ("wordingVersion", wording_version)):
        if not value or not value.strip():
            raise ValidationFailed.single(name, "required", "is required")
        if len(value.strip()) > _LIMITS[name]:
            raise ValidationFailed.single(name, "too_long", f"must be at most {_LIMITS[name]} characters")
    row = await kith.db.fetch_one(
        QueryString(
            "INSERT INTO kith_consent (contact_id, purpose, channel, source, wording_version, granted_at) "
            "VALUES ({}, {}, {}, {}, {}, {}) RETURNING id",
            contact_id,
            purpose.strip(),
            _channel(channel),
            source.strip(),
            wording_version.strip(),
            dt.datetime.now(dt.UTC),
        )
    )
    assert row is not None
    return int(row["id"])


async def withdraw_consent(
    kith: Kith, contact_id: int, purpose: str, channel: str | None = None, *, missing_ok: bool = False
) -> int:
    """Record that the contact withdrew ``purpose`` by ``channel`` (default ``email``);
    returns how many records it closed (none active: an error on ``purpose``, or 0 with
    ``missing_ok``)."""
    used = _channel(channel)
    rows = await kith.db.fetch(
        QueryString(
            "UPDATE kith_consent SET withdrawn_at = {} WHERE contact_id = {} AND purpose = {} AND channel = {} "
            "AND withdrawn_at IS NULL RETURNING id",
            dt.datetime.now(dt.UTC),
            contact_id,
            purpose,
            used,
        )
    )
    if not rows and not missing_ok:
        raise ValidationFailed.single("purpose", "not_found", f"no active consent for {purpose!r} by {used}")
    return len(rows)


async def consents(kith: Kith, contact_id: int) -> list[dict[str, Any]]:
    rows = await kith.db.execute("SELECT * FROM kith_consent WHERE contact_id = {} ORDER BY id", contact_id)
    return [dict(r) for r in rows]


def personal_field_names(kith: Kith) -> list[str]:
    entity = kith.entity("contact")
    return [graphql_name(s) for s in entity.fields.values() if s.personal]
