"""``scripts/bootstrap``: what it installs, with which installer, and when it skips.

The script runs for real in a scratch copy of the repository's root, against stand-ins
for ``.venv/bin/python`` and ``uv`` that write down how they were called instead of
installing: the decisions (which extras, uv or pip, install or skip) are what is tested.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORDER = '#!/usr/bin/env bash\necho "{name} $*" >> "{log}"\n'
#: the stand-in python: `-m pip install ... uv` leaves a recording uv in .venv/bin, as pip would
PYTHON = (
    RECORDER
    + """if [[ "$*" == *"pip install"* && "${{*: -1}}" == uv ]]; then
  printf '#!/usr/bin/env bash\\necho "venv-uv $*" >> "{log}"\\n' > "{venv}/bin/uv"; chmod +x "{venv}/bin/uv"
fi
"""
)
#: all the script runs besides shell built-ins (the PATH holds nothing else, so no real
#: uv or pip on this machine can take part)
TOOLS = ("bash", "cat", "sha256sum", "cut", "dirname", "chmod")


def executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the scripts and the two files the stamp hashes, with a .venv whose python
    records its calls and a ``uv`` on the PATH that does the same."""
    root = tmp_path / "kith"
    shutil.copytree(ROOT / "scripts", root / "scripts")
    for name in ("pyproject.toml", "setup.py"):
        shutil.copy(ROOT / name, root / name)
    log = tmp_path / "calls.log"
    log.touch()
    venv = root / ".venv"
    executable(venv / "bin" / "python", PYTHON.format(name="python", log=log, venv=venv))
    executable(tmp_path / "bin" / "uv", RECORDER.format(name="uv", log=log))
    (tmp_path / "tools").mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run scripts/bootstrap"
        (tmp_path / "tools" / tool).symlink_to(found)
    return root


def bootstrap(root: Path, *args: str, installer: str | None = None, uv_on_path: bool = True) -> list[str]:
    """Run scripts/bootstrap; returns the install commands it ran (python -m pip --version,
    the check that pip is there, left out)."""
    log = root.parent / "calls.log"
    before = log.read_text().splitlines()
    env = {k: v for k, v in os.environ.items() if k not in ("KITH_INSTALLER", "VIRTUAL_ENV")}
    env["PATH"] = str(root.parent / "tools")
    if uv_on_path:
        env["PATH"] = f"{root.parent / 'bin'}{os.pathsep}{env['PATH']}"
    if installer:
        env["KITH_INSTALLER"] = installer
    result = subprocess.run(
        [str(root / "scripts" / "bootstrap"), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()[len(before) :]
    return [call for call in calls if not call.endswith("-m pip --version")]


def installs(calls: list[str]) -> list[str]:
    """What each install asked for: the argument after ``-e``."""
    return [call.split(" -e ", 1)[1].split()[0] for call in calls if " -e " in call]


def test_a_runtime_install_never_passes_for_a_development_one(project):
    runtime = bootstrap(project, "--runtime")
    assert installs(runtime) == ["."] and runtime[0].startswith("uv pip install")
    assert bootstrap(project, "--runtime") == []  # done: nothing to install
    dev = bootstrap(project)  # ./scripts/test after ./scripts/demo: the tools are installed
    assert installs(dev) == [".[dev]"]
    assert bootstrap(project) == [] and bootstrap(project, "--runtime") == []  # dev covers runtime


def test_a_changed_pyproject_installs_again_each_kind_in_turn(project):
    assert installs(bootstrap(project)) == [".[dev]"]
    with (project / "pyproject.toml").open("a") as file:
        file.write("\n# a new dependency\n")
    assert installs(bootstrap(project, "--runtime")) == ["."]
    # the runtime install is current, the development one is not
    assert installs(bootstrap(project)) == [".[dev]"]
    assert bootstrap(project, "--runtime") == []


def test_uv_also_installs_pip_and_pip_is_the_fallback(project):
    (uv_call,) = bootstrap(project, "--runtime")
    assert uv_call.split()[:5] == ["uv", "pip", "install", "--quiet", "--python"]
    assert uv_call.endswith("-e . pip --upgrade-package pip")  # .venv keeps a current pip

    (project / ".venv" / ".kith-installed-runtime").unlink()
    by_pip = bootstrap(project, "--runtime", installer="pip")
    assert [call.split(" -e ")[0].split()[:4] for call in by_pip] == [["python", "-m", "pip", "install"]] * 2
    assert installs(by_pip) == ["."] and "--upgrade pip" in by_pip[0]


def test_without_uv_on_the_path_it_is_pip_installed_into_the_venv_first(project):
    first, second = bootstrap(project, "--runtime", uv_on_path=False)
    assert first.startswith("python -m pip install") and first.endswith(" uv")
    assert second.startswith("venv-uv pip install") and installs([second]) == ["."]
    # a development install later uses the same uv, installing it no more
    (only,) = bootstrap(project, uv_on_path=False)
    assert only.startswith("venv-uv pip install") and installs([only]) == [".[dev]"]


def test_when_uv_fails_pip_installs_instead(project):
    executable(project.parent / "bin" / "uv", "#!/usr/bin/env bash\nexit 1\n")
    calls = bootstrap(project, "--runtime")
    assert [call.split()[:4] for call in calls] == [["python", "-m", "pip", "install"]] * 2
    assert installs(calls) == ["."]
    assert (project / ".venv" / ".kith-installed-runtime").exists()
