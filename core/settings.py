"""Settings, read once from ``KITH_*`` environment variables and an optional ``kith.toml``.

Environment variables win over the file so that a deployment can override one value
without editing the file that ships with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from kith.core.errors import KithError

DEFAULT_DATABASE_URL = "sqlite:///kith.sqlite3"
M = TypeVar("M", bound=BaseModel)


class Settings(BaseSettings):
    """Everything an admin can configure.  Every field maps to ``KITH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="KITH_", toml_file="kith.toml", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///path/to/file.sqlite3 or postgresql://user@host:port/db",
    )
    plugins: Annotated[list[str] | None, NoDecode] = Field(
        None,
        description="Allow-list of plugin names that may be discovered; None allows all.",
    )
    extra_plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Plugins given as 'module:attribute' import paths, for development "
        "and tests, in addition to the 'kith.plugins' entry points.",
    )
    extra_distributions: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Distributions given as 'module:attribute' import paths, for development "
        "and tests, in addition to the 'kith.distributions' entry points.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(
        None,
        description="The address people reach Kith at (https://crm.acme.example), for links in mail; "
        "unset: http://<host>:<port>.",
    )
    mode: Literal["development", "production"] = "development"
    secret_key: str | None = Field(
        None,
        description="Signs tokens and keys erasure hashes. Unset: one is generated and kept in the database, "
        "so every process of one installation shares it.",
    )
    token_ttl_seconds: int = Field(12 * 3600, ge=60, description="How long a login token is valid.")
    login_max_failures: int = Field(
        5, ge=1, description="Wrong passwords for one account from one address before sign-in is locked."
    )
    login_failure_window_seconds: float = Field(
        900.0, gt=0, description="How long a failed sign-in is remembered after the last one (or the lock's end)."
    )
    login_lockout_seconds: float = Field(
        60.0, gt=0, description="The first lock; each further failure doubles it, up to login_lockout_max_seconds."
    )
    login_lockout_max_seconds: float = Field(3600.0, gt=0, description="The longest sign-in lock.")
    login_max_failures_per_address: int = Field(
        100, ge=1, description="Wrong passwords from one address, whatever the accounts, before it is locked."
    )
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts and networks (CIDR) outbound requests (webhooks) may reach although they are "
        "internal, e.g. 127.0.0.1,10.0.0.0/8,hooks.internal.",
    )
    default_phone_region: str = Field(
        "US", description="Region used to read phone numbers written without a country code."
    )
    max_page_size: int = Field(100, ge=1, le=1000)
    max_query_depth: int = Field(10, ge=2)
    max_query_tokens: int = Field(2000, ge=50)
    max_query_aliases: int = Field(30, ge=1)
    max_query_cost: int = Field(50_000, ge=10, description="Estimated items an operation may touch.")
    compiled_reads: bool = Field(
        True,
        description="Answer reads of generated fields with one SQL statement that builds the JSON "
        "(off: every read goes through the general executor).",
    )
    compiled_writes: bool = Field(
        True,
        description="Answer an admin's generated create and update mutations without the general executor "
        "(off: every mutation goes through it).",
    )
    rate_limit_per_minute: int = Field(
        1200, ge=0, description="Requests per minute per API key, session or address (0: no limit)."
    )
    rate_limit_store: str = Field(
        "memory",
        description="Where request counts are kept: 'memory' (each process counts its own) or a Redis URL "
        "(redis://host:6379/0, rediss://…, unix://…) that every API process shares.",
    )
    auth_check_interval: float = Field(
        1.0,
        gt=0,
        description="Seconds between checks for keys, passwords, users or roles changed by another process; "
        "a cached credential is refused at most about twice this long after such a change.",
    )
    auth_cache_size: int = Field(
        10_000,
        ge=0,
        description="Credentials (API keys, tokens) whose principal and permissions each API process keeps "
        "in memory, least recently used dropped first; 0 checks the database on every request.",
    )
    api_key_last_used_interval: float = Field(
        60.0,
        gt=0,
        description="Seconds between writes of one API key's last use (collected in memory, written in one "
        "statement per batch).",
    )
    automation_max_depth: int = Field(
        5, ge=1, description="Automation steps an event may be away from a person's change before rules stop."
    )
    automation_max_attempts: int = Field(6, ge=1, description="Attempts of a failing automation before dead-letter.")
    automation_retry_base_seconds: float = Field(10.0, gt=0, description="First retry delay; doubles each attempt.")
    automation_retry_max_seconds: float = Field(3600.0, gt=0)
    worker_in_serve: bool = Field(True, description="Run the automation worker inside `kith serve`.")
    worker_batch: int | None = Field(
        None,
        ge=1,
        le=5000,
        description=(
            "Events a worker claims at once; those the batch path takes are handled in one transaction. "
            "Unset: 1000 on PostgreSQL, 200 on SQLite (where a batch holds the database's write lock)."
        ),
    )
    worker_poll_seconds: float = Field(0.5, gt=0)
    worker_gather_seconds: float = Field(
        0.05,
        ge=0,
        description="After a batch that was not full, how long a worker lets events gather before it claims "
        "again (at most worker_poll_seconds; 0: at once).",
    )
    worker_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="How long a claimed event is reserved; a live worker renews it every third of it, so a "
        "dead worker's events are taken by another after at most this long.",
    )
    schedule_check_seconds: float = Field(15.0, gt=0)
    template_timeout_seconds: float = Field(
        2.0, gt=0, description="Longest a rule's templates may render; then the render is stopped and the run fails."
    )
    template_max_output_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="Most output the templates of one action may produce, and the largest value "
        "one template operation may build.",
    )
    template_max_memory_mb: int = Field(
        256, ge=64, description="Memory (address space) of each template process; a template needing more fails."
    )
    template_processes: int = Field(2, ge=1, le=32, description="Template processes rendering at once, per process.")
    schema_check_interval: float = Field(
        1.0,
        description="Seconds between checks for a schema change made by another process.",
    )
    # -- mail (docs/mail.md) ------------------------------------------------------------
    mail_from: str | None = Field(
        None,
        description="The From address of mail Kith sends when the sender names none, e.g. 'Acme <crm@acme.example>'.",
    )
    mail_domain: str | None = Field(
        None, description="The domain of the Message-IDs Kith makes; unset: mail_from's domain, else this host's name."
    )
    mail_max_size: int = Field(
        25 * 1024 * 1024, ge=1024, description="The largest inbound message accepted, in bytes (gateway and pipe)."
    )
    mail_gateway_host: str = Field("127.0.0.1", description="Where `kith mail gateway` listens.")
    mail_gateway_port: int = Field(2525, ge=1, le=65535, description="The port `kith mail gateway` listens on.")
    mail_gateway_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Recipient domains the gateway accepts (comma-separated); empty: every recipient.",
    )
    mail_reply_languages: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["en", "de", "fr", "es", "nl", "it"],
        description="Languages whose mail clients' quote headers ('On ... wrote:', 'Am ... schrieb') end "
        "the new text of a reply.",
    )
    mail_auto_reply_per_address: int = Field(
        10, ge=1, description="Automatic mails to one address within mail_auto_reply_window_seconds."
    )
    mail_auto_reply_per_loop_key: int = Field(
        5, ge=1, description="Automatic mails for one loop key (a ticket) within mail_auto_reply_window_seconds."
    )
    mail_auto_reply_window_seconds: float = Field(
        86400.0, gt=0, description="The window the automatic-mail caps count over."
    )
    smtp_host: str | None = Field(None, description="The SMTP server outgoing mail is delivered through.")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls (upgrade after connecting), tls (TLS from the start, port 465) or none."
    )
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    smtp_max_attempts: int = Field(
        10, ge=1, description="Delivery attempts of one mail before it is marked failed (and dead-lettered)."
    )
    dkim_domain: str | None = Field(
        None,
        description="The domain (d=) outgoing mail is DKIM-signed as; with dkim_selector and a key, all mail is signed",
    )
    dkim_selector: str | None = Field(
        None, description="The DKIM selector: the public key is the TXT record <selector>._domainkey.<dkim_domain>."
    )
    dkim_private_key: str | None = Field(
        None, description="The RSA private key that signs, as PEM text (or use dkim_private_key_file)."
    )
    dkim_private_key_file: str | None = Field(None, description="A file holding the DKIM private key as PEM.")
    imap_host: str | None = Field(None, description="The IMAP server `kith mail fetch` reads a mailbox from.")
    imap_port: int | None = Field(None, ge=1, le=65535, description="Unset: 993 with tls, else 143.")
    imap_username: str | None = None
    imap_password: str | None = None
    imap_folder: str = "INBOX"
    imap_security: Literal["tls", "starttls", "none"] = "tls"
    imap_move_to: str | None = Field(
        None, description="A folder to move each stored message to; unset: it is marked seen and stays."
    )
    imap_timeout_seconds: float = Field(30.0, gt=0)

    @field_validator(
        "plugins",
        "extra_plugins",
        "extra_distributions",
        "outbound_allow",
        "mail_gateway_domains",
        "mail_reply_languages",
        mode="before",
    )
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("rate_limit_store")
    @classmethod
    def _check_rate_limit_store(cls, value: str) -> str:
        value = value.strip()
        if value != "memory" and value.split("://", 1)[0] not in ("redis", "rediss", "unix"):
            raise ValueError("use 'memory' or a Redis URL (redis://host:6379/0, rediss://…, unix://…)")
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _check_outbound_allow(cls, value: list[str]) -> list[str]:
        if not value:
            return value  # and the outbound guard (httpx with it) is not imported for nothing
        from kith.core.security.outbound import parse_allow_entry

        for entry in value:
            parse_allow_entry(entry)  # a ValueError names the entry and the reason
        return value

    @model_validator(mode="after")
    def _check_dkim(self) -> Settings:
        """A DKIM key that cannot sign fails here, naming the setting, not at the first mail."""
        if self.dkim_domain or self.dkim_selector or self.dkim_private_key or self.dkim_private_key_file:
            from kith.core.mail.dkim_signing import check_dkim_settings

            check_dkim_settings(self)  # a DkimKeyError (a ValueError) names the setting
        return self

    plugin: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Each plugin's own settings: a [plugin.<name>] table in kith.toml, or "
        "KITH_PLUGIN='{\"<name>\": {...}}' as JSON. Plugins read theirs with settings.for_plugin(name).",
    )
    introspection: bool | None = Field(
        None, description="Serve schema introspection; defaults to on in development only."
    )
    graphiql: bool | None = Field(
        None, description="Serve the GraphiQL page on GET /graphql; defaults to development only."
    )

    def for_plugin(self, name: str, model: type[M] | None = None) -> Any:
        """Plugin ``name``'s settings: a dict, or an instance of ``model`` (a pydantic
        model giving defaults and checking types) — a bad value is one clear error."""
        values = dict(self.plugin.get(name) or {})
        if model is None:
            return values
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(
                f"plugin.{name}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise KithError(f"invalid settings: {problems}") from None

    @property
    def is_production(self) -> bool:
        return self.mode == "production"

    @property
    def introspection_enabled(self) -> bool:
        return self.introspection if self.introspection is not None else not self.is_production

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.is_production

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, Path("kith.toml")),
        )


def load_settings(**overrides: object) -> Settings:
    """Read settings now (not at import), so tests and the CLI can change the environment first.

    A bad value is reported as one line naming the setting and its environment variable.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])} (KITH_{str(err['loc'][0]).upper()}): {err['msg']}"
            if err["loc"]
            else str(err["msg"]).removeprefix("Value error, ")  # a check of several fields names them itself
            for err in exc.errors()
        )
        raise KithError(f"invalid settings: {problems}") from None
    except SettingsError as exc:
        raise KithError(f"invalid settings: {exc}") from None
