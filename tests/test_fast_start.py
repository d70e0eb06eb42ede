"""``kith`` starts fast because it imports only what the command needs.

These tests check *what* is imported, not how long it takes (a timed test fails on a busy
machine and passes on a fast one for the wrong reason): ``kith --help`` is click and the
table of core commands, and opens no database; a core command that does not serve GraphQL
never imports the GraphQL layer; ``kith.sdk`` imports a name when it is used.  Each runs
Python in a subprocess, so what this process already imported does not hide an import.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

import kith.sdk
from kith.cli.main import CORE_COMMANDS, cli

SDK_INIT = Path(kith.sdk.__file__)

#: libraries only serving (or printing) the GraphQL API needs
GRAPHQL_STACK = ("strawberry", "graphql", "litestar", "uvicorn")
#: what `kith --help` must not import: those, the libraries behind the core, and Kith's
#: own core, SDK, plugins and command modules
NOT_FOR_HELP = (
    *GRAPHQL_STACK,
    "piccolo",
    "pydantic",
    "pydantic_settings",
    "asyncpg",
    "aiosqlite",
    "sqlite3",
    "jinja2",
    "argon2",
    "httpx",
    "faker",
    "rich",
    "sklearn",
    "asyncio",
    "kith.core",
    "kith.sdk",
    "kith.plugins",
)


def imports_of(code: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Run ``code`` in a fresh interpreter; returns its output and the modules it imported."""
    script = f"{code}\nimport json, sys\nprint('MODULES ' + json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output, _, modules = result.stdout.rpartition("MODULES ")
    return output, json.loads(modules)


def matching(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def run_kith(*args: str) -> str:
    return f"from kith.cli.main import main\ntry:\n    main({list(args)!r})\nexcept SystemExit as exit:\n    assert not exit.code, exit.code"


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--version"]])
def test_kith_help_imports_no_command_and_opens_no_database(args, tmp_path):
    database = tmp_path / "kith.sqlite3"
    output, modules = imports_of(run_kith(*args), tmp_path, {"KITH_DATABASE_URL": f"sqlite:///{database}"})
    assert matching(modules, NOT_FOR_HELP) == []
    assert [m for m in modules if m.startswith("kith.cli.") and m != "kith.cli.main"] == []
    assert not database.exists() and list(tmp_path.iterdir()) == []  # nothing opened, nothing written
    if args != ["--version"]:
        for name, lazy in CORE_COMMANDS.items():
            listed = any(line.split()[:1] == [name] for line in output.splitlines())
            assert listed != lazy.hidden, (name, output)
        assert "`kith plugins list` names them" in " ".join(output.split())


def test_a_mistyped_command_is_refused_without_creating_a_database(tmp_path):
    database = tmp_path / "kith.sqlite3"
    result = subprocess.run(
        [sys.executable, "-m", "kith.cli", "fieds", "list"],
        cwd=tmp_path,
        env={**os.environ, "KITH_DATABASE_URL": f"sqlite:///{database}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "No such command 'fieds'" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_core_commands_that_do_not_serve_graphql_do_not_import_it(tmp_path, kith_database_url):
    output, modules = imports_of(run_kith("users", "list"), tmp_path, {"KITH_DATABASE_URL": kith_database_url})
    assert "Users" in output, output
    # nor the outbound HTTP client (webhooks), which no setting here asks for
    assert matching(modules, (*GRAPHQL_STACK, "httpx")) == []
    commands = [m for m in modules if m.startswith("kith.cli.") and m.endswith("_cmd")]
    assert commands == ["kith.cli.users_cmd"]


def test_a_plugin_manifest_and_the_command_helpers_do_not_import_the_graphql_stack(tmp_path):
    # what `kith plugins list` loads from every plugin, and what every command imports
    code = "from kith.sdk import Plugin, hookimpl\nimport kith.sdk.commands\nimport kith.plugins.sales"
    _, modules = imports_of(code, tmp_path)
    assert matching(modules, (*GRAPHQL_STACK, "httpx", "sklearn")) == []


@pytest.mark.parametrize("width", [80, 60, 200])
def test_the_help_is_what_click_prints_from_the_commands_themselves(width):
    """The short help kept in ``CORE_COMMANDS`` is each command's own: the lazy help reads
    exactly as click's own, which imports every command to ask it."""
    for name, lazy in CORE_COMMANDS.items():
        command = lazy.load()
        assert command.hidden == lazy.hidden, name
        if not lazy.hidden:
            assert lazy.short_help == command.get_short_help_str(10_000), name

    def commands_section(format_commands):
        ctx = click.Context(cli, info_name="kith")
        formatter = click.HelpFormatter(width=width)
        format_commands(ctx, formatter)
        return formatter.getvalue()

    lazy = commands_section(cli.format_commands)
    eager = commands_section(lambda ctx, f: click.Group.format_commands(cli, ctx, f))
    assert lazy == eager
    assert "  fields " in lazy and "  plugin " not in lazy


def sdk_imports_for_type_checkers() -> dict[str, str]:
    """name -> "module" or "module:attribute", from the ``if TYPE_CHECKING:`` block."""
    tree = ast.parse(SDK_INIT.read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    found: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module, ast.unparse(node)
        for alias in node.names:
            name = alias.asname or alias.name
            found[name] = node.module if name == alias.name else f"{node.module}:{alias.name}"
    return found


def test_the_sdk_exports_what_type_checkers_see():
    exports = kith.sdk._EXPORTS
    assert exports == sdk_imports_for_type_checkers()
    assert sorted(kith.sdk.__all__) == sorted(exports)
    assert all(target.startswith(("kith.core.", "kith.sdk.")) for target in exports.values())
    for name, target in exports.items():
        module, _, attribute = target.partition(":")
        assert getattr(kith.sdk, name) is getattr(importlib.import_module(module), attribute or name), name
    assert set(exports) <= set(dir(kith.sdk))
    with pytest.raises(AttributeError, match="has no attribute 'Kith'"):
        kith.sdk.Kith  # noqa: B018
