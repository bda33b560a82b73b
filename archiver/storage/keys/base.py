"""What every key provider shares: the provider protocol, derived-key purposes and HKDF."""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_SIZE = 12
DATA_KEY_SIZE = 32

# Purposes for derived keys; changing one changes every id or index token made with it.
PURPOSE_WRAP = "wrap-data-keys"
PURPOSE_MESSAGE_ID = "message-id"
PURPOSE_BLIND_INDEX = "blind-index"
PURPOSE_NAMES = "object-names"
PURPOSE_AUDIT = "audit-chain"  # links the audit chain and digests the rows it vouches for


class KeyProvider(Protocol):
    """Wraps and unwraps data keys; derives secret keys for keyed hashes."""

    key_id: str

    def new_data_key(self, context: bytes) -> tuple[bytes, bytes]:
        """A fresh data key and its wrapped form, bound to ``context`` (the object id)."""
        ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """The data key inside ``wrapped``; fails if ``context`` differs from wrapping time."""
        ...

    def derive(self, purpose: str) -> bytes:
        """A 32-byte secret for one purpose (message ids, blind index, object names)."""
        ...


def derive_subkey(secret: bytes, purpose: str) -> bytes:
    """The 32-byte HKDF-SHA256 sub-key of ``secret`` for one purpose (shared by every provider)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"archiver-v1", info=purpose.encode())
    return hkdf.derive(secret)


