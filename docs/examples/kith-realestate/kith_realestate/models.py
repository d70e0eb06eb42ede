"""The plugin's tables: properties, their listings, and which buyers a listing was matched to.

A property is the building (it outlives any one listing: sold, then let, then sold
again); a listing is one offer of it on the market, with an asking price and an
agent.  The agent column is called ``owner`` because that is what Kith's ``own`` and
``team`` role scopes look at: an estate agent sees their own listings.
"""

from __future__ import annotations

from kith.sdk import Activity, Contact, RecordColumns, User
from piccolo.columns import BigInt, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

PROPERTY_TYPES = ("apartment", "house", "studio", "commercial")
LISTING_KINDS = ("sale", "rent")
LISTING_STATUSES = ("draft", "active", "under_offer", "sold", "let", "withdrawn")
#: statuses in which a property can be visited
VIEWABLE = ("active", "under_offer")


class Property(RecordColumns, Table, tablename="realestate_property"):
    address = Varchar(length=200)
    city = Varchar(length=100)
    postal_code = Varchar(length=20, null=True, default=None)
    country = Varchar(length=2, null=True, default=None)  # ISO 3166, e.g. NL
    property_type = Varchar(length=20, default="apartment")
    bedrooms = Integer(default=0)
    bathrooms = Integer(default=0)
    floor_area_m2 = Integer(null=True, default=None)
    description = Text(null=True, default=None)


class Listing(RecordColumns, Table, tablename="realestate_listing"):
    property = ForeignKey(references=Property, null=True, default=None, on_delete=OnDelete.set_null)
    kind = Varchar(length=10, default="sale")
    status = Varchar(length=20, default="draft")
    asking_price = BigInt(null=True, default=None)  # money: minor units (cents) ...
    currency = Varchar(length=3, null=True, default=None)  # ... in this ISO 4217 currency
    listed_at = Timestamptz(null=True, default=None)  # set when it first goes active
    owner = ForeignKey(references=User, null=True, default=None, on_delete=OnDelete.set_null)  # the agent


class ListingMatch(RecordColumns, Table, tablename="realestate_listing_match"):
    """A buyer the matching rule found for a listing, and the task it gave their agent.

    Written only by the plugin's automation; one row per (listing, buyer), so matching
    again — a retry, a listing that goes active a second time — never repeats a task.
    """

    listing = ForeignKey(references=Listing, null=True, default=None, on_delete=OnDelete.cascade)
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.cascade)
    task = ForeignKey(references=Activity, null=True, default=None, on_delete=OnDelete.set_null)


TABLES = [Property, Listing, ListingMatch]
