"""The sales plugin's tables: pipelines and their stages, deals, and each deal's stage
history.  Amounts are money fields (integer minor units plus a currency)."""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, Boolean, Date, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.sdk import Contact, Organization, RecordColumns, User

STAGE_KINDS = ("open", "won", "lost")
#: how sure a deal is, for forecasts: "commit" counts in commit and best case, "best_case"
#: in best case only, "pipeline" in neither, "omitted" nowhere (a deal's own value wins
#: over its stage's)
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "omitted")


class Pipeline(RecordColumns, Table, tablename="sales_pipeline"):
    name = Varchar(length=120, unique=True)
    description = Text(null=True, default=None)


class Stage(RecordColumns, Table, tablename="sales_stage"):
    pipeline = ForeignKey(references=Pipeline, null=True, default=None, on_delete=OnDelete.cascade)
    name = Varchar(length=120)
    position = Integer(default=0)
    probability = Integer(default=0)  # percent, 0-100: the weight of open deals in forecasts
    kind = Varchar(length=10, default="open")
    forecast_category = Varchar(length=12, null=True, default=None)


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
    forecast_category = Varchar(length=12, null=True, default=None)  # overrides the stage's


class StageChange(RecordColumns, Table, tablename="sales_stage_change"):
    """One move of a deal between stages: when, by whom, how long it sat in the old one."""

    deal = ForeignKey(references=Deal, null=True, default=None, on_delete=OnDelete.cascade)
    from_stage = ForeignKey(references=Stage, null=True, default=None, on_delete=OnDelete.set_null)
    to_stage = ForeignKey(references=Stage, null=True, default=None, on_delete=OnDelete.set_null)
    changed_by = Varchar(length=200, null=True, default=None)
    seconds_in_previous = BigInt(null=True, default=None)


DEAL_CONTACT_ROLES = ("decision_maker", "champion", "influencer", "user", "other")


class DealContact(RecordColumns, Table, tablename="sales_deal_contact"):
    """A person on a deal besides its main contact, and the part they play."""

    deal = ForeignKey(references=Deal, null=True, default=None, on_delete=OnDelete.cascade)
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.cascade)
    role = Varchar(length=20, default="other")


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
    country = Varchar(length=2, null=True, default=None)  # ISO 3166 code: the territory
    score = Integer(default=0)  # the scoring rules' total, kept by the plugin
    score_model = Integer(null=True, default=None)  # the trained model's win chance, percent
    scored_at = Timestamptz(null=True, default=None)


class Product(RecordColumns, Table, tablename="sales_product"):
    """Something sold; its prices, one per currency, are ``ProductPrice`` rows."""

    name = Varchar(length=200)
    sku = Varchar(length=64, null=True, default=None, unique=True)
    description = Text(null=True, default=None)
    unit = Varchar(length=30, null=True, default=None)
    tax_percent = Varchar(length=12, null=True, default=None)  # exact decimal as text, e.g. "19" or "7.5"
    active = Boolean(default=True)


class ProductPrice(RecordColumns, Table, tablename="sales_product_price"):
    product = ForeignKey(references=Product, null=True, default=None, on_delete=OnDelete.cascade)
    amount = BigInt(null=True, default=None)  # money field
    currency = Varchar(length=3, null=True, default=None)


QUOTE_STATUSES = ("draft", "sent", "accepted", "rejected", "superseded")


class Quote(RecordColumns, Table, tablename="sales_quote"):
    """An offer on a deal.  Revising a sent quote makes a new revision with the same number."""

    deal = ForeignKey(references=Deal, null=True, default=None, on_delete=OnDelete.cascade)
    number = Varchar(length=30, null=True, default=None, index=True)
    revision = Integer(default=1)
    status = Varchar(length=12, default="draft")
    title = Varchar(length=200, null=True, default=None)
    currency = Varchar(length=3, null=True, default=None)
    discount_percent = Varchar(length=12, null=True, default=None)  # on the whole quote, after line discounts
    subtotal = BigInt(null=True, default=None)  # money fields, computed from the lines
    discount_total = BigInt(null=True, default=None)
    tax_total = BigInt(null=True, default=None)
    total = BigInt(null=True, default=None)
    valid_until = Date(null=True, default=None)
    notes = Text(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)


class QuoteLine(RecordColumns, Table, tablename="sales_quote_line"):
    quote = ForeignKey(references=Quote, null=True, default=None, on_delete=OnDelete.cascade)
    product = ForeignKey(references=Product, null=True, default=None, on_delete=OnDelete.set_null)
    position = Integer(default=0)
    description = Varchar(length=300, null=True, default=None)
    quantity = Varchar(length=20, default="1")  # exact decimal as text
    unit_price = BigInt(null=True, default=None)  # money field, in the quote's currency
    currency = Varchar(length=3, null=True, default=None)
    discount_percent = Varchar(length=12, null=True, default=None)
    tax_percent = Varchar(length=12, null=True, default=None)
    net_total = BigInt(null=True, default=None)  # computed: quantity x price - discount
    tax_total = BigInt(null=True, default=None)  # computed


class ScoringRule(RecordColumns, Table, tablename="sales_scoring_rule"):
    """Points for a lead: when it matches ``conditions`` (the filter language, custom
    fields included) or per activity of ``activity_kind`` on its timeline; halving every
    ``half_life_days`` since the lead was created or the activity happened."""

    name = Varchar(length=120, unique=True)
    description = Text(null=True, default=None)
    points = Integer(default=0)
    conditions = Text(null=True, default=None)  # JSON filter on leads
    activity_kind = Varchar(length=20, null=True, default=None)
    max_points = Integer(null=True, default=None)  # cap of an activity rule
    half_life_days = Integer(null=True, default=None)
    enabled = Boolean(default=True)


SCORE_SOURCES = ("rules", "model")


class LeadScoreItem(RecordColumns, Table, tablename="sales_lead_score_item"):
    """One line of a lead's score explanation: a rule's points, or a model factor."""

    lead = ForeignKey(references=Lead, null=True, default=None, on_delete=OnDelete.cascade)
    source = Varchar(length=10, default="rules")
    name = Varchar(length=200)
    points = Integer(default=0)  # rules: points after decay; model: contribution x 100 (log-odds)
    reason = Text(null=True, default=None)


class LeadModel(Table, tablename="sales_lead_model"):
    """The trained lead model: features, coefficients and how well it did, as JSON."""

    id: Serial  # (Piccolo's primary key, declared for type checkers)

    trained_at = Timestamptz(null=True, default=None)
    samples = Integer(default=0)
    model = JSON(default="{}")


TABLES: list[type[Table]] = [Pipeline, Stage, Deal, StageChange]
LEAD_TABLES: list[type[Table]] = [Lead]
DEAL_CONTACT_TABLES: list[type[Table]] = [DealContact]
QUOTE_TABLES: list[type[Table]] = [Product, ProductPrice, Quote, QuoteLine]
SCORING_TABLES: list[type[Table]] = [ScoringRule, LeadScoreItem, LeadModel]
