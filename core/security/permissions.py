"""What one principal may do, turned into SQL.

Scopes and rule filters become a predicate that the read path adds to every query it
runs for that principal — lists, counts, relation loading, look-ups by id, exports —
so they all agree, and a record outside scope is simply not found.  The write path
checks the same predicate on the record it is about to change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.customfields import CustomField
from kith.core.entities import Entity
from kith.core.errors import FieldError, NotFound, ValidationFailed
from kith.core.records.field_names import CUSTOM, client_name, field_key
from kith.core.records.filters import FilterCompiler
from kith.core.security.roles import Grant

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.auth import Principal


class Forbidden(ValidationFailed):
    """The principal may not take this action on this kind of record at all."""

    def __init__(self, entity: str, action: str) -> None:
        super().__init__([FieldError(None, "forbidden", f"you may not {action} {entity} records")])


class MissingCapability(ValidationFailed):
    """The principal's roles lack a capability (``manage_automations``) for this part of Kith."""

    def __init__(self, capability: str, what: str) -> None:
        message = f"you may not {what}: none of your roles has the {capability} capability"
        super().__init__([FieldError(None, "forbidden", message)])


@dataclass
class Permissions:
    """The grants of one principal's roles, by entity (admins: unrestricted).

    This is the one visibility model: for an entity, ``predicate`` says which rows and
    ``hidden_keys`` which fields this principal may not see.  One instance lives for one
    request (or one automation run), and both answers are computed once per entity.
    """

    kith: Kith
    principal: Principal
    grants: list[dict[str, Grant]]  # one mapping (entity or "*" -> grant) per role
    #: capabilities of any of the principal's roles (``manage_automations``)
    capabilities: frozenset[str] = frozenset()
    _hidden: dict[str, frozenset[str]] = field(default_factory=dict, init=False, repr=False)
    _predicates: dict[tuple[str, str, str], QueryString | None] = field(default_factory=dict, init=False, repr=False)

    def rebuilt(self) -> Permissions:
        """The same grants, without what was worked out from them (predicates and hidden
        fields depend on the entities and custom fields of the moment)."""
        return Permissions(self.kith, self.principal, self.grants, self.capabilities)

    @property
    def unrestricted(self) -> bool:
        return self.principal.is_admin

    @property
    def cursor_identity(self) -> str:
        """Cursors are bound to the user who was given them."""
        return f"user:{self.principal.user_id}"

    def _grants(self, entity: str) -> list[Grant]:
        """Each role's grant for ``entity`` (its ``*`` grant if it does not name it)."""
        out = []
        for role in self.grants:
            grant = role.get(entity) or role.get("*")
            if grant is not None:
                out.append(grant)
        return out

    def allows(self, entity: str, action: str) -> bool:
        return self.unrestricted or any(action in g.actions for g in self._grants(entity))

    def require(self, entity: str, action: str) -> None:
        if not self.allows(entity, action):
            raise Forbidden(entity, action)

    def has(self, capability: str) -> bool:
        """Whether one of the roles has ``capability`` (admins have them all)."""
        return self.unrestricted or capability in self.capabilities

    def require_capability(self, capability: str, what: str) -> None:
        if not self.has(capability):
            raise MissingCapability(capability, what)

    def predicate(self, entity: Entity, action: str, alias: str = "t") -> QueryString | None:
        """SQL for "records this principal may ``action``" (None: all of them)."""
        if self.unrestricted:
            return None
        key = (entity.name, action, alias)
        if key not in self._predicates:
            own = self._grant_predicate(entity, action, alias)
            about = self._attachment_predicate(entity, alias) if entity.attachment else None
            if own is None or about is None:
                self._predicates[key] = own if about is None else about
            else:
                self._predicates[key] = QueryString("({} AND {})", own, about)
        return self._predicates[key]

    def _grant_predicate(self, entity: Entity, action: str, alias: str) -> QueryString | None:
        parts: list[QueryString] = []
        for grant in self._grants(entity.name):
            if action not in grant.actions:
                continue
            scope = self._scope(entity, grant.scope, alias)
            rule = FilterCompiler(self.kith.query.ctx).compile(entity, grant.filter, alias) if grant.filter else None
            if scope is None and rule is None:
                return None  # one role sees them all
            pieces = [p for p in (scope, rule) if p is not None]
            parts.append(QueryString("(" + " AND ".join("{}" for _ in pieces) + ")", *pieces))
        if not parts:
            return QueryString("1 = 0")
        return QueryString("(" + " OR ".join("{}" for _ in parts) + ")", *parts)

    def _attachment_predicate(self, entity: Entity, alias: str) -> QueryString | None:
        """An activity is about a record (``subject_type``/``subject_id``): reading the
        activity reads about that record, so it is visible only with the record."""
        assert entity.attachment is not None
        type_column, id_column = entity.attachment
        ors: list[QueryString] = []
        everything = True
        for subject in self.kith.entities:
            if not subject.timeline:
                continue
            if not self.allows(subject.name, "read"):
                everything = False
                continue
            inner_alias = f"{alias}_s"
            scope = self.predicate(subject, "read", inner_alias)
            if scope is None:
                ors.append(QueryString(f'{alias}."{type_column}" = {{}}', subject.name))
                continue
            everything = False
            ors.append(
                QueryString(
                    f'({alias}."{type_column}" = {{}} AND {alias}."{id_column}" IN '
                    f'(SELECT {inner_alias}.id FROM "{subject.tablename}" {inner_alias} WHERE {{}}))',
                    subject.name,
                    scope,
                )
            )
        if everything:
            return None
        if not ors:
            return QueryString("1 = 0")
        return QueryString("(" + " OR ".join("{}" for _ in ors) + ")", *ors)

    def _scope(self, entity: Entity, scope: str, alias: str) -> QueryString | None:
        if scope == "all":
            return None
        user_id = self.principal.user_id
        if entity.name == "user":
            if scope == "own":
                return QueryString(f"{alias}.id = {{}}", user_id)
            return QueryString(f"{alias}.team = {{}}", self.principal.team_id)
        owners = entity.owner_fields
        if not owners and entity.owner_via:
            # owned through a parent (a quote's deal): the parent's scope, one level up
            parent = self.kith.entity(str(entity.fields[entity.owner_via].target))
            inner = self._scope(parent, scope, f"{alias}_p")
            assert inner is not None  # only "all" has no predicate
            return QueryString(
                f'{alias}."{entity.owner_via}" IN (SELECT {alias}_p.id FROM "{parent.tablename}" {alias}_p WHERE {{}})',
                inner,
            )
        if not owners:
            return QueryString("1 = 0")  # nothing here belongs to anyone
        if scope == "own":
            checks = [QueryString(f'{alias}."{c}" = {{}}', user_id) for c in owners]
        else:
            if self.principal.team_id is None:
                checks = [QueryString(f'{alias}."{c}" = {{}}', user_id) for c in owners]
            else:
                checks = [
                    QueryString(
                        f'{alias}."{c}" IN (SELECT id FROM kith_user WHERE team = {{}})', self.principal.team_id
                    )
                    for c in owners
                ]
        return QueryString("(" + " OR ".join("{}" for _ in checks) + ")", *checks)

    # -- fields ------------------------------------------------------------------------

    def hidden_keys(self, entity: Entity) -> frozenset[str]:
        """Keys (``field_names.field_key``) of the fields this principal may not see:
        those hidden by every role that reads ``entity``, whatever spelling a grant used."""
        if self.unrestricted:
            return frozenset()
        if entity.name not in self._hidden:
            readers = [g for g in self._grants(entity.name) if "read" in g.actions]
            custom = self._custom_fields(entity)
            keys: set[str] | None = None
            for grant in readers:
                resolved = {field_key(entity, name, custom) or name for name in grant.hidden}
                keys = resolved if keys is None else keys & resolved
            self._hidden[entity.name] = frozenset(keys or ())
        return self._hidden[entity.name]

    def is_hidden(self, entity: Entity, name: str) -> bool:
        """Whether the field ``name`` (any spelling) is hidden from this principal."""
        hidden = self.hidden_keys(entity)
        if not hidden:
            return False
        return (field_key(entity, name, self._custom_fields(entity)) or name) in hidden

    def hidden(self, entity: Entity) -> set[str]:
        """Client names (``phones``, ``customFields.leadSource``) of the hidden fields."""
        custom = self._custom_fields(entity)
        return {client_name(entity, key, custom) for key in self.hidden_keys(entity)}

    def _custom_fields(self, entity: Entity) -> list[CustomField]:
        return list(self.kith.query.ctx.custom_fields(entity.name))

    def read_only_keys(self, entity: Entity) -> frozenset[str]:
        """Keys of the fields this principal may not change (read-only or hidden in every
        role that writes ``entity``), whatever spelling a grant used."""
        if self.unrestricted:
            return frozenset()
        writers = [g for g in self._grants(entity.name) if {"create", "update"} & set(g.actions)]
        custom = self._custom_fields(entity)
        keys: set[str] | None = None
        for grant in writers:
            resolved = {field_key(entity, name, custom) or name for name in (*grant.read_only, *grant.hidden)}
            keys = resolved if keys is None else keys & resolved
        return frozenset(keys or ())

    def strip(self, entity: Entity, record: dict[str, Any] | None) -> dict[str, Any] | None:
        """The record without the values of hidden fields (lists become empty)."""
        if record is None:
            return None
        hidden = self.hidden_keys(entity)
        if not hidden:
            return record
        record = dict(record)
        custom = record.get("custom")
        if isinstance(custom, dict):
            record["custom"] = {k: v for k, v in custom.items() if CUSTOM + k not in hidden}
        for key in hidden:
            spec = entity.fields.get(key)
            if spec is None or key not in record:
                continue
            record[key] = [] if isinstance(record[key], list) else None
            if spec.currency_column and spec.currency_column in record:
                record[spec.currency_column] = None
        return record

    def mask_changes(self, entity: Entity, changes: dict[str, Any]) -> dict[str, Any]:
        """Old and new values by field (an audit row, an event's ``changes``) without the
        hidden fields."""
        if not self.hidden_keys(entity):
            return changes
        return {name: value for name, value in changes.items() if not self.is_hidden(entity, name)}

    # -- records -----------------------------------------------------------------------

    async def can_see(self, entity: Entity | None, record_id: int) -> bool:
        if entity is None:
            return True
        try:
            await self.check_record(entity, record_id, "read")
        except ValidationFailed:
            return False
        return True

    async def check_record(self, entity: Entity, record_id: int, action: str) -> None:
        """Refuse ``action`` on a record outside this principal's scope (as not found)."""
        self.require(entity.name, action)
        predicate = self.predicate(entity, action)
        if predicate is None:
            return
        row = await self.kith.db.fetch_one(
            QueryString(f'SELECT 1 AS ok FROM "{entity.tablename}" t WHERE t.id = {{}} AND {{}}', record_id, predicate)
        )
        if row is None:
            raise NotFound(entity.name, record_id)


