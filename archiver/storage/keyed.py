"""Keyed hashes: message ids, content hashes, object names and blind-index tokens.

Keyed (HMAC-SHA256) rather than plain hashes so that whoever holds the store or the catalog
cannot confirm a guessed message ("ok", a phone number) by hashing it themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from archiver.core.terms import WORD_PREFIX

TOKEN_HEX_CHARS = 16  # 64 bits: collisions among a message's words are negligible
_BLOCK = 64  # SHA-256's block size, which HMAC pads its key to
_INNER_PAD, _OUTER_PAD = bytes(b ^ 0x36 for b in range(256)), bytes(b ^ 0x5C for b in range(256))


class KeyedHash:
    """HMAC-SHA256 (RFC 2104) under one derived key. The inner and outer hashes, keyed once, are
    copied for each message: 1.0 µs a hash against 1.7 µs for copying an ``hmac`` object, and an
    ingest makes several a message (ids, fingerprint, copy references, new index terms)."""

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        block = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(block.translate(_INNER_PAD))
        self._outer = hashlib.sha256(block.translate(_OUTER_PAD))

    def digest(self, data: bytes) -> bytes:
        inner, outer = self._inner.copy(), self._outer.copy()
        inner.update(data)
        outer.update(inner.digest())
        return outer.digest()

    def hex(self, data: bytes, chars: int = 32) -> str:
        return self.digest(data).hex()[:chars]


class BlindIndex:
    """Turns search terms (``archiver.core.terms``) into blind-index tokens: one keyed hash per term.

    A chat's vocabulary is small and repeats, so tokens are memoized (in memory only) up to
    ``cache_size`` terms.
    """

    def __init__(self, key: KeyedHash, cache_size: int = 100_000) -> None:
        self._key = key
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    def tokens(self, terms: Iterable[str]) -> list[str]:
        """The token of each term, in order (``index_terms`` already made them distinct and bounded)."""
        if isinstance(terms, str):
            raise TypeError("BlindIndex.tokens takes terms (archiver.core.terms), not text")
        return [self.token(term) for term in terms]

    def token(self, term: str) -> str:
        """The keyed hash of one term."""
        token = self._cache.get(term)
        if token is None:
            # A word is hashed bare, as the body-words index (version 1) hashed it, so an archive not yet
            # reindexed still answers word searches; no other term can be bare (each has a colon).
            plain = term[len(WORD_PREFIX):] if term.startswith(WORD_PREFIX) else term
            token = self._key.hex(plain.encode(), TOKEN_HEX_CHARS)
            if len(self._cache) < self._cache_size:
                self._cache[term] = token
        return token
