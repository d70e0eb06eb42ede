"""``Kith``: one running instance — settings, database, plugins, entities, custom fields,
the record service and the GraphQL schema — shared by the web app, the CLI and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core import builtin
from kith.core.automations.engine import AutomationEngine
from kith.core.automations.rendering import TemplateRenderer
from kith.core.core_migrations import CORE_MIGRATIONS
from kith.core.customfields.store import CustomFieldStore
from kith.core.entities import Entity, EntityRegistry
from kith.core.errors import KithError
from kith.core.models import SYSTEM_TABLES
from kith.core.plugins.manager import PluginManager, discover
from kith.core.plugins.manifest import Plugin
from kith.core.records.filters import FilterContext
from kith.core.records.query import RecordQuery
from kith.core.records.service import RecordService
from kith.core.security.auth import AuthService
from kith.core.settings import Settings, load_settings
from kith.core.storage.database import Database
from kith.core.storage.meta import get_schema_version, get_versions
from kith.core.storage.migrations import migrate

if TYPE_CHECKING:
    from kith.core.graphql.schema import KithSchema

log = logging.getLogger("kith")
ACTIVITY_KIND = re.compile(r"^[a-z][a-z0-9_]{0,19}$")


class Kith:
    """A running Kith.  Open it with ``await Kith.open(settings)``; close it when done."""

    def __init__(self, settings: Settings, db: Database, plugins: PluginManager) -> None:
        self.settings = settings
        self.db = db
        self.plugins = plugins
        self.entities = EntityRegistry()
        self.custom_fields = CustomFieldStore(db, self.entities, settings.default_phone_region)
        self.records = RecordService(db, self.entities, self.custom_fields, plugins, settings.default_phone_region)
        self.query = RecordQuery(
            FilterContext(self.entities, self.custom_fields.for_entity, db.dialect, settings.default_phone_region),
            secret=lambda: self.secret,
        )
        self.records.kith = self
        self.automations = AutomationEngine(self)
        #: renders rule templates in child processes, under the template_* limits
        self.templates = TemplateRenderer(settings)
        self.auth = AuthService(self)
        self.schema_version = -1
        self._reloading: asyncio.Lock | None = None  # refreshes that found a new version, in turn
        self._schema: KithSchema | None = None
        self._schema_built_for = -2
        self._last_check = 0.0
        #: a ``keep_fresh`` loop checks the versions: requests then check only if it falls behind
        self._kept_fresh = False

    @classmethod
    async def open(
        cls,
        settings: Settings | None = None,
        *,
        plugins: Iterable[Plugin] = (),
        migrate_database: bool = True,
        load: bool = True,
    ) -> Kith:
        """Connect, bring the schema up to date (unless told not to) and load definitions.

        ``plugins`` adds manifests directly (tests register throwaway plugins this way);
        ``load=False`` only connects (for ``kith migrate``, which may find an empty database).
        """
        settings = settings or load_settings()
        db = Database(settings.database_url)
        await db.connect()
        available, errors = discover(settings.plugins, settings.extra_plugins, registered=[builtin.plugin, *plugins])
        kith = cls(settings, db, PluginManager(available, errors))
        try:
            if migrate_database:
                await kith.migrate()
            if load:
                if not migrate_database and "kith_meta" not in await db.table_names():
                    raise KithError(
                        f"{db.display_url} has no Kith tables yet: run `kith migrate` (or `kith init`) first"
                    )
                await kith.reload()
                await kith._ensure_secret()
            if migrate_database:
                await kith.sync_plugin_rules()
        except BaseException:
            await db.close()
            raise
        return kith

    async def close(self) -> None:
        try:
            await self.auth.flush_key_uses(force=True)
        finally:
            await self.templates.close()
            await self.db.close()

    @property
    def secret(self) -> str:
        """The installation's signing secret (settings, or the one kept in the database)."""
        assert self.settings.secret_key, "Kith.open() sets the secret"
        return self.settings.secret_key

    async def _ensure_secret(self) -> None:
        """Without a configured secret, share one through the database: a token issued by one
        API process must verify in another, and erasure hashes must match after a restart."""
        if self.settings.secret_key:
            return
        import secrets

        from kith.core.storage.meta import get_meta

        await self.db.fetch(
            QueryString(
                "INSERT INTO kith_meta (key, value) VALUES ('secret_key', {}) ON CONFLICT (key) DO NOTHING",
                secrets.token_urlsafe(32),
            )
        )
        self.settings.secret_key = await get_meta(self.db, "secret_key")

    # -- state -----------------------------------------------------------------------

    async def enabled_plugins(self) -> list[str]:
        names = {row["name"] for row in await self.db.execute("SELECT name FROM kith_plugin WHERE enabled = {}", True)}
        return [n for n in names if n in self.plugins.available]

    async def migrate(self) -> dict[str, list[str]]:
        """Apply pending steps of the core and of every enabled plugin."""
        ran = {"core": await migrate(self.db, "core", CORE_MIGRATIONS)}
        self.db.bind(SYSTEM_TABLES)
        for name in await self.enabled_plugins():
            plugin = self.plugins.available[name]
            ran[name] = await migrate(self.db, name, plugin.migrations)
        return ran

    async def sync_plugin_rules(self) -> list[str]:
        """Store the rules and roles enabled plugins ship in code (once; admins own them after)."""
        from kith.core.automations.service import sync_plugin_rules
        from kith.core.security.roles import sync_plugin_roles

        await sync_plugin_roles(self)
        return await sync_plugin_rules(self)

    async def reload(self) -> None:
        """Re-read enabled plugins and definitions from the database and rebuild the registry.

        The new schema version is taken on last: a request that builds the GraphQL schema
        while the definitions are still loading builds it for the old version, so it is
        built again once they are loaded (taken first, that half-loaded schema was kept
        as the new version's, until the next change)."""
        version = await get_schema_version(self.db)
        self.plugins.activate(await self.enabled_plugins())
        registry = EntityRegistry()
        declared = self.plugins.call("kith_entities", critical=True)
        # the core's first whatever a plugin's tryfirst says, so no plugin can take its entity names
        for plugin_name, entities in sorted(declared, key=lambda pair: pair[0] != "core"):
            added: list[str] = []
            try:
                for entity in entities:
                    entity.plugin = None if plugin_name == "core" else plugin_name
                    registry.add(entity)
                    added.append(entity.name)
            except Exception as exc:
                for name in added:  # all or nothing: a refused plugin leaves no entity behind
                    registry.remove(name)
                self._refuse_entities(plugin_name, str(exc))
        self._check_reverse_lists(registry)
        self._add_activity_kinds(registry)
        self.entities._entities = registry._entities  # the names resolve again for these
        # entity tables, and the other tables active plugins own (queried with Piccolo)
        owned = [table for name in self.plugins.active for table in self.plugins.available[name].tables]
        self.db.bind([*self.entities.tables(), *owned])
        await self.custom_fields.load()
        self.automations.load_registries()
        self._last_check = time.monotonic()
        self.schema_version = version

    def _refuse_entities(self, plugin_name: str, reason: str) -> None:
        log.error("plugin %s: its entities were refused: %s", plugin_name, reason)
        self.plugins._fail(plugin_name, "kith_entities", reason)
        self.plugins.deactivate_plugin(plugin_name)

    def _check_reverse_lists(self, registry: EntityRegistry) -> None:
        """A declared reverse-list name that is already a field of its target refuses the
        declaring plugin's entities (all of them, as any refused declaration does); an
        automatic name with nowhere to go is a warning."""
        while True:
            problems = registry.reverse_problems()
            fatal = next((p for p in problems if p.fatal), None)
            if fatal is None:
                break
            if fatal.child.plugin is None:
                raise ValueError(fatal.message)
            plugin_name = fatal.child.plugin
            for entity in [e for e in registry if e.plugin == plugin_name]:
                registry.remove(entity.name)
            self._refuse_entities(plugin_name, fatal.message)
        for problem in problems:
            log.warning("%s", problem.message)

    def _add_activity_kinds(self, registry: EntityRegistry) -> None:
        """``kith_activity_kinds``: the plugins' timeline kinds join the activity's choices."""
        activity = registry._entities.get("activity")
        if activity is None:
            return
        kinds = list(activity.choices.get("kind", ()))
        for plugin_name, extra in self.plugins.call("kith_activity_kinds"):
            bad = [k for k in extra if not isinstance(k, str) or not ACTIVITY_KIND.match(k)]
            if bad:
                self.plugins._fail(
                    plugin_name, "kith_activity_kinds", f"{bad}: use lowercase letters, digits and _ (at most 20)"
                )
                continue
            kinds += [k for k in extra if k not in kinds]
        if len(kinds) > len(activity.choices.get("kind", ())):
            registry._entities["activity"] = dataclasses.replace(
                activity, choices={**activity.choices, "kind": tuple(kinds)}
            )

    async def refresh_if_changed(self, *, force: bool = False, auth: bool = False) -> bool:
        """Reload when another process changed fields or plugins; checks at most once per
        ``schema_check_interval`` so a busy server pays one tiny query per interval.

        ``auth``: the caller answers credentials from ``auth.cache``, so also check, at most
        once per ``auth_check_interval``, whether users, credentials or roles changed (and
        forget the cache if so).  Both versions are read in one statement.  While
        ``keep_fresh`` runs, it does the checking and callers only step in if it falls
        behind by a whole interval.  Returns whether the schema was reloaded.
        """
        now = time.monotonic()
        slack = 2.0 if self._kept_fresh else 1.0
        due = force or now - self._last_check >= self.settings.schema_check_interval * slack
        if auth and not due:
            due = now - self.auth.cache.checked_at >= self.settings.auth_check_interval * slack
        if not due:
            return False
        self._last_check = now
        version, auth_version = await get_versions(self.db)
        self.auth.cache.observe(auth_version, now)
        if version != self.schema_version:
            if self._reloading is None:
                self._reloading = asyncio.Lock()
            async with self._reloading:  # one reload at a time; the others wait for it
                if version != self.schema_version:
                    await self.reload()
                    return True
        return False

    async def keep_fresh(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: every ``min(schema_check_interval, auth_check_interval)``
        check the schema and auth versions, and write the API keys' uses that are due —
        off the request path, so requests send only their own statements.  Runs in the
        web app; a failure is logged and retried at the next interval."""
        interval = max(0.05, min(self.settings.schema_check_interval, self.settings.auth_check_interval))
        self._kept_fresh = True
        try:
            while not stop.is_set():
                try:
                    await self.refresh_if_changed(force=True)
                    await self.auth.flush_key_uses()
                except Exception:
                    log.warning("could not check for changes made by other processes", exc_info=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
        finally:
            self._kept_fresh = False

    # -- GraphQL -----------------------------------------------------------------------

    @property
    def schema(self) -> KithSchema:
        """The GraphQL schema for the current entities, fields and plugins (built lazily)."""
        if self._schema is None or self._schema_built_for != self.schema_version:
            from kith.core.graphql.schema import build_schema

            self._schema = build_schema(self)
            self._schema_built_for = self.schema_version
        return self._schema

    def entity(self, name: str) -> Entity:
        return self.entities.get(name)

    async def count(self, entity: str) -> int:
        table = self.entities.get(entity).tablename
        return int(
            await self.db.fetch_value(QueryString(f'SELECT COUNT(*) AS n FROM "{table}" WHERE deleted_at IS NULL')) or 0
        )

    def describe(self) -> dict[str, Any]:
        return {
            "database": self.db.display_url,
            "plugins": self.plugins.active,
            "entities": [e.name for e in self.entities],
        }
