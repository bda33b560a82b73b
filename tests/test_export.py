"""The case package: a signed BagIt bag that a court checks without the archive; refusals; custody."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import bagit
import boto3
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from moto import mock_aws

from archiver.config import load_settings
from archiver.storage.archive import Archive
from archiver.storage.store import LocalDirStore
from tests.conftest import CliRunner

CASE = "OIG-2026-015"
HOSTILE = [
    {"source": "whatsapp", "conversation": "Sector <b>Sur</b>", "sender": "Ana <img src=x onerror=alert(1)>",
     "recipients": ["+52 631 555 0101"], "sent_at": "2026-12-10T16:00:00Z", "direction": "sent",
     "account": "personal", "body": "Passport X7734521 <script>alert('owned')</script> lane 2 inspection"},
    {"source": "whatsapp", "conversation": "Sector <b>Sur</b>", "sender": "+52 631 555 0101",
     "recipients": ["Ana Diaz"], "sent_at": "2026-12-10T16:05:00Z", "direction": "received",
     "account": "personal", "body": "Recibido, revisamos el vehículo en la garita esta tarde"},
]


@pytest.fixture
def archive(cli: CliRunner, archive_dir: Path, samples: list[Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two custodians' records, an investigator (acting) with an open case, an officer."""
    hostile = archive_dir / "ana.jsonl"
    hostile.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in HOSTILE), encoding="utf-8")
    assert cli("custodian", "add", "j.rivera", "--name", "Jorge Rivera", "--tz", "America/Phoenix").code == 0
    assert cli("custodian", "add", "a.diaz", "--name", "Ana Diaz").code == 0
    assert cli("ingest", *samples, "--custodian", "Jorge Rivera", "--tz", "America/Phoenix").code == 0
    assert cli("ingest", hostile, "--custodian", "a.diaz").code == 0
    for actor, role in (("ivy", "investigator"), ("ana", "officer")):
        assert cli("role", "grant", actor, role).code == 0
    monkeypatch.setenv("ARCHIVER_ACTOR", "ivy")
    assert cli("case", "open", CASE, "--reason", "disclosures to\nforeign officials").code == 0
    return archive_dir


@pytest.fixture
def bag(cli: CliRunner, archive: Path) -> Path:
    """A case package of every record, after one search returned the passport message."""
    assert cli("search", "--all", "X7734521", "--case", CASE).code == 0
    exported = cli("export", "--case", CASE, "--out", archive / "bag", "--json")
    assert exported.code == 0, exported.err
    return archive / "bag"


def verify(cli: CliRunner, folder: Path, *extra: object) -> tuple[int, list[str]]:
    """``export verify`` run from a folder with no archiver.yaml: its exit code and problems."""
    elsewhere = folder.parent / "court"
    elsewhere.mkdir(exist_ok=True)
    result = cli("export", "verify", folder, *extra, "--json", cwd=elsewhere)
    return result.code, result.json()["problems"]  # type: ignore[index]


