"""Kith's own tests use the fixtures the SDK ships (kith.sdk.testing.pytest_plugin)."""

from __future__ import annotations

import pytest

from kith_test_plugins import loyalty


@pytest.fixture
def loyalty_plugin():  # type: ignore[no-untyped-def]
    loyalty.CREATED_CARDS.clear()
    return loyalty.plugin
