"""The sales plugin's tables: pipelines and their stages, deals, and each deal's stage
history.  Amounts are money fields (integer minor units plus a currency)."""

from __future__ import annotations

from piccolo.columns import BigInt, Boolean, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.sdk import Contact, Organization, RecordColumns, User

STAGE_KINDS = ("open", "won", "lost")


class Pipeline(RecordColumns, Table, tablename="sales_pipeline"):
    name = Varchar(length=120, unique=True)
    description = Text(null=True, default=None)


class Stage(RecordColumns, Table, tablename="sales_stage"):
    pipeline = ForeignKey(references=Pipeline, null=True, default=None, on_delete=OnDelete.cascade)
    name = Varchar(length=120)
    position = Integer(default=0)
    probability = Integer(default=0)  # percent, 0-100: the weight of open deals in forecasts
    kind = Varchar(length=10, default="open")


class Deal(RecordColumns, Table, tablename="sales_deal"):
    name = Varchar(length=200)
    amount = BigInt(null=True, default=None)  # minor units (money field)
    currency = Varchar(length=3, null=True, default=None)
    pipeline = ForeignKey(references=Pipeline, null=True, default=None, on_delete=OnDelete.set_null)
    stage = ForeignKey(references=Stage, null=True, default=None, on_delete=OnDelete.set_null)
    organization = ForeignKey(references=Organization, null=True, default=None, on_delete=OnDelete.set_null)
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    expected_close = Date(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    lost_reason = Text(null=True, default=None)


class StageChange(RecordColumns, Table, tablename="sales_stage_change"):
    """One move of a deal between stages: when, by whom, how long it sat in the old one."""

    deal = ForeignKey(references=Deal, null=True, default=None, on_delete=OnDelete.cascade)
    from_stage = ForeignKey(references=Stage, null=True, default=None, on_delete=OnDelete.set_null)
    to_stage = ForeignKey(references=Stage, null=True, default=None, on_delete=OnDelete.set_null)
    changed_by = Varchar(length=200, null=True, default=None)
    seconds_in_previous = BigInt(null=True, default=None)


LEAD_STATUSES = ("new", "contacted", "qualified", "disqualified", "converted")


class Lead(RecordColumns, Table, tablename="sales_lead"):
    """Someone who may become a customer: a person and a company not yet in the CRM."""

    first_name = Varchar(length=100, null=True, default=None)
    last_name = Varchar(length=100, null=True, default=None)
    email = Varchar(length=254, null=True, default=None, index=True)
    phone = Varchar(length=40, null=True, default=None)
    title = Varchar(length=150, null=True, default=None)
    company = Varchar(length=200, null=True, default=None)
    domain = Varchar(length=253, null=True, default=None, index=True)
    source = Varchar(length=80, null=True, default=None)
    status = Varchar(length=20, default="new")
    disqualified_reason = Text(null=True, default=None)
    budget = BigInt(null=True, default=None)  # money field (minor units)
    budget_currency = Varchar(length=3, null=True, default=None)
    authority = Boolean(null=True, default=None)  # BANT: talking to who decides?
    need = Text(null=True, default=None)
    decision_date = Date(null=True, default=None)  # BANT: when they mean to decide
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)
    converted_contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    converted_organization = ForeignKey(references=Organization, null=True, default=None, on_delete=OnDelete.set_null)
    converted_deal = ForeignKey(references=Deal, null=True, default=None, on_delete=OnDelete.set_null)
    converted_at = Timestamptz(null=True, default=None)


TABLES = [Pipeline, Stage, Deal, StageChange]
LEAD_TABLES = [Lead]
