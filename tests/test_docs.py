"""The documentation in ``docs/`` is executable; this file runs its examples.

Every runnable fenced block is a test named ``<doc>[<n>]`` (``n`` counts all the fenced
blocks of the doc from 0), run on SQLite, the embedded default a reader starts with (see
``kith_engine`` below for why not on PostgreSQL too).  The tag after the opening fence
decides what happens:

``python``
    Run as a module with top-level ``await`` (like ``python -m asyncio``); its asserts
    must hold.  Ready to use: ``make_kith`` (the fixture: ``await make_kith(plugins=[...],
    enable=[...], **settings)`` opens a Kith on this test's fresh database) and
    ``tmp_path``, ``kith_database_url``; and, unless the block assigns ``kith`` itself, ``kith`` (a core-only
    Kith) and ``gql`` (a ``GraphQLClient`` on it).  ``__name__`` is a real module, so a
    block can declare hooks at top level and pass ``Plugin(hooks=__name__)``.

``python``, ``toml`` or ``yaml`` whose first line is ``# file: <path>``
    A file of a small project the doc describes.  Python files (other than tests) form
    an importable package while that doc's other blocks run (``from kith_tickets import
    plugin``, or ``KITH_EXTRA_PLUGINS=kith_tickets:plugin`` in a console block); the
    block's own test imports it.  A ``test_*.py`` file is run with pytest, in a temporary
    directory holding the doc's file blocks at their paths (its ``pyproject.toml`` too),
    and must pass.  Python files may import nothing from ``kith`` but ``kith.sdk``; TOML
    and YAML files must parse, and are in the working directory of the doc's console
    blocks.

``csv file=<path>``
    A data file (e.g. leads to import), in the working directory of the doc's console
    blocks like TOML and YAML files.

``python setup``
    A step of the doc's GraphQL session (next item), with ``kith`` and ``gql`` ready.

``graphql``
    The ``graphql`` and ``python setup`` blocks of one doc run in document order against
    one Kith per doc and engine (a *session*), so a mutation's effect is visible to the
    blocks after it.  Each operation must return no errors; a ``json`` block right after
    it holds the exact expected ``data``.  A block run on its own (``-k``) first replays
    the doc's earlier setup blocks and mutations on a fresh database.

``console``
    Lines ``$ kith ...`` run in order with click's ``CliRunner`` against a fresh database
    (the ``kith_cli`` fixture), in a temporary working directory (holding the doc's TOML
    and YAML file blocks); each must exit 0, and
    every non-empty line after a command (up to the next ``$``) must appear in its
    output.  ``$ export NAME=value`` sets an environment variable for the rest of the
    block.  Any other ``$`` line is an error: put shell that cannot run here in ``bash``.

Any other tag (``bash``, ``toml``, ``text``, ``python-norun``, a ``json`` block not after
a ``graphql`` block) is shown, not run.  Besides the blocks: every hook in
``kith.core.hookspecs`` has exactly one ``## kith_<name>`` section in ``docs/hooks.md``,
and every relative link in the docs resolves.
"""

from __future__ import annotations

import ast
import asyncio
import csv
import importlib
import importlib.abc
import importlib.util
import inspect
import io
import json
import re
import shlex
import subprocess
import sys
import tomllib
import types
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from graphql import OperationType, parse

from kith.core import hookspecs
from kith.core.runtime import Kith
from kith.sdk import load_settings
from kith.sdk.testing import GraphQLClient, fresh_database_url

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

FENCE = re.compile(r"^```(\S*)[ \t]*(.*?)\s*$")
FILE_LINE = re.compile(r"^#\s*file:\s*(\S+)\s*$")


@dataclass(frozen=True)
class Block:
    doc: str  # file name inside docs/
    index: int  # position among the doc's fenced blocks
    line: int  # line number of the first line of code (1-based)
    tag: str
    info: str
    code: str
    expected: str | None = None  # the json block right after a graphql block

    @property
    def id(self) -> str:
        return f"{self.doc}[{self.index}]"

    @property
    def where(self) -> str:
        return f"docs/{self.doc}:{self.line}"

    @property
    def file_path(self) -> str | None:
        if self.tag == "csv":  # no comment syntax: the path is in the info string
            named = re.search(r"\bfile=(\S+)", self.info)
            return named.group(1) if named else None
        first = self.code.splitlines()[0] if self.code else ""
        match = FILE_LINE.match(first)
        return match.group(1) if self.tag in ("python", "toml", "yaml") and match else None

    @property
    def is_module(self) -> bool:
        """A ``# file:`` block that is importable Python (not a test module)."""
        path = self.file_path
        return path is not None and path.endswith(".py") and not Path(path).name.startswith("test_")

    @property
    def is_setup(self) -> bool:
        return self.tag == "python" and self.info.split()[:1] == ["setup"]


