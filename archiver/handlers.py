"""AWS Lambda entry points: parse the event, call the same service as the CLI, return a summary.

Configuration comes from the function's environment (``ARCHIVER_*``), as for the CLI.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from archiver.archive import Archive
from archiver.compliance import sweep
from archiver.config import load_settings
from archiver.notifiers import open_notifier

ACTOR = "archiver-lambda"


def sweep_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The daily 2911 sweep, run by an EventBridge schedule."""
    now = _event_time(event)
    archive = Archive.open(load_settings())
    try:
        notifier = open_notifier(archive.settings.notifier, archive.settings.base_dir)
        result = sweep(archive, notifier, now, ACTOR)
    finally:
        archive.close()
    return {"sent": len(result.sent), "already_sent": result.already_sent, "problems": result.problems}


def _event_time(event: dict[str, Any]) -> datetime:
    """A scheduled event carries its own time: a retried invocation sweeps as of that time."""
    stamp = event.get("time")
    if isinstance(stamp, str):
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return datetime.now(timezone.utc)
