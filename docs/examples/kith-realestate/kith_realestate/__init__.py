"""kith-realestate: a real-estate CRM built on Kith, as a vendor would build one.

Properties and their listings (sale or rent, asking price as money, an agent each),
viewings on the buyer's and the listing's timelines, buyer preferences as custom fields
on contacts, an automation that tells an agent when a new listing matches one of their
buyers, and the agency's roles.  Written only against ``kith.sdk``.

``plugin`` is the manifest Kith finds through the ``kith.plugins`` entry point;
``kith_realestate.distribution`` bundles it with the custom fields for
``kith init --distribution realestate``.
"""

from kith.sdk import Plugin

from kith_realestate.migrations import MIGRATIONS
from kith_realestate.models import TABLES

__version__ = "1.0.0"
REQUIRES_KITH = ">=0.1,<1"

plugin = Plugin(
    name="realestate",
    version=__version__,
    summary="Properties, listings, viewings on the timeline, and buyers matched to new listings.",
    requires_kith=REQUIRES_KITH,
    hooks="kith_realestate.hooks",
    tables=TABLES,
    migrations=MIGRATIONS,
)
