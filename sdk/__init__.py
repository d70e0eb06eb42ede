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

Each name is imported when it is first used (PEP 562 ``__getattr__``), so importing
``kith.sdk``, or one of its modules such as ``kith.sdk.commands``, costs nothing until a
name is needed: ``from kith.sdk import Plugin`` does not import strawberry, and a ``kith``
command does not pay for the GraphQL layer it never uses.  Type checkers read the imports
below; ``_EXPORTS`` says where each name lives at run time, and tests/test_sdk.py checks
that the two agree.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kith.core.automations.actions import ActionContext, ActionType, Params
    from kith.core.automations.engine import DomainEvent
    from kith.core.automations.service import apply_rule
    from kith.core.customfields import FIELD_TYPES, CustomField, CustomFieldSpec, Money
    from kith.core.distributions import Distribution
    from kith.core.distributions import install as install_distribution
    from kith.core.duplicates.rules import DuplicateRule
    from kith.core.entities import Entity, FieldKind, FieldSpec
    from kith.core.errors import FieldError, KithError, NotFound, PluginError, ValidationFailed, VersionConflict
    from kith.core.files import Files, StoredFile
    from kith.core.graphql.common import UserError
    from kith.core.graphql.generated import GraphQLTypes
    from kith.core.hookspecs import hookimpl, hookspec
    from kith.core.imports import CsvProblem, CsvRow, CsvTable, read_csv
    from kith.core.imports.api import ImportOutcome
    from kith.core.imports.runner import ImportRequest
    from kith.core.mail import (
        Bounce,
        BouncedRecipient,
        BulkResult,
        BulkSender,
        Complaint,
        InboundMail,
        Mail,
        MailAddress,
        MailAttachment,
        MailSuppressed,
        OutboundMail,
        RecipientResult,
        SentMail,
    )
    from kith.core.models import Activity, Contact, Organization, RecordColumns, Tag, Team, User
    from kith.core.money import check_currency
    from kith.core.money import exponent as currency_exponent
    from kith.core.money import from_minor as from_minor_units
    from kith.core.money import to_minor as to_minor_units
    from kith.core.plugins.context import PluginContext, PluginDatabase, Records, Selected
    from kith.core.plugins.dispatch import entity_hook
    from kith.core.plugins.jobs import Job, JobRun
    from kith.core.plugins.manifest import Migration, Plugin
    from kith.core.privacy.erasure import Erasure
    from kith.core.privacy.ties import PersonalRecords
    from kith.core.records.change import Actor, Change
    from kith.core.records.filters import parse_duration, uses_relative_time
    from kith.core.reports.result import ReportColumn
    from kith.core.reports.sources import ReportRequest, ReportSource
    from kith.core.security.outbound import OutboundRefused, check_outbound_url, outbound_client
    from kith.core.security.roles import Grant, RoleDefinition
    from kith.core.settings import Settings, load_settings
    from kith.core.validation.contact_data import normalise_domain, normalise_email, normalise_phone, normalise_url
    from kith.sdk.commands import with_context
    from kith.sdk.helpers import (
        CustomerViewSection,
        add_columns,
        add_index,
        context_from,
        fulltext_index,
        initial_migration,
        rate_limit,
        read_records,
        require_permission,
    )

