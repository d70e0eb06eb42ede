"""The sales plugin's own GraphQL: converting a lead, and the trained lead model."""

from __future__ import annotations

from typing import Any, Optional

import strawberry
from strawberry.types import Info

from kith.plugins.sales import lead_model, scoring
from kith.plugins.sales.conversion import convert
from kith.sdk import UserError, ValidationFailed, context_from, require_permission


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


@strawberry.type(description="One input of the lead model and its weight (log-odds per unit).")
class LeadModelFactor:
    feature: str
    weight: float


@strawberry.type(description="The lead model as last trained on won and lost converted leads.")
class LeadModel:
    trained_at: Optional[str]
    samples: int
    won: int
    lost: int
    accuracy: Optional[float] = strawberry.field(description="Mean accuracy over cross-validation folds.")
    intercept: float
    factors: list[LeadModelFactor]

    @staticmethod
    def of(model: dict[str, Any]) -> LeadModel:
        pairs = sorted(zip(model["features"], model["coefficients"], strict=True), key=lambda p: -abs(p[1]))
        return LeadModel(
            trained_at=model.get("trained_at"),
            samples=model["samples"],
            won=model["won"],
            lost=model["lost"],
            accuracy=model.get("accuracy"),
            intercept=model["intercept"],
            factors=[LeadModelFactor(feature=f, weight=w) for f, w in pairs],
        )


@strawberry.type
class TrainLeadModelPayload:
    model: Optional[LeadModel]
    rescored: int
    errors: list[UserError]


@strawberry.type
class SalesQueries:
    @strawberry.field(description="The trained lead model, or null before the first training.")
    async def lead_model(self, info: Info) -> Optional[LeadModel]:
        require_permission(info, "lead", "read")
        model = await lead_model.current()
        return None if model is None else LeadModel.of(model)


@strawberry.type
class SalesMutations:
    @strawberry.mutation(
        description="Train the lead model on converted leads whose deals were won or lost, then rescore open leads."
    )
    async def train_lead_model(self, info: Info) -> TrainLeadModelPayload:
        require_permission(info, "lead", "update")  # only who may update leads retrains
        context = context_from(info)
        try:
            model = await lead_model.train(context)
        except ValidationFailed as exc:
            return TrainLeadModelPayload(model=None, rescored=0, errors=[UserError.from_error(e) for e in exc.errors])
        rescored = await scoring.score_leads(context)
        return TrainLeadModelPayload(model=LeadModel.of(model), rescored=rescored, errors=[])

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
        amount = {"amount": deal_amount.amount, "currency": deal_amount.currency} if deal_amount else None
        try:
            result = await convert(context_from(info), int(id), deal_name, amount)
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
