"""One contract for every catalog: SQLite (a file) and DynamoDB (moto, in-process) pass the same tests.

The subtle rules are the ones ingest and recovery lean on: which row wins when a message is
seen again, that a segment's pending mark goes with its commit, that the audit log stays one
unbroken chain even with several writers, and that a second writer is refused.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb import models as moto_dynamodb_models
from moto.dynamodb.models.table import Table as MotoTable

import archiver.storage.catalog.dynamodb as dynamodb_module
import archiver.storage.catalog.dynamodb_lock as dynamodb_lock
import archiver.storage.catalog.sqlite_lock as sqlite_lock
from archiver.core.custodians import Custodian, PersonalAccount
from archiver.errors import CatalogError, KeyProviderError
from archiver.model import utc_iso
from archiver.storage.audit import AuditEvent, verify_chain
from archiver.storage.catalog import (
    Catalog,
    CatalogRow,
    CommitBatch,
    ExportRow,
    HoldRow,
    NoticeRow,
    QuarantineRow,
    SegmentRow,
    SqliteCatalog,
)
from archiver.storage.catalog.base import RecordPlace, RowFilter
from archiver.storage.catalog.dynamodb import DynamoCatalog
from archiver.storage.catalog.report_rows import CopyRow, report_row

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)
TABLE = "archiver-contract"
CUSTODIAN = "Jorge Rivera"


def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region; nothing of the machine's AWS setup leaks into a test."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


def make_moto_transactions_atomic(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto apply a transaction the way DynamoDB does, and in linear time.

    moto 5 applies a transaction without a lock, while DynamoDB applies each one atomically; the
    lock restores that for the concurrency tests. And moto deep-copies the whole table once per
    item of a transaction (as a rollback copy), so a 100-item transaction on a few thousand items
    takes seconds; one copy per transaction is all it needs.
    """
    original = moto_dynamodb_models.DynamoDBBackend.transact_write_items
    atomic = threading.RLock()

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        copies: dict[int, tuple[object, object]] = {}

        def deepcopy(value: Any, memo: Any = None) -> Any:
            if not isinstance(value, MotoTable):
                return copy.deepcopy(value, memo)
            if id(value) not in copies:
                copies[id(value)] = (value, copy.deepcopy(value))
            return copies[id(value)][1]

        with atomic, mock.patch.object(moto_dynamodb_models, "copy", SimpleNamespace(deepcopy=deepcopy)):
            original(self, transact_items)

    monkeypatch.setattr(moto_dynamodb_models.DynamoDBBackend, "transact_write_items", transact_write_items)


