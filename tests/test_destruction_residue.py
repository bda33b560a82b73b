"""A destroyed record leaves nothing derived from its content: no blind-index token, no keyed hash
of its text or sender, on SQLite and on DynamoDB, even when the run is killed between the store
delete and the catalog step."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

import pytest

from archiver.config import load_settings
from archiver.core.terms import number_terms, participant_term, word_terms
from archiver.services.access import grant_role, open_case
from archiver.services.actors import login_name
from archiver.services.disposal_plan import approve, execute, make_plan
from archiver.services.disposition import writing
from archiver.services.reindex import reindex
from archiver.services.search import Query, search
from archiver.storage.archive import Archive
from archiver.storage.catalog.sqlite import SqliteCatalog
from tests.catalog_sql import key_text
from tests.conftest import CliRunner, grant_staff
from tests.test_catalog_contract import moto_dynamodb
from tests.test_disposition import LATER, NOW, _ingest

WORD, NAME, NUMBER = "zanahoria", "Wilhelmina Okafor", "G12345678"
BODY = f"Release truck 44, approved by the chief: {WORD}, passport {NUMBER}"
DUE = "2026-03-01T09:00:00Z"      # its 7-year segment is due on LATER
KEPT = "2027-03-01T09:00:00Z"     # same custodian, a segment due a year later
INVESTIGATOR, CASE = "ines", "OIG-2026-014"


def _fill(folder: Path) -> None:
    with (folder / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("default_role: official\n")
    _ingest(folder, "Jorge Rivera", [{"sender": NAME, "sent_at": DUE, "body": BODY},
                                     {"sender": NAME, "sent_at": KEPT, "body": BODY}])


@pytest.fixture(params=["sqlite", "dynamodb"])
def folder(request: pytest.FixtureRequest, cli: CliRunner, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with moto_dynamodb(monkeypatch) if request.param == "dynamodb" else _nothing():
        if request.param == "dynamodb":
            monkeypatch.setenv("ARCHIVER_CATALOG", "dynamodb://archiver-residue")
            monkeypatch.setenv("ARCHIVER_ACTOR", login_name())  # not the caller's IAM principal
        assert cli("init").code == 0
        grant_staff(tmp_path)
        with closing(_open(tmp_path)) as archive:
            grant_role(archive, login_name(), INVESTIGATOR, "investigator", NOW)
            open_case(archive, INVESTIGATOR, CASE, "inquiry", NOW)
        _fill(tmp_path)
        yield tmp_path


class _nothing:  # noqa: N801 - a context that does nothing, for the SQLite case
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _open(folder: Path) -> Archive:
    return Archive.open(load_settings(cwd=folder))


def _execute(archive: Archive) -> None:
    plan = make_plan(archive, LATER.date(), "records-officer", LATER)
    approve(archive, plan, "records-officer", "reviewed", LATER)
    execute(archive, plan, "records-officer", LATER)


def _hits(archive: Archive, query: Query) -> list[tuple[str, bool]]:
    found = search(archive, INVESTIGATOR, query, CASE, LATER)
    return [(hit.row.sent_at.isoformat(), hit.disposed) for hit in found.hits]


def _queries() -> list[Query]:
    return [Query(all_words=WORD), Query(participant=NAME), Query(any_words=NUMBER), Query(phrase=BODY)]


def _tokens(archive: Archive) -> list[str]:
    terms = [*word_terms(WORD), participant_term(NAME), *number_terms(NUMBER)]
    return archive.blind_index.tokens(terms)


def _indexed_ids(archive: Archive) -> set[str]:
    """Every record any of the distinctive tokens still points to, read from the index itself."""
    catalog = archive.catalog
    if isinstance(catalog, SqliteCatalog):
        with closing(sqlite3.connect(catalog.path)) as db:
            rowids = {r for t in _tokens(archive) for (r,) in db.execute(
                "SELECT rowid FROM keywords WHERE keywords MATCH ?", (f'"{t}"',))}
            return {key_text(i) for r in rowids for (i,) in db.execute("SELECT id FROM messages WHERE rowid = ?", (r,))}
    return {i for t in _tokens(archive) for i in catalog._token_ids(t)}  # type: ignore[attr-defined]


def _ids(archive: Archive) -> dict[str, str]:
    return {r.sent_at.isoformat()[:4]: r.id for r in archive.catalog.rows()}


def test_a_destroyed_record_answers_no_search_and_leaves_no_token(folder: Path) -> None:
    with closing(_open(folder)) as archive:
        ids = _ids(archive)
        assert _indexed_ids(archive) == set(ids.values())
        _execute(archive)
        assert _indexed_ids(archive) == {ids["2027"]}
        for query in _queries():
            assert _hits(archive, query) == [("2027-03-01T09:00:00+00:00", False)], query


def test_a_destroyed_record_keeps_no_keyed_hash_of_its_text_or_sender(folder: Path) -> None:
    with closing(_open(folder)) as archive:
        ids = _ids(archive)
        _execute(archive)
        gone, kept = (archive.catalog.row(ids[year]) for year in ("2026", "2027"))
        assert gone is not None and kept is not None
        assert (gone.fingerprint, gone.sender_ref, gone.copy_key) == (None, None, None)
        assert gone.content_hash and gone.schedule and gone.disposition_date  # the tombstone stays
        assert kept.fingerprint and kept.sender_ref and kept.copy_key
        copies = archive.catalog.compliant_copies("Jorge Rivera", [kept.fingerprint])
        assert ids["2026"] not in {row.id for row in copies.values()}  # the same text, destroyed, matches nothing


def test_a_run_killed_after_the_store_delete_removes_the_tokens_on_the_next_writer(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with closing(_open(folder)) as archive:
        ids = _ids(archive)
        segment = archive.catalog.row(ids["2026"]).segment  # type: ignore[union-attr]

        def killed(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt("killed after the store delete")

        with monkeypatch.context() as patched, pytest.raises(KeyboardInterrupt):
            patched.setattr(type(archive.catalog), "mark_disposed", killed)
            _execute(archive)
        assert not archive.store.exists(segment) and archive.catalog.intents()
        assert ids["2026"] in _indexed_ids(archive)
    with closing(_open(folder)) as archive:
        with writing(archive, datetime(2034, 1, 2, tzinfo=timezone.utc)):
            pass  # the next writer finishes the destruction first
        assert archive.catalog.intents() == {}
        assert _indexed_ids(archive) == {ids["2027"]}
        assert _hits(archive, Query(all_words=WORD)) == [("2027-03-01T09:00:00+00:00", False)]


def test_a_reindex_does_not_bring_a_destroyed_record_back(folder: Path) -> None:
    with closing(_open(folder)) as archive:
        ids = _ids(archive)
        _execute(archive)
        reindex(archive, login_name(), LATER)  # reads the store, where the destroyed segment is gone
        assert _indexed_ids(archive) == {ids["2027"]}
        assert _hits(archive, Query(participant=NAME)) == [("2027-03-01T09:00:00+00:00", False)]
        assert archive.catalog.row(ids["2026"]).copy_key is None  # type: ignore[union-attr]
