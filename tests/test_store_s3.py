"""What only the S3 store does: lock, SSE-KMS and checksum headers, the far date, multipart,
parallel puts, bucket checks, writes where the service enforces If-None-Match, and error messages.

Tests taking the ``s3`` fixture run on moto in-process and, with ``ARCHIVER_TEST_RGW_ENDPOINT``
set, on a real Ceph RGW (marker ``rgw``), where S3 itself must enforce the locks.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from archiver.errors import ConfigError, ObjectExistsError, RetentionError, StoreError, UsageError
from archiver.storage.store import LocalDirStore, Retention, open_store
from archiver.storage.store import s3 as s3_module
from archiver.storage.store.s3 import PROBE_KEY, S3Store
from archiver.storage.store.s3_location import S3Location
from tests.conftest import CliRunner
from tests.test_store_contract import (
    MOTO_BUCKET,
    RGW_KMS_KEY,
    RgwBucket,
    clear_aws_env,
    fake_aws_env,
    moto_bucket,
    rgw_bucket,
)

LOCK_HEADERS = ("x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date")
MiB = 1024 * 1024


@dataclass
class S3Env:
    """A bucket with Object Lock on moto or RGW, and a raw client to look behind the store."""

    kind: str
    client: Any
    bucket: str

    def url(self, options: str = "lock=GOVERNANCE") -> str:
        if self.kind == "rgw" and "kms=" not in options:
            options += f"&kms={RGW_KMS_KEY}"  # RGW 16.2 has no default SSE-KMS key
        return f"s3://{self.bucket}/archive?{options}"

    def store(self, options: str = "lock=GOVERNANCE") -> S3Store:
        return S3Store(self.url(options))

    def versions(self, key: str) -> list[dict[str, Any]]:
        answer = self.client.list_object_versions(Bucket=self.bucket, Prefix=f"archive/{key}")
        return [v for v in answer.get("Versions", []) + answer.get("DeleteMarkers", [])
                if v["Key"] == f"archive/{key}"]

    def head(self, key: str) -> dict[str, Any]:
        head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=f"archive/{key}")
        return head


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """moto in-process with the Object Lock bucket ``MOTO_BUCKET``; a boto3 client to look with."""
    with moto_bucket(monkeypatch, tmp_path) as client:
        yield client


@pytest.fixture
def rgw(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[RgwBucket]:
    """A new Object Lock bucket on the Ceph RGW of ARCHIVER_TEST_RGW_ENDPOINT (else skip)."""
    with rgw_bucket(monkeypatch, tmp_path) as bucket:
        yield bucket


@pytest.fixture(params=["moto", pytest.param("rgw", marks=pytest.mark.rgw)])
def s3(request: pytest.FixtureRequest) -> S3Env:
    """An Object Lock bucket on moto, and on a real Ceph RGW in the rgw tier."""
    if request.param == "moto":
        return S3Env("moto", request.getfixturevalue("moto_s3"), MOTO_BUCKET)
    bucket: RgwBucket = request.getfixturevalue("rgw")
    return S3Env("rgw", bucket.client, bucket.name)


class Sent:
    """Every request a store's client sends, by operation name (a botocore event hook)."""

    def __init__(self, store: S3Store) -> None:
        self.requests: list[tuple[str, Any]] = []
        store.client.meta.events.register("before-send.s3", self._record)

    def _record(self, request: Any, event_name: str, **_: Any) -> None:
        self.requests.append((event_name.rsplit(".", 1)[-1], request))

    def headers(self, operation: str) -> list[dict[str, str]]:
        return [{k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
                for name, request in self.requests if name == operation]


def _sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _days_ahead(days: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)


# -- headers and lock dates ------------------------------------------------------------------


@pytest.mark.parametrize(("options", "mode"), [("", "COMPLIANCE"), ("lock=governance", "GOVERNANCE"),
                                               ("lock=COMPLIANCE", "COMPLIANCE")])
def test_put_sends_lock_kms_checksum_and_if_none_match(s3: S3Env, options: str, mode: str) -> None:
    store = s3.store(options)
    sent = Sent(store)
    until = _days_ahead(2)
    store.put("k", b"sealed bytes", until)
    (headers,) = sent.headers("PutObject")
    assert headers["x-amz-object-lock-mode"] == mode
    assert headers["x-amz-object-lock-retain-until-date"] == f"{until.isoformat()}T00:00:00Z"
    assert headers["x-amz-server-side-encryption"] == "aws:kms"
    assert headers["if-none-match"] == "*"
    assert headers["x-amz-meta-retain-until"] == until.isoformat()
    assert headers["x-amz-sdk-checksum-algorithm"] == "SHA256"
    # Over https botocore sends the checksum as a trailer, over plain http as a header.
    assert (headers.get("x-amz-checksum-sha256") == _sha256_b64(b"sealed bytes")
            or headers.get("x-amz-trailer") == "x-amz-checksum-sha256")
    head = s3.head("k")
    assert head["ObjectLockMode"] == mode
    assert head["ObjectLockRetainUntilDate"] == datetime(until.year, until.month, until.day, tzinfo=UTC)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert store.retention("k") == Retention(until)


def test_the_kms_key_from_the_url_is_used(s3: S3Env) -> None:
    key_id = RGW_KMS_KEY if s3.kind == "rgw" else "alias/archive"
    store = s3.store(f"lock=GOVERNANCE&kms={key_id}")
    sent = Sent(store)
    store.put("k", b"x", None)
    assert sent.headers("PutObject")[0]["x-amz-server-side-encryption-aws-kms-key-id"] == key_id
    assert s3.head("k")["SSEKMSKeyId"] == key_id


def test_without_kms_in_the_url_the_bucket_default_key_is_used(moto_s3: Any) -> None:
    store = S3Store(f"s3://{MOTO_BUCKET}/archive")
    sent = Sent(store)
    store.put("k", b"x", None)
    (headers,) = sent.headers("PutObject")
    assert headers["x-amz-server-side-encryption"] == "aws:kms"
    assert "x-amz-server-side-encryption-aws-kms-key-id" not in headers


def test_moto_stores_the_sha256_checksum(moto_s3: Any) -> None:
    S3Store(f"s3://{MOTO_BUCKET}/archive").put("k", b"sealed bytes", None)
    answer = moto_s3.get_object(Bucket=MOTO_BUCKET, Key="archive/k", ChecksumMode="ENABLED")
    assert answer["ChecksumSHA256"] == _sha256_b64(b"sealed bytes")


def test_indefinitely_is_a_lock_until_2100_read_back_as_none(s3: S3Env) -> None:
    store = s3.store()
    sent = Sent(store)
    store.put("forever", b"x", None)
    store.put("far", b"x", date(2150, 1, 1))  # dates past the far date are kept indefinitely too
    for headers in sent.headers("PutObject"):
        assert headers["x-amz-object-lock-retain-until-date"] == "2100-01-01T00:00:00Z"
    # Ceph RGW 16.2 wraps dates after 2106 (2200-01-01 reads back as 2063): 2100 must come back intact.
    assert s3.head("forever")["ObjectLockRetainUntilDate"] == datetime(2100, 1, 1, tzinfo=UTC)
    assert store.retention("forever") == Retention(None)
    assert store.retention("far") == Retention(None)
    store.extend_retention("forever", date(2040, 1, 1))
    assert s3.head("forever")["ObjectLockRetainUntilDate"] == datetime(2100, 1, 1, tzinfo=UTC)


def test_a_date_already_passed_is_written_without_a_lock(s3: S3Env) -> None:
    store = s3.store()
    sent = Sent(store)
    store.put("old", b"x", date(2020, 1, 1))
    store.put("today", b"x", datetime.now(UTC).date())
    for headers in sent.headers("PutObject"):
        assert not any(name in headers for name in LOCK_HEADERS)
    assert "ObjectLockMode" not in s3.head("old")
    assert s3.head("old")["Metadata"] == {"retain-until": "2020-01-01"}
    assert store.retention("old") == Retention(date(2020, 1, 1))


def test_extending_a_past_date_into_the_future_locks_the_object(s3: S3Env) -> None:
    store = s3.store()
    store.put("k", b"x", date(2020, 1, 1))
    until = _days_ahead(3)
    store.extend_retention("k", until)
    head = s3.head("k")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] == datetime(until.year, until.month, until.day, tzinfo=UTC)
    assert store.retention("k") == Retention(until)


