"""``verify`` checks each segment against the catalog rows placed in it, and settles what is out of
place across segments: a record stored twice, a row pointing elsewhere or nowhere, a frame no row
knows. Each is named as a pass holding every frame's place would name it, on one core or two."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from archiver.storage.catalog.sqlite_codec import packed
from tests.catalog_sql import SEGMENT_NAME, catalog_db, key_text, stored
from tests.conftest import CliRunner

INGEST = ("--custodian", "Jorge Rivera", "--tz", "America/Phoenix")
FIRST_RECORD = (f"SELECT id, {SEGMENT_NAME}, frame_offset, frame_length FROM messages m WHERE label = 'record' "
                f"ORDER BY {SEGMENT_NAME}, frame_offset LIMIT 1")


@pytest.fixture
def ingested(cli: CliRunner, archive_dir: Path, samples: list[Path]) -> Path:
    assert cli("ingest", *samples, *INGEST).code == 0
    return archive_dir


def _first_record(folder: Path) -> tuple[str, str, int, int]:
    with closing(catalog_db(folder)) as db:
        record_id, segment, offset, length = db.execute(FIRST_RECORD).fetchone()
    return key_text(record_id), segment, offset, length


def _problems(folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The problems verify names, the same on two cores as on one."""
    import archiver.services.verify_frames as verify_frames

    found = []
    for two_cores in (True, False):
        monkeypatch.setattr(verify_frames, "_local", lambda archive, two=two_cores: two)
        with closing(Archive.open(load_settings(cwd=folder), read_only=True)) as archive:
            found.append(verify(archive, deep=True).to_json())
    assert found[0] == found[1]
    return found[0]["problems"]  # type: ignore[return-value]


def test_a_record_stored_twice(ingested: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record_id, segment, offset, length = _first_record(ingested)
    path = ingested / "archive" / "objects" / segment
    path.chmod(0o644)
    data = path.read_bytes()
    path.write_bytes(data + data[offset:offset + length])  # a second copy at the segment's end
    problems = _problems(ingested, monkeypatch)
    assert f"record {record_id} is stored 2 times" in problems
    assert (f"record {record_id}: catalog points to {segment}@{offset}, store has it at {segment}@{len(data)}"
            in problems)


def test_a_row_pointing_to_a_segment_that_does_not_exist(ingested: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record_id, segment, offset, _ = _first_record(ingested)
    with closing(catalog_db(ingested)) as db, db:
        db.execute("UPDATE messages SET segment = ? WHERE id = ?",
                   (stored(db, "segment", "seg/2099-01-01/none"), packed(record_id)))
    problems = _problems(ingested, monkeypatch)
    assert (f"record {record_id}: catalog points to seg/2099-01-01/none@{offset}, store has it at "
            f"{segment}@{offset}") in problems


def test_a_row_placed_nowhere(ingested: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record_id, segment, offset, _ = _first_record(ingested)
    with closing(catalog_db(ingested)) as db, db:
        db.execute("UPDATE messages SET segment = NULL WHERE id = ?", (packed(record_id),))
    problems = _problems(ingested, monkeypatch)
    assert f"record {record_id}: catalog points to None@{offset}, store has it at {segment}@{offset}" in problems


def test_a_row_whose_frame_is_gone_and_a_frame_no_row_knows(ingested: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    record_id, segment, _, _ = _first_record(ingested)
    with closing(catalog_db(ingested)) as db, db:
        stored_other = db.execute("SELECT id FROM messages WHERE label = 'record' AND id != ? ORDER BY id LIMIT 1",
                                  (packed(record_id),)).fetchone()[0]
        db.execute("DELETE FROM messages WHERE id = ?", (packed(record_id),))
        db.execute("UPDATE messages SET frame_length = frame_length + 1 WHERE id = ?", (stored_other,))
    other = key_text(stored_other)
    problems = _problems(ingested, monkeypatch)
    assert f"record {record_id} is in the store ({segment}) but not in the catalog" in problems
    assert any(p.startswith(f"record {other}: catalog points to ") for p in problems)


def test_a_disposed_segment_still_stored(ingested: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record_id, segment, _, _ = _first_record(ingested)
    with closing(catalog_db(ingested)) as db, db:
        db.execute("UPDATE segments SET disposed_at = '2026-01-01T00:00:00Z' WHERE name = ?", (segment,))
    problems = _problems(ingested, monkeypatch)
    assert f"record {record_id} was disposed of with {segment} but is still stored" in problems
