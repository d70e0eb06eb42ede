"""Fixtures for the example's tests, on top of the ones Kith's pytest plugin provides
(``make_kith``, ``kith_cli``, ...; registered when kith-crm is installed with its
``testing`` extra): each test gets a fresh database, on SQLite and, with
KITH_TEST_DATABASE_URL set, on PostgreSQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kith.sdk import install_distribution

from kith_realestate import plugin
from kith_realestate.distribution import distribution


@pytest.fixture
async def agency(make_kith: Callable[..., Awaitable[Any]]) -> Any:
    """A Kith set up from the distribution: the plugin enabled, the buyer fields, the
    rules and the tags.

    ``kith init --distribution realestate`` does this from the command line (tested in
    ``test_the_distribution_sets_an_agency_up``); ``install_distribution`` is the same
    from Python.
    """
    kith = await make_kith(plugins=[plugin])
    await install_distribution(kith, distribution)
    return kith


@pytest.fixture
def at_agency(kith_cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Callable[..., Any]:
    """``kith`` commands on a database set up with ``kith init --distribution realestate``
    (which writes kith.toml, hence the temporary directory)."""
    monkeypatch.chdir(tmp_path)
    result = kith_cli("init", "--distribution", "realestate")
    assert result.exit_code == 0, result.output
    return kith_cli