def test_extending_keeps_the_objects_own_lock_mode(s3: S3Env) -> None:
    s3.store("lock=COMPLIANCE").put("k", b"x", _days_ahead(1))
    s3.store("lock=GOVERNANCE").extend_retention("k", _days_ahead(2))
    assert s3.head("k")["ObjectLockMode"] == "COMPLIANCE"


def test_a_lock_ending_during_a_day_counts_until_the_next_day(s3: S3Env) -> None:
    store = s3.store()
    store.put("k", b"x", date(2020, 1, 1))
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2, hours=1)
    s3.client.put_object_retention(Bucket=s3.bucket, Key="archive/k",
                                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
    assert store.retention("k") == Retention(until.date() + timedelta(days=1))


# -- S3 itself enforces the lock -------------------------------------------------------------


def test_s3_refuses_an_early_delete_even_when_today_is_wrong(s3: S3Env) -> None:
    store = s3.store()
    store.put("k", b"x", _days_ahead(2))
    with pytest.raises(RetentionError, match="S3 refused the delete"):
        store.delete("k", date(2999, 1, 1))
    assert store.get("k") == b"x"


def test_s3_refuses_to_delete_an_object_under_legal_hold(s3: S3Env) -> None:
    store = s3.store()
    store.put("k", b"x", date(2020, 1, 1))
    store.set_legal_hold("k", True)
    (version,) = s3.versions("k")
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.client.delete_object(Bucket=s3.bucket, Key="archive/k", VersionId=version["VersionId"])
    store.set_legal_hold("k", False)
    store.delete("k", date(2020, 1, 1))
    assert s3.versions("k") == []


def test_delete_removes_every_version(s3: S3Env) -> None:
    store = s3.store()
    store.put("k", b"first", date(2020, 1, 1))
    s3.client.put_object(Bucket=s3.bucket, Key="archive/k", Body=b"second",  # a stray second version
                         Metadata={"retain-until": "2020-01-01"})
    assert len(s3.versions("k")) == 2
    store.delete("k", date(2020, 1, 1))
    assert s3.versions("k") == []


def test_an_existing_key_is_refused_by_s3_itself(moto_s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Beyond the store's own look-before-write: AWS (and moto) answer If-None-Match with 412.
    # Ceph RGW 16.2 ignores If-None-Match, so there only the look-before-write protects.
    store = S3Store(f"s3://{MOTO_BUCKET}/archive")
    store.put("k", b"first", None)
    monkeypatch.setattr(store, "exists", lambda key: False)
    with pytest.raises(ObjectExistsError, match="already exists"):
        store.put("k", b"second", None)
    assert store.get("k") == b"first"


@pytest.mark.rgw
def test_rgw_compliance_retention_cannot_be_shortened(rgw: RgwBucket) -> None:
    # moto lets a COMPLIANCE retention be shortened; a real Object Lock implementation must not.
    s3 = S3Env("rgw", rgw.client, rgw.name)
    store = s3.store("lock=COMPLIANCE")
    store.put("k", b"x", _days_ahead(2))
    earlier = datetime.combine(_days_ahead(1), datetime.min.time(), tzinfo=UTC)
    for bypass in (False, True):
        with pytest.raises(ClientError, match="AccessDenied"):
            s3.client.put_object_retention(Bucket=s3.bucket, Key="archive/k", BypassGovernanceRetention=bypass,
                                           Retention={"Mode": "COMPLIANCE", "RetainUntilDate": earlier})
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.client.delete_object(Bucket=s3.bucket, Key="archive/k", VersionId=s3.versions("k")[0]["VersionId"],
                                BypassGovernanceRetention=True)
    store.extend_retention("k", _days_ahead(1))
    assert store.retention("k") == Retention(_days_ahead(2))


@pytest.mark.rgw
def test_rgw_governance_retention_cannot_be_shortened_without_bypass(rgw: RgwBucket) -> None:
    s3 = S3Env("rgw", rgw.client, rgw.name)
    s3.store().put("k", b"x", _days_ahead(2))
    earlier = datetime.combine(_days_ahead(1), datetime.min.time(), tzinfo=UTC)
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.client.put_object_retention(Bucket=s3.bucket, Key="archive/k",
                                       Retention={"Mode": "GOVERNANCE", "RetainUntilDate": earlier})


@pytest.mark.rgw
def test_rgw_rejects_wrong_credentials_with_a_clear_message(rgw: RgwBucket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = S3Store(f"s3://{rgw.name}/archive")
    with pytest.raises(StoreError, match="credentials were rejected"):
        store.get("k")
    with pytest.raises(StoreError, match="access denied .*check the AWS credentials"):
        store.exists("k")  # a HEAD answer carries no error code to tell why


# -- multipart -------------------------------------------------------------------------------


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    # S3 parts other than the last must be at least 5 MiB.
    monkeypatch.setattr(s3_module, "MULTIPART_THRESHOLD", 6 * MiB)
    monkeypatch.setattr(s3_module, "PART_SIZE", 5 * MiB)


def test_a_large_object_goes_up_in_parts_with_the_same_settings(s3: S3Env, small_parts: None) -> None:
    store = s3.store()
    sent = Sent(store)
    data = bytes(range(256)) * (11 * MiB // 256)
    until = _days_ahead(2)
    store.put("big", data, until)
    assert sent.headers("PutObject") == []
    (create,) = sent.headers("CreateMultipartUpload")
    assert create["x-amz-object-lock-mode"] == "GOVERNANCE"
    assert create["x-amz-object-lock-retain-until-date"] == f"{until.isoformat()}T00:00:00Z"
    assert create["x-amz-server-side-encryption"] == "aws:kms"
    assert create["x-amz-checksum-algorithm"] == "SHA256"
    assert create["x-amz-meta-retain-until"] == until.isoformat()
    assert [h["x-amz-sdk-checksum-algorithm"] for h in sent.headers("UploadPart")] == ["SHA256"] * 3
    assert sent.headers("CompleteMultipartUpload")[0]["if-none-match"] == "*"
    assert store.get("big") == data
    # RGW 16.2 and moto drop the lock given to CreateMultipartUpload; the store sets it afterwards.
    head = s3.head("big")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockRetainUntilDate"] == datetime(until.year, until.month, until.day, tzinfo=UTC)
    assert store.retention("big") == Retention(until)
    with pytest.raises(ObjectExistsError):
        store.put("big", data, until)


def test_an_object_written_under_an_active_hold_carries_the_s3_legal_hold(s3: S3Env) -> None:
    store = s3.store()
    sent = Sent(store)
    store.put("seg/held", b"sealed bytes", _days_ahead(-3), legal_hold=True)
    (headers,) = sent.headers("PutObject")
    assert headers["x-amz-object-lock-legal-hold"] == "ON"  # set by the PUT itself, never visible unheld
    assert s3.head("seg/held")["ObjectLockLegalHoldStatus"] == "ON"
    assert store.retention("seg/held").legal_hold
    with pytest.raises(RetentionError, match="legal hold"):
        store.delete("seg/held", _days_ahead(30))


def test_a_large_object_written_under_hold_keeps_the_hold(s3: S3Env, small_parts: None) -> None:
    store = s3.store()
    store.put("big", bytes(11 * MiB), _days_ahead(2), legal_hold=True)
    assert s3.head("big")["ObjectLockLegalHoldStatus"] == "ON"


def test_a_failed_multipart_upload_is_aborted(s3: S3Env, small_parts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    store = s3.store()
    real_upload_part = store.client.upload_part

    def fail_second_part(**kwargs: Any) -> Any:
        if kwargs["PartNumber"] == 2:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "disk on fire"}}, "UploadPart")
        return real_upload_part(**kwargs)

    monkeypatch.setattr(store.client, "upload_part", fail_second_part)
    with pytest.raises(StoreError, match="InternalError: disk on fire"):
        store.put("big", b"x" * (11 * MiB), None)
    assert not store.exists("big")
    assert s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


def test_discard_incomplete_aborts_only_uploads_under_the_prefix(s3: S3Env) -> None:
    mine = s3.client.create_multipart_upload(Bucket=s3.bucket, Key="archive/seg/x")["UploadId"]
    other = s3.client.create_multipart_upload(Bucket=s3.bucket, Key="elsewhere/y")["UploadId"]
    s3.store().discard_incomplete()
    left = [u["UploadId"] for u in s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])]
    assert mine not in left and other in left
    s3.client.abort_multipart_upload(Bucket=s3.bucket, Key="elsewhere/y", UploadId=other)


