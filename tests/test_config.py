"""Configuration: file, environment overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.errors import ConfigError, UsageError


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(environ={}, cwd=tmp_path)
    assert (settings.store, settings.catalog, settings.key) == (
        "archive", "sqlite:///archive/catalog.sqlite", "file://archiver.key")
    assert settings.base_dir == tmp_path and settings.zone_for("anyone", None) is None
    assert settings.official_accounts == ("*@*.gov", "*@*.mil")


def test_file_then_environment(tmp_path: Path) -> None:
    (tmp_path / "archiver.yaml").write_text(
        "store: vault\ntimezone: America/Phoenix\ndefault_role: support\n"
        "custodians:\n  j.rivera:\n    names: [Jorge Rivera]\n    role: capstone\n    timezone: America/Chicago\n")
    environ = {"ARCHIVER_STORE": "/srv/archive", "ARCHIVER_OFFICIAL_ACCOUNTS": "*@cbp.dhs.gov, +1202*"}
    settings = load_settings(environ=environ, cwd=tmp_path)
    assert settings.store == "/srv/archive"
    assert settings.official_accounts == ("*@cbp.dhs.gov", "+1202*")
    assert settings.role_of("j.rivera") == "capstone" and settings.role_of("other") == "support"
    assert str(settings.zone_for("j.rivera", None)) == "America/Chicago"
    assert str(settings.zone_for("other", None)) == "America/Phoenix"
    assert str(settings.zone_for("j.rivera", "Europe/Madrid")) == "Europe/Madrid"
    assert settings.custodian("j.rivera").names == ("Jorge Rivera",)


def test_config_named_by_environment_is_relative_to_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "site.yaml").write_text("rules: my-rules.yaml\n")
    settings = load_settings(environ={"ARCHIVER_CONFIG": str(folder / "site.yaml")}, cwd=tmp_path)
    assert settings.base_dir == folder and settings.rules == folder / "my-rules.yaml"


@pytest.mark.parametrize(("text", "message"), [
    ("store: [1, 2\n", "archiver.yaml:2: not valid YAML"),
    ("stroe: archive\n", "unknown key(s) stroe"),
    ("- a list\n", "must be a mapping"),
    ("timezone: Mars/Olympus\n", "Mars/Olympus"),
    ("default_role: boss\n", "default_role must be one of capstone, official, support"),
    ("custodians:\n  j:\n    rank: 3\n", "custodian 'j' may set only"),
    ("official_accounts: 5\n", "official_accounts must be a list of strings"),
])
def test_bad_configuration_is_explained(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "archiver.yaml").write_text(text)
    with pytest.raises(ConfigError) as error:
        load_settings(environ={}, cwd=tmp_path)
    assert message in str(error.value)
    assert error.value.exit_code == 2


def test_missing_named_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings("nope.yaml", environ={}, cwd=tmp_path)


def test_unknown_zone_in_override(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="IANA"):
        load_settings(environ={}, cwd=tmp_path).zone_for("j", "Nowhere/Town")
