"""The local key provider: one 256-bit master secret in a key file (mode 0600) made by ``archiver init``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archiver.errors import KeyProviderError, UsageError
from archiver.storage.keys.base import DATA_KEY_SIZE, NONCE_SIZE, PURPOSE_WRAP, derive_subkey

KEY_FILE_FORMAT = "archiver-local-key"
KEY_FILE_MAX_BYTES = 4096  # a key file is about 150 bytes


class LocalKeyProvider:
    """Key provider backed by a local key file holding the master secret."""

    def __init__(self, master: bytes, key_id: str) -> None:
        if len(master) != 32:
            raise KeyProviderError("the master key must be 32 bytes")
        self.key_id = key_id
        self._master = master
        self._wrapper = AESGCM(self.derive(PURPOSE_WRAP))

    @classmethod
    def create(cls, path: Path) -> LocalKeyProvider:
        """Write a new key file (refusing to overwrite one) with owner-only permissions."""
        master = os.urandom(32)
        key_id = "local:" + hashlib.sha256(master).hexdigest()[:16]
        document = {"format": KEY_FILE_FORMAT, "version": 1, "key_id": key_id,
                    "master": base64.b64encode(master).decode()}
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise UsageError(f"{path}: a key file already exists; refusing to replace it") from None
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        return cls(master, key_id)

    @classmethod
    def load(cls, path: Path) -> LocalKeyProvider:
        """Read a key file, refusing one that other users can read, or that is not a key file."""
        mode, text = read_key_file(path)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyProviderError(
                f"{path}: key file is accessible to other users (mode {stat.S_IMODE(mode):04o}); "
                f"run: chmod 600 {path}")
        try:
            document = json.loads(text)
            if not isinstance(document, dict) or document.get("format") != KEY_FILE_FORMAT:
                raise ValueError("not an archiver key file")
            return cls(base64.b64decode(document["master"], validate=True), str(document["key_id"]))
        except (ValueError, KeyError, TypeError, RecursionError):
            # Never the parser's message: it would quote the file, and the file holds the secret.
            raise KeyProviderError(f"{path}: unreadable key file (not an archiver key file)") from None

    def new_data_key(self, context: bytes) -> tuple[bytes, bytes]:
        data_key = os.urandom(DATA_KEY_SIZE)
        nonce = os.urandom(NONCE_SIZE)
        return data_key, nonce + self._wrapper.encrypt(nonce, data_key, context)

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        try:
            return self._wrapper.decrypt(wrapped[:NONCE_SIZE], wrapped[NONCE_SIZE:], context)
        except (InvalidTag, ValueError):  # ValueError: too short to hold its nonce
            raise KeyProviderError("a wrapped data key does not open with this key file "
                                   "(wrong key, or the key was moved to another object)") from None

    def derive(self, purpose: str) -> bytes:
        return derive_subkey(self._master, purpose)


def read_key_file(path: Path) -> tuple[int, str]:
    """The mode and text of a key file; only a small regular file is read.

    Opened non-blocking and checked with fstat before any read: a FIFO or a device would
    otherwise block or never end.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        raise KeyProviderError(f"{path}: key file not found; run 'archiver init' first") from None
    except OSError as exc:
        raise KeyProviderError(f"{path}: cannot read key file: {exc.strerror}") from None
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise KeyProviderError(f"{path}: the key file is not a regular file")
        if status.st_size > KEY_FILE_MAX_BYTES:
            raise KeyProviderError(f"{path}: unreadable key file (larger than {KEY_FILE_MAX_BYTES} bytes)")
        data = os.read(fd, KEY_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise KeyProviderError(f"{path}: cannot read key file: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        return status.st_mode, data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyProviderError(f"{path}: unreadable key file (not UTF-8 text)") from None


def local_key_path(url: str, base_dir: Path) -> Path | None:
    """The key file a ``file://`` key URL names (relative to ``base_dir``), else None."""
    if not url.startswith("file://"):
        return None
    path = Path(url[len("file://"):])
    return path if path.is_absolute() else base_dir / path
