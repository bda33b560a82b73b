"""Nothing is destroyed before its date or under a hold, by any path: the CLI (plan, approve,
execute, a hand-edited plan), direct service calls (a forged plan, ``destroy_due`` handed the
segment, ``dispose_due``), the disposition Lambda handler, and the store's own delete (the local
store refuses; S3 Object Lock refuses, on moto and, in the ``rgw`` tier, on a real Ceph RGW).

Two records: Jorge's (GRS 6.1 item 011, due 2033-03-01) is not yet due; Ana's (item 012, due
2026-01-10) is due but under the legal hold OIG-1. After every attempt both still read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import closing
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from archiver.config import load_settings
from archiver.connector import ConnectorRegistry
from archiver.core.classify import Classifier, load_rules
from archiver.core.custodians import Custodian
from archiver.core.retention import load_schedules
from archiver.errors import RetentionError, UsageError
from archiver.model import canonical_json
from archiver.services.actors import login_name
from archiver.services.compliance import register_custodian
from archiver.services.disposal_plan import approve, execute, make_plan, plan_state
from archiver.services.disposition import destroy_due, dispose_due, place_hold
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.storage.archive import Archive
from archiver.storage.catalog import HoldRow
from connectors.jsonl import JsonlConnector
from tests.conftest import CliRunner, grant_staff
from tests.test_store_contract import MOTO_BUCKET, RGW_KMS_KEY, moto_bucket, rgw_bucket

OFFICER = "records-officer"
INGESTED = datetime(2026, 3, 2, 12, tzinfo=timezone.utc)
NOW = datetime(2027, 1, 1, 12, tzinfo=timezone.utc)  # Ana's record is due, Jorge's is not
FAR = datetime(2040, 1, 1, 12, tzinfo=timezone.utc)  # a clock that lies: both would be due
LINE = {"source": "signal", "conversation": "Port ops", "sender": "Sgt. Lee", "recipients": ["Sgt. Lee"],
        "direction": "received", "account": "personal", "attachments": [],
        "body": "Release truck 44, approved by the chief"}
RECORDS = {"jorge": ("official", "2026-03-01T09:00:00Z", date(2033, 3, 1)),
           "ana": ("support", "2023-01-10T09:00:00Z", date(2026, 1, 10))}


def _build(folder: Path, cli: CliRunner, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The archive of the two records and the hold; each custodian's segment name."""
    monkeypatch.setenv("ARCHIVER_ACTOR", login_name())  # on S3 the actor would be the AWS caller
    assert cli("init", cwd=folder).code == 0
    monkeypatch.delenv("ARCHIVER_ACTOR")
    grant_staff(folder)
    settings = load_settings(cwd=folder)
    for custodian, (role, sent_at, _) in RECORDS.items():
        export = folder / f"{custodian}.jsonl"
        export.write_text(json.dumps({**LINE, "sent_at": sent_at}) + "\n", encoding="utf-8")
        with closing(Archive.open(settings)) as archive:
            register_custodian(archive, Custodian(custodian, name=custodian.title(), role=role), OFFICER, INGESTED)
            Ingestor(archive, ConnectorRegistry([JsonlConnector()]), Classifier(load_rules()), load_schedules(),
                     IngestOptions(custodian=custodian, tz="UTC", actor="test"), INGESTED).run([export])
    with closing(Archive.open(settings)) as archive:
        place_hold(archive, HoldRow("OIG-1", "subpoena", "ana", None, None, INGESTED, OFFICER))
        segments = {s.custodian: s for s in archive.catalog.segments()}
    assert {c: s.retain_until for c, s in segments.items()} == {c: r[2] for c, r in RECORDS.items()}
    return {c: s.name for c, s in segments.items()}


def _intact(folder: Path, names: dict[str, str]) -> None:
    """Both segments are still in the store, still read, and the catalog has destroyed neither."""
    with closing(Archive.open(load_settings(cwd=folder))) as archive:
        assert all(s.disposed_at is None for s in archive.catalog.segments())
        assert all(archive.store.get(name) for name in names.values())
        assert not [e for e in archive.catalog.audit_entries() if e.event.action == "dispose"]


