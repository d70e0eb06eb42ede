"""Kith's pytest plugin: fixtures for a Kith on a fresh database of each engine.

Every test that uses ``kith`` (or ``make_kith``, ``gql``, ``kith_database_url``) runs
once per engine: SQLite always, PostgreSQL too when ``KITH_TEST_DATABASE_URL`` is set.
If that variable is set and PostgreSQL cannot be reached, the run stops at once
rather than quietly testing SQLite alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kith.sdk.testing.engines import ENV_VAR, check_postgres, engines, fresh_database_url

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the testing extra is not installed
    pytest_asyncio = None  # type: ignore[assignment]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres_only: run only on PostgreSQL")
    problem = check_postgres()
    if problem:
        raise pytest.UsageError(
            f"{ENV_VAR} is set, but PostgreSQL cannot be reached ({problem}). "
            f"Start PostgreSQL or unset {ENV_VAR} to test on SQLite only."
        )


@pytest.fixture(params=engines())
def kith_engine(request: pytest.FixtureRequest) -> str:
    """The engine this test runs on: ``sqlite`` or ``postgres``."""
    engine: str = request.param
    if engine != "postgres" and request.node.get_closest_marker("postgres_only"):
        pytest.skip("postgres_only: runs only on PostgreSQL")
    return engine


@pytest.fixture
def kith_database_url(kith_engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty database on this test's engine, dropped afterwards.

    A test that opens Kith with ``make_kith`` and does not use the URL (or ``kith_cli``)
    itself gets, on PostgreSQL, a copy of the core's migrated template instead: what its
    ``make_kith`` would make of the empty one, without the migrations (``templates``)."""
    direct = set(getattr(getattr(request.node, "_fixtureinfo", None), "argnames", ()) or ())
    migrated = "make_kith" in request.fixturenames and not ({"kith_database_url", "kith_cli"} & direct)
    with fresh_database_url(kith_engine, tmp_path, migrated=migrated) as url:
        yield url


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def make_kith(kith_database_url: str) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
        """Open a Kith on this test's database: ``await make_kith(plugins=[...], enable=[...])``.

        ``plugins`` registers throwaway plugin manifests; ``enable`` enables them (and
        runs their migrations); other keywords override settings (``database_url`` too,
        for a second database).
        """
        from kith.core.plugins import lifecycle
        from kith.core.runtime import Kith
        from kith.core.settings import load_settings
        from kith.sdk.testing.templates import STRUCTURAL, TEMPLATES

        opened: list[Any] = []

        async def factory(plugins: Any = (), enable: Any = (), **overrides: Any) -> Any:
            if not opened and not (STRUCTURAL & set(overrides)):
                # the test's first Kith on its own empty database: copy a migrated one
                await TEMPLATES.prepare(kith_database_url, () if plugins else tuple(enable))
            settings = load_settings(**{"database_url": kith_database_url, **overrides})
            kith = await Kith.open(settings, plugins=plugins)
            opened.append(kith)
            for name in enable:
                await lifecycle.enable(kith, name)
            return kith

        yield factory
        for kith in opened:
            await kith.close()

    @pytest_asyncio.fixture
    async def kith(make_kith: Callable[..., Awaitable[Any]]) -> Any:
        """A Kith with the core only, on a fresh database of this test's engine."""
        return await make_kith()

    @pytest_asyncio.fixture
    async def gql(kith: Any) -> Any:
        """A GraphQL client for ``kith``: ``await gql.query(...)`` returns data or raises."""
        from kith.sdk.testing.client import GraphQLClient

        return GraphQLClient(kith)


@pytest.fixture
def kith_cli(kith_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run ``kith`` commands in-process against this test's database (sync tests only)::

    result = kith_cli("fields", "add", "contact", "tier", "integer")
    assert result.exit_code == 0, result.output
    """
    from click.testing import CliRunner

    from kith.cli.main import cli

    monkeypatch.setenv("KITH_DATABASE_URL", kith_database_url)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke
