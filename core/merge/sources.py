"""Where each value of a record came from, for the ``trusted_source`` rule.

Records carry no source of their own; every write does: the record service stamps each
audit row with its actor's ``source`` (``import``, ``graphql``, ``cli``, ``api``,
``automation``, ``demo``, ``system``, …; ``kith.core.records.change.Actor``).  The source
of a field's value is the source of the last audit row that wrote that field of that
record — a contact imported from a trade-fair list whose email a person then corrected
in the app has an ``import`` name and a ``graphql`` email.  A value with no audit row
(written before Kith audited, or by a migration) has no source and ranks last.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from piccolo.querystring import QueryString

from kith.core.entities import Entity
from kith.core.records.encoding import loads
from kith.core.records.field_names import field_key

if TYPE_CHECKING:
    from kith.core.runtime import Kith


async def value_sources(
    kith: Kith, entity: Entity, record_ids: Sequence[int], keys: Iterable[str]
) -> dict[tuple[int, str], str]:
    """(record id, field key) -> the source that last wrote it, for ``keys`` of ``record_ids``."""
    wanted = set(keys)
    custom = kith.custom_fields.for_entity(entity.name)
    rows = await kith.db.fetch(
        QueryString(
            "SELECT a.record_id, a.source, a.changes FROM kith_audit a WHERE a.entity = {} AND {} ORDER BY a.id",
            entity.name,
            kith.db.dialect.in_ids("a.record_id", list(record_ids)),
        )
    )
    found: dict[tuple[int, str], str] = {}
    for row in rows:
        changes = loads(row["changes"]) if isinstance(row["changes"], str) else row["changes"]
        for name in changes or {}:
            key = field_key(entity, name, custom)
            if key in wanted:
                found[(int(row["record_id"]), key)] = str(row["source"])
    return found
