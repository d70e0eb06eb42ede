"""The ``kith`` command.

Core commands are loaded lazily: ``CORE_COMMANDS`` names each one's module and keeps its
short help, so ``kith --help`` imports no command module (and none of the libraries they
need: piccolo, strawberry, litestar, …), and ``kith fields list`` imports only
``kith.cli.fields_cmd`` and what it uses.  tests/test_cli.py checks that every short help
here is the command's own, so the two cannot drift apart.

Enabled plugins add commands through ``kith_cli_commands``.  Which plugins are enabled is
kept in the database, so they are looked up only when a name is not a core command
(``kith sales …``): ``kith --help`` never opens the database or imports a plugin, and
says that ``kith plugins list`` names the commands of the enabled plugins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from kith.core.runtime import Kith


@dataclass(frozen=True)
class LazyCommand:
    """Where a core command lives (``module:attribute``) and its short help."""

    path: str
    short_help: str
    hidden: bool = False

    def load(self) -> click.Command:
        import importlib

        module_name, _, attribute = self.path.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command), self.path
        return command


#: every core command: the module that defines it and the first sentence of its help
CORE_COMMANDS: dict[str, LazyCommand] = {
    "audit": LazyCommand("kith.cli.audit_cmd:audit_group", "Read the audit trail."),
    "automations": LazyCommand(
        "kith.cli.automations_cmd:automations_group",
        "Automation rules: apply, list, enable, disable, dry-run, run, and the failed list.",
    ),
    "demo": LazyCommand(
        "kith.cli.server_cmd:demo_command", "Fill the database with realistic demo data, then serve it."
    ),
    "duplicates": LazyCommand(
        "kith.cli.duplicates_cmd:duplicates_group",
        "Find duplicate records: scan, list the review queue, dismiss pairs.",
    ),
    "export": LazyCommand(
        "kith.cli.export_cmd:export_command",
        "Export the records of ENTITY (custom fields as customFields.<name> columns).",
    ),
    "fields": LazyCommand(
        "kith.cli.fields_cmd:fields_group",
        "Add, list, index, rename and remove custom fields (the server picks changes up live).",
    ),
    "gdpr": LazyCommand("kith.cli.gdpr_cmd:gdpr_group", "Personal data requests: export, erasure and consent records."),
    "import": LazyCommand(
        "kith.cli.import_cmd:import_command",
        "Import FILE (CSV, or XLSX) into ENTITY: each row validated and written like a record typed in by hand.",
    ),
    "init": LazyCommand("kith.cli.db_cmd:init_command", "Create kith.toml here (if missing) and set the database up."),
    "keys": LazyCommand("kith.cli.users_cmd:keys_group", "API keys: create (shown once), list, revoke."),
    "mail": LazyCommand(
        "kith.cli.mail_cmd:mail_group",
        "Mail in and out: the SMTP/LMTP gateway, the MTA pipe, IMAP fetching, and the log.",
    ),
    "merge": LazyCommand(
        "kith.cli.merge_cmd:merge_group",
        "Merge duplicate records into one, field by field; list merges; undo one.",
    ),
    "migrate": LazyCommand(
        "kith.cli.db_cmd:migrate_command", "Apply pending migrations of the core and every enabled plugin."
    ),
    # hidden, deprecated: says to use `kith plugins`
    "plugin": LazyCommand("kith.cli.plugins_cmd:plugin_alias", "", hidden=True),
    "plugins": LazyCommand(
        "kith.cli.plugins_cmd:plugins_group",
        "Start a new plugin; list, enable, disable and purge installed ones.",
    ),
    "reports": LazyCommand(
        "kith.cli.reports_cmd:reports_group",
        "Saved reports: list, save, run as someone, and schedule delivery by mail.",
    ),
    "roles": LazyCommand(
        "kith.cli.roles_cmd:roles_group", "Roles: list them, show their grants, define them from a file."
    ),
    "schema": LazyCommand("kith.cli.schema_cmd:schema_group", "The GraphQL schema."),
    "serve": LazyCommand("kith.cli.server_cmd:serve_command", "Serve the GraphQL API."),
    "users": LazyCommand(
        "kith.cli.users_cmd:users_group", "CRM users: add, list, set passwords, grant and revoke roles."
    ),
    "webhooks": LazyCommand("kith.cli.automations_cmd:webhooks_group", "Outbound subscriptions and inbound sources."),
    "worker": LazyCommand(
        "kith.cli.automations_cmd:worker_command",
        "Run an automation worker (any number can run against PostgreSQL).",
    ),
}

PLUGIN_COMMANDS_EPILOG = (
    "Enabled plugins add commands of their own (the sales plugin adds `kith sales`); `kith plugins list` names them."
)


class KithGroup(click.Group):
    """The ``kith`` group: core commands imported on first use, then the commands of
    enabled plugins, looked up (through the database) only for a name that is not a
    core command."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The core commands (plugin commands are resolved by name, see ``get_command``)."""
        return sorted({*self.commands, *CORE_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        lazy = CORE_COMMANDS.get(cmd_name)
        if lazy is not None:
            command = self.commands[cmd_name] = lazy.load()
            return command
        return self._plugin_commands(ctx).get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's own layout, from the short help kept in ``CORE_COMMANDS`` (no import)."""
        shown = {name: lazy.short_help for name, lazy in CORE_COMMANDS.items() if not lazy.hidden}
        for name, command in self.commands.items():  # added with add_command (none in Kith itself)
            if name not in CORE_COMMANDS and not command.hidden:
                shown[name] = command.get_short_help_str(10_000)
        limit = formatter.width - 6 - max(len(name) for name in shown)
        rows = [(name, click.Command(name, help=shown[name]).get_short_help_str(limit)) for name in sorted(shown)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        cache = ctx.meta.get("kith.plugin_commands")
        if cache is not None:
            return cache  # type: ignore[no-any-return]
        import asyncio
        import logging

        commands: dict[str, click.Command] = {}
        try:
            commands = asyncio.run(_load_plugin_commands(ctx))
        except Exception as exc:  # a database that cannot be read means no plugin commands
            logging.getLogger("kith.cli").debug("plugin commands unavailable: %s", exc)
        commands = {name: cmd for name, cmd in commands.items() if name not in CORE_COMMANDS}
        ctx.meta["kith.plugin_commands"] = commands
        return commands


async def _load_plugin_commands(ctx: click.Context) -> dict[str, click.Command]:
    from kith.core.storage.database import Database
    from kith.sdk.commands import open_kith, settings_from

    path = Database(settings_from(ctx).database_url).path
    if path is not None and not path.exists():
        return {}  # no database, so no enabled plugin: and a mistyped command creates none
    async with open_kith(ctx, migrate=False) as kith:
        return plugin_commands(kith)


def plugin_commands(kith: Kith) -> dict[str, click.Command]:
    """The commands the enabled plugins of an open Kith add, by name (later ones win)."""
    return {
        command.name: command
        for _plugin, contributed in kith.plugins.call("kith_cli_commands")
        for command in contributed
        if command.name
    }


@click.group(
    cls=KithGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=PLUGIN_COMMANDS_EPILOG,
)
@click.option("--database-url", envvar="KITH_DATABASE_URL", help="Database to use (overrides settings).")
@click.option("-v", "--verbose", is_flag=True, help="Log what Kith does.")
@click.version_option(package_name="kith-crm", prog_name="kith")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, verbose: bool) -> None:
    """Kith: a plugin-based CRM framework.  Every admin task is one command."""
    import logging

    if database_url:
        # plugin commands read settings themselves (load_settings()): make them agree
        os.environ["KITH_DATABASE_URL"] = database_url
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="kith")
