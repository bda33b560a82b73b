"""Key providers, chosen by the key URL's scheme: they wrap per-object data keys and derive
the archive's keyed-hash keys.

The local provider keeps one 256-bit master secret in a key file (mode 0600) created by
``archiver init``. Sub-keys are derived with HKDF so the id key, the blind-index key and the
key-wrapping key are independent: knowing one reveals nothing about the others. The KMS
provider (``archiver.storage.keys.kms``) derives its sub-keys the same way from a secret that KMS
keeps wrapped.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from archiver.errors import UsageError
from archiver.storage.keys.base import (
    DATA_KEY_SIZE,
    NONCE_SIZE,
    PURPOSE_AUDIT,
    PURPOSE_BLIND_INDEX,
    PURPOSE_MESSAGE_ID,
    PURPOSE_NAMES,
    PURPOSE_WRAP,
    KeyProvider,
    derive_subkey,
)
from archiver.storage.keys.local import KEY_FILE_FORMAT, KEY_FILE_MAX_BYTES, LocalKeyProvider, local_key_path

if TYPE_CHECKING:
    from archiver.storage.store.base import ObjectStore

__all__ = [
    "DATA_KEY_SIZE", "KEY_FILE_FORMAT", "KEY_FILE_MAX_BYTES", "NONCE_SIZE", "PURPOSE_AUDIT", "PURPOSE_BLIND_INDEX",
    "PURPOSE_MESSAGE_ID", "PURPOSE_NAMES", "PURPOSE_WRAP", "KeyProvider", "LocalKeyProvider", "derive_subkey",
    "is_kms_url", "local_key_path", "open_key_provider",
]


def is_kms_url(url: str) -> bool:
    """True for a ``kms://`` key URL (an AWS KMS key id, ARN or alias)."""
    return url.startswith("kms://")


def open_key_provider(url: str, base_dir: Path, store: ObjectStore | None) -> KeyProvider:
    """The key provider named by ``ARCHIVER_KEY``: ``file://PATH`` or ``kms://KEY``.

    ``store`` is the archive's object store: a KMS archive keeps its wrapped derivation root
    there (a key file needs none).
    """
    path = local_key_path(url, base_dir)
    if path is not None:
        return LocalKeyProvider.load(path)
    if is_kms_url(url):
        # Imported here so that archives on a key file never import boto3.
        from archiver.storage.keys.kms import KmsKeyProvider

        if store is None:
            raise UsageError(f"{url}: a KMS key needs the archive's store, where its derivation root is kept")
        return KmsKeyProvider.open(url, store)
    raise UsageError(f"unsupported key provider {url!r}; use file://PATH or kms://KEY-ID, kms://alias/NAME "
                     "or kms://KEY-ARN")
