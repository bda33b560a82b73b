"""Configuration: ``archiver.yaml`` with every key overridable by ``ARCHIVER_*`` variables.

The file is found from ``--config``, else ``ARCHIVER_CONFIG``, else ``./archiver.yaml`` if
present; otherwise defaults apply. Relative paths are read from the config file's folder
(or the working folder when there is no file), so ``archiver init`` then ``archiver
ingest`` in the same folder need nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from archiver.core.custodians import load_zone
from archiver.core.forwarding import DEFAULT_OFFICIAL_PATTERNS
from archiver.core.retention import ROLE_SCHEDULE
from archiver.errors import ConfigError, UsageError

CONFIG_FILE = "archiver.yaml"
ENV_CONFIG = "ARCHIVER_CONFIG"
ENV_STORE = "ARCHIVER_STORE"
ENV_CATALOG = "ARCHIVER_CATALOG"
ENV_KEY = "ARCHIVER_KEY"
ENV_TIMEZONE = "ARCHIVER_TIMEZONE"
ENV_OFFICIAL_ACCOUNTS = "ARCHIVER_OFFICIAL_ACCOUNTS"
ENV_RULES = "ARCHIVER_RULES"
ENV_SCHEDULES = "ARCHIVER_SCHEDULES"
ENV_DEFAULT_ROLE = "ARCHIVER_DEFAULT_ROLE"
ENV_RECORDS_OFFICER = "ARCHIVER_RECORDS_OFFICER"
ENV_NOTIFIER = "ARCHIVER_NOTIFIER"
ENV_NOTICE_SENDER = "ARCHIVER_NOTICE_SENDER"
ENV_REMINDER_DAYS = "ARCHIVER_REMINDER_DAYS"
ENV_REVIEW_DAYS = "ARCHIVER_REVIEW_DAYS"
ENV_PARTICIPANTS = "ARCHIVER_PARTICIPANTS"
ENV_RULES_OVERRIDES = "ARCHIVER_RULES_OVERRIDES"

DEFAULT_STORE = "archive"
DEFAULT_CATALOG = "sqlite:///archive/catalog.sqlite"
DEFAULT_KEY = "file://archiver.key"
DEFAULT_NOTIFIER = "mailfile://notices"
DEFAULT_NOTICE_SENDER = "records-archiver@localhost"
DEFAULT_REMINDER_DAYS = (14, 18)
DEFAULT_REVIEW_DAYS = 90

# Capstone role -> GRS 6.1 item (DESIGN.md, "Retention schedules").
_TOP_KEYS = {"store", "catalog", "key", "timezone", "official_accounts", "rules", "schedules",
             "default_role", "records_officer", "notifier", "notice_sender", "reminder_days", "review_days",
             "participants", "rules_overrides", "disposition_approvals"}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration."""

    base_dir: Path
    store: str = DEFAULT_STORE
    catalog: str = DEFAULT_CATALOG
    key: str = DEFAULT_KEY
    timezone: str | None = None
    official_accounts: tuple[str, ...] = DEFAULT_OFFICIAL_PATTERNS
    rules: Path | None = None
    rules_overrides: tuple[Path, ...] = ()
    schedules: tuple[Path, ...] = ()
    default_role: str | None = None
    records_officer: str | None = None
    notifier: str = DEFAULT_NOTIFIER
    notice_sender: str = DEFAULT_NOTICE_SENDER
    reminder_days: tuple[int, ...] = DEFAULT_REMINDER_DAYS
    review_days: int = DEFAULT_REVIEW_DAYS
    participants: Path | None = None
    disposition_approvals: int = 1  # distinct records officers who must approve a disposal plan
    source: Path | None = None


def load_settings(config_path: str | None = None, environ: Mapping[str, str] | None = None,
                  cwd: Path | None = None) -> Settings:
    """Read the configuration file (if any) and apply ``ARCHIVER_*`` overrides."""
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    path = _config_path(config_path or environ.get(ENV_CONFIG), cwd)
    document = _read(path) if path else {}
    base_dir = path.parent if path else cwd
    merged = {**document, **_environment(environ)}
    return _settings(merged, base_dir, path)


def _config_path(named: str | None, cwd: Path) -> Path | None:
    if named:
        path = Path(named)
        path = path if path.is_absolute() else cwd / path
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        return path
    default = cwd / CONFIG_FILE
    return default if default.is_file() else None


def _read(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration ({exc})") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys to values")
    unknown = set(document) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(_TOP_KEYS))}")
    return document


