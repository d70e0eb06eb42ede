"""The core's schema steps."""

from __future__ import annotations

from kith.core.models import ENTITY_TABLES, SYSTEM_TABLES
from kith.core.plugins.manifest import Migration
from kith.core.storage.database import Database


async def _initial(db: Database) -> None:
    await db.create_tables([*SYSTEM_TABLES, *ENTITY_TABLES])
    # Timeline reads are "newest first for one record": index exactly that.
    await db.run_ddl(
        'CREATE INDEX IF NOT EXISTS "activity_subject_timeline" ON "activity" (subject_type, subject_id, occurred_at)'
    )


async def _automations(db: Database) -> None:
    from kith.core.automations.models import AUTOMATION_TABLES

    # Databases made before the outbox became the automation queue get its new columns.
    await add_columns_if_missing(
        db,
        "kith_outbox",
        {
            "status": "VARCHAR(12) NOT NULL DEFAULT 'pending'",
            "depth": "INTEGER NOT NULL DEFAULT 0",
            "locked_until": "TIMESTAMPTZ",
            "locked_by": "VARCHAR(80)",
            "claims": "INTEGER NOT NULL DEFAULT 0",
            "last_error": "TEXT",
        },
    )
    if db.dialect.is_postgres:
        await db.run_ddl('ALTER TABLE "kith_outbox" ALTER COLUMN idempotency_key TYPE VARCHAR(160)')
    await db.create_tables(list(AUTOMATION_TABLES))
    await db.run_ddl(
        'CREATE UNIQUE INDEX IF NOT EXISTS "kith_inbound_delivery_once" '
        'ON "kith_inbound_delivery" (source, delivery_id)'
    )


