"""The plugin's settings, ``[plugin.clinic]`` in kith.toml (or ``KITH_PLUGIN``)."""

from pydantic import BaseModel, ConfigDict, Field


class ClinicSettings(BaseModel):
    """Checked when the plugin is enabled: a bad value is one error naming it."""

    model_config = ConfigDict(extra="forbid")

    #: how long an appointment lasts when it is booked without a duration
    default_duration_minutes: int = Field(50, ge=5, le=480)
