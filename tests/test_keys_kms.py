"""The AWS KMS key provider, against moto: in-process for most tests, over real HTTP for one."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from archiver.config import load_settings
from archiver.errors import IntegrityError, KeyProviderError, KeyServiceError, UsageError
from archiver.storage.archive import Archive
from archiver.storage.envelope import open_sealed, seal
from archiver.storage.keys import PURPOSE_BLIND_INDEX, PURPOSE_MESSAGE_ID, open_key_provider
from archiver.storage.keys.kms import KEK_USES, ROOT_KEY, KmsKeyProvider
from archiver.storage.store.local import LocalDirStore
from tests.conftest import SAMPLES, CliRunner

ALIAS = "alias/archiver-test"
AWS_VARIABLES = ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_KMS", "AWS_SESSION_TOKEN",
                 "AWS_SECURITY_TOKEN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")


@dataclass
class Kms:
    client: Any
    key_id: str
    arn: str


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials and region; nothing of the machine's AWS setup, nor another test's session, leaks in."""
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it first found
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _make_key(client: Any, alias: str = ALIAS, **options: Any) -> Kms:
    metadata = client.create_key(Description="archiver test key", **options)["KeyMetadata"]
    client.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    return Kms(client, metadata["KeyId"], metadata["Arn"])


@pytest.fixture
def kms(aws_env: None) -> Iterator[Kms]:
    """A symmetric KMS key named ``alias/archiver-test`` in an in-process moto."""
    with mock_aws():
        yield _make_key(boto3.client("kms"))


@pytest.fixture
def store(tmp_path: Path) -> LocalDirStore:
    return LocalDirStore(tmp_path / "store")


@pytest.fixture
def kms_calls(aws_env: None) -> list[str]:
    """Names of the KMS operations every client made from now on calls, in order."""
    calls: list[str] = []
    boto3.setup_default_session()  # replaced for this test only: aws_env restores the previous one
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.kms", lambda model, **_: calls.append(model.name))
    return calls


def test_alias_arn_and_key_id_give_the_same_key_id(kms: Kms, store: LocalDirStore) -> None:
    created = KmsKeyProvider.create(f"kms://{ALIAS}", store)
    by_arn = KmsKeyProvider.open(f"kms://{kms.arn}", store)
    by_id = KmsKeyProvider.open(f"kms://{kms.key_id}", store)
    by_alias_arn = KmsKeyProvider.open(f"kms://{kms.arn.split(':key/')[0]}:{ALIAS}", store)
    assert created.key_id == by_arn.key_id == by_id.key_id == by_alias_arn.key_id == f"kms:{kms.arn}"


def test_data_key_round_trip_and_bound_to_its_object(kms: Kms, store: LocalDirStore) -> None:
    keys = KmsKeyProvider.create(f"kms://{ALIAS}", store)
    data_key, wrapped = keys.new_data_key(b"seg/2030-01-01/abc")
    assert len(data_key) == 32 and data_key not in wrapped
    reader = KmsKeyProvider.open(f"kms://{ALIAS}", store)  # a fresh process: KEK not in memory
    assert reader.unwrap(wrapped, b"seg/2030-01-01/abc") == data_key
    with pytest.raises(KeyProviderError, match="made for another object"):
        reader.unwrap(wrapped, b"seg/2030-01-01/abd")
    damaged = bytearray(wrapped)
    damaged[-1] ^= 1
    with pytest.raises(KeyProviderError, match="kms://alias/archiver-test"):
        reader.unwrap(bytes(damaged), b"seg/2030-01-01/abc")
    with pytest.raises(KeyProviderError, match="not in the KMS provider's format"):
        reader.unwrap(b"\x00" * 80, b"seg/2030-01-01/abc")


def test_envelopes_open_only_under_their_own_id(kms: Kms, store: LocalDirStore) -> None:
    keys = KmsKeyProvider.create(f"kms://{ALIAS}", store)
    envelope = seal(keys, "record-1", b"Approved: release truck 4")
    assert b"Approved" not in envelope
    assert open_sealed(KmsKeyProvider.open(f"kms://{ALIAS}", store), "record-1", envelope) == \
        b"Approved: release truck 4"
    with pytest.raises(IntegrityError):
        open_sealed(keys, "record-2", envelope)


