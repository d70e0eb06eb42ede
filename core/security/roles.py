"""Roles: grants per entity, as data.

A grant says which actions a role may take on an entity, on which records (scope
``own``, ``team`` or ``all``, narrowed by an optional filter in the GraphQL filter
language) and which fields it may not see (``hidden``) or change (``read_only``)::

    {"contact": {"actions": ["read", "create", "update"], "scope": "own",
                 "filter": {"lifecycleStage": {"ne": "customer"}}, "hidden": ["phones"]},
     "*": {"actions": ["read"], "scope": "all"}}

``*`` applies to every entity a role does not name.  A user's roles add up.

Powers that are not about records — today only ``manage_automations`` — are
``capabilities`` of a role, named explicitly and never implied by ``*``: a grant
answers "which rows and fields", a capability "may this role run this part of the
system at all" (see docs/architecture.md, "Capabilities").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["read", "create", "update", "delete", "restore", "purge"]
ACTIONS: tuple[Action, ...] = ("read", "create", "update", "delete", "restore", "purge")
Scope = Literal["own", "team", "all"]
#: Powers beyond records.  ``manage_automations``: read and change rules, dry runs, run
#: history, the dead-letter list and webhook subscriptions (admins always have it).
Capability = Literal["manage_automations"]
MANAGE_AUTOMATIONS: Capability = "manage_automations"


class Grant(BaseModel):
    """What a role may do with one entity: ``actions`` on the records in ``scope``
    (``own``, ``team`` or ``all``), narrowed by ``filter`` (the GraphQL filter
    language), with ``hidden`` fields it cannot see and ``read_only`` ones it cannot change."""

    model_config = ConfigDict(extra="forbid")

    actions: list[Action] = Field(default_factory=list)
    scope: Scope = "all"
    filter: dict[str, Any] | None = None
    hidden: list[str] = Field(default_factory=list)
    read_only: list[str] = Field(default_factory=list)


class RoleDefinition(BaseModel):
    """A role: a name, a description, a ``Grant`` per entity (``*`` for every entity
    it does not name) and its ``capabilities``.  Plugins return them from
    ``kith_roles``; ``kith roles apply`` reads them from YAML; a ``Distribution`` ships them."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    grants: dict[str, Grant] = Field(default_factory=dict)
    #: powers beyond records, e.g. ``[manage_automations]``; never implied by a ``*`` grant
    capabilities: list[Capability] = Field(default_factory=list)


CRUD: list[Action] = ["read", "create", "update", "delete", "restore"]
DIRECTORY = {name: Grant(actions=["read"]) for name in ("user", "team", "tag")}

BUILTIN_ROLES: list[RoleDefinition] = [
    RoleDefinition(name="admin", description="Everything, including roles and purges (bypasses grants)."),
    RoleDefinition(
        name="manager",
        description="Reads and changes every record; purges; manages automations.",
        grants={"*": Grant(actions=[*CRUD, "purge"], scope="all")},
        capabilities=[MANAGE_AUTOMATIONS],
    ),
    RoleDefinition(
        name="sales_rep",
        description="Works their own contacts, organizations and activities; reads the rest of the team's.",
        grants={
            **DIRECTORY,
            "contact": Grant(actions=CRUD, scope="own"),
            "organization": Grant(actions=CRUD, scope="own"),
            "activity": Grant(actions=CRUD, scope="own"),
        },
    ),
    RoleDefinition(
        name="support_agent",
        description="Reads every contact and organization; works the timeline.",
        grants={
            **DIRECTORY,
            "contact": Grant(actions=["read", "update"], scope="all"),
            "organization": Grant(actions=["read"], scope="all"),
            "activity": Grant(actions=CRUD, scope="all"),
        },
    ),
    RoleDefinition(
        name="marketer",
        description="Reads and segments contacts and organizations; manages tags.",
        grants={
            **DIRECTORY,
            "contact": Grant(actions=["read", "update"], scope="all"),
            "organization": Grant(actions=["read", "update"], scope="all"),
            "tag": Grant(actions=["read", "create", "update"], scope="all"),
            "activity": Grant(actions=["read"], scope="all"),
        },
    ),
    RoleDefinition(name="read_only", description="Reads everything.", grants={"*": Grant(actions=["read"])}),
]


