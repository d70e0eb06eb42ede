"""Testing helpers for plugin authors (and for Kith's own tests).

The pytest plugin (registered automatically when ``kith-crm`` is installed with the
``testing`` extra) provides the fixtures ``kith_engine``, ``kith_database_url``,
``make_kith``, ``kith``, ``gql`` and ``kith_cli``; ``throwaway_plugin`` turns a few hook
functions into a plugin for one test.  See ``docs/testing.md``.
"""

from kith.sdk.testing.admin import (
    disable_plugin,
    enable_plugin,
    erase_personal_data,
    export_personal_data,
    load_demo_data,
    purge_plugin,
    run_scheduled_rule,
    web_client,
)
from kith.sdk.testing.client import GraphQLClient, GraphQLErrors
from kith.sdk.testing.contexts import acting_as, system_context
from kith.sdk.testing.engines import ENV_VAR, engines, fresh_database_url
from kith.sdk.testing.factories import make_activity, make_contact, make_organization, make_user
from kith.sdk.testing.mail import deliver_mail, outgoing_mail
from kith.sdk.testing.smtp import smtp_sink
from kith.sdk.testing.throwaway import throwaway_plugin
from kith.sdk.testing.worker import run_worker_until_idle

__all__ = [
    "ENV_VAR",
    "GraphQLClient",
    "GraphQLErrors",
    "acting_as",
    "deliver_mail",
    "disable_plugin",
    "enable_plugin",
    "engines",
    "erase_personal_data",
    "export_personal_data",
    "fresh_database_url",
    "load_demo_data",
    "make_activity",
    "make_contact",
    "make_organization",
    "make_user",
    "outgoing_mail",
    "purge_plugin",
    "run_scheduled_rule",
    "run_worker_until_idle",
    "smtp_sink",
    "system_context",
    "throwaway_plugin",
    "web_client",
]
