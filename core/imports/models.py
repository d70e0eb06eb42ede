"""An import's bookkeeping: the run (where it stands, so it can resume), a result per
row (the report a person downloads), and the column mappings people saved."""

from __future__ import annotations

from piccolo.columns import BigInt, Boolean, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table


class ImportRun(Table, tablename="kith_import_run"):
    """One import of one file.  ``next_line`` moves in the same transaction as the rows
    it covers, so a run stopped anywhere resumes at the first line not written."""

    id: Serial  # Piccolo's primary key, declared for type checkers

    entity = Varchar(length=80)
    mode = Varchar(length=10)  # create, update, upsert
    match_key = Varchar(length=80, null=True, default=None)
    mapping = Text()  # JSON: {header: target}
    defaults = Text(default="{}")  # JSON: {target: text} for rows whose cell is empty
    duplicates = Varchar(length=8, default="off")  # off, skip, flag: the check against likely duplicates
    file_name = Varchar(length=500)
    file_sha256 = Varchar(length=64)
    file_kind = Varchar(length=8)
    sheet = Varchar(length=200, null=True, default=None)
    encoding = Varchar(length=40, default="utf-8")
    time_zone = Varchar(length=60, default="UTC")
    dry_run = Boolean(default=False)
    status = Varchar(length=12, default="running")  # running, done
    next_line = Integer(default=2)
    created = Integer(default=0)
    updated = Integer(default=0)
    skipped = Integer(default=0)
    failed = Integer(default=0)
    user_id = BigInt(null=True, default=None)
    actor = Varchar(length=200)
    created_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)


class ImportResult(Table, tablename="kith_import_result"):
    """What became of one line: ``created``/``updated`` (with the record), ``skipped``
    (a duplicate in create mode, nothing to change) or ``failed`` (with the errors)."""

    id: Serial  # Piccolo's primary key, declared for type checkers

    run = BigInt()
    line = Integer()
    status = Varchar(length=10)
    record_id = BigInt(null=True, default=None)
    errors = Text(null=True, default=None)  # JSON: [{"field", "message"}]


class ImportMapping(Table, tablename="kith_import_mapping"):
    """A column mapping saved under a name (a CRM export, a trade-fair list), for the
    next file from the same source."""

    id: Serial  # Piccolo's primary key, declared for type checkers

    entity = Varchar(length=80)
    name = Varchar(length=200)
    mapping = Text()
    updated_at = Timestamptz(null=True, default=None)


IMPORT_TABLES = (ImportRun, ImportResult, ImportMapping)
