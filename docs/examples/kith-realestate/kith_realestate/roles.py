"""Who may do what with properties and listings.

``estate_agent`` and ``listings_manager`` are the agency's own roles.  The built-in
roles get read access to the stock, because a sales rep, a support agent or a marketer
answering a buyer needs to see what is on the market; ``manager`` and ``read_only``
already read everything (their ``*`` grant).  Kith only adds a grant to an existing role
for an entity it does not mention yet, so an admin's later choices are never undone.
"""

from __future__ import annotations

from kith.sdk import Grant, RoleDefinition

CRUD = ["read", "create", "update", "delete", "restore"]
READ = Grant(actions=["read"])
DIRECTORY = {"user": READ, "team": READ, "tag": READ}
STOCK_READ = {"property": READ, "listing": READ}

ESTATE_AGENT = RoleDefinition(
    name="estate_agent",
    description="Sells and lets their own listings: their buyers, their timeline; reads every property.",
    grants={
        **DIRECTORY,
        # properties belong to nobody: an agent reads them all, and records a new one when
        # taking on an instruction; correcting or removing one is the manager's job
        "property": Grant(actions=["read", "create"]),
        "listing": Grant(actions=CRUD, scope="own"),
        "listing_match": Grant(actions=["read"], scope="own"),
        "contact": Grant(actions=CRUD, scope="own"),
        "activity": Grant(actions=CRUD, scope="own"),
    },
)

LISTINGS_MANAGER = RoleDefinition(
    name="listings_manager",
    description="Runs the agency's stock: every property and listing, every buyer and their timeline.",
    grants={
        **DIRECTORY,
        "property": Grant(actions=CRUD),
        "listing": Grant(actions=CRUD),
        "listing_match": READ,
        "contact": Grant(actions=CRUD),
        "activity": Grant(actions=CRUD),
    },
)


def roles() -> list[RoleDefinition]:
    builtin = [RoleDefinition(name=name, grants=STOCK_READ) for name in ("sales_rep", "support_agent", "marketer")]
    return [ESTATE_AGENT, LISTINGS_MANAGER, *builtin]
