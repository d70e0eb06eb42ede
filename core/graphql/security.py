"""GraphQL for signing in and managing keys, users and roles (admins)."""

import datetime
from typing import Any, Optional

import strawberry
from strawberry.types import Info

from kith.core.errors import FieldError, ValidationFailed
from kith.core.graphql.common import UserError
from kith.core.security.auth import AuthFailed
from kith.core.security.throttle import Throttled, client_address


@strawberry.type(description="The signed-in user.")
class Me:
    id: Optional[strawberry.ID]
    email: str
    roles: list[str]
    via: str = strawberry.field(description="How this request authenticated: token, api_key or system.")


@strawberry.type
class LoginPayload:
    token: Optional[str] = strawberry.field(description="Send as 'Authorization: Bearer <token>'.")
    expires_at: Optional[datetime.datetime]
    me: Optional[Me]
    errors: list[UserError]


@strawberry.type(description="An API key (its secret is shown only when created).")
class ApiKeyInfo:
    prefix: str
    name: str
    user_email: str
    created_at: Optional[datetime.datetime]
    expires_at: Optional[datetime.datetime]
    revoked_at: Optional[datetime.datetime]
    last_used_at: Optional[datetime.datetime]


@strawberry.type
class ApiKeyPayload:
    key: Optional[str] = strawberry.field(description="The whole key: shown once, stored only as a hash.")
    prefix: Optional[str]
    errors: list[UserError]


@strawberry.type
class SecurityPayload:
    ok: bool
    errors: list[UserError]


def _me(principal: Any) -> Me:
    user_id = principal.user_id
    return Me(
        id=strawberry.ID(str(user_id)) if user_id else None,
        email=principal.name,
        roles=list(principal.roles),
        via=principal.via,
    )


def _require_admin(info: Info) -> None:
    principal = info.context.principal
    if principal is not None and not principal.is_admin:
        raise ValidationFailed([FieldError(None, "forbidden", "only admins may manage users, roles and keys")])


def _errors(exc: ValidationFailed) -> list[UserError]:
    return [UserError.from_error(e) for e in exc.errors]


async def _user_id(info: Info, email: str) -> int:
    user = await info.context.kith.auth.user_by_email(email)
    if user is None:
        raise ValidationFailed.single("email", "not_found", f"no user with email {email!r}")
    return int(user["id"])


@strawberry.type(description="One audited change or security event.")
class AuditEntry:
    id: strawberry.ID
    entity: str
    record_id: strawberry.ID
    action: str
    actor: Optional[str] = strawberry.field(description="Who; '[admin]' marks admin powers, 'via kith_…' a key.")
    source: str = strawberry.field(description="Through what: graphql, api_key, cli, import, automation, …")
    changes: strawberry.scalars.JSON = strawberry.field(description="Field -> [old, new] (or event details).")
    at: Optional[datetime.datetime]


@strawberry.type
class SecurityQueries:
    @strawberry.field(description="A record's history (needs read on it), or everyone's trail (admins).")
    async def audit_entries(
        self,
        info: Info,
        entity: Optional[str] = None,
        record_id: Optional[strawberry.ID] = None,
        actor: Optional[str] = None,
        first: int = 50,
    ) -> list[AuditEntry]:
        from kith.core.security.audit import entries

        ctx = info.context
        kith = ctx.kith
        if ctx.principal is not None and not ctx.principal.is_admin:
            if entity is None or record_id is None or entity not in kith.entities:
                raise ValidationFailed.single(None, "forbidden", "give entity and recordId: only admins see all")
            await ctx.actor.permissions.check_record(kith.entity(entity), int(record_id), "read")
        viewer = ctx.actor.permissions
        rows = await entries(
            kith,
            entity=entity,
            record_id=int(record_id) if record_id else None,
            actor=actor,
            limit=max(1, min(first, 500)),
        )
        return [
            AuditEntry(
                id=strawberry.ID(str(r["id"])),
                entity=r["entity"],
                record_id=strawberry.ID(str(r["record_id"])),
                action=r["action"],
                actor=r["actor"],
                source=r["source"],
                changes=_visible_changes(kith, viewer, r),
                at=r["at"],
            )
            for r in rows
        ]

    @strawberry.field(description="Who this request is.")
    def me(self, info: Info) -> Optional[Me]:
        principal = info.context.principal
        return _me(principal) if principal is not None else None

    @strawberry.field(description="API keys (admins: all; others: their own).")
    async def api_keys(self, info: Info) -> list[ApiKeyInfo]:
        principal = info.context.principal
        own = None if principal is None or principal.is_admin else principal.user_id
        return [
            ApiKeyInfo(
                prefix=k["prefix"],
                name=k["name"],
                user_email=k["email"],
                created_at=k["created_at"],
                expires_at=k["expires_at"],
                revoked_at=k["revoked_at"],
                last_used_at=k["last_used_at"],
            )
            for k in await info.context.kith.auth.keys(own)
        ]