async def add_columns_if_missing(db: Database, table: str, columns: dict[str, str]) -> None:
    if db.dialect.is_postgres:
        rows = await db.execute(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = {}",
            table,
        )
    else:
        rows = await db.execute(f"SELECT name FROM pragma_table_info('{table}')")
    existing = {row["name"] for row in rows}
    for name, ddl in columns.items():
        if name not in existing:
            await db.run_ddl(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {ddl}')


async def _security(db: Database) -> None:
    import datetime as dt

    from piccolo.querystring import QueryString

    from kith.core.records.encoding import dumps
    from kith.core.security.models import SECURITY_TABLES
    from kith.core.security.roles import BUILTIN_ROLES

    await db.create_tables(list(SECURITY_TABLES))
    for role in BUILTIN_ROLES:
        await db.fetch(
            QueryString(
                "INSERT INTO kith_role (name, description, grants, source, updated_at) "
                "VALUES ({}, {}, {}, 'builtin', {}) ON CONFLICT (name) DO NOTHING",
                role.name,
                role.description,
                dumps({k: v.model_dump() for k, v in role.grants.items()}),
                dt.datetime.now(dt.UTC),
            )
        )


async def _privacy(db: Database) -> None:
    from kith.core.privacy.models import PRIVACY_TABLES

    await db.create_tables(list(PRIVACY_TABLES))


async def _subscription_owner(db: Database) -> None:
    await add_columns_if_missing(db, "kith_webhook_subscription", {"user_id": "BIGINT"})


async def _rate_limits(db: Database) -> None:
    await db.run_ddl(
        'CREATE TABLE IF NOT EXISTS "kith_rate_limit" (key VARCHAR(200) PRIMARY KEY, value TEXT NOT NULL, '
        "expires_at TIMESTAMPTZ)"
    )


async def _signin_throttle(db: Database) -> None:
    from kith.core.security.throttle import TABLE

    # Times are seconds since the epoch: the same arithmetic and comparisons on both engines.
    await db.run_ddl(
        f'CREATE TABLE IF NOT EXISTS "{TABLE}" (key VARCHAR(64) PRIMARY KEY, failures INTEGER NOT NULL DEFAULT 0, '
        "locked_until DOUBLE PRECISION, expires_at DOUBLE PRECISION NOT NULL)"
    )
    await db.run_ddl(f'CREATE INDEX IF NOT EXISTS "{TABLE}_expires" ON "{TABLE}" (expires_at)')


async def _role_capabilities(db: Database) -> None:
    """Roles gain ``capabilities``; the built-in roles get theirs (``manager`` manages
    automations), the same on a database made before as on a fresh one."""
    import datetime as dt

    from piccolo.querystring import QueryString

    from kith.core.records.encoding import dumps
    from kith.core.security.roles import BUILTIN_ROLES

    await add_columns_if_missing(db, "kith_role", {"capabilities": "JSON NOT NULL DEFAULT '[]'"})
    for role in BUILTIN_ROLES:
        if role.capabilities:
            await db.fetch(
                QueryString(
                    "UPDATE kith_role SET capabilities = {}, updated_at = {} WHERE name = {} AND source = 'builtin'",
                    dumps(list(role.capabilities)),
                    dt.datetime.now(dt.UTC),
                    role.name,
                )
            )


async def _drop_rate_limits(db: Database) -> None:
    """Rate limits are counted in memory or Redis now (``rate_limit_store``), never in the
    database: a write per request was their whole cost."""
    await db.run_ddl('DROP TABLE IF EXISTS "kith_rate_limit"')


async def _outbox_queue_indexes(db: Database) -> None:
    """The queue's indexes cover only the rows still to do (and dead letters).

    A worker claims ``status = 'pending' ORDER BY id``: over an index of every row it
    stepped past all the rows already done, from the oldest, on every claim (the cost
    grew with the history), and each row marked done changed four indexes (status,
    available time, event, and the three of them together) that nothing else reads.
    Partial indexes hold only pending rows and dead letters, so a claim reads its batch
    and nothing more, and marking a row done removes it from the one index it was in."""
    for name in ("kith_outbox_due", "kith_outbox_status", "kith_outbox_available_at", "kith_outbox_event"):
        await db.run_ddl(f'DROP INDEX IF EXISTS "{name}"')
    for status in ("pending", "dead"):
        await db.run_ddl(
            f'CREATE INDEX IF NOT EXISTS "kith_outbox_{status}" ON "kith_outbox" (id) WHERE status = \'{status}\''
        )


async def _custom_field_owner(db: Database) -> None:
    """A custom field remembers the plugin that declared it, so purging the plugin removes it."""
    await add_columns_if_missing(db, "kith_custom_field", {"plugin": "VARCHAR(100)"})


#: relation columns that gained ``index=True`` after the first migration: a database made
#: since has their indexes from ``_initial`` (Piccolo names them ``<table>_<column>``)
_RELATION_INDEXES = (
    ("contact", "owner"),
    ("organization", "owner"),
    ("activity", "owner"),
    ("activity", "assignee"),
    ("kith_user", "team"),
)


async def _read_indexes(db: Database) -> None:
    """Indexes the read path can use (docs/custom-fields.md, "Which filters use an index").

    Every relation column is indexed: an owner scope (``owner = ?``), a relation
    filter and a reverse list's ``some``/``none`` look records up by it.  A stage
    filter and the newest-first order read their rows in the list's order.  On
    PostgreSQL, e-mail and tag look-ups (``contains``) get GIN indexes.  Indexed custom
    fields are rebuilt on ``(value, id)`` with the expression the filters use now.
    """
    for table, column in _RELATION_INDEXES:
        await db.run_ddl(f'CREATE INDEX IF NOT EXISTS "{table}_{column}" ON "{table}" ("{column}")')
    await db.run_ddl('CREATE INDEX IF NOT EXISTS "contact_stage_id" ON "contact" (lifecycle_stage, id)')
    # newest first with empty values last, the list's order (SQLite puts NULL last in DESC)
    newest = "created_at DESC NULLS LAST" if db.dialect.is_postgres else "created_at DESC"
    for table in ("contact", "organization"):
        await db.run_ddl(f'CREATE INDEX IF NOT EXISTS "{table}_newest" ON "{table}" ({newest}, id)')
    for table, column in (("contact", "emails"), ("contact", "tags"), ("organization", "tags")):
        # the expression the filter's ``contains`` compares (Dialect.json_array_contains)
        statement = db.dialect.gin_index(table, f"{table}_{column}_gin", f'(("{column}")::jsonb)')
        if statement is not None:
            await db.run_ddl(statement)
    await rebuild_custom_field_indexes(db)


async def rebuild_custom_field_indexes(db: Database) -> None:
    """Recreate the index of every indexed custom field as ``kith.core.customfields.sql``
    builds it now (same name), so it serves the expression the filters compile to.
    Each index's table is read from the index itself: migrations run before entities
    are declared."""
    from kith.core.customfields.definition import CustomField
    from kith.core.customfields.sql import index_name, index_statement

    if db.dialect.is_postgres:
        rows = await db.execute(
            "SELECT indexname AS name, tablename AS tbl FROM pg_indexes "
            "WHERE schemaname = current_schema() AND indexname LIKE 'kith_cf_%'"
        )
    else:
        rows = await db.execute("SELECT name, tbl_name AS tbl FROM sqlite_master WHERE type = 'index'")
    tables = {row["name"]: row["tbl"] for row in rows}
    fields = [CustomField.from_row(row) for row in await db.execute("SELECT * FROM kith_custom_field")]
    for field in fields:
        for name, table in tables.items():
            if not field.indexed or index_name(table, field.name) != name:
                continue
            await db.run_ddl(f'DROP INDEX IF EXISTS "{name}"')
            statement = index_statement(field, table, name, db.dialect)
            if statement is not None:
                await db.run_ddl(statement)


async def _mail(db: Database) -> None:
    """The mail service (docs/mail.md): messages received and sent, the automatic-mail
    counts behind the loop caps, and the file store their attachments live in."""
    from kith.core.files import FileRow
    from kith.core.mail.models import MAIL_TABLES

    await db.create_tables([*MAIL_TABLES, FileRow])
    await db.run_ddl('CREATE INDEX IF NOT EXISTS "kith_mail_inbound_status" ON "kith_mail_inbound" (status, id)')
    await db.run_ddl('CREATE INDEX IF NOT EXISTS "kith_mail_auto_send_scope" ON "kith_mail_auto_send" (scope, sent_at)')


async def _consent_channel(db: Database) -> None:
    """Consent per purpose *and* channel: the records so far were all given for mail."""
    await add_columns_if_missing(db, "kith_consent", {"channel": "VARCHAR(40) NOT NULL DEFAULT 'email'"})
    await db.run_ddl(
        'CREATE INDEX IF NOT EXISTS "kith_consent_purpose" ON "kith_consent" (contact_id, purpose, channel)'
    )


async def _duplicates(db: Database) -> None:
    """The duplicate review queue (docs/duplicates.md): one row per pair of records, the
    lower id first, so a rescan finds the row it wrote before; read by entity and status,
    highest score first."""
    from kith.core.duplicates.store import TABLE, DuplicateCandidateRow

    await db.create_tables([DuplicateCandidateRow])
    await db.run_ddl(f'CREATE UNIQUE INDEX IF NOT EXISTS "{TABLE}_pair" ON "{TABLE}" (entity, record_a, record_b)')
    await db.run_ddl(f'CREATE INDEX IF NOT EXISTS "{TABLE}_queue" ON "{TABLE}" (entity, status, score DESC, id)')


async def _imports(db: Database) -> None:
    """Imports (docs/import.md): runs that resume where they stopped, a result per line
    read back in line order, mappings saved by name."""
    from kith.core.imports.models import IMPORT_TABLES

    await db.create_tables(list(IMPORT_TABLES))
    await db.run_ddl('CREATE INDEX IF NOT EXISTS "kith_import_result_lines" ON "kith_import_result" (run, line)')
    await db.run_ddl(
        'CREATE UNIQUE INDEX IF NOT EXISTS "kith_import_mapping_name" ON "kith_import_mapping" (entity, name)'
    )


async def _dashboards(db: Database) -> None:
    """Dashboards (docs/dashboards.md): a name, an owner and tiles of saved reports."""
    from kith.core.dashboards.store import DashboardRow

    await db.create_tables([DashboardRow])


async def _merges(db: Database) -> None:
    """The merge journal (docs/merge.md): each merge, and every change it made, by merge."""
    from kith.core.merge.journal import CHANGES, MERGE_TABLES, MERGES

    await db.create_tables(list(MERGE_TABLES))
    await db.run_ddl(f'CREATE INDEX IF NOT EXISTS "{MERGES}_by_entity" ON "{MERGES}" (entity, id)')
    await db.run_ddl(f'CREATE INDEX IF NOT EXISTS "{CHANGES}_by_merge" ON "{CHANGES}" (merge_id, id)')
    await db.run_ddl(f'CREATE INDEX IF NOT EXISTS "{CHANGES}_by_row" ON "{CHANGES}" (table_name, row_id)')


async def _reports(db: Database) -> None:
    """Saved reports and their delivery schedules (docs/reports.md), schedules read by report."""
    from kith.core.reports.schedules import SCHEDULE_TABLE, ReportScheduleRow
    from kith.core.reports.store import ReportRow

    await db.create_tables([ReportRow, ReportScheduleRow])
    await db.run_ddl(f'CREATE INDEX IF NOT EXISTS "{SCHEDULE_TABLE}_by_report" ON "{SCHEDULE_TABLE}" (report, id)')


CORE_MIGRATIONS = [
    Migration("0001_initial", _initial, "core entities and system tables"),
    Migration("0002_automations", _automations, "automation rules, runs, effects, webhooks"),
    Migration("0003_security", _security, "credentials, API keys, roles"),
    Migration("0004_privacy", _privacy, "consents and erasure tombstones"),
    Migration("0005_rate_limits", _rate_limits, "rate-limit counters shared by every API process"),
    Migration("0006_subscription_owner", _subscription_owner, "webhook deliveries scoped to a user"),
    Migration("0007_signin_throttle", _signin_throttle, "failed sign-ins per account and address, shared by processes"),
    Migration("0008_role_capabilities", _role_capabilities, "role capabilities (manage_automations)"),
    Migration("0009_custom_field_owner", _custom_field_owner, "custom fields declared by plugins"),
    Migration("0010_drop_rate_limits", _drop_rate_limits, "rate limits counted in memory or Redis, not here"),
    Migration("0011_read_indexes", _read_indexes, "indexes for owners, stages, newest first, e-mails; custom fields"),
    Migration("0012_outbox_queue_indexes", _outbox_queue_indexes, "queue indexes of pending rows and dead letters"),
    Migration("0013_mail", _mail, "mail received and sent, automatic-mail caps, the file store"),
    Migration("0014_consent_channel", _consent_channel, "consents per purpose and channel"),
    Migration("0015_duplicates", _duplicates, "the duplicate review queue"),
    Migration("0016_imports", _imports, "import runs, their results per line, saved column mappings"),
    Migration("0017_merges", _merges, "the merge journal: merges and every change they made, for undo"),
    Migration("0018_reports", _reports, "saved reports and their scheduled delivery by mail"),
    Migration("0019_dashboards", _dashboards, "dashboards: tiles of saved reports drawn as charts"),
]