def test_a_wrapped_key_of_another_archive_does_not_open(kms: Kms, tmp_path: Path) -> None:
    """Same KMS key, two archives: the archive id in the encryption context keeps them apart."""
    first = KmsKeyProvider.create(f"kms://{ALIAS}", LocalDirStore(tmp_path / "one"))
    second = KmsKeyProvider.create(f"kms://{ALIAS}", LocalDirStore(tmp_path / "two"))
    _, wrapped = first.new_data_key(b"obj")
    with pytest.raises(KeyProviderError, match="does not open with this archive's encryption context"):
        second.unwrap(wrapped, b"obj")
    assert first.derive(PURPOSE_MESSAGE_ID) != second.derive(PURPOSE_MESSAGE_ID)


def test_kms_is_called_per_thousand_data_keys_not_per_record(kms: Kms, store: LocalDirStore,
                                                            kms_calls: list[str]) -> None:
    writer = KmsKeyProvider.create(f"kms://{ALIAS}", store)
    wrapped = [writer.new_data_key(f"record-{n}".encode()) for n in range(2 * KEK_USES + 500)]
    assert kms_calls.count("GenerateDataKey") == 1 + 3  # the root, then one KEK per KEK_USES data keys
    for n, (data_key, blob) in enumerate(wrapped):  # the writer reads back without asking KMS
        assert writer.unwrap(blob, f"record-{n}".encode()) == data_key
    assert "Decrypt" not in kms_calls
    reader = KmsKeyProvider.open(f"kms://{ALIAS}", store)
    for n, (data_key, blob) in enumerate(wrapped):
        assert reader.unwrap(blob, f"record-{n}".encode()) == data_key
    assert kms_calls.count("Decrypt") == 1 + 3  # the root, then each KEK once


def test_derived_keys_are_stable_per_archive_and_differ_by_purpose(kms: Kms, store: LocalDirStore) -> None:
    created = KmsKeyProvider.create(f"kms://{ALIAS}", store)
    one = KmsKeyProvider.open(f"kms://{ALIAS}", store)
    two = KmsKeyProvider.open(f"kms://{kms.arn}", store)
    assert created.derive(PURPOSE_MESSAGE_ID) == one.derive(PURPOSE_MESSAGE_ID) == two.derive(PURPOSE_MESSAGE_ID)
    assert one.derive(PURPOSE_BLIND_INDEX) == two.derive(PURPOSE_BLIND_INDEX)
    assert one.derive(PURPOSE_MESSAGE_ID) != one.derive(PURPOSE_BLIND_INDEX)
    assert len(one.derive(PURPOSE_MESSAGE_ID)) == 32


def test_the_root_is_created_once_and_stored_only_wrapped(kms: Kms, store: LocalDirStore) -> None:
    keys = KmsKeyProvider.create(f"kms://{ALIAS}", store)
    stored = store.get(ROOT_KEY)
    document = json.loads(stored)
    assert document["key"] == kms.arn and document["archive"] == keys.archive_id
    assert store.retention(ROOT_KEY).retain_until is None  # kept for the life of the archive
    with pytest.raises(KeyProviderError, match="refusing to create a second one"):
        KmsKeyProvider.create(f"kms://{kms.arn}", store)
    assert store.get(ROOT_KEY) == stored
    assert list(store.list("keys/")) == [ROOT_KEY]


def test_open_without_a_root_is_refused(kms: Kms, store: LocalDirStore) -> None:
    with pytest.raises(KeyProviderError, match=r"no KMS derivation root .*run 'archiver init' first"):
        KmsKeyProvider.open(f"kms://{ALIAS}", store)
    assert not store.exists(ROOT_KEY)  # opening never creates one


def test_open_with_another_key_than_the_archive_was_made_with(kms: Kms, store: LocalDirStore) -> None:
    KmsKeyProvider.create(f"kms://{ALIAS}", store)
    other = _make_key(kms.client, "alias/other")
    with pytest.raises(KeyProviderError, match=f"created with KMS key {kms.arn}, not {other.arn}"):
        KmsKeyProvider.open("kms://alias/other", store)


def test_old_wrapped_keys_open_after_key_rotation(kms: Kms, store: LocalDirStore) -> None:
    """KMS keeps old key material after rotation and Decrypt picks it from the blob, so nothing is
    re-encrypted. moto records the rotation without changing key material, so this test shows the
    provider's side: after both kinds of rotation the same key id, the same derived keys, and old
    blobs (root and data keys) still open in a fresh process."""
    keys = KmsKeyProvider.create(f"kms://{ALIAS}", store)
    data_key, wrapped = keys.new_data_key(b"obj")
    kms.client.enable_key_rotation(KeyId=kms.key_id)
    kms.client.rotate_key_on_demand(KeyId=kms.key_id)
    assert len(kms.client.list_key_rotations(KeyId=kms.key_id)["Rotations"]) == 1
    after = KmsKeyProvider.open(f"kms://{ALIAS}", store)
    assert after.key_id == keys.key_id
    assert after.derive(PURPOSE_MESSAGE_ID) == keys.derive(PURPOSE_MESSAGE_ID)
    assert after.unwrap(wrapped, b"obj") == data_key


