"""Keyed hashes and the blind index: stable, keyed, and folding case and accents."""

from __future__ import annotations

from archiver.core.terms import normalize_words, word_terms
from archiver.storage.keyed import BlindIndex, KeyedHash


def test_words_fold_case_and_accents() -> None:
    assert normalize_words("¿Autorizas la liberación? SÍ") == ["autorizas", "la", "liberacion", "si"]
    assert normalize_words("Release TRUCK 4") == ["release", "truck", "4"]


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
