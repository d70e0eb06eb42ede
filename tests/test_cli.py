"""The admin's view: every task is one ``kith`` command with a clear answer."""

from __future__ import annotations

import re

import pytest

from kith.cli.main import cli


def test_help_everywhere(kith_cli):
    for args in (
        [],
        ["plugins"],
        ["fields"],
        ["schema"],
        ["fields", "add"],
        ["demo"],
        ["serve"],
        ["migrate"],
    ):
        result = kith_cli(*args, "--help")
        assert result.exit_code == 0, (args, result.output)
        assert "Usage:" in result.output


def test_one_group_for_plugins_and_the_old_name_is_a_deprecated_alias(kith_cli, tmp_path):
    top = kith_cli("--help").output
    assert re.search(r"^  plugins ", top, flags=re.MULTILINE), top
    assert not re.search(r"^  plugin ", top, flags=re.MULTILINE), "the deprecated name must not be offered"
    group = kith_cli("plugins", "--help").output
    listed = re.findall(r"^  (\w+) ", group.split("Commands:")[1], flags=re.MULTILINE)
    assert listed == ["disable", "enable", "info", "list", "new", "purge"]

    # the old name runs the very same commands: same stdout, plus one line on stderr
    new = kith_cli("plugins", "list")
    old = kith_cli("plugin", "list")
    assert (old.exit_code, old.stdout) == (0, new.stdout) and new.stderr == ""
    assert old.stderr == "`kith plugin` is deprecated and will be removed; use `kith plugins list`.\n"
    made = kith_cli("plugin", "new", "gizmos", "--directory", str(tmp_path))
    assert made.exit_code == 0 and (tmp_path / "kith-gizmos" / "pyproject.toml").is_file(), made.output
    assert made.stderr == "`kith plugin` is deprecated and will be removed; use `kith plugins new`.\n"
    bare = kith_cli("plugin")  # no subcommand: the group's help, after the same notice
    assert bare.stderr.startswith("`kith plugin` is deprecated and will be removed; use `kith plugins`.\n")


def test_init_writes_config_and_prepares_the_database(kith_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = kith_cli("init")
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
    config = (tmp_path / "kith.toml").read_text()
    assert "secret_key" in config
    again = kith_cli("init")
    assert "keeping it" in again.output
    assert "Nothing to migrate" in kith_cli("migrate").output


def test_fields_add_list_rename_remove(kith_cli):
    added = kith_cli("fields", "add", "contact", "tier", "integer", "--indexed", "--label", "Tier")
    assert added.exit_code == 0, added.output
    assert "customFields.tier" in added.output
    assert (
        kith_cli(
            "fields",
            "add",
            "contact",
            "segment",
            "single_select",
            "--choice",
            "smb",
            "--choice",
            "enterprise",
        ).exit_code
        == 0
    )
    listing = kith_cli("fields", "list", "contact")
    assert "tier" in listing.output and "segment" in listing.output and "enterprise" in listing.output
    assert "tier: Int" in kith_cli("schema", "print").output
    renamed = kith_cli("fields", "rename", "contact", "tier", "level")
    assert renamed.exit_code == 0, renamed.output
    schema = kith_cli("schema", "print").output
    assert "level: Int" in schema and "tier: Int" not in schema
    removed = kith_cli("fields", "remove", "contact", "level", "--yes")
    assert removed.exit_code == 0 and "0 record(s) had a value" in removed.output
    assert "level: Int" not in kith_cli("schema", "print").output


def test_fields_index_indexes_a_field_that_exists(kith_cli):
    assert kith_cli("fields", "add", "contact", "segment", "text").exit_code == 0

    def indexed_column() -> bool:
        listing = kith_cli("fields", "list", "contact").output
        row = next(line for line in listing.splitlines() if "segment" in line)
        return "yes" in row

    assert not indexed_column()
    done = kith_cli("fields", "index", "contact", "segment")
    assert done.exit_code == 0, done.output
    assert "Indexed contact.segment" in done.output and indexed_column()
    off = kith_cli("fields", "index", "contact", "segment", "--off")
    assert off.exit_code == 0 and "Dropped the index of contact.segment" in off.output and not indexed_column()
    assert kith_cli("fields", "add", "contact", "notes", "long_text").exit_code == 0
    refused = kith_cli("fields", "index", "contact", "notes")
    assert refused.exit_code != 0 and "indexed: a long_text field cannot be indexed" in refused.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fields", "add", "planet", "x", "text"], "entity: unknown entity 'planet'"),
        (["fields", "add", "contact", "Bad Name", "text"], "name: must start with a lowercase letter"),
        (["fields", "add", "contact", "emails", "text"], "name: 'emails' is a built-in field of contact"),
        (
            ["fields", "add", "contact", "kind", "single_select"],
            "choices: a single_select field needs choices",
        ),
        (["fields", "add", "contact", "boss", "relation", "--target", "planet"], "target: a relation needs"),
        (["fields", "remove", "contact", "nope", "--yes"], "contact has no custom field 'nope'"),
        (["plugins", "enable", "nope"], "no plugin named 'nope' is installed"),
        (["plugins", "disable", "core"], "essential"),
    ],
)
def test_errors_are_one_clear_line_with_non_zero_exit(kith_cli, args, message):
    result = kith_cli(*args)
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ") and message in lines[0], lines[0]


def test_unreachable_database_is_one_line(monkeypatch):
    from click.testing import CliRunner

    monkeypatch.setenv("KITH_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(cli, ["fields", "list"])
    assert result.exit_code == 1
    assert re.match(r"Error: cannot reach PostgreSQL at postgresql://nobody@127.0.0.1:1/none", result.output)


def test_bad_setting_is_one_line(monkeypatch):
    from click.testing import CliRunner

    monkeypatch.setenv("KITH_PORT", "eighty")
    result = CliRunner().invoke(cli, ["fields", "list"])
    assert result.exit_code == 1
    assert "Error: invalid settings: port (KITH_PORT)" in result.output


def test_demo_creates_realistic_data(kith_cli):
    result = kith_cli("demo", "--no-serve", "--contacts", "60")
    assert result.exit_code == 0, result.output
    assert "60 contacts" in result.output and "20 organizations" in result.output
    assert "Enabled plugin sales" in result.output and "deals" in result.output
    assert "Enabled plugin service" in result.output and re.search(r"24\s+tickets", result.output)
    again = kith_cli("demo", "--no-serve", "--contacts", "60")
    assert "already there" in again.output


def test_migrate_on_an_empty_database_applies_everything(kith_cli):
    result = kith_cli("migrate")
    assert result.exit_code == 0, result.output
    assert "applied core: 0001_initial" in result.output and "applied core: 0004_privacy" in result.output
    assert "Nothing to migrate" in kith_cli("migrate").output