@pytest.mark.parametrize(("url", "expected"), [
    ("kms://alias/nope", "kms://alias/nope: KMS DescribeKey failed: no such key or alias"),
    ("kms://", "name a KMS key as kms://alias/NAME"),
])
def test_unknown_or_malformed_key(kms: Kms, store: LocalDirStore, url: str, expected: str) -> None:
    with pytest.raises((KeyProviderError, UsageError), match=expected):
        KmsKeyProvider.open(url, store)


def test_disabled_or_deleted_key_is_named_with_the_cause(kms: Kms, store: LocalDirStore) -> None:
    KmsKeyProvider.create(f"kms://{ALIAS}", store)
    kms.client.disable_key(KeyId=kms.key_id)
    with pytest.raises(KeyProviderError, match=f"the KMS key {kms.arn} is Disabled; enable it"):
        KmsKeyProvider.open(f"kms://{ALIAS}", store)
    kms.client.schedule_key_deletion(KeyId=kms.key_id, PendingWindowInDays=7)
    with pytest.raises(KeyProviderError, match="is PendingDeletion; cancel its deletion"):
        KmsKeyProvider.open(f"kms://{ALIAS}", store)


def test_access_denied_names_the_key_and_the_action(kms: Kms, store: LocalDirStore) -> None:
    deny = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}]}
    locked = _make_key(kms.client, "alias/locked", Policy=json.dumps(deny))
    with pytest.raises(KeyProviderError, match=f"kms://{locked.arn}: KMS DescribeKey failed: access denied.*"
                                               "kms:DescribeKey"):
        KmsKeyProvider.open(f"kms://{locked.arn}", store)


def test_missing_credentials_and_region(aws_env: None, monkeypatch: pytest.MonkeyPatch, store: LocalDirStore) -> None:
    # No moto here: the calls must fail before anything leaves the machine (the endpoint is a dead local port).
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(KeyProviderError, match=f"kms://{ALIAS}: KMS DescribeKey failed: no AWS credentials found"):
        KmsKeyProvider.open(f"kms://{ALIAS}", store)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(KeyProviderError, match=f"kms://{ALIAS}: cannot use KMS: no AWS region set"):
        KmsKeyProvider.open(f"kms://{ALIAS}", store)


def test_an_arn_brings_its_own_region(kms: Kms, store: LocalDirStore, monkeypatch: pytest.MonkeyPatch) -> None:
    KmsKeyProvider.create(f"kms://{ALIAS}", store)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert KmsKeyProvider.open(f"kms://{kms.arn}", store).key_id == f"kms:{kms.arn}"


def test_a_kms_outage_mid_run_is_not_reported_as_damage(kms: Kms, store: LocalDirStore,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    envelope = seal(KmsKeyProvider.create(f"kms://{ALIAS}", store), "record-1", b"text")
    reader = KmsKeyProvider.open(f"kms://{ALIAS}", store)
    kms.client.disable_key(KeyId=kms.key_id)  # moto still decrypts with a disabled key, so refuse by hand
    from botocore.exceptions import ClientError

    def refuse(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "DisabledException", "Message": "key is disabled"}}, "Decrypt")

    monkeypatch.setattr(reader._client, "decrypt", refuse)
    with pytest.raises(KeyServiceError, match="KMS Decrypt failed: the key is disabled"):
        open_sealed(reader, "record-1", envelope)


def test_open_key_provider_dispatches_on_the_url(kms: Kms, store: LocalDirStore, tmp_path: Path) -> None:
    KmsKeyProvider.create(f"kms://{ALIAS}", store)
    assert open_key_provider(f"kms://{ALIAS}", tmp_path, store).key_id == f"kms:{kms.arn}"
    with pytest.raises(UsageError, match="use file://PATH or kms://"):
        open_key_provider("vault://x", tmp_path, store)


# --- end to end: the CLI with only the key in KMS (local store, SQLite catalog) ---------------------


