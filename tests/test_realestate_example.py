"""The real-estate example (docs/examples/kith-realestate) is a vertical CRM built the way
a vendor builds one: its own pip package, written only against ``kith.sdk``.

These tests install it with pip, as a user would — into a temporary ``--target``
directory, offline and without build isolation, so it takes a second and touches
neither the environment nor the source folder — then run the example's own tests
against the installed package (on both engines when ``KITH_TEST_DATABASE_URL`` is set)
and set a database up from its distribution with the ``kith`` command.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from kith.sdk.testing import ENV_VAR

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "kith-realestate"
#: the ``kith`` console script (pyproject: kith = "kith.cli.main:main"), run by this Python
KITH = [sys.executable, "-c", "from kith.cli.main import main; main()"]
JUNK = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".*_cache")


def environment(site: Path, *, test_database: bool) -> dict[str, str]:
    """This process's environment with the installed example importable, and no Kith
    settings from outside leaking in (only the PostgreSQL test URL, when asked)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KITH_")}
    if test_database and os.environ.get(ENV_VAR):
        env[ENV_VAR] = os.environ[ENV_VAR]
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p)
    env["COLUMNS"] = "200"  # rich tables: no wrapped names
    return env


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example pip-installed into a directory of its own (its dist-info carries the
    ``kith.plugins`` and ``kith.distributions`` entry points)."""
    root = tmp_path_factory.mktemp("realestate")
    source, target = root / "src", root / "site"
    shutil.copytree(EXAMPLE, source, ignore=JUNK)  # setuptools builds in the source folder
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    entry_points = next(target.glob("kith_realestate-*.dist-info")) / "entry_points.txt"
    assert "realestate = kith_realestate:plugin" in entry_points.read_text()
    yield target


def test_the_example_imports_nothing_of_kith_but_the_sdk() -> None:
    files = sorted(EXAMPLE.rglob("*.py"))
    assert any(f.name == "hooks.py" for f in files) and any(f.parent.name == "tests" for f in files)
    forbidden = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if (name == "kith" or name.startswith("kith.")) and not re.match(r"kith\.sdk(\.|$)", name):
                    forbidden.append(f"{path.relative_to(EXAMPLE)}:{node.lineno}: {name}")
    assert forbidden == []


def test_the_versions_agree() -> None:
    """pyproject's version is what `kith plugins list` and `kith init` report."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    init = (EXAMPLE / "kith_realestate" / "__init__.py").read_text()
    version = re.search(r'^__version__ = "(.+)"$', init, re.MULTILINE)
    assert version is not None and version[1] == project["version"] == "1.0.0"
    assert project["entry-points"]["kith.plugins"] == {"realestate": "kith_realestate:plugin"}
    assert project["entry-points"]["kith.distributions"] == {"realestate": "kith_realestate.distribution:distribution"}


def test_the_examples_own_tests_pass_on_every_engine(site: Path, tmp_path: Path) -> None:
    # the tests and their pytest settings, without the package: they must use the installed one
    shutil.copytree(EXAMPLE / "tests", tmp_path / "tests", ignore=JUNK)
    shutil.copy(EXAMPLE / "pyproject.toml", tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "tests"],
        cwd=tmp_path, env=environment(site, test_database=True), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"the example's tests failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert "[sqlite] PASSED" in result.stdout
    if os.environ.get(ENV_VAR):
        assert "[postgres] PASSED" in result.stdout
    assert " failed" not in result.stdout.splitlines()[-1]


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
