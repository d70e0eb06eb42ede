"""GraphQL of products and quotes beyond the generated CRUD: the workflow steps and the
HTML document.

Plugin types cannot refer to the generated ``Quote`` type, so a step's payload carries
the quote's id and the facts a client acts on next (number, revision, status); ask
``quote(id:)`` for the rest.  Expected problems come back as ``errors``, like the
generated mutations; nothing is written when there are any.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Optional

import strawberry
from strawberry.types import Info

from kith.plugins.sales.quotes import workflow
from kith.plugins.sales.quotes.document import ContextReader, Row, render_quote
from kith.plugins.sales.settings import sales_settings
from kith.sdk import UserError, ValidationFailed, context_from


@strawberry.type(description="The quote a workflow step left (or made), or why the step was refused.")
class QuoteStepPayload:
    quote_id: Optional[strawberry.ID] = strawberry.field(description="Ask `quote(id:)` for the rest of it.")
    number: Optional[str]
    revision: Optional[int]
    status: Optional[str]
    errors: list[UserError]


async def _step(action: Callable[[], Awaitable[Row]]) -> QuoteStepPayload:
    try:
        quote = await action()
    except ValidationFailed as exc:
        errors = [UserError.from_error(e) for e in exc.errors]
        return QuoteStepPayload(quote_id=None, number=None, revision=None, status=None, errors=errors)
    return QuoteStepPayload(
        quote_id=strawberry.ID(str(quote["id"])),
        number=quote["number"],
        revision=quote["revision"],
        status=quote["status"],
        errors=[],
    )


@strawberry.type
class QuoteQueries:
    @strawberry.field(
        description="The quote as an HTML document (null if it does not exist or you may not read it). "
        "Amounts are shown with the currency's decimals, e.g. 1,234.50 EUR, 150,000 JPY, 2.125 KWD."
    )
    async def quote_document(self, info: Info, id: strawberry.ID) -> Optional[str]:
        try:
            quote_id = int(id)
        except ValueError:
            return None
        return await render_quote(ContextReader(context_from(info)), quote_id, sales_settings(context_from(info)))


@strawberry.type
class QuoteMutations:
    @strawberry.mutation(description="Send a draft quote (it needs at least one line); it can no longer change.")
    async def send_quote(self, info: Info, id: strawberry.ID) -> QuoteStepPayload:
        return await _step(lambda: workflow.send(context_from(info), id))

    @strawberry.mutation(
        description="Accept a sent quote: its deal's amount becomes the quote's total, and any other sent "
        "revision of it is superseded."
    )
    async def accept_quote(self, info: Info, id: strawberry.ID) -> QuoteStepPayload:
        return await _step(lambda: workflow.accept(context_from(info), id))

    @strawberry.mutation(description="Reject a sent quote; a reason is kept as a note on its timeline.")
    async def reject_quote(self, info: Info, id: strawberry.ID, reason: Optional[str] = None) -> QuoteStepPayload:
        return await _step(lambda: workflow.reject(context_from(info), id, reason))

    @strawberry.mutation(
        description="Make a new draft revision of a sent or rejected quote (same number, lines copied); the "
        "payload is the new draft, and the revised quote becomes superseded."
    )
    async def revise_quote(self, info: Info, id: strawberry.ID) -> QuoteStepPayload:
        return await _step(lambda: workflow.revise(context_from(info), id))

    @strawberry.mutation(
        description="Put a draft quote in another currency: every line takes its product's price in it "
        "(refused, naming the lines, where there is none)."
    )
    async def change_quote_currency(self, info: Info, id: strawberry.ID, currency: str) -> QuoteStepPayload:
        return await _step(lambda: workflow.change_currency(context_from(info), id, currency))
