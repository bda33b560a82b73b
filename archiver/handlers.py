"""AWS Lambda entry points: parse the event, call the same service as the CLI, return a summary.

Configuration comes from the function's environment (``ARCHIVER_*``), as for the CLI. The
actor is the function's own IAM principal (STS): an admin grants its role what the function
does (``archiver role grant arn:aws:iam::ACCOUNT:role/NAME inbox`` for the ingest function, which
files exports under the custodian of their inbox folder; records-officer for the sweep and
disposition-planning functions), else the service refuses it, audited.
Summaries and log lines carry custodian ids, counts and reasons only: never message text, and
never an export's file name, which carries chat titles and people's names (the catalog keeps
only a keyed hash of it for the same reason).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.custodians import Custodian
from archiver.core.retention import load_schedules
from archiver.errors import UsageError
from archiver.services.actors import function_actor
from archiver.services.build import build_classifier
from archiver.services.compliance import sweep
from archiver.services.disposal_plan import PLANS_PREFIX, make_plan
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.notifiers import open_notifier
from archiver.storage.archive import Archive

INBOX_PREFIX = "inbox"
INBOX_LAYOUT = "inbox/<custodian-id>/<file name>"
MAX_FILE_NAME_BYTES = 255  # one path component on Lambda's /tmp file system
WORKDIR_PREFIX = "archiver-inbox-"
RECEIPT_COUNTS = ("parsed", "records", "nonrecords", "in_review", "duplicates", "quarantined")

LOG = logging.getLogger(__name__)
# Lambda's handler sits on the root logger, whose level is WARNING: say INFO here to be heard.
LOG.setLevel(logging.INFO)


def sweep_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The daily 2911 sweep, run by an EventBridge schedule."""
    now = _event_time(event)
    with closing(Archive.open(load_settings())) as archive:
        notifier = open_notifier(archive.settings.notifier, archive.settings.base_dir)
        result = sweep(archive, notifier, now, function_actor())
    return {"sent": len(result.sent), "already_sent": result.already_sent, "problems": result.problems}


def disposition_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The daily disposition run, by an EventBridge schedule: only plans, as ``archiver dispose
    plan`` does, and files the plan in the store under ``plans/`` for records officers to review
    and approve; it never destroys (that takes ``archiver dispose execute`` after approval)."""
    now = _event_time(event)
    with closing(Archive.open(load_settings())) as archive:
        plan = make_plan(archive, now.date(), function_actor(), now)
        key = f"{PLANS_PREFIX}{plan['as_of']}-{plan['digest'][:12]}.json"
        if not archive.store.exists(key):  # the same plan twice in a day is filed once
            archive.store.put(key, json.dumps(plan, indent=2).encode("utf-8"), None)
    summary = {"plan": key, "as_of": plan["as_of"], "digest": plan["digest"], "records_eligible": plan["records"],
               "segments_eligible": len(plan["eligible"]), "kept": len(plan["kept"]), "executed": False}
    LOG.info("disposal plan filed for review: %s", json.dumps(summary))
    return summary


@dataclass(frozen=True)
class InboxExport:
    """One export an officer dropped in the inbox bucket at ``inbox/<custodian-id>/<file name>``."""

    bucket: str
    key: str
    version_id: str | None
    custodian: str
    file_name: str
    uploaded_at: datetime | None


def inbox_export(record: dict[str, Any]) -> InboxExport:
    """The export one S3 event record names; ``UsageError`` when its key is not an inbox export.

    S3 sends keys URL-encoded with ``+`` for spaces, so ``unquote_plus`` gives the real key.
    """
    s3 = record.get("s3") or {}
    bucket = (s3.get("bucket") or {}).get("name")
    obj = s3.get("object") or {}
    raw_key = obj.get("key")
    if not isinstance(bucket, str) or not isinstance(raw_key, str):
        raise UsageError("not an S3 object event: Records[].s3.bucket.name and Records[].s3.object.key are missing")
    key = unquote_plus(raw_key)
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != INBOX_PREFIX:
        folder = "/".join(parts[:-1])  # the folders only: the file name carries a chat title
        where = f"s3://{bucket}/{folder}/" if folder else f"the top of s3://{bucket}"
        raise UsageError(f"an object at {where} is not an inbox export; exports go to {INBOX_LAYOUT} "
                         "(the object was left where it is)")
    _, custodian, name = parts
    Custodian(custodian)  # the same rule as `archiver custodian add`: UsageError naming what is allowed
    if name in ("", ".", "..") or "\0" in name or len(name.encode()) > MAX_FILE_NAME_BYTES:
        raise UsageError(f"an object in s3://{bucket}/{INBOX_PREFIX}/{custodian}/ has no usable file name "
                         f"(empty, '.', '..' or longer than {MAX_FILE_NAME_BYTES} bytes); exports go to {INBOX_LAYOUT}")
    version = obj.get("versionId")
    return InboxExport(bucket, key, version if isinstance(version, str) and version else None, custodian, name,
                       _parse_time(record.get("eventTime")))


def ingest_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Ingest each export an S3 ObjectCreated event names, as ``archiver ingest`` does, then
    remove it from the inbox.

    A key outside ``inbox/<custodian-id>/`` is the uploader's mistake: the summary says so and
    the object stays. AWS or configuration failures raise, so Lambda retries and then hands
    the event to the dead-letter queue; the export stays in the inbox meanwhile, and ingesting
    it again later stores nothing twice.
    """
    _remove_stale_workdirs()
    return {"exports": [_ingest_record(record) for record in event.get("Records") or []]}


