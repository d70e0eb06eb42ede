"""Kith's own tests use the fixtures the SDK ships (kith.sdk.testing.pytest_plugin)."""

from __future__ import annotations

import pytest

from kith_test_plugins import loyalty


@pytest.fixture
def loyalty_plugin():  # type: ignore[no-untyped-def]
    loyalty.CREATED_CARDS.clear()
    return loyalty.plugin


@pytest.fixture
async def admin_key(kith_database_url):  # type: ignore[no-untyped-def]
    """An admin's API key on this test's database (for tests that go through HTTP)."""
    from kith.core.runtime import Kith
    from kith.core.settings import load_settings

    kith = await Kith.open(load_settings(database_url=kith_database_url))
    try:
        user = await kith.records.create("user", {"name": "Ada Admin", "email": "ada@example.com"})
        await kith.auth.grant_role(user["id"], "admin")
        key, _prefix = await kith.auth.create_key(user["id"], "tests")
    finally:
        await kith.close()
    return key


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests for ``pytest-xdist --dist loadgroup``: one group per test file (a
    file's tests share module state, as with ``--dist loadfile``), except the docs'
    blocks, grouped per page: test_docs.py alone takes minutes, and one worker
    running all of it would finish long after the others."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        block = getattr(getattr(item, "callspec", None), "params", {}).get("block")
        doc = getattr(block, "doc", None)
        group = f"{path}:{doc}" if path.endswith("test_docs.py") and doc else path
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_configure(config: pytest.Config) -> None:
    # registered here too, so that a run without xdist (-p no:xdist) accepts the marker
    config.addinivalue_line("markers", "xdist_group(name): run with the other tests of this group")
