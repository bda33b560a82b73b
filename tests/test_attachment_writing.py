"""Attachments are stored several at a time where the store writes in parallel, and always before
any segment whose records name them."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.errors import StoreError
from archiver.services import attachment_writing
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from archiver.storage.store.local import LocalDirStore
from tests.conftest import CliRunner
from tests.test_holds_faults import _chat

PHOTOS = 150  # more than one batch of pending attachments


@pytest.fixture
def export(archive_dir: Path) -> Path:
    lines, media = [], {}
    for n in range(PHOTOS):
        name = f"IMG-2019{n:04d}-WA0001.jpg"
        media[name] = b"\xff\xd8 cargo photo " + (b"%d" % (n % 140))  # the last ten repeat earlier ones
        lines += [f"3/{1 + n // 60}/19, {(n // 60) % 24:02d}:{n % 60:02d} - Sgt. Lee: {name} (file attached)",
                  f"Approved, release truck {n} after inspection of the seized cargo"]
    return _chat(archive_dir / "WhatsApp Chat - Port.zip", lines, media)


def test_attachments_are_stored_in_parallel_and_before_the_segments_naming_them(
        cli: CliRunner, archive_dir: Path, export: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_put = LocalDirStore.put
    lock, state = threading.Lock(), {"in_flight": 0, "most": 0, "segments": 0, "during_segment": 0}

    def put(self, key, data, retain_until, legal_hold=False):  # type: ignore[no-untyped-def]
        attachment = key.startswith("att/")
        with lock:
            if attachment:
                state["in_flight"] += 1
                state["most"] = max(state["most"], state["in_flight"])
            elif key.startswith("seg/"):
                state["segments"] += 1
                state["during_segment"] += state["in_flight"]
        try:
            if attachment:
                time.sleep(0.01)  # a network's wait, for the writes to overlap
            return real_put(self, key, data, retain_until, legal_hold)
        finally:
            if attachment:
                with lock:
                    state["in_flight"] -= 1

    monkeypatch.setattr(LocalDirStore, "write_workers", 4)  # as an S3 store would
    monkeypatch.setattr(LocalDirStore, "put", put)
    monkeypatch.setattr(attachment_writing, "PENDING_ATTACHMENTS", 64)
    result = cli("ingest", export, "--custodian", "Jorge Rivera", "--tz", "UTC", "--date-order", "mdy", "--json")
    assert result.code == 0, result.err
    receipt = result.json()
    assert receipt["records"] == PHOTOS and receipt["attachments"]["stored"] == PHOTOS
    assert state["most"] > 1 and state["segments"] >= 1
    assert state["during_segment"] == 0  # no attachment was still being written when a segment was

    archive = Archive.open(load_settings(cwd=archive_dir))
    try:
        assert len(list(archive.store.list("att/"))) == 140  # the same photo twice is one object
        assert verify(archive).ok
    finally:
        archive.close()


def test_an_attachment_that_fails_stops_the_ingest_before_its_segment(
        cli: CliRunner, archive_dir: Path, export: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_put = LocalDirStore.put

    def put(self, key, data, retain_until, legal_hold=False):  # type: ignore[no-untyped-def]
        if key.startswith("att/"):
            raise StoreError(f"object {key}: cannot write: No space left on device")
        return real_put(self, key, data, retain_until, legal_hold)

    monkeypatch.setattr(LocalDirStore, "write_workers", 4)
    monkeypatch.setattr(LocalDirStore, "put", put)
    result = cli("ingest", export, "--custodian", "Jorge Rivera", "--tz", "UTC", "--date-order", "mdy")
    assert result.code != 0 and "Traceback" not in result.err
    archive = Archive.open(load_settings(cwd=archive_dir))
    try:
        assert list(archive.store.list("seg/")) == []  # no record names an attachment not stored
        assert list(archive.catalog.rows(label="record")) == []
    finally:
        archive.close()


def test_a_key_twice_in_one_batch_is_written_once_then_kept_as_long_as_each_needs(
        archive_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.services.ingest_reading import AttachmentObject

    monkeypatch.setattr(LocalDirStore, "write_workers", 4)
    archive = Archive.open(load_settings(cwd=archive_dir))
    try:
        writer = attachment_writing.AttachmentWriter(archive)
        writer.add([AttachmentObject("att/" + "a" * 64, b"photo", date(2030, 1, 1), False),
                    AttachmentObject("att/" + "a" * 64, b"photo", date(2040, 1, 1), True),
                    AttachmentObject("att/" + "b" * 64, b"other", date(2030, 1, 1), False)])
        writer.flush()
        assert sorted(archive.store.list("att/")) == ["att/" + "a" * 64, "att/" + "b" * 64]
        kept = archive.store.retention("att/" + "a" * 64)
        assert kept.retain_until == date(2040, 1, 1) and kept.legal_hold
    finally:
        archive.close()
