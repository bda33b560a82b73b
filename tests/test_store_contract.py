"""Every object store keeps the same WORM contract.

The same tests run on the local directory store, on ``S3Store`` against moto in-process, and on
``S3Store`` against a real Ceph RADOS Gateway (marker ``rgw``; skipped unless
``ARCHIVER_TEST_RGW_ENDPOINT`` is set, e.g. by ``scripts/rgw-up.sh``). moto does not enforce
every Object Lock rule (it lets a COMPLIANCE retention be shortened), which is why the RGW tier
exists. Retention dates in the past are used where a test must delete: S3 enforces locks with
the real clock, whatever ``today`` the caller passes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from archiver.errors import ObjectExistsError, ObjectNotFoundError, RetentionError, StoreError
from archiver.storage.store import LocalDirStore, ObjectStore, Retention
from archiver.storage.store.s3 import S3Store

MOTO_BUCKET = "archive-test-bucket"
# The fixed, public throwaway keys of scripts/rgw-up.sh, unless the environment names others.
RGW_ACCESS_KEY = os.environ.get("ARCHIVER_TEST_RGW_ACCESS_KEY", "ARCHIVERTESTACCESSKEY")
RGW_SECRET_KEY = os.environ.get("ARCHIVER_TEST_RGW_SECRET_KEY", "archiver-throwaway-test-secret-key")
RGW_KMS_KEY = os.environ.get("ARCHIVER_TEST_RGW_KMS_KEY", "archiver-test")
_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN",
                  "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                  "AWS_DEFAULT_REGION", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def clear_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS setting of the machine (profile, endpoint, real keys) reaches a test."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def fake_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and region for moto."""
    clear_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@contextmanager
def moto_bucket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """moto in-process with the Object Lock bucket ``MOTO_BUCKET``; yields a boto3 client to look with."""
    fake_aws_env(monkeypatch, tmp_path)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=MOTO_BUCKET, ObjectLockEnabledForBucket=True)
        yield client


@dataclass
class RgwBucket:
    """A fresh Object Lock bucket on the Ceph RGW under test."""

    client: Any
    name: str

    def url(self, options: str = "lock=GOVERNANCE") -> str:
        return f"s3://{self.name}/archive?{options}&kms={RGW_KMS_KEY}"


@contextmanager
def rgw_bucket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[RgwBucket]:
    """A new bucket on ``ARCHIVER_TEST_RGW_ENDPOINT`` (else the test is skipped), emptied afterwards
    where the locks allow."""
    endpoint = os.environ.get("ARCHIVER_TEST_RGW_ENDPOINT")
    if not endpoint:
        pytest.skip("Ceph RGW tier: set ARCHIVER_TEST_RGW_ENDPOINT (see scripts/rgw-up.sh)")
    clear_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", RGW_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", RGW_SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3")
    bucket = RgwBucket(client, f"archiver-test-{uuid.uuid4().hex[:16]}")
    client.create_bucket(Bucket=bucket.name, ObjectLockEnabledForBucket=True)
    yield bucket
    _empty_bucket(client, bucket.name)


def _empty_bucket(client: Any, bucket: str) -> None:
    """Remove what GOVERNANCE locks let go; COMPLIANCE objects stay in the throwaway cluster."""
    versions = client.list_object_versions(Bucket=bucket)
    for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
        try:
            client.put_object_legal_hold(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"],
                                         LegalHold={"Status": "OFF"})
        except ClientError:
            pass  # a delete marker has no hold
        try:
            client.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"],
                                 BypassGovernanceRetention=True)
        except ClientError:
            pass  # COMPLIANCE: exactly what must not be deletable
    try:
        client.delete_bucket(Bucket=bucket)
    except ClientError:
        pass


@pytest.fixture(params=["local", "moto", pytest.param("rgw", marks=pytest.mark.rgw)])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ObjectStore]:
    """The store under test, one of each kind."""
    if request.param == "local":
        yield LocalDirStore(tmp_path / "archive")
    elif request.param == "moto":
        with moto_bucket(monkeypatch, tmp_path):
            yield S3Store(f"s3://{MOTO_BUCKET}/archive?lock=GOVERNANCE")
    else:
        with rgw_bucket(monkeypatch, tmp_path) as bucket:
            yield S3Store(bucket.url())


def test_put_get_and_range(store: ObjectStore) -> None:
    store.put("seg/a/1", b"0123456789", date(2030, 1, 1))
    assert store.get("seg/a/1") == b"0123456789"
    assert store.get_range("seg/a/1", 3, 4) == b"3456"
    assert store.get_range("seg/a/1", 8, 10) == b"89"
    assert store.get_range("seg/a/1", 10, 5) == b""
    assert store.get_range("seg/a/1", 2, 0) == b""
    assert store.exists("seg/a/1") and not store.exists("seg/a/2")


def test_list_is_sorted_and_filtered_by_prefix(store: ObjectStore) -> None:
    for key in ("seg/b/2", "att/x", "seg/a/1", "seg/b/10", "segment"):
        store.put(key, b"x", None)
    assert list(store.list("seg/")) == ["seg/a/1", "seg/b/10", "seg/b/2"]
    assert list(store.list()) == ["att/x", "seg/a/1", "seg/b/10", "seg/b/2", "segment"]
    assert list(store.list("nothing/")) == []
    assert list(store.list("seg/b/1")) == ["seg/b/10"]  # a prefix that ends inside a name
    assert list(store.list("seg")) == ["seg/a/1", "seg/b/10", "seg/b/2", "segment"]
    assert list(store.list("seg/a/1/")) == []  # an object is no folder