def records(folder: Path) -> list[dict[str, object]]:
    lines = (folder / "data" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_a_bag_validates_with_bagit_and_export_verify(cli: CliRunner, bag: Path) -> None:
    assert bagit.Bag(str(bag)).is_valid()
    assert (bag / "bagit.txt").read_text().startswith("BagIt-Version: 1.0")
    assert {p.name for p in bag.glob("manifest-*.txt")} == {"manifest-sha256.txt", "manifest-sha512.txt"}
    assert verify(cli, bag) == (0, [])
    info = bagit.Bag(str(bag)).info
    assert info["External-Identifier"] == CASE and info["Exported-By"] == "ivy"
    assert info["Case-Reason"] == "disclosures to foreign officials"
    assert int(info["Record-Count"]) == len(records(bag)) > 2
    assert info["Audit-Head"].split()[1] and info["Archive-Id"].startswith("local:")
    assert (bag / "data" / "transcripts" / "index.html").exists()


@pytest.mark.parametrize("target", ["data/messages.jsonl", "data/custody.jsonl", "data/transcripts/index.html",
                                    "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha512.txt",
                                    "export-signing-key.pem", "tagmanifest-sha512.txt.sig"])
def test_one_changed_byte_anywhere_fails_verification(cli: CliRunner, bag: Path, target: str) -> None:
    path = bag / target
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, problems = verify(cli, bag)
    assert code == 1 and problems


def test_a_changed_attachment_fails_verification(cli: CliRunner, bag: Path) -> None:
    [attachment] = list((bag / "data" / "attachments").iterdir())
    attachment.write_bytes(attachment.read_bytes()[:-1] + b"!")
    code, problems = verify(cli, bag)
    assert code == 1 and any(attachment.name in p for p in problems)


def test_a_removed_record_fails_even_with_manifests_recomputed(cli: CliRunner, bag: Path) -> None:
    messages = bag / "data" / "messages.jsonl"
    lines = messages.read_text(encoding="utf-8").splitlines(keepends=True)
    removed = json.loads(lines[0])["id"]
    messages.write_text("".join(lines[1:]), encoding="utf-8")
    bagit.Bag(str(bag)).save(manifests=True)  # an attacker without the signing key
    assert bagit.Bag(str(bag)).is_valid()
    code, problems = verify(cli, bag)
    assert code == 1
    assert any("does not verify" in p for p in problems)
    assert any(removed in p and "no such record" in p for p in problems)


def test_a_replaced_public_key_fails_against_the_archive_key(cli: CliRunner, bag: Path, archive: Path) -> None:
    published = archive / "archive-public.pem"
    published.write_bytes((bag / "export-signing-key.pem").read_bytes())
    forger = Ed25519PrivateKey.generate()
    (bag / "export-signing-key.pem").write_bytes(forger.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    bagit.Bag(str(bag)).save()
    (bag / "tagmanifest-sha512.txt.sig").write_bytes(forger.sign((bag / "tagmanifest-sha512.txt").read_bytes()))
    code, problems = verify(cli, bag, "--public-key", published)
    assert code == 1 and any("is not the key given" in p for p in problems)
    # Without the key given apart, the swap shows only through its fingerprint (see README).
    assert verify(cli, bag)[0] == 0


def test_a_replaced_public_key_without_resigning_fails(cli: CliRunner, bag: Path) -> None:
    forger = Ed25519PrivateKey.generate()
    (bag / "export-signing-key.pem").write_bytes(forger.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    bagit.Bag(str(bag)).save()
    code, problems = verify(cli, bag)
    assert code == 1 and any("does not verify" in p for p in problems)


def test_export_is_refused_without_the_role_a_case_or_an_open_case(cli: CliRunner, archive: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    no_case = cli("export", "--out", archive / "b1")
    assert no_case.code == 2 and "--case" in no_case.err
    assert cli("export", "--case", "NO-SUCH", "--out", archive / "b2").code == 2
    monkeypatch.setenv("ARCHIVER_ACTOR", "ana")
    officer = cli("export", "--case", CASE, "--out", archive / "b3")
    assert officer.code == 2 and "investigator" in officer.err
    monkeypatch.setenv("ARCHIVER_ACTOR", "ivy")
    assert cli("case", "close", CASE, "--reason", "referred").code == 0
    closed = cli("export", "--case", CASE, "--out", archive / "b4")
    assert closed.code == 2 and "closed" in closed.err
    assert not any((archive / name).exists() for name in ("b1", "b2", "b3", "b4"))
    with closing(Archive.open(load_settings(cwd=archive), read_only=True)) as opened:
        refusals = [e for e in opened.catalog.audit_entries() if e.event.action == "refused"]
    assert any(e.event.actor == "ana" and e.event.detail["action"] == "export" for e in refusals)


def test_the_out_folder_must_be_new_or_empty(cli: CliRunner, archive: Path) -> None:
    (archive / "full").mkdir()
    (archive / "full" / "x").write_text("x")
    refused = cli("export", "--case", CASE, "--out", archive / "full")
    assert refused.code == 2 and "empty" in refused.err


def test_hostile_text_is_escaped_in_transcripts(bag: Path) -> None:
    pages = list((bag / "data" / "transcripts").glob("conversation-*.html"))
    text = "".join(p.read_text(encoding="utf-8") for p in pages) + \
        (bag / "data" / "transcripts" / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;alert(" in text
    assert "<img" not in text and "<b>Sur" not in text and "&lt;b&gt;Sur" in text
    assert "America/Phoenix" in text  # the custodian's zone, beside UTC


def test_attachments_are_included_by_hash_with_their_names(bag: Path) -> None:
    with_files = [r for r in records(bag) if any(r["attachment_objects"])]  # type: ignore[arg-type]
    assert with_files
    attachment = with_files[0]["message"]["attachments"][0]  # type: ignore[index]
    assert attachment["name"] == "00000009-Lane4-referrals.pdf"
    stored = bag / "data" / "attachments" / attachment["sha256"]
    assert stored.read_bytes().startswith(b"%PDF")
    pages = "".join(p.read_text() for p in (bag / "data" / "transcripts").glob("conversation-*.html"))
    assert f'href="../attachments/{attachment["sha256"]}"' in pages


def test_custody_names_the_search_that_returned_a_record_and_this_export(cli: CliRunner, bag: Path,
                                                                         archive: Path) -> None:
    custody = {json.loads(line)["id"]: json.loads(line)
               for line in (bag / "data" / "custody.jsonl").read_text(encoding="utf-8").splitlines()}
    assert set(custody) == {r["id"] for r in records(bag)}
    [passport] = [r for r in records(bag) if "X7734521" in r["message"]["body"]]  # type: ignore[index,operator]
    chain = custody[passport["id"]]
    assert [link["action"] for link in chain["audit"]] == ["search"]
    assert chain["this_export"]["action"] == "export" and chain["this_export"]["case"] == CASE
    assert chain["ingests"][0]["export_sha256"] == passport["export_sha256"]
    # A later export names the earlier one.
    again = cli("export", "--case", CASE, "--out", archive / "bag2")
    assert again.code == 0, again.err
    later = [json.loads(line) for line in (archive / "bag2" / "data" / "custody.jsonl").read_text().splitlines()]
    assert all("export" in [link["action"] for link in line["audit"]] for line in later)


def test_the_export_is_an_audit_entry_with_the_query_sealed(cli: CliRunner, bag: Path, archive: Path) -> None:
    with closing(Archive.open(load_settings(cwd=archive), read_only=True)) as opened:
        [entry] = [e for e in opened.catalog.audit_entries() if e.event.action == "export"]
    detail = entry.event.detail
    assert entry.event.case_id == CASE and detail["total"] == len(records(bag))
    assert "sealed" in detail["query"]
    manifest = (bag / "tagmanifest-sha512.txt").read_bytes()
    assert detail["tag_manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    info = bagit.Bag(str(bag)).info
    assert detail["key_fingerprint"] == info["Export-Signing-Key-Fingerprint"]
    base64.b64decode(detail["query"]["sealed"])


def test_export_by_filters_and_by_a_list_of_ids(cli: CliRunner, archive: Path) -> None:
    narrowed = cli("export", "--case", CASE, "--out", archive / "ana", "--custodian", "a.diaz", "--json")
    assert narrowed.code == 0, narrowed.err
    assert narrowed.json()["records"] == 2  # type: ignore[index]
    ids = [r["id"] for r in records(archive / "ana")]
    listing = archive / "ids.txt"
    listing.write_text(f"{ids[0]}\n")
    listed = cli("export", "--case", CASE, "--out", archive / "one", "--records", listing, "--json")
    assert listed.code == 0 and listed.json()["records"] == 1  # type: ignore[index]
    listing.write_text(f"{ids[0]}\n{'0' * 32}\n")
    wrong = cli("export", "--case", CASE, "--out", archive / "two", "--records", listing)
    assert wrong.code == 2 and "ids.txt:2" in wrong.err and not (archive / "two").exists()
    both = cli("export", "--case", CASE, "--out", archive / "two", "--records", listing, "--custodian", "a.diaz")
    assert both.code == 2 and "not both" in both.err


def test_records_sharing_a_segment_are_read_with_it_once(cli: CliRunner, archive: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[tuple[str, str]] = []
    for name in ("get", "get_range"):
        method = getattr(LocalDirStore, name)
        monkeypatch.setattr(LocalDirStore, name, lambda self, key, *a, _read=method, _name=name:
                            reads.append((_name, key)) or _read(self, key, *a))
    exported = cli("export", "--case", CASE, "--out", archive / "bag", "--json")
    assert exported.code == 0, exported.err
    opened = Archive.open(load_settings(cwd=archive))
    try:
        rows = opened.catalog.rows_by_id([str(r["id"]) for r in records(archive / "bag")])
    finally:
        opened.close()
    shared = Counter(row.segment for row in rows.values())
    assert len(rows) == 35 and max(shared.values()) > 1 and min(shared.values()) == 1
    expected = sorted(("get" if count > 1 else "get_range", str(segment)) for segment, count in shared.items())
    assert sorted(read for read in reads if read[1] in shared) == expected


def test_verify_needs_an_existing_folder(cli: CliRunner, tmp_path: Path) -> None:
    missing = cli("export", "verify", tmp_path / "nothing")
    assert missing.code == 2 and "no such folder" in missing.err


def test_init_makes_the_signing_key_for_an_older_archive_and_audits_it(cli: CliRunner, archive: Path) -> None:
    key = archive / "archiver-export-signing.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    key.unlink()  # an archive made before case packages
    missing = cli("export", "--case", CASE, "--out", archive / "b")
    assert missing.code == 2 and "archiver init" in missing.err
    again = cli("init")
    assert again.code == 0 and "export-signing key" in again.out
    with closing(Archive.open(load_settings(cwd=archive), read_only=True)) as opened:
        made = [e for e in opened.catalog.audit_entries() if e.event.action == "export-key-create"]
    assert len(made) == 2 and made[-1].event.detail["fingerprint"].startswith("sha256:")
    assert cli("export", "--case", CASE, "--out", archive / "b").code == 0


@pytest.fixture
def kms_archive(cli: CliRunner, tmp_path: Path, samples: list[Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An archive on a KMS key (moto), with records, an investigator and an open case."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_CONFIG_FILE", str(tmp_path / "none")),
                        ("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        key = boto3.client("kms").create_key(Description="archiver test key")["KeyMetadata"]
        monkeypatch.setenv("ARCHIVER_KEY", f"kms://{key['Arn']}")
        made = cli("init")
        assert made.code == 0 and "export-signing key" in made.out, made.err
        assert cli("ingest", *samples, "--custodian", "j.rivera", "--tz", "America/Phoenix").code == 0
        assert cli("role", "grant", "ivy", "investigator").code == 0
        monkeypatch.setenv("ARCHIVER_ACTOR", "ivy")
        assert cli("case", "open", CASE, "--reason", "disclosures").code == 0
        yield tmp_path


def test_on_kms_the_bag_is_signed_with_an_ecdsa_p256_key_in_kms(cli: CliRunner, kms_archive: Path) -> None:
    exported = cli("export", "--case", CASE, "--out", kms_archive / "bag", "--json")
    assert exported.code == 0, exported.err
    bag = kms_archive / "bag"
    assert "Algorithm: ECDSA-P256-SHA256" in (bag / "export-signature.txt").read_text()
    public = serialization.load_pem_public_key((bag / "export-signing-key.pem").read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert verify(cli, bag) == (0, [])
    signature = bag / "tagmanifest-sha512.txt.sig"
    damaged = bytearray(signature.read_bytes())
    damaged[-1] ^= 0x01  # always a change (a signature ending in 0x00 once let "set it to 0x00" pass)
    signature.write_bytes(bytes(damaged))
    code, problems = verify(cli, bag)
    assert code == 1 and any("does not verify" in p for p in problems)


def test_a_failed_export_leaves_nothing_behind(cli: CliRunner, archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(bagit, "make_bag", broken)
    (archive / "empty").mkdir()
    failed = cli("export", "--case", CASE, "--out", archive / "empty")
    assert failed.code == 2 and "No space left on device" in failed.err and "Traceback" not in failed.err
    assert list((archive / "empty").iterdir()) == []
    assert cli("export", "--case", CASE, "--out", archive / "new").code == 2
    assert not (archive / "new").exists()


def test_the_published_key_is_the_one_a_bag_verifies_against(cli: CliRunner, bag: Path, archive: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    published = cli("export", "key", "--out", archive / "court-copy.pem", "--json")
    assert published.code == 0, published.err
    key_print = published.json()["fingerprint"]  # type: ignore[index]
    assert (archive / "court-copy.pem").read_bytes() == (bag / "export-signing-key.pem").read_bytes()
    assert key_print in (bag / "export-signature.txt").read_text(encoding="utf-8")
    assert verify(cli, bag, "--public-key", archive / "court-copy.pem")[0] == 0
    with sqlite3.connect(archive / "archive" / "catalog.sqlite") as db:
        actions = [a for (a,) in db.execute("SELECT action FROM audit ORDER BY seq")]
    assert actions[-1] == "export-key-publish"
    monkeypatch.setenv("ARCHIVER_ACTOR", "nobody")
    refused = cli("export", "key")
    assert refused.code == 2 and "role is required" in refused.err and "BEGIN PUBLIC KEY" not in refused.out
