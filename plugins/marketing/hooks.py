"""The marketing plugin's hooks: what it declares to the core, and the lifecycle hooks
that keep segments' members current as contacts and what they are linked to change."""

from __future__ import annotations

from typing import Any

import click

from kith.plugins.marketing import entities as declarations
from kith.plugins.marketing.campaigns import ab_test, control, sender
from kith.plugins.marketing.consent.form_hooks import (  # noqa: F401 (registered by pluggy from this module)
    marketing_form_before_create,
    marketing_form_before_update,
)
from kith.plugins.marketing.consent.hooks import (  # noqa: F401 (registered by pluggy from this module)
    contact_suppressions_after_write,
    suppression_after_write,
    suppression_before_create,
    suppression_before_update,
)
from kith.plugins.marketing.journeys import engine as journey_engine
from kith.plugins.marketing.journeys import lifecycle as journey_lifecycle
from kith.plugins.marketing.segments import engine, following, lifecycle
from kith.sdk import (
    ActionType,
    Change,
    CustomerViewSection,
    Entity,
    Erasure,
    GraphQLTypes,
    InboundMail,
    Job,
    PersonalRecords,
    PluginContext,
    ReportSource,
    RoleDefinition,
    entity_hook,
    hookimpl,
)


@hookimpl
def kith_entities() -> list[Entity]:
    return declarations.entities()


@hookimpl
def kith_report_sources() -> list[ReportSource]:
    from kith.plugins.marketing.campaigns.report_source import SOURCE

    return [SOURCE]


@hookimpl
def kith_roles() -> list[RoleDefinition]:
    return declarations.roles()


@hookimpl
def kith_graphql_queries(types: GraphQLTypes) -> list[type]:
    from kith.plugins.marketing.graphql import campaign_queries, segment_queries

    return [segment_queries(types), campaign_queries(types)]


@hookimpl
def kith_graphql_mutations(types: GraphQLTypes) -> list[type]:
    from kith.plugins.marketing.consent.graphql import consent_mutations
    from kith.plugins.marketing.graphql import campaign_mutations, segment_mutations

    return [segment_mutations(types), campaign_mutations(types), consent_mutations(types)]


@hookimpl
async def kith_demo_data(context: PluginContext, seed: int) -> dict[str, int]:
    from kith.plugins.marketing.demo import load

    return await load(context, seed)


@hookimpl
def kith_cli_commands() -> list[click.Command]:
    from kith.plugins.marketing.cli import marketing_group

    return [marketing_group]


@hookimpl
def kith_routes() -> list[Any]:
    from kith.plugins.marketing.consent.form_posts import ROUTES as FORM_ROUTES
    from kith.plugins.marketing.consent.preferences import ROUTES as PREFERENCE_ROUTES
    from kith.plugins.marketing.consent.routes import ROUTES as CONSENT_ROUTES
    from kith.plugins.marketing.engagement.routes import ROUTES as ENGAGEMENT_ROUTES

    return [*CONSENT_ROUTES, *PREFERENCE_ROUTES, *FORM_ROUTES, *ENGAGEMENT_ROUTES]


@hookimpl
def kith_activity_kinds() -> list[str]:
    """A person opening a campaign mail, clicking in it or replying to it goes on their
    timeline (``email_open``, ``email_click``, ``email_reply``), so segments can ask for it."""
    from kith.plugins.marketing.engagement.record import ACTIVITY_KINDS

    return list(ACTIVITY_KINDS)


@hookimpl
async def kith_personal_data(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    """The person's subscriptions, suppression entries, campaign deliveries and segment memberships."""
    from kith.plugins.marketing import privacy

    return await privacy.personal_records(context, contact)


@hookimpl
async def kith_erase_personal_data(context: PluginContext, contact: dict[str, Any], erasure: Erasure) -> None:
    from kith.plugins.marketing import privacy

    await privacy.erase(context, contact, erasure)


@hookimpl
async def kith_customer_view(context: PluginContext, contact: dict[str, Any]) -> CustomerViewSection | None:
    """The campaign mails sent to the contact and what they did with each."""
    from kith.plugins.marketing.engagement import customer_view

    return await customer_view.section(context, contact)


@hookimpl(tryfirst=True)
async def kith_mail_received(context: PluginContext, message: InboundMail) -> None:
    """A hard bounce or a spam complaint suppresses the address (the message is left
    unclaimed), and marks the campaign delivery it answers (``bounced``, ``complained``,
    a soft bounce counted); a person's reply to a campaign mail is counted as engagement."""
    from kith.plugins.marketing.consent import bounces
    from kith.plugins.marketing.engagement import bounces as delivery_bounces
    from kith.plugins.marketing.engagement import replies

    await bounces.mail_received(context, message)
    await delivery_bounces.mail_received(context, message)
    await replies.mail_received(context, message)


@hookimpl
def kith_automation_actions() -> list[ActionType]:
    from kith.plugins.marketing.journeys import triggers

    return [
        ActionType(
            "enroll_in_journey", triggers.EnrollInJourney, triggers.run_enroll, triggers.describe_enroll,
            "Put the record's contact on a journey (by name).", check=triggers.check_enroll,
        )
    ]  # fmt: skip


@hookimpl
def kith_automation_functions() -> dict[str, Any]:
    """What the shipped rules call: ``marketing.mail_events`` applies a sending
    provider's bounce and complaint webhook (``engagement/provider_events.py``)."""
    from kith.plugins.marketing.engagement import provider_events

    return {provider_events.FUNCTION: provider_events.mail_events}


@hookimpl
def kith_automation_rules() -> list[dict[str, Any]]:
    from kith.plugins.marketing.engagement import provider_events

    return provider_events.rules()


@hookimpl
def kith_jobs() -> list[Job]:
    return [
        Job(lifecycle.REFRESH_JOB, lifecycle.run_refresh, "Bring segments relative to now up to date as time passes"),
        Job(control.START_JOB, control.run_start, "Start a scheduled campaign"),
        Job(ab_test.DECIDE_JOB, ab_test.run_decide, "Choose an A/B test's winner and send it to the rest"),
        Job(sender.SEND_JOB, sender.run_slice, "Send a slice of a campaign's mail"),
        Job(journey_engine.STEP_JOB, journey_engine.run_step, "Take one journey step for one contact"),
    ]


@entity_hook("kith_before_create", "segment")
async def segment_before_create(change: Change) -> None:
    await lifecycle.check(change)


@entity_hook("kith_before_update", "segment")
async def segment_before_update(change: Change) -> None:
    await lifecycle.check(change)


@entity_hook("kith_after_write", "segment")
async def segment_after_write(change: Change) -> None:
    await lifecycle.written(change)


@entity_hook("kith_before_create", "journey")
async def journey_before_create(change: Change) -> None:
    await journey_lifecycle.check(change)


@entity_hook("kith_before_update", "journey")
async def journey_before_update(change: Change) -> None:
    await journey_lifecycle.check(change)


@entity_hook("kith_after_write", "journey")
async def journey_after_write(change: Change) -> None:
    await journey_lifecycle.written(change)


@hookimpl
async def kith_after_write(change: Change) -> None:
    """A write that can change contacts' answers moves them in or out of segments (and
    so into journeys starting there), in the write's own transaction (so a send never
    sees a stale member list), and ends journeys whose goal a contact now meets."""
    within = following.affected(change)
    if within is not None:
        await engine.follow_contacts(change.context, within)
        await journey_lifecycle.contact_changed(change.context, following.direct_contacts(change))