def parse_blocks(doc: Path) -> list[Block]:
    lines = doc.read_text().splitlines()
    raw: list[tuple[int, str, str, str]] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        start = i + 1
        end = start
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"docs/{doc.name}:{i + 1}: unclosed code fence")
        raw.append((start + 1, match.group(1), match.group(2), "\n".join(lines[start:end]) + "\n"))
        i = end + 1
    blocks: list[Block] = []
    for index, (line, tag, info, code) in enumerate(raw):
        following = raw[index + 1] if index + 1 < len(raw) else None
        expected = following[3] if tag == "graphql" and following and following[1] == "json" else None
        blocks.append(Block(doc.name, index, line, tag, info, code, expected))
    return blocks


DOC_FILES = sorted(DOCS.glob("*.md"))
ALL_BLOCKS = [block for doc in DOC_FILES for block in parse_blocks(doc)]
BY_DOC: dict[str, list[Block]] = {}
for _block in ALL_BLOCKS:
    BY_DOC.setdefault(_block.doc, []).append(_block)

PYTHON_BLOCKS = [b for b in ALL_BLOCKS if b.tag == "python" and not b.is_setup and b.file_path is None]
FILE_BLOCKS = [b for b in ALL_BLOCKS if b.file_path is not None]
SESSION_BLOCKS = [b for b in ALL_BLOCKS if b.tag == "graphql" or b.is_setup]
CONSOLE_BLOCKS = [b for b in ALL_BLOCKS if b.tag == "console"]


def ids(blocks: list[Block]) -> list[str]:
    return [b.id for b in blocks]


def source(block: Block) -> str:
    """The block's code, shifted so tracebacks show the line numbers of the doc."""
    return "\n" * (block.line - 1) + block.code


# -- source files written in the docs (``# file: ...``) ----------------------------------


class DocPackage(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves a doc's ``# file:`` blocks as importable modules."""

    def __init__(self, blocks: list[Block]) -> None:
        self.modules: dict[str, Block | None] = {}
        self.packages: set[str] = set()
        for block in blocks:
            path = Path(str(block.file_path))
            parts = list(path.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
                self.packages.add(".".join(parts))
            self.modules[".".join(parts)] = block
            for n in range(1, len(parts)):
                package = ".".join(parts[:n])
                self.packages.add(package)
                self.modules.setdefault(package, None)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.modules:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=fullname in self.packages)

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        block = self.modules[module.__name__]
        if block is not None:
            exec(compile(source(block), str(DOCS / block.doc), "exec"), module.__dict__)

    def forget(self) -> None:
        for name in list(sys.modules):
            if name in self.modules or name.split(".")[0] in self.modules:
                del sys.modules[name]


@contextmanager
def doc_package(doc: str) -> Iterator[DocPackage]:
    """The doc's file blocks are importable inside the block, and forgotten afterwards."""
    package = DocPackage([b for b in BY_DOC.get(doc, []) if b.is_module])
    sys.meta_path.insert(0, package)
    try:
        yield package
    finally:
        sys.meta_path.remove(package)
        package.forget()


def kith_imports(code: str) -> list[str]:
    """Absolute imports of ``kith`` modules other than ``kith.sdk``."""
    found = []
    for node in ast.walk(ast.parse(code)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if (name == "kith" or name.startswith("kith.")) and not (
                name == "kith.sdk" or name.startswith("kith.sdk.")
            ):
                found.append(name)
    return found


# -- running python blocks -----------------------------------------------------------------


def assigns(code: str, name: str) -> bool:
    return any(
        isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store)
        for node in ast.walk(ast.parse(code))
    )


async def run_python(block: Block, names: dict[str, Any]) -> None:
    """Run the block as a module with top-level await; ``names`` are its globals."""
    module_name = f"kith_docs_{block.doc.removesuffix('.md').replace('-', '_')}_{block.index}"
    module = types.ModuleType(module_name)
    module.__dict__.update(names)
    sys.modules[module_name] = module
    try:
        code = compile(source(block), str(DOCS / block.doc), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, module.__dict__)
        if inspect.iscoroutine(result):
            await result
    finally:
        del sys.modules[module_name]


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=ids(PYTHON_BLOCKS))
async def test_python_block(block: Block, make_kith: Any, kith_database_url: str, tmp_path: Path) -> None:
    names: dict[str, Any] = {"make_kith": make_kith, "kith_database_url": kith_database_url, "tmp_path": tmp_path}
    if not assigns(block.code, "kith"):
        kith = await make_kith()
        names.update(kith=kith, gql=GraphQLClient(kith))
    with doc_package(block.doc):
        await run_python(block, names)


