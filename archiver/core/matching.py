"""Finding the rules whose words or patterns occur in a message's text: the ``TextIndex``
compiled once per rule set (one pass over the tokens for words and phrases, each pattern
searched on the folded text and, where it names an uppercase or accented letter, on the text as
written, but only where the text holds what the pattern cannot match without: see
``literals``), and the whole-message test (a message made only of small-talk entries, punctuation
and emoji, split any way: "ok thanks a lot").

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from archiver.core.literals import Prefilter, substring_checks
from archiver.core.ruleset import Rule, normalize

# Whole-message entries, the longest entry in tokens, and every token the entries use.
Vocabulary = tuple[frozenset[str], int, frozenset[str]]

# Unicode categories of single tokens that carry no words: punctuation, symbols such as
# emoji (a reaction adds no business to "ok"), and format characters such as the
# zero-width joiner inside "🤦‍♂️".
_FILLER_CATEGORIES = frozenset({"Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "So", "Sk", "Cf"})


class TextIndex:
    """Every word, phrase and pattern of a rule set, compiled once for one pass per message.

    ``probes`` are other patterns the caller asks about, searched on the folded text in the
    same pass (and ruled out the same way)."""

    def __init__(self, rules: tuple[Rule, ...], probes: Sequence[re.Pattern[str]] = ()) -> None:
        words: dict[str, set[int]] = {}
        # Phrases by their first two words; a two-word phrase is found by its pair alone.
        pairs: dict[str, set[int]] = {}
        phrases: dict[str, list[tuple[str, int]]] = {}
        for index, rule in enumerate(rules):
            for entry in rule.words:
                parts = entry.split(" ")
                if len(parts) == 1:
                    words.setdefault(entry, set()).add(index)
                elif len(parts) == 2:
                    pairs.setdefault(entry, set()).add(index)
                else:
                    phrases.setdefault(" ".join(parts[:2]), []).append((f" {entry} ", index))
        self._words = {word: tuple(sorted(ids)) for word, ids in words.items()}
        self._word_keys = frozenset(self._words)
        self._pairs = {pair: tuple(sorted(ids)) for pair, ids in pairs.items()}
        self._phrases = {pair: tuple(found) for pair, found in phrases.items()}
        self._pair_keys = frozenset(self._pairs) | frozenset(self._phrases)
        self._firsts = frozenset(pair.split(" ")[0] for pair in self._pair_keys)
        compiled = [
            (index, re.compile(pattern), _reads_text_as_written(pattern))
            for index, rule in enumerate(rules)
            for pattern in rule.patterns
        ]
        # Each pattern runs only on a text holding the strings it needs (``literals``): the
        # folded text for every pattern, the text as written for those that may match it alone.
        self._patterns = tuple((index, regex) for index, regex, _ in compiled)
        self._probes = tuple(probes)
        self._filter = Prefilter([regex.pattern for _, regex in self._patterns + tuple(enumerate(self._probes))])
        self._written = tuple(
            (index, regex, substring_checks(regex.pattern)) for index, regex, written in compiled if written
        )

    def hits(self, body: str, normalized: str, tokens: list[str]) -> tuple[set[int], set[int]]:
        """Return the indices of rules whose words or patterns occur in the message, and the
        positions of the probes that occur in it. ``tokens`` are ``tokenize(normalized)``."""
        found: set[int] = set()
        for token in self._word_keys.intersection(tokens):
            found.update(self._words[token])
        firsts = self._firsts
        if len(tokens) > 1 and not firsts.isdisjoint(tokens):
            # Only pairs whose first word begins a phrase are worth joining.
            starts = self._pair_keys.intersection(
                [f"{first} {second}" for first, second in zip(tokens, tokens[1:], strict=False) if first in firsts])
            if starts:
                joined = None
                for pair in starts:
                    if pair in self._pairs:
                        found.update(self._pairs[pair])
                    if pair in self._phrases:
                        joined = joined or f" {' '.join(tokens)} "
                        found.update(index for phrase, index in self._phrases[pair] if phrase in joined)
        patterns, probed = self._patterns, set()
        for position in self._filter.possible(tokens):
            if position >= len(patterns):
                if self._probes[position - len(patterns)].search(normalized):
                    probed.add(position - len(patterns))
                continue
            index, regex = patterns[position]
            if index not in found and regex.search(normalized):
                found.add(index)
        if normalized != body:  # the text as written differs: uppercase or accents
            for index, regex, checks in self._written:
                if index in found:
                    continue
                for check in checks:
                    if check.search(body) is None:
                        break
                else:
                    if regex.search(body):
                        found.add(index)
        return found, probed


def _reads_text_as_written(pattern: str) -> bool:
    """Whether a pattern may match the text as written where its normalized form does not:
    only if it names an uppercase or accented letter, or another character that normalizing
    changes (or any character by a code escape). Otherwise the normalized form, which folds
    every case and accent, is the only one to search: quotation marks, emoji and "ı" are the
    same in both, so a pattern naming them needs no second search."""
    if re.search(r"\\[uUxN0-7]", pattern):
        return True
    plain = re.sub(r"\\.", "", pattern)
    return any(char.isupper() or (not char.isascii() and normalize(char) != char) for char in plain)


def _is_filler(token: str) -> bool:
    """Punctuation, an emoji or an invisible joiner: nothing a whole-message rule must list."""
    return len(token) == 1 and unicodedata.category(token) in _FILLER_CATEGORIES


def covers(vocabulary: Vocabulary, tokens: Sequence[str]) -> bool:
    """Return whether ``tokens`` are made entirely of the vocabulary's entries (and
    punctuation or emoji).

    Tries every split, not only the greedy one, so "ok thanks a lot" is covered by
    "ok" + "thanks a lot" even when "ok thanks" is listed too.
    """
    entries, longest, known = vocabulary
    # Most messages have a word no entry uses: reject them before trying splits.
    if not all(token in known or _is_filler(token) for token in tokens):
        return False
    reachable = {0}
    for start, token in enumerate(tokens):
        if start not in reachable:
            continue
        if _is_filler(token):
            reachable.add(start + 1)
        for length in range(1, longest + 1):
            if " ".join(tokens[start : start + length]) in entries:
                reachable.add(start + length)
    return bool(tokens) and len(tokens) in reachable


def whole_message_vocabularies(rules: tuple[Rule, ...]) -> dict[str, Vocabulary]:
    """Per label, every entry of its whole_message rules, the longest entry in tokens, and
    every token the entries use.

    Whole-message rules of one label share their words, so "hola, gracias 😂" (greeting and
    acknowledgement) is small talk as much as "hola" or "gracias" alone.
    """
    vocabularies: dict[str, Vocabulary] = {}
    for label in {rule.label for rule in rules if rule.whole_message}:
        words = [entry for rule in rules if rule.whole_message and rule.label == label for entry in rule.words]
        longest = max(entry.count(" ") + 1 for entry in words)
        vocabularies[label] = (frozenset(words), longest, frozenset(" ".join(words).split()))
    return vocabularies