def _environment(environ: Mapping[str, str]) -> dict[str, Any]:
    scalars = {ENV_STORE: "store", ENV_CATALOG: "catalog", ENV_KEY: "key", ENV_TIMEZONE: "timezone",
               ENV_RULES: "rules", ENV_DEFAULT_ROLE: "default_role", ENV_RECORDS_OFFICER: "records_officer",
               ENV_NOTIFIER: "notifier", ENV_NOTICE_SENDER: "notice_sender", ENV_REVIEW_DAYS: "review_days",
               ENV_PARTICIPANTS: "participants"}
    overrides: dict[str, Any] = {key: environ[var] for var, key in scalars.items() if environ.get(var)}
    if environ.get(ENV_OFFICIAL_ACCOUNTS):
        overrides["official_accounts"] = [p.strip() for p in environ[ENV_OFFICIAL_ACCOUNTS].split(",") if p.strip()]
    if environ.get(ENV_REMINDER_DAYS):
        overrides["reminder_days"] = [d.strip() for d in environ[ENV_REMINDER_DAYS].split(",") if d.strip()]
    if environ.get(ENV_RULES_OVERRIDES):
        overrides["rules_overrides"] = [p for p in environ[ENV_RULES_OVERRIDES].split(os.pathsep) if p]
    if environ.get(ENV_SCHEDULES):
        overrides["schedules"] = [p for p in environ[ENV_SCHEDULES].split(os.pathsep) if p]
    return overrides


def _settings(doc: dict[str, Any], base_dir: Path, source: Path | None) -> Settings:
    where = str(source or "environment")
    role = doc.get("default_role")
    _check_role(role, where, "default_role")
    return Settings(
        base_dir=base_dir,
        store=_text(doc, "store", DEFAULT_STORE, where),
        catalog=_text(doc, "catalog", DEFAULT_CATALOG, where),
        key=_text(doc, "key", DEFAULT_KEY, where),
        timezone=_optional_zone(doc.get("timezone"), where),
        official_accounts=tuple(_strings(doc.get("official_accounts", DEFAULT_OFFICIAL_PATTERNS), where,
                                         "official_accounts")),
        rules=_path(doc.get("rules"), base_dir),
        schedules=tuple(base_dir / p for p in _strings(doc.get("schedules", []), where, "schedules")),
        default_role=role,
        records_officer=doc.get("records_officer"),
        notifier=_text(doc, "notifier", DEFAULT_NOTIFIER, where),
        notice_sender=_text(doc, "notice_sender", DEFAULT_NOTICE_SENDER, where),
        reminder_days=_reminder_days(doc.get("reminder_days", DEFAULT_REMINDER_DAYS), where),
        review_days=_review_days(doc.get("review_days", DEFAULT_REVIEW_DAYS), where),
        participants=_path(doc.get("participants"), base_dir),
        rules_overrides=tuple(base_dir / p for p in _strings(doc.get("rules_overrides", []), where,
                                                             "rules_overrides")),
        disposition_approvals=_approvals(doc.get("disposition_approvals", 1), where),
        source=source,
    )


def _reminder_days(value: Any, where: str) -> tuple[int, ...]:
    try:
        days = tuple(sorted({int(d) for d in value}))
    except (TypeError, ValueError):
        days = ()
    if not days or not all(0 < d < 20 for d in days):
        raise ConfigError(f"{where}: reminder_days must be a list of whole days between 1 and 19 "
                          "(days after the last sync, inside the 20-day window)")
    return days


def _review_days(value: Any, where: str) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = 0
    if days < 1 or str(value).strip() != str(days):
        raise ConfigError(f"{where}: review_days must be a whole number of days, 1 or more")
    return days


def _approvals(value: Any, where: str) -> int:
    if value not in (1, 2) or isinstance(value, bool):
        raise ConfigError(f"{where}: disposition_approvals must be 1 or 2 (distinct records officers "
                          "who approve a disposal plan)")
    return int(value)


def _check_role(role: Any, where: str, key: str) -> None:
    if role is not None and (not isinstance(role, str) or role not in ROLE_SCHEDULE):
        raise ConfigError(f"{where}: {key} must be one of {', '.join(ROLE_SCHEDULE)}, not {role!r}")


def _text(doc: dict[str, Any], key: str, default: str, where: str) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {key} must be a non-empty string")
    return value


def _strings(value: Any, where: str, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    return list(value)


def _optional_zone(value: Any, where: str) -> str | None:
    if value is None:
        return None
    try:
        load_zone(str(value))
    except UsageError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return str(value)


def _path(value: Any, base_dir: Path) -> Path | None:
    if value is None:
        return None
    path = Path(str(value))
    return path if path.is_absolute() else base_dir / path
