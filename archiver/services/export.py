"""The case package: a signed BagIt bag of the records an investigator found, for a court.

Only an investigator under an open case exports, through ``Searcher`` (so the search's rules
decide who reads what). The bag is built inside the output folder and nowhere else: the
payload is written into it record by record (records grouped by conversation, so a transcript
page is written at a time), ``bagit`` turns the folder into a bag (SHA-256 and SHA-512
manifests), then the tag manifest is signed with the archive's export-signing key. On failure
the folder is emptied: no decrypted byte is left behind. The export is an audit entry.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import bagit

from archiver.config import load_zone
from archiver.errors import UsageError
from archiver.model import canonical_json, utc_iso
from archiver.services.access import authorize, case_reason, require_open_case, sealed
from archiver.services.reading import record_json
from archiver.services.search import Query, Searcher, has_phrase
from archiver.services.transcripts import TranscriptWriter
from archiver.storage.archive import Archive
from archiver.storage.audit import AuditEvent
from archiver.storage.catalog.base import Catalog, CatalogRow, ExportRow
from archiver.storage.catalog.finding import matching_ids
from archiver.storage.envelope import open_sealed
from archiver.storage.keys.signing import ExportSigner, fingerprint, open_signer
from archiver.storage.records import RecordDocument, segment_documents

ACTION = "export"
BAGIT_VERSION = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
PUBLIC_KEY_FILE = "export-signing-key.pem"
SIGNATURE_INFO_FILE = "export-signature.txt"
SIGNED_FILE = "tagmanifest-sha512.txt"
SIGNATURE_FILE = SIGNED_FILE + ".sig"  # "tagmanifest-" first: bagit leaves it out of the tag manifests
CHECKSUMS = ["sha256", "sha512"]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the records a query finds, or the ids listed in a file."""

    case_id: str | None
    out: Path
    query: Query | None = None
    records_file: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """The request as the audit entry keeps it (sealed: a query may name people)."""
        if self.records_file is not None:
            return {"records_file": self.records_file.name}
        return self.query.to_json() if self.query else {}


@dataclass(frozen=True)
class ExportResult:
    """What the bag holds and how a court ties it to the archive."""

    out: Path
    records: int
    conversations: int
    attachments: int
    tag_manifest_sha256: str
    key_fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {"out": str(self.out), "records": self.records, "conversations": self.conversations,
                "attachments": self.attachments, "tag_manifest_sha256": self.tag_manifest_sha256,
                "key_fingerprint": self.key_fingerprint}


def record_sha256(record: dict[str, Any]) -> str:
    """The SHA-256 of a record's canonical JSON (sorted keys, no spaces, UTF-8), without this field."""
    return hashlib.sha256(canonical_json({k: v for k, v in record.items() if k != "record_sha256"})).hexdigest()


def export_case(archive: Archive, actor: str, request: ExportRequest, signer: ExportSigner, at: datetime,
                progress: Progress | None = None) -> ExportResult:
    """Write the case package for ``request`` into ``request.out`` (missing or empty) and audit it."""
    check_out(request.out, "the case package")
    searcher = Searcher(archive, actor, request.case_id, at, ACTION, request.to_json(), reads_text=True)
    if not searcher.investigating:
        searcher.refuse(ACTION, "case packages are an investigator's act: the investigator role and an open "
                                "case (--case ID) are required")
    assert request.case_id is not None
    case = require_open_case(archive, actor, request.case_id, at)
    keys = _keys(searcher, request)
    head_seq, head_hash = archive.catalog.audit_head()
    public_pem = signer.public_key_pem()
    key_print = fingerprint(public_pem)
    created = not request.out.exists()
    request.out.mkdir(mode=0o700, exist_ok=True)
    try:
        counts = _write_payload(archive, searcher, keys, request, actor, at, progress)
        info = {"Source-Organization": "archiver case package", "External-Identifier": case.id,
                "Case-Reason": case_reason(archive, case), "Exported-By": actor, "Exported-At": utc_iso(at),
                "Query": canonical_json(request.to_json()).decode(), "Record-Count": str(len(keys)),
                "Conversation-Count": str(counts[0]), "Attachment-Count": str(counts[1]),
                "Archive-Id": archive.keys.key_id, "Audit-Head": f"{head_seq} {head_hash}",
                "Export-Signing-Key-Fingerprint": key_print}
        manifest_sha256 = _bag_and_sign(request.out, info, signer, public_pem, key_print)
    except OSError as exc:
        _empty(request.out, created)
        raise UsageError(f"{request.out}: cannot write the case package ({exc.strerror or exc}); "
                         "what was written is removed") from None
    except BaseException:
        _empty(request.out, created)
        raise
    detail = {"query": sealed(archive, request.to_json()), "results": [key[2] for key in keys], "total": len(keys),
              "tag_manifest_sha256": manifest_sha256, "key_fingerprint": key_print}
    archive.catalog.append_audit(AuditEvent(actor, ACTION, at, detail, case.id))
    return ExportResult(request.out, len(keys), counts[0], counts[1], manifest_sha256, key_print)