def _forged(archive: Archive, as_of: date, segments: list[str]) -> dict[str, Any]:
    """A plan hand-edited to list ``segments``, its state and digest recomputed to match."""
    plan = make_plan(archive, as_of, OFFICER, NOW)
    rows = {s.name: s for s in archive.catalog.segments()}
    plan["eligible"] = [{"segment": name, "custodian": rows[name].custodian, "schedule": rows[name].schedule,
                         "title": "", "authority": "", "cutoff": "", "retention": "",
                         "retain_until": str(rows[name].retain_until), "count": 1, "records": []}
                        for name in segments]
    plan["state"] = plan_state(archive, segments)
    body = {k: v for k, v in plan.items() if k != "digest"}
    return {**body, "digest": hashlib.sha256(canonical_json(body)).hexdigest()}


@pytest.fixture
def local(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return _build(tmp_path, cli, monkeypatch)


def test_the_cli_destroys_nothing_early_or_held(cli: CliRunner, local: dict[str, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.cli import common
    monkeypatch.setattr(common, "now", lambda: NOW)
    monkeypatch.setenv("ARCHIVER_ACTOR", OFFICER)
    today, future, edited = tmp_path / "today.json", tmp_path / "future.json", tmp_path / "edited.json"
    assert cli("dispose", "plan", "--out", today).code == 0
    assert json.loads(today.read_text())["eligible"] == []  # one not due, one held
    assert cli("dispose", "approve", today, "--reason", "reviewed").code == 0
    empty = cli("dispose", "execute", today)
    assert empty.code == 2 and "destroys nothing; no certificate filed" in empty.err
    assert cli("dispose", "plan", "--as-of", "2034-01-01", "--out", future).code == 0
    assert [e["segment"] for e in json.loads(future.read_text())["eligible"]] == [local["jorge"]]
    assert cli("dispose", "approve", future, "--reason", "reviewed").code == 0
    early = cli("dispose", "execute", future)
    assert early.code == 2 and f"not due on {NOW.date()}" in early.err
    plan = json.loads(today.read_text())
    plan["eligible"] = json.loads(future.read_text())["eligible"]
    edited.write_text(json.dumps(plan))
    assert cli("dispose", "approve", edited, "--reason", "x").code == 2
    changed = cli("dispose", "execute", edited)
    assert changed.code == 2 and "changed after it was made" in changed.err
    with closing(Archive.open(load_settings(cwd=tmp_path))) as archive:
        for names, code, says in (([local["jorge"]], 2, "not due"), ([local["ana"]], 2, "under legal hold OIG-1")):
            edited.write_text(json.dumps(_forged(archive, NOW.date(), names)))
            assert cli("dispose", "approve", edited, "--reason", "forged").code == 0
            done = cli("dispose", "execute", edited, "--json")
            assert done.code == code and says in done.out + done.err  # nothing destroyed, nothing certified
    _intact(tmp_path, local)


def test_direct_service_calls_destroy_nothing_early_or_held(local: dict[str, str], tmp_path: Path) -> None:
    with closing(Archive.open(load_settings(cwd=tmp_path))) as archive:
        for names in ([local["jorge"]], [local["ana"]]):
            plan = _forged(archive, NOW.date(), names)
            approve(archive, plan, OFFICER, "forged", NOW)
            if names == [local["jorge"]]:
                with pytest.raises(UsageError, match="not due"):
                    execute(archive, plan, OFFICER, NOW)
            else:
                with pytest.raises(UsageError, match="destroys nothing .*under legal hold OIG-1"):
                    execute(archive, plan, OFFICER, NOW)
        segments = list(archive.catalog.segments())
        result = destroy_due(archive, NOW, OFFICER, load_schedules(), segments)  # dates unchecked by the caller
        assert result.disposed == [] and set(result.refused) == {local["jorge"]}
        assert set(result.held) == {local["ana"]}
        assert dispose_due(archive, NOW, OFFICER).disposed == []
    _intact(tmp_path, local)


@pytest.mark.real_store_clock
def test_a_caller_with_a_clock_from_the_future_destroys_nothing(local: dict[str, str], tmp_path: Path) -> None:
    """The local store goes by this machine's clock, as S3 Object Lock goes by its own: a day passed
    from the future (a wrong clock, or a forged call) destroys nothing early."""
    with closing(Archive.open(load_settings(cwd=tmp_path))) as archive:
        late = dispose_due(archive, FAR, OFFICER)
        assert late.disposed == [] and set(late.refused) == {local["jorge"]} and set(late.held) == {local["ana"]}
        with pytest.raises(RetentionError, match="retained until 2033-03-01"):
            archive.store.delete(local["jorge"], FAR.date())
    _intact(tmp_path, local)


def test_the_hold_outlasts_any_date(local: dict[str, str], tmp_path: Path) -> None:
    with closing(Archive.open(load_settings(cwd=tmp_path))) as archive:
        late = dispose_due(archive, FAR, OFFICER)  # the store's clock moved with the test's
        assert [s.name for s in late.disposed] == [local["jorge"]] and set(late.held) == {local["ana"]}
        assert archive.store.get(local["ana"])


def test_the_local_store_refuses_early_and_held_deletes(local: dict[str, str], tmp_path: Path) -> None:
    with closing(Archive.open(load_settings(cwd=tmp_path))) as archive:
        with pytest.raises(RetentionError, match="retained until 2033-03-01"):
            archive.store.delete(local["jorge"], NOW.date())
        with pytest.raises(RetentionError, match="under legal hold"):
            archive.store.delete(local["ana"], FAR.date())
    _intact(tmp_path, local)


def _s3_attempts(folder: Path, names: dict[str, str], client: Any, bucket: str) -> None:
    """The service and the store on S3: each refused, by S3 itself when the store's date is wrong."""
    with closing(Archive.open(load_settings(cwd=folder))) as archive:
        result = destroy_due(archive, FAR, OFFICER, load_schedules(), list(archive.catalog.segments()))
        assert result.disposed == [] and set(result.refused) == {names["jorge"]}
        assert set(result.held) == {names["ana"]}
        for name in names.values():
            with pytest.raises(RetentionError):
                archive.store.delete(name, FAR.date())
        prefix = archive.store.prefix  # type: ignore[attr-defined]  # the S3 store's key prefix
    for name in names.values():  # behind the store's back: S3 Object Lock itself refuses
        key = f"{prefix}{name}"
        for version in client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []):
            with pytest.raises(ClientError):
                client.delete_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])
    _intact(folder, names)