def _remove_stale_workdirs() -> None:
    """Remove the plaintext an invocation stopped by its timeout left in this sandbox's /tmp.

    Lambda runs one invocation at a time per sandbox, so in Lambda any such folder is stale;
    elsewhere another process may be using it, so nothing is removed.
    """
    if not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return
    for folder in Path(tempfile.gettempdir()).glob(WORKDIR_PREFIX + "*"):
        shutil.rmtree(folder, ignore_errors=True)


def _ingest_record(record: dict[str, Any]) -> dict[str, Any]:
    try:
        export = inbox_export(record)
    except UsageError as exc:
        LOG.warning("inbox event not ingested: %s", exc)
        return {"error": str(exc)}
    settings = load_settings()
    import boto3  # imported here: only this handler talks to S3 itself

    s3 = boto3.client("s3")
    # mkdtemp makes the folder 0700 and the file is created 0600: the export is plaintext.
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    try:
        path = workdir / export.file_name
        if not _download(s3, export, path):
            LOG.warning("inbox export for custodian %s is gone before it was read", export.custodian)
            return {"custodian": export.custodian,
                    "error": "the export is no longer in the inbox (an earlier invocation may have ingested it)"}
        with closing(Archive.open(settings)) as archive:
            options = IngestOptions(custodian=export.custodian, actor=function_actor())
            # The officer handed the records over when the export landed: that instant, not a
            # retried invocation's, is their archiving time for the 20-day rule.
            now = export.uploaded_at or datetime.now(timezone.utc)
            receipt = Ingestor(archive, ConnectorRegistry.from_entry_points(), build_classifier(settings),
                               load_schedules(settings.schedules), options, now).run([path])
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    # In every case: what the ingest could not read is already kept sealed (quarantined), and
    # the plaintext export must not outlive its ingest.
    s3.delete_object(Bucket=export.bucket, Key=export.key,
                     **({"VersionId": export.version_id} if export.version_id else {}))
    summary: dict[str, Any] = {"custodian": export.custodian, **{n: receipt.total(n) for n in RECEIPT_COUNTS},
                               "refused": len(receipt.refused), "removed_from_inbox": True}
    LOG.info("inbox export ingested: %s", json.dumps(summary))
    return summary


def _download(s3: Any, export: InboxExport, path: Path) -> bool:
    """Copy the object into a new private file; False when the object no longer exists."""
    from botocore.exceptions import ClientError

    extra = {"VersionId": export.version_id} if export.version_id else None
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        try:
            s3.download_fileobj(export.bucket, export.key, handle, ExtraArgs=extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion"):
                return False
            raise
    return True


def _parse_time(stamp: Any) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)  # AWS event times are UTC


def _event_time(event: dict[str, Any]) -> datetime:
    """A scheduled event carries its own time: a retried invocation sweeps as of that time."""
    return _parse_time(event.get("time")) or datetime.now(timezone.utc)
