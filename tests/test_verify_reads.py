"""``verify`` reads each segment once: every catalog row is read back from the segment's bytes in
memory at its catalogued offset and length, with no ranged read per record (on S3, one request
per segment instead of one more per record)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.services.segment_writing import REVIEW_PREFIX, SEGMENT_PREFIX
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from archiver.storage.store.base import ObjectStore
from tests.catalog_sql import SEGMENT_NAME, catalog_db, key_text
from tests.conftest import CliRunner

INGEST = ("--custodian", "Jorge Rivera", "--tz", "America/Phoenix")


class CountingStore:
    """The archive's store, counting the reads of each object."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self.gets: Counter[str] = Counter()
        self.ranges: Counter[str] = Counter()

    def get(self, key: str) -> bytes:
        self.gets[key] += 1
        return self.store.get(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        self.ranges[key] += 1
        return self.store.get_range(key, offset, length)

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)


@pytest.fixture
def opened(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> Iterator[Archive]:
    assert cli("ingest", *samples, *INGEST).code == 0
    archive = Archive.open(load_settings(cwd=archive_dir), read_only=True)
    try:
        yield archive
    finally:
        archive.close()


def test_verify_reads_each_segment_once_and_no_record_alone(opened: Archive) -> None:
    counting = CountingStore(opened.store)
    report = verify(replace(opened, store=counting), deep=True)  # type: ignore[arg-type]
    assert report.problems == []
    segments = [key for key in counting.gets if key.startswith((SEGMENT_PREFIX, REVIEW_PREFIX))]
    assert report.records > len(segments) > 0
    assert all(counting.gets[key] == 1 for key in segments), counting.gets
    assert sum(counting.ranges.values()) == 0, counting.ranges


def test_a_wrong_catalog_offset_is_still_named(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> None:
    assert cli("ingest", *samples, *INGEST).code == 0
    with catalog_db(archive_dir) as db:
        stored_id, offset = db.execute("SELECT id, frame_offset FROM messages WHERE label = 'record' "
                                       "AND frame_offset > 0 ORDER BY id LIMIT 1").fetchone()
        db.execute("UPDATE messages SET frame_offset = 0 WHERE id = ?", (stored_id,))
    record_id = key_text(stored_id)
    result = cli("verify")
    assert result.code == 1
    assert f"record {record_id}: catalog points to " in result.out and "store has it at " in result.out
    assert f"@{offset}" in result.out


def test_a_damaged_frame_is_named_where_the_catalog_places_it(cli: CliRunner, archive_dir: Path,
                                                               samples: list[Path]) -> None:
    assert cli("ingest", *samples, *INGEST).code == 0
    with catalog_db(archive_dir) as db:
        stored_id, segment, offset, length = db.execute(
            f"SELECT id, {SEGMENT_NAME}, frame_offset, frame_length FROM messages m WHERE label = 'record' "
            "ORDER BY id LIMIT 1").fetchone()
    record_id = key_text(stored_id)
    path = archive_dir / "archive" / "objects" / segment
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[offset + length - 1] ^= 0xFF  # the last byte of its authentication tag
    path.write_bytes(bytes(data))
    result = cli("verify")
    assert result.code == 1
    failure = f"object {record_id}: envelope fails authentication (tampered, truncated, or stored under another id)"
    assert failure in result.out
    assert f"record {record_id}: cannot be read at its catalogued place ({failure})" in result.out


def test_two_cores_find_what_threads_find(cli: CliRunner, archive_dir: Path, samples: list[Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import archiver.services.verify_frames as verify_frames

    assert cli("ingest", *samples, *INGEST).code == 0
    segments = sorted(p for p in (archive_dir / "archive" / "objects" / "seg").rglob("*")
                      if p.is_file() and p.suffix != ".lock")
    assert len(segments) >= 3  # the forked process and this one each check some
    damaged = bytearray(segments[1].read_bytes())
    damaged[len(damaged) // 2] ^= 0x01
    segments[1].chmod(0o600)
    segments[1].write_bytes(bytes(damaged))

    def report(two_cores: bool) -> dict[str, object]:
        monkeypatch.setattr(verify_frames, "_local", lambda archive: two_cores)
        with closing(Archive.open(load_settings(cwd=archive_dir), read_only=True)) as archive:
            return verify(archive, deep=True).to_json()

    forked = report(True)
    assert forked == report(False)
    assert forked["problems"]  # the flipped byte, in a frame's header or its sealed body