@pytest.mark.parametrize("block", FILE_BLOCKS, ids=ids(FILE_BLOCKS))
def test_file_block(block: Block, tmp_path: Path) -> None:
    path = str(block.file_path)
    if block.tag == "toml":
        tomllib.loads(block.code)
        return
    if block.tag == "yaml":
        yaml.safe_load(block.code)
        return
    if block.tag == "csv":
        rows = list(csv.reader(io.StringIO(block.code)))
        assert rows and all(len(row) == len(rows[0]) for row in rows), f"{block.where}: ragged CSV"
        return
    forbidden = kith_imports(block.code)
    assert not forbidden, f"{block.where}: plugins and their tests import only kith.sdk, not {forbidden}"
    if block.is_module:
        with doc_package(block.doc) as package:
            name = next(n for n, b in package.modules.items() if b is block)
            importlib.import_module(name)
        return
    # a test module: run it with pytest, next to the doc's other files (its pyproject.toml)
    for other in BY_DOC[block.doc]:
        if other.file_path is not None:
            target = tmp_path / str(other.file_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(other.code)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{block.where}: pytest failed:\n{result.stdout}\n{result.stderr}"


# -- GraphQL sessions ------------------------------------------------------------------------


def is_mutation(block: Block) -> bool:
    document = parse(block.code)
    return any(getattr(d, "operation", None) is OperationType.MUTATION for d in document.definitions)


class Session:
    """One Kith on its own database and event loop, running a doc's blocks in order."""

    def __init__(self, engine: str, directory: Path) -> None:
        self.stack = ExitStack()
        url = self.stack.enter_context(fresh_database_url(engine, directory))
        self.loop = asyncio.new_event_loop()
        self.kith: Kith = self.loop.run_until_complete(
            Kith.open(load_settings(database_url=url, secret_key="kith-docs-examples"))
        )
        self.gql = GraphQLClient(self.kith)
        self.done = -1  # index (in the doc's session blocks) of the last block run
        self.broken = False

    def run(self, block: Block) -> None:
        if block.tag == "graphql":
            self.loop.run_until_complete(self._graphql(block))
        else:
            self.loop.run_until_complete(run_python(block, {"kith": self.kith, "gql": self.gql}))

    async def _graphql(self, block: Block) -> None:
        body = await self.gql.execute(block.code)
        assert not body.get("errors"), f"{block.where}: {json.dumps(body['errors'], indent=2)}"
        if block.expected is not None:
            assert body["data"] == json.loads(block.expected), (
                f"{block.where}: the response differs from the json block after it:\n"
                + json.dumps(body["data"], indent=2)
            )

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.kith.close())
            self.loop.close()
        finally:
            self.stack.close()


@pytest.fixture(params=["sqlite"])
def kith_engine(request: pytest.FixtureRequest) -> str:
    """The docs' examples run on SQLite only.  They check that each example works as
    written, on the engine a reader starts with; how Kith behaves on each engine is what
    the rest of the suite checks, every storage test on both.  Run on PostgreSQL as
    well, the ~350 examples each paid for a fresh database (a copy of a 300-relation
    template: about 0.4 s of the server's time) and took a fifth of the suite, for
    behaviour the feature tests already cover on PostgreSQL."""
    return str(request.param)


@pytest.fixture(scope="module")
def sessions() -> Iterator[dict[tuple[str, str], Session]]:
    opened: dict[tuple[str, str], Session] = {}
    yield opened
    for session in opened.values():
        session.close()


@pytest.mark.parametrize("block", SESSION_BLOCKS, ids=ids(SESSION_BLOCKS))
def test_graphql_session_block(
    block: Block, kith_engine: str, sessions: dict[tuple[str, str], Session], tmp_path_factory: Any
) -> None:
    steps = [b for b in SESSION_BLOCKS if b.doc == block.doc]
    position = steps.index(block)
    key = (kith_engine, block.doc)
    session = sessions.get(key)
    if session is None or session.broken or session.done != position - 1:
        if session is not None:
            session.close()
        session = sessions[key] = Session(kith_engine, tmp_path_factory.mktemp("docs"))
        for earlier in steps[:position]:
            if earlier.is_setup or is_mutation(earlier):
                try:
                    session.run(earlier)
                except Exception as exc:
                    session.broken = True
                    raise AssertionError(f"an earlier block of {block.doc} failed: {exc}") from exc
    session.done = position
    try:
        session.run(block)
    except BaseException:
        session.broken = True
        raise


