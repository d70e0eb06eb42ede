"""The docs' worked examples (docs/examples/*) are pip packages written only against
``kith.sdk``; their repository tests install them as a user would and run their own
tests. What those tests share: the install, and a clean environment to run in.

The install goes into a temporary ``--target`` directory, offline and without build
isolation, so it takes a second and touches neither the environment nor the source
folder.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from kith.sdk.testing import ENV_VAR

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
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


def pip_install(example: Path, root: Path) -> Path:
    """``example`` pip-installed into ``root/site`` (returned), built from a copy in
    ``root/src``: setuptools builds in the source folder."""
    source, target = root / "src", root / "site"
    shutil.copytree(example, source, ignore=JUNK)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation",
         "--disable-pip-version-check", "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, f"pip install failed:\n{result.stdout}\n{result.stderr}"
    return target


def kith_imports_outside_the_sdk(example: Path) -> list[str]:
    """``file:line: module`` for every import of Kith other than ``kith.sdk`` in the
    example's Python files (its tests included)."""
    forbidden = []
    for path in sorted(example.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                if (name == "kith" or name.startswith("kith.")) and not re.match(r"kith\.sdk(\.|$)", name):
                    forbidden.append(f"{path.relative_to(example)}:{node.lineno}: {name}")
    return forbidden


def run_example_tests(site: Path, example: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    """The example's tests and pytest settings, copied without the package (they must
    use the installed one), run on every engine configured."""
    shutil.copytree(example / "tests", workdir / "tests", ignore=JUNK)
    shutil.copy(example / "pyproject.toml", workdir)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "tests"],
        cwd=workdir, env=environment(site, test_database=True), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def assert_passed_on_every_engine(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"the example's tests failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert "[sqlite] PASSED" in result.stdout
    if os.environ.get(ENV_VAR):
        assert "[postgres] PASSED" in result.stdout
    assert " failed" not in result.stdout.splitlines()[-1]


LINT_IMPORTS = [sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"]


def lint_imports(example: Path, package_parent: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the example's pyproject.toml, on its package as found in
    ``package_parent`` (an install, or a copy)."""
    shutil.copy(example / "pyproject.toml", workdir)
    return subprocess.run(
        [*LINT_IMPORTS, "--no-cache"],
        cwd=workdir, env=environment(package_parent, test_database=False), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def assert_contract_holds(example: Path, package: str, site: Path, workdir: Path) -> None:
    """The example's import contract is kept by the installed package..."""
    kept = lint_imports(example, site, workdir)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert f"{package} imports only kith.sdk of Kith KEPT" in kept.stdout


def assert_contract_refuses_the_core(example: Path, package: str, workdir: Path) -> None:
    """...and broken by a copy with one module reaching into the core."""
    leaky = workdir / "leaky"
    shutil.copytree(example / package, leaky / package, ignore=JUNK)
    (leaky / package / "shortcut.py").write_text("from kith.core.runtime import Kith\n")
    (workdir / "lint").mkdir()
    broken = lint_imports(example, leaky, workdir / "lint")
    assert broken.returncode != 0
    assert f"{package} imports only kith.sdk of Kith BROKEN" in broken.stdout
    assert f"{package}.shortcut -> kith.core.runtime" in broken.stdout
