"""Running an import: a file's rows through the record service, a chunk at a time.

Every row is written as a person's write would be (the entity's validation and
normalisers, permissions, before-hooks, relation and unique checks, an audit row and an
outbox event each), through ``RecordService.write_many`` so a chunk costs a few
statements rather than a few per row.  A row refused is reported by line with every
field's reason while the other rows of its chunk are written: rows are checked one by
one before the chunk is written, and a chunk that the database or a hook still refuses
is split in halves until the refused rows are alone.

Each chunk commits with its results and the run's ``next_line``, so a run stopped
anywhere (a crash, Ctrl-C) resumes at the first line not written, and nothing is
written twice.  A dry run does everything a real run does, chunk by chunk, and undoes
each chunk's writes: it reports the errors the real run would hit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kith.core.entities.declaration import Entity, FieldKind
from kith.core.errors import FieldError, ValidationFailed
from kith.core.imports import claim, keys, mapping
from kith.core.imports.ahead import prepared_chunks
from kith.core.imports.duplicate_check import DuplicateCheck, Likely, check_choice
from kith.core.imports.models import IMPORT_TABLES, ImportMapping, ImportResult, ImportRun
from kith.core.imports.prepare import Checked, Prepared, default_targets, preparer_for, zone
from kith.core.imports.sources import Source, open_source
from kith.core.privacy.service import prefetch_erased
from kith.core.records.change import Actor
from kith.core.records.service import TRUSTED_SOURCES, RecordWrite
from kith.core.records.validation import graphql_name, validate_input
from kith.core.storage.database import QueryString

if TYPE_CHECKING:
    from kith.core.runtime import Kith

MODES = ("create", "update", "upsert")
CHUNK = 2000
RESULT_COLUMNS = (("run", "BIGINT"), ("line", "INTEGER"), ("status", "VARCHAR"), ("record_id", "BIGINT"),
                  ("errors", "TEXT"))  # fmt: skip


@dataclass(frozen=True)
class ImportRequest:
    """What a person asks for.  ``key`` is the field rows are matched to records by
    (``email``, ``domain``, ``id``; default: the entity's natural key, if it has one):
    ``update`` and ``upsert`` need it; in ``create`` a row matching a record is a
    duplicate, skipped.  ``defaults`` gives fields (as a mapping names them:
    ``source``, ``owner.email``) a value, as a cell would, for rows whose own cell is
    empty.  ``duplicates`` checks rows about to be created against the entity's
    duplicate rules (``skip`` or ``flag``; see ``duplicate_check``)."""

    entity: str
    path: Path
    mapping: Mapping[str, str] | None = None
    mapping_name: str | None = None
    mode: str = "create"
    key: str | None = None
    dry_run: bool = False
    encoding: str = "utf-8"
    sheet: str | None = None
    time_zone: str = "UTC"
    defaults: Mapping[str, str] | None = None
    duplicates: str = "off"


@dataclass
class Outcome:
    line: int
    status: str  # created, updated, skipped, failed
    record_id: int | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True)
class _Ready:
    """A row whose cells and links are sound: what it gives, the same as validated
    (normalised), and its values of the match field."""

    line: int
    values: dict[str, Any]
    checked: dict[str, Any]
    keys: tuple[str, ...]


class _DryRun(Exception):
    """Undoes a dry run's chunk."""


# -- starting -------------------------------------------------------------------------------


async def start(kith: Kith, request: ImportRequest, actor: Actor) -> int:
    """Check the request and the file's header, and return the run to go on with: an
    unfinished run of the same file, entity, mode and person (resumed), or a new one."""
    kith.db.bind(IMPORT_TABLES)
    entity = _entity(kith, request.entity)
    if request.mode not in MODES:
        raise ValidationFailed.single("mode", "invalid", f"must be one of: {', '.join(MODES)}")
    zone(request.time_zone)
    check_choice(kith, entity.name, request.duplicates)
    defaults = {path: str(text) for path, text in (request.defaults or {}).items()}
    default_targets(kith, entity, defaults)
    if actor.permissions is not None:
        for action in (
            ("create",)
            if request.mode == "create"
            else ("update",)
            if request.mode == "update"
            else ("create", "update")
        ):
            actor.permissions.require(entity.name, action)
    key = match_field(entity, request.key, request.mode)
    if key not in (None, "id") and actor.permissions is not None and actor.permissions.is_hidden(entity, key):
        if request.key is not None:
            raise ValidationFailed.single("key", "hidden", f"{request.key} is hidden from you: match by another field")
        key = None  # the natural key is hidden from them: no duplicate check they could learn from
    source = open_source(request.path, encoding=request.encoding, sheet=request.sheet)
    saved = await load_mapping(kith, entity.name, request.mapping_name) if request.mapping_name else None
    given = request.mapping
    chosen = dict(given) if given is not None else mapping.suggest(kith, entity, source.headers, saved)
    mapping.parse(kith, entity, chosen, source.headers)  # every problem, by header, before a row is read
    if request.mapping_name:
        await save_mapping(kith, entity.name, request.mapping_name, chosen)
    same = (
        ImportRun.select(ImportRun.id)
        .where(ImportRun.entity == entity.name)
        .where(ImportRun.file_sha256 == source.sha256)
        .where(ImportRun.mode == request.mode)
        .where(ImportRun.dry_run == request.dry_run)
        .where(ImportRun.status == "running")
        .where(ImportRun.actor == actor.name)
        .where(ImportRun.mapping == json.dumps(chosen))  # another mapping, key or defaults is another import
        .where(ImportRun.defaults == json.dumps(defaults, sort_keys=True))
        .where(ImportRun.duplicates == request.duplicates)
        .where(ImportRun.match_key.is_null() if key is None else ImportRun.match_key == key)
        .order_by(ImportRun.id, ascending=False)
    )
    found = await same.first()
    if found is not None:
        return int(found["id"])
    now = dt.datetime.now(dt.UTC)
    made = await ImportRun.insert(
        ImportRun(
            entity=entity.name, mode=request.mode, match_key=key, mapping=json.dumps(chosen),
            defaults=json.dumps(defaults, sort_keys=True), duplicates=request.duplicates,
            file_name=str(request.path)[:500], file_sha256=source.sha256, file_kind=source.kind, sheet=request.sheet,
            encoding=request.encoding, time_zone=request.time_zone, dry_run=request.dry_run, status="running",
            next_line=2, user_id=actor.user_id, actor=actor.name[:200], created_at=now, updated_at=now,
        )
    ).returning(ImportRun.id)  # fmt: skip
    return int(made[0]["id"])


def _entity(kith: Kith, name: str) -> Entity:
    return kith.entities.named(name)


def match_field(entity: Entity, key: str | None, mode: str) -> str | None:
    """The column rows are matched by (``email`` names a contact's ``emails``)."""
    if key is None:
        if mode != "create":
            raise ValidationFailed.single("key", "required", f"{mode} matches rows to records: name the field (--key)")
        natural = keys.natural_keys(entity)
        return natural[0] if natural else None
    if key == "id":
        return "id"
    column = mapping.column_name(key)
    for candidate in (column, f"{column}s"):
        spec = entity.fields.get(candidate)
        if spec is not None and spec.kind in (FieldKind.STRING, FieldKind.STRING_LIST, FieldKind.INT):
            return spec.name
    raise ValidationFailed.single("key", "invalid", f"{entity.name} records cannot be matched by {key!r}")


# -- mappings -------------------------------------------------------------------------------


async def load_mapping(kith: Kith, entity: str, name: str) -> dict[str, str] | None:
    kith.db.bind(IMPORT_TABLES)
    row = await ImportMapping.select().where((ImportMapping.entity == entity) & (ImportMapping.name == name)).first()
    return None if row is None else dict(json.loads(row["mapping"]))


async def save_mapping(kith: Kith, entity: str, name: str, chosen: Mapping[str, str]) -> None:
    now = dt.datetime.now(dt.UTC)
    async with kith.db.write_transaction():
        updated = await ImportMapping.update({ImportMapping.mapping: json.dumps(dict(chosen)),
                                              ImportMapping.updated_at: now}).where(
            (ImportMapping.entity == entity) & (ImportMapping.name == name)
        ).returning(ImportMapping.id)  # fmt: skip
        if not updated:
            await ImportMapping.insert(ImportMapping(entity=entity, name=name, mapping=json.dumps(dict(chosen)),
                                                     updated_at=now))  # fmt: skip


# -- running --------------------------------------------------------------------------------


async def run(
    kith: Kith, run_id: int, actor: Actor, *, path: Path | None = None, chunk: int = CHUNK,
    on_chunk: Callable[[dict[str, Any]], None] | None = None, helper: bool | None = False,
) -> dict[str, Any]:  # fmt: skip
    """Import the run's rows from its ``next_line`` on; returns the run as it ended.
    ``helper``: check rows in a helper process (None: when the file is large; see
    ``ahead``).  Not by default: a spawned process imports the caller's main module
    again, which only a program guarded by ``if __name__ == "__main__"`` survives, as
    ``kith import`` is."""
    kith.db.bind(IMPORT_TABLES)
    async with claim.claimed(kith, run_id):  # one process at a time: a second one is refused as busy
        stored = await _run_claimed(kith, run_id, actor, path, chunk, on_chunk, helper)
    if stored["status"] == "done":
        claim.finished(kith, run_id)
    return stored


async def _run_claimed(
    kith: Kith, run_id: int, actor: Actor, path: Path | None, chunk: int,
    on_chunk: Callable[[dict[str, Any]], None] | None, helper: bool | None,
) -> dict[str, Any]:  # fmt: skip
    stored = await _run_row(run_id)  # read once claimed: another process may have gone on since
    source = open_source(path or stored["file_name"], encoding=stored["encoding"], sheet=stored["sheet"])
    if source.sha256 != stored["file_sha256"]:
        raise ValidationFailed.single("file", "changed", "the file changed since this import started: start a new one")
    entity = kith.entities.get(stored["entity"])
    job = _Chunks(kith, entity, stored, source, actor)
    async with prepared_chunks(kith, stored, source, job.rows, chunk, helper=helper) as chunks:
        async for prepared in chunks:
            stored = await job.write(prepared)
            if on_chunk is not None:
                on_chunk(stored)
    now = dt.datetime.now(dt.UTC)
    async with kith.db.write_transaction():
        finished = (
            await ImportRun.update({ImportRun.status: "done", ImportRun.finished_at: now, ImportRun.updated_at: now})
            .where((ImportRun.id == run_id) & (ImportRun.status == "running"))
            .returning(ImportRun.id)
        )
        if finished and not stored["dry_run"]:
            await _announce(kith, entity, stored)
    stored = await _run_row(run_id)
    if on_chunk is not None:
        on_chunk(stored)
    return stored


async def _announce(kith: Kith, entity: Entity, stored: Mapping[str, Any]) -> None:
    """One ``<entity>.imported`` event per finished run, with the run's counts: what a
    rule that wants to act once per import (a summary to the importer, a segment
    refresh) triggers on, rather than on each record's own ``created`` event."""
    payload = {
        "run": int(stored["id"]), "file": Path(str(stored["file_name"])).name, "mode": stored["mode"],
        "created": int(stored["created"]), "updated": int(stored["updated"]),
        "skipped": int(stored["skipped"]), "failed": int(stored["failed"]), "by": stored["actor"],
    }  # fmt: skip
    await kith.automations.emit(f"{entity.name}.imported", entity.name, None, payload)


async def _run_row(run_id: int) -> dict[str, Any]:
    row = await ImportRun.select().where(ImportRun.id == run_id).first()
    if row is None:
        raise ValidationFailed.single("run", "not_found", f"no import {run_id}")
    return dict(row)


class _Chunks:
    """One run's chunks: what stays the same from one to the next."""

    def __init__(self, kith: Kith, entity: Entity, stored: Mapping[str, Any], source: Source, actor: Actor) -> None:
        self.kith = kith
        self.entity = entity
        self.run = stored
        self.actor = actor
        self.viewer = actor.permissions
        self.rows = preparer_for(kith, stored, source.headers, actor.source in TRUSTED_SOURCES)
        self.check = (
            DuplicateCheck(kith, entity, self.viewer, dry_run=bool(stored["dry_run"]))
            if stored["duplicates"] != "off"
            else None
        )
        self.on_duplicate = str(stored["duplicates"])
        self.mode = str(stored["mode"])
        self.key = stored["match_key"]
        self.dry_run = bool(stored["dry_run"])
        #: a dry run's records are undone with their chunk: the keys it made, with their line
        self.made: dict[str, int] = {}
        #: rows created when the table was last analysed, and since this process started
        self.analysed_at = 0
        self.created_here = 0

    async def _fresh_statistics(self) -> None:
        """PostgreSQL plans a chunk's look-ups from the table's statistics, which lag a
        bulk load (autovacuum analyses later): planned for an empty table, an e-mail
        look-up reads every row instead of the GIN index, and each chunk gets slower than
        the last.  So the table is analysed whenever it has doubled since."""
        if not self.kith.db.dialect.is_postgres:
            return
        written = int(self.run["created"]) + self.created_here
        if written < max(2 * self.analysed_at, 2000):
            return
        await self.kith.db.run_ddl(f'ANALYZE "{self.entity.tablename}"')
        self.analysed_at = written

    async def write(self, chunk: Prepared) -> dict[str, Any]:
        await self._fresh_statistics()
        async with self.kith.db.write_transaction():
            outcomes: list[Outcome] = []
            try:
                async with self.kith.db.savepoint():
                    outcomes = await self._rows(chunk)
                    if self.dry_run:
                        raise _DryRun
            except _DryRun:
                pass
            await self._keep(outcomes, chunk.last)
        self.created_here += sum(1 for o in outcomes if o.status == "created")
        return await _run_row(int(self.run["id"]))

    async def _keep(self, outcomes: list[Outcome], last: int) -> None:
        run_id = int(self.run["id"])
        rows = [
            (run_id, o.line, o.status, o.record_id,
             json.dumps([{"field": e.field, "message": e.message} for e in o.errors]) if o.errors else None)
            for o in sorted(outcomes, key=lambda o: o.line)
        ]  # fmt: skip
        await self.kith.db.copy_rows("kith_import_result", RESULT_COLUMNS, rows)
        statuses = ("created", "updated", "skipped", "failed")
        counts = {status: sum(1 for o in outcomes if o.status == status) for status in statuses}
        await self.kith.db.fetch(
            QueryString(
                "UPDATE kith_import_run SET next_line = {}, created = created + {}, updated = updated + {}, "
                "skipped = skipped + {}, failed = failed + {}, updated_at = {} WHERE id = {}",
                last + 1, counts["created"], counts["updated"], counts["skipped"], counts["failed"],
                dt.datetime.now(dt.UTC), run_id,
            )
        )  # fmt: skip

    async def _rows(self, chunk: Prepared) -> list[Outcome]:
        outcomes = [Outcome(line, "failed", errors=errors) for line, errors in chunk.refused]
        linked, failed = await self._link(chunk.rows)
        outcomes.extend(failed)
        ready: list[_Ready] = []
        for row in linked:
            if row.checked is None:
                outcomes.append(Outcome(row.line, "failed", errors=row.errors))
                continue
            ready.append(_Ready(row.line, row.values, row.checked, self._keys_of(row.values, row.checked)))
        while ready:  # a key repeated in the chunk waits for the pass after its first row's
            now: list[_Ready] = []
            later: list[_Ready] = []
            seen: set[str] = set()
            for one in ready:
                if seen.intersection(one.keys):
                    later.append(one)
                    continue
                seen.update(one.keys)
                now.append(one)
            outcomes.extend(await self._pass(now))
            ready = later
        return outcomes

    # -- relations by natural key -----------------------------------------------------------

    async def _link(self, rows: list[Checked]) -> tuple[list[Checked], list[Outcome]]:
        """Relations named by a key (a domain, an e-mail) as the ids of the records the
        importer may read; a name that finds none, or several, refuses its row."""
        wanted: dict[tuple[str, str], set[str]] = {}
        tries: dict[tuple[mapping.Target, str], list[tuple[str, str]]] = {}
        for row in rows:
            for target, text in row.refs.items():
                if (target, text) in tries:
                    continue
                related = self.kith.entities.get(str(target.relation))
                names = [target.key] if target.key else (["id"] if text.isdigit() else list(keys.natural_keys(related)))
                found_by = []
                for name in names:
                    value = keys.normalised(self.kith, related, str(name), text)
                    if value is not None:
                        wanted.setdefault((related.name, str(name)), set()).add(value)
                        found_by.append((str(name), value))
                tries[(target, text)] = found_by
        found: dict[tuple[str, str], dict[str, list[int]]] = {}
        for (related_name, name), values_wanted in wanted.items():
            related = self.kith.entities.get(related_name)
            found[(related_name, name)] = await keys.find(self.kith, self.viewer, related, name, values_wanted)
        good: list[Checked] = []
        failed: list[Outcome] = []
        for row in rows:
            errors: list[FieldError] = []
            for target, text in row.refs.items():
                related_name = str(target.relation)
                ids: list[int] = []
                for name, value in tries[(target, text)]:
                    ids = found[(related_name, name)].get(value, [])
                    if ids:
                        break
                if len(ids) == 1:
                    row.link(target, ids[0])
                    continue
                how = " or ".join(name for name, _ in tries[(target, text)]) or "its key"
                if ids:
                    message = f"{len(ids)} {related_name} records have the {how} {text!r}: name it by id"
                else:
                    message = f"no {related_name} with the {how} {text!r}"
                errors.append(FieldError(self.rows.path(target), "ambiguous" if ids else "not_found", message))
            if errors:
                failed.append(Outcome(row.line, "failed", errors=errors))
            else:
                good.append(row)
        return good, failed

    # -- matching and writing -------------------------------------------------------------

    def _keys_of(self, given: Mapping[str, Any], checked: Mapping[str, Any]) -> tuple[str, ...]:
        """The row's values of the match field, as stored (validation normalised them):
        every e-mail of a row with several."""
        if self.key is None:
            return ()
        if self.key == "id":
            value = given.get("id")
            return (str(value),) if value is not None and str(value).isdigit() else ()
        value = checked.get(str(self.key))
        items = value if isinstance(value, list) else [value]
        return tuple(str(item) for item in items if item is not None and str(item) != "")

    async def _pass(self, rows: list[_Ready]) -> list[Outcome]:
        matches: dict[str, list[int]] = {}
        if self.key is not None:
            wanted = {key for row in rows for key in row.keys}
            matches = await keys.find(self.kith, self.viewer, self.entity, str(self.key), wanted)
        label, word = self._key_names()
        outcomes: list[Outcome] = []
        writes: list[tuple[Outcome, RecordWrite]] = []
        for row in rows:
            found = sorted({record for key in row.keys for record in matches.get(key, [])})
            pretended = [self.made[key] for key in row.keys if key in self.made]  # a dry run's own creations
            if len(found) > 1:
                message = f"{len(found)} {self.entity.name} records have this {word}: match them by id"
                outcomes.append(Outcome(row.line, "failed", errors=[FieldError(label, "ambiguous", message)]))
                continue
            if (found or pretended) and self.mode == "create":
                message = f"a {self.entity.name} with this {word} exists already"
                outcomes.append(Outcome(row.line, "skipped", errors=[FieldError(label, "duplicate", message)]))
                continue
            if not found and not pretended and self.mode == "update":
                message = f"no {self.entity.name} has this {word}"
                outcomes.append(Outcome(row.line, "failed", errors=[FieldError(label, "not_found", message)]))
                continue
            if not found and pretended:  # updates what this dry run made, and undid: valid is all it can tell
                outcomes.append(Outcome(row.line, "updated"))
                continue
            values = {k: v for k, v in row.values.items() if k != "id"}  # the id matched; it is no field to set
            if found:
                outcome = Outcome(row.line, "updated", found[0])
                write = RecordWrite(self.entity.name, _merged(self.entity, values), self.actor, record_id=found[0])
            else:
                checked = row.checked
                if self.mode != "create":  # checked as an update: a new record needs its required fields too
                    try:
                        checked = validate_input(self.entity, self.rows.fields, values, creating=True,
                                                 region=self.rows.region, trusted=self.rows.trusted)  # fmt: skip
                    except ValidationFailed as exc:
                        outcomes.append(Outcome(row.line, "failed", errors=list(exc.errors)))
                        continue
                outcome = Outcome(row.line, "created")
                write = RecordWrite(self.entity.name, checked, self.actor, checked=True)
            writes.append((outcome, write))
        likely = await self._likely_duplicates(writes)
        if self.on_duplicate == "skip":
            skipped = [(o, w) for o, w in writes if o.line in likely]
            for outcome, _write in skipped:
                outcome.status, outcome.errors = "skipped", [self._duplicate_error(likely[outcome.line])]
            outcomes.extend(outcome for outcome, _write in skipped)
            writes = [(o, w) for o, w in writes if o.line not in likely]
        outcomes.extend(await self._write(writes))
        if self.check is not None:
            self.check.remember([(o.line, w.values) for o, w in writes if o.status == "created"
                                 and isinstance(w.values, Mapping)])  # fmt: skip
            if self.on_duplicate == "flag":
                await self._flag(writes, likely)
        if self.dry_run:
            keys_of = {row.line: row.keys for row in rows}
            for outcome, _write in writes:
                if outcome.status == "created":
                    outcome.record_id = None  # undone with the chunk
                    self.made.update(dict.fromkeys(keys_of[outcome.line], outcome.line))
        return outcomes

    async def _likely_duplicates(self, writes: list[tuple[Outcome, RecordWrite]]) -> dict[int, Likely]:
        """The rows about to be created that look like a record or an earlier row (by line)."""
        if self.check is None:
            return {}
        creating = [(o.line, w.values) for o, w in writes if o.status == "created" and isinstance(w.values, Mapping)]
        return await self.check.likely(creating)

    def _duplicate_error(self, likely: Likely) -> FieldError:
        rules = {rule.name: rule for rule in self.check.matcher.rules} if self.check is not None else {}
        names = [name for rule in likely.rules if rule in rules for name in rules[rule].fields]
        fields = ", ".join(dict.fromkeys(graphql_name(self.entity.fields[name]) for name in names)) or "row"
        return FieldError(fields, "duplicate", likely.describe(self.entity.name))

    async def _flag(self, writes: list[tuple[Outcome, RecordWrite]], likely: Mapping[int, Likely]) -> None:
        """Created rows that look like another record go to the review queue, with it;
        each keeps a note of it in its result."""
        assert self.check is not None
        by_line = {o.line: o.record_id for o, _ in writes if o.status == "created" and o.record_id is not None}
        pairs: list[tuple[int, int, Likely]] = []
        for outcome, _write in writes:
            found = likely.get(outcome.line)
            other = None if found is None else found.record_id or by_line.get(found.line or 0)
            if found is None or outcome.record_id is None or other is None:
                continue
            pairs.append((outcome.record_id, other, found))
            outcome.errors = [self._duplicate_error(found)]
        if not self.dry_run:
            await self.check.flag(pairs)

    def _key_names(self) -> tuple[str, str]:
        """The match field as errors name it (``emails``), and as a sentence does (``email``)."""
        if self.key is None or self.key == "id":
            return "id", "id"
        spec = self.entity.fields[str(self.key)]
        label = graphql_name(spec)
        return label, label.removesuffix("s") if spec.kind is FieldKind.STRING_LIST else label

    async def _write(self, writes: list[tuple[Outcome, RecordWrite]]) -> list[Outcome]:
        """Write them all at once; what the database or a hook refuses is found by halves."""
        if not writes:
            return []
        emails = {e for _, w in writes if isinstance(w.values, Mapping) for e in w.values.get("emails") or ()}
        try:
            async with self.kith.db.savepoint():
                with prefetch_erased(emails):  # one look at the erased for the chunk's contacts
                    records = await self.kith.records.write_many([write for _, write in writes])
        except ValidationFailed as exc:
            if len(writes) == 1:
                outcome = writes[0][0]
                # a hook refusing a duplicate (a lead already in Kith) skips the row, as a key match does
                status = "skipped" if all(e.code == "duplicate" for e in exc.errors) else "failed"
                outcome.status, outcome.record_id, outcome.errors = status, None, list(exc.errors)
                return [outcome]
            middle = len(writes) // 2
            return [*await self._write(writes[:middle]), *await self._write(writes[middle:])]
        for (outcome, _write), record in zip(writes, records, strict=True):
            outcome.record_id = int(record["id"])
        return [outcome for outcome, _ in writes]


def _merged(entity: Entity, values: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """An update's values against the record as stored: a list field (e-mails, tags)
    gains the row's items rather than losing the ones the file does not name."""

    def apply(record: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(values)
        for name, value in values.items():
            spec = entity.fields.get(name)
            if spec is not None and spec.kind is FieldKind.STRING_LIST and isinstance(value, list):
                stored = list(record.get(name) or [])
                out[name] = stored + [item for item in value if item not in stored]
        return out

    return apply


# -- reading the results ----------------------------------------------------------------------


async def results(kith: Kith, run_id: int, *, problems_only: bool = False) -> list[dict[str, Any]]:
    """The run's results in line order (only skipped and failed lines with ``problems_only``)."""
    kith.db.bind(IMPORT_TABLES)
    query = ImportResult.select().where(ImportResult.run == run_id)
    if problems_only:
        query = query.where(ImportResult.status.is_in(["skipped", "failed"]))
    rows = await query.order_by(ImportResult.line)
    return [{**row, "errors": json.loads(row["errors"]) if row["errors"] else []} for row in rows]
