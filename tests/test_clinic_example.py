"""The clinic example (docs/examples/kith-clinic), the docs' second worked example: a
clinic CRM written out of tree from the docs alone, only against ``kith.sdk``.

Like the real-estate example it is pip-installed into a temporary directory and its
own tests run against the installed package, on both engines when
``KITH_TEST_DATABASE_URL`` is set; and its import-linter contract, in its own
pyproject.toml, holds ``kith_clinic`` to ``kith.sdk`` (and is shown to bite).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from example_packages import (
    EXAMPLES,
    assert_contract_holds,
    assert_contract_refuses_the_core,
    assert_passed_on_every_engine,
    kith_imports_outside_the_sdk,
    pip_install,
    run_example_tests,
)

EXAMPLE = EXAMPLES / "kith-clinic"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example pip-installed into a directory of its own (its dist-info carries the
    ``kith.plugins`` entry point)."""
    target = pip_install(EXAMPLE, tmp_path_factory.mktemp("clinic"))
    entry_points = next(target.glob("kith_clinic-*.dist-info")) / "entry_points.txt"
    assert "clinic = kith_clinic:plugin" in entry_points.read_text()
    yield target


def test_the_example_imports_nothing_of_kith_but_the_sdk() -> None:
    files = sorted(EXAMPLE.rglob("*.py"))
    assert any(f.name == "hooks.py" for f in files) and any(f.parent.name == "tests" for f in files)
    assert kith_imports_outside_the_sdk(EXAMPLE) == []


def test_the_versions_agree() -> None:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    init = (EXAMPLE / "kith_clinic" / "__init__.py").read_text()
    version = re.search(r'^__version__ = "(.+)"$', init, re.MULTILINE)
    assert version is not None and version[1] == project["version"] == "1.0.0"
    assert project["entry-points"]["kith.plugins"] == {"clinic": "kith_clinic:plugin"}


def test_the_import_contract_holds_the_installed_package_to_the_sdk(site: Path, tmp_path: Path) -> None:
    assert_contract_holds(EXAMPLE, "kith_clinic", site, tmp_path)


def test_the_import_contract_refuses_a_reach_into_the_core(tmp_path: Path) -> None:
    assert_contract_refuses_the_core(EXAMPLE, "kith_clinic", tmp_path)


def test_the_examples_own_tests_pass_on_every_engine(site: Path, tmp_path: Path) -> None:
    result = run_example_tests(site, EXAMPLE, tmp_path)
    assert_passed_on_every_engine(result)
    for test in (
        "booking_and_the_upcoming_appointments",
        "a_therapist_sees_only_their_own_appointments",
        "no_shows_get_a_task_and_repeated_ones_a_tag",
        "a_clients_appointments_are_exported_and_erased",
    ):
        assert re.search(rf"test_{test}\w*\[sqlite\] PASSED", result.stdout), test
