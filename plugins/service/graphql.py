"""The service plugin's own GraphQL: merging and splitting tickets, and routing a
team's queue by hand.  Tickets, messages and the set-up have the generated API."""

import datetime
from typing import Any, Optional

import strawberry
from strawberry.types import Info

from kith.plugins.service import knowledge, merging, routing, tools
from kith.plugins.service.models import SlaStatus
from kith.sdk import GraphQLTypes, UserError, ValidationFailed, context_from, require_permission


def mutations(graphql: GraphQLTypes) -> type:
    """The mutation class, made per schema: its payloads carry the generated ``Ticket``."""

    @strawberry.type(description="The ticket a merge, unmerge or split left, and what went wrong.")
    class TicketChangePayload:
        errors: list[UserError]
        ticket: Any = strawberry.field(graphql_type=Optional[graphql.node("ticket")], default=None)

    @strawberry.type(description="One ticket routing gave to an agent.")
    class TicketAssignment:
        ticket_id: strawberry.ID
        number: str
        agent_id: strawberry.ID

    @strawberry.type
    class RouteTicketsPayload:
        assignments: list[TicketAssignment]
        errors: list[UserError]

    @strawberry.type
    class RenderedReplyPayload:
        text: Optional[str]
        errors: list[UserError]

    async def _change(info: Info, work: Any) -> TicketChangePayload:
        try:
            record = await work(context_from(info))
        except ValidationFailed as exc:
            return TicketChangePayload(errors=[UserError.from_error(e) for e in exc.errors])
        return TicketChangePayload(ticket=record, errors=[])

    @strawberry.type
    class ServiceMutations:
        @strawberry.mutation(
            description="Merge duplicate tickets into one: each is closed and points at the survivor, its "
            "messages are copied there, and later mail to it lands there. Undo with unmergeTicket."
        )
        async def merge_tickets(
            self, info: Info, source_ids: list[strawberry.ID], target_id: strawberry.ID
        ) -> TicketChangePayload:
            return await _change(info, lambda c: merging.merge(c, [int(i) for i in source_ids], int(target_id)))

        @strawberry.mutation(description="Undo a merge: the copies leave the survivor and the ticket is open again.")
        async def unmerge_ticket(self, info: Info, id: strawberry.ID) -> TicketChangePayload:
            return await _change(info, lambda c: merging.unmerge(c, int(id)))

        @strawberry.mutation(description="Move some messages of a ticket to a new ticket for the same requester.")
        async def split_ticket(
            self, info: Info, id: strawberry.ID, message_ids: list[strawberry.ID], subject: Optional[str] = None
        ) -> TicketChangePayload:
            return await _change(info, lambda c: merging.split(c, int(id), [int(m) for m in message_ids], subject))

        @strawberry.mutation(
            description="Apply a macro to a ticket: its steps (status, priority, assignment, tags, a templated "
            "reply or note) run as you, all or nothing."
        )
        async def apply_macro(
            self, info: Info, macro_id: strawberry.ID, ticket_id: strawberry.ID
        ) -> TicketChangePayload:
            return await _change(info, lambda c: tools.apply_macro(c, int(macro_id), int(ticket_id)))

        @strawberry.mutation(
            description="A canned reply's text for a ticket, its template filled in (nothing is sent)."
        )
        async def render_canned_reply(
            self, info: Info, id: strawberry.ID, ticket_id: strawberry.ID
        ) -> RenderedReplyPayload:
            try:
                text = await tools.render_canned(context_from(info), int(id), int(ticket_id))
            except ValidationFailed as exc:
                return RenderedReplyPayload(text=None, errors=[UserError.from_error(e) for e in exc.errors])
            return RenderedReplyPayload(text=text, errors=[])

        @strawberry.mutation(description="Hand a team's unassigned tickets to its available agents now.")
        async def route_tickets(self, info: Info, team_id: strawberry.ID) -> RouteTicketsPayload:
            require_permission(info, "team_queue", "update")
            made = await routing.route_team(context_from(info), int(team_id))
            return RouteTicketsPayload(
                assignments=[
                    TicketAssignment(
                        ticket_id=strawberry.ID(str(a.ticket)), number=a.number, agent_id=strawberry.ID(str(a.agent))
                    )
                    for a in made
                ],
                errors=[],
            )

    return ServiceMutations


@strawberry.type(description="One SLA target of a record, as last computed (times in UTC).")
class SlaTarget:
    policy: str
    target: str = strawberry.field(description="first_response, next_response or resolution")
    state: str = strawberry.field(description="running, paused, met, breached or not_due")
    deadline: Optional[datetime.datetime]
    warning_at: Optional[datetime.datetime]
    elapsed_seconds: int = strawberry.field(description="Working seconds used.")
    paused_seconds: int
    met_at: Optional[datetime.datetime]
    breached_at: Optional[datetime.datetime]


@strawberry.type
class ServiceQueries:
    @strawberry.field(
        description="The SLA targets of any record with a policy (a ticket, a lead, a deal), if you may read it."
    )
    async def sla_targets(self, info: Info, entity: str, id: strawberry.ID) -> list[SlaTarget]:
        context = context_from(info)
        if entity not in context.entity_names():
            raise ValidationFailed.single("entity", "invalid", f"no entity named {entity!r}")
        if await context.records.get(entity, int(id)) is None:
            return []  # not there, or not theirs to see: the same answer
        rows = await SlaStatus.select().where((SlaStatus.entity == entity) & (SlaStatus.record_id == int(id)))
        order = {"first_response": 0, "next_response": 1, "resolution": 2}
        return [
            SlaTarget(
                policy=row["policy"],
                target=row["target"],
                state=row["state"],
                deadline=row["deadline"],
                warning_at=row["warning_at"],
                elapsed_seconds=int(row["elapsed_seconds"]),
                paused_seconds=int(row["paused_seconds"]),
                met_at=row["met_at"],
                breached_at=row["breached_at"],
            )
            for row in sorted(rows, key=lambda r: order.get(r["target"], 9))
        ]


def knowledge_queries(graphql: GraphQLTypes) -> type:
    """Searching the knowledge base, made per schema: it returns the generated ``KbArticle``."""

    @strawberry.type
    class KnowledgeQueries:
        @strawberry.field(
            graphql_type=graphql.list_of("kb_article"),
            description="Articles matching all the words of text, best first (PostgreSQL full-text search "
            "or SQLite FTS5); drafts too, for who may read them.",
        )
        async def search_articles(self, info: Info, text: str, locale: Optional[str] = None, first: int = 10) -> Any:
            require_permission(info, "kb_article", "read")
            return await knowledge.search(context_from(info), text, locale=locale, first=min(first, 100))

        @strawberry.field(
            graphql_type=graphql.list_of("kb_article"),
            description="Published articles that may answer a ticket, from its subject and the customer's words.",
        )
        async def suggested_articles(self, info: Info, ticket_id: strawberry.ID, first: int = 5) -> Any:
            require_permission(info, "kb_article", "read")
            try:
                return await knowledge.suggest(context_from(info), int(ticket_id), min(first, 20))
            except ValidationFailed:
                return []

    return KnowledgeQueries
