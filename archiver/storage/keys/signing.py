"""The export-signing key: it signs case packages so a court can tie a bag to this archive.

Local archives keep an Ed25519 private key in a PEM file (mode 0600) next to the master key
file, made by ``archiver init``; archives on KMS an ECDSA P-256 key in KMS
(``archiver.storage.keys.kms.KmsSigner``). The public key's fingerprint is the SHA-256 of its DER
SubjectPublicKeyInfo, so anyone can recompute it with openssl.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archiver.errors import KeyProviderError, UsageError
from archiver.storage.keys import is_kms_url
from archiver.storage.keys.local import local_key_path, read_key_file

if TYPE_CHECKING:
    from archiver.storage.store.base import ObjectStore

ED25519 = "Ed25519"
ECDSA_P256 = "ECDSA-P256-SHA256"  # the KMS signer (archiver.storage.keys.kms)
SIGNING_KEY_SUFFIX = "-export-signing.pem"


class ExportSigner(Protocol):
    """Signs a case package's tag manifest; names its algorithm and shows its public key."""

    algorithm: str

    def public_key_pem(self) -> bytes:
        """The public key, PEM SubjectPublicKeyInfo."""
        ...

    def sign(self, data: bytes) -> bytes:
        """A detached signature over ``data``."""
        ...


def fingerprint(public_pem: bytes) -> str:
    """``sha256:`` + hex SHA-256 of the public key's DER form (``openssl pkey -pubin -outform DER``)."""
    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def signing_key_path(key_file: Path) -> Path:
    """Where the export-signing key of the archive whose master key is ``key_file`` lives."""
    return key_file.with_name(key_file.stem + SIGNING_KEY_SUFFIX)


class LocalSigner:
    """An Ed25519 export-signing key held in a PEM file."""

    algorithm = ED25519

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def create(cls, path: Path) -> LocalSigner:
        """Write a new key file (refusing to replace one) readable by its owner only."""
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise UsageError(f"{path}: an export-signing key already exists; refusing to replace it") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        return cls(key)

    @classmethod
    def load(cls, path: Path) -> LocalSigner:
        """Read the key file, refusing one other users can read or that holds no Ed25519 key."""
        mode, text = read_key_file(path)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyProviderError(f"{path}: export-signing key is accessible to other users "
                                   f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
        try:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyProviderError(f"{path}: not an Ed25519 export-signing key (PEM, PKCS#8)")
        return cls(key)

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def open_signer(key_url: str, base_dir: Path, store: ObjectStore) -> ExportSigner:
    """The export-signing key of the archive whose master key is ``key_url`` (a file beside the
    key file, or a KMS key named in ``store``)."""
    if is_kms_url(key_url):
        from archiver.storage.keys.kms import KmsSigner  # archives on a key file never import boto3

        return KmsSigner.open(key_url, store)
    key_file = local_key_path(key_url, base_dir)
    if key_file is None:
        raise UsageError(f"unsupported key provider {key_url!r}; use file://PATH or kms://KEY")
    path = signing_key_path(key_file)
    if not path.exists():
        raise UsageError(f"{path}: no export-signing key; run 'archiver init' again to create it (audited)")
    return LocalSigner.load(path)


def ensure_signing_key(key_url: str, base_dir: Path, store: ObjectStore) -> str | None:
    """Create the archive's export-signing key if it is missing: its fingerprint when made now,
    None when it already existed."""
    if is_kms_url(key_url):
        from archiver.storage.keys.kms import SIGNING_KEY, KmsSigner

        return None if store.exists(SIGNING_KEY) else fingerprint(KmsSigner.create(key_url, store).public_key_pem())
    key_file = local_key_path(key_url, base_dir)
    if key_file is None or signing_key_path(key_file).exists():
        return None
    return fingerprint(LocalSigner.create(signing_key_path(key_file)).public_key_pem())
