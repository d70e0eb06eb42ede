"""``kith plugins new``: the generated package installs with pip, shows up in
``kith plugins list``, enables from the CLI, and its own test passes on every engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kith.sdk.testing import engines


def run(*args: str, cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def kith_cli(*args: str):  # `plugins new` needs no database: one run, not one per engine
    from click.testing import CliRunner

    from kith.cli.main import cli

    return CliRunner().invoke(cli, list(args))


def test_a_scaffolded_plugin_installs_enables_and_passes_its_test(tmp_path):
    created = kith_cli("plugins", "new", "widgets", "--directory", str(tmp_path))
    assert created.exit_code == 0, created.output
    project = tmp_path / "kith-widgets"
    assert "created kith-widgets/kith_widgets/models.py" in created.output
    assert {p.name for p in project.iterdir()} == {"pyproject.toml", "README.md", "kith_widgets", "tests"}
    again = kith_cli("plugins", "new", "widgets", "--directory", str(tmp_path))
    assert again.exit_code == 1 and "exists already" in again.output
    bad = kith_cli("plugins", "new", "Bad-Name", "--directory", str(tmp_path))
    assert bad.exit_code == 1 and "a plugin name is 2-40 lowercase letters" in bad.output

    site = tmp_path / "site"  # a pip install of the package, as a user's environment would have it
    installed = run(
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(site),
        str(project),
        cwd=tmp_path,
        site=site,
    )
    assert installed.returncode == 0, installed.stderr
    database = f"sqlite:///{tmp_path / 'crm.sqlite3'}"
    listed = run("-m", "kith.cli", "--database-url", database, "plugins", "list", cwd=tmp_path, site=site)
    assert listed.returncode == 0 and "widgets" in listed.stdout, listed.stdout + listed.stderr
    enabled = run("-m", "kith.cli", "--database-url", database, "plugins", "enable", "widgets", cwd=tmp_path, site=site)
    assert "Enabled widgets (migrations: 0001_initial)" in enabled.stdout, enabled.stdout + enabled.stderr
    tested = run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, site=site)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert f"{len(engines())} passed" in tested.stdout  # SQLite, and PostgreSQL when the suite has it
