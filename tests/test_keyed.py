"""Keyed hashes and the blind index: stable, keyed, and folding case and accents."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from archiver.core.terms import normalize_words, word_terms
from archiver.storage.keyed import BlindIndex, KeyedHash


def test_words_fold_case_and_accents() -> None:
    assert normalize_words("¿Autorizas la liberación? SÍ") == ["autorizas", "la", "liberacion", "si"]
    assert normalize_words("Release TRUCK 4") == ["release", "truck", "4"]


@pytest.mark.parametrize("key_size", [0, 1, 32, 63, 64, 65, 200])
def test_a_keyed_hash_is_hmac_sha256(key_size: int) -> None:
    # Ids and tokens already in archives were made by hmac.new: the same bytes, whatever the key's length.
    key = bytes(range(256))[:key_size] * (1 + key_size // 256)
    keyed = KeyedHash(key)
    for data in (b"", b"ok", bytes(range(256)) * 9):
        assert keyed.digest(data) == hmac.new(key, data, hashlib.sha256).digest()
    assert keyed.hex(b"ok") == hmac.new(key, b"ok", hashlib.sha256).hexdigest()[:32]


def test_tokens_are_keyed_distinct_and_stable() -> None:
    index = BlindIndex(KeyedHash(b"k" * 32))
    other = BlindIndex(KeyedHash(b"j" * 32))
    assert index.tokens(word_terms("Lookout lookout LOOKOUT")) == index.tokens(word_terms("lookout"))
    assert len(index.tokens(word_terms("lookout"))[0]) == 16
    assert index.tokens(word_terms("lookout")) != other.tokens(word_terms("lookout"))
    assert index.tokens(word_terms("vehículos")) == index.tokens(word_terms("VEHICULOS"))
    assert "lookout" not in "".join(index.tokens(word_terms("lookout")))


def test_cache_does_not_change_results() -> None:
    cached, uncached = BlindIndex(KeyedHash(b"k" * 32)), BlindIndex(KeyedHash(b"k" * 32), cache_size=0)
    words = "release the truck at gate three release".split()
    assert [cached.tokens(word_terms(w)) for w in words] == [uncached.tokens(word_terms(w)) for w in words]


def test_words_hash_as_the_body_words_index_did() -> None:
    index = BlindIndex(KeyedHash(b"k" * 32))
    assert index.tokens(word_terms("Lookout")) == [KeyedHash(b"k" * 32).hex(b"lookout", 16)]
    assert index.token("n:1234") != index.token("w:1234") == KeyedHash(b"k" * 32).hex(b"1234", 16)
