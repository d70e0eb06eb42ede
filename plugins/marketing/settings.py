"""The marketing plugin's settings: a ``[plugin.marketing]`` table in kith.toml (or
``KITH_PLUGIN='{"marketing": {...}}'``), read with ``context.settings(MarketingSettings)``."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kith.sdk import PluginContext

#: a topic's key: it is also the consent purpose, and appears in filters and links
_TOPIC = re.compile(r"[a-z0-9][a-z0-9_-]{0,59}")


class MarketingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, not ignored

    #: how often segments whose definition is relative to now (``withinLast: "P30D"``) are
    #: checked again as a whole, so members drop out as time passes (seconds)
    segment_refresh_seconds: float = Field(default=300, gt=0)
    #: campaigns send at most this many mails a minute unless a campaign says otherwise
    #: (None: as fast as the SMTP server takes them)
    rate_per_minute: int | None = Field(default=6000, gt=0)
    #: SMTP connections a campaign keeps open at once
    smtp_connections: int = Field(default=2, ge=1, le=20)
    #: frequency caps: at most this many campaign mails to one contact a day, a week, a
    #: month (None: no cap); a contact over one is skipped for that campaign
    max_per_day: int | None = Field(default=None, ge=1)
    max_per_week: int | None = Field(default=None, ge=1)
    max_per_month: int | None = Field(default=None, ge=1)
    #: a campaign mail counts towards a deal won at most this many days later
    attribution_window_days: float = Field(default=90, gt=0)
    #: time-decay attribution: a touch's weight halves for every this many days before the win
    attribution_half_life_days: float = Field(default=7, gt=0)
    #: the topics people subscribe to, by key (the consent purpose) with the label their
    #: preference page shows: ``topics = {newsletter = "Monthly newsletter"}``
    topics: dict[str, str] = Field(default_factory=lambda: {"newsletter": "Newsletter"})
    #: the version of the words a person agrees to when subscribing, recorded with their
    #: consent (change it when the wording changes)
    consent_wording_version: str = Field(default="1", min_length=1, max_length=40)
    #: posts a web form takes from one client address a minute (per form); past it, 429
    form_rate_limit_per_minute: int = Field(default=10, ge=1, le=10_000)
    #: a click this soon after its mail was sent is a security scanner's, not a person's
    #: (seconds; 0: never judged by time)
    click_scanner_seconds: float = Field(default=30, ge=0)
    #: clicks on different links of one mail this close together are a scanner's burst
    #: (seconds; 0: no burst detection)
    click_burst_seconds: float = Field(default=2, ge=0)

    @field_validator("topics")
    @classmethod
    def _topic_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _TOPIC.fullmatch(key):
                raise ValueError(f"topic {key!r}: use lower-case letters, digits, '-' and '_' (at most 60)")
        return value


def marketing_settings(context: PluginContext) -> MarketingSettings:
    return context.settings(MarketingSettings)