def _sample_texts(cli: CliRunner) -> list[str]:
    """Bodies and conversation titles of the bundled samples: none may be stored in the clear."""
    texts: set[str] = set()
    for sample in sorted(SAMPLES.iterdir()):
        parsed = cli("parse", sample, "--tz", "America/Phoenix")
        assert parsed.code == 0, parsed.err
        for message in parsed.lines():
            texts.update(str(message[field]) for field in ("body", "conversation"))
    return sorted(text for text in texts if len(text) >= 12)


def _run_end_to_end(cli: CliRunner, tmp_path: Path, arn: str) -> None:
    exports = tmp_path / "exports"
    shutil.copytree(SAMPLES, exports)
    init = cli("init", cwd=tmp_path)
    assert init.code == 0, init.err
    assert f"key kms:{arn}" in init.out and not (tmp_path / "archiver.key").exists()
    assert "created archiver.yaml, KMS derivation root" in init.out and "Never schedule the KMS key" in init.out
    assert cli("init", cwd=tmp_path).out.count("already initialised") == 1  # a second init changes nothing
    ingest = cli("ingest", *sorted(exports.iterdir()), "--custodian", "Jorge Rivera", "--tz", "America/Phoenix",
                 "--json", cwd=tmp_path)
    assert ingest.code == 0, ingest.err
    receipt = ingest.json()
    assert isinstance(receipt, dict) and receipt["records"] > 20
    verified = cli("verify", "--json", cwd=tmp_path)
    report = verified.json()
    assert verified.code == 0 and isinstance(report, dict) and report["ok"] is True, verified.out
    assert (report["frames"], report["review_frames"]) == (receipt["records"], receipt["in_review"])
    assert report["objects"] >= 1  # attachments were opened too
    again = cli("ingest", *sorted(exports.iterdir()), "--custodian", "Jorge Rivera", "--tz", "America/Phoenix",
                "--json", cwd=tmp_path).json()  # same derived ids in a new process: nothing stored twice
    assert isinstance(again, dict) and again["records"] == 0 and again["duplicates"] == receipt["parsed"]

    texts = _sample_texts(cli)
    assert len(texts) > 20
    needles = [text.encode(encoding) for text in texts for encoding in ("utf-8", "utf-16-le")]
    files = [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    assert any(p.name.endswith(".sqlite") for p in files) and any("seg" in p.parts for p in files)
    leaks = [(str(p), needle) for p in files for needle in needles if needle in p.read_bytes()]
    assert leaks == []


def test_cli_end_to_end_with_the_key_in_kms(kms: Kms, cli: CliRunner, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVER_KEY", f"kms://{ALIAS}")
    _run_end_to_end(cli, tmp_path, kms.arn)
    archive = Archive.open(load_settings(cwd=tmp_path))
    try:
        assert archive.keys.key_id == f"kms:{kms.arn}" and archive.catalog.bound_key() == f"kms:{kms.arn}"
    finally:
        archive.close()


def test_cli_errors_exit_2_without_a_traceback(kms: Kms, cli: CliRunner, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVER_KEY", "kms://alias/nope")
    result = cli("init")
    assert result.code == 2 and "Traceback" not in result.err
    assert "kms://alias/nope: KMS DescribeKey failed: no such key or alias" in result.err

    monkeypatch.setenv("ARCHIVER_KEY", f"kms://{ALIAS}")
    result = cli("verify")
    assert result.code == 2 and "no KMS derivation root" in result.err and "Traceback" not in result.err


def test_init_refuses_a_new_root_for_an_archive_that_has_records(kms: Kms, cli: CliRunner, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCHIVER_KEY", f"kms://{ALIAS}")
    assert cli("init").code == 0
    assert cli("ingest", SAMPLES / "forwarded-email.jsonl", "--custodian", "Jorge Rivera").code == 0
    (tmp_path / "archive" / "objects" / ROOT_KEY).unlink()  # lost by hand, behind the store's back
    refused = cli("init")
    assert refused.code == 2 and f"restore {ROOT_KEY}" in refused.err
    assert not (tmp_path / "archive" / "objects" / ROOT_KEY).exists()


def test_end_to_end_over_http_with_moto_server(aws_env: None, cli: CliRunner, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 honours AWS_ENDPOINT_URL: every KMS call here is a real HTTP request to 127.0.0.1."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        kms = _make_key(boto3.client("kms"))
        monkeypatch.setenv("ARCHIVER_KEY", f"kms://{ALIAS}")
        _run_end_to_end(cli, tmp_path, kms.arn)
    finally:
        server.stop()
