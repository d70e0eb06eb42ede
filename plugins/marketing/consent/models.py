"""The consent part's tables: the suppression list and the contacts each entry reaches.

A suppression is about an *address* (``ann@example.com`` unsubscribed, bounced,
complained, was erased) or a contact, for one topic or for all marketing.  Sends pick
their recipients set-wise with a contact filter, and a filter reaches records pointing
at the contact, so every contact a suppression applies to gets a row in
``marketing_contact_suppression`` (``Contact.suppressions``): all contacts with the
address when it is added, and any contact that gets the address later (the plugin's
``kith_after_write`` on contacts).  The address is also kept as a keyed hash, so an
erased person's entry still stops mail to a contact created later with their address,
without the address being stored in clear.
"""

from __future__ import annotations

from piccolo.columns import ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from kith.sdk import Contact, RecordColumns

#: why an address or contact gets no marketing
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained", "erased", "manual")


class Suppression(RecordColumns, Table, tablename="marketing_suppression"):
    #: the address, normalised (lower-case); empty once its person was erased
    email = Varchar(length=320, null=True, default=None)
    #: a keyed hash of the address (``context.sign``): how a later contact with it is
    #: recognised, even after the address itself was erased
    email_hash = Varchar(length=64, null=True, default=None, index=True)
    #: the contact it was added for (an unsubscribe link's), if any
    contact = ForeignKey(references=Contact, null=True, default=None, on_delete=OnDelete.set_null)
    reason = Varchar(length=20, default="manual")
    #: the topic it stops (a key of the ``topics`` setting); empty: all marketing
    topic = Varchar(length=60, null=True, default=None)
    #: where it came from: ``unsubscribe-link``, ``one-click``, ``bounce``, ``admin`` …
    source = Varchar(length=120, default="admin")
    #: the campaign whose unsubscribe link added it, if any (for its report)
    campaign = Varchar(length=120, null=True, default=None)


class ContactSuppression(RecordColumns, Table, tablename="marketing_contact_suppression"):
    """One contact a suppression applies to: rows the plugin keeps, never written by hand."""

    suppression = ForeignKey(references=Suppression, on_delete=OnDelete.cascade)
    contact = ForeignKey(references=Contact, on_delete=OnDelete.cascade)


#: a subscription's state: ``pending`` waits for its double opt-in confirmation
SUBSCRIPTION_STATUSES = ("subscribed", "pending", "unsubscribed")
#: how often a person wants marketing of a topic at most; a sender reads it from the
#: subscription (``eligible_filter(..., frequency=...)``)
FREQUENCIES = ("any", "weekly", "monthly")


class Subscription(RecordColumns, Table, tablename="marketing_subscription"):
    """One contact's state for one topic on one channel, kept with the core's consent
    record (written in the same transaction), so sends can require it in a filter."""

    contact = ForeignKey(references=Contact, on_delete=OnDelete.cascade)
    topic = Varchar(length=60)
    channel = Varchar(length=40, default="email")
    status = Varchar(length=20, default="pending")
    frequency = Varchar(length=20, default="any")
    #: when the person agreed (single opt-in) or confirmed (double opt-in)
    confirmed_at = Timestamptz(null=True, default=None)
    #: the version of the words they agreed to (the ``consent_wording_version`` setting)
    wording_version = Varchar(length=40, null=True, default=None)
    #: where it was given: a form's key, ``preferences``, ``admin`` …
    source = Varchar(length=120, default="admin")


CONSENT_TABLES: list[type[Table]] = [Suppression, ContactSuppression, Subscription]
