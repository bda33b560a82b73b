"""The whole archive on AWS (moto): S3 with Object Lock, the DynamoDB catalog and a KMS key.

The CLI runs unchanged with the three ``ARCHIVER_*`` locations; then every S3 object, every
DynamoDB item and every log line is searched for the text of any sample message.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.conftest import SAMPLES, CliRunner
from tests.test_catalog_contract import make_moto_transactions_atomic
from tests.test_keys_kms import _sample_texts

BUCKET, TABLE, ALIAS = "agency-records-archive", "agency-records-catalog", "alias/agency-records"


# The store looks before each write unless told the service refuses overwrites itself (moto does).
@pytest.fixture(params=["", "&if-none-match=enforced"], ids=["look-first", "if-none-match-enforced"])
def aws(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[None]:
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        make_moto_transactions_atomic(monkeypatch)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
        boto3.client("kms").create_alias(AliasName=ALIAS, TargetKeyId=key)
        monkeypatch.setenv("ARCHIVER_STORE", f"s3://{BUCKET}/records?lock=GOVERNANCE{request.param}")
        monkeypatch.setenv("ARCHIVER_CATALOG", f"dynamodb://{TABLE}")
        monkeypatch.setenv("ARCHIVER_KEY", f"kms://{ALIAS}")
        yield


def test_the_cli_runs_unchanged_on_aws_and_nothing_there_holds_message_text(
    aws: None, cli: CliRunner, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    exports = tmp_path / "exports"
    shutil.copytree(SAMPLES, exports)
    assert cli("init").code == 0
    ingest = cli("ingest", *sorted(exports.iterdir()), "--custodian", "Jorge Rivera", "--tz", "America/Phoenix",
                 "--json")
    assert ingest.code == 0, ingest.err
    receipt = ingest.json()
    assert receipt["records"] > 20 and receipt["attachments"]["stored"] == 1
    verified = cli("verify", "--json").json()
    assert verified["ok"] and verified["frames"] == receipt["records"]
    assert cli("report", "forwarding", "--json").json()["totals"]
    again = cli("ingest", *sorted(exports.iterdir()), "--custodian", "Jorge Rivera", "--tz", "America/Phoenix",
                "--json").json()
    assert again["records"] == 0 and again["duplicates"] == receipt["parsed"]

    s3 = boto3.client("s3")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for o in page.get("Contents", [])]
    assert any("/seg/" in k for k in keys) and any(k.endswith("keys/derivation-root") for k in keys)
    head = s3.head_object(Bucket=BUCKET, Key=next(k for k in keys if "/seg/" in k))
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ServerSideEncryption"] == "aws:kms"
    stored = [s3.get_object(Bucket=BUCKET, Key=k)["Body"].read() for k in keys]
    items = [repr(item).encode() for page in boto3.client("dynamodb").get_paginator("scan").paginate(TableName=TABLE)
             for item in page["Items"]]
    logs = [record.getMessage().encode() for record in caplog.records]
    texts = _sample_texts(cli)
    assert len(texts) > 20
    needles = [text.encode(encoding) for text in texts for encoding in ("utf-8", "utf-16-le")]
    assert len(items) > receipt["records"] and len(stored) > 2
    leaks = [needle for blob in stored + items + logs for needle in needles if needle in blob]
    assert leaks == []