@contextmanager
def moto_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DynamoDB in-process (moto), with fake credentials."""
    fake_aws_env(monkeypatch)
    make_moto_transactions_atomic(monkeypatch)
    with mock_aws():
        yield


@dataclass
class Backend:
    """A catalog implementation under test: ``open`` gives another object on the same database."""

    name: str
    open: Callable[[], Catalog]
    module: ModuleType  # where LOCK_WAIT_SECONDS lives


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "catalog.sqlite"
        yield Backend("sqlite", lambda: SqliteCatalog(path), sqlite_lock)
        return
    with moto_dynamodb(monkeypatch):
        DynamoCatalog(TABLE, create=True).close()
        yield Backend("dynamodb", lambda: DynamoCatalog(TABLE), dynamodb_lock)


@pytest.fixture
def catalog(backend: Backend) -> Iterator[Catalog]:
    opened = backend.open()
    yield opened
    opened.close()


def make_row(n: int, *, custodian: str = CUSTODIAN, label: str = "record", minutes: int | None = None,
             status: str = "forwarded", fingerprint: str | None = None, segment: str | None = None,
             offset: int | None = None, ingested_at: datetime = T0, **changes: Any) -> CatalogRow:
    """A plausible row: ids, hashes, dates and labels only, as the catalog keeps."""
    sent_at = T0 - timedelta(days=3) + timedelta(minutes=n if minutes is None else minutes)
    row = CatalogRow(
        id=f"{n:032x}", custodian=custodian, source="whatsapp", conversation_ref=f"conv{n % 3:029d}",
        sent_at=sent_at, direction="sent", account="personal", system=False, label=label, confidence=0.875,
        reasons=("decision-words", "outside-party"), rules_version="2026.1",
        schedule="GRS-6.1-011" if label == "record" else None,
        disposition_date=date(2033, 12, 31) if label == "record" else None,
        forwarding_status=status if label == "record" else "not-applicable",
        deadline=sent_at + timedelta(days=20) if label == "record" else None, days_late=0,
        content_hash=f"{n:064x}", export_sha256="e" * 64, source_line=n + 1, ingested_at=ingested_at,
        flags=(), segment=segment, offset=offset, length=120 if offset is not None else None, fingerprint=fingerprint)
    return replace(row, **changes)


def segment_batch(name: str, rows: list[CatalogRow], keywords: list[tuple[str, list[str]]] | None = None,
                  custodian: str = CUSTODIAN) -> CommitBatch:
    segment = SegmentRow(name, custodian, "GRS-6.1-011", date(2033, 12, 31), len(rows), T0)
    placed = [replace(r, segment=name, offset=i * 120, length=120) for i, r in enumerate(rows)]
    return CommitBatch(placed, keywords or [], segment, event("store-segment", segment=name, records=len(rows)))


def event(action: str, **detail: Any) -> AuditEvent:
    return AuditEvent("officer@agency.gov", action, T0, dict(detail))


# -- rows ---------------------------------------------------------------------------------------


def test_a_row_comes_back_with_every_field(catalog: Catalog) -> None:
    full = make_row(1, system=True, flags=("edited",), confidence=0.123456789, fingerprint="f" * 32,
                    segment="seg/2033-12-31/a", offset=240, days_late=4, status="late")
    bare = make_row(2, label="nonrecord", source_line=None)
    catalog.commit([CommitBatch([full, bare])])

    assert catalog.row(full.id) == full
    assert catalog.row(bare.id) == bare
    assert catalog.row("0" * 31 + "9") is None


def test_rows_are_ordered_by_custodian_time_and_id_and_filtered(catalog: Catalog) -> None:
    rows = [make_row(1, custodian="a b", minutes=5), make_row(2, custodian="a", minutes=9),
            make_row(3, custodian="a", minutes=1, label="review"), make_row(4, custodian="a", minutes=1),
            make_row(5, custodian="a", minutes=1, label="nonrecord"),
            make_row(6, custodian="a", minutes=1, sent_at=T0 - timedelta(days=3, seconds=-60.5))]
    catalog.commit([CommitBatch(rows)])

    def ids(found: Iterator[CatalogRow]) -> list[int]:
        return [int(r.id, 16) for r in found]

    # A whole second (row 4 at …:01:00) comes before a fraction of it (row 6 at …:01:00.5), then
    # ties go by id: DynamoDB's keys are ISO text, where "…:01:00.500000Z" sorts before "…:01:00Z".
    assert ids(catalog.rows()) == [3, 4, 5, 6, 2, 1]
    assert ids(catalog.rows(custodian="a")) == [3, 4, 5, 6, 2]
    assert ids(catalog.rows(label="record")) == [4, 6, 2, 1]
    assert ids(catalog.rows(custodian="a", label="review")) == [3]
    assert ids(catalog.rows(custodian="nobody")) == []


def test_report_rows_are_the_rows_the_forwarding_report_reads_in_the_same_order(catalog: Catalog) -> None:
    rows = [make_row(1, custodian="b", status="late", days_late=3, flags=("edited", "deleted")),
            make_row(2, custodian="a", label="nonrecord", flags=("deleted",), source_line=None),
            make_row(3, custodian="a", system=True, status="copied", segment="seg/2033-12-31/r", offset=0),
            make_row(4, custodian="a", sent_at=T0 - timedelta(days=3, seconds=-60.5)),
            make_row(5, custodian="b", status="not-applicable", deadline=None, flags=("edited",)),
            make_row(6, custodian="a", label="review"), make_row(7, custodian="b", label="nonrecord"),
            make_row(0, custodian="a", minutes=2)]  # written last, sent with row 2: ties go by id
    catalog.commit([CommitBatch(rows)])

    # Records, and the deleted nonrecord: a tombstone or review item is no business of the report.
    lean = list(catalog.report_rows())
    assert lean == [report_row(r) for r in catalog.rows() if r.label == "record" or "deleted" in r.flags]
    assert [int(r.id, 16) for r in lean] == [4, 0, 2, 3, 1, 5]
    lean.pop(1)
    assert [r.deleted for r in lean] == [False, True, False, True, False]
    assert lean[0].sent_at == utc_iso(rows[3].sent_at) and lean[0].sent_at.endswith(".500000Z")
    assert (lean[2].system, lean[2].segment, lean[1].source_line, lean[4].deadline) == \
        (True, "seg/2033-12-31/r", None, None)


def test_known_labels_names_only_the_ids_present(catalog: Catalog) -> None:
    present = [make_row(n, label="record" if n % 2 else "nonrecord") for n in range(1, 251)]
    catalog.commit([CommitBatch(present)])
    asked = [r.id for r in present] + [f"{n:032x}" for n in range(1000, 1100)]

    known = catalog.known_labels(asked)

    assert known == {r.id: r.label for r in present}
    assert catalog.known_labels([]) == {}


@pytest.mark.parametrize(("first", "second", "kept"), [
    ("nonrecord", "record", "second"),   # seen again in context: a record replaces its tombstone
    ("review", "record", "second"),      # a review item filed as a record
    ("review", "nonrecord", "second"),   # a review item settled as a nonrecord
    ("record", "nonrecord", "first"),    # a record is never replaced ...
    ("record", "review", "first"),
    ("record", "record", "first"),       # ... not even by itself under newer rules
    ("nonrecord", "review", "first"),
    ("nonrecord", "nonrecord", "first"),
    ("review", "review", "first"),
])
def test_which_row_wins_when_a_message_is_seen_again(catalog: Catalog, first: str, second: str, kept: str) -> None:
    old = make_row(7, label=first, rules_version="old")
    new = make_row(7, label=second, rules_version="new", segment="seg/new", offset=0)
    catalog.commit([CommitBatch([old])])

    catalog.commit([CommitBatch([new])])

    assert catalog.row(old.id) == (new if kept == "second" else old)
    assert len(list(catalog.rows())) == 1


def test_the_rules_apply_in_order_within_one_commit(catalog: Catalog) -> None:
    review, record, late_nonrecord = (make_row(8, label="review"), make_row(8, rules_version="decided"),
                                      make_row(8, label="nonrecord"))

    catalog.commit([CommitBatch([review]), CommitBatch([record, late_nonrecord])])

    assert catalog.row(review.id) == record


# -- segments and pending marks -----------------------------------------------------------------


def test_a_segment_commit_clears_its_own_pending_mark(catalog: Catalog) -> None:
    catalog.begin_segments(["seg/2033-12-31/b", "seg/2033-12-31/a"])
    catalog.begin_segments(["seg/2033-12-31/a"])
    assert catalog.pending_segments() == ["seg/2033-12-31/a", "seg/2033-12-31/b"]

    catalog.commit([segment_batch("seg/2033-12-31/a", [make_row(1), make_row(2)])])

    assert catalog.pending_segments() == ["seg/2033-12-31/b"]
    assert [s.name for s in catalog.segments()] == ["seg/2033-12-31/a"]
    catalog.drop_pending("seg/2033-12-31/b")
    assert catalog.pending_segments() == []


def test_added_batches_are_read_at_once_and_committed_together(backend: Backend, catalog: Catalog) -> None:
    catalog.begin_segments(["seg/2033-12-31/a", "seg/2033-12-31/b"])
    catalog.add([segment_batch("seg/2033-12-31/a", [make_row(1), make_row(2)], [(make_row(1).id, ["tok"])])])
    catalog.add([segment_batch("seg/2033-12-31/b", [make_row(3)]), CommitBatch([make_row(4, label="nonrecord")],
                                                                                audit=event("tombstones"))])
    # The catalog that added them reads them before the commit (an ingest's duplicate lookups).
    assert set(catalog.known_labels([make_row(n).id for n in (1, 3, 4)])) == {make_row(n).id for n in (1, 3, 4)}
    assert catalog.search_tokens(["tok"]) == {make_row(1).id}

    catalog.commit()

    assert catalog.pending_segments() == []
    assert [s.name for s in catalog.segments()] == ["seg/2033-12-31/a", "seg/2033-12-31/b"]
    reopened = backend.open()
    try:
        assert len(list(reopened.rows())) == 4
        assert reopened.audit_head() == catalog.audit_head()
        assert reopened.audit_head()[0] == 3  # two segments and the tombstones
    finally:
        reopened.close()


def test_segments_are_listed_by_name_and_keep_their_fields(catalog: Catalog) -> None:
    later = SegmentRow("seg/2040-01-01/x", "a", "GRS-6.1-010", date(2040, 1, 1), 1, T0)
    never = SegmentRow("seg/indefinite/y", "b", "UNSCHEDULED", None, 1, T0 + timedelta(hours=1))
    earlier = SegmentRow("seg/2031-06-30/z", "a", "GRS-5.2-010", date(2031, 6, 30), 1, T0)
    catalog.commit([CommitBatch([make_row(n, segment=s.name, offset=0)], segment=s)
                    for n, s in enumerate((later, never, earlier), start=1)])

    assert list(catalog.segments()) == [earlier, later, never]


def test_segment_rows_follow_frame_order_and_lose_a_row_filed_elsewhere(catalog: Catalog) -> None:
    rows = [make_row(n, label="review") for n in (3, 1, 2)]
    batch = segment_batch("review/2026-06-01/r", rows)
    catalog.commit([batch])
    assert [r.id for r in catalog.segment_rows("review/2026-06-01/r")] == [r.id for r in batch.rows]

    filed = replace(make_row(1), segment="seg/2033-12-31/f", offset=0)
    settled = replace(batch.rows[2], label="nonrecord")  # keeps its frame in the review segment
    catalog.commit([segment_batch("seg/2033-12-31/f", [filed]), CommitBatch([settled])])

    assert [r.id for r in catalog.segment_rows("review/2026-06-01/r")] == [batch.rows[0].id, settled.id]
    assert list(catalog.segment_rows("review/2026-06-01/r"))[1].label == "nonrecord"
    assert [r.id for r in catalog.segment_rows("seg/2033-12-31/f")] == [filed.id]
    assert list(catalog.segment_rows("seg/none")) == []
    for name in ("review/2026-06-01/r", "seg/2033-12-31/f", "seg/none"):  # what a hold reads of them
        assert list(catalog.segment_places(name)) == [RecordPlace.of(r) for r in catalog.segment_rows(name)]


def test_holdings_count_records_per_group_without_tombstones(catalog: Catalog) -> None:
    late_evening = T0.replace(hour=23, minute=50, tzinfo=timezone(timedelta(hours=-5)))  # next UTC day
    kept = [make_row(1), make_row(2), make_row(3, sent_at=late_evening), make_row(4, custodian="b")]
    gone = [make_row(5)]
    catalog.commit([segment_batch("seg/kept", kept[:3]), segment_batch("seg/gone", gone),
                    CommitBatch([kept[3], make_row(6, label="nonrecord"), make_row(7, label="review",
                                                                              disposition_date=date(2026, 4, 1))])])
    catalog.mark_disposed("seg/gone", T0, event("dispose", segment="seg/gone"))
    groups = {(g.custodian, g.label, g.schedule, g.sent_on, g.disposition_date, g.disposed): (g.records, g.bytes)
              for g in catalog.holdings()}
    day = (T0 - timedelta(days=3)).date()
    assert groups == {
        (CUSTODIAN, "record", "GRS-6.1-011", day, date(2033, 12, 31), False): (2, 240),
        (CUSTODIAN, "record", "GRS-6.1-011", date(2026, 3, 3), date(2033, 12, 31), False): (1, 120),
        (CUSTODIAN, "record", "GRS-6.1-011", day, date(2033, 12, 31), True): (1, 120),
        ("b", "record", "GRS-6.1-011", day, date(2033, 12, 31), False): (1, 0),
        (CUSTODIAN, "review", None, day, date(2026, 4, 1), False): (1, 0),
    }
    assert {g.custodian for g in catalog.holdings("b")} == {"b"}


def test_mark_disposed_stamps_the_segment_and_keeps_its_rows(catalog: Catalog) -> None:
    catalog.commit([segment_batch("seg/2026-01-01/d", [make_row(1), make_row(2)]),
                    segment_batch("seg/2026-01-01/e", [make_row(3)])])
    gone = T0 + timedelta(days=400)

    catalog.mark_disposed("seg/2026-01-01/d", gone, event("dispose", segment="seg/2026-01-01/d"))

    assert {s.name: s.disposed_at for s in catalog.segments()} == {"seg/2026-01-01/d": gone,
                                                                   "seg/2026-01-01/e": None}
    assert len(list(catalog.segment_rows("seg/2026-01-01/d"))) == 2
    assert [e.event.action for e in catalog.audit_entries()][-1] == "dispose"


def test_set_dispositions_dates_the_rows_named_and_the_segment(catalog: Catalog) -> None:
    catalog.commit([segment_batch("seg/indefinite/f", [make_row(1, disposition_date=None),
                                                       make_row(2, disposition_date=None)]),
                    segment_batch("seg/2026-01-01/g", [make_row(3)])])

    catalog.set_dispositions("seg/indefinite/f", None, {f"{1:032x}": date(2034, 6, 30)})
    catalog.set_dispositions("seg/2026-01-01/g", date(2035, 1, 15), {f"{3:032x}": date(2035, 1, 15)})

    dates = {row.id: row.disposition_date for row in catalog.rows()}
    assert dates == {f"{1:032x}": date(2034, 6, 30), f"{2:032x}": None, f"{3:032x}": date(2035, 1, 15)}
    assert {s.name: s.retain_until for s in catalog.segments()} == {"seg/indefinite/f": None,
                                                                    "seg/2026-01-01/g": date(2035, 1, 15)}


def test_a_1000_row_segment_commits_whole(catalog: Catalog) -> None:
    rows = [make_row(n) for n in range(1000)]
    keywords = [(r.id, ["common", f"word{n % 10}", f"only{n}"]) for n, r in enumerate(rows)]
    catalog.begin_segments(["seg/2033-12-31/big"])

    catalog.commit([segment_batch("seg/2033-12-31/big", rows, keywords)])

    assert catalog.pending_segments() == []
    listed = list(catalog.segment_rows("seg/2033-12-31/big"))
    assert [r.offset for r in listed] == [n * 120 for n in range(1000)]
    assert len(catalog.search_tokens(["common"])) == 1000
    assert catalog.search_tokens(["word3", "only13"]) == {rows[13].id}
    assert [e.event.action for e in catalog.audit_entries()] == ["store-segment"]


def test_3000_rows_page_through_every_listing(catalog: Catalog) -> None:
    # About 2 MB of DynamoDB items: more than one 1 MB page of every query.
    names = [f"seg/2033-12-31/{n}" for n in range(3)]
    catalog.commit([segment_batch(name, [make_row(k * 1000 + n, label="record" if n % 3 else "review")
                                         for n in range(1000)]) for k, name in enumerate(names)])

    everything = list(catalog.rows())
    assert len(everything) == 3000
    assert list(catalog.report_rows()) == [report_row(r) for r in everything if r.label == "record"]
    assert [r.sent_at for r in everything] == sorted(r.sent_at for r in everything)
    assert len(list(catalog.rows(custodian=CUSTODIAN, label="record"))) == 3 * 666
    assert len(list(catalog.rows(label="review"))) == 3 * 334
    assert len(catalog.known_labels([r.id for r in everything])) == 3000
    assert [len(list(catalog.segment_rows(name))) for name in names] == [1000, 1000, 1000]


# -- blind index and compliant copies ------------------------------------------------------------


def test_search_returns_the_ids_holding_every_token(catalog: Catalog) -> None:
    rows = [make_row(1), make_row(2), make_row(3)]
    keywords = [(rows[0].id, ["lookout", "remove"]), (rows[1].id, ["lookout"]), (rows[2].id, []),
                (f"{99:032x}", ["lookout"])]  # no such row: not indexed
    catalog.commit([segment_batch("seg/2033-12-31/s", rows, keywords)])

    assert catalog.search_tokens(["lookout"]) == {rows[0].id, rows[1].id}
    assert catalog.search_tokens(["lookout", "remove"]) == {rows[0].id}
    assert catalog.search_tokens(["remove", "absent"]) == set()
    assert catalog.search_tokens([]) == set()


def test_search_stays_with_each_message_when_rows_are_replaced(catalog: Catalog) -> None:
    review = [make_row(1, label="review"), make_row(2, label="review")]
    catalog.commit([segment_batch("seg/2033-12-31/r", review,
                                  [(review[0].id, ["alpha"]), (review[1].id, ["bravo"])])])
    # One batch replaces both: a record for the first, a settled nonrecord for the second, in the
    # opposite order from the one they were written in.
    catalog.commit([CommitBatch([replace(review[1], label="nonrecord", segment=None, offset=None, length=None),
                                 replace(review[0], label="record")])])
    assert catalog.search_tokens(["alpha"]) == {review[0].id}
    assert catalog.search_tokens(["bravo"]) == set()  # a nonrecord is not found by search


def test_search_any_returns_the_ids_holding_any_token(catalog: Catalog) -> None:
    rows = [make_row(1), make_row(2), make_row(3), make_row(4, label="review")]
    keywords = [(rows[0].id, ["phone10"]), (rows[1].id, ["phone11"]), (rows[2].id, ["other"]),
                (rows[3].id, ["phone10"])]
    catalog.commit([segment_batch("seg/2033-12-31/s", rows, keywords)])
    assert catalog.search_any(["phone10", "phone11"]) == {rows[0].id, rows[1].id, rows[3].id}
    assert catalog.search_any(["phone11", "absent"]) == {rows[1].id}
    assert catalog.search_any([]) == set() and catalog.search_any(["absent"]) == set()
    catalog.commit([CommitBatch([replace(rows[3], label="nonrecord", segment=None, offset=None, length=None)])])
    assert catalog.search_any(["phone10"]) == {rows[0].id}  # a settled nonrecord is not found


def test_rows_by_id_returns_the_rows_held(catalog: Catalog) -> None:
    rows = [make_row(n) for n in range(250)]
    catalog.commit([segment_batch("seg/2033-12-31/s", rows)])
    wanted = [r.id for r in rows[::2]] + [f"{9999:032x}"]
    found = catalog.rows_by_id(wanted)
    assert set(found) == {r.id for r in rows[::2]}
    assert found[rows[4].id] == replace(rows[4], segment="seg/2033-12-31/s", offset=4 * 120, length=120)
    assert catalog.rows_by_id([]) == {}


def test_find_combines_index_groups_and_catalog_facts_in_time_order(catalog: Catalog) -> None:
    rows = [make_row(n, custodian="a" if n % 2 else "b", source="sms" if n % 5 == 0 else "whatsapp",
                     reasons=("pii-passport",) if n % 3 == 0 else ("decision-words",)) for n in range(30)]
    rows[7] = replace(rows[7], label="review", schedule=None)
    rows[9] = replace(rows[9], label="nonrecord", schedule=None, segment=None, offset=None, length=None)
    keywords = [(r.id, ["truck", "lane"] if r.custodian == "a" else ["truck"]) for r in rows]
    catalog.commit([segment_batch("seg/2033-12-31/s", rows[:9] + rows[10:], keywords)])
    catalog.commit([CommitBatch([rows[9]])])
    ids = lambda found: [r.id for r in found[1]]  # noqa: E731
    everything = [r.id for r in sorted(rows, key=lambda r: r.sent_at) if r.label != "nonrecord"]

    assert catalog.find([], RowFilter(), None)[0] == 29
    assert ids(catalog.find([], RowFilter(), None)) == everything
    total, first = catalog.find([(["truck"], True)], RowFilter(), 5)
    assert total == 29 and [r.id for r in first] == everything[:5]
    both = catalog.find([(["truck", "lane"], True)], RowFilter(), None)
    assert ids(both) == [i for i in everything if int(i, 16) % 2]
    assert catalog.find([(["lane"], True), (["absent", "truck"], False)], RowFilter(), None)[0] == both[0]
    assert ids(catalog.find([(["absent"], False)], RowFilter(), None)) == []
    assert catalog.find([(["absent"], False)], RowFilter(), None)[0] == 0
    start, end = rows[10].sent_at, rows[20].sent_at
    window = catalog.find([], RowFilter(custodians=frozenset({"b"}), start=start, end=end, source="whatsapp"), None)
    assert ids(window) == [r.id for r in rows[10:20] if r.custodian == "b" and r.source == "whatsapp"]
    pii = catalog.find([(["truck"], True)], RowFilter(reason_prefixes=("pii-",)), None)
    assert ids(pii) == [r.id for r in rows if int(r.id, 16) % 3 == 0 and r.label != "nonrecord"]
    assert ids(catalog.find([], RowFilter(label="review"), None)) == [rows[7].id]
    assert ids(catalog.find([], RowFilter(label="nonrecord"), None)) == [rows[9].id]
    nobody = catalog.find([], RowFilter(schedule="GRS-6.1-011", custodians=frozenset()), None)
    assert nobody[0] == 0 and list(nobody[1]) == []


def test_conversation_rows_are_the_context_around_a_moment(catalog: Catalog) -> None:
    rows = [make_row(n, conversation_ref="c" * 32) for n in range(20)] + [make_row(50, conversation_ref="d" * 32)]
    catalog.commit([segment_batch("seg/2033-12-31/s", rows[:10]), segment_batch("seg/2033-12-31/t", rows[10:])])
    around = rows[10].sent_at
    context = catalog.conversation_rows("c" * 32, around, 3, 4)
    assert [r.id for r in context] == [r.id for r in rows[7:14]]
    assert [r.id for r in catalog.conversation_rows("c" * 32, around, 0, 1)] == [rows[10].id]
    assert [r.id for r in catalog.conversation_rows("c" * 32, rows[0].sent_at, 5, 2)] == [rows[0].id, rows[1].id]
    assert catalog.conversation_rows("c" * 32, around, 0, 0) == []
    assert catalog.conversation_rows("e" * 32, around, 5, 5) == []


@pytest.mark.parametrize("at", range(8))
def test_the_context_is_in_time_order_where_whole_seconds_and_fractions_meet(catalog: Catalog, at: int) -> None:
    # Two seconds that each hold whole-second and fractional instants, one instant twice: what
    # comes before and after each message is what time order says, whatever the keys' text order.
    start = T0.replace(microsecond=0)
    offsets = [(0, 0), (0, 250_000), (0, 250_000), (0, 900_000), (1, 0), (1, 0), (1, 500_000), (2, 0)]
    rows = [make_row(n, conversation_ref="c" * 32, sent_at=start + timedelta(seconds=s, microseconds=us))
            for n, (s, us) in enumerate(offsets)]
    catalog.commit([segment_batch("seg/2033-12-31/m", list(reversed(rows)))])
    ordered = sorted(rows, key=lambda row: (row.sent_at, row.id))
    around = rows[at].sent_at
    first_at = next(i for i, row in enumerate(ordered) if row.sent_at == around)
    for before, after in ((8, 8), (1, 1), (2, 3)):
        expected = ordered[max(first_at - before, 0):first_at + after]
        assert [r.id for r in catalog.conversation_rows("c" * 32, around, before, after)] == [r.id for r in expected]
    assert [r.id for r in catalog.rows()] == [r.id for r in ordered]


def test_index_version_new_archive_and_rebuild(backend: Backend) -> None:
    catalog = backend.open()
    assert catalog.index_version() is None
    rows = [make_row(1), make_row(2)]
    catalog.commit([segment_batch("seg/2033-12-31/s", rows, [(rows[0].id, ["old"]), (rows[1].id, ["old"])])])
    assert catalog.index_version() == 2  # the first commit into an empty catalog
    catalog.reset_index()
    assert catalog.search_tokens(["old"]) == set()
    catalog.add_index([(rows[0].id, ["new", "number1234"]), (rows[1].id, ["new"]), (f"{99:032x}", ["new"])])
    catalog.set_index_version(7)
    catalog.close()
    again = backend.open()
    assert again.index_version() == 7
    assert again.search_tokens(["new"]) == {rows[0].id, rows[1].id}
    assert again.search_tokens(["new", "number1234"]) == {rows[0].id}
    assert again.search_tokens(["old"]) == set()
    again.close()


def test_compliant_copies_name_the_earliest_copied_or_forwarded_record(catalog: Catalog) -> None:
    later = T0 + timedelta(days=1)
    rows = [make_row(1, fingerprint="fa", ingested_at=later),
            make_row(2, fingerprint="fa", ingested_at=T0, minutes=50, status="copied"),
            make_row(3, fingerprint="fa", ingested_at=T0, minutes=10, status="late"),       # late: not compliant
            make_row(4, fingerprint="fb", ingested_at=T0, custodian="someone else"),        # other custodian
            make_row(5, fingerprint="fc", label="nonrecord"),                                # not a record
            make_row(6, fingerprint="fd", ingested_at=later, minutes=5),
            make_row(7, fingerprint="fd", ingested_at=later, minutes=1)]
    catalog.commit([CommitBatch(rows[:3]), CommitBatch(rows[3:6]), CommitBatch(rows[6:])])

    found = catalog.compliant_copies(CUSTODIAN, ["fa", "fb", "fc", "fd", "fz"])

    assert {fp: row.id for fp, row in found.items()} == {"fa": rows[1].id, "fd": rows[6].id}
    assert found["fa"] == rows[1]
    assert catalog.compliant_copies(CUSTODIAN, []) == {}


def repeated_text_rows() -> list[CatalogRow]:
    """1,000 copies of one text, the earliest compliant one in the middle of the list."""
    rows = [make_row(n, fingerprint="same", ingested_at=T0 + timedelta(hours=1 + n % 7), minutes=n % 13,
                     status=("late", "copied", "forwarded")[n % 3]) for n in range(1000)]
    rows[500] = make_row(500, fingerprint="same", ingested_at=T0, minutes=30, status="copied")
    rows[501] = make_row(501, fingerprint="same", ingested_at=T0, minutes=20, status="late")  # late: not compliant
    rows[502] = make_row(502, fingerprint="same", ingested_at=T0, minutes=40, status="forwarded")
    return rows


def test_a_text_repeated_1000_times_names_its_earliest_compliant_copy(catalog: Catalog) -> None:
    rows = repeated_text_rows()
    catalog.commit([CommitBatch(rows[start:start + 100]) for start in range(0, 1000, 100)])

    found = catalog.compliant_copies(CUSTODIAN, ["same", "same", "other"])

    assert list(found) == ["same"]
    assert found["same"] == rows[500]


# -- registry, notices, quarantine, exports, holds, key ------------------------------------------


def test_custodians_round_trip_and_update(catalog: Catalog) -> None:
    officer = Custodian(id="j.rivera", name=CUSTODIAN, role="official", timezone="America/Phoenix",
                        official_accounts=("jorge.rivera@cbp.dhs.gov",),
                        personal_accounts=(PersonalAccount("whatsapp", "+15205550100"),), names=("Jorge",),
                        registered_at=T0)
    catalog.put_custodian(officer, event("custodian-add", id=officer.id))
    catalog.put_custodian(Custodian(id="a.lopez", registered_at=T0), event("custodian-add", id="a.lopez"))
    moved = replace(officer, supervisor="chief@cbp.dhs.gov", timezone="America/New_York")

    catalog.put_custodian(moved, event("custodian-update", id=officer.id))

    assert catalog.get_custodian("j.rivera") == moved
    assert catalog.get_custodian("nobody") is None
    assert [c.id for c in catalog.custodians()] == ["a.lopez", "j.rivera"]
    assert len(list(catalog.audit_entries())) == 3


def test_a_notice_is_recorded_once(catalog: Catalog) -> None:
    first = NoticeRow("late:1", "late", CUSTODIAN, ("jorge@agency.gov",), "2 records past the deadline",
                      T0 + timedelta(hours=2), "<m1@agency.gov>")
    second = NoticeRow("remind:1", "reminder", CUSTODIAN, ("jorge@agency.gov", "chief@agency.gov"), "Sync due",
                       T0, None)
    catalog.record_notice([first], event("notice", keys=[first.key]))

    catalog.record_notice([replace(first, subject="again", sent_at=T0 + timedelta(days=1)), second],
                          event("notice", keys=[first.key, second.key]))

    assert list(catalog.notices()) == [second, first]
    assert catalog.sent_notices(["late:1", "remind:1", "late:2"]) == {"late:1", "remind:1"}
    assert catalog.sent_notices([]) == set()


def test_notices_sent_within_one_second_are_listed_in_time_order(catalog: Catalog) -> None:
    start = T0.replace(microsecond=0)
    sent = [NoticeRow(f"late:{n}", "late", CUSTODIAN, ("jorge@agency.gov",), "late", start + timedelta(microseconds=us),
                      None) for n, us in enumerate((500_000, 0, 1))]
    catalog.record_notice(sent, event("notice", keys=[n.key for n in sent]))
    assert [n.key for n in catalog.notices()] == ["late:1", "late:2", "late:0"]


def test_the_same_bad_item_of_the_same_export_is_quarantined_once(catalog: Catalog) -> None:
    bad = QuarantineRow("a" * 64, "file:abc", 12, "unreadable line", "quarantine/xyz", T0)
    whole = QuarantineRow("a" * 64, "file:abc", None, "export cut short", "quarantine/xyz", T0)
    catalog.add_quarantine([bad, whole], event("quarantine", items=2))

    catalog.add_quarantine([replace(bad, at=T0 + timedelta(days=1)), replace(whole, line=0),
                            replace(bad, export_sha256="b" * 64)], None)

    assert list(catalog.quarantine()) == [bad, whole, replace(bad, export_sha256="b" * 64)]
    assert [e.event.action for e in catalog.audit_entries()] == ["quarantine"]


def test_last_sync_is_the_latest_personal_export_per_custodian_and_app(catalog: Catalog) -> None:
    def export(custodian: str, connector: str, account: str, at: datetime) -> None:
        catalog.add_export(ExportRow("s" * 64, "file:x", connector, custodian, account, at, "officer"),
                           event("ingest", custodian=custodian))

    export("a", "whatsapp", "personal", T0 + timedelta(days=2))
    export("a", "whatsapp", "personal", T0)                        # an older export ingested later
    export("a", "signal", "personal", T0 + timedelta(days=1))
    export("a", "", "personal", T0 + timedelta(days=5))            # refused file: no app known
    export("a", "email", "official", T0 + timedelta(days=9))       # official accounts do not count
    export("b", "sms", "personal", T0)

    assert catalog.last_sync() == {"a": T0 + timedelta(days=5), "b": T0}
    assert catalog.last_sync_by_account() == {("a", "whatsapp"): T0 + timedelta(days=2),
                                              ("a", "signal"): T0 + timedelta(days=1), ("b", "sms"): T0}


def test_syncs_are_recorded_per_app_whatever_the_connector(catalog: Catalog) -> None:
    def export(connector: str, at: datetime, apps: tuple[str, ...] | None = None) -> None:
        catalog.add_export(ExportRow("s" * 64, "file:x", connector, "a", "personal", at, "officer", apps),
                           event("ingest", custodian="a"))

    export("sms-backup", T0)
    export("android-sms", T0 + timedelta(days=1))
    export("mbox", T0 + timedelta(days=2))
    export("outlook-msg", T0 + timedelta(days=3))
    export("jsonl", T0 + timedelta(days=4), ("whatsapp",))   # the source of its messages
    export("jsonl", T0 + timedelta(days=5), ())              # no known app: no account synced
    export("jsonl", T0 + timedelta(days=6))

    assert catalog.last_sync_by_account() == {("a", "sms"): T0 + timedelta(days=1),
                                              ("a", "email"): T0 + timedelta(days=3),
                                              ("a", "whatsapp"): T0 + timedelta(days=4)}


def _write_legacy_syncs(backend: Backend, catalog: Catalog, connectors: dict[str, datetime]) -> None:
    """Sync rows as catalogs written before apps were recorded hold them: by connector name."""
    if backend.name == "sqlite":
        for connector, at in connectors.items():
            catalog.add_export(ExportRow("s" * 64, "file:x", connector, "a", "personal", at, "officer"),
                               event("ingest"))
        catalog._db.execute("UPDATE exports SET apps = NULL")  # type: ignore[attr-defined]
        return
    client = boto3.client("dynamodb")
    for connector, at in connectors.items():
        key = dynamodb_module._key((dynamodb_module.SYNC_APP, json.dumps(["a", connector])))
        client.put_item(TableName=TABLE, Item={**key, "type": {"S": "sync"}, "at": {"S": utc_iso(at)},
                                               "custodian": {"S": "a"}, "connector": {"S": connector}})


def test_sync_rows_written_by_connector_name_are_read_as_apps(backend: Backend, catalog: Catalog) -> None:
    _write_legacy_syncs(backend, catalog, {"sms-backup": T0 + timedelta(days=2), "android-sms": T0,
                                           "jsonl": T0 + timedelta(days=9), "whatsapp": T0})
    catalog.add_export(ExportRow("s" * 64, "file:y", "sms-backup", "a", "personal", T0 + timedelta(days=1),
                                 "officer", ("sms",)), event("ingest"))

    assert catalog.last_sync_by_account() == {("a", "sms"): T0 + timedelta(days=2), ("a", "whatsapp"): T0}


def test_documents_are_kept_per_kind_replaced_by_name_and_audited(catalog: Catalog) -> None:
    grant = {"actor": "alice", "roles": ["officer"], "custodians": ["alice"]}
    catalog.put_document("grant", "alice", grant, AuditEvent("admin", "role-grant", T0, {"actor": "alice"}))
    catalog.put_document("case", "OIG-7", {"id": "OIG-7"}, AuditEvent("bob", "case-open", T0, case_id="OIG-7"))
    catalog.put_document("grant", "alice", {**grant, "roles": []}, AuditEvent("admin", "role-revoke", T0))
    assert catalog.documents("grant") == {"alice": {**grant, "roles": []}}
    assert catalog.documents("case") == {"OIG-7": {"id": "OIG-7"}}
    assert catalog.documents("other") == {}
    actions = [entry.event.action for entry in catalog.audit_entries()]
    assert actions == ["role-grant", "case-open", "role-revoke"]
    assert verify_chain(catalog.audit_entries()) == []


def test_holds_round_trip_and_release_replaces(catalog: Catalog) -> None:
    case = HoldRow("CASE-2026-7", "OIG inquiry", CUSTODIAN, date(2026, 1, 1), None, T0, "records.officer")
    everyone = HoldRow("A-LIT-1", "litigation", None, None, date(2026, 12, 31), T0, "counsel")
    catalog.put_hold(case, event("hold-place", hold=case.name))
    catalog.put_hold(everyone, event("hold-place", hold=everyone.name))
    released = replace(case, released_at=T0 + timedelta(days=30), released_by="counsel", release_reason="closed")

    catalog.put_hold(released, event("hold-release", hold=case.name))

    assert catalog.holds() == [everyone, released]
    assert [e.event.action for e in catalog.audit_entries()] == ["hold-place", "hold-place", "hold-release"]


def test_intents_survive_until_their_act_completes_it(backend: Backend, catalog: Catalog) -> None:
    catalog.commit([segment_batch("seg/2026-01-01/d", [make_row(1)])])
    case = HoldRow("CASE-2026-8", "OIG inquiry", CUSTODIAN, None, None, T0, "records.officer")
    catalog.begin_intent("dispose/seg/2026-01-01/d", {"segment": "seg/2026-01-01/d", "records": [make_row(1).id]})
    catalog.begin_intent("hold-place/CASE-2026-8", {"hold": "CASE-2026-8"})
    catalog.begin_intent("hold-place/CASE-2026-9", {"hold": "CASE-2026-9"})
    other = backend.open()
    try:
        assert other.intents() == {"dispose/seg/2026-01-01/d": {"segment": "seg/2026-01-01/d",
                                                                "records": [make_row(1).id]},
                                   "hold-place/CASE-2026-8": {"hold": "CASE-2026-8"},
                                   "hold-place/CASE-2026-9": {"hold": "CASE-2026-9"}}
    finally:
        other.close()

    catalog.mark_disposed("seg/2026-01-01/d", T0, event("dispose"), intent="dispose/seg/2026-01-01/d")
    catalog.put_hold(case, event("hold-place", hold=case.name), intent="hold-place/CASE-2026-8")
    catalog.drop_intent("hold-place/CASE-2026-9")

    assert catalog.intents() == {}
    assert [s.disposed_at for s in catalog.segments()] == [T0] and catalog.holds() == [case]
    assert [e.event.action for e in catalog.audit_entries()][-2:] == ["dispose", "hold-place"]


def test_bind_key_refuses_a_second_key(backend: Backend, catalog: Catalog) -> None:
    assert catalog.bound_key() is None
    catalog.bind_key("key-1")
    catalog.bind_key("key-1")

    with pytest.raises(KeyProviderError, match="key-1"):
        catalog.bind_key("key-2")
    other = backend.open()
    try:
        assert other.bound_key() == "key-1"
        with pytest.raises(KeyProviderError):
            other.bind_key("key-2")
    finally:
        other.close()


def test_the_first_id_scheme_recorded_stays(backend: Backend, catalog: Catalog) -> None:
    assert catalog.id_scheme() is None
    catalog.bind_key("key-1")
    assert catalog.id_scheme() is None  # apart from the key
    catalog.set_id_scheme("v1+v2")
    catalog.set_id_scheme("v2")
    other = backend.open()
    try:
        assert other.id_scheme() == catalog.id_scheme() == "v1+v2"
        assert other.bound_key() == "key-1"
    finally:
        other.close()


# -- audit chain ---------------------------------------------------------------------------------


def test_every_write_with_an_event_extends_one_verified_chain(catalog: Catalog) -> None:
    first = catalog.append_audit(event("search", terms=2))
    catalog.commit([segment_batch("seg/2033-12-31/a", [make_row(1)]), CommitBatch([], audit=event("review-decide"))])
    catalog.add_quarantine([QuarantineRow("a" * 64, "f", 1, "bad", None, T0)], event("quarantine"))
    catalog.add_export(ExportRow("s" * 64, "f", "whatsapp", CUSTODIAN, "personal", T0, "me"), event("ingest"))
    catalog.put_hold(HoldRow("H", "why", None, None, None, T0, "me"), event("hold-place"))
    catalog.put_custodian(Custodian(id="c"), event("custodian-add"))
    catalog.record_notice([NoticeRow("k", "late", "c", (), "s", T0, None)], event("notice"))
    catalog.mark_disposed("seg/2033-12-31/a", T0, event("dispose"))
    last = catalog.append_audit(AuditEvent("investigator", "export", T0, {"case": "C-1"}, case_id="C-1"))

    entries = list(catalog.audit_entries())

    assert verify_chain(entries) == []
    assert [e.seq for e in entries] == list(range(1, 11))
    assert [e.event.action for e in entries] == ["search", "store-segment", "review-decide", "quarantine", "ingest",
                                                 "hold-place", "custodian-add", "notice", "dispose", "export"]
    assert entries[0] == first and entries[-1] == last and last.event.case_id == "C-1"


def test_the_chain_stays_linear_with_concurrent_writers(backend: Backend) -> None:
    writers, each = 4, 8
    failures: list[BaseException] = []

    def write(number: int) -> None:
        catalog = backend.open()
        try:
            for n in range(each):
                catalog.append_audit(event("search", writer=number, n=n))
        except BaseException as exc:  # noqa: B036 - reported to the test thread below
            failures.append(exc)
        finally:
            catalog.close()

    backend.open().close()  # SQLite creates its schema once, before the race
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    reader = backend.open()
    entries = list(reader.audit_entries())
    reader.close()
    assert verify_chain(entries) == []
    assert [e.seq for e in entries] == list(range(1, writers * each + 1))
    assert sorted((e.event.detail["writer"], e.event.detail["n"]) for e in entries) == \
        [(w, n) for w in range(writers) for n in range(each)]


# -- writer lock ---------------------------------------------------------------------------------


def test_a_second_writer_waits_then_is_refused(backend: Backend, catalog: Catalog,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend.module, "LOCK_WAIT_SECONDS", 0.6)
    second = backend.open()
    try:
        with catalog.exclusive():
            started = datetime.now()
            with pytest.raises(CatalogError, match="another archiver process holds the archive"):
                with second.exclusive():
                    pytest.fail("two writers at once")
            assert (datetime.now() - started).total_seconds() >= 0.5
        with second.exclusive():
            pass
    finally:
        second.close()


def test_the_writer_lock_is_released_when_the_work_fails(backend: Backend, catalog: Catalog,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend.module, "LOCK_WAIT_SECONDS", 0.3)
    with pytest.raises(RuntimeError), catalog.exclusive():
        raise RuntimeError("ingest failed")
    second = backend.open()
    try:
        with second.exclusive():
            pass
    finally:
        second.close()


def test_copy_references_are_kept_and_backfilled(backend: Backend) -> None:
    catalog = backend.open()
    rows = [make_row(1, sender_ref="s1", copy_key="k1"), make_row(2)]
    catalog.commit([segment_batch("seg/2033-12-31/c", rows)])
    assert (catalog.row(rows[1].id).sender_ref, catalog.row(rows[1].id).copy_key) == (None, None)  # type: ignore[union-attr]
    catalog.set_copy_refs([(rows[1].id, "s2", "k2"), (f"{99:032x}", "s9", "k9")])  # an unknown id is skipped
    catalog.close()
    again = backend.open()
    found = {row.id: (row.sender_ref, row.copy_key) for row in again.rows()}
    assert found == {rows[0].id: ("s1", "k1"), rows[1].id: ("s2", "k2")}
    again.close()


def test_segments_sent_between_are_those_with_a_row_in_the_span(catalog: Catalog) -> None:
    day = timedelta(days=1)
    rows = [make_row(n, custodian="a" if n % 3 else "b", minutes=n * 24 * 60 // 2) for n in range(12)]  # 12 h apart
    catalog.commit([segment_batch(f"seg/2033-12-31/{n}", rows[n:n + 3], custodian="a") for n in range(0, 12, 3)]
                   + [CommitBatch([make_row(99, label="nonrecord", minutes=0)])])  # a tombstone: no segment
    first = rows[0].sent_at

    def expected(custodian: str | None, start: datetime | None, end: datetime | None) -> set[str]:
        return {r.segment for r in catalog.rows() if r.segment and custodian in (None, r.custodian)
                and (start is None or r.sent_at >= start) and (end is None or r.sent_at < end)}

    for custodian in (None, "a", "b", "nobody"):
        for start, end in ((None, None), (first + day, None), (None, first + 2 * day), (first + day, first + 3 * day),
                           (first + 1.5 * day, first + 1.5 * day), (first + 30 * day, None)):
            found = catalog.segments_sent_between(custodian, start, end)
            assert found == expected(custodian, start, end), (custodian, start, end)
    assert catalog.segments_sent_between(None, None, None) == {f"seg/2033-12-31/{n}" for n in range(0, 12, 3)}


def test_copy_rows_are_the_rows_as_the_gaps_report_reads_them(catalog: Catalog) -> None:
    # Two custodians, a received copy, a deleted notice, a system line, a review item, a nonrecord
    # tombstone-free row without references, and two rows sent in the same instant.
    rows = [make_row(1, sender_ref="s1", copy_key="k1"),
            make_row(2, custodian="b", direction="received", sender_ref="s2", copy_key="k2", source="signal"),
            make_row(3, flags=("deleted",), sender_ref="s3", copy_key="k3"),
            make_row(4, system=True, minutes=1), make_row(5, label="review", disposition_date=date(2026, 4, 1)),
            make_row(6, label="nonrecord", minutes=1)]
    catalog.commit([segment_batch("seg/2033-12-31/c", rows[:4]), CommitBatch(rows[4:])])
    copies = list(catalog.copy_rows())
    assert copies == [CopyRow.of(row) for row in catalog.rows()] and len(copies) == 6
    assert [c.deleted for c in copies if c.id == rows[2].id] == [True]
    assert {(c.custodian, c.direction, c.sender_ref, c.copy_key) for c in copies if c.custodian == "b"} == \
        {("b", "received", "s2", "k2")}
