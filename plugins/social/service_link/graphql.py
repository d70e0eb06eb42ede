"""``ticketFromSocialMention``: an agent makes a ticket of a mention the rules left alone
(a question, a complaint the score did not catch), as themselves."""

from typing import Any, Optional

import strawberry
from strawberry.types import Info

from kith.plugins.social.service_link import tickets
from kith.sdk import GraphQLTypes, UserError, ValidationFailed, context_from


def social_ticket_mutations(graphql: GraphQLTypes) -> type:
    @strawberry.type(description="A mention's ticket after ticketFromSocialMention.")
    class SocialMentionTicket:
        errors: list[UserError]
        ticket: Any = strawberry.field(graphql_type=Optional[graphql.node("ticket")], default=None)
        created: bool = strawberry.field(
            default=False, description="False when the mention (or its thread) already had this ticket."
        )

    @strawberry.type
    class SocialTicketMutations:
        @strawberry.mutation(
            description="Make a ticket of a social mention, or give the one it (or its thread) already has. "
            "`team` (by name) routes it through that team's queue; `priority` as on tickets."
        )
        async def ticket_from_social_mention(
            self, info: Info, mention_id: strawberry.ID, team: Optional[str] = None, priority: Optional[str] = None
        ) -> SocialMentionTicket:
            context = context_from(info)
            try:
                visible = str(mention_id).isdigit() and await context.records.get("social_mention", int(mention_id))
                if not visible:
                    raise ValidationFailed.single("mentionId", "not_found", f"no social mention {mention_id}")
                await context.require("ticket", "create")
                params = tickets.CreateSocialTicket(team=team, priority=priority)
                writer = context.as_plugin(keep_permissions=False)
                ticket_id, created = await tickets.make_ticket(writer, int(mention_id), params)
                ticket = await context.records.get("ticket", int(ticket_id or 0))
            except ValidationFailed as exc:
                return SocialMentionTicket(errors=[UserError.from_error(e) for e in exc.errors])
            return SocialMentionTicket(errors=[], ticket=ticket, created=created)

    return SocialTicketMutations
