"""Configuration: file, environment overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver.config import load_settings, load_zone
from archiver.errors import ConfigError, UsageError


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(environ={}, cwd=tmp_path)
    assert (settings.store, settings.catalog, settings.key) == (
        "archive", "sqlite:///archive/catalog.sqlite", "file://archiver.key")
    assert settings.base_dir == tmp_path and settings.timezone is None
    assert settings.official_accounts == ("*@*.gov", "*@*.mil")


def test_file_then_environment(tmp_path: Path) -> None:
    (tmp_path / "archiver.yaml").write_text(
        "store: vault\ntimezone: America/Phoenix\ndefault_role: support\nreminder_days: [18, 14]\n"
        "records_officer: records@agency.gov\nnotifier: smtp://relay.agency.gov:25\n")
    environ = {"ARCHIVER_STORE": "/srv/archive", "ARCHIVER_OFFICIAL_ACCOUNTS": "*@cbp.dhs.gov, +1202*"}
    settings = load_settings(environ=environ, cwd=tmp_path)
    assert settings.store == "/srv/archive"
    assert settings.official_accounts == ("*@cbp.dhs.gov", "+1202*")
    assert (settings.default_role, settings.timezone) == ("support", "America/Phoenix")
    assert settings.reminder_days == (14, 18) and settings.records_officer == "records@agency.gov"
    assert settings.notifier == "smtp://relay.agency.gov:25"


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
    ("reminder_days: [14, 25]\n", "reminder_days must be a list of whole days between 1 and 19"),
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


def test_unknown_zone(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="IANA"):
        load_zone("Nowhere/Town")
