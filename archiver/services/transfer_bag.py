"""The transfer bag: permanent records decrypted into a BagIt bag NARA accepts.

NARA does not accept encrypted records, so each record is written as plain JSON (its message,
its metadata and its schedule item) with its attachments in their original format, plus a
transfer manifest (CSV and JSON) for the Electronic Records Archives transfer request. The bag
is built in a hidden folder inside the output folder and renamed into place only once the
catalog records the transfer; on any failure that folder is removed, so no decrypted byte is
left outside a finished bag. The plan is checked against the archive before writing and again,
under the writer lock, before the transfer is recorded. The transfer's segment and record lists
go into a sealed object in the store (``transfers/<id>``, kept under GRS 4.1 item 020 like the
certificates of destruction); a rerun of a plan whose export was killed after storing it adopts it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver.core.retention import disposition_date, load_schedules
from archiver.errors import IntegrityError, UsageError
from archiver.model import canonical_json, utc_iso
from archiver.services.access import authorize
from archiver.services.disposal_plan import CERTIFICATE_ITEM, changes, check_plan, plan_state
from archiver.services.disposition import writing
from archiver.services.export import check_out, make_bag, write_attachments
from archiver.services.reading import record_json
from archiver.services.transfer_state import (
    EXPORTED,
    TRANSFER,
    TRANSFER_PLAN_KIND,
    TRANSFERS_PREFIX,
    transfers_by_segment,
    unfiled_transfer,
)
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.envelope import seal
from archiver.storage.records import segment_documents

ACTION_EXPORT = "transfer-export"
MANIFEST_FIELDS = ("record_id", "file", "record_sha256", "custodian", "app", "sent_at", "schedule", "authority",
                   "transfer_date", "content_hash", "attachments")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")  # an attachment's extension, kept so NARA can tell its format


@dataclass(frozen=True)
class TransferRequest:
    """What to export: a checked transfer plan, the output folder and the agency transferring."""

    plan: dict[str, Any]
    out: Path
    agency: str


def export_transfer(archive: Archive, request: TransferRequest, actor: str, now: datetime) -> dict[str, Any]:
    """Write the bag of ``request.plan`` into ``request.out`` (new or empty) and record the
    transfer as exported, awaiting NARA's acceptance (audited); the transfer document."""
    authorize(archive, actor, "records-officer", "export a transfer to NARA", now)
    plan = check_plan(request.plan, TRANSFER_PLAN_KIND)
    check_out(request.out, "the transfer bag")
    _check_current(archive, plan)
    if not plan["eligible"]:
        raise UsageError(f"transfer plan {plan['digest'][:12]} lists no record due for transfer")
    unfiled = unfiled_transfer(archive, plan["digest"])
    transfer_id = unfiled["id"] if unfiled else f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"
    created = not request.out.exists()
    request.out.mkdir(mode=0o700, exist_ok=True)
    partial, bag = request.out / f".partial-{transfer_id}", request.out / f"transfer-{transfer_id}"
    try:
        partial.mkdir(mode=0o700)
        manifest = _write_payload(archive, plan, partial, transfer_id, request.agency)
        make_bag(partial, _bag_info(transfer_id, request.agency, plan, manifest))
        lists = unfiled or {"id": transfer_id, "plan": plan["digest"],
                            "segments": [e["segment"] for e in plan["eligible"]],
                            "records": [r["record_id"] for r in manifest["rows"]]}
        transfer = _document(lists, plan, manifest, actor, now, partial)
        with writing(archive, now):
            _check_current(archive, plan)
            transfer |= _store_lists(archive, lists, unfiled is None, now)
            partial.rename(bag)
            archive.catalog.put_document(TRANSFER, transfer_id, {**transfer, "bag": bag.name}, AuditEvent(
                actor=actor, action=ACTION_EXPORT, at=now, detail={k: transfer[k] for k in (
                    "id", "plan", "records", "segments", "object", "sha256", "manifest_sha256")}))
    except OSError as exc:
        _remove(request.out, (partial, bag), created)
        raise UsageError(f"{request.out}: cannot write the transfer bag ({exc.strerror or exc}); "
                         "what was written is removed") from None
    except BaseException:
        _remove(request.out, (partial, bag), created)
        raise
    return {**transfer, "bag": str(bag)}


def _store_lists(archive: Archive, lists: dict[str, Any], new: bool, now: datetime) -> dict[str, Any]:
    """Seal the transfer's lists into the store (unless a killed run stored them), kept like a
    certificate of destruction; what the catalog document says of the object."""
    key = TRANSFERS_PREFIX + lists["id"]
    if new:
        keep_until = disposition_date(load_schedules(archive.settings.schedules).get(CERTIFICATE_ITEM), now)
        archive.store.put(key, seal(archive.keys, key, canonical_json(lists)), keep_until)
    else:
        keep_until = archive.store.retention(key).retain_until
    return {"object": key, "schedule": CERTIFICATE_ITEM, "retain_until": keep_until and keep_until.isoformat(),
            "sha256": hashlib.sha256(canonical_json(lists)).hexdigest()}


def _check_current(archive: Archive, plan: dict[str, Any]) -> None:
    """Refuse a plan the archive no longer matches (a hold, an event, a record, a transfer since)."""
    planned = list(plan["state"]["segments"])
    done = transfers_by_segment(archive)
    changed = [f"segment {name} was exported in transfer {done[name]['id']} since the plan"
               for name in planned if name in done]
    changed += changes(plan["state"], plan_state(archive, planned))
    if changed:
        raise UsageError(f"transfer plan {plan['digest'][:12]} no longer matches the archive: "
                         f"{'; '.join(changed)}; make a new plan")


