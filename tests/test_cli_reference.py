"""Every core ``kith`` command, subcommand and option is documented in ``docs/cli.md``.

The page's convention, which this test checks against the click tree of
``kith.cli.main:cli`` (core commands only; plugins document their own):

- the root options (``--database-url`` …) are in the ``## Global options`` section;
- each top-level command has a section headed ``## kith NAME``; a second name of the
  same command (the deprecated ``kith plugin`` for ``kith plugins``) is mentioned in it as
  ```kith plugin ...```;
- the section's ``text`` block has a synopsis line per command — ``kith NAME ...`` for a
  command, ``kith NAME SUB ...`` for each subcommand of a group (indented lines continue
  the line above) — naming each argument (``ENTITY``, ``FILES``) and at least one form
  of each option;
- every form of every option (``-o`` and ``--output``) appears in the section;
- a group's section has a table with a row whose first cell names each subcommand
  (```SUB ...```).
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from kith.cli.main import cli

CLI_MD = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def sections() -> dict[str, str]:
    """``## heading`` -> the text up to the next ``## `` heading."""
    text = CLI_MD.read_text()
    found: dict[str, str] = {}
    parts = re.split(r"^## (.+?)\s*$", text, flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        assert heading not in found, f"docs/cli.md has two sections '## {heading}'"
        found[heading] = body
    return found


def synopsis_lines(body: str) -> list[str]:
    """The lines of the section's ``text`` blocks, continuation lines joined."""
    lines: list[str] = []
    for block in re.findall(r"^```text\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL):
        for line in block.splitlines():
            if line[:1].isspace() and lines:
                lines[-1] += " " + line.strip()
            elif line.strip():
                lines.append(line.strip())
    return lines


def first_cells(body: str) -> list[str]:
    return [row.split("|")[1] for row in re.findall(r"^\|[^\n]*\|\s*$", body, flags=re.MULTILINE)]


def commands() -> list[tuple[str, click.Command]]:
    """(name, command) of every core top-level command, aliases included (loaded: the
    group imports a command's module on first use)."""
    ctx = click.Context(cli)
    found = [(name, cli.get_command(ctx, name)) for name in cli.list_commands(ctx)]
    return [(name, command) for name, command in found if command is not None]


def canonical(name: str, command: click.Command) -> str:
    return command.name or name


def check_command(path: str, command: click.Command, body: str, lines: list[str]) -> list[str]:
    """Problems with the documentation of one (sub)command in its section."""
    problems = []
    line = next((ln for ln in lines if ln == path or ln.startswith(path + " ")), None)
    if line is None:
        return [f"`{path}`: no synopsis line starting with `{path}` in the section's ```text block"]
    for param in command.params:
        if isinstance(param, click.Argument):
            if not re.search(rf"\b{re.escape(param.human_readable_name)}\b", line):
                problems.append(f"`{path}`: argument {param.human_readable_name} is not in its synopsis line")
        elif isinstance(param, click.Option):
            forms = [*param.opts, *param.secondary_opts]
            if not any(re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", line) for form in forms):
                problems.append(f"`{path}`: option {'/'.join(forms)} is not in its synopsis line")
            for form in forms:
                if not re.search(rf"(?<![\w-]){re.escape(form)}(?![\w-])", body):
                    problems.append(f"`{path}`: option {form} is not mentioned in its section")
    return problems


def test_global_options_are_documented() -> None:
    body = sections().get("Global options")
    assert body is not None, "docs/cli.md has no '## Global options' section"
    missing = [
        form
        for param in cli.params
        if isinstance(param, click.Option)
        for form in (*param.opts, *param.secondary_opts)
        if f"`{form}" not in body and f" {form}" not in body
    ]
    assert missing == [], f"root options missing from '## Global options': {missing}"


@pytest.mark.parametrize(("name", "command"), commands(), ids=[name for name, _ in commands()])
def test_every_command_and_subcommand_is_documented(name: str, command: click.Command) -> None:
    main = canonical(name, command)
    body = sections().get(f"kith {main}")
    assert body is not None, f"docs/cli.md has no section '## kith {main}'"
    if name != main:  # another name of the same command
        assert f"`kith {name} " in body or f"`kith {name}`" in body, (
            f"`kith {name}` (another name of `kith {main}`) is not mentioned in the section '## kith {main}'"
        )
        return
    lines = synopsis_lines(body)
    problems: list[str] = []
    if isinstance(command, click.Group):
        cells = first_cells(body)
        for sub_name, sub in sorted(command.commands.items()):
            path = f"kith {main} {sub_name}"
            problems += check_command(path, sub, body, lines)
            if not any(re.search(rf"`{re.escape(sub_name)}[ `]", cell) for cell in cells):
                problems.append(f"`{path}`: no table row whose first cell names `{sub_name}`")
    else:
        problems += check_command(f"kith {main}", command, body, lines)
    assert problems == [], "\n".join(problems)


def test_the_page_documents_only_commands_that_exist() -> None:
    documented = {heading.removeprefix("kith ") for heading in sections() if heading.startswith("kith ")}
    core = {canonical(name, command) for name, command in commands()}
    assert sorted(documented - core) == [], "docs/cli.md has sections for commands `kith` does not have"


def test_every_setting_is_in_the_settings_section() -> None:
    from kith.core.settings import Settings

    body = sections().get("Settings", "")
    missing = [name for name in Settings.model_fields if f"`{name}`" not in body]
    assert missing == [], f"settings missing from the '## Settings' table of docs/cli.md: {missing}"
