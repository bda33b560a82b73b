"""Hostile input end to end: what a bad export leaves at rest, key files, read-only archives.

A quarantine reason names the field, the position and the kind of fault, never the value: the
catalog and the audit log must not hold a byte of the export's text outside sealed envelopes.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.storage.archive import Archive
from tests.conftest import CliRunner
from tests.hostile import run_archiver

CANARY = "CANARY-5d41402abc4b2a76"
GOOD = {"source": "sms", "conversation": "Port ops", "sender": "+15205550100", "sent_at": "2026-01-05T09:00:00-05:00",
        "body": "Approved: move the inspection to gate 3."}


def _catalog_bytes(folder: Path) -> bytes:
    """Every byte of the SQLite catalog, its write-ahead log included."""
    return b"".join(p.read_bytes() for p in (folder / "archive").glob("catalog.sqlite*") if p.is_file())


def test_quarantine_reasons_never_copy_values_from_the_export(cli: CliRunner, archive_dir: Path) -> None:
    hostile = [{**GOOD, "sent_at": CANARY}, {**GOOD, "sent_at": "2026-01-05T09:00:00 " + CANARY},
               {**GOOD, "direction": CANARY}, {**GOOD, "account": CANARY}, {**GOOD, "recipients": CANARY},
               {**GOOD, "attachments": [{"size": CANARY}]}, {**GOOD, "attachments": [{"name": [CANARY]}]},
               {**GOOD, "body": [CANARY]}, {**GOOD, "flags": CANARY}]
    lines = [json.dumps(GOOD), *map(json.dumps, hostile), json.dumps(CANARY), '{"body": "' + CANARY,
             '{"n": ' + "7" * 5000 + ', "x": "' + CANARY + '"}']
    export = archive_dir / "hostile.jsonl"
    export.write_text("\n".join(lines) + "\n")
    unsafe = archive_dir / "chat.zip"  # an entry name can carry a person's name: reasons number entries
    with zipfile.ZipFile(unsafe, "w") as bundle:
        bundle.writestr("_chat.txt", "1/5/26, 9:00 AM - Ana: hi\n")
        bundle.writestr(f"../{CANARY}.jpg", b"x")
    result = cli("ingest", export, unsafe, "--custodian", "+15205550100", "--json", "--tz", "UTC")
    assert result.code == 2, result.err
    receipt = json.loads(result.out)
    assert receipt["records"] == 1 and receipt["quarantined"] == len(lines) - 1
    assert receipt["refused"][0]["reason"] == "zip entry 2 escapes the archive directory"
    reasons = [q["reason"] for q in receipt["quarantine"]]
    assert "not a valid message: sent_at: not an ISO 8601 timestamp" in reasons
    assert "not a valid message: direction: not one of sent, received" in reasons
    assert all(CANARY not in reason for reason in reasons)
    assert CANARY.encode() not in _catalog_bytes(archive_dir)
    archive = Archive.open(load_settings(None, cwd=archive_dir))
    try:
        entries = list(archive.catalog.audit_entries())
        assert [q.line for q in archive.catalog.quarantine()] == [*range(2, len(lines) + 1), None]
    finally:
        archive.close()
    assert {"ingest", "quarantine"} <= {e.event.action for e in entries}
    assert all(CANARY not in json.dumps(e.event.detail) for e in entries)


# ---- key files -----------------------------------------------------------------------------------

def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("archiver: error: ") and all(w in line for w in words), line


def _replace_key_file(folder: Path, make: Callable[[Path], None]) -> None:
    key = folder / "archiver.key"
    key.unlink()
    make(key)


@pytest.mark.parametrize("kind", ["random bytes", "json list", "too large", "fifo", "directory"])
def test_a_key_file_that_is_not_one_is_refused_in_one_line(cli: CliRunner, archive_dir: Path, kind: str) -> None:
    makers: dict[str, Callable[[Path], None]] = {
        "random bytes": lambda p: p.write_bytes(bytes(range(256)) * 2),
        "json list": lambda p: p.write_text("[" * 5000),
        "too large": lambda p: p.write_text(" " * 100_000),
        "fifo": os.mkfifo,
        "directory": Path.mkdir,
    }
    _replace_key_file(archive_dir, makers[kind])
    if kind != "directory":
        (archive_dir / "archiver.key").chmod(0o600)
    (archive_dir / "m.jsonl").write_text(json.dumps(GOOD) + "\n")
    _one_line_error(run_archiver("ingest", "m.jsonl", "--custodian", "x", cwd=archive_dir), "archiver.key")
    _one_line_error(run_archiver("verify", cwd=archive_dir), "archiver.key")


def test_a_wrong_master_key_under_the_archive_key_id_is_refused_before_writing(cli: CliRunner,
                                                                               archive_dir: Path) -> None:
    export = archive_dir / "m.jsonl"
    export.write_text(json.dumps(GOOD) + "\n")
    assert cli("ingest", export, "--custodian", "x").code == 0
    key = archive_dir / "archiver.key"
    document = json.loads(key.read_text())
    document["master"] = base64.b64encode(os.urandom(32)).decode()  # the same key id, another secret
    key.write_text(json.dumps(document))
    before = _stored_files(archive_dir)
    export.write_text(json.dumps({**GOOD, "body": "A second approval."}) + "\n")
    for command in (["ingest", export, "--custodian", "x"], ["verify"]):
        result = cli(*command)
        assert result.code == 2 and "does not open the archive" in result.err and "archiver.key" in result.err
        assert len(result.err.splitlines()) == 1
    assert _stored_files(archive_dir) == before


def _stored_files(folder: Path) -> list[str]:
    """The archive's files; a read-only catalog open may leave an empty -wal and -shm beside it."""
    return sorted(str(p.relative_to(folder)) for p in (folder / "archive").rglob("*")
                  if p.is_file() and not p.name.endswith(("-wal", "-shm")))