@strawberry.type
class SecurityMutations:
    @strawberry.mutation(description="Sign in with email and password; the only field open without credentials.")
    async def login(self, info: Info, email: str, password: str) -> LoginPayload:
        kith = info.context.kith
        try:
            token, expires, principal = await kith.auth.login(email, password, client_address(info.context.request))
        except (AuthFailed, Throttled) as exc:
            code = "throttled" if isinstance(exc, Throttled) else "unauthenticated"
            return LoginPayload(
                token=None, expires_at=None, me=None, errors=[UserError(field=None, code=code, message=str(exc))]
            )
        return LoginPayload(token=token, expires_at=expires, me=_me(principal), errors=[])

    @strawberry.mutation(description="Create an API key for a user (admins), shown once.")
    async def create_api_key(
        self, info: Info, email: str, name: str, expires_in_days: Optional[float] = None
    ) -> ApiKeyPayload:
        try:
            _require_admin(info)
            key, prefix = await info.context.kith.auth.create_key(await _user_id(info, email), name, expires_in_days)
        except ValidationFailed as exc:
            return ApiKeyPayload(key=None, prefix=None, errors=_errors(exc))
        return ApiKeyPayload(key=key, prefix=prefix, errors=[])

    @strawberry.mutation(description="Revoke an API key by its prefix (admins).")
    async def revoke_api_key(self, info: Info, prefix: str) -> SecurityPayload:
        return await _admin_change(info, lambda auth: auth.revoke_key(prefix))

    @strawberry.mutation(description="Set a user's password (admins).")
    async def set_password(self, info: Info, email: str, password: str) -> SecurityPayload:
        return await _admin_change(
            info, lambda auth: _on_user(info, email, lambda uid: auth.set_password(uid, password))
        )

    @strawberry.mutation(description="Give a user a role (admins).")
    async def grant_role(self, info: Info, email: str, role: str) -> SecurityPayload:
        return await _admin_change(info, lambda auth: _on_user(info, email, lambda uid: auth.grant_role(uid, role)))


async def _on_user(info: Info, email: str, change: Any) -> None:
    await change(await _user_id(info, email))


async def _admin_change(info: Info, change: Any) -> SecurityPayload:
    """An admin-only change, answered as a payload with field-named errors."""
    try:
        _require_admin(info)
        await change(info.context.kith.auth)
    except ValidationFailed as exc:
        return SecurityPayload(ok=False, errors=_errors(exc))
    return SecurityPayload(ok=True, errors=[])


@strawberry.type(description="A consent a person gave, and whether they withdrew it.")
class ConsentRecord:
    id: strawberry.ID
    purpose: str
    channel: str = strawberry.field(description="How the person may be reached for it: email, sms, phone …")
    source: str
    wording_version: str
    granted_at: Optional[datetime.datetime]
    withdrawn_at: Optional[datetime.datetime]


@strawberry.type(description="One field of one stored row that an erasure changed.")
class ErasedField:
    table: str
    record_id: strawberry.ID
    field: str = strawberry.field(description="The column, or custom.<key> for a custom field.")


@strawberry.type
class PersonalDataPayload:
    document: Optional[strawberry.scalars.JSON] = strawberry.field(description="Everything tied to the person.")
    erased: Optional[strawberry.scalars.JSON] = strawberry.field(description="Rows changed by the erasure, by table.")
    errors: list[UserError]
    scrubbed: list[ErasedField] = strawberry.field(
        default_factory=list, description="Every field the erasure changed: table, record id, field."
    )