# -- console blocks ---------------------------------------------------------------------------


def console_steps(block: Block) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:].strip(), []))
        elif line.strip():
            assert steps, f"{block.where}: output before the first command: {line!r}"
            steps[-1][1].append(line.strip())
    return steps


@pytest.mark.parametrize("block", CONSOLE_BLOCKS, ids=ids(CONSOLE_BLOCKS))
def test_console_block(block: Block, kith_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    steps = console_steps(block)
    assert steps, f"{block.where}: a console block needs at least one `$ kith ...` line"
    for other in BY_DOC[block.doc]:  # the doc's data files (rules, configuration) are in the directory
        if other.file_path is not None and not other.file_path.endswith(".py"):
            (tmp_path / other.file_path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / other.file_path).write_text(other.code)
    with doc_package(block.doc):
        for command, expected in steps:
            words = shlex.split(command)
            if words[0] == "export":
                name, _, value = words[1].partition("=")
                monkeypatch.setenv(name, value)
                continue
            assert words[0] == "kith", f"{block.where}: only `$ kith ...` and `$ export ...` run here: {command!r}"
            result = kith_cli(*words[1:])
            assert result.exit_code == 0, f"{block.where}: `{command}` exited {result.exit_code}:\n{result.output}"
            for line in expected:
                assert line in result.output, f"{block.where}: `{command}` did not print {line!r}:\n{result.output}"


# -- structure ---------------------------------------------------------------------------------


def test_every_hook_has_exactly_one_section_in_hooks_md() -> None:
    hooks = {name for name, value in vars(hookspecs).items() if name.startswith("kith_") and inspect.isfunction(value)}
    headings = re.findall(r"^## (kith_\w+)\s*$", (DOCS / "hooks.md").read_text(), re.MULTILINE)
    assert sorted(hooks - set(headings)) == [], "hooks without a section in docs/hooks.md"
    assert sorted(set(headings) - hooks) == [], "docs/hooks.md documents hooks that do not exist"
    assert len(headings) == len(set(headings)), "a hook has two sections"


def _anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for heading in re.findall(r"^#+ (.+?)\s*$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_relative_links_resolve() -> None:
    problems = []
    for doc in [*DOC_FILES, ROOT / "README.md"]:
        text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.MULTILINE | re.DOTALL)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                problems.append(f"{doc.name}: {target} (no such file)")
                continue
            if anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text()):
                problems.append(f"{doc.name}: {target} (no such heading)")
    assert problems == []


# The pages a plugin author works from: their examples are what plugins copy, so they
# import only the SDK (a plugin may not import kith.core or kith.cli; its tests need not).
PLUGIN_AUTHOR_PAGES = ("plugins.md", "hooks.md", "sdk.md", "testing.md", "tutorial.md", "distributions.md")
INTERNAL_IMPORT = re.compile(r"^\s*(from|import)\s+kith\.(core|cli)\b", re.MULTILINE)


@pytest.mark.parametrize("page", PLUGIN_AUTHOR_PAGES)
def test_plugin_author_examples_import_only_the_sdk(page: str) -> None:
    offending = [
        f"{block.where}: {match.group(0).strip()}"
        for block in parse_blocks(DOCS / page)
        if block.tag == "python"
        for match in INTERNAL_IMPORT.finditer(block.code)
    ]
    assert offending == [], "examples for plugin authors import Kith's internals:\n" + "\n".join(offending)


# What plugin code reaches through the running Kith instead of its PluginContext: the
# runtime's services, the resolver/route ways to it, and an action's ``ctx.kith``.
RUNTIME_USE = re.compile(
    r"\bkith_from\b|\bwith_kith\b|\bKith\.open\b|app\.state\.kith|\._kith\b|\bcontext\.kith\b|\bctx\.kith\b"
    r"|\.runtime\b"
    r"|\bkith\.(records|db|query|automations|custom_fields|auth)\b"
)


@pytest.mark.parametrize("page", PLUGIN_AUTHOR_PAGES)
def test_plugin_author_examples_work_through_the_plugin_context(page: str) -> None:
    """Hooks, resolvers, routes, actions and commands in these pages get a PluginContext;
    a test's checks use ``system_context(kith)`` or GraphQL, as a plugin's own tests would."""
    offending = [
        f"{block.where}: {match.group(0)}"
        for block in parse_blocks(DOCS / page)
        if block.tag == "python"
        for match in RUNTIME_USE.finditer(block.code)
    ]
    assert offending == [], "examples for plugin authors reach for the running Kith:\n" + "\n".join(offending)
