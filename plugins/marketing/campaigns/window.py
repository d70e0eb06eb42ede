"""A campaign's send window: mail goes out only between ``window_start`` and
``window_end`` (``"09:00"``, ``"17:30"``) in ``window_timezone`` (IANA, default UTC);
outside it the sender stops and queues its next slice for the window's next opening.
A window whose end is before its start runs over midnight (``"22:00"`` to ``"06:00"``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kith.sdk import ValidationFailed


def _time(value: Any, field: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed.single(field, "invalid", "must be a time of day like 09:00") from None


def parse(campaign: Mapping[str, Any]) -> tuple[dt.time, dt.time, ZoneInfo] | None:
    """The window, or None when the campaign has none; bad values are refused by field."""
    start, end = campaign.get("window_start"), campaign.get("window_end")
    if not start and not end:
        return None
    if not (start and end):
        raise ValidationFailed.single("windowStart" if not start else "windowEnd", "required", "a window has both ends")
    try:
        zone = ZoneInfo(str(campaign.get("window_timezone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.single("windowTimezone", "invalid", "must be a time zone like Europe/Berlin") from None
    opening, closing = _time(start, "windowStart"), _time(end, "windowEnd")
    if opening == closing:
        raise ValidationFailed.single("windowEnd", "invalid", "must differ from windowStart")
    return opening, closing, zone


def _inside(local: dt.time, opening: dt.time, closing: dt.time) -> bool:
    return opening <= local < closing if opening < closing else (local >= opening or local < closing)


def state(campaign: Mapping[str, Any], now: dt.datetime) -> tuple[bool, dt.datetime | None]:
    """(open now, when it next changes): the end of an open window, or the next opening."""
    window = parse(campaign)
    if window is None:
        return True, None
    opening, closing, zone = window
    local = now.astimezone(zone)
    is_open = _inside(local.time(), opening, closing)
    target = closing if is_open else opening
    change = local.replace(hour=target.hour, minute=target.minute, second=0, microsecond=0)
    if change <= local:
        change += dt.timedelta(days=1)
    return is_open, change.astimezone(dt.UTC)
