"""Which records are tied to a person: the core's and what each plugin says.

A plugin answers ``kith_personal_data`` with a ``PersonalRecords``: ids of its records,
by entity, in two kinds.  The core then exports and erases them with the same rules
for every plugin, so a plugin never writes export or scrubbing code of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kith.core.errors import ValidationFailed
from kith.core.plugins.context import PluginContext

if TYPE_CHECKING:
    from kith.core.runtime import Kith

log = logging.getLogger(__name__)


def _ids(groups: Mapping[str, Iterable[Any]]) -> dict[str, list[int]]:
    return {entity: sorted({int(i) for i in ids}) for entity, ids in groups.items()}


@dataclass
class PersonalRecords:
    """What a plugin holds about one person, as ids of its records by entity name.

    - ``erase``: the person's own records — the person themselves (a lead) or records
      only about them (their deal roles, their tickets).  Their fields declared
      ``personal`` (and personal custom fields) are cleared, their other text is
      scrubbed of the person's values, and so is their timeline.
    - ``scrub``: records tied to the person but shared with others (a deal where they
      are the contact, its quotes).  Only the person's values are cut out of their text
      (a deal named after them becomes "[erased] renewal"); everything else stays.

    Both kinds are exported in full, with their audit history, and the audit trail,
    queued events, automation runs and webhook deliveries of both are scrubbed.
    ``extra`` is exported as given, for what a plugin keeps outside its entities
    (it must be JSON-ready: dicts, lists, strings, numbers).
    """

    erase: Mapping[str, Iterable[Any]] = field(default_factory=dict)
    scrub: Mapping[str, Iterable[Any]] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Footprint:
    """Every record tied to one person: ``erase`` and ``scrub`` ids by entity, which
    plugin declared which entity (for the export), and plugins' extra sections."""

    erase: dict[str, set[int]] = field(default_factory=dict)
    scrub: dict[str, set[int]] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, kind: str, entity: str, ids: Iterable[int], owner: str = "core") -> None:
        target = self.erase if kind == "erase" else self.scrub
        target.setdefault(entity, set()).update(ids)
        self.owners.setdefault(entity, owner)

    def erased(self, entity: str, record_id: int) -> bool:
        return record_id in self.erase.get(entity, set())

    def records(self) -> dict[str, set[int]]:
        """Every tied record by entity (an id in both kinds is erased: the stronger wins)."""
        out: dict[str, set[int]] = {}
        for groups in (self.erase, self.scrub):
            for entity, ids in groups.items():
                out.setdefault(entity, set()).update(ids)
        return {entity: ids for entity, ids in out.items() if ids}


def accept(kith: Kith, plugin: str, answer: Any, footprint: Footprint) -> None:
    """Add one plugin's answer to the footprint; a malformed answer is the plugin's error,
    named, not a half-understood erasure."""
    if isinstance(answer, Mapping):  # an export section only (the contract before PersonalRecords)
        footprint.extra[plugin] = dict(answer)
        return
    if not isinstance(answer, PersonalRecords):
        raise _refused(plugin, f"returned {type(answer).__name__}, expected PersonalRecords (or None)")
    for kind, groups in (("erase", answer.erase), ("scrub", answer.scrub)):
        for entity, ids in _ids(groups).items():
            if entity not in kith.entities:
                raise _refused(plugin, f"names {entity!r}, which is not an entity")
            footprint.add(kind, entity, ids, owner=plugin)
    if answer.extra:
        footprint.extra[plugin] = dict(answer.extra)


def _refused(plugin: str, problem: str) -> ValidationFailed:
    return ValidationFailed.single(None, "plugin_error", f"plugin {plugin}: kith_personal_data {problem}")


async def footprint(kith: Kith, contact: dict[str, Any], *, refuse: bool) -> Footprint:
    """The contact, every plugin's records about them, and the timelines of all of these.

    ``refuse``: an erasure stops when a plugin fails to answer (its records would stay
    unerased while the report says done); an export goes on without that plugin.
    """
    found = Footprint()
    found.add("erase", "contact", [int(contact["id"])])
    answers = await kith.plugins.call_async(
        "kith_personal_data", refuse=refuse, context=PluginContext(kith), contact=contact
    )
    for plugin, answer in answers:
        try:
            accept(kith, plugin, answer, found)
        except ValidationFailed as exc:
            if refuse:
                raise
            log.error("%s; the export is made without it", exc)
    await _timelines(kith, found)
    return found


async def _timelines(kith: Kith, found: Footprint) -> None:
    """Activities follow their record: on the person's own records they are the person's,
    on shared ones (a deal) only the person's values are cut out of them."""
    timeline = {entity for entity in found.records() if kith.entities.get(entity).timeline}
    for kind, groups in (("erase", found.erase), ("scrub", found.scrub)):
        for entity in sorted(timeline & groups.keys()):
            ids = sorted(groups[entity])
            for chunk in chunks(ids):
                rows = await kith.db.execute(
                    f"SELECT id FROM activity WHERE subject_type = {{}} AND subject_id IN ({marks(chunk)})",
                    entity,
                    *chunk,
                )
                found.add(kind, "activity", [int(r["id"]) for r in rows])
    # an activity on both a person's record and a shared one cannot be; one in both
    # kinds (listed by a plugin too) is erased
    if "activity" in found.scrub and "activity" in found.erase:
        found.scrub["activity"] -= found.erase["activity"]


def chunks(ids: list[Any], size: int = 500) -> list[list[Any]]:
    """Ids in groups small enough for one ``IN (…)`` on both engines."""
    return [ids[i : i + size] for i in range(0, len(ids), size)] or []


def marks(values: list[Any]) -> str:
    return ", ".join("{}" for _ in values)