# ---- read-only archives ------------------------------------------------------------------------------

READ_COMMANDS = [["verify"], ["report", "forwarding"], ["report", "completeness"], ["custodian", "list"],
                 ["custodian", "show", "x"], ["hold", "list"], ["review", "list"]]


@pytest.fixture
def read_only_archive(cli: CliRunner, archive_dir: Path) -> Iterator[Path]:
    """An archive with records whose folder, catalog and objects no one may write."""
    (archive_dir / "m.jsonl").write_text(json.dumps(GOOD) + "\n")
    assert cli("custodian", "add", "x", "--name", "X").code == 0
    assert cli("ingest", "m.jsonl", "--custodian", "x").code == 0
    folders = [p for p in (archive_dir / "archive").rglob("*") if p.is_dir()] + [archive_dir / "archive"]
    for path in (archive_dir / "archive").rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    (archive_dir / "archive").chmod(0o555)
    yield archive_dir
    for folder in folders:
        folder.chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root without setpriv")
def test_a_read_only_archive_can_be_verified_and_reported_on(read_only_archive: Path) -> None:
    for command in READ_COMMANDS:
        result = run_archiver(*command, cwd=read_only_archive, drop_root=True)
        assert result.returncode == 0, (command, result.stderr)
    assert "1 catalogued records" in run_archiver("verify", cwd=read_only_archive, drop_root=True).stdout
    assert sorted(p.name for p in (read_only_archive / "archive").iterdir()) == \
        ["catalog.sqlite", "catalog.sqlite.lock", "catalog.sqlite.pending", "objects", "tmp"]  # no -wal or -shm


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root without setpriv")
def test_writing_commands_on_a_read_only_archive_fail_in_one_line_and_write_nothing(read_only_archive: Path) -> None:
    (read_only_archive / "n.jsonl").write_text(json.dumps({**GOOD, "body": "A second approval."}) + "\n")
    before = _stored_files(read_only_archive)
    for command in (["ingest", "n.jsonl", "--custodian", "x"], ["hold", "place", "H-1", "--reason", "case"],
                    ["custodian", "add", "y"]):
        _one_line_error(run_archiver(*command, cwd=read_only_archive, drop_root=True), "is read-only")
    (read_only_archive / "archive" / "objects").chmod(0o755)
    (read_only_archive / "archive" / "tmp").chmod(0o755)  # the store can be written, the catalog cannot
    _one_line_error(run_archiver("ingest", "n.jsonl", "--custodian", "x", cwd=read_only_archive, drop_root=True),
                    "catalog", "is read-only")
    assert _stored_files(read_only_archive) == before  # no segment, pending or not, was begun


# ---- e-mail too complex for the parser -------------------------------------------------------------

MAIL_HEAD = ("From: a@example.com\nTo: b@example.gov\nDate: Mon, 5 Jan 2026 09:00:00 -0500\nSubject: s\n"
             "MIME-Version: 1.0\n")
HOSTILE_MAIL = {
    "RFC 2231 parameters cap": MAIL_HEAD + "Content-Type: text/plain; charset=utf-8; "
    + "; ".join(f"p{i}*0*=utf-8''x" for i in range(100_000)) + "\n\nhello\n",
    "MIME parts cap": MAIL_HEAD + "Content-Type: multipart/mixed; boundary=b\n\n"
    + "--b\nContent-Type: text/plain\n\nx\n" * 50_000 + "--b--\n",
    "MIME nesting cap": MAIL_HEAD + "".join(f"Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n"
                                            for i in range(20_000)) + "\nhello\n",
}


@pytest.mark.parametrize("cap", sorted(HOSTILE_MAIL))
def test_mail_too_complex_to_parse_is_quarantined_within_bounds(archive_dir: Path, cap: str) -> None:
    (archive_dir / "m.eml").write_text(HOSTILE_MAIL[cap])
    result = run_archiver("ingest", "m.eml", "--custodian", "x", "--json", cwd=archive_dir)
    _one_line_error(result, "m.eml", cap)
    assert json.loads(result.stdout)["refused"][0]["reason"].endswith(f"({cap})")
    good = MAIL_HEAD + "Content-Type: text/plain\n\nApproved: move the inspection to gate 3.\n"
    (archive_dir / "m.mbox").write_text(f"From x\n{HOSTILE_MAIL[cap]}\nFrom y\n{good}")
    receipt = json.loads(run_archiver("ingest", "m.mbox", "--custodian", "x", "--json", cwd=archive_dir).stdout)
    assert (receipt["records"], receipt["quarantined"]) == (1, 1) and cap in receipt["quarantine"][0]["reason"]


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root without setpriv")
def test_init_in_a_read_only_folder_fails_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    _one_line_error(run_archiver("init", cwd=folder, drop_root=True), "is read-only", "archiver.yaml")
    assert not list(folder.iterdir())
