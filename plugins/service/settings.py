"""The service plugin's settings: a ``[plugin.service]`` table in kith.toml (or
``KITH_PLUGIN='{"service": {...}}'``), read with ``context.settings(ServiceSettings)``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kith.sdk import PluginContext


class ServiceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt setting is an error, not ignored

    #: the addresses whose mail becomes tickets (``support@acme.example``); empty: all mail
    #: no other plugin claims
    addresses: list[str] = Field(default_factory=list)
    #: answer a new ticket's first mail with an automatic acknowledgement (RFC 3834 rules apply)
    acknowledge: bool = True
    #: the acknowledgement's text; ``{number}`` and ``{subject}`` are filled in
    acknowledgement: str = (
        "We have received your request and opened ticket {number}: {subject}.\nReply to this message to add to it."
    )
    #: the team new mail tickets join (its queue routes them); empty: none
    mail_team: str = ""
    #: ask the requester how it went (1-5) when a ticket is solved, this many minutes later
    #: (a reopen in between cancels it); None: never
    csat_after_minutes: float | None = Field(default=0, ge=0)
    #: remind once this many days after a survey went unanswered; None: never
    survey_reminder_days: float | None = Field(default=3, gt=0)
    #: a survey's link works this many days
    survey_valid_days: float = Field(default=14, gt=0)


def service_settings(context: PluginContext) -> ServiceSettings:
    return context.settings(ServiceSettings)
