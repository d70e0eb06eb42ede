"""Export and erase everything tied to one person, across the core and every plugin.

Export gathers the contact, its custom fields, timeline, consents, audit history and
what each enabled plugin returns from ``kith_personal_data``.  Erasure anonymises the
contact's personal fields (built-in and custom) and its timeline, removes personal
values from the audit trail, the event queue and automation records, lets every
plugin do the same through ``kith_erase_personal_data``, keeps the rows (so counts
and aggregates still add up) and leaves a keyed hash of each email address, so a
later import of the same address is flagged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.entities import FieldKind
from kith.core.errors import ValidationFailed
from kith.core.records.change import Actor
from kith.core.records.encoding import dumps, jsonable
from kith.core.records.validation import graphql_name

if TYPE_CHECKING:
    from kith.core.runtime import Kith

ERASED = "[erased]"
PRIVACY = Actor(name="privacy", source="privacy")
PREVIOUSLY_ERASED_TAG = "previously-erased"


def email_hash(kith: Kith, email: str) -> str:
    return hmac.new(kith.secret.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


async def _contact(kith: Kith, contact_id: int) -> dict[str, Any]:
    return await kith.records.get("contact", contact_id, include_deleted=True)


async def export_person(kith: Kith, contact_id: int) -> dict[str, Any]:
    """One JSON-ready document with everything tied to the contact."""
    contact = await _contact(kith, contact_id)
    activities = await kith.db.execute(
        "SELECT * FROM activity WHERE subject_type = 'contact' AND subject_id = {} ORDER BY id", contact_id
    )
    organization = None
    if contact.get("organization"):
        rows = await kith.db.execute("SELECT id, name, domain FROM organization WHERE id = {}", contact["organization"])
        organization = dict(rows[0]) if rows else None
    consents = await kith.db.execute("SELECT * FROM kith_consent WHERE contact_id = {} ORDER BY id", contact_id)
    audit = await kith.db.execute(
        "SELECT * FROM kith_audit WHERE entity = 'contact' AND record_id = {} ORDER BY id", contact_id
    )
    document: dict[str, Any] = {
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "contact": contact,
        "organization": organization,
        "timeline": [dict(a) for a in activities],
        "consents": [dict(c) for c in consents],
        "history": [
            {**dict(a), "changes": json.loads(a["changes"]) if isinstance(a["changes"], str) else a["changes"]}
            for a in audit
        ],
        "plugins": {},
    }
    for plugin, section in await kith.plugins.call_async(
        "kith_personal_data", refuse=False, kith=kith, contact=contact
    ):
        document["plugins"][plugin] = section
    return jsonable(document)


async def erase_person(kith: Kith, contact_id: int) -> dict[str, int]:
    """Anonymise the person everywhere; returns how many rows of each kind were changed."""
    contact = await _contact(kith, contact_id)
    entity = kith.entity("contact")
    personal = [s for s in entity.fields.values() if s.personal]
    custom_personal = [f for f in kith.custom_fields.for_entity("contact") if f.personal]
    values: dict[str, Any] = {}
    for spec in personal:
        values[spec.name] = [] if spec.kind is FieldKind.STRING_LIST else None
    if custom_personal:
        values["custom"] = {f.name: None for f in custom_personal}
    counts: dict[str, int] = {}
    secrets_to_scrub = _personal_values(contact, personal, custom_personal)
    async with kith.db.write_transaction():
        for email in contact.get("emails") or []:
            await kith.db.fetch(
                QueryString(
                    "INSERT INTO kith_erasure_tombstone (email_hash, erased_at) VALUES ({}, {}) "
                    "ON CONFLICT (email_hash) DO NOTHING",
                    email_hash(kith, email),
                    dt.datetime.now(dt.UTC),
                )
            )
        if contact["deleted_at"] is not None:
            await kith.records.restore("contact", contact_id, PRIVACY)
        await kith.records.update("contact", contact_id, values, PRIVACY)
        activity = kith.entity("activity")
        wipe = {
            s.name: ERASED if s.name == "subject" else None
            for s in activity.fields.values()
            if s.personal or s.name == "subject"
        }
        rows = await kith.db.fetch(
            QueryString(
                f"UPDATE activity SET {', '.join(f'{c} = {{}}' for c in wipe)} "
                "WHERE subject_type = 'contact' AND subject_id = {} RETURNING id",
                *wipe.values(),
                contact_id,
            )
        )
        counts["activities"] = len(rows)
        counts.update(await _scrub_journals(kith, contact_id, [r["id"] for r in rows], secrets_to_scrub))
        for plugin, changed in await kith.plugins.call_async(
            "kith_erase_personal_data", refuse=True, kith=kith, contact=contact
        ):
            counts[f"plugin:{plugin}"] = int(changed or 0)
    return counts


def _personal_values(contact: dict[str, Any], personal: list[Any], custom_personal: list[Any]) -> list[str]:
    values: list[str] = []
    for spec in personal:
        value = contact.get(spec.name)
        if isinstance(value, list):
            values += [str(v) for v in value if v]
        elif value:
            values.append(str(value))
    custom = contact.get("custom") or {}
    values += [str(custom[f.name]) for f in custom_personal if custom.get(f.name)]
    return sorted(set(values), key=len, reverse=True)


def _scrub(text: str, values: list[str]) -> str:
    for value in values:
        text = text.replace(json.dumps(value)[1:-1], ERASED)
    return text


JOURNALS = (
    ("kith_audit", "changes", "audit"),
    ("kith_outbox", "payload", "events"),
    ("kith_automation_run", "actions", "runs"),
    ("kith_automation_run", "error", "runs"),
    ("kith_action_effect", "result", "effects"),
)


async def _scrub_journals(kith: Kith, contact_id: int, activity_ids: list[int], values: list[str]) -> dict[str, int]:
    """Personal values out of every journal row that quotes them — the audit trail, queued
    events, automation runs and effects — whatever record (core or plugin) the row is about."""
    from kith.core.storage.dialect import escape_like

    counts = {"audit": 0, "events": 0, "runs": 0, "effects": 0}
    if not values:
        return counts
    for table, column, key in JOURNALS:
        likes = " OR ".join(f"CAST({column} AS TEXT) LIKE {{}} ESCAPE '\\'" for _ in values)
        patterns = ["%" + escape_like(json.dumps(v)[1:-1]) + "%" for v in values]
        rows = await kith.db.fetch(QueryString(f"SELECT id, {column} AS v FROM {table} WHERE {likes}", *patterns))
        for row in rows:
            text = row["v"] if isinstance(row["v"], str) else dumps(row["v"])
            cleaned = _scrub(text, values)
            if cleaned != text:
                await kith.db.fetch(
                    QueryString(f"UPDATE {table} SET {column} = {{}} WHERE id = {{}}", cleaned, row["id"])
                )
                counts[key] += 1
    return counts


async def previously_erased(kith: Kith, emails: list[str]) -> bool:
    if not emails:
        return False
    hashes = [email_hash(kith, e) for e in emails]
    placeholders = ", ".join("{}" for _ in hashes)
    row = await kith.db.fetch_one(
        QueryString(f"SELECT 1 AS x FROM kith_erasure_tombstone WHERE email_hash IN ({placeholders})", *hashes)
    )
    return row is not None


# -- consent ---------------------------------------------------------------------------------


async def record_consent(kith: Kith, contact_id: int, purpose: str, source: str, wording_version: str) -> int:
    await _contact(kith, contact_id)
    for name, value in (("purpose", purpose), ("source", source), ("wordingVersion", wording_version)):
        if not value or not value.strip():
            raise ValidationFailed.single(name, "required", "is required")
    row = await kith.db.fetch_one(
        QueryString(
            "INSERT INTO kith_consent (contact_id, purpose, source, wording_version, granted_at) "
            "VALUES ({}, {}, {}, {}, {}) RETURNING id",
            contact_id,
            purpose.strip(),
            source.strip(),
            wording_version.strip(),
            dt.datetime.now(dt.UTC),
        )
    )
    assert row is not None
    return int(row["id"])


async def withdraw_consent(kith: Kith, contact_id: int, purpose: str) -> int:
    rows = await kith.db.fetch(
        QueryString(
            "UPDATE kith_consent SET withdrawn_at = {} WHERE contact_id = {} AND purpose = {} "
            "AND withdrawn_at IS NULL RETURNING id",
            dt.datetime.now(dt.UTC),
            contact_id,
            purpose,
        )
    )
    if not rows:
        raise ValidationFailed.single("purpose", "not_found", f"no active consent for {purpose!r}")
    return len(rows)


async def consents(kith: Kith, contact_id: int) -> list[dict[str, Any]]:
    rows = await kith.db.execute("SELECT * FROM kith_consent WHERE contact_id = {} ORDER BY id", contact_id)
    return [dict(r) for r in rows]


def personal_field_names(kith: Kith) -> list[str]:
    entity = kith.entity("contact")
    return [graphql_name(s) for s in entity.fields.values() if s.personal]
