"""The social plugin's settings: a ``[plugin.social]`` table in kith.toml (or
``KITH_PLUGIN='{"social": {...}}'``), read with ``context.settings(SocialSettings)``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from kith.sdk import PluginContext


class SocialSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, not ignored

    #: the key account credentials are encrypted with at rest: a Fernet key
    #: (``kith social new-key`` prints one). Without it, accounts cannot be connected in
    #: production; elsewhere a key derived from the installation's secret stands in.
    credentials_key: SecretStr | None = None
    #: keys used before: they still decrypt (``kith social rotate-key`` re-encrypts with the current one)
    previous_credentials_keys: list[SecretStr] = Field(default_factory=list)
    #: a mention from someone no contact has the handle of creates a contact (named by the
    #: display name, else the handle); False: the mention is kept without a contact
    create_contacts: bool = True
    #: a mention scoring at or below this (VADER's compound score, -1..1) raises
    #: ``social.negative_mention``
    negative_threshold: float = Field(default=-0.5, ge=-1, le=0)
    #: topics listening counts mentions by, each a list of keywords (whole words, any case):
    #: ``topics = {delivery = ["late", "shipping", "parcel"], pricing = ["price", "expensive"]}``
    topics: dict[str, list[str]] = Field(default_factory=dict)
    #: how often each account is fetched from (seconds)
    poll_seconds: float = Field(default=60, gt=0)
    #: how long a platform call may take before its answer is given up (seconds); a
    #: publish given up this way is checked against the platform, never sent blindly again
    call_timeout_seconds: float = Field(default=20, gt=0, le=300)
    #: inbound items taken per processing run (matching, scoring, the timeline)
    process_batch: int = Field(default=500, ge=1, le=10_000)


def social_settings(context: PluginContext) -> SocialSettings:
    return context.settings(SocialSettings)
