"""Reindex: an archive written with the body-words index becomes searchable by number, date and participant."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

import archiver.services.reindex as reindex_module
import archiver.storage.catalog.sqlite_lock as sqlite_lock
from archiver.config import load_settings
from archiver.core.terms import INDEX_VERSION, date_terms, number_terms, participant_term, word_terms
from archiver.services.actors import login_name
from archiver.services.reindex import reindex
from archiver.storage.archive import Archive
from archiver.storage.catalog import SqliteCatalog
from tests.conftest import CliRunner, grant_staff

V1_ARCHIVE = Path(__file__).parent / "fixtures" / "archive-v1"  # written with the body-words index (version 1)
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def v1_archive(tmp_path: Path) -> Path:
    folder = tmp_path / "v1"
    shutil.copytree(V1_ARCHIVE, folder)
    (folder / "archiver.key").chmod(0o600)
    grant_staff(folder)  # an archive written before roles: its first admin comes from init
    return folder


def _finds(folder: Path) -> dict[str, int]:
    """How many records each kind of query finds."""
    archive = Archive.open(load_settings(cwd=folder))
    try:
        index, catalog = archive.blind_index, archive.catalog
        return {"number": len(catalog.search_any(index.tokens(number_terms("G 4821 3377")))),
                "date": len(catalog.search_any(index.tokens(date_terms("1981-03-14")))),
                "participant": len(catalog.search_tokens([index.token(participant_term("comandante RUIZ"))])),
                "word": len(catalog.search_tokens(index.tokens(word_terms("pasaporte")))),
                "version": catalog.index_version() or 0}
    finally:
        archive.close()


def test_reindex_makes_an_old_archive_searchable(cli: CliRunner, v1_archive: Path) -> None:
    # Words are hashed as version 1 hashed them: found before the reindex too.
    assert _finds(v1_archive) == {"number": 0, "date": 0, "participant": 0, "word": 1, "version": 1}

    result = cli("reindex", "--json", cwd=v1_archive)
    assert result.code == 0, result.err
    counts = json.loads(result.out)
    assert counts["previous_version"] == 1 and counts["version"] == INDEX_VERSION == 2
    assert counts["records"] + counts["review_items"] >= 20 and counts["segments"] >= 4

    found = _finds(v1_archive)
    assert found["number"] == found["date"] == found["word"] == 1
    assert found["participant"] >= 10 and found["version"] == 2
    entry = list(SqliteCatalog(v1_archive / "archive" / "catalog.sqlite").audit_entries())[-1]
    assert entry.event.action == "reindex"
    assert all(isinstance(value, int) for value in entry.event.detail.values())  # counts only, no text
    assert cli("verify", cwd=v1_archive).code == 0


def test_a_reindex_killed_halfway_ends_complete_when_run_again(v1_archive: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    original, done = reindex_module._reindex_segment, []

    def killed_after_one(*args: object) -> None:
        if done:
            raise KeyboardInterrupt
        original(*args)  # type: ignore[arg-type]
        done.append(1)

    monkeypatch.setattr(reindex_module, "_reindex_segment", killed_after_one)
    archive = Archive.open(load_settings(cwd=v1_archive))
    with pytest.raises(KeyboardInterrupt):
        reindex(archive, login_name(), NOW)
    archive.close()
    assert _finds(v1_archive)["version"] == 0  # unfinished: says so

    monkeypatch.setattr(reindex_module, "_reindex_segment", original)
    archive = Archive.open(load_settings(cwd=v1_archive))
    first = reindex(archive, login_name(), NOW)
    second = reindex(archive, login_name(), NOW)  # again: the same index, nothing counted twice
    archive.close()
    assert first.to_json() | {"previous_version": 2} == second.to_json()
    found = _finds(v1_archive)
    assert found["number"] == found["date"] == found["word"] == 1 and found["version"] == 2


def test_reindex_waits_for_the_writer_lock(cli: CliRunner, v1_archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_lock, "LOCK_WAIT_SECONDS", 0.3)
    holder = SqliteCatalog(v1_archive / "archive" / "catalog.sqlite")
    with holder.exclusive():
        result = cli("reindex", cwd=v1_archive)
    holder.close()
    assert result.code == 1 and "another archiver process holds the archive" in result.err
    assert _finds(v1_archive)["version"] == 1  # nothing was touched
