"""An S3 bucket with Object Lock as the archive's WORM object store.

URL: ``s3://bucket/prefix?lock=COMPLIANCE&kms=alias/name&if-none-match=enforced`` (prefix and
every option are optional; ``lock`` is COMPLIANCE unless ``GOVERNANCE`` is asked for, e.g. for a
trial; ``if-none-match=enforced`` is below).

What arrives here is already sealed client-side (AES-256-GCM per object): the bucket never sees
plaintext. On top of that every object is written with

* an Object Lock retention until 00:00 UTC of its retain-until date, enforced by S3 itself
  (``retain_until=None``, kept indefinitely, is a lock until :data:`INDEFINITELY`);
* SSE-KMS (``?kms=`` names the key, else the bucket's default key);
* a SHA-256 checksum (Object Lock writes must carry an integrity checksum);
* ``If-None-Match: *``, so an existing key is never overwritten.

S3 refuses a retain-until instant that has already passed: an object whose date has come (an old
message on a short schedule) is written without a lock, as it is already due for disposition.
Its date is kept in the object's metadata (and, when extended to another past date, in an
object tag), so :meth:`S3Store.retention` still reports the exact date. The effective date is
the latest of the lock, that metadata and that tag, so neither can shorten the lock.

Object Lock buckets are versioned: :meth:`S3Store.delete` removes every version of the key, so
the ciphertext is really gone (a plain delete would only add a delete marker).

Other S3 implementations: Ceph RGW 16.2 ignores ``If-None-Match``, so ``put`` also looks
(HeadObject) before it writes, unless the URL says ``if-none-match=enforced``: then the service's
412 is the only guard, and :meth:`S3Store.check` (run by ``archiver init``) refuses the setting
where a second write of its probe object is not refused (AWS S3 and moto refuse it; no
delete marker ever hides an archive object, so the current version is what S3 checks). RGW
16.2 and moto drop the lock given to CreateMultipartUpload, so a multipart object is locked
again once complete; RGW 16.2 needs ``?kms=`` (it has no default
SSE-KMS key) and does not check SHA-256 checksums. Retention is read with one HEAD request,
which carries lock, legal hold and metadata (moto 5.2 lacks GetObjectRetention).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from functools import partial, reduce
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from archiver.errors import (
    ConfigError,
    ObjectExistsError,
    ObjectNotFoundError,
    RetentionError,
    StoreAccessError,
    StoreError,
    UsageError,
)
from archiver.storage.store.base import Retention, later, validate_key, write_all
from archiver.storage.store.s3_location import LOCK_MODES, S3Location

# The lock date that stands for "indefinitely" (and every requested date on or after it). It
# must stay below 2106-02-07: Ceph RGW 16.2 keeps retain-until in 32-bit seconds, and a lock
# until 2200-01-01 reads back as 2063-11-24, a shortened retention.
INDEFINITELY = date(2100, 1, 1)
# Objects above this size go up in parts; module constants so tests can make them small.
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
# Object metadata and tag holding the requested retain-until ("indefinite" or an ISO date).
RETAIN_UNTIL_FIELD = "retain-until"
_INDEFINITE_TEXT = "indefinite"
# A lock must end safely after the request reaches S3; a date closer than this is already due.
_LOCK_MARGIN = timedelta(minutes=5)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_LOCK_CONFIG = {"ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                    "InvalidClientTokenId", "UnrecognizedClientException"}
# The one object the store writes for itself: ``check`` writes it twice to see the second refused.
# It is no archive object, so ``list`` leaves it out.
PROBE_KEY = "probe/if-none-match"
_REFUSED_AS_EXISTING = {"PreconditionFailed", "412", "ConditionalRequestConflict"}
_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=32)


class S3Store:
    """Object store in an S3 bucket with Object Lock (see the module docstring)."""

    write_workers = 8  # requests in flight at once: each one mostly waits on the network

    def __init__(self, url: str, client: Any = None) -> None:
        """Open the store named by ``url``; ``client`` replaces the boto3 S3 client (tests)."""
        self.location = S3Location.parse(url)
        self.bucket = self.location.bucket
        self.prefix = self.location.prefix
        self.lock_mode = self.location.lock_mode
        # boto3 reads credentials, region and AWS_ENDPOINT_URL from the environment; a client is
        # thread-safe, so put_many shares this one.
        self.client = client if client is not None else boto3.session.Session().client("s3", config=_CLIENT_CONFIG)

    def __repr__(self) -> str:
        return f"S3Store(s3://{self.bucket}/{self.prefix})"

    # -- writing -----------------------------------------------------------------------------

    def put(self, key: str, data: bytes, retain_until: date | None, legal_hold: bool = False) -> None:
        """Write ``data`` under a new key with its lock (and its legal hold when ``legal_hold``, set by
        the PUT itself); ``ObjectExistsError`` if the key is taken."""
        name = self._name(key)
        # If-None-Match is the guard on AWS, but Ceph RGW 16.2 ignores it (and writes a second
        # version): unless the URL says the service enforces it, look first so that a plain retry
        # is refused everywhere.
        if not self.location.if_none_match_enforced and self.exists(key):
            raise ObjectExistsError(f"object {key} already exists")
        args = self._write_args(retain_until, legal_hold)
        with self._errors(f"write object {key}", key=key):
            try:
                if len(data) > MULTIPART_THRESHOLD:
                    self._put_multipart(name, data, args)
                else:
                    self.client.put_object(Bucket=self.bucket, Key=name, Body=data, ChecksumAlgorithm="SHA256",
                                           IfNoneMatch="*", **args)
            except ClientError as exc:
                if _code(exc) == "ConditionalRequestConflict":
                    raise StoreError(f"object {key}: another write of the same key is in progress; retry") from None
                if _code(exc) in _REFUSED_AS_EXISTING:
                    raise ObjectExistsError(f"object {key} already exists") from None
                raise

    def put_many(self, items: Iterable[tuple[str, bytes, date | None]], workers: int | None = None,
                 legal_hold: bool = False) -> None:
        """:meth:`put` each ``(key, data, retain_until)`` with ``legal_hold``, at most ``workers``
        (``write_workers`` by default) at a time.

        Items are taken from ``items`` only as slots free up, so a generator of large objects is
        never held in memory all at once. After the first failure no new item is started; the
        ones in flight finish, then that first error is raised.
        """
        workers = self.write_workers if workers is None else workers
        if workers < 1:
            raise UsageError("put_many needs at least one worker")
        write = partial(self.put, legal_hold=True) if legal_hold else self.put
        write_all(lambda item: write(*item), items, workers, "s3-put")

    def _write_args(self, retain_until: date | None, legal_hold: bool = False) -> dict[str, Any]:
        """Lock, legal hold, encryption and metadata arguments shared by PutObject and CreateMultipartUpload."""
        args = {**self._encryption(), "Metadata": {RETAIN_UNTIL_FIELD: _date_text(retain_until)}}
        if legal_hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
        until = _lock_instant(retain_until)
        if until is not None:
            args["ObjectLockMode"] = self.lock_mode
            args["ObjectLockRetainUntilDate"] = until
        return args

    def _encryption(self) -> dict[str, Any]:
        """SSE-KMS under the URL's key (else the bucket's default key), for every object written."""
        if self.location.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.location.kms_key_id}
        return {"ServerSideEncryption": "aws:kms"}

    def _put_multipart(self, name: str, data: bytes, args: dict[str, Any]) -> None:
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=name, ChecksumAlgorithm="SHA256", **args)
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, offset in enumerate(range(0, len(data), PART_SIZE), start=1):
                answer = self.client.upload_part(Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number,
                                                 Body=data[offset:offset + PART_SIZE], ChecksumAlgorithm="SHA256")
                part = {"PartNumber": number, "ETag": answer["ETag"]}
                if answer.get("ChecksumSHA256"):  # S3 requires it back; RGW 16.2 computes none
                    part["ChecksumSHA256"] = answer["ChecksumSHA256"]
                parts.append(part)
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id, IfNoneMatch="*",
                                                  MultipartUpload={"Parts": parts})
        except BaseException:
            # Parts of an unfinished upload are billed and invisible: never leave them behind.
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            except (ClientError, BotoCoreError):
                pass  # discard_incomplete() removes it later; the upload's own error matters more
            raise
        # Ceph RGW 16.2 (and moto) complete the upload without the lock and legal hold given to
        # CreateMultipartUpload: set them on the finished object explicitly where they are missing.
        head = self.client.head_object(Bucket=self.bucket, Key=name)
        until = args.get("ObjectLockRetainUntilDate")
        lock = head.get("ObjectLockRetainUntilDate")
        if until is not None and (lock is None or lock < until):
            self.client.put_object_retention(Bucket=self.bucket, Key=name,
                                             Retention={"Mode": self.lock_mode, "RetainUntilDate": until})
        if "ObjectLockLegalHoldStatus" in args and head.get("ObjectLockLegalHoldStatus") != "ON":
            self.client.put_object_legal_hold(Bucket=self.bucket, Key=name, LegalHold={"Status": "ON"})

    # -- reading -----------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        """The whole object; ``ObjectNotFoundError`` if absent."""
        name = self._name(key)
        with self._errors(f"read object {key}", key=key):
            body: bytes = self.client.get_object(Bucket=self.bucket, Key=name)["Body"].read()
        return body

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` (fewer at the end of the object, none past it)."""
        name = self._name(key)
        if offset < 0 or length < 0:
            raise StoreError(f"object {key}: invalid range {offset}+{length}")
        if length == 0:
            self._head(key)  # still ObjectNotFoundError for a missing object
            return b""
        with self._errors(f"read object {key}", key=key):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=name,
                                                Range=f"bytes={offset}-{offset + length - 1}")
            except ClientError as exc:
                if _code(exc) == "InvalidRange":  # the offset is at or past the end
                    return b""
                raise
            body: bytes = answer["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        """Whether the key holds an object (its latest version is not a delete marker)."""
        try:
            self._head(key)
        except ObjectNotFoundError:
            return False
        return True

    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under the store's prefix that start with ``prefix``, sorted, without the store prefix."""
        keys: builtins.list[str] = []
        with self._errors("list objects"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                          Prefix=self.prefix + prefix)
            for page in pages:
                keys.extend(item["Key"][len(self.prefix):] for item in page.get("Contents", []))
        return iter(sorted(key for key in keys if key != PROBE_KEY))

    # -- retention ---------------------------------------------------------------------------

    def retention(self, key: str) -> Retention:
        """Retain-until and legal hold of the object (latest of lock, metadata and tag dates)."""
        return self._retention(key, self._head(key))

    def extend_retention(self, key: str, retain_until: date | None) -> None:
        """Move retain-until later (``None`` = indefinitely); never earlier."""
        head = self._head(key)
        current = self._retention(key, head)
        target = later(current.retain_until, retain_until)
        if target == current.retain_until:
            return
        until = _lock_instant(target)
        if until is None:
            # Already due under the new date as well: S3 cannot lock until a past instant.
            self._set_tag(key, _date_text(target))
            return
        # Keep the object's own mode: S3 refuses to turn COMPLIANCE into GOVERNANCE.
        mode = head.get("ObjectLockMode") if head.get("ObjectLockMode") in LOCK_MODES else self.lock_mode
        with self._errors(f"extend the retention of object {key}", key=key):
            self.client.put_object_retention(Bucket=self.bucket, Key=self._name(key),
                                             Retention={"Mode": mode, "RetainUntilDate": until})

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Place (``on``) or lift the object's S3 legal hold."""
        self._head(key)  # ObjectNotFoundError rather than an S3 error for a missing object
        with self._errors(f"set the legal hold of object {key}", key=key):
            self.client.put_object_legal_hold(Bucket=self.bucket, Key=self._name(key),
                                              LegalHold={"Status": "ON" if on else "OFF"})

    def delete(self, key: str, today: date) -> None:
        """Delete every version of an object whose retention has passed; ``RetentionError`` otherwise."""
        retention = self.retention(key)
        if not retention.allows_delete(today):
            until = retention.retain_until.isoformat() if retention.retain_until else "indefinitely"
            hold = " and is under legal hold" if retention.legal_hold else ""
            raise RetentionError(f"object {key} is retained until {until}{hold}; delete refused")
        name = self._name(key)
        with self._errors(f"delete object {key}", key=key):
            versions: builtins.list[dict[str, Any]] = []
            markers: builtins.list[dict[str, Any]] = []
            pages = self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=name)
            for page in pages:
                versions.extend(v for v in page.get("Versions", []) if v["Key"] == name)
                markers.extend(m for m in page.get("DeleteMarkers", []) if m["Key"] == name)
            # Older versions first, the readable one last: if S3 refuses one (a version locked
            # longer), the object is still there to read and to try again.
            versions.sort(key=lambda v: bool(v.get("IsLatest")))
            for version in [*versions, *markers]:
                try:
                    self.client.delete_object(Bucket=self.bucket, Key=name, VersionId=version["VersionId"])
                except ClientError as exc:
                    if _code(exc) == "AccessDenied":
                        raise RetentionError(f"object {key}: S3 refused the delete (its Object Lock retention or legal "
                                             "hold is still in force, or s3:DeleteObjectVersion is not allowed)"
                                             ) from None
                    raise

    def discard_incomplete(self) -> None:
        """Abort multipart uploads under the store's prefix that never completed (ciphertext only)."""
        with self._errors("discard incomplete uploads"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                                 Prefix=self.prefix)
            for page in pages:
                for upload in page.get("Uploads", []):
                    try:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                           UploadId=upload["UploadId"])
                    except ClientError as exc:
                        if _code(exc) != "NoSuchUpload":  # finished or aborted meanwhile
                            raise

    # -- the bucket --------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse (``ConfigError``) a bucket that is missing, unversioned or without Object Lock."""
        bucket = self.bucket
        with self._errors(f"check bucket {bucket}"):
            try:
                self.client.head_bucket(Bucket=bucket)
            except ClientError as exc:
                if _code(exc) in ("404", "NoSuchBucket", "NotFound"):
                    raise ConfigError(f"bucket {bucket} does not exist: create it with Object Lock enabled "
                                      "(the serverless deployment does)") from None
                raise
            try:
                lock = self.client.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
            except ClientError as exc:
                if _code(exc) not in _NO_LOCK_CONFIG:
                    raise
                lock = {}
            if lock.get("ObjectLockEnabled") != "Enabled":
                raise ConfigError(f"bucket {bucket} has no Object Lock, so records in it could be deleted or "
                                  "overwritten before their retention ends: create the bucket with Object Lock "
                                  "enabled (it cannot be switched off again), or enable it on this versioned "
                                  "bucket where the S3 service allows that")
            status = self.client.get_bucket_versioning(Bucket=bucket).get("Status")
            if status != "Enabled":
                raise ConfigError(f"bucket {bucket} has versioning {(status or 'never enabled').lower()}: "
                                  "an Object Lock bucket must keep versioning enabled")
        if self.location.if_none_match_enforced:
            self._check_if_none_match()

    def _check_if_none_match(self) -> None:
        """Refuse ``if-none-match=enforced`` where the service accepts a second write of one key."""
        with self._errors("check that the bucket refuses overwrites", key=PROBE_KEY):
            for _ in range(2):  # the first write may be the probe's first; the second must be refused
                try:
                    self.client.put_object(Bucket=self.bucket, Key=self._name(PROBE_KEY), Body=b"", IfNoneMatch="*",
                                           ChecksumAlgorithm="SHA256", **self._encryption())
                except ClientError as exc:
                    if _code(exc) in _REFUSED_AS_EXISTING:
                        return
                    raise
        raise ConfigError(f"bucket {self.bucket}: the S3 service wrote {self.prefix}{PROBE_KEY} a second time "
                          "despite If-None-Match, so it does not refuse overwrites by itself: leave "
                          "if-none-match=enforced out of the store URL (the store then looks before each write)")

    # -- helpers -----------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _head(self, key: str) -> dict[str, Any]:
        name = self._name(key)
        with self._errors(f"read object {key}", key=key):
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=name)
        return head

    def _retention(self, key: str, head: dict[str, Any]) -> Retention:
        # One HEAD carries lock, legal hold and metadata (GetObjectRetention is missing from
        # moto 5.2). Without s3:GetObjectRetention S3 leaves the lock headers out, but it
        # still enforces the lock on delete, so a date read too early cannot destroy anything.
        dates: builtins.list[date | None] = []
        lock = head.get("ObjectLockRetainUntilDate")
        if isinstance(lock, datetime):
            dates.append(_date_of_lock(lock))
        marked = head.get("Metadata", {}).get(RETAIN_UNTIL_FIELD)
        if marked is not None:
            dates.append(_parse_date_text(marked))
        if head.get("TagCount"):
            tagged = self._tags(key).get(RETAIN_UNTIL_FIELD)
            if tagged is not None:
                dates.append(_parse_date_text(tagged))
        # No date at all (an object not written by this store): never deletable by the archiver.
        retain_until = reduce(later, dates) if dates else None
        return Retention(retain_until, head.get("ObjectLockLegalHoldStatus") == "ON")

    def _tags(self, key: str) -> dict[str, str]:
        with self._errors(f"read the tags of object {key}", key=key):
            tag_set = self.client.get_object_tagging(Bucket=self.bucket, Key=self._name(key))["TagSet"]
        return {tag["Key"]: tag["Value"] for tag in tag_set}

    def _set_tag(self, key: str, value: str) -> None:
        tags = {**self._tags(key), RETAIN_UNTIL_FIELD: value}  # PutObjectTagging replaces the whole set
        with self._errors(f"tag object {key}", key=key):
            self.client.put_object_tagging(Bucket=self.bucket, Key=self._name(key),
                                           Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})

    @contextmanager
    def _errors(self, action: str, key: str | None = None) -> Iterator[None]:
        """Turn botocore's exceptions into ``StoreError``s that say what failed and why."""
        try:
            yield
        except ClientError as exc:
            raise self._client_error(exc, action, key) from None
        except NoCredentialsError:
            raise StoreAccessError(f"cannot {action} in s3://{self.bucket}: no AWS credentials found (set "
                                   "AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run with an "
                                   "IAM role)") from None
        except EndpointConnectionError as exc:
            raise StoreAccessError(f"cannot {action} in s3://{self.bucket}: cannot reach the S3 endpoint "
                                   f"{exc.kwargs.get('endpoint_url', '')}") from None
        except BotoCoreError as exc:
            raise StoreError(f"cannot {action} in s3://{self.bucket}: {exc}") from None

    def _client_error(self, exc: ClientError, action: str, key: str | None) -> StoreError:
        code = _code(exc)
        message = exc.response.get("Error", {}).get("Message") or code
        if code == "NoSuchBucket":
            return StoreAccessError(f"cannot {action}: bucket {self.bucket} does not exist")
        if key is not None and code in _NOT_FOUND:
            return ObjectNotFoundError(f"object {key} not found")
        if code in _BAD_CREDENTIALS:
            return StoreAccessError(f"cannot {action} in s3://{self.bucket}: the AWS credentials were rejected "
                                    f"({message})")
        if code in ("AccessDenied", "403", "Forbidden"):
            # A HEAD answer has no body, so rejected credentials look the same as a policy refusal.
            return StoreAccessError(f"cannot {action} in s3://{self.bucket}: access denied ({message}); check the AWS "
                              "credentials and what the bucket policy allows")
        return StoreError(f"cannot {action} in s3://{self.bucket}: {code}: {message}")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _lock_instant(retain_until: date | None) -> datetime | None:
    """The Object Lock retain-until instant for a date, or None when that instant has passed."""
    lock_date = INDEFINITELY if retain_until is None or retain_until >= INDEFINITELY else retain_until
    instant = datetime.combine(lock_date, time(0), tzinfo=UTC)
    return instant if instant > datetime.now(UTC) + _LOCK_MARGIN else None


def _date_of_lock(until: datetime) -> date | None:
    """The first whole UTC day a lock no longer covers (None for the indefinite lock)."""
    until = until.astimezone(UTC)
    day = until.date() if until.time() == time(0) else until.date() + timedelta(days=1)
    return None if day >= INDEFINITELY else day


def _date_text(retain_until: date | None) -> str:
    return _INDEFINITE_TEXT if retain_until is None else retain_until.isoformat()


def _parse_date_text(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None  # "indefinite", or damaged: a damaged date must never make an object deletable
    return None if day >= INDEFINITELY else day

