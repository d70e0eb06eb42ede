"""JSON text as Kith stores it (audit changes, outbox payloads, custom fields): written and
read by orjson for speed, without losing what the standard library kept."""

from __future__ import annotations

import datetime as dt
import decimal
import json

from kith.core.storage.json_text import dumps, loads


def test_text_is_compact_with_sorted_keys_and_utf8():
    assert dumps({"b": 1, "a": ["é", None, True]}) == '{"a":["é",null,true],"b":1}'


def test_dates_and_decimals_are_written_as_iso_text_and_strings():
    value = {
        "at": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "on": dt.date(2026, 1, 2),
        "x": decimal.Decimal("1.50"),
    }
    assert loads(dumps(value)) == {"at": "2026-01-02T03:04:05+00:00", "on": "2026-01-02", "x": "1.50"}


def test_integers_beyond_64_bits_keep_every_digit_both_ways():
    big = 123456789012345678901234567890
    text = dumps({"n": big, "m": -big})
    assert loads(text) == {"n": big, "m": -big}
    assert loads(str(2**64 + 1)) == 2**64 + 1


def test_text_written_by_the_standard_encoder_still_reads():
    # what json.dumps wrote before: \u escapes, spaces, and NaN for a float that was not a number
    old = json.dumps({"name": "Zoë", "score": float("nan")})
    value = loads(old)
    assert value["name"] == "Zoë" and value["score"] != value["score"]


def test_integer_keys_become_text_as_before():
    assert dumps({2: "b", 1: "a"}) == '{"1":"a","2":"b"}'
