"""``kith.sdk``: everything a plugin needs, and nothing it should not touch.

Built-in plugins import only from here; so do third-party ones.  Piccolo tables and
columns, strawberry types and click commands are used directly from those libraries;
the core tables (``Contact``, ``Organization``, ``User``, …) are exported here so a
plugin's table can point at them with a ``ForeignKey``.

A minimal plugin::

    from piccolo.columns import Varchar
    from piccolo.table import Table
    from kith.sdk import Entity, Plugin, RecordColumns, hookimpl, initial_migration

    class Property(RecordColumns, Table, tablename="property"):
        address = Varchar(length=200)

    @hookimpl
    def kith_entities():
        return [Entity("property", Property, required=("address",))]

    plugin = Plugin(name="realestate", version="1.0.0", hooks=__name__,
                    tables=[Property], migrations=[initial_migration(Property)])
"""

from kith.core.automations.actions import ActionContext, ActionType, Params
from kith.core.automations.engine import DomainEvent
from kith.core.automations.service import apply_rule
from kith.core.customfields import FIELD_TYPES, CustomField, CustomFieldSpec, Money
from kith.core.distributions import Distribution
from kith.core.distributions import install as install_distribution
from kith.core.entities import Entity, FieldKind, FieldSpec
from kith.core.errors import FieldError, KithError, NotFound, PluginError, ValidationFailed, VersionConflict
from kith.core.graphql.common import UserError
from kith.core.graphql.generated import GraphQLTypes
from kith.core.hookspecs import hookimpl
from kith.core.imports import CsvProblem, CsvRow, CsvTable, read_csv
from kith.core.models import Activity, Contact, Organization, RecordColumns, Tag, Team, User
from kith.core.money import check_currency
from kith.core.money import exponent as currency_exponent
from kith.core.money import from_minor as from_minor_units
from kith.core.money import to_minor as to_minor_units
from kith.core.plugins.context import PluginContext, PluginDatabase, Records
from kith.core.plugins.dispatch import entity_hook
from kith.core.plugins.manifest import Migration, Plugin
from kith.core.privacy.erasure import Erasure
from kith.core.privacy.ties import PersonalRecords
from kith.core.records.change import Actor, Change
from kith.core.security.outbound import OutboundRefused, check_outbound_url, outbound_client
from kith.core.security.roles import Grant, RoleDefinition
from kith.core.settings import Settings, load_settings
from kith.core.validation.contact_data import normalise_domain, normalise_email, normalise_phone, normalise_url
from kith.sdk.commands import with_context
from kith.sdk.helpers import (
    CustomerViewSection,
    add_columns,
    context_from,
    initial_migration,
    read_records,
    require_permission,
)

__all__ = [
    "FIELD_TYPES",
    "ActionContext",
    "ActionType",
    "Activity",
    "Actor",
    "Change",
    "Contact",
    "CsvProblem",
    "CsvRow",
    "CsvTable",
    "CustomField",
    "CustomFieldSpec",
    "CustomerViewSection",
    "Distribution",
    "DomainEvent",
    "Entity",
    "Erasure",
    "FieldError",
    "FieldKind",
    "FieldSpec",
    "Grant",
    "GraphQLTypes",
    "KithError",
    "Migration",
    "Money",
    "NotFound",
    "Organization",
    "OutboundRefused",
    "Params",
    "PersonalRecords",
    "Plugin",
    "PluginContext",
    "PluginDatabase",
    "PluginError",
    "RecordColumns",
    "Records",
    "RoleDefinition",
    "Settings",
    "Tag",
    "Team",
    "User",
    "UserError",
    "ValidationFailed",
    "VersionConflict",
    "add_columns",
    "apply_rule",
    "check_currency",
    "check_outbound_url",
    "context_from",
    "currency_exponent",
    "entity_hook",
    "from_minor_units",
    "hookimpl",
    "initial_migration",
    "install_distribution",
    "load_settings",
    "normalise_domain",
    "normalise_email",
    "normalise_phone",
    "normalise_url",
    "outbound_client",
    "read_csv",
    "read_records",
    "require_permission",
    "to_minor_units",
    "with_context",
]
