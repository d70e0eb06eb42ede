"""The sales plugin's own GraphQL: converting a lead."""

from __future__ import annotations

from typing import Optional

import strawberry
from strawberry.types import Info

from kith.plugins.sales.conversion import convert
from kith.sdk import UserError, ValidationFailed, kith_from


@strawberry.input
class ConvertAmountInput:
    amount: str
    currency: str


@strawberry.type(description="What a lead became.")
class ConvertLeadPayload:
    contact_id: Optional[strawberry.ID]
    organization_id: Optional[strawberry.ID]
    deal_id: Optional[strawberry.ID]
    moved_activities: int
    errors: list[UserError]


def _id(value: Optional[int]) -> Optional[strawberry.ID]:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type
class SalesMutations:
    @strawberry.mutation(
        description="Turn a qualified lead into a contact and organization (existing ones with its email or "
        "domain are reused) and, with dealName, a deal; all or nothing. Its timeline moves to the contact."
    )
    async def convert_lead(
        self,
        info: Info,
        id: strawberry.ID,
        deal_name: Optional[str] = None,
        deal_amount: Optional[ConvertAmountInput] = None,
    ) -> ConvertLeadPayload:
        kith = kith_from(info)
        amount = {"amount": deal_amount.amount, "currency": deal_amount.currency} if deal_amount else None
        try:
            result = await convert(kith, int(id), info.context.actor, deal_name, amount)
        except ValidationFailed as exc:
            errors = [UserError.from_error(e) for e in exc.errors]
            return ConvertLeadPayload(
                contact_id=None, organization_id=None, deal_id=None, moved_activities=0, errors=errors
            )
        return ConvertLeadPayload(
            contact_id=_id(result["contact"]),
            organization_id=_id(result["organization"]),
            deal_id=_id(result["deal"]),
            moved_activities=int(result["activities"] or 0),
            errors=[],
        )
