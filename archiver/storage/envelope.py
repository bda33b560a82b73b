"""Envelope encryption of one object: AES-256-GCM under its own data key.

Layout (all integers big-endian)::

    b"ARCV" | version u8 | len(key_id) u8 | key_id | len(wrapped) u16 | wrapped key | nonce(12)
    | ciphertext+tag

The associated data is the whole header followed by the object id, so an envelope opened
under another id fails: objects cannot be swapped, and the key provider binds the wrapped
data key to the same id.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from archiver.errors import IntegrityError, KeyProviderError
from archiver.storage.keys import NONCE_SIZE, KeyProvider

MAGIC = b"ARCV"
VERSION = 1


def seal(keys: KeyProvider, object_id: str, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` as the object ``object_id``."""
    context = object_id.encode()
    data_key, wrapped = keys.new_data_key(context)
    key_id = keys.key_id.encode()
    nonce = os.urandom(NONCE_SIZE)
    header = b"".join((MAGIC, bytes((VERSION, len(key_id))), key_id,
                       struct.pack(">H", len(wrapped)), wrapped, nonce))
    return header + AESGCM(data_key).encrypt(nonce, plaintext, header + context)


def open_sealed(keys: KeyProvider, object_id: str, envelope: bytes) -> bytes:
    """Decrypt an envelope made by ``seal`` for the same ``object_id``."""
    header, wrapped, nonce = _split_header(object_id, envelope)
    context = object_id.encode()
    try:
        data_key = keys.unwrap(wrapped, context)
        return AESGCM(data_key).decrypt(nonce, envelope[len(header):], header + context)
    except (InvalidTag, KeyProviderError):
        raise IntegrityError(f"object {object_id}: envelope fails authentication "
                             "(tampered, truncated, or stored under another id)") from None


def _split_header(object_id: str, envelope: bytes) -> tuple[bytes, bytes, bytes]:
    try:
        if envelope[:4] != MAGIC or envelope[4] != VERSION:
            raise ValueError("unknown magic or version")
        key_id_end = 6 + envelope[5]
        (wrapped_len,) = struct.unpack_from(">H", envelope, key_id_end)
        wrapped_end = key_id_end + 2 + wrapped_len
        header_end = wrapped_end + NONCE_SIZE
        if header_end + 16 > len(envelope):
            raise ValueError("truncated")
    except (ValueError, IndexError, struct.error) as exc:
        raise IntegrityError(f"object {object_id}: not a readable envelope ({exc})") from None
    return envelope[:header_end], envelope[key_id_end + 2:wrapped_end], envelope[wrapped_end:header_end]
