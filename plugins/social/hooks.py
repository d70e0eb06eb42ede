"""The social plugin's hook implementations: thin, each handing over to the module
that does the work."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kith.plugins.social import entities as declarations
from kith.plugins.social import intake, polling
from kith.plugins.social.publishing import publisher
from kith.sdk import (
    Change,
    CustomerViewSection,
    DomainEvent,
    Entity,
    GraphQLTypes,
    Job,
    PersonalRecords,
    PluginContext,
    ReportSource,
    RoleDefinition,
    ValidationFailed,
    entity_hook,
    hookimpl,
)

if TYPE_CHECKING:
    import click


@hookimpl
def kith_entities() -> list[Entity]:
    return declarations.entities()


@hookimpl
def kith_report_sources() -> list[ReportSource]:
    from kith.plugins.social.report_source import SOURCE

    return [SOURCE]


@hookimpl
def kith_roles() -> list[RoleDefinition]:
    return declarations.roles()


@hookimpl
def kith_graphql_queries(types: GraphQLTypes) -> list[type]:
    from kith.plugins.social.graphql import social_queries

    return [social_queries(types)]


@hookimpl
def kith_graphql_mutations(types: GraphQLTypes) -> list[type]:
    from kith.plugins.social.graphql import social_mutations

    return [social_mutations(types)]


@hookimpl
async def kith_customer_view(context: PluginContext, contact: dict[str, Any]) -> CustomerViewSection | None:
    """The contact's handles and latest mentions."""
    from kith.plugins.social.customer_view import section

    return await section(context, contact)


@hookimpl
def kith_activity_kinds() -> list[str]:
    """A mention by a contact goes on their timeline (``social_mention``)."""
    return [intake.MENTION_ACTIVITY]


@hookimpl
def kith_routes() -> list[Any]:
    from kith.plugins.social.routes import ROUTES

    return list(ROUTES)


@hookimpl
def kith_cli_commands() -> list[click.Command]:
    from kith.plugins.social.cli import social_group

    return [social_group]


@hookimpl
async def kith_demo_data(context: PluginContext, seed: int) -> dict[str, int]:
    """A webhook account (when a credentials key is set), mentions matched, threaded and
    scored, and posts waiting to go out: nothing reaches the network."""
    from kith.plugins.social import demo

    return await demo.load(context, seed)


@hookimpl
async def kith_personal_data(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    """The person's social identities and mentions; replies and posts answering them."""
    from kith.plugins.social import privacy

    return await privacy.personal_records(context, contact)


@hookimpl
def kith_jobs() -> list[Job]:
    return [
        Job(intake.PROCESS_JOB, intake.run_process, "Match, thread, score and file received social mentions"),
        Job(polling.POLL_JOB, polling.run_poll, "Fetch an account's new mentions from its platform"),
        Job(publisher.PUBLISH_JOB, publisher.run_publish, "Publish a post on one account, exactly once"),
    ]


@hookimpl
def kith_automation_events() -> list[DomainEvent]:
    return [
        DomainEvent(intake.RECEIVED_EVENT, "social_mention", "A social mention was received and processed."),
        DomainEvent(
            intake.NEGATIVE_EVENT, "social_mention",
            "A mention scored at or below the negative_threshold setting (its sentimentScore in the payload).",
        ),
        DomainEvent("social.reconnect_needed", "social_account", "An account's credentials stopped working."),
        DomainEvent("social.post_published", "social_post", "A post went out on one of its accounts."),
        DomainEvent("social.post_failed", "social_post", "A post failed on one account (the reason in the payload)."),
        DomainEvent(
            "social.post_needs_attention", "social_post",
            "Whether a post went out on an account could not be settled, or the account needs reconnecting.",
        ),
    ]  # fmt: skip


@entity_hook("kith_before_create", "social_account")
async def account_before_create(change: Change) -> None:
    """An account is made by connecting it (its credentials verified and stored), not by
    a bare create that would leave it without them."""
    if change.actor.source != "plugin":
        raise ValidationFailed.single(
            None, "use_connect", "connect an account with connectSocialAccount (or kith social connect)"
        )
