"""Settings come from kith.toml and KITH_* variables; the environment wins."""

from __future__ import annotations

import pytest

from kith.core.errors import KithError
from kith.core.settings import load_settings


def test_defaults_file_and_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("KITH_DATABASE_URL", "KITH_PORT", "KITH_MODE", "KITH_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    default = load_settings()
    assert default.database_url == "sqlite:///kith.sqlite3" and default.mode == "development"
    assert default.graphiql_enabled and default.introspection_enabled
    (tmp_path / "kith.toml").write_text('port = 9001\nmode = "production"\nplugins = ["sales"]\n')
    from_file = load_settings()
    assert (from_file.port, from_file.mode, from_file.plugins) == (9001, "production", ["sales"])
    assert not from_file.graphiql_enabled and not from_file.introspection_enabled
    monkeypatch.setenv("KITH_PORT", "9002")
    monkeypatch.setenv("KITH_PLUGINS", "sales, service")
    from_env = load_settings()
    assert from_env.port == 9002 and from_env.plugins == ["sales", "service"]


def test_bad_value_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KITH_MODE", "staging")
    with pytest.raises(KithError, match=r"mode \(KITH_MODE\)"):
        load_settings()
