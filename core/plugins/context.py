"""``PluginContext``: what a plugin is handed, instead of the running ``Kith``.

A plugin's hooks, resolvers, actions and commands all receive (or derive) one small
object: records of any entity, read and written through the one write path as the
caller (their visibility applied to every read) or as the system; domain events to
emit; the plugin's settings; a logger; and the few database operations that differ
between engines.  The runtime stays inside the core, so a plugin cannot reach around
permissions, validation, audit or events by accident, and the core can change its
insides without breaking plugins.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from piccolo.querystring import QueryString
from pydantic import BaseModel

from kith.core.errors import KithError, NotFound
from kith.core.records.aggregate import Bucket, Group
from kith.core.records.change import SYSTEM, Actor
from kith.core.records.query import ListRequest

if TYPE_CHECKING:
    from piccolo.table import Table

    from kith.core.entities import Entity
    from kith.core.files import Files
    from kith.core.imports.api import ImportOutcome
    from kith.core.imports.runner import ImportRequest
    from kith.core.mail.outbound import Mail
    from kith.core.runtime import Kith

Record = dict[str, Any]
Rows = list[Record]  # (``Records.list`` shadows ``list`` inside the class)
Groups = list[Group]
M = TypeVar("M", bound=BaseModel)

#: the most records one ``list`` call returns; page through more with ``each``
MAX_LIST = 1000


class Records:
    """Records of every entity, as one actor.

    Reads apply the actor's visibility: only records in their scope (at every hop of a
    relation in a filter or an order), hidden fields empty.  Writes go through the
    record service, so validation, permissions, hooks, audit and events apply exactly
    as for a GraphQL mutation.  ``filter`` and ``order_by`` are the GraphQL languages
    (``{"stage": {"eq": "won"}}``, ``[{"amount": "DESC"}]``); field names may be written
    as in GraphQL or as columns.  Records are dicts keyed by column name, custom fields
    under ``"custom"``.
    """

    def __init__(self, kith: Kith, actor: Actor) -> None:
        self._kith = kith
        self.actor = actor

    @property
    def _viewer(self) -> Any:
        return self.actor.permissions

    def _entity(self, name: str) -> Entity:
        return self._kith.entities.get(name)

    def _visible(self, entity: Entity, record: Record | None) -> Record | None:
        viewer = self._viewer
        return record if viewer is None or record is None else viewer.strip(entity, record)

    def _require(self, entity: str, action: str) -> None:
        if self._viewer is not None:
            self._viewer.require(entity, action)

    async def get(self, entity: str, record_id: int) -> Record | None:
        """The record, or None when it does not exist, is deleted or is out of sight."""
        target = self._entity(entity)
        viewer = self._viewer
        if viewer is not None and not (viewer.allows(entity, "read") and await viewer.can_see(target, int(record_id))):
            return None
        try:
            record = await self._kith.records.get(entity, int(record_id))
        except NotFound:
            return None
        return self._visible(target, record)

    async def list(
        self,
        entity: str,
        filter: Mapping[str, Any] | None = None,
        *,
        order_by: Sequence[Mapping[str, Any]] = (),
        first: int = 100,
        search: str | None = None,
        include_deleted: bool = False,
    ) -> Rows:
        """Up to ``first`` records (at most 1000) matching ``filter``, in ``order_by``
        order (then by id); ``include_deleted``: soft-deleted ones too (still within the
        actor's scope), for what must cover every record, such as a person's data."""
        limit = min(max(first, 0), MAX_LIST)
        page = await self._page(entity, filter, order_by, limit, search, None, include_deleted)
        return page[0]

    async def each(
        self,
        entity: str,
        filter: Mapping[str, Any] | None = None,
        *,
        order_by: Sequence[Mapping[str, Any]] = (),
        batch: int = 500,
        include_deleted: bool = False,
    ) -> AsyncIterator[Record]:
        """Every matching record, fetched ``batch`` at a time with a cursor, so a plugin
        can walk a large table without holding it in memory."""
        after: str | None = None
        size = min(max(batch, 1), MAX_LIST)
        while True:
            rows, after = await self._page(entity, filter, order_by, size, None, after, include_deleted)
            for row in rows:
                yield row
            if after is None:
                return

    async def first(
        self, entity: str, filter: Mapping[str, Any] | None = None, *, order_by: Sequence[Mapping[str, Any]] = ()
    ) -> Record | None:
        """The first matching record, or None."""
        rows = await self.list(entity, filter, order_by=order_by, first=1)
        return rows[0] if rows else None

    async def count(
        self,
        entity: str,
        filter: Mapping[str, Any] | None = None,
        *,
        search: str | None = None,
        include_deleted: bool = False,
    ) -> int:
        """How many records match (deleted ones only with ``include_deleted``)."""
        self._require(entity, "read")
        kith = self._kith
        target = self._entity(entity)
        return await kith.query.count(
            kith.db, target, filter, search, viewer=self._viewer, include_deleted=include_deleted
        )

    async def aggregate(
        self,
        entity: str,
        filter: Mapping[str, Any] | None = None,
        *,
        group_by: Sequence[str] = (),
        bucket: tuple[str, Bucket] | None = None,
        sums: Sequence[str] = (),
        averages: Sequence[str] = (),
        distinct: Sequence[str] = (),
        time_zone: str = "UTC",
        limit: int = 1000,
    ) -> Groups:
        """Counts, sums, averages and distinct counts of the matching records, grouped by
        fields and an optional date ``bucket`` (``("closedAt", "month")``, the month in
        ``time_zone``, an IANA name): the ``aggregate`` GraphQL field's SQL, so only
        records in the actor's scope count and fields hidden from them count as empty.
        Each ``Group`` has ``key`` (field name -> value; a bucket as ``"closedAt:month"``
        -> ``"2026-03-01"``), ``count``, ``sums``, ``averages`` and ``values`` (every
        measure by field name; distinct counts only there).  A money field adds up per
        currency: its currency joins the key as ``"<field>.currency"`` and its sum is a
        decimal string in major units."""
        from kith.core.records.aggregate import aggregate

        self._require(entity, "read")
        kith = self._kith
        return await aggregate(
            kith.query,
            kith.db,
            self._entity(entity),
            filter_=filter,
            group_by=group_by,
            bucket=bucket,
            sums=sums,
            averages=averages,
            distinct=distinct,
            time_zone=time_zone,
            limit=limit,
            viewer=self._viewer,
        )

    async def _page(
        self,
        entity: str,
        filter: Mapping[str, Any] | None,
        order_by: Sequence[Mapping[str, Any]],
        first: int,
        search: str | None,
        after: str | None,
        include_deleted: bool = False,
    ) -> tuple[Rows, str | None]:
        self._require(entity, "read")
        kith = self._kith
        target = self._entity(entity)
        request = ListRequest(
            target, filter, order_by, first, after, search, viewer=self._viewer, include_deleted=include_deleted
        )
        page = await kith.query.list(kith.db, request)
        rows = [r for r in (self._visible(target, row) for row in page.rows) if r is not None]
        return rows, page.end_cursor if page.has_next_page else None

    async def create(self, entity: str, values: Mapping[str, Any]) -> Record:
        """Create a record; a ``ValidationFailed`` names every bad field."""
        record = await self._kith.records.create(entity, values, self.actor)
        return self._visible(self._entity(entity), record) or {}

    async def update(
        self, entity: str, record_id: int, values: Mapping[str, Any], *, expected_version: int | None = None
    ) -> Record:
        """Change some fields; ``expected_version`` refuses a stale write (``VersionConflict``)."""
        record = await self._kith.records.update(entity, int(record_id), values, self.actor, expected_version)
        return self._visible(self._entity(entity), record) or {}

    async def delete(self, entity: str, record_id: int, *, expected_version: int | None = None) -> Record:
        """Soft-delete a record (``restore`` brings it back)."""
        record = await self._kith.records.delete(entity, int(record_id), self.actor, expected_version)
        return self._visible(self._entity(entity), record) or {}

    async def restore(self, entity: str, record_id: int) -> Record:
        record = await self._kith.records.restore(entity, int(record_id), self.actor)
        return self._visible(self._entity(entity), record) or {}


@dataclass(frozen=True)
class Selected:
    """What ``keep_selection`` changed: the ids of the records whose rows it added and
    removed."""

    added: list[int]
    removed: list[int]


class PluginDatabase:
    """The database operations whose SQL differs between SQLite and PostgreSQL.

    A plugin queries its own tables with Piccolo's query builder
    (``Quote.select().where(Quote.deal == 3)``); what the query builder cannot say the
    same way on both engines is here.
    """

    def __init__(self, kith: Kith) -> None:
        self._db = kith.db
        self._kith = kith

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One write transaction: Piccolo queries and record writes inside it commit
        or roll back together (nested calls join the outer one)."""
        async with self._db.write_transaction():
            yield

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """A part of a transaction that can fail alone: an error inside rolls back to
        here and propagates, and the transaction goes on if the caller catches it."""
        async with self._db.savepoint():
            yield

    async def lock_rows(self, table: type[Table], ids: Sequence[int]) -> None:
        """Hold ``table``'s rows ``ids`` until the transaction ends, so two writers of
        the same rows take turns (SQLite: the write transaction already serialises)."""
        if not ids:
            return
        marks = ", ".join("{}" for _ in ids)
        sql = f'SELECT id FROM "{table._meta.tablename}" WHERE id IN ({marks}){self._db.dialect.lock_rows()}'
        await self._db.fetch(QueryString(sql, *(int(i) for i in ids)))

    async def next_number(self, table: type[Table], column: Any, *, prefix: str, width: int = 5) -> str:
        """The next number of a series kept in ``table.column`` (``Q-00001``, ``Q-00002``,
        …): one past the highest number written with ``prefix`` (deleted rows keep
        theirs), zero-padded to ``width`` digits.  Call it inside the write transaction
        that stores the number: concurrent callers take turns on the series until their
        transactions end, so two rows never get the same number (``serialise``)."""
        name = column._meta.db_column_name
        await self.serialise(f"kith.series.{table._meta.tablename}.{name}.{prefix}")
        rows = await self._db.fetch(
            QueryString(
                f'SELECT "{name}" AS n FROM "{table._meta.tablename}" WHERE SUBSTR("{name}", 1, {len(prefix)}) = {{}} '
                f'ORDER BY LENGTH("{name}") DESC, "{name}" DESC LIMIT 100',
                prefix,
            )
        )
        # the longest digits are the highest number ("Q-10" after "Q-9"); text that is not
        # a number of the series ("Q-draft") is passed over
        numbers = (str(row["n"])[len(prefix) :] for row in rows)
        last = next((int(digits) for digits in numbers if digits.isdigit()), 0)
        return f"{prefix}{last + 1:0{width}d}"

    async def search_text(
        self, table: type[Table], columns: Sequence[str], text: str, *, match: str = "all", limit: int = 20
    ) -> list[int]:
        """Ids of ``table``'s rows whose ``columns`` match the words of ``text``, best first
        (``match="any"``: any word, ranked).  The columns need a ``fulltext_index``
        migration.  PostgreSQL full-text search or SQLite FTS5; read the records by id
        afterwards (``records.list(entity, {"id": {"in": ids}})``) so the caller's
        visibility applies."""
        from kith.core.storage import fulltext

        how: fulltext.Match = "any" if match == "any" else "all"
        return await fulltext.search(self._db, table._meta.tablename, columns, text, match=how, limit=limit)

    def check_filter(self, entity: str, filter_: Mapping[str, Any] | None, *, path: str = "filter") -> None:
        """Refuse a filter (a segment's definition, a policy's conditions) that would not
        run: ``ValidationFailed`` naming the field under ``path``
        (``definition.customFields.tier``), before it is saved."""
        self._selection(entity, filter_, path=path)

    def _selection(
        self, entity: str, filter_: Mapping[str, Any] | None, *, path: str = "filter", live: bool = True
    ) -> QueryString:
        """``SELECT t.id FROM <entity's table> t`` for the live records ``filter_``
        matches, read as the system (callers show people what they read again through
        ``records``, so their visibility applies)."""
        from kith.core.errors import FieldError, ValidationFailed
        from kith.core.records.filters import FilterCompiler

        target = self._kith.entities.get(entity)
        try:
            where = FilterCompiler(self._kith.query.ctx).compile(target, filter_ or {}, "t")
        except ValidationFailed as failed:
            raise ValidationFailed(
                [FieldError(path + (e.field or "").removeprefix("filter"), e.code, e.message) for e in failed.errors]
            ) from None
        alive = self._db.dialect.live("t") if live else "1 = 1"
        return QueryString(f'SELECT t.id FROM "{target.tablename}" t WHERE {alive} AND {{}}', where)

    async def keep_selection(
        self,
        table: type[Table],
        *,
        fixed: Mapping[str, Any],
        member: str,
        entity: str,
        filter_: Mapping[str, Any] | None,
        within: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
        path: str = "filter",
    ) -> Selected:
        """Make ``table``'s rows with the ``fixed`` column values (``{"segment": 3}``)
        hold exactly one row per live ``entity`` record that ``filter_`` matches, by its
        id in column ``member``: rows are added for records that match and removed for
        records that no longer do (only rows with ``values`` too, so rows a person added
        by hand with other values stay).  With ``within`` (another filter) only those
        records are looked at: following one write costs what that write touched.

        Two set-wise statements, whatever the number of records, with no row passing
        through Python: how a plugin keeps something derived from records (a segment's
        members) at a million records.  Call it inside the transaction that should
        include it.  ``table`` must have a unique index on the fixed columns and
        ``member`` (``add_index(..., unique=True)``): it is what keeps a record from
        getting two rows."""
        now = dt.datetime.now(dt.UTC)
        name = table._meta.tablename
        matching = self._selection(entity, filter_, path=path)
        scope = member_scope = QueryString("1 = 1")
        if within is not None:
            scope = QueryString("s.id IN ({})", self._selection(entity, within))
            # deleted records too: a record just deleted is what leaves
            member_scope = QueryString(f'm."{member}" IN ({{}})', self._selection(entity, within, live=False))
        columns = {**fixed, **(values or {})}
        if {"created_at", "updated_at"} <= {c._meta.db_column_name for c in table._meta.columns}:
            columns = {**columns, "created_at": now, "updated_at": now}
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("{}" for _ in columns)
        kept = " AND ".join(f'm."{c}" = {{}}' for c in {**fixed, **(values or {})})
        async with self._db.write_transaction():
            # the unique index on (fixed columns, member) skips those already there: an
            # index probe per row, whatever the planner thinks of the tables' sizes (a
            # NOT EXISTS here could be planned as a scan of the table being filled)
            added = await self._db.fetch(
                QueryString(
                    f'INSERT INTO "{name}" ({names}, "{member}") SELECT {marks}, s.id FROM ({{}}) s WHERE {{}} '
                    f'ON CONFLICT DO NOTHING RETURNING "{member}" AS id',
                    *columns.values(), matching, scope,
                )
            )  # fmt: skip
            removed = await self._db.fetch(
                QueryString(
                    f'DELETE FROM "{name}" WHERE id IN (SELECT m.id FROM "{name}" m WHERE {kept} AND {{}} '
                    f'AND NOT EXISTS (SELECT 1 FROM ({{}}) s WHERE s.id = m."{member}")) RETURNING "{member}" AS id',
                    *fixed.values(), *(values or {}).values(), member_scope, matching,
                )
            )  # fmt: skip
        return Selected(sorted(int(r["id"]) for r in added), sorted(int(r["id"]) for r in removed))

    async def serialise(self, key: str) -> None:
        """Let one transaction at a time past this point for ``key`` (numbering a
        series, for example), until the transaction ends."""
        await self._db.dialect.serialise(self._db, key)

    async def after_commit(self, callback: Any) -> None:
        """Run ``callback`` (an async function) once the current transaction commits
        (at once outside one): work that must not happen for a rolled-back write."""
        await self._db.after_commit(callback)


class PluginContext:
    """What a plugin's hook, resolver, action or command works with.

    ``records`` reads and writes as the caller (the signed-in user of a request, the
    rule's user, or the system for a command); ``system`` does the same as the system
    itself, unrestricted, for what a plugin maintains on its own account (a score, a
    counter).  ``settings(Model)`` is the plugin's settings, ``emit`` raises a domain
    event, ``db`` holds the few engine-dependent database operations and ``log`` is a
    logger; ``mail`` sends mail and reads what came in, ``files`` is the file store.
    """

    def __init__(self, kith: Kith, actor: Actor = SYSTEM) -> None:
        self._kith = kith
        self.actor = actor
        self.records = Records(kith, actor)
        self.db = PluginDatabase(kith)
        self.log = logging.getLogger("kith.plugins")

    @property
    def system(self) -> Records:
        """Records as the system: no scope, no hidden fields, no permission checks;
        the audit names the caller's surface with ``system`` as the actor."""
        return self.as_system().records

    @property
    def mail(self) -> Mail:
        """Send mail (``await context.mail.send(OutboundMail(...))``) and read received
        messages (``await context.mail.inbound(id)``): see docs/mail.md."""
        from kith.core.mail.outbound import Mail

        return Mail(self._kith, self.actor)

    @property
    def files(self) -> Files:
        """The file store: ``await context.files.store(data, name=..., content_type=...)``
        returns a ``StoredFile`` whose ``id`` you keep; ``await context.files.read(id)``."""
        from kith.core.files import Files

        return Files(self._kith.db)

    @property
    def user_id(self) -> int | None:
        """The signed-in user this context acts for (None: the system)."""
        return self.actor.user_id

    def as_system(self) -> PluginContext:
        """This context, acting as the system."""
        return PluginContext(self._kith, Actor(name="system", source=self.actor.source))

    def as_plugin(self, *, keep_permissions: bool = True, name: str | None = None) -> PluginContext:
        """This context's caller writing through the plugin: a trusted source, so the
        plugin may set the fields clients may not (read-only status, computed totals),
        audited under the caller's name (or ``name``) with source ``plugin``.

        With ``keep_permissions`` the caller's grants still apply (a workflow step on a
        record they may not update is refused); without, the write is a consequence the
        plugin owns (a quote's totals after one of its lines changed, a lead's score)."""
        actor = self.actor
        permissions = actor.permissions if keep_permissions else None
        return PluginContext(self._kith, Actor(name or actor.name, "plugin", actor.user_id, permissions))

    def can(self, entity: str, action: str) -> bool:
        """Whether the caller's roles allow ``action`` (read, create, update, delete) on ``entity``."""
        viewer = self.actor.permissions
        return viewer is None or bool(viewer.allows(entity, action))

    async def require(self, entity: str, action: str, record_id: int | None = None) -> None:
        """Refuse unless the caller may ``action`` ``entity`` (``Forbidden``) and, given a
        ``record_id``, that record is in their scope for it (``NotFound``, as if it did not
        exist): the record service's own check, for a plugin step that must refuse before
        it does anything else.  The system passes."""
        viewer = self.actor.permissions
        if viewer is None:
            return
        if record_id is None:
            viewer.require(entity, action)
        else:
            await viewer.check_record(self._kith.entities.get(entity), int(record_id), action)

    def has_capability(self, capability: str) -> bool:
        """Whether the caller's roles grant ``capability`` (``manage_automations``, …)."""
        viewer = self.actor.permissions
        return viewer is None or bool(viewer.has(capability))

    def sees_every(self, entity: str) -> bool:
        """Whether the caller may read every record of ``entity`` (their read scope is
        ``all``, or they are the system): figures they see are everyone's figures."""
        viewer = self.actor.permissions
        if viewer is None:
            return True
        return bool(viewer.allows(entity, "read")) and viewer.predicate(self._kith.entities.get(entity), "read") is None

    def hidden_fields(self, entity: str) -> frozenset[str]:
        """The columns of ``entity`` the caller may not read (empty for the system)."""
        viewer = self.actor.permissions
        if viewer is None:
            return frozenset()
        return frozenset(viewer.hidden_keys(self._kith.entities.get(entity)))

    def settings(self, model: type[M]) -> M:
        """The settings of the plugin whose manifest declares ``settings=model``, read
        from ``[plugin.<name>]`` in kith.toml (or ``KITH_PLUGIN``) and checked by the
        pydantic ``model``: a bad value is one clear error naming it."""
        for name, plugin in self._kith.plugins.available.items():
            if plugin.settings is model:
                value: M = self._kith.settings.for_plugin(name, model)
                return value
        raise KithError(f"no plugin declares settings={model.__name__}: add it to the plugin's manifest")

    async def emit(
        self, event: str, entity: str, record_id: int | None, payload: Mapping[str, Any] | None = None
    ) -> None:
        """Raise the domain event ``event`` about a record (``deal.stage_changed``).  It
        is stored in the current transaction (a rolled-back write raises nothing) and
        the worker runs the rules listening for it.  Declare the event with
        ``kith_automation_events`` so rules can name it."""
        await self._kith.automations.emit(event, entity, record_id, dict(payload or {}))

    async def schedule(
        self,
        job: str,
        *,
        key: str,
        at: dt.datetime | None = None,
        payload: Mapping[str, Any] | None = None,
        entity: str = "",
        record_id: int | None = None,
    ) -> bool:
        """Queue a run of the plugin job ``job`` (declared with ``kith_jobs``) for ``at``
        (now when None), in the current transaction.  ``key`` makes it idempotent: a
        run with the same key is queued once, and this returns False for the repeats.
        The worker runs it once its time has come; see ``kith.sdk.Job``."""
        from kith.core.plugins import jobs

        return await jobs.schedule(self._kith, job, key=key, at=at, payload=payload, entity=entity, record_id=record_id)

    def sign(self, purpose: str, value: str) -> str:
        """A signature of ``value`` for ``purpose`` with the installation's secret (an
        HMAC-SHA256, hex): put it in a link (a survey, an unsubscribe) and check it with
        ``verify`` when the link comes back, so nobody can make such a link up.  A
        different ``purpose`` gives a different signature for the same value."""
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self._kith.secret.encode(), message, hashlib.sha256).hexdigest()

    def verify(self, purpose: str, value: str, signature: str) -> bool:
        """Whether ``signature`` is ``sign(purpose, value)`` (compared in constant time)."""
        return hmac.compare_digest(self.sign(purpose, value), signature or "")

    async def record_consent(
        self, contact_id: int, purpose: str, *, source: str, wording_version: str, channel: str = "email"
    ) -> int:
        """Record the contact's consent to ``purpose`` by ``channel`` (the core's consent
        records, ``kith gdpr consents``), in the current transaction: a plugin keeping its
        own state about it (a subscription) writes both or neither.  The caller must be
        allowed to update the contact; a missing value is an error naming its field."""
        from kith.core.privacy import service

        await self.require("contact", "update", contact_id)
        return await service.record_consent(self._kith, int(contact_id), purpose, source, wording_version, channel)

    async def withdraw_consent(self, contact_id: int, purpose: str, *, channel: str = "email") -> int:
        """Record that the contact withdrew ``purpose`` by ``channel``; returns how many
        consent records it closed (0 when none was active: withdrawing is idempotent)."""
        from kith.core.privacy import service

        await self.require("contact", "update", contact_id)
        return await service.withdraw_consent(self._kith, int(contact_id), purpose, channel, missing_ok=True)

    async def consents(self, contact_id: int) -> list[dict[str, Any]]:
        """The contact's consent records, given and withdrawn, oldest first (``purpose``,
        ``channel``, ``source``, ``wording_version``, ``granted_at``, ``withdrawn_at``);
        the caller must be allowed to read the contact."""
        from kith.core.privacy import service

        await self.require("contact", "read", contact_id)
        return await service.consents(self._kith, int(contact_id))

    def http_client(self, **options: Any) -> Any:
        """An ``httpx.AsyncClient`` for calls out of Kith (a webhook, a platform's API)
        that refuses internal addresses unless the ``outbound_allow`` setting names them
        (``kith.sdk.outbound_client`` with this Kith's settings); ``options`` go to httpx."""
        from kith.core.security.outbound import outbound_client

        return outbound_client(self._kith.settings, **options)

    def check_url(self, url: str) -> None:
        """Refuse a URL to be saved for later calls (``OutboundRefused``) when its host is
        an internal address the ``outbound_allow`` setting does not name."""
        from kith.core.security.outbound import check_outbound_url

        check_outbound_url(url, self._kith.settings)

    async def import_file(self, request: ImportRequest, *, on_chunk: Any = None) -> ImportOutcome:
        """Import a CSV or XLSX file into an entity as this context's actor: the engine
        of ``kith import`` (mapping, validation, natural keys, dry run, duplicate check,
        resuming an unfinished run of the same file), with each line's result.  A plugin's
        own import command is this with its defaults (see ``docs/import.md``)."""
        from kith.core.imports.api import import_file

        return await import_file(self._kith, request, self.actor, on_chunk=on_chunk)

    def suggest_import_mapping(self, entity: str, path: Any, *, encoding: str = "utf-8") -> dict[str, str]:
        """The column mapping ``kith import`` would suggest for the file's headers
        (``{header: target}``; ``""`` for a header that names no field)."""
        from pathlib import Path

        from kith.core.imports.api import suggested_mapping

        return suggested_mapping(self._kith, entity, Path(path), encoding=encoding)

    @property
    def in_production(self) -> bool:
        """Whether this installation runs with ``mode = "production"``: where a plugin may
        fall back to a development convenience (a key derived from the installation's
        secret) only outside production."""
        return self._kith.settings.mode == "production"

    def public_url(self, path: str = "/") -> str:
        """The absolute address of ``path`` on this Kith (the ``public_url`` setting, else
        ``http://host:port``), for links in mail."""
        settings = self._kith.settings
        base = (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")
        return base + "/" + path.lstrip("/")

    def choices(self, entity: str, field: str) -> tuple[str, ...]:
        """The values ``entity.field`` may take (an activity's ``kind``: the core's and
        those plugins add); empty for a field without a fixed list."""
        spec = self._kith.entities.get(entity).fields.get(field)
        return tuple(spec.choices or ()) if spec is not None else ()

    def custom_field_names(self, entity: str) -> list[str]:
        """The names of ``entity``'s custom fields (``tier``), for a plugin that lets
        people pick which of them something may set (a web form's fields)."""
        return [field.name for field in self._kith.custom_fields.for_entity(entity)]

    def extensions(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call ``hook``, an extension hook a plugin offers to the plugins that depend on
        it (``Plugin(hookspecs=...)``: the social plugin's ``social_connectors``), and
        return what each implementation gave, as (plugin name, result) pairs, in pluggy's
        order.  One that raises is logged with its plugin's name and left out, so one
        broken add-on does not take the offering plugin down.  Synchronous: extension
        hooks declare things (connectors, analyzers); do the work in what they return."""
        return self._kith.plugins.call_extension(hook, **kwargs)

    def entity_names(self) -> list[str]:
        """The entities of this Kith (core and enabled plugins)."""
        return [entity.name for entity in self._kith.entities]

    def relations(self, entity: str) -> dict[str, str]:
        """``entity``'s relation fields (by column name) and the entity each points at:
        ``relations("deal")`` holds ``{"contact": "contact", "organization": …}``.  For
        plugins that keep something derived from records (a segment's members) and must
        know which writes reach it."""
        return {spec.name: spec.target for spec in self._kith.entities.get(entity).relation_fields() if spec.target}


def runtime_of(context: PluginContext) -> Kith:
    """The running Kith behind a context, for the core's own code that is handed one (the
    built-in actions' checks); not part of the SDK."""
    return context._kith
