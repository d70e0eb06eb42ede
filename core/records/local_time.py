"""Local time in SQL: a timestamp as the wall-clock time of a chosen time zone, the same
on both engines, so a date bucket ("March, in Berlin") holds the same rows everywhere.

PostgreSQL knows time zones (``ts AT TIME ZONE 'Europe/Berlin'``).  SQLite knows only
fixed offsets, and a zone's offset changes with daylight saving time, so a fixed
``+1 hour`` would put the last hour of every summer night in the wrong day.  For SQLite
the zone's offset history is read from the same IANA database Python uses
(``zoneinfo``) once per zone and process, and becomes a ``CASE`` that finds the offset in
force at each row's instant by binary search over the transitions (about nine
comparisons for a zone with daylight saving time), so every row is shifted by the offset
of its own instant.  Transitions are taken from 1900 to 2100; a time before the first
uses the zone's offset of 1900, after the last the offset of 2100.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo

from kith.core.errors import ValidationFailed

UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu", "Universal", "Etc/Universal"})
#: what a zone name may hold once it is known to zoneinfo (it is written into SQL)
_NAME = re.compile(r"^[A-Za-z0-9_+\-/]+$")
_FIRST = int(dt.datetime(1900, 1, 1, tzinfo=dt.UTC).timestamp())
_LAST = int(dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp())
_DAY = 86_400


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_time_zone(name: str, path: str = "timeZone") -> str:
    """``name`` if it is an IANA time zone both engines know (``Europe/Berlin``, ``UTC``);
    otherwise ``ValidationFailed`` naming ``path``."""
    if not isinstance(name, str) or not _NAME.match(name) or (name not in _known_zones() and name != "UTC"):
        raise ValidationFailed.single(path, "invalid", f"{name!r} is not a time zone (use an IANA name: Europe/Berlin)")
    return name


def is_utc(name: str) -> bool:
    return name in UTC_NAMES


@functools.cache
def transitions(name: str) -> tuple[tuple[int, int], ...]:
    """The zone's offsets as ``(from epoch second, offset in seconds)``, the first from
    the beginning of time: found a day at a time, each change narrowed to its second."""
    zone = zoneinfo.ZoneInfo(name)

    def offset(epoch: int) -> int:
        delta = dt.datetime.fromtimestamp(epoch, zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    current = offset(_FIRST)
    found = [(-(2**62), current)]
    moment = _FIRST
    while moment < _LAST:
        following = moment + _DAY
        changed = offset(following)
        if changed != current:
            low, high = moment, following  # offset(low) == current, offset(high) == changed
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            found.append((high, changed))
            current = changed
        moment = following
    return tuple(found)


def _offset_case(epoch_sql: str, steps: tuple[tuple[int, int], ...]) -> str:
    """The offset in force at ``epoch_sql``: a binary search over ``steps`` as nested CASEs."""
    if len(steps) == 1:
        return str(steps[0][1])
    middle = len(steps) // 2
    return (
        f"CASE WHEN {epoch_sql} < {steps[middle][0]} THEN {_offset_case(epoch_sql, steps[:middle])} "
        f"ELSE {_offset_case(epoch_sql, steps[middle:])} END"
    )


def local_timestamp(expr: str, zone: str, *, postgres: bool) -> str:
    """``expr`` (a stored timestamp) as the wall-clock time in ``zone``: a ``timestamp``
    on PostgreSQL, ``YYYY-MM-DD HH:MM:SS`` text on SQLite (what SQLite's date functions read)."""
    check_time_zone(zone)
    if postgres:
        return f"(({expr})::timestamptz AT TIME ZONE '{zone}')"
    steps = transitions(zone)
    if len(steps) == 1 and steps[0][1] == 0:
        return f"datetime({expr})"
    epoch = f"CAST(strftime('%s', {expr}) AS INTEGER)"
    return f"datetime({expr}, ({_offset_case(epoch, steps)}) || ' seconds')"