def test_overwrite_is_refused(store: ObjectStore) -> None:
    store.put("k", b"first", None)
    with pytest.raises(ObjectExistsError):
        store.put("k", b"second", None)
    assert store.get("k") == b"first"


def test_delete_before_retain_until_is_refused(store: ObjectStore) -> None:
    store.put("k", b"data", date(2020, 1, 1))
    assert store.retention("k") == Retention(date(2020, 1, 1))
    with pytest.raises(RetentionError, match="2020-01-01"):
        store.delete("k", date(2019, 12, 31))
    assert store.get("k") == b"data"
    store.delete("k", date(2020, 1, 1))
    assert not store.exists("k")
    assert list(store.list()) == []
    with pytest.raises(ObjectNotFoundError):
        store.get("k")


def test_a_deleted_key_can_be_written_again(store: ObjectStore) -> None:
    store.put("k", b"old", date(2020, 1, 1))
    store.delete("k", date(2020, 1, 1))
    store.put("k", b"new", None)
    assert store.get("k") == b"new"


def test_indefinite_retention_never_allows_delete(store: ObjectStore) -> None:
    store.put("k", b"data", None)
    assert store.retention("k") == Retention(None)
    with pytest.raises(RetentionError, match="indefinitely"):
        store.delete("k", date(2999, 1, 1))
    assert store.exists("k")


def test_retention_is_extended_never_shortened(store: ObjectStore) -> None:
    store.put("k", b"data", date(2030, 1, 1))
    store.extend_retention("k", date(2029, 1, 1))
    assert store.retention("k").retain_until == date(2030, 1, 1)
    store.extend_retention("k", date(2031, 6, 1))
    assert store.retention("k").retain_until == date(2031, 6, 1)
    store.extend_retention("k", None)
    assert store.retention("k").retain_until is None
    store.extend_retention("k", date(2032, 1, 1))
    assert store.retention("k").retain_until is None


def test_a_past_retention_is_extended_to_another_past_date(store: ObjectStore) -> None:
    store.put("k", b"data", date(2020, 1, 1))
    store.extend_retention("k", date(2021, 3, 1))
    assert store.retention("k") == Retention(date(2021, 3, 1))
    store.extend_retention("k", date(2020, 6, 1))
    assert store.retention("k") == Retention(date(2021, 3, 1))
    with pytest.raises(RetentionError, match="2021-03-01"):
        store.delete("k", date(2021, 2, 28))
    store.delete("k", date(2021, 3, 1))
    assert not store.exists("k")


def test_a_legal_hold_blocks_delete_until_lifted(store: ObjectStore) -> None:
    store.put("k", b"data", date(2020, 1, 1))
    store.set_legal_hold("k", True)
    assert store.retention("k") == Retention(date(2020, 1, 1), legal_hold=True)
    with pytest.raises(RetentionError, match="under legal hold"):
        store.delete("k", date(2031, 1, 1))
    store.extend_retention("k", date(2020, 6, 1))
    assert store.retention("k") == Retention(date(2020, 6, 1), legal_hold=True)
    store.set_legal_hold("k", False)
    assert store.retention("k") == Retention(date(2020, 6, 1), legal_hold=False)
    store.delete("k", date(2031, 1, 1))
    assert not store.exists("k")


def test_a_legal_hold_on_a_locked_object_is_kept_with_its_date(store: ObjectStore) -> None:
    store.put("k", b"data", date(2030, 1, 1))
    store.set_legal_hold("k", True)
    store.extend_retention("k", date(2031, 1, 1))
    assert store.retention("k") == Retention(date(2031, 1, 1), legal_hold=True)
    store.set_legal_hold("k", False)
    assert store.retention("k") == Retention(date(2031, 1, 1), legal_hold=False)


def test_an_object_written_under_hold_is_held_from_the_start(store: ObjectStore) -> None:
    store.put("held", b"data", date(2020, 1, 1), legal_hold=True)
    store.put_many([("a", b"1", date(2020, 1, 1)), ("b", b"2", None)], legal_hold=True)
    store.put_many([("c", b"3", date(2020, 1, 1))])
    assert store.retention("held") == Retention(date(2020, 1, 1), legal_hold=True)
    assert [store.retention(k).legal_hold for k in ("a", "b", "c")] == [True, True, False]
    with pytest.raises(RetentionError, match="under legal hold"):
        store.delete("held", date(2031, 1, 1))
    store.set_legal_hold("held", False)
    store.delete("held", date(2031, 1, 1))
    assert not store.exists("held")


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../b", "UPPER", "", "a//b", "a/", "evidence.lock"])
def test_unsafe_keys_are_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(StoreError):
        store.put(key, b"x", None)


def test_a_missing_object_is_reported_as_missing(store: ObjectStore) -> None:
    assert not store.exists("nothing")
    for call in (lambda: store.get("nothing"), lambda: store.get_range("nothing", 0, 4),
                 lambda: store.get_range("nothing", 0, 0), lambda: store.retention("nothing"),
                 lambda: store.extend_retention("nothing", None), lambda: store.set_legal_hold("nothing", True),
                 lambda: store.delete("nothing", date(2999, 1, 1))):
        with pytest.raises(ObjectNotFoundError):
            call()


def test_discard_incomplete_keeps_complete_objects(store: ObjectStore) -> None:
    store.put("k", b"data", None)
    store.discard_incomplete()
    assert store.get("k") == b"data"