def _write_payload(archive: Archive, plan: dict[str, Any], folder: Path, transfer_id: str,
                   agency: str) -> dict[str, Any]:
    """records/<id>.json and attachments/ (bagit moves them into data/), then the transfer
    manifest (CSV and JSON); the manifest."""
    (folder / "records").mkdir()
    (folder / "attachments").mkdir()
    rows = [_write_record(archive, entry, record, folder) for entry, record in _records(archive, plan)]
    manifest = _manifest(transfer_id, agency, plan, rows)
    (folder / "transfer-manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                                   encoding="utf-8")
    with (folder / "transfer-manifest.csv").open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=MANIFEST_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return manifest


def _records(archive: Archive, plan: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each planned record opened from its segment, with its plan entry."""
    for entry in plan["eligible"]:
        segment, written = entry["segment"], set()
        for row, document in segment_documents(archive, segment, archive.catalog.segment_rows(segment)):
            written.add(row.id)
            yield entry, record_json(row, document, False)
        if written != {r["id"] for r in entry["records"]}:  # a transfer is whole or it is nothing
            raise IntegrityError(f"segment {segment}: the records read from it are not those the plan lists")


def _write_record(archive: Archive, entry: dict[str, Any], record: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Write one record as plain JSON with its attachments; its manifest row."""
    files = write_attachments(archive, record, folder / "attachments", _attachment_name)
    message = record["message"]
    attachments = [{**{k: a.get(k) for k in ("name", "media_type", "sha256", "size")},
                    "file": f"attachments/{name}" if name else None}
                   for a, name in zip(message["attachments"], files, strict=False)]
    content_hash = next(r["content_hash"] for r in entry["records"] if r["id"] == record["id"])
    nara = {"id": record["id"], "app": message["source"], "conversation": message["conversation"],
            "custodian": message["custodian"] or entry["custodian"], "sender": message["sender"],
            "recipients": message["recipients"], "sent_at": message["sent_at"], "direction": message["direction"],
            "account": message["account"], "ingested_at": record["ingested_at"], "text": message["body"],
            "attachments": attachments, "schedule": entry["schedule"], "title": entry["title"],
            "authority": entry["authority"], "transfer_date": entry["transfer_date"],
            "content_hash": content_hash}
    body = (json.dumps(nara, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    path = folder / "records" / f"{record['id']}.json"
    path.write_bytes(body)
    shared = ("custodian", "app", "sent_at", "schedule", "authority", "transfer_date", "content_hash")
    return {"record_id": record["id"], "file": f"records/{path.name}",
            "record_sha256": hashlib.sha256(body).hexdigest(), **{k: nara[k] for k in shared},
            "attachments": sum(1 for f in files if f)}


def _attachment_name(digest: str, attachment: dict[str, Any]) -> str:
    """``<sha256><ext>``: named by content (names are hostile), with the original extension."""
    suffix = Path(attachment.get("name") or "").suffix
    return digest + (suffix.lower() if _SUFFIX.fullmatch(suffix) else "")


def _manifest(transfer_id: str, agency: str, plan: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The transfer manifest: totals per schedule item, the date span, the authorities, one row per record."""
    items: dict[str, dict[str, Any]] = {}
    for entry in plan["eligible"]:
        item = items.setdefault(entry["schedule"], {"schedule": entry["schedule"], "title": entry["title"],
                                                    "authority": entry["authority"], "records": 0})
        item["records"] += entry["count"]
    sent = sorted(row["sent_at"] for row in rows)
    return {"transfer": transfer_id, "agency": agency, "plan": plan["digest"], "as_of": plan["as_of"],
            "records": len(rows), "date_span": {"first": sent[0], "last": sent[-1]},
            "authorities": sorted({i["authority"] for i in items.values()}),
            "items": sorted(items.values(), key=lambda i: i["schedule"]), "rows": rows}


def _bag_info(transfer_id: str, agency: str, plan: dict[str, Any], manifest: dict[str, Any]) -> dict[str, str]:
    span = manifest["date_span"]
    items = "; ".join(f"{i['schedule']} ({i['title']})" for i in manifest["items"])
    return {"Source-Organization": agency, "External-Identifier": transfer_id,
            "External-Description": f"Permanent records transferred to the National Archives: {manifest['records']} "
                                    f"record(s) sent {span['first'][:10]} to {span['last'][:10]}, under {items}. "
                                    "Records are decrypted JSON; attachments in their original format.",
            "Schedule-Item": "; ".join(i["schedule"] for i in manifest["items"]),
            "Disposition-Authority": "; ".join(manifest["authorities"]),
            "Record-Count": str(manifest["records"]), "Transfer-Plan": plan["digest"]}


def _document(lists: dict[str, Any], plan: dict[str, Any], manifest: dict[str, Any], actor: str, now: datetime,
              bag: Path) -> dict[str, Any]:
    """The catalog's record of the transfer: digests and counts (the lists are in its object),
    never message content."""
    return {"id": lists["id"], "plan": plan["digest"], "as_of": plan["as_of"], "state": EXPORTED,
            "segments": len(lists["segments"]), "records": len(lists["records"]),
            "items": [{k: i[k] for k in ("schedule", "authority", "records")} for i in manifest["items"]],
            "manifest_sha256": hashlib.sha256((bag / "manifest-sha256.txt").read_bytes()).hexdigest(),
            "tag_manifest_sha256": hashlib.sha256((bag / "tagmanifest-sha256.txt").read_bytes()).hexdigest(),
            "exported_by": actor, "exported_at": utc_iso(now)}


def _remove(out: Path, folders: tuple[Path, ...], created: bool) -> None:
    """Remove what a failed transfer export wrote (the output folder too when it made it)."""
    for folder in (out,) if created else folders:
        shutil.rmtree(folder, ignore_errors=True)