# -- parallel puts ---------------------------------------------------------------------------


def test_put_many_stores_everything_with_bounded_concurrency(moto_s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store = S3Store(f"s3://{MOTO_BUCKET}/archive")
    real_put = store.put
    lock = threading.Lock()
    in_flight = peak = taken = 0
    taken_at_first_finish: list[int] = []

    def slow_put(key: str, data: bytes, retain_until: date | None) -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        real_put(key, data, retain_until)
        with lock:
            in_flight -= 1
            if not taken_at_first_finish:
                taken_at_first_finish.append(taken)

    def items() -> Iterator[tuple[str, bytes, date | None]]:
        nonlocal taken
        for number in range(20):
            taken += 1
            yield f"seg/{number:02d}", f"data {number}".encode(), None

    monkeypatch.setattr(store, "put", slow_put)
    store.put_many(items(), workers=4)
    assert peak == 4
    assert taken_at_first_finish[0] <= 5  # items are drawn as slots free up, not all at once
    assert list(store.list("seg/")) == [f"seg/{n:02d}" for n in range(20)]
    assert store.get("seg/07") == b"data 7"


def test_put_many_raises_the_first_error_after_the_others_finish(moto_s3: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = S3Store(f"s3://{MOTO_BUCKET}/archive")
    store.put("seg/02", b"already here", None)
    real_put = store.put
    started: list[str] = []
    finished: list[str] = []

    def tracked_put(key: str, data: bytes, retain_until: date | None) -> None:
        started.append(key)
        if key != "seg/02":
            time.sleep(0.1)
        real_put(key, data, retain_until)
        finished.append(key)

    monkeypatch.setattr(store, "put", tracked_put)
    with pytest.raises(ObjectExistsError, match="seg/02"):
        store.put_many(((f"seg/{n:02d}", b"x", None) for n in range(50)), workers=3)
    assert sorted(finished) == sorted(set(started) - {"seg/02"})  # everything started was finished
    assert len(started) < 10  # and nothing new was started once the error was seen
    assert store.get("seg/02") == b"already here"


def test_put_many_needs_a_worker(moto_s3: Any) -> None:
    with pytest.raises(UsageError):
        S3Store(f"s3://{MOTO_BUCKET}/archive").put_many([], workers=0)


# -- the bucket ------------------------------------------------------------------------------


def test_check_accepts_an_object_lock_bucket(s3: S3Env) -> None:
    s3.store().check()


def test_check_refuses_a_bucket_without_object_lock(s3: S3Env) -> None:
    plain = s3.bucket + "-plain"
    s3.client.create_bucket(Bucket=plain)
    s3.client.put_bucket_versioning(Bucket=plain, VersioningConfiguration={"Status": "Enabled"})
    try:
        with pytest.raises(ConfigError, match=f"bucket {plain} has no Object Lock"):
            S3Store(f"s3://{plain}/archive").check()
    finally:
        s3.client.delete_bucket(Bucket=plain)


def test_check_refuses_a_bucket_without_versioning(moto_s3: Any) -> None:
    # AWS cannot suspend versioning on an Object Lock bucket; moto can, which lets this be tested.
    moto_s3.put_bucket_versioning(Bucket=MOTO_BUCKET, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(ConfigError, match=f"bucket {MOTO_BUCKET} has versioning suspended"):
        S3Store(f"s3://{MOTO_BUCKET}/archive").check()


def test_check_refuses_a_missing_bucket(s3: S3Env) -> None:
    with pytest.raises(ConfigError, match="bucket no-such-bucket-here does not exist"):
        S3Store("s3://no-such-bucket-here/archive").check()


def test_a_missing_bucket_is_named_in_store_errors(moto_s3: Any) -> None:
    with pytest.raises(StoreError, match="bucket no-such-bucket-here does not exist"):
        S3Store("s3://no-such-bucket-here/archive").get("k")


# -- errors and configuration ----------------------------------------------------------------


def test_missing_credentials_are_a_store_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with pytest.raises(StoreError, match="no AWS credentials found .*AWS_PROFILE"):
        S3Store("s3://some-bucket/archive").exists("k")


def test_missing_credentials_reach_the_cli_as_a_message(cli: CliRunner, archive_dir: Path,
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clear_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ARCHIVER_STORE", "s3://some-bucket/archive")
    result = cli("verify")
    assert result.code == 2  # a configuration mistake, not a finding
    assert "no AWS credentials found" in result.err
    assert "Traceback" not in result.err


def test_an_unreachable_endpoint_is_a_store_error(fake_env: None) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}",
                          config=Config(retries={"mode": "standard", "max_attempts": 1}, connect_timeout=2))
    with pytest.raises(StoreError, match=f"cannot reach the S3 endpoint http://127.0.0.1:{port}"):
        S3Store("s3://some-bucket/archive", client=client).get("k")


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_aws_env(monkeypatch, tmp_path)


def test_open_store_chooses_by_url(fake_env: None, tmp_path: Path) -> None:
    store = open_store("s3://my-archive/agency/records?lock=governance&kms=alias/records", tmp_path)
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.lock_mode) == ("my-archive", "agency/records/", "GOVERNANCE")
    assert store.location.kms_key_id == "alias/records"
    bare = open_store("s3://my-archive", tmp_path)
    assert isinstance(bare, S3Store) and (bare.prefix, bare.lock_mode) == ("", "COMPLIANCE")
    assert isinstance(open_store("archive", tmp_path), LocalDirStore)
    with pytest.raises(UsageError, match="s3://bucket/prefix"):
        open_store("gs://elsewhere", tmp_path)


@pytest.mark.parametrize(("url", "message"), [
    ("s3://Bad_Bucket", "not a valid S3 bucket name"),
    ("s3:///prefix", "expected s3://bucket/prefix"),
    ("s3://bucket/Upper", "prefix 'Upper'"),
    ("s3://bucket?lock=forever", "lock must be COMPLIANCE or GOVERNANCE"),
    ("s3://bucket?kms=", "kms= needs a KMS key"),
    ("s3://bucket?region=x", "unknown option 'region'"),
    ("s3://bucket?lock=GOVERNANCE&lock=COMPLIANCE", "given twice"),
])
def test_bad_store_urls_are_configuration_errors(fake_env: None, tmp_path: Path, url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(url, tmp_path)


def test_a_bucket_without_prefix_lists_relative_keys(moto_s3: Any) -> None:
    store = S3Store(f"s3://{MOTO_BUCKET}")
    store.put("seg/a", b"x", None)
    assert list(store.list()) == ["seg/a"]
    assert moto_s3.head_object(Bucket=MOTO_BUCKET, Key="seg/a")["ContentLength"] == 1


# -- real HTTP -------------------------------------------------------------------------------


@pytest.fixture
def moto_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """moto's server on 127.0.0.1 (a free port), reached through AWS_ENDPOINT_URL."""
    fake_aws_env(monkeypatch, tmp_path)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    try:
        yield endpoint
    finally:
        server.stop()


def test_the_store_over_real_http(moto_server: str, tmp_path: Path) -> None:
    boto3.client("s3").create_bucket(Bucket="http-archive", ObjectLockEnabledForBucket=True)
    store = open_store("s3://http-archive/records?lock=GOVERNANCE", tmp_path)
    assert isinstance(store, S3Store)
    store.check()
    sent = Sent(store)
    store.put("seg/1", b"0123456789", _days_ahead(2))
    (put,) = sent.headers("PutObject")
    assert put["x-amz-checksum-sha256"] == _sha256_b64(b"0123456789")  # a plain header over http
    assert store.get_range("seg/1", 2, 3) == b"234"
    with pytest.raises(ObjectExistsError):
        store.put("seg/1", b"again", None)
    store.put("seg/2", b"old", date(2020, 1, 1))
    store.set_legal_hold("seg/2", True)
    assert store.retention("seg/2") == Retention(date(2020, 1, 1), legal_hold=True)
    with pytest.raises(RetentionError, match="under legal hold"):
        store.delete("seg/2", date(2020, 1, 1))
    store.set_legal_hold("seg/2", False)
    store.delete("seg/2", date(2020, 1, 1))
    with pytest.raises(RetentionError, match="S3 refused the delete"):
        store.delete("seg/1", date(2999, 1, 1))
    assert list(store.list()) == ["seg/1"]


# -- if-none-match=enforced: no look before each write where the service refuses overwrites ---------

ENFORCED = "lock=GOVERNANCE&if-none-match=enforced"


def _operations(sent: Sent) -> list[str]:
    return [name for name, _ in sent.requests]


def test_an_enforcing_store_writes_without_looking_first(moto_s3: Any) -> None:
    store = S3Store(f"s3://{MOTO_BUCKET}/archive?{ENFORCED}")
    sent = Sent(store)
    store.put("seg/a", b"first", None)
    with pytest.raises(ObjectExistsError, match="already exists"):
        store.put("seg/a", b"second", None)  # refused by the service's 412, not by a look
    assert _operations(sent) == ["PutObject", "PutObject"]
    assert store.get("seg/a") == b"first"
    assert [v["Key"] for v in moto_s3.list_object_versions(Bucket=MOTO_BUCKET)["Versions"]] == ["archive/seg/a"]


def test_without_the_setting_the_store_looks_before_each_write(moto_s3: Any) -> None:
    store = S3Store(f"s3://{MOTO_BUCKET}/archive?lock=GOVERNANCE")
    sent = Sent(store)
    store.put("seg/a", b"first", None)
    with pytest.raises(ObjectExistsError, match="already exists"):
        store.put("seg/a", b"second", None)
    assert _operations(sent) == ["HeadObject", "PutObject", "HeadObject"]


def test_put_many_on_an_enforcing_store_sends_one_request_an_object(moto_s3: Any) -> None:
    store = S3Store(f"s3://{MOTO_BUCKET}/archive?{ENFORCED}")
    sent = Sent(store)
    store.put_many([(f"seg/{n}", b"x", None) for n in range(20)])
    assert _operations(sent) == ["PutObject"] * 20


def test_check_accepts_a_service_that_refuses_the_second_write(s3: S3Env) -> None:
    if s3.kind == "rgw":
        pytest.skip("Ceph RGW 16.2 ignores If-None-Match: see the next test")
    store = s3.store(ENFORCED)
    sent = Sent(store)
    store.check()
    store.check()  # the probe is there now: its first write is refused at once
    puts = _operations(sent).count("PutObject")
    assert puts == 3
    assert len(s3.versions(PROBE_KEY)) == 1
    assert list(store.list()) == []  # the probe is the store's own, no archive object


def test_check_refuses_the_setting_where_the_service_writes_a_key_twice(s3: S3Env) -> None:
    store = s3.store(ENFORCED)
    if s3.kind == "moto":  # moto refuses: make it look like a service that ignores the header
        store.client.meta.events.register("before-parameter-build.s3.PutObject",
                                          lambda params, **_: params.pop("IfNoneMatch", None))
    with pytest.raises(ConfigError, match="does not refuse overwrites by itself: leave if-none-match=enforced out"):
        store.check()
    assert s3.store().exists(PROBE_KEY)


def test_the_setting_is_parsed_strictly() -> None:
    assert S3Location.parse("s3://bucket-a/p?if-none-match=enforced").if_none_match_enforced
    assert not S3Location.parse("s3://bucket-a/p").if_none_match_enforced
    with pytest.raises(ConfigError, match="if-none-match takes only 'enforced'"):
        S3Location.parse("s3://bucket-a/p?if-none-match=yes")
