"""Records waiting on an event can be destroyed once the event comes, and not before.

A segment filed under an item cut off by an event (here GRS 5.2 item 020, destroyed when
superseded) is written with no retention lock but under the store's legal hold. Recording the
event sets the store's retention to the new date, then lifts that legal hold unless an active
hold still covers the segment; from then on the plan lists it and approve/execute destroy it.
Each step is checked on the local store and on S3 (moto), with ``verify`` clean throughout.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from contextlib import closing, nullcontext
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archiver.config import load_settings
from archiver.core import retention
from archiver.core.events import Event
from archiver.core.retention import EventKind, load_schedules
from archiver.errors import RetentionError
from archiver.services.actors import ACTOR_VARIABLE, login_name
from archiver.services.disposal_plan import approve, execute, make_plan
from archiver.services.disposition import place_hold, release_hold, writing
from archiver.services.events import new_event_name, record_event
from archiver.services.review import decide, list_reviews
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from archiver.storage.catalog import HoldRow
from archiver.storage.store.local import LocalDirStore
from archiver.storage.store.s3 import S3Store
from tests.conftest import CliRunner, grant_staff
from tests.test_review import queued  # noqa: F401 (the fixture)
from tests.test_store_contract import MOTO_BUCKET, moto_bucket

ITEM = "GRS-5.2-020"  # intermediary records: destroyed 0 days after they are superseded
NOW = datetime.now(timezone.utc)
SUPERSEDED = NOW.date() - timedelta(days=30)
PHOTO = b"\xff\xd8 photo of the draft manifest"
OFFICER = "records-officer"


def _export(folder: Path) -> Path:
    """Two records of March 2026, one with a photo."""
    path = folder / "WhatsApp Chat - Drafts.zip"
    lines = ["3/1/26, 9:00 AM - Sgt. Lee: IMG-0001.jpg (file attached)", "Approved, release truck 7 after inspection",
             "3/1/26, 9:05 AM - Sgt. Lee: Approved, release truck 8 to secondary inspection"]
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("_chat.txt", "\n".join(lines) + "\n")
        bundle.writestr("IMG-0001.jpg", PHOTO)
    return path


@pytest.fixture(params=["local", "moto"])
def archive(request: pytest.FixtureRequest, cli: CliRunner, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Archive]:
    """An archive (local store or S3 Object Lock on moto) holding records that wait on 'superseded'."""
    # The agency files these officials' drafts under the intermediary records item.
    monkeypatch.setitem(retention.ROLE_SCHEDULE, "official", ITEM)
    with moto_bucket(monkeypatch, tmp_path) if request.param == "moto" else nullcontext():
        if request.param == "moto":
            monkeypatch.setenv("ARCHIVER_STORE", f"s3://{MOTO_BUCKET}/archive?lock=COMPLIANCE")
            monkeypatch.setenv(ACTOR_VARIABLE, login_name())  # the first admin, as on the local store
        assert cli("init").code == 0
        grant_staff(tmp_path)
        with (tmp_path / "archiver.yaml").open("a", encoding="utf-8") as config:
            config.write("default_role: official\n")
        result = cli("ingest", _export(tmp_path), "--custodian", "Jorge Rivera", "--tz", "UTC",
                     "--date-order", "mdy")
        assert result.code == 0, result.err
        opened = Archive.open(load_settings(cwd=tmp_path))
        try:
            yield opened
        finally:
            opened.close()


class _Killed(BaseException):
    """The process dying (not an error the command could report)."""


def _waiting(archive: Archive) -> tuple[str, str]:
    """The segment waiting on the event, and its photo."""
    (segment,) = [s.name for s in archive.catalog.segments() if s.schedule == ITEM]
    (photo,) = list(archive.store.list("att/"))
    return segment, photo


def _superseded(archive: Archive) -> int:
    event = Event(name=new_event_name("superseded", NOW), kind=EventKind.SUPERSEDED, day=SUPERSEDED,
                  recorded_by=OFFICER, recorded_at=NOW, schedules=(ITEM,))
    return record_event(archive, event, "final manifest filed").records


def _plan(archive: Archive) -> dict[str, Any]:
    return make_plan(archive, NOW.date(), OFFICER, NOW)


def _reasons(plan: dict[str, Any]) -> dict[str, str]:
    return {kept["segment"]: kept["reason"] for kept in plan["kept"]}


def _refuses_delete(archive: Archive, *keys: str) -> None:
    """Neither the store nor, on S3, Object Lock itself lets the objects be deleted."""
    for key in keys:
        with pytest.raises(RetentionError):
            archive.store.delete(key, date(2099, 12, 31))  # no date would ever make them deletable
        if isinstance(archive.store, S3Store):
            name = archive.store._name(key)
            (version,) = archive.store.client.list_object_versions(Bucket=MOTO_BUCKET, Prefix=name)["Versions"]
            with pytest.raises(ClientError, match="AccessDenied"):
                archive.store.client.delete_object(Bucket=MOTO_BUCKET, Key=name, VersionId=version["VersionId"])


def test_waiting_records_are_destroyed_after_the_event_on_approval(archive: Archive) -> None:
    segment, photo = _waiting(archive)
    plan = _plan(archive)
    assert plan["eligible"] == [] and _reasons(plan) == {segment: "waiting on the event superseded"}
    _refuses_delete(archive, segment, photo)
    assert verify(archive, deep=True).problems == []

    assert _superseded(archive) == 2
    for key in (segment, photo):  # stored unlocked (as of the day written), now kept to the event's date
        kept = archive.store.retention(key)
        assert kept.retain_until == max(SUPERSEDED, NOW.date()) and not kept.legal_hold
    assert verify(archive, deep=True).problems == []
    plan = _plan(archive)
    assert [(e["segment"], e["retain_until"], e["count"]) for e in plan["eligible"]] == [
        (segment, SUPERSEDED.isoformat(), 2)]
    approve(archive, plan, OFFICER, "drafts superseded by the filed manifest", NOW)
    certificate = execute(archive, plan, OFFICER, NOW)
    assert len(certificate["records"]) == 2 and certificate["refused"] == {}
    assert not archive.store.exists(segment) and not archive.store.exists(photo)
    assert verify(archive).problems == []


def test_an_active_hold_keeps_them_after_the_event(archive: Archive) -> None:
    segment, photo = _waiting(archive)
    place_hold(archive, HoldRow("OIG-7", "inquiry", "Jorge Rivera", None, None, NOW, OFFICER))
    _superseded(archive)
    assert all(archive.store.retention(key).legal_hold for key in (segment, photo))
    _refuses_delete(archive, segment, photo)
    plan = _plan(archive)
    assert plan["eligible"] == [] and _reasons(plan) == {segment: "under legal hold OIG-7"}
    assert verify(archive).problems == []
    release_hold(archive, "OIG-7", OFFICER, "inquiry closed", NOW)
    assert not any(archive.store.retention(key).legal_hold for key in (segment, photo))
    assert [e["segment"] for e in _plan(archive)["eligible"]] == [segment]


def test_releasing_a_hold_before_the_event_leaves_them_held(archive: Archive) -> None:
    segment, photo = _waiting(archive)
    place_hold(archive, HoldRow("OIG-8", "inquiry", "Jorge Rivera", None, None, NOW, OFFICER))
    release_hold(archive, "OIG-8", OFFICER, "inquiry closed", NOW)
    assert all(archive.store.retention(key).legal_hold for key in (segment, photo))
    _refuses_delete(archive, segment, photo)
    assert _reasons(_plan(archive)) == {segment: "waiting on the event superseded"}
    assert verify(archive).problems == []


def test_verify_names_a_waiting_segment_whose_legal_hold_was_lifted(archive: Archive) -> None:
    segment, photo = _waiting(archive)
    archive.store.set_legal_hold(photo, False)  # by hand, behind the archive's back
    problems = verify(archive).problems
    assert problems == [f"object {photo} (segment {segment}): it waits on its cutoff event, but the store "
                        "neither holds it nor locks it, so it could be deleted"]


def test_a_kill_between_the_retention_and_the_hold_lift_is_finished_by_the_next_writer(
        archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    segment, photo = _waiting(archive)

    def killed(*_args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(type(archive.store), "set_legal_hold", killed)
    with pytest.raises(KeyboardInterrupt):
        _superseded(archive)
    monkeypatch.undo()
    assert archive.catalog.intents() and {s.retain_until for s in archive.catalog.segments()} == {SUPERSEDED}
    assert archive.store.retention(segment).legal_hold  # still kept: nothing can delete it half done
    with writing(archive, NOW):
        pass
    assert not archive.catalog.intents()
    assert not any(archive.store.retention(key).legal_hold for key in (segment, photo))
    assert [e["segment"] for e in _plan(archive)["eligible"]] == [segment]
    assert verify(archive, deep=True).problems == []


def test_a_segment_locked_indefinitely_by_an_earlier_version_is_kept_with_the_reason(
        archive: Archive, tmp_path: Path) -> None:
    if not isinstance(archive.store, LocalDirStore):
        pytest.skip("the earlier version's indefinite lock is rewritten by hand on the local store only")
    segment, photo = _waiting(archive)
    for key in (segment, photo):  # as versions before event cutoffs wrote them
        lock = tmp_path / "archive" / "objects" / f"{key}.lock"
        lock.write_text(json.dumps({"retain_until": None, "legal_hold": False}))
    assert verify(archive).problems == []  # an indefinite lock keeps them until the event too
    _superseded(archive)
    plan = _plan(archive)
    assert plan["eligible"] == []
    assert _reasons(plan)[segment].startswith("locked indefinitely by an earlier version; "
                                              f"due {SUPERSEDED.isoformat()}")
    assert archive.store.retention(segment).retain_until is None
    assert verify(archive).problems == []


def test_a_waiting_segment_adopted_after_a_killed_ingest_stays_waiting(
        archive: Archive, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = _waiting(archive)
    export = tmp_path / "WhatsApp Chat - Drafts 2.txt"
    export.write_text("3/2/26, 9:00 AM - Sgt. Lee: Approved, release truck 9 after inspection\n", encoding="utf-8")
    catalog = type(archive.catalog)
    real_add = catalog.add

    def killed(self: Any, batches: Any) -> None:
        if any(batch.segment is not None for batch in batches):
            raise _Killed  # the segment is in the store, its catalog rows are not
        real_add(self, batches)

    monkeypatch.setattr(catalog, "add", killed)
    with pytest.raises(_Killed):
        cli("ingest", export, "--custodian", "Jorge Rivera", "--tz", "UTC", "--date-order", "mdy")
    monkeypatch.undo()
    with writing(archive, NOW):  # the next writer adopts it from its frames
        pass
    (adopted,) = [s for s in archive.catalog.segments() if s.name != first]
    assert adopted.retain_until is None and archive.store.retention(adopted.name).legal_hold
    assert _reasons(_plan(archive)) == {name: "waiting on the event superseded" for name in (first, adopted.name)}
    assert verify(archive).problems == []


def test_a_review_item_decided_a_record_under_an_event_item_waits_under_legal_hold(
        queued: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setitem(retention.ROLE_SCHEDULE, "official", ITEM)
    with (queued / "archiver.yaml").open("a", encoding="utf-8") as config:
        config.write("default_role: official\n")
    with closing(Archive.open(load_settings(cwd=queued))) as archive:
        (item,) = list_reviews(archive)
        decide(archive, item.id, "record", "official business", OFFICER, NOW, load_schedules())
        (segment,) = [s for s in archive.catalog.segments() if s.schedule == ITEM]
        assert segment.retain_until is None and archive.store.retention(segment.name).legal_hold
        _refuses_delete(archive, segment.name)
        assert verify(archive).problems == []
