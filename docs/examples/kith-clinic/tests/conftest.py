"""Fixtures for the clinic's tests, on top of the ones Kith's pytest plugin provides
(``make_kith``, ``kith``, …; registered when kith-crm is installed with its ``testing``
extra): each test gets a fresh database, on SQLite and, with KITH_TEST_DATABASE_URL
set, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kith.sdk.testing import make_contact, make_user

from kith_clinic import plugin


@pytest.fixture
async def clinic(make_kith: Callable[..., Awaitable[Any]]) -> Any:
    """A Kith with the clinic enabled, where an appointment lasts 30 minutes unless
    booked otherwise (``[plugin.clinic]`` in kith.toml says the same)."""
    return await make_kith(plugins=[plugin], enable=["clinic"], plugin={"clinic": {"default_duration_minutes": 30}})


@pytest.fixture
async def practice(clinic: Any) -> dict[str, Any]:
    """Two therapists, a receptionist and two clients."""
    return {
        "kith": clinic,
        "theo": await make_user(clinic, name="Theo", email="theo@example.com", roles=["therapist"]),
        "tara": await make_user(clinic, name="Tara", email="tara@example.com", roles=["therapist"]),
        "rita": await make_user(clinic, name="Rita", email="rita@example.com", roles=["receptionist"]),
        "ann": await make_contact(clinic, first_name="Ann", last_name="Quist", custom={"insurance_number": "AQ-1234"}),
        "bob": await make_contact(clinic, first_name="Bob", last_name="Rahn", custom={"insurance_number": "BR-5678"}),
    }
