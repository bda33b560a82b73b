"""The compact occurrence count behind message ids numbers exactly as a plain counter would."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archiver.core import identity
from archiver.core.identity import KEY_BYTES, Occurrences


@given(st.lists(st.sampled_from([bytes([n]) * KEY_BYTES for n in range(6)] + [b"\x01\x02" * 20, b"\x07"]),
                max_size=60))
def test_occurrence_numbers_are_those_of_a_plain_counter(hashes: list[bytes]) -> None:
    counted, plain = Occurrences(), Counter[str]()
    for digest in hashes:
        plain[digest.hex()] += 1
        assert counted.add(digest.hex()) == plain[digest.hex()]


def test_a_hash_spanning_two_stored_ones_is_not_taken_for_either(monkeypatch: pytest.MonkeyPatch) -> None:
    # One bucket for all, so the stored hashes lie side by side: the first half of the new one
    # is the second half of one stored hash, its second half the first half of the next.
    monkeypatch.setattr(identity, "BUCKETS", 1)
    half = KEY_BYTES // 2
    first, second = b"a" * half + b"b" * half, b"c" * half + b"d" * half
    spanning = b"b" * half + b"c" * half
    counted = Occurrences()
    assert [counted.add(h.hex()) for h in (first, second, spanning, spanning, first)] == [1, 1, 1, 2, 2]
