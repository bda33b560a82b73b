"""Keyed hashes: message ids, content hashes, object names and blind-index tokens.

Keyed (HMAC-SHA256) rather than plain hashes so that whoever holds the store or the catalog
cannot confirm a guessed message ("ok", a phone number) by hashing it themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TOKENS_PER_MESSAGE = 512
TOKEN_HEX_CHARS = 16  # 64 bits: collisions among a message's words are negligible


class KeyedHash:
    """HMAC-SHA256 under one derived key; the keyed state is prepared once and copied."""

    def __init__(self, key: bytes) -> None:
        self._template = hmac.new(key, digestmod=hashlib.sha256)

    def digest(self, data: bytes) -> bytes:
        mac = self._template.copy()
        mac.update(data)
        return mac.digest()

    def hex(self, data: bytes, chars: int = 32) -> str:
        return self.digest(data).hex()[:chars]


def normalize_words(text: str) -> list[str]:
    """Words folded for search: case-folded, accents removed ("Sí" and "si" match)."""
    if text.isascii():
        return _WORD.findall(text.lower())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WORD.findall(plain)


class BlindIndex:
    """Turns text into blind-index tokens: one keyed hash per distinct normalized word.

    A chat's vocabulary is small and repeats, so tokens are memoized (in memory only) up to
    ``cache_size`` words.
    """

    def __init__(self, key: KeyedHash, cache_size: int = 200_000) -> None:
        self._key = key
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    def tokens(self, text: str) -> list[str]:
        words = list(dict.fromkeys(normalize_words(text)))[:MAX_TOKENS_PER_MESSAGE]
        return [self._token(word) for word in words]

    def _token(self, word: str) -> str:
        token = self._cache.get(word)
        if token is None:
            token = self._key.hex(word.encode(), TOKEN_HEX_CHARS)
            if len(self._cache) < self._cache_size:
                self._cache[word] = token
        return token
