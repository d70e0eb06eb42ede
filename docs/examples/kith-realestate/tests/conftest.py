"""Fixtures for the example's tests, on top of the ones Kith's pytest plugin provides
(``make_kith``, ``kith_cli``, ...; registered when kith-crm is installed): each test gets
a fresh database, on SQLite and, with KITH_TEST_DATABASE_URL set, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kith.sdk import Kith, apply_rule

from kith_realestate import plugin
from kith_realestate.distribution import distribution


@pytest.fixture
async def agency(make_kith: Callable[..., Awaitable[Kith]]) -> Kith:
    """A Kith with the plugin enabled and the distribution's buyer fields and rules.

    ``kith init --distribution realestate`` does this from the command line (tested in
    ``test_the_distribution_sets_an_agency_up``); an async test adds the same definitions
    through the public API.
    """
    kith = await make_kith(plugins=[plugin], enable=["realestate"])
    for spec in distribution.custom_fields:
        options = {k: v for k, v in spec.items() if k not in ("entity", "name", "type")}
        await kith.custom_fields.add(spec["entity"], spec["name"], spec["type"], **options)
    for rule in distribution.rules:
        await apply_rule(kith, rule)
    return kith


@pytest.fixture
def at_agency(kith_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Callable[..., Any]:
    """``kith`` commands on a database set up with ``kith init --distribution realestate``
    (which writes kith.toml, hence the temporary directory)."""
    monkeypatch.chdir(tmp_path)
    result = kith_cli("init", "--distribution", "realestate")
    assert result.exit_code == 0, result.output
    return kith_cli
