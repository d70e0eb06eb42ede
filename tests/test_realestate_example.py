"""The real-estate example (docs/examples/kith-realestate) is a vertical CRM built the way
a vendor builds one: its own pip package, written only against ``kith.sdk``.

These tests install it with pip, as a user would — into a temporary ``--target``
directory, offline and without build isolation, so it takes a second and touches
neither the environment nor the source folder — then run the example's own tests
against the installed package (on both engines when ``KITH_TEST_DATABASE_URL`` is set)
and set a database up from its distribution with the ``kith`` command.  Its import-linter
contract, in its own pyproject.toml, holds ``kith_realestate`` to ``kith.sdk`` (and is
shown to bite).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from example_packages import (
    EXAMPLES,
    assert_contract_holds,
    assert_contract_refuses_the_core,
    assert_passed_on_every_engine,
    environment,
    kith_imports_outside_the_sdk,
    pip_install,
    run_example_tests,
)

EXAMPLE = EXAMPLES / "kith-realestate"
#: the ``kith`` console script (pyproject: kith = "kith.cli.main:main"), run by this Python
KITH = [sys.executable, "-c", "from kith.cli.main import main; main()"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example pip-installed into a directory of its own (its dist-info carries the
    ``kith.plugins`` and ``kith.distributions`` entry points)."""
    target = pip_install(EXAMPLE, tmp_path_factory.mktemp("realestate"))
    entry_points = next(target.glob("kith_realestate-*.dist-info")) / "entry_points.txt"
    assert "realestate = kith_realestate:plugin" in entry_points.read_text()
    yield target


def test_the_example_imports_nothing_of_kith_but_the_sdk() -> None:
    files = sorted(EXAMPLE.rglob("*.py"))
    assert any(f.name == "hooks.py" for f in files) and any(f.parent.name == "tests" for f in files)
    assert kith_imports_outside_the_sdk(EXAMPLE) == []


def test_the_versions_agree() -> None:
    """pyproject's version is what `kith plugins list` and `kith init` report."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    init = (EXAMPLE / "kith_realestate" / "__init__.py").read_text()
    version = re.search(r'^__version__ = "(.+)"$', init, re.MULTILINE)
    assert version is not None and version[1] == project["version"] == "1.0.0"
    assert project["entry-points"]["kith.plugins"] == {"realestate": "kith_realestate:plugin"}
    assert project["entry-points"]["kith.distributions"] == {"realestate": "kith_realestate.distribution:distribution"}


def test_the_import_contract_holds_the_installed_package_to_the_sdk(site: Path, tmp_path: Path) -> None:
    assert_contract_holds(EXAMPLE, "kith_realestate", site, tmp_path)


def test_the_import_contract_refuses_a_reach_into_the_core(tmp_path: Path) -> None:
    assert_contract_refuses_the_core(EXAMPLE, "kith_realestate", tmp_path)


def test_the_examples_own_tests_pass_on_every_engine(site: Path, tmp_path: Path) -> None:
    assert_passed_on_every_engine(run_example_tests(site, EXAMPLE, tmp_path))


def test_kith_init_sets_a_database_up_from_the_installed_distribution(site: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'agency.sqlite3'}"

    def kith(*args: str) -> str:
        result = subprocess.run(
            [*KITH, "--database-url", url, *args],
            cwd=tmp_path, env=environment(site, test_database=False), capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, f"kith {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    made = kith("init", "--distribution", "realestate")
    assert "Set up from realestate 1.0.0: 1 plugins, 5 custom fields, 2 rules, 2 records" in made
    listed = kith("plugins", "list")
    assert re.search(r"realestate\s*│\s*1\.0\.0\s*│\s*yes", listed), listed
    info = kith("plugins", "info", "realestate")
    assert "enabled:  yes" in info and "source:   entry point realestate" in info
    assert "tables:   realestate_property, realestate_listing, realestate_listing_match" in info
    assert "migrations: 0001_initial, 0002_indexes" in info
    assert "entities: property, listing, listing_match" in info
