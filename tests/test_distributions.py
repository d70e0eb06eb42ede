"""Distributions: a vertical CRM set up in one command, idempotently; roles from YAML."""

from __future__ import annotations

from kith.core import distributions
from kith.sdk import load_settings
from kith_test_plugins import lettings

EXTRA = "kith_test_plugins.lettings:distribution"


def test_kith_init_sets_a_database_up_from_a_distribution(kith_cli, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITH_EXTRA_DISTRIBUTIONS", EXTRA)
    lettings.CALLS.clear()
    first = kith_cli("init", "--distribution", "lettings")
    assert first.exit_code == 0, first.output
    assert "Set up from lettings 1.2.0: 1 plugins, 2 custom fields, 1 roles, 1 rules, 3 records" in first.output
    assert "Lettings" in kith_cli("sales", "pipelines").output and "Viewing" in kith_cli("sales", "pipelines").output
    assert "max_rent" in kith_cli("fields", "list", "contact").output
    role = kith_cli("roles", "show", "letting_agent")
    assert role.exit_code == 0 and "scope: own" in role.output and "deal:" in role.output
    assert "distribution:lettings" in kith_cli("roles", "list").output
    assert "lettings.welcome" in kith_cli("automations", "list").output
    assert kith_cli("automations", "disable", "lettings.welcome").exit_code == 0  # the admin's choice
    again = kith_cli("init", "--distribution", "lettings")
    assert again.exit_code == 0 and "Set up from lettings 1.2.0: nothing new" in again.output
    assert "lettings.welcome" in kith_cli("automations", "list").output
    row = next(line for line in kith_cli("automations", "list").output.splitlines() if "lettings.welcome" in line)
    assert [cell.strip() for cell in row.split("│")][3] == "no"  # still disabled: installing again undoes nothing
    assert kith_cli("sales", "pipelines").output.count("Lettings") == 1  # records are created once
    assert lettings.CALLS == ["setup", "setup"]


def test_an_unknown_or_broken_distribution_is_refused_clearly(kith_cli, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITH_EXTRA_DISTRIBUTIONS", f"{EXTRA},kith_test_plugins.lettings:broken")
    unknown = kith_cli("init", "--distribution", "clinic")
    assert unknown.exit_code == 1
    assert "no distribution named 'clinic' (broken, lettings); pip install the vendor's package first" in unknown.output
    broken = kith_cli("init", "--distribution", "broken")
    assert broken.exit_code == 1 and "records[0].pipeline: no earlier record has key 'nowhere'" in broken.output
    stages = [line.split()[0] for line in kith_cli("sales", "pipelines").output.splitlines() if line.startswith("  ")]
    assert stages == ["Qualification", "Proposal", "Negotiation", "Won", "Lost"]  # no stage X half-made


async def test_installing_from_python_reports_what_it_made(make_kith):
    kith = await make_kith()
    counts = await distributions.install(kith, lettings.distribution)
    assert counts == {"plugins": 1, "custom fields": 2, "roles": 1, "rules": 1, "records": 3}
    assert await distributions.installed(kith) == "lettings 1.2.0"
    assert load_settings().extra_distributions == []


def test_roles_from_yaml(kith_cli, tmp_path):
    roles = tmp_path / "roles.yaml"
    roles.write_text(
        "name: caller\ndescription: Calls customers\ngrants:\n"
        "  contact: {actions: [read], scope: own, hidden: [emails]}\n"
        "  activity: {actions: [read, create]}\n"
    )
    created = kith_cli("roles", "apply", str(roles))
    assert created.exit_code == 0 and "Created role caller" in created.output
    assert "Replaced role caller" in kith_cli("roles", "apply", str(roles)).output
    shown = kith_cli("roles", "show", "caller").output
    assert "hidden:\n    - emails" in shown and "scope: own" in shown
    assert (
        kith_cli("users", "add", "cy@example.com", "--name", "Cy", "--role", "caller", "--no-password").exit_code == 0
    )
    roles.write_text("name: typo\ngrants:\n  contcat: {actions: [read]}\n")
    bad = kith_cli("roles", "apply", str(roles))
    assert bad.exit_code == 1 and "grants.contcat: no entity named 'contcat'" in bad.output
    roles.write_text("name: worse\ngrants:\n  contact: {actions: [fly]}\n")
    worse = kith_cli("roles", "apply", str(roles))
    assert worse.exit_code == 1 and "role 1: grants.contact.actions.0" in worse.output