#: name -> "module" (or "module:attribute" when it is exported under another name)
_EXPORTS: dict[str, str] = {
    "ActionContext": "kith.core.automations.actions",
    "ActionType": "kith.core.automations.actions",
    "Activity": "kith.core.models",
    "Actor": "kith.core.records.change",
    "Bounce": "kith.core.mail",
    "BouncedRecipient": "kith.core.mail",
    "BulkResult": "kith.core.mail",
    "BulkSender": "kith.core.mail",
    "Change": "kith.core.records.change",
    "Complaint": "kith.core.mail",
    "Contact": "kith.core.models",
    "CsvProblem": "kith.core.imports",
    "CsvRow": "kith.core.imports",
    "CsvTable": "kith.core.imports",
    "CustomField": "kith.core.customfields",
    "CustomFieldSpec": "kith.core.customfields",
    "CustomerViewSection": "kith.sdk.helpers",
    "Distribution": "kith.core.distributions",
    "DomainEvent": "kith.core.automations.engine",
    "DuplicateRule": "kith.core.duplicates.rules",
    "Entity": "kith.core.entities",
    "Erasure": "kith.core.privacy.erasure",
    "FIELD_TYPES": "kith.core.customfields",
    "FieldError": "kith.core.errors",
    "FieldKind": "kith.core.entities",
    "FieldSpec": "kith.core.entities",
    "Files": "kith.core.files",
    "Grant": "kith.core.security.roles",
    "GraphQLTypes": "kith.core.graphql.generated",
    "InboundMail": "kith.core.mail",
    "Job": "kith.core.plugins.jobs",
    "JobRun": "kith.core.plugins.jobs",
    "KithError": "kith.core.errors",
    "Mail": "kith.core.mail",
    "MailAddress": "kith.core.mail",
    "MailAttachment": "kith.core.mail",
    "MailSuppressed": "kith.core.mail",
    "Migration": "kith.core.plugins.manifest",
    "Money": "kith.core.customfields",
    "NotFound": "kith.core.errors",
    "Organization": "kith.core.models",
    "OutboundMail": "kith.core.mail",
    "RecipientResult": "kith.core.mail",
    "OutboundRefused": "kith.core.security.outbound",
    "Params": "kith.core.automations.actions",
    "PersonalRecords": "kith.core.privacy.ties",
    "Plugin": "kith.core.plugins.manifest",
    "PluginContext": "kith.core.plugins.context",
    "PluginDatabase": "kith.core.plugins.context",
    "PluginError": "kith.core.errors",
    "RecordColumns": "kith.core.models",
    "Records": "kith.core.plugins.context",
    "ReportColumn": "kith.core.reports.result",
    "ReportRequest": "kith.core.reports.sources",
    "ReportSource": "kith.core.reports.sources",
    "RoleDefinition": "kith.core.security.roles",
    "Selected": "kith.core.plugins.context",
    "SentMail": "kith.core.mail",
    "Settings": "kith.core.settings",
    "StoredFile": "kith.core.files",
    "Tag": "kith.core.models",
    "Team": "kith.core.models",
    "User": "kith.core.models",
    "UserError": "kith.core.graphql.common",
    "ValidationFailed": "kith.core.errors",
    "VersionConflict": "kith.core.errors",
    "add_columns": "kith.sdk.helpers",
    "add_index": "kith.sdk.helpers",
    "apply_rule": "kith.core.automations.service",
    "check_currency": "kith.core.money",
    "check_outbound_url": "kith.core.security.outbound",
    "context_from": "kith.sdk.helpers",
    "currency_exponent": "kith.core.money:exponent",
    "entity_hook": "kith.core.plugins.dispatch",
    "from_minor_units": "kith.core.money:from_minor",
    "fulltext_index": "kith.sdk.helpers",
    "hookimpl": "kith.core.hookspecs",
    "hookspec": "kith.core.hookspecs",
    "initial_migration": "kith.sdk.helpers",
    "install_distribution": "kith.core.distributions:install",
    "load_settings": "kith.core.settings",
    "normalise_domain": "kith.core.validation.contact_data",
    "normalise_email": "kith.core.validation.contact_data",
    "normalise_phone": "kith.core.validation.contact_data",
    "normalise_url": "kith.core.validation.contact_data",
    "outbound_client": "kith.core.security.outbound",
    "read_csv": "kith.core.imports",
    "ImportOutcome": "kith.core.imports.api",
    "ImportRequest": "kith.core.imports.runner",
    "rate_limit": "kith.sdk.helpers",
    "read_records": "kith.sdk.helpers",
    "parse_duration": "kith.core.records.filters",
    "require_permission": "kith.sdk.helpers",
    "to_minor_units": "kith.core.money:to_minor",
    "uses_relative_time": "kith.core.records.filters",
    "with_context": "kith.sdk.commands",
}

__all__ = [
    "FIELD_TYPES",
    "ActionContext",
    "ActionType",
    "Activity",
    "Actor",
    "Bounce",
    "BouncedRecipient",
    "BulkResult",
    "BulkSender",
    "Change",
    "Complaint",
    "Contact",
    "CsvProblem",
    "CsvRow",
    "CsvTable",
    "CustomField",
    "CustomFieldSpec",
    "CustomerViewSection",
    "Distribution",
    "DomainEvent",
    "DuplicateRule",
    "Entity",
    "Erasure",
    "FieldError",
    "FieldKind",
    "FieldSpec",
    "Files",
    "Grant",
    "GraphQLTypes",
    "ImportOutcome",
    "ImportRequest",
    "InboundMail",
    "Job",
    "JobRun",
    "KithError",
    "Mail",
    "MailAddress",
    "MailAttachment",
    "MailSuppressed",
    "Migration",
    "Money",
    "NotFound",
    "Organization",
    "OutboundMail",
    "OutboundRefused",
    "Params",
    "PersonalRecords",
    "Plugin",
    "PluginContext",
    "PluginDatabase",
    "PluginError",
    "RecipientResult",
    "RecordColumns",
    "Records",
    "ReportColumn",
    "ReportRequest",
    "ReportSource",
    "RoleDefinition",
    "Selected",
    "SentMail",
    "Settings",
    "StoredFile",
    "Tag",
    "Team",
    "User",
    "UserError",
    "ValidationFailed",
    "VersionConflict",
    "add_columns",
    "add_index",
    "apply_rule",
    "check_currency",
    "check_outbound_url",
    "context_from",
    "currency_exponent",
    "entity_hook",
    "from_minor_units",
    "fulltext_index",
    "hookimpl",
    "hookspec",
    "initial_migration",
    "install_distribution",
    "load_settings",
    "normalise_domain",
    "normalise_email",
    "normalise_phone",
    "normalise_url",
    "outbound_client",
    "parse_duration",
    "rate_limit",
    "read_csv",
    "read_records",
    "require_permission",
    "to_minor_units",
    "uses_relative_time",
    "with_context",
]


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value  # the next use is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