@strawberry.type
class PrivacyQueries:
    @strawberry.field(description="A contact's consent records (needs read on the contact).")
    async def consents(self, info: Info, contact_id: strawberry.ID) -> list[ConsentRecord]:
        from kith.core.privacy import service

        ctx = info.context
        if ctx.actor.permissions is not None:
            await ctx.actor.permissions.check_record(ctx.kith.entity("contact"), int(contact_id), "read")
        return [
            ConsentRecord(
                id=strawberry.ID(str(c["id"])),
                purpose=c["purpose"],
                channel=c["channel"],
                source=c["source"],
                wording_version=c["wording_version"],
                granted_at=c["granted_at"],
                withdrawn_at=c["withdrawn_at"],
            )
            for c in await service.consents(ctx.kith, int(contact_id))
        ]


@strawberry.type
class PrivacyMutations:
    @strawberry.mutation(description="Everything tied to a contact, across the core and every plugin (admins).")
    async def export_personal_data(self, info: Info, contact_id: strawberry.ID) -> PersonalDataPayload:
        from kith.core.privacy import service

        try:
            _require_admin(info)
            document = await service.export_person(info.context.kith, int(contact_id))
        except ValidationFailed as exc:
            return PersonalDataPayload(document=None, erased=None, errors=_errors(exc))
        return PersonalDataPayload(document=strawberry.scalars.JSON(document), erased=None, errors=[])

    @strawberry.mutation(description="Anonymise a contact everywhere; cannot be undone (admins).")
    async def erase_personal_data(self, info: Info, contact_id: strawberry.ID) -> PersonalDataPayload:
        from kith.core.privacy import service

        try:
            _require_admin(info)
            report = await service.erase_person(info.context.kith, int(contact_id))
        except ValidationFailed as exc:
            return PersonalDataPayload(document=None, erased=None, errors=_errors(exc))
        scrubbed = [
            ErasedField(table=s.table, record_id=strawberry.ID(str(s.record_id)), field=s.field)
            for s in report.scrubbed
        ]
        erased = strawberry.scalars.JSON(report.counts())
        return PersonalDataPayload(document=None, erased=erased, scrubbed=scrubbed, errors=[])

    @strawberry.mutation(
        description="Record a consent to a purpose by a channel (default email); needs update on the contact."
    )
    async def record_consent(
        self,
        info: Info,
        contact_id: strawberry.ID,
        purpose: str,
        source: str,
        wording_version: str,
        channel: str = "email",
    ) -> SecurityPayload:
        from kith.core.privacy import service

        return await _consent_change(
            info,
            contact_id,
            lambda kith: service.record_consent(kith, int(contact_id), purpose, source, wording_version, channel),
        )

    @strawberry.mutation(
        description="Withdraw a consent to a purpose by a channel (default email); needs update on the contact."
    )
    async def withdraw_consent(
        self, info: Info, contact_id: strawberry.ID, purpose: str, channel: str = "email"
    ) -> SecurityPayload:
        from kith.core.privacy import service

        return await _consent_change(
            info, contact_id, lambda kith: service.withdraw_consent(kith, int(contact_id), purpose, channel)
        )


async def _consent_change(info: Info, contact_id: strawberry.ID, change: Any) -> SecurityPayload:
    """A consent change, allowed to whoever may update the contact."""
    ctx = info.context
    try:
        if ctx.actor.permissions is not None:
            await ctx.actor.permissions.check_record(ctx.kith.entity("contact"), int(contact_id), "update")
        await change(ctx.kith)
    except ValidationFailed as exc:
        return SecurityPayload(ok=False, errors=_errors(exc))
    return SecurityPayload(ok=True, errors=[])


def _visible_changes(kith: Any, viewer: Any, row: dict[str, Any]) -> Any:
    """An audit row's old and new values without the fields hidden from the viewer: a
    record's history must not show what its current state hides."""
    changes = row["changes"]
    if viewer is None or not isinstance(changes, dict) or row["entity"] not in kith.entities:
        return changes
    return viewer.mask_changes(kith.entity(row["entity"]), changes)
