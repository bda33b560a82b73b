"""The messaging apps the archiver knows: one vocabulary for personal accounts, syncs and connectors.

A custodian registers personal accounts as ``APP:HANDLE``; an ingest records which apps it
synced; the 2911 sweep tracks each registered app by its last sync. Several connectors read
the same app (``sms-backup`` and ``android-sms`` both read SMS), so connectors map to apps here.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

APPS: Final = ("whatsapp", "signal", "telegram", "sms", "imessage", "email", "slack", "teams", "messenger",
               "instagram")

# Connectors named otherwise than the app they read; jsonl reads any app, so it names none
# (its messages' ``source`` says which).
CONNECTOR_APPS: Final[dict[str, str | None]] = {
    "sms-backup": "sms", "android-sms": "sms", "mbox": "email", "outlook-msg": "email", "jsonl": None,
}


def app_of_connector(connector: str) -> str | None:
    """The app a connector's exports come from, or None when it reads no one app."""
    if connector in CONNECTOR_APPS:
        return CONNECTOR_APPS[connector]
    return connector if connector in APPS else None


def account_app(app: str) -> str:
    """The app of a registered personal account (one registered by a connector's name reads as its app)."""
    return app_of_connector(app) or app


def synced_apps(connector: str, sources: Iterable[str]) -> tuple[str, ...]:
    """The apps one export synced: the known apps its messages came from, else its connector's app."""
    seen = sorted({s for s in sources if s in APPS})
    if seen:
        return tuple(seen)
    app = app_of_connector(connector)
    return (app,) if app else ()


def recorded_apps(connector: str, apps: Sequence[str] | None) -> tuple[str, ...]:
    """The apps a stored export row synced; a row written before apps were recorded names only its
    connector, which is mapped to its app."""
    return tuple(apps) if apps is not None else synced_apps(connector, ())


def unknown_app_message(app: str) -> str | None:
    """Why ``app`` cannot be a personal account's app, or None when it is a known app."""
    if app in APPS:
        return None
    return f"unknown app {app!r}; known apps: {', '.join(APPS)}"


def split_apps(stored: str | None) -> tuple[str, ...] | None:
    """The apps of an export row as a catalog stores them (comma-separated); None when the row
    was written before apps were recorded."""
    return None if stored is None else tuple(app for app in stored.split(",") if app)