async def sync_plugin_roles(kith: Any) -> list[str]:
    """Create plugins' roles and add their grants to existing roles (never replacing one).

    A plugin's role brings its capabilities when it is created; an existing role never
    gains a capability from a plugin (that is the admin's call)."""
    changed: list[str] = []
    for plugin, definitions in kith.plugins.call("kith_roles"):
        for definition in definitions:
            write = await _role_sync(kith, plugin, definition)
            if write is None:
                continue
            async with kith.db.write_transaction():
                await kith.db.fetch(write)
                await kith.auth.changed()  # what the role allows changed: cached permissions go
            changed.append(definition.name)
    return changed


async def _role_sync(kith: Any, plugin: str, definition: RoleDefinition) -> Any:
    """The statement that brings the stored role up to ``definition`` (None: nothing to do)."""
    import datetime as dt
    import json

    from piccolo.querystring import QueryString

    from kith.core.records.encoding import dumps

    row = await kith.db.fetch_one(QueryString("SELECT grants FROM kith_role WHERE name = {}", definition.name))
    new = {entity: grant.model_dump() for entity, grant in definition.grants.items()}
    if row is None:
        return QueryString(
            "INSERT INTO kith_role (name, description, grants, capabilities, source, updated_at) "
            "VALUES ({}, {}, {}, {}, {}, {})",
            definition.name,
            definition.description,
            dumps(new),
            dumps(list(definition.capabilities)),
            f"plugin:{plugin}",
            dt.datetime.now(dt.UTC),
        )
    current = json.loads(row["grants"]) if isinstance(row["grants"], str) else dict(row["grants"] or {})
    additions = {entity: grant for entity, grant in new.items() if entity not in current}
    if not additions:
        return None
    return QueryString(
        "UPDATE kith_role SET grants = {}, updated_at = {} WHERE name = {}",
        dumps({**current, **additions}),
        dt.datetime.now(dt.UTC),
        definition.name,
    )


async def save_role(kith: Any, definition: RoleDefinition, source: str = "admin") -> bool:
    """Create or replace role ``definition.name``; returns whether it existed.

    Entities a grant names must exist (or be ``*``), so a typo is refused rather than
    silently granting nothing.
    """
    import datetime as dt

    from piccolo.querystring import QueryString

    from kith.core.errors import FieldError, ValidationFailed
    from kith.core.records.encoding import dumps

    unknown = [e for e in definition.grants if e != "*" and e not in kith.entities]
    if unknown:
        raise ValidationFailed(
            [FieldError(f"grants.{e}", "unknown", f"no entity named {e!r} (is its plugin enabled?)") for e in unknown]
        )
    from kith.core.records.filters import uses_relative_time

    moving = [e for e, grant in definition.grants.items() if uses_relative_time(grant.filter)]
    if moving:
        # a role's scope is compiled once per session and cached with its reads
        raise ValidationFailed(
            [
                FieldError(f"grants.{e}.filter", "invalid", "a grant's filter cannot be relative to now (withinLast …)")
                for e in moving
            ]
        )
    grants = dumps({entity: grant.model_dump() for entity, grant in definition.grants.items()})
    capabilities = dumps(sorted(set(definition.capabilities)))
    now = dt.datetime.now(dt.UTC)
    async with kith.db.write_transaction():
        exists = await kith.db.fetch_one(QueryString("SELECT name FROM kith_role WHERE name = {}", definition.name))
        if exists:
            await kith.db.fetch(
                QueryString(
                    "UPDATE kith_role SET description = {}, grants = {}, capabilities = {}, source = {}, "
                    "updated_at = {} WHERE name = {}",
                    definition.description,
                    grants,
                    capabilities,
                    source,
                    now,
                    definition.name,
                )
            )
        else:
            await kith.db.fetch(
                QueryString(
                    "INSERT INTO kith_role (name, description, grants, capabilities, source, updated_at) "
                    "VALUES ({}, {}, {}, {}, {}, {})",
                    definition.name,
                    definition.description,
                    grants,
                    capabilities,
                    source,
                    now,
                )
            )
        await kith.auth.changed()
        await kith.auth.audit("role_saved", None, {"role": definition.name, "source": source})
    return exists is not None
