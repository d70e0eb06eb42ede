"""GraphQL types shared by every entity: operator inputs, page info, errors, money."""

import datetime
import decimal
from enum import Enum
from typing import Optional

import strawberry

from kith.core.errors import FieldError


@strawberry.enum(description="Sort direction; empty values always sort last.")
class SortDirection(Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.type(description="A problem with one input field; nothing was written.")
class UserError:
    """The GraphQL ``UserError`` type, for a plugin's own mutation payloads:
    ``errors: list[UserError]`` filled with ``UserError.from_error(e)`` for each
    ``FieldError`` of a ``ValidationFailed``."""

    field: Optional[str] = strawberry.field(
        description="Path of the input field, e.g. `emails` or `customFields.tier`."
    )
    code: str = strawberry.field(description="Stable machine-readable reason, e.g. `invalid`, `required`, `conflict`.")
    message: str

    @classmethod
    def from_error(cls, error: FieldError) -> "UserError":
        return cls(field=error.field, code=error.code, message=error.message)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: Optional[str]
    end_cursor: Optional[str]


@strawberry.type(description="An exact amount of money in one currency.")
class Money:
    amount: decimal.Decimal
    currency: str


@strawberry.input
class MoneyInput:
    amount: decimal.Decimal
    currency: str = strawberry.field(description="ISO 4217 code, e.g. EUR.")


@strawberry.input(description="Operators on text. `contains` and `startsWith` ignore case.")
class StringFilter:
    eq: Optional[str] = None
    ne: Optional[str] = None
    in_: Optional[list[str]] = strawberry.field(name="in", default=None)
    not_in: Optional[list[str]] = None
    lt: Optional[str] = None
    lte: Optional[str] = None
    gt: Optional[str] = None
    gte: Optional[str] = None
    contains: Optional[str] = None
    starts_with: Optional[str] = None
    is_null: Optional[bool] = None


@strawberry.input
class IntFilter:
    eq: Optional[int] = None
    ne: Optional[int] = None
    in_: Optional[list[int]] = strawberry.field(name="in", default=None)
    not_in: Optional[list[int]] = None
    lt: Optional[int] = None
    lte: Optional[int] = None
    gt: Optional[int] = None
    gte: Optional[int] = None
    is_null: Optional[bool] = None


@strawberry.input
class DecimalFilter:
    eq: Optional[decimal.Decimal] = None
    ne: Optional[decimal.Decimal] = None
    in_: Optional[list[decimal.Decimal]] = strawberry.field(name="in", default=None)
    not_in: Optional[list[decimal.Decimal]] = None
    lt: Optional[decimal.Decimal] = None
    lte: Optional[decimal.Decimal] = None
    gt: Optional[decimal.Decimal] = None
    gte: Optional[decimal.Decimal] = None
    is_null: Optional[bool] = None


@strawberry.input
class DateFilter:
    eq: Optional[datetime.date] = None
    ne: Optional[datetime.date] = None
    in_: Optional[list[datetime.date]] = strawberry.field(name="in", default=None)
    not_in: Optional[list[datetime.date]] = None
    lt: Optional[datetime.date] = None
    lte: Optional[datetime.date] = None
    gt: Optional[datetime.date] = None
    gte: Optional[datetime.date] = None
    is_null: Optional[bool] = None
    within_last: Optional[str] = strawberry.field(
        default=None, description="From this long ago up to now: an ISO 8601 duration such as P30D."
    )
    within_next: Optional[str] = strawberry.field(
        default=None, description="From now up to this far ahead: an ISO 8601 duration such as P7D."
    )
    older_than: Optional[str] = strawberry.field(
        default=None, description="Before this long ago: an ISO 8601 duration such as P1Y."
    )


@strawberry.input
class DateTimeFilter:
    eq: Optional[datetime.datetime] = None
    ne: Optional[datetime.datetime] = None
    in_: Optional[list[datetime.datetime]] = strawberry.field(name="in", default=None)
    not_in: Optional[list[datetime.datetime]] = None
    lt: Optional[datetime.datetime] = None
    lte: Optional[datetime.datetime] = None
    gt: Optional[datetime.datetime] = None
    gte: Optional[datetime.datetime] = None
    is_null: Optional[bool] = None
    within_last: Optional[str] = strawberry.field(
        default=None, description="From this long ago up to now: an ISO 8601 duration such as P30D."
    )
    within_next: Optional[str] = strawberry.field(
        default=None, description="From now up to this far ahead: an ISO 8601 duration such as P7D."
    )
    older_than: Optional[str] = strawberry.field(
        default=None, description="Before this long ago: an ISO 8601 duration such as P1Y."
    )


@strawberry.input
class BooleanFilter:
    eq: Optional[bool] = None
    ne: Optional[bool] = None
    is_null: Optional[bool] = None


@strawberry.input
class IDFilter:
    eq: Optional[strawberry.ID] = None
    ne: Optional[strawberry.ID] = None
    in_: Optional[list[strawberry.ID]] = strawberry.field(name="in", default=None)
    not_in: Optional[list[strawberry.ID]] = None
    is_null: Optional[bool] = None


@strawberry.input(description="Operators on a list of values: `contains` one element, or `isNull` (empty).")
class ListFilter:
    contains: Optional[str] = None
    is_null: Optional[bool] = None


@strawberry.input(description="Conditions on a money value: its amount, its currency, or whether it is set.")
class MoneyFilter:
    amount: Optional[DecimalFilter] = None
    currency: Optional[StringFilter] = None
    is_null: Optional[bool] = None


@strawberry.type(description="A custom field definition.")
class CustomFieldDefinition:
    entity: str
    name: str = strawberry.field(description="The snake_case name; GraphQL shows it in camelCase.")
    type: str
    label: str
    required: bool
    choices: list[str]
    indexed: bool
    personal: bool
    target: Optional[str]
    plugin: Optional[str] = strawberry.field(
        default=None, description="The plugin that declared the field (kith_custom_fields); null: an admin's."
    )


@strawberry.type
class CustomFieldPayload:
    field: Optional[CustomFieldDefinition]
    errors: list[UserError]


@strawberry.input
class AddCustomFieldInput:
    entity: str
    name: str
    type: str = strawberry.field(
        description="text, long_text, integer, decimal, boolean, date, datetime, single_select, "
        "multi_select, email, phone, url, money, relation"
    )
    label: Optional[str] = None
    required: bool = False
    choices: Optional[list[str]] = None
    indexed: bool = False
    personal: bool = False
    target: Optional[str] = strawberry.field(default=None, description="Entity a relation field points to.")
    default: Optional[strawberry.scalars.JSON] = strawberry.field(
        default=None, description="Value given to new records that do not set the field."
    )


@strawberry.type(description="What one plugin relates to a contact.")
class CustomerViewSection:
    plugin: str
    title: str
    items: strawberry.scalars.JSON


@strawberry.enum(description="Calendar bucket for grouping by a date (weeks start on Monday, UTC).")
class DateUnit(Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@strawberry.input
class DateBucketInput:
    field: str = strawberry.field(description="A date field by GraphQL name, e.g. createdAt or customFields.renewal.")
    unit: DateUnit


@strawberry.type(description="One group of an aggregate: its key, how many records, and the measures.")
class AggregateGroup:
    key: strawberry.scalars.JSON = strawberry.field(description="Group field (or 'field:unit' bucket) -> value.")
    count: int
    sums: strawberry.scalars.JSON
    averages: strawberry.scalars.JSON
