"""Values as JSON text, the same on both engines: what the storage layer writes into JSON
columns (outbox payloads, audit changes, custom fields).  It sits in storage so that the
outbox, below the record layer, can write its payloads without importing records."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from typing import Any

import orjson

#: values JSON takes as they are: the common case, answered before any isinstance walk
_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """A value as JSON-ready data (audit rows, outbox payloads, exports)."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _default(value: Any) -> Any:
    """What ``jsonable`` makes of the values JSON has no type for (the encoder asks)."""
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


#: what orjson refuses (integers beyond 64 bits, lone surrogates) goes to this encoder
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=_default)
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """``value`` as compact JSON text with sorted keys (what ``jsonable`` gives, encoded).

    orjson writes it: every write stores a few of these (audit changes, outbox payload,
    custom fields), and the worker writes thousands a second, where the standard
    encoder costs several times more.  Text is stored as UTF-8, not ``\\u`` escapes."""
    try:
        return orjson.dumps(value, default=_default, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return _ENCODER.encode(value)


#: a run of digits that may be an integer beyond 64 bits, which orjson would read as a float
_LONG_DIGITS = re.compile(r"[0-9]{19}")


def loads(text: str) -> Any:
    """JSON text (a stored column, a payload) as Python values: orjson, for the same
    reason as ``dumps``; text with a run of 19 digits or more goes to the standard parser,
    which keeps every digit of a large integer (orjson would make it a float), and so does
    text orjson refuses."""
    if _LONG_DIGITS.search(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN or Infinity, which the standard encoder once wrote
        return json.loads(text)
