"""``export verify``: check a case package with no archive and no keys, as a court would.

What it proves: the bag is complete and unchanged since it was signed (BagIt manifests, then
the signature over the SHA-512 tag manifest, which covers every manifest, bag-info.txt and the
public key), by the holder of the key whose fingerprint the archive's audit log names; every
record line matches its own SHA-256 and its custody line; every linked attachment is the file
its hash names. Record ids are keyed hashes: they cannot be recomputed without the archive's
key, so they are checked for presence and uniqueness only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from archiver.errors import UsageError
from archiver.services.export import (
    PUBLIC_KEY_FILE,
    SIGNATURE_FILE,
    SIGNATURE_INFO_FILE,
    SIGNED_FILE,
    record_sha256,
)
from archiver.storage.keys.signing import ECDSA_P256, ED25519, fingerprint

ALGORITHMS = (ED25519, ECDSA_P256)


def verify_bag(folder: Path, public_key: Path | None = None) -> list[str]:
    """Every problem found in the case package at ``folder``; empty when it is intact."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such folder")
    given = _read(public_key, "the public key given") if public_key is not None else None
    problems = _bagit_problems(folder)
    problems += _signature_problems(folder, given)
    records: dict[str, str] = {}
    problems += _record_problems(folder, records)
    problems += _custody_problems(folder, records)
    return problems


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read {what} ({exc.strerror})") from None


def _bagit_problems(folder: Path) -> list[str]:
    """BagIt validity: bagit.txt, every payload and tag manifest entry, completeness, Payload-Oxum."""
    try:
        bag = bagit.Bag(str(folder))
        if bag.version_info != (1, 0):
            return [f"bagit.txt: BagIt version {bag.version}, not 1.0"]
        bag.validate()
    except bagit.BagValidationError as exc:
        return [f"bag: {detail}" for detail in exc.details] or [f"bag: {exc.message}"]
    except bagit.BagError as exc:
        return [f"bag: {exc}"]
    return []


def _signature_problems(folder: Path, given: bytes | None) -> list[str]:
    """The signature over the tag manifest, with the bag's public key (and the one given)."""
    try:
        signed = (folder / SIGNED_FILE).read_bytes()
        signature = (folder / SIGNATURE_FILE).read_bytes()
        in_bag = (folder / PUBLIC_KEY_FILE).read_bytes()
    except OSError as exc:
        return [f"signature: cannot read {Path(exc.filename).name} ({exc.strerror})"]
    algorithm = _algorithm(folder)
    if algorithm not in ALGORITHMS:
        return [f"signature: {SIGNATURE_INFO_FILE} names no known algorithm ({' or '.join(ALGORITHMS)})"]
    problems = []
    if given is not None and _fingerprint(given) != _fingerprint(in_bag):
        problems.append(f"signature: the bag's public key ({_fingerprint(in_bag)}) is not the key given "
                        f"({_fingerprint(given)}): the bag was signed by someone else")
    for name, pem in (("the bag's public key", in_bag), ("the public key given", given)):
        if pem is not None and not _verifies(algorithm, pem, signature, signed):
            problems.append(f"signature: {SIGNATURE_FILE} does not verify {SIGNED_FILE} with {name} "
                            "(the bag was changed after it was signed, or signed with another key)")
    return problems


def _algorithm(folder: Path) -> str:
    """The algorithm ``export-signature.txt`` names (a tag file: the signature covers it)."""
    try:
        lines = (folder / SIGNATURE_INFO_FILE).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Algorithm:")), "")


def _fingerprint(pem: bytes) -> str:
    try:
        return fingerprint(pem)
    except ValueError:
        return "unreadable key"


def _verifies(algorithm: str, pem: bytes, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` is the named algorithm's signature of ``data`` by the key ``pem``."""
    try:
        key = serialization.load_pem_public_key(pem)
        if algorithm == ED25519 and isinstance(key, Ed25519PublicKey):
            key.verify(signature, data)
            return True
        if algorithm == ECDSA_P256 and isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1":
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            return True
    except (ValueError, InvalidSignature):
        pass
    return False


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """(line number, object) per line; None for a line that is not a JSON object."""
    with path.open(encoding="utf-8", errors="replace") as stream:
        for number, line in enumerate(stream, 1):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                value = None
            yield number, value if isinstance(value, dict) else None


def _record_problems(folder: Path, records: dict[str, str]) -> list[str]:
    """Each record line against its own SHA-256, ids unique, attachments by hash; fills ``records``."""
    path, problems = folder / "data" / "messages.jsonl", []
    if not path.is_file():
        return ["data/messages.jsonl: missing"]
    for number, record in _jsonl(path):
        where = f"data/messages.jsonl:{number}"
        if record is None or not isinstance(record.get("id"), str):
            problems.append(f"{where}: not a record (a JSON object with an id)")
            continue
        if record["id"] in records:
            problems.append(f"{where}: record {record['id']} appears twice")
        records[record["id"]] = str(record.get("record_sha256"))
        if record.get("record_sha256") != record_sha256(record):
            problems.append(f"{where}: record {record['id']} does not match its record_sha256 (changed)")
        problems += _attachment_problems(folder, where, record)
    return problems


def _attachment_problems(folder: Path, where: str, record: dict[str, Any]) -> list[str]:
    problems = []
    attachments = (record.get("message") or {}).get("attachments") or []
    for attachment, key in zip(attachments, record.get("attachment_objects") or [], strict=False):
        digest = attachment.get("sha256") if isinstance(attachment, dict) else None
        if key is None or not digest:
            continue
        file = folder / "data" / "attachments" / str(digest)
        if not file.is_file():
            problems.append(f"{where}: attachment {digest} is missing from data/attachments")
        elif _sha256(file) != digest:
            problems.append(f"{where}: data/attachments/{digest} does not hash to its name")
    return problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _custody_problems(folder: Path, records: dict[str, str]) -> list[str]:
    """Every record has one custody line with its SHA-256; no custody line without a record."""
    path, problems, seen = folder / "data" / "custody.jsonl", [], set()
    if not path.is_file():
        return ["data/custody.jsonl: missing"]
    for number, entry in _jsonl(path):
        where = f"data/custody.jsonl:{number}"
        record_id = entry.get("id") if entry else None
        if record_id not in records:
            problems.append(f"{where}: custody of {record_id or 'nothing'}, but no such record in data/messages.jsonl")
        elif entry is not None and entry.get("record_sha256") != records[record_id]:
            problems.append(f"{where}: custody of {record_id} names another record_sha256 than the record")
        elif entry is not None and (entry.get("this_export") or {}).get("action") != "export":
            problems.append(f"{where}: custody of {record_id} does not name this export")
        seen.add(record_id)
    problems += [f"data/messages.jsonl: record {record_id} has no custody line"
                 for record_id in records if record_id not in seen]
    return problems

