"""Consent records and erasure tombstones."""

from __future__ import annotations

from piccolo.columns import BigInt, Timestamptz, Varchar
from piccolo.table import Table


class Consent(Table, tablename="kith_consent"):
    contact_id = BigInt(index=True)
    purpose = Varchar(length=120)  # e.g. newsletter, phone-calls, profiling
    #: how the person may be reached for it: email, sms, phone, post … (a consent to a
    #: newsletter by mail is not one to it by text message)
    channel = Varchar(length=40, default="email")
    source = Varchar(length=120)  # where it was given: signup-form, phone, import …
    wording_version = Varchar(length=40)  # which text the person agreed to
    granted_at = Timestamptz(null=True, default=None)
    withdrawn_at = Timestamptz(null=True, default=None)


class ErasureTombstone(Table, tablename="kith_erasure_tombstone"):
    """A keyed hash of an erased person's email: no personal value, yet a later import of
    the same address can be recognised and flagged."""

    email_hash = Varchar(length=64, unique=True)
    erased_at = Timestamptz(null=True, default=None)


PRIVACY_TABLES: tuple[type[Table], ...] = (Consent, ErasureTombstone)