async def load_grants(kith: Kith, roles: tuple[str, ...]) -> list[dict[str, Grant]]:
    """The grants of each of ``roles``, read from ``kith_role``."""
    if not roles:
        return []
    placeholders = ", ".join("{}" for _ in roles)
    rows = await kith.db.fetch(QueryString(f"SELECT grants FROM kith_role WHERE name IN ({placeholders})", *roles))
    out: list[dict[str, Grant]] = []
    for row in rows:
        grants = json.loads(row["grants"]) if isinstance(row["grants"], str) else row["grants"]
        out.append({entity: Grant.model_validate(grant) for entity, grant in (grants or {}).items()})
    return out


async def permissions_for(kith: Kith, principal: Principal) -> Permissions:
    """What ``principal`` may do: its roles' grants and capabilities, read in one query."""
    if principal.is_admin or not principal.roles:
        return Permissions(kith, principal, [])
    placeholders = ", ".join("{}" for _ in principal.roles)
    rows = await kith.db.fetch(
        QueryString(f"SELECT grants, capabilities FROM kith_role WHERE name IN ({placeholders})", *principal.roles)
    )
    grants: list[dict[str, Grant]] = []
    capabilities: set[str] = set()
    for row in rows:
        raw = json.loads(row["grants"]) if isinstance(row["grants"], str) else row["grants"]
        grants.append({entity: Grant.model_validate(grant) for entity, grant in (raw or {}).items()})
        held = json.loads(row["capabilities"]) if isinstance(row["capabilities"], str) else row["capabilities"]
        capabilities.update(str(item) for item in held or [])
    return Permissions(kith, principal, grants, frozenset(capabilities))
