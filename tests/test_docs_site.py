"""The documentation site builds from ``docs/`` with ``mkdocs build --strict``: no broken
link or anchor, no page left out of the navigation, and the key pages are produced."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: pages a reader must find on the site (path inside the built site)
KEY_PAGES = [
    "index.html",
    "getting-started/index.html",
    "concepts/index.html",
    "tutorial/index.html",
    "plugins/index.html",
    "testing/index.html",
    "distributions/index.html",
    "sdk/index.html",
    "hooks/index.html",
    "graphql/index.html",
    "cli/index.html",
    "deployment/index.html",
    "architecture/index.html",
    "sales/index.html",
]


def mkdocs() -> str:
    """The mkdocs of this environment (the venv's, next to its python)."""
    candidate = Path(sys.executable).with_name("mkdocs")
    found = str(candidate) if candidate.exists() else shutil.which("mkdocs")
    if found is None:
        pytest.fail("mkdocs is not installed: it is in the dev extra (./scripts/bootstrap installs it)")
    return found


def test_the_site_builds_strictly_with_the_key_pages(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # no advertising banner in the output
    result = subprocess.run(
        [mkdocs(), "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    warnings = [line for line in output.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert warnings == [], "\n".join(warnings)
    missing = [page for page in KEY_PAGES if not (site / page).is_file()]
    assert missing == [], f"pages missing from the built site: {missing}"
    home = (site / "index.html").read_text()
    for link in ("getting-started/", "tutorial/", "sdk/", "deployment/"):
        assert f'href="{link}"' in home or f'href="./{link}"' in home, f"the home page does not link to {link}"
    sdk = (site / "sdk" / "index.html").read_text()
    assert 'id="entity"' in sdk and 'id="plugin"' in sdk, "the SDK reference has no section anchors"
