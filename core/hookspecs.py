"""Every hook a Kith plugin can implement, in one file.

Registration hooks (``kith_entities``, ``kith_graphql_*``, ``kith_cli_commands``,
``kith_routes``) are plain synchronous calls made when Kith starts or a plugin is
enabled.  Runtime hooks (the record lifecycle, ``kith_customer_view``) may be ``async``:
pluggy does not await, so Kith's plugin manager awaits every result in one place.
No hook uses ``firstresult``, so async implementations are always safe.

Each hook is documented in ``docs/hooks.md``; a test fails when one is not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Awaitable

    import click

    from kith.core.automations.actions import ActionType
    from kith.core.automations.engine import DomainEvent
    from kith.core.customfields import CustomFieldSpec
    from kith.core.duplicates import DuplicateRule
    from kith.core.entities import Entity
    from kith.core.graphql.generated import GraphQLTypes
    from kith.core.mail.inbound_mail import InboundMail
    from kith.core.plugins.context import PluginContext
    from kith.core.plugins.jobs import Job
    from kith.core.privacy.erasure import Erasure
    from kith.core.privacy.ties import PersonalRecords
    from kith.core.records.change import Change
    from kith.core.reports.sources import ReportSource
    from kith.core.security.roles import RoleDefinition

hookspec = pluggy.HookspecMarker("kith")
hookimpl = pluggy.HookimplMarker("kith")


# -- registration ---------------------------------------------------------------------


@hookspec
def kith_entities() -> list[Entity]:
    """Return the entities this plugin declares.

    Called when Kith starts and when the plugin is enabled.  Each entity gets a GraphQL
    type, connection, filter and order inputs, create/update/delete/restore mutations,
    validation, audit and custom fields, all derived from the declaration.
    """


@hookspec
def kith_activity_kinds() -> list[str]:
    """Return the timeline activity kinds this plugin adds (``"viewing"``, ``"site_visit"``).

    They join the core's (note, call, email, meeting, task) as values of an activity's
    ``kind``, everywhere: GraphQL, filters, rules, imports.  Lowercase letters, digits and
    underscores, at most 20 characters.  Activities of a kind stay when the plugin is
    disabled; only new ones of that kind are refused until it is enabled again.
    """


@hookspec
def kith_custom_fields() -> list[CustomFieldSpec]:
    """Return the custom fields this plugin adds to entities it does not own
    (``CustomFieldSpec(entity="contact", name="insurance_number", type="text", personal=True)``).

    Enabling the plugin creates those that do not exist yet (one that exists with another
    type refuses the enable, naming it); they are ordinary custom fields from then on —
    typed in GraphQL, filterable, validated, exported and erased.  Disabling keeps them
    and their values; purging the plugin exports the values and removes the fields.
    """


@hookspec
def kith_graphql_queries(types: GraphQLTypes) -> list[type]:
    """Return strawberry ``@strawberry.type`` classes whose fields join the root ``Query``.

    Called each time the schema is built.  ``types`` (optional) holds this schema's
    generated entity types — ``types.node("appointment")``, ``types.list_of(...)``,
    ``types.connection(...)``, ``types.filter(...)`` — so a field can return
    ``Appointment`` records: define the class inside the hook, and read records with
    ``read_records(info, ...)`` so the caller's visibility applies.  The fields disappear
    when the plugin is disabled.
    """


@hookspec
def kith_graphql_mutations(types: GraphQLTypes) -> list[type]:
    """Return strawberry ``@strawberry.type`` classes whose fields join the root ``Mutation``.

    Mutations must write through ``info.context.kith.records`` (the one write path) so
    that validation, hooks, audit and events apply.  ``types`` (optional), as for
    ``kith_graphql_queries``, lets a payload hold generated entity types.
    """


@hookspec
def kith_cli_commands() -> list[click.Command]:
    """Return click commands (or groups) to add to ``kith``.

    Only enabled plugins contribute commands; a command name may not shadow a core one.
    """


@hookspec
def kith_routes() -> list[Any]:
    """Return litestar route handlers to mount in the web app (for example a webhook)."""


# -- record lifecycle (runtime; implementations may be async) ---------------------------


@hookspec
def kith_before_create(change: Change) -> Awaitable[None] | None:
    """Called before a record is inserted, after its values were validated, inside the
    write's transaction (records the hook writes commit or roll back with this one).

    May change ``change.values`` in place, or refuse the write by raising
    ``ValidationFailed`` with field errors.  Nothing has been written yet.
    """


@hookspec
def kith_before_update(change: Change) -> Awaitable[None] | None:
    """Called before a record is updated; ``change.before`` holds the stored record.

    May change ``change.values`` (only the fields being written) or refuse with
    ``ValidationFailed``.  Also called for restores (``change.action == "restore"``).
    """


@hookspec
def kith_before_delete(change: Change) -> Awaitable[None] | None:
    """Called before a record is (soft) deleted; may refuse with ``ValidationFailed``."""


@hookspec
def kith_after_write(change: Change) -> Awaitable[None] | None:
    """Called inside the write's transaction right after the row was written, for every
    create, update, delete and restore (``change.action`` says which; ``change.after`` is
    the stored record, with its id on a create).

    For what needs the new record's id and must commit with it (a ticket's first
    message, the start of its SLA clocks); raising ``ValidationFailed`` rolls the whole
    write back.  An update that changed nothing does not call it.
    """


@hookspec
def kith_after_create(change: Change) -> Awaitable[None] | None:
    """Called after the insert committed; ``change.after`` is the stored record.

    An exception here is logged with the plugin's name and never undoes the write.
    """


@hookspec
def kith_after_update(change: Change) -> Awaitable[None] | None:
    """Called after an update (or restore) committed; ``change.changed`` lists the fields."""


@hookspec
def kith_after_delete(change: Change) -> Awaitable[None] | None:
    """Called after a (soft) delete committed."""


# -- security (registration) -------------------------------------------------------------


@hookspec
def kith_roles() -> list[RoleDefinition]:
    """Return roles this plugin ships, or grants it adds to existing roles.

    A role that does not exist yet is created; for one that exists (a built-in such as
    ``sales_rep``), grants for entities it does not mention yet are added — so a plugin
    says what its own entities need for each built-in role, and never overrides an
    admin's choices.  Applied when the plugin is enabled.
    """


# -- duplicates (registration) ------------------------------------------------------------


@hookspec
def kith_duplicate_rules() -> list[DuplicateRule]:
    """Return duplicate rules (``DuplicateRule``) for this plugin's entities or the core's.

    Each says when two records of an entity may be the same: ``exact`` on a normalised
    value (email, phone, domain, text) or ``fuzzy`` on names, with a threshold and a
    weight.  ``kith duplicates scan`` and ``find_duplicates_of`` use them with the core's;
    a rule named like an existing one replaces it.  Only enabled plugins' rules apply.
    """


# -- automations (registration) --------------------------------------------------------


@hookspec
def kith_automation_actions() -> list[ActionType]:
    """Return the automation actions this plugin contributes.

    Each ``ActionType`` has a name, a pydantic ``Params`` model (validated when a rule is
    saved, so an unknown or wrong parameter is refused by name), an async ``run`` and a
    ``describe`` for dry runs.  Actions that write through ``ctx.kith.records`` keep
    ``transactional=True`` so their effect commits with their write (idempotent retries).
    """


@hookspec
def kith_automation_events() -> list[DomainEvent]:
    """Return the domain events this plugin emits (``deal.stage_changed``, …).

    Rules can trigger on them; the plugin emits them with
    ``await kith.automations.emit(name, entity, record_id, payload)``.
    """


@hookspec
def kith_automation_functions() -> dict[str, Any]:
    """Return Python functions rules may call (``call_function``), by name.

    Each is called as ``fn(ctx, **args)`` (sync or async) with the ``ActionContext``.
    """


@hookspec
def kith_automation_rules() -> list[dict[str, Any]]:
    """Return rules this plugin ships, as definitions (the YAML structure as dicts).

    They are stored when the plugin is enabled, unless a rule of that name exists;
    ``enabled`` in the definition says whether they start enabled.
    """


@hookspec
def kith_jobs() -> list[Job]:
    """Return the jobs this plugin schedules for later (``Job(name, handler)``).

    Called at start and when a plugin is enabled.  The plugin queues runs with
    ``await context.schedule(name, key=..., at=...)``; a worker calls
    ``await handler(context, run)`` as the system once ``at`` has come, retrying a
    handler that raises.  Names are unique across plugins (prefix them with yours).
    """


@hookspec
def kith_report_sources() -> list[ReportSource]:
    """Return the figures this plugin offers as report sources (``ReportSource``).

    Called when a report of kind ``source`` is saved or run, and by ``kith reports
    sources``.  Each source has a ``name`` (unique across plugins; prefix it with
    yours: ``sales.forecast``), a ``title``, its ``columns`` and ``async def run(context,
    request)`` returning rows (dicts keyed by column name).  ``context`` reads as the
    person running the report, so figures computed through ``context.records`` cover
    only what they may see; ``request`` carries the report's ``params``, the dashboard's
    date range and filter, and the time zone.
    """


# -- personal data (runtime; implementations may be async) -------------------------------


@hookspec
def kith_personal_data(
    context: PluginContext, contact: dict[str, Any]
) -> Awaitable[PersonalRecords | None] | PersonalRecords | None:
    """Say which of this plugin's records are tied to a person: a ``PersonalRecords``
    with ids by entity, or ``None`` when it holds nothing about them.

    ``erase``: the person's own records (a lead who became this contact, their deal
    roles) — their ``personal`` fields are cleared.  ``scrub``: records shared with
    others that involve them (their deals, those deals' quotes) — only the person's
    values are cut out of their text.  The core exports both kinds in full, with their
    audit history, and on erasure also scrubs their timelines, audit rows, queued
    events, automation runs and webhook deliveries, and reports every change.  Called
    by ``kith gdpr export|erase`` and the ``exportPersonalData``/``erasePersonalData``
    mutations; during an erasure, inside its transaction (raising refuses it).
    """


@hookspec
def kith_erase_personal_data(
    context: PluginContext, contact: dict[str, Any], erasure: Erasure
) -> Awaitable[None] | None:
    """Erase what this plugin keeps about a person outside its entities' records (a
    table of its own, a cache, an outside service); most plugins need not implement it.

    Called inside the erasure's transaction, after the core erased the records named by
    ``kith_personal_data``.  ``erasure.scrub_rows(table, ids, text=..., json_columns=...)``
    and ``erasure.clear_rows(table, ids, columns)`` change rows and report each field;
    ``erasure.values`` / ``scrub_text`` / ``scrub_json`` for anything else, then
    ``erasure.report(table, record_id, field)``.  Raising refuses the whole erasure.
    """


# -- demo data ---------------------------------------------------------------------


@hookspec
def kith_demo_data(context: PluginContext, seed: int) -> Awaitable[dict[str, int]] | dict[str, int]:
    """Add this plugin's demo records to ``kith demo``; return how many of each you made.

    Called once, right after the core's demo data (teams, users with roles,
    organizations, contacts and their timelines) was created on an empty database, so
    the plugin can build on it.  Use ``seed`` for repeatable randomness and write
    through ``context.records`` (it acts as the system, with source ``"demo"`` in the
    audit).  Raising stops the demo with the plugin's name in the message.
    """


# -- read side -----------------------------------------------------------------------


@hookspec
def kith_customer_view(context: PluginContext, contact: dict[str, Any]) -> Awaitable[Any] | Any:
    """Return what this plugin relates to a contact, for the single customer view.

    Return a ``CustomerViewSection`` (title, JSON-ready items and the ``entity`` they are)
    or ``None``.  Sections of an entity the viewer may not read are dropped by the core;
    ``context.records`` reads as the viewer, so the items are the ones they may see.
    Called once per ``customerView`` query, so fetch with one query, not one per item.
    """


# -- mail (runtime; implementations may be async) -------------------------------------


@hookspec
def kith_mail_received(context: PluginContext, message: InboundMail) -> Awaitable[str | None] | str | None:
    """Offered every inbound message (``InboundMail``), once it is stored; return a claim
    naming what it became (``"ticket:42"``) to take it, or ``None`` to leave it.

    Called by the worker, one implementation at a time in pluggy's order, until one
    claims the message: later ones are not offered it (``tryfirst=True`` to see bounces
    before a catch-all, ``trylast=True`` for a catch-all).  All of it runs in one write
    transaction, each implementation in a savepoint of its own: what one writes (records,
    ``context.files``, ``context.mail.send``) commits with the recorded claim, and one that
    raises is logged by name, its writes undone, and the next one is offered the message.
    If none claimed it and one raised, the message is offered again later (with backoff),
    then dead-lettered.  ``message.attachments`` are in the file store already
    (``file_id``).  ``context`` acts as the system (``mail``).  See docs/mail.md.
    """
