"""Tests for the text a pattern cannot match without (``archiver.core.literals``): what it
derives, and above all that ruling a pattern out never hides a match."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archiver.core.classify import load_rules, normalize, tokenize
from archiver.core.literals import Prefilter, required, substring_checks
from archiver.core.matching import TextIndex

# Patterns of every construct the analysis reads, and of some it must leave alone.
PATTERNS = [
    r"\bfoo\b", r"(?:ab|cd)+x", r"(?a)\bcafé\b", r"caf\W+é", r"x(?=yz)", r"(?<=q)r", r"(?i)hello", r"(?i:hi)there",
    r"a{0}b", r"\Bing\b", r"(a)\1", r"\d{3}-\d{2}", r"[^\w\s]{1,3}\s(?:to\s)?yo", r"^hey$", r"(?m)^hey$", r"x\Z",
    "\ue000", r"foo[\s\S]*?bar", r"(?:a|)bc", r"(?s:.)de", r"[.]com", r"\.com\b", r"ab(?!c)", r"n.a pas",
    r"(?x) a b c ", r"my\W+(?:mom|dad)\W++(?:[\w-]++\W++){0,2}?(?:said|yes)\b", r"\A(?:liked|loved)\s[\"«]",
    r"(?:take|have)\s+(?:[\w-]+\s+){0,3}off\b", r"[ae]b", r"(?a:\W)x", r"x\W{0,3}y", r"(?:ok|)\s*\Z", r"_\w+_",
    r"(?:é|e)\u0301", r"\s+-\s+", r"(?<!a)bc", r"[^a]bc", r"(?:x\b|y)z", r"ab|", r"\w+@\w+\.gov\b",
    *(pattern for rule in load_rules().rules for pattern in rule.patterns),
]
ALPHABET = "ab cdéeo-_.,:;!?/\n\t0123456789xyzqrkfhnAB\u0301$%€«\"'@"
WORDS = ["foo", "bar", "hey", "ing", "cafe", "café", "my", "mom", "dad", "said", "yes", "take", "off", "liked",
         "passport", "number", "x.gov", "ok", "to", "yo", "n'a", "pas", "abcd", "code", "is", "123", "45-67"]


def _texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        if rng.random() < 0.5:
            texts.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 25))))
        else:
            texts.append("".join(rng.choice(WORDS) + rng.choice([" ", "", "-", ", ", "\n", "_", "  "])
                                 for _ in range(rng.randint(1, 8))))
    return texts


@pytest.fixture(scope="module")
def prefilter() -> Prefilter:
    return Prefilter(PATTERNS)


def _check(prefilter: Prefilter, compiled: list[re.Pattern[str]], text: str) -> None:
    possible = set(prefilter.possible(tokenize(text)))
    for position, regex in enumerate(compiled):
        if regex.search(text):
            assert position in possible, (regex.pattern, text)
            assert all(check.search(text) for check in substring_checks(regex.pattern))


def test_a_pattern_ruled_out_never_matches(prefilter: Prefilter) -> None:
    compiled = [re.compile(pattern) for pattern in PATTERNS]
    for text in _texts(16, 4000):
        for variant in {text, normalize(text)}:
            _check(prefilter, compiled, variant)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_a_pattern_ruled_out_never_matches_any_text(text: str) -> None:
    prefilter = _shared()
    _check(prefilter, [re.compile(pattern) for pattern in PATTERNS], text)


def _shared(cache: dict[str, Prefilter] = {}) -> Prefilter:  # noqa: B006 - built once for every example
    return cache.setdefault("prefilter", Prefilter(PATTERNS))


def test_what_a_pattern_needs() -> None:
    assert frozenset({"passport", "pasaporte"}) in required(r"(?:passport|pasaporte)s?\W{0,3}\d{6,9}")
    assert frozenset({"off"}) in required(r"(?:take|have)\s+(?:[\w-]+\s+){0,3}off\b")
    # Letters after a character no word goes on across begin a token: "mom", not "momentum".
    prefilter = Prefilter([r"my\W+(?:mom|dad)\W"])
    assert prefilter.possible(tokenize("my mom said")) == [0]
    assert prefilter.possible(tokenize("my momentum")) == []


@pytest.mark.parametrize("pattern", [r"(?i)hello", r"(.)\1", r"\w+", r"(?a)\bcafé", r"[\s\S]"])
def test_a_pattern_nothing_is_known_of_runs_on_every_text(pattern: str) -> None:
    if pattern == r"(?a)\bcafé":
        assert all("\ue000" not in string for need in required(pattern) for string in need)
    else:
        assert required(pattern) == ()
        assert Prefilter([pattern]).possible([]) == [0]


def test_a_hostile_text_is_read_in_one_pass() -> None:
    prefilter = Prefilter(PATTERNS)
    text = "-" * 200_000 + "a" * 100_000
    assert isinstance(prefilter.possible(tokenize(text)), list)


def test_the_rules_find_what_every_pattern_would_find() -> None:
    """The shipped rules with the prefilter find the same rules as running every pattern."""
    rules = load_rules().rules
    index = TextIndex(rules)
    compiled = [(i, re.compile(pattern)) for i, rule in enumerate(rules) for pattern in rule.patterns]
    examples = [pattern for rule in rules for pattern in rule.words] + _texts(3, 1500) + [
        "Reacted 👍 to your message", "Your code is 482913", "My passport number is X1234567", "SSN 123-45-6789",
        "You missed a call", "Messages and calls are end-to-end encrypted.", "¿Me das permiso mañana?"]
    for body in examples:
        normalized = normalize(body)
        tokens = tokenize(normalized)
        found, _ = index.hits(body, normalized, tokens)
        for rule, regex in compiled:
            if regex.search(normalized) or (body != normalized and regex.search(body)):
                assert rule in found, (regex.pattern, body)
