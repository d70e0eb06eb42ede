"""Erasing a person from the mail the core keeps: the raw messages they sent, the mail
sent to them, and their messages' attachments in the file store.

Rows stay (counts, threading and the loop caps still add up) but lose what identifies
the person: the bytes, the subject, the addresses.  Mail to them still queued is not
sent any more (``erased``).  Every change is reported like any other erasure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kith.core.storage.json_text import dumps

if TYPE_CHECKING:
    from kith.core.privacy.erasure import Erasure


def _addresses(erasure: Erasure) -> list[str]:
    return sorted({str(e).strip().lower() for e in erasure.contact.get("emails") or [] if str(e).strip()})


async def erase_mail(erasure: Erasure) -> None:
    addresses = _addresses(erasure)
    if not addresses:
        return
    db = erasure.kith.db
    inbound: set[int] = set()
    outbound: dict[int, str] = {}
    for address in addresses:
        pattern = f"%{address}%"
        rows = await db.execute(
            "SELECT id FROM kith_mail_inbound WHERE LOWER(COALESCE(from_address, '')) LIKE {} "
            "OR LOWER(COALESCE(envelope_from, '')) LIKE {} OR LOWER(CAST(envelope_to AS TEXT)) LIKE {}",
            pattern,
            pattern,
            pattern,
        )
        inbound |= {int(row["id"]) for row in rows}
        rows = await db.execute(
            "SELECT id, status FROM kith_mail_outbound WHERE LOWER(CAST(recipients AS TEXT)) LIKE {}", pattern
        )
        outbound |= {int(row["id"]): str(row["status"]) for row in rows}
    for row_id in sorted(inbound):
        await erasure.write_row(
            "kith_mail_inbound",
            row_id,
            {"data": b"", "subject": "[erased]", "from_address": None, "envelope_from": None, "envelope_to": dumps([])},
        )
    for row_id, status in sorted(outbound.items()):
        sets: dict[str, Any] = {"data": b"", "subject": "[erased]", "recipients": dumps([])}
        if status not in ("sent", "suppressed"):
            sets["status"] = "erased"
        await erasure.write_row("kith_mail_outbound", row_id, sets)
    ordered = sorted(inbound)
    for start in range(0, len(ordered), 100):  # the attachments, stored under mail:<id>:<n>
        chunk = ordered[start : start + 100]
        files = await db.execute(
            "SELECT id FROM kith_file WHERE " + " OR ".join("key LIKE {}" for _ in chunk),
            *(f"mail:{i}:%" for i in chunk),
        )
        await erasure.erase_files(int(row["id"]) for row in files)