def check_out(out: Path, what: str) -> None:
    """Refuse an output folder that exists and is not empty (``what`` is written into it)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out}: {what} needs a new or empty folder")


Key = tuple[str, datetime, str]  # conversation ref, sent at, record id: the order records are written in
BATCH = 500  # rows fetched from the catalog at a time while writing


def _keys(searcher: Searcher, request: ExportRequest) -> list[Key]:
    """The records to export as compact sort keys (grouped by conversation, in send order
    within each): rows are streamed from the catalog, never all held at once."""
    if request.records_file is not None:
        keys = [_key(row) for row in _listed_rows(searcher, request.records_file)]
    else:
        keys = list(_found(searcher, request.query or Query()))
    if not keys:
        raise UsageError("no record to export: the filters or the list match none")
    return sorted(keys)


def _found(searcher: Searcher, query: Query) -> Iterator[Key]:
    """The keys of the readable records ``query`` finds (the search's own filters and scope)."""
    where = searcher.row_filter(query)
    ids = matching_ids(searcher.archive.catalog, searcher.token_groups(query))
    if where is None or ids == set():
        return
    for row in searcher.archive.catalog.rows():
        if (ids is None or row.id in ids) and where.passes(row) and _readable(searcher, row) and \
                (not query.phrase or has_phrase(_document(searcher, row).message["body"], query.phrase)):
            yield _key(row)


def _key(row: CatalogRow) -> Key:
    return sys.intern(row.conversation_ref), row.sent_at, row.id


def _batches(catalog: Catalog, keys: list[Key]) -> Iterator[list[CatalogRow]]:
    """The rows of ``keys``, in their order, a batch at a time."""
    for start in range(0, len(keys), BATCH):
        batch = [key[2] for key in keys[start:start + BATCH]]
        found = catalog.rows_by_id(batch)
        yield [found[record_id] for record_id in batch]


def _batch_documents(searcher: Searcher, rows: list[CatalogRow]) -> dict[str, RecordDocument]:
    """The document of each of a batch's rows: a segment several of them share is read once,
    whole (one GetObject on S3 rather than one each), a record alone in its segment by itself."""
    shared: dict[str, list[CatalogRow]] = {}
    for row in rows:
        if not searcher.has_document(row):
            raise _no_text(row)
        shared.setdefault(str(row.segment), []).append(row)
    documents = {}
    for segment, placed in shared.items():
        if len(placed) == 1:
            documents[placed[0].id] = _document(searcher, placed[0])
        else:
            documents.update((row.id, found) for row, found in segment_documents(searcher.archive, segment, placed))
    return documents


def _listed_rows(searcher: Searcher, path: Path) -> list[CatalogRow]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the list of record ids ({exc})") from None
    wanted = {line.strip(): number for number, line in enumerate(lines, 1) if line.strip()}
    found = searcher.archive.catalog.rows_by_id(sorted(wanted))
    for record_id, number in wanted.items():
        row = found.get(record_id)
        if row is None:
            raise UsageError(f"{path}:{number}: no record {record_id!r} in this archive")
        if not searcher.reads(row):
            searcher.refuse(ACTION, f"record {record_id} may not be read by this actor")
        if not _readable(searcher, row):
            raise UsageError(f"{path}:{number}: record {record_id} has no text to export "
                             "(a nonrecord's tombstone, or destroyed by disposition)")
    return list(found.values())


def _readable(searcher: Searcher, row: CatalogRow) -> bool:
    return searcher.reads(row) and row.label != "nonrecord" and not searcher.disposed(row)


def _document(searcher: Searcher, row: CatalogRow) -> RecordDocument:
    document = searcher.document(row)
    if document is None:
        raise _no_text(row)
    return document


def _no_text(row: CatalogRow) -> UsageError:
    return UsageError(f"record {row.id} has no text to export")


def _write_payload(archive: Archive, searcher: Searcher, keys: list[Key], request: ExportRequest,
                   actor: str, at: datetime, progress: Progress | None) -> tuple[int, int]:
    """messages.jsonl, custody.jsonl, transcripts/ and attachments/ (bagit moves them into data/):
    how many conversations and attachment files were written."""
    out = request.out
    custody = Custody(archive, {key[2] for key in keys}, {"action": ACTION, "at": utc_iso(at), "actor": actor,
                                                          "case": request.case_id})
    (out / "attachments").mkdir()
    (out / "transcripts").mkdir()
    transcripts = TranscriptWriter(out / "transcripts", str(request.case_id), _zones(archive))
    try:
        with (out / "messages.jsonl").open("w", encoding="utf-8") as messages, \
                (out / "custody.jsonl").open("w", encoding="utf-8") as chain:
            for rows in _batches(archive.catalog, keys):
                documents = _batch_documents(searcher, rows)
                for row in rows:
                    record = {**record_json(row, documents[row.id], searcher.held(row)),
                              "ingested_by": custody.ingested_by(row)}
                    hrefs = [f"../attachments/{name}" if name else None
                             for name in write_attachments(archive, record, out / "attachments")]
                    record["record_sha256"] = record_sha256(record)
                    _line(messages, record)
                    _line(chain, custody.entry(row, record["record_sha256"]))
                    transcripts.add(row.conversation_ref, record, hrefs)
                    if progress is not None:
                        progress(1)
    finally:
        transcripts.close()
    return len(transcripts.pages), sum(1 for _ in (out / "attachments").iterdir())


def write_attachments(archive: Archive, record: dict[str, Any], folder: Path,
                      name: Callable[[str, dict[str, Any]], str] = lambda digest, _: digest) -> list[str | None]:
    """Write the record's archived attachments into ``folder`` (as ``name(sha256, attachment)``,
    by default the hash alone), checked against their hashes; each one's file name (None when
    the export did not carry the file)."""
    names: list[str | None] = []
    for attachment, key in zip(record["message"]["attachments"], record["attachment_objects"], strict=False):
        digest = attachment.get("sha256")
        if key is None or not digest:
            names.append(None)
            continue
        target = folder / name(digest, attachment)
        if not target.exists():
            content = open_sealed(archive.keys, key, archive.store.get(key))
            if hashlib.sha256(content).hexdigest() != digest:
                raise UsageError(f"record {record['id']}: attachment {key} does not hash to {digest}; "
                                 "run 'archiver verify'")
            target.write_bytes(content)
        names.append(target.name)
    return names


def _zones(archive: Archive) -> dict[str, ZoneInfo | None]:
    """Each custodian's zone (the archive's default zone when the custodian has none)."""
    default = archive.settings.timezone
    return {c.id: load_zone(c.timezone or default) if (c.timezone or default) else None
            for c in archive.catalog.custodians()}


def _line(stream: TextIO, value: dict[str, Any]) -> None:
    stream.write(canonical_json(value).decode() + "\n")


class Custody:
    """Each record's chain of custody: its export file's arrival, who ingested it, the audit
    entries that touched it (holds, reviews, searches and reads that returned it, earlier
    exports) and this export."""

    def __init__(self, archive: Archive, ids: set[str], this_export: dict[str, Any]) -> None:
        self.this_export = this_export
        self.by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.by_segment: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.ingests: dict[str, list[ExportRow]] = defaultdict(list)
        for export in archive.catalog.exports():
            self.ingests[export.sha256].append(export)
        for entry in archive.catalog.audit_entries():
            detail = entry.event.detail
            link = {"seq": entry.seq, "at": utc_iso(entry.event.at), "actor": entry.event.actor,
                    "action": entry.event.action, "case": entry.event.case_id, "hash": entry.hash}
            for record_id in _touched(detail.get("results"), detail.get("id")):
                if record_id in ids:
                    self.by_id[record_id].append(link)
            for segment in (*detail.get("segments", ()), *detail.get("segments_released", ())):
                self.by_segment[segment].append(link)

    def ingested_by(self, row: CatalogRow) -> str | None:
        """Who ingested the record's export file first."""
        ingests = self.ingests.get(row.export_sha256)
        return ingests[0].actor if ingests else None

    def entry(self, row: CatalogRow, digest: str) -> dict[str, Any]:
        """The custody line of one record."""
        arrivals = [{"export_sha256": e.sha256, "connector": e.connector, "custodian": e.custodian,
                     "ingested_at": utc_iso(e.ingested_at), "ingested_by": e.actor}
                    for e in self.ingests.get(row.export_sha256, ())]
        touched = sorted(self.by_id.get(row.id, []) + self.by_segment.get(row.segment or "", []),
                         key=lambda link: link["seq"])
        return {"id": row.id, "record_sha256": digest, "export_sha256": row.export_sha256,
                "source_line": row.source_line, "ingested_at": utc_iso(row.ingested_at), "ingests": arrivals,
                "audit": touched, "this_export": self.this_export}


def _touched(results: Any, record_id: Any) -> Iterable[str]:
    """The record ids an audit entry names: the results of a search, show or export, a review's id."""
    ids = list(results) if isinstance(results, list) else []
    return [*ids, record_id] if isinstance(record_id, str) else ids


def _bag_and_sign(out: Path, info: dict[str, str], signer: ExportSigner, public_pem: bytes, key_print: str) -> str:
    """Make the folder a BagIt 1.0 bag, add the public key and the signature's description as tag
    files, and sign the SHA-512 tag manifest: the SHA-256 of that manifest."""
    make_bag(out, info)
    (out / PUBLIC_KEY_FILE).write_bytes(public_pem)
    (out / SIGNATURE_INFO_FILE).write_text(
        f"Algorithm: {signer.algorithm}\nSigned-File: {SIGNED_FILE}\nSignature-File: {SIGNATURE_FILE}\n"
        f"Public-Key-File: {PUBLIC_KEY_FILE}\nPublic-Key-Fingerprint: {key_print}\n", encoding="utf-8")
    bagit.Bag(str(out)).save()  # rewrites the tag manifests over the new tag files
    manifest = (out / SIGNED_FILE).read_bytes()
    (out / SIGNATURE_FILE).write_bytes(signer.sign(manifest))
    return hashlib.sha256(manifest).hexdigest()


def make_bag(out: Path, info: dict[str, str]) -> bagit.Bag:
    """Make the folder a BagIt 1.0 bag (SHA-256 and SHA-512 manifests) with ``info`` in bag-info.txt."""
    # One line per tag: a reason or query typed over several lines is joined.
    bagit.make_bag(str(out), {name: " ".join(value.split()) for name, value in info.items()}, checksums=CHECKSUMS)
    (out / "bagit.txt").write_text(BAGIT_VERSION, encoding="utf-8")  # bagit.py writes 0.97
    bag = bagit.Bag(str(out))
    bag.save()  # the tag manifests over the new bagit.txt (the payload is not hashed again)
    return bag


def _empty(out: Path, created: bool) -> None:
    """Remove what a failed export wrote (the folder too when this export made it)."""
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in out.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def publish_signing_key(archive: Archive, actor: str, at: datetime) -> tuple[bytes, str]:
    """The archive's export-signing public key (PEM) and its fingerprint, for a court or an
    agency to keep apart from the bags they receive (``export verify --public-key``). Records
    officers, investigators and admins; audited."""
    authorize(archive, actor, ("records-officer", "investigator", "admin"), "publish the export-signing key", at)
    public_pem = open_signer(archive.settings.key, archive.settings.base_dir, archive.store).public_key_pem()
    key_print = fingerprint(public_pem)
    archive.catalog.append_audit(AuditEvent(actor, "export-key-publish", at, {"key_fingerprint": key_print}))
    return public_pem, key_print