@pytest.fixture
def moto_archive(cli: CliRunner, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, str]]]:
    """The two records in an Object Lock bucket on moto (catalog and key local); a raw S3 client."""
    with moto_bucket(monkeypatch, tmp_path) as client:
        monkeypatch.setenv("ARCHIVER_STORE", f"s3://{MOTO_BUCKET}/archive?lock=GOVERNANCE")
        yield client, _build(tmp_path, cli, monkeypatch)


def test_the_service_and_s3_object_lock_refuse_on_moto(moto_archive: tuple[Any, dict[str, str]],
                                                       tmp_path: Path) -> None:
    client, names = moto_archive
    _s3_attempts(tmp_path, names, client, MOTO_BUCKET)


def test_the_disposition_handler_only_plans(moto_archive: tuple[Any, dict[str, str]], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.handlers import disposition_handler
    _, names = moto_archive
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARCHIVER_ACTOR", OFFICER)
    for moment in (NOW, FAR):
        summary = disposition_handler({"time": moment.isoformat().replace("+00:00", "Z")}, None)
        assert summary["executed"] is False
        with closing(Archive.open(load_settings(cwd=tmp_path))) as archive:
            filed = json.loads(archive.store.get(summary["plan"]))
        assert [e["segment"] for e in filed["eligible"]] == ([] if moment == NOW else [names["jorge"]])
        assert [k["segment"] for k in filed["kept"]] == [names["ana"]]
    _intact(tmp_path, names)


@pytest.mark.rgw
def test_the_service_and_object_lock_refuse_on_ceph_rgw(cli: CliRunner, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with rgw_bucket(monkeypatch, tmp_path) as bucket:
        monkeypatch.setenv("ARCHIVER_STORE", f"s3://{bucket.name}/archive?lock=GOVERNANCE&kms={RGW_KMS_KEY}")
        names = _build(tmp_path, cli, monkeypatch)
        with closing(Archive.open(load_settings(cwd=tmp_path))) as archive:
            plan = _forged(archive, NOW.date(), [names["jorge"]])
            approve(archive, plan, OFFICER, "forged", NOW)
            with pytest.raises(UsageError, match="not due"):
                execute(archive, plan, OFFICER, NOW)
        _s3_attempts(tmp_path, names, bucket.client, bucket.name)
