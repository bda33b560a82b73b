"""The parsed ``s3://bucket/prefix?option=...`` URL of an S3 store (see ``archiver.storage.store.s3``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from archiver.errors import ConfigError, StoreError
from archiver.storage.store.base import validate_key

LOCK_MODES = ("COMPLIANCE", "GOVERNANCE")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class S3Location:
    """A parsed ``s3://`` store URL."""

    bucket: str
    prefix: str  # "" or ending in "/"
    lock_mode: str
    kms_key_id: str | None
    if_none_match_enforced: bool = False  # the service refuses a write of an existing key by itself

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """Parse ``s3://bucket/prefix?lock=...&kms=...&if-none-match=enforced``; ``ConfigError`` names what
        is wrong."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ConfigError(f"object store {url!r}: expected s3://bucket/prefix")
        if not _BUCKET.match(parts.netloc) or ".." in parts.netloc:
            raise ConfigError(f"object store {url!r}: {parts.netloc!r} is not a valid S3 bucket name")
        prefix = parts.path.strip("/")
        if prefix:
            try:
                validate_key(prefix)
            except StoreError:
                raise ConfigError(f"object store {url!r}: prefix {prefix!r} may hold only lower-case letters, "
                                  "digits and . _ - between slashes") from None
            prefix += "/"
        options = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(options) - {"lock", "kms", "if-none-match"})
        if unknown:
            raise ConfigError(f"object store {url!r}: unknown option {unknown[0]!r} (known: lock, kms, if-none-match)")
        if any(len(values) > 1 for values in options.values()):
            raise ConfigError(f"object store {url!r}: an option is given twice")
        lock_mode = options.get("lock", ["COMPLIANCE"])[0].upper()
        if lock_mode not in LOCK_MODES:
            raise ConfigError(f"object store {url!r}: lock must be COMPLIANCE or GOVERNANCE")
        kms = options.get("kms", [None])[0]
        if kms == "":
            raise ConfigError(f"object store {url!r}: kms= needs a KMS key id, ARN or alias")
        enforced = options.get("if-none-match", [None])[0]
        if enforced not in (None, "enforced"):
            raise ConfigError(f"object store {url!r}: if-none-match takes only 'enforced' (leave it out where the "
                              "S3 service ignores If-None-Match)")
        return cls(parts.netloc, prefix, lock_mode, kms, enforced is not None)
