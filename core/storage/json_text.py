"""Values as JSON text, the same on both engines: what the storage layer writes into JSON
columns (outbox payloads, audit changes, custom fields).  It sits in storage so that the
outbox, below the record layer, can write its payloads without importing records."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any


def jsonable(value: Any) -> Any:
    """A value as JSON-ready data (audit rows, outbox payloads, exports)."""
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


def dumps(value: Any) -> str:
    """``value`` as compact JSON text with sorted keys."""
    return json.dumps(jsonable(value), separators=(",", ":"), sort_keys=True)
