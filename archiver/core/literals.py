"""The text a regular expression cannot match without, derived from the pattern itself, so
that a text lacking it is known not to match before the pattern runs.

``required(pattern)`` reads the pattern's syntax tree and returns sets of strings such that any
text the pattern matches (anywhere, by ``search``) holds at least one string of every set:
"(?:passport|pasaporte)s?\\W{0,3}\\d{6,9}" needs one of {"passport", "passports", "pasaporte",
"pasaportes"}. The strings also mark where a token of the text must begin or end (after "\\W+",
at "\\b"), so "my\\W+(?:mom|dad)\\W" needs the token "mom" or "dad", not merely those letters
inside "momentum". What cannot be told safely (a case-insensitive part, a back reference, any
construct not read here) adds nothing: a pattern nothing is known of runs on every text.

``Prefilter`` tells from a text's tokens which of many patterns it may match: each distinct
token is looked at once (a bounded memo), since words recur from text to text far more than
texts do. A pattern it rules out cannot match; one it lets through is run as before, so what
matches never changes.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

from archiver.core.ruleset import TOKEN_RE as _TOKEN_RE

# Bounds that keep the analysis small: the strings a piece of pattern can match exactly are
# tracked only while few and short; past that, what was found so far becomes a requirement.
_MAX_EXACT = 256
_MAX_CHARSET = 8
_MAX_LITERAL = 40
# The searches ``substring_checks`` gives per pattern.
_MAX_NEEDS = 2
# Distinct tokens (and combinations of found pieces) remembered, and the longest token kept:
# a longer one is rare, and a hostile text must not make the memo hold its bulk.
_TOKEN_MEMO = 1 << 16
_TOKEN_CHARS = 64
# Stands, in the strings derived, for the edge of a token: a character no word goes on across
# (\W, \s, [^\w]...), a word boundary or either end of the text. A character of Unicode's
# private use area; a pattern naming it is read without edges.
_EDGE = "\ue000"
_EDGES = frozenset({_EDGE})
_EMPTY_OR_EDGE = frozenset({_EDGE, ""})
_UNKNOWN: tuple[frozenset[str] | None, tuple[frozenset[str], ...]] = (None, ())
_EMPTY: tuple[frozenset[str] | None, tuple[frozenset[str], ...]] = (frozenset({""}), ())
_REPEATS = frozenset({sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT})
_NON_WORD_CATEGORIES = frozenset({sre.CATEGORY_NOT_WORD, sre.CATEGORY_SPACE, sre.CATEGORY_LINEBREAK})

# What a piece of pattern gives: the strings it can match exactly (None when too many or not
# known), and sets of strings the text must contain (one of each set).
_Info = tuple[frozenset[str] | None, tuple[frozenset[str], ...]]


def required(pattern: str) -> tuple[frozenset[str], ...]:
    """Sets of strings of which any text ``pattern`` matches holds at least one each; empty
    when nothing can be told. No set holds the empty string. A string may hold ``_EDGE``
    where a token of the text must end or begin (see ``_piece_of``)."""
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError):
        return ()
    flags = parsed.state.flags
    if flags & (re.IGNORECASE | re.LOCALE):
        return ()
    # Under re.ASCII, \W and \b mean other edges than a text's tokens have.
    reader = _Reader(edges=not flags & re.ASCII and _EDGE not in pattern)
    try:
        exact, needs = reader.sequence(parsed.data)
    except RecursionError:
        return ()
    found = (*needs, exact) if exact is not None else needs
    return tuple(dict.fromkeys(need for need in found if need and "" not in need))


class _Reader:
    """Walks a pattern's syntax tree; ``edges`` tells whether token edges are told."""

    def __init__(self, edges: bool) -> None:
        self.edges = edges

    def sequence(self, items: Iterable[tuple[object, object]]) -> _Info:
        """Pieces one after another: exact strings join end to end while they stay few."""
        current: frozenset[str] | None = frozenset({""})
        whole = True  # whether ``current`` still covers every piece so far
        needs: list[frozenset[str]] = []
        for op, av in items:
            exact, more = self.piece(op, av)
            needs.extend(more)
            if exact is not None and current is not None and len(current) * len(exact) <= _MAX_EXACT:
                if (len(exact) > 1 or _EDGE in next(iter(exact))) and "" not in current:
                    # What came before a choice or an edge is needed on its own too: a text with
                    # "passport" and no "number" is ruled out, whichever string a set keeps of each.
                    needs.append(current)
                joined = frozenset(a + b for a in current for b in exact)
                if max(map(len, joined)) <= _MAX_LITERAL:
                    current = joined
                    continue
            if current is not None:
                needs.append(current)
                if exact is not None and all(string.endswith(_EDGE) for string in current):
                    exact = frozenset(_EDGE + string for string in exact)  # what follows an edge begins a token
            whole = False
            current = exact
        if current is not None and not whole:
            needs.append(current)
            return None, tuple(needs)
        return current, tuple(needs)

    def piece(self, op: object, av: object) -> _Info:  # noqa: PLR0911 - one case per kind of node
        """One node of the syntax tree."""
        if op is sre.LITERAL:
            return frozenset({chr(av)}), ()  # type: ignore[arg-type]
        if op is sre.AT:
            return (_EDGES if self.edges and av is not sre.AT_NON_BOUNDARY else frozenset({""})), ()
        if op is sre.ASSERT_NOT:
            return _EMPTY
        if op is sre.IN:
            return self.charset(av), ()  # type: ignore[arg-type]
        if op is sre.SUBPATTERN:
            _, add, _, body = av  # type: ignore[misc]
            if add & (re.IGNORECASE | re.LOCALE | re.ASCII):
                return _UNKNOWN
            return self.sequence(body)
        if op is sre.ATOMIC_GROUP:
            return self.sequence(av)  # type: ignore[arg-type]
        if op is sre.ASSERT:
            # A lookahead or lookbehind matches nothing itself, but what it looks at is in the text.
            exact, needs = self.sequence(av[1])  # type: ignore[index]
            return frozenset({""}), (*needs, exact) if exact is not None else needs
        if op in _REPEATS:
            return self.repeat(*av)  # type: ignore[misc]
        if op is sre.BRANCH:
            return self.branch(av[1])  # type: ignore[index]
        return _UNKNOWN

    def repeat(self, low: int, high: int, body: Iterable[tuple[object, object]]) -> _Info:
        """A piece repeated from ``low`` to ``high`` times."""
        exact, needs = self.sequence(body)
        if exact == _EDGES:  # a run of characters no word goes on across is one edge
            return (_EDGES if low else _EMPTY_OR_EDGE), ()
        if low == 0:
            return (exact | {""} if exact is not None and high == 1 else None), ()
        if low == high == 1:
            return exact, needs
        return None, (*needs, exact) if exact is not None else needs

    def branch(self, alternatives: Sequence[Iterable[tuple[object, object]]]) -> _Info:
        """Alternatives: the text holds what one of them needs, whichever it is."""
        infos = [self.sequence(alternative) for alternative in alternatives]
        exacts = [exact for exact, _ in infos]
        exact = frozenset().union(*exacts) if None not in exacts else None  # type: ignore[arg-type]
        if exact is not None and len(exact) > _MAX_EXACT:
            exact = None
        either: set[str] = set()
        for alternative_exact, needs in infos:
            options = [need for need in (*needs, alternative_exact) if need is not None and "" not in need]
            if not options:
                return exact, ()
            either |= max(options, key=_strength)
        # When the alternatives need only what they match, the sequence around them joins or needs that.
        return exact, (() if either == exact else (frozenset(either),))

    def charset(self, items: Sequence[tuple[object, object]]) -> frozenset[str] | None:
        """A class of a few plain characters ("[ae]") is a small set of strings; a class of
        characters no word goes on across ("\\W", "[^\\w\\s]") is an edge; any other is unknown."""
        chars: set[str] = set()
        for op, av in items:
            if op is sre.LITERAL:
                chars.add(chr(av))  # type: ignore[arg-type]
            elif op is sre.RANGE and av[1] - av[0] < _MAX_CHARSET:  # type: ignore[index,operator]
                chars.update(map(chr, range(av[0], av[1] + 1)))  # type: ignore[index]
            else:
                return _EDGES if self.edges and _non_word(items) else None
        return frozenset(chars) if 0 < len(chars) <= _MAX_CHARSET else None


def _non_word(items: Sequence[tuple[object, object]]) -> bool:
    """Whether a class holds no word character (as ``\\w`` tells them)."""
    if items and items[0][0] is sre.NEGATE:
        return (sre.CATEGORY, sre.CATEGORY_WORD) in items[1:]
    return all(
        (op is sre.CATEGORY and av in _NON_WORD_CATEGORIES)
        or (op is sre.LITERAL and not _is_word(chr(av)))  # type: ignore[arg-type]
        for op, av in items
    )


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _strength(need: frozenset[str]) -> tuple[int, int]:
    """How rarely a set is met: the shortest string longest first, then the fewest strings."""
    return min(map(len, need)), -len(need)


# What a text's tokens must show of a string: a token that is exactly this word (a word
# between two others in the string), or a token that holds these characters somewhere.
_Piece = tuple[bool, str]


def _piece_of(string: str) -> _Piece | None:
    """The rarest thing a string's tokens show: a run of word characters with something else
    on both sides (another character or an edge) is a whole token of any text holding the
    string; one at either end of the string lies within a token; a mark is a token of its own.
    ``None`` for a string of spaces and edges only."""
    plain = string.replace(_EDGE, " ")
    options = [
        (not _is_word(text[0]) or (match.start() > 0 and match.end() < len(plain)), text)
        for match in _TOKEN_RE.finditer(plain)
        if (text := match.group())
    ]
    return max(options, key=_piece_strength) if options else None


def _piece_strength(piece: _Piece) -> int:
    """Longer is rarer; a whole token is rarer than the same characters within one."""
    whole, text = piece
    return 2 * len(text) + whole


def _pieces(need: frozenset[str]) -> frozenset[_Piece] | None:
    """A set of strings as pieces (``_piece_of``); ``None`` when a string shows nothing."""
    pieces = set()
    for string in need:
        piece = _piece_of(string)
        if piece is None:
            return None
        pieces.add(piece)
    return frozenset(pieces)


class Prefilter:
    """Which of many patterns a text may match, told from the text's tokens (as ``tokenize``
    splits it) by the strings each pattern needs (``required``); a pattern nothing could be
    told of is always possible. Tokens recur from text to text, so what each holds is
    remembered (a bounded memo)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        # One bit per set of pieces a pattern needs; a piece found sets the bits of its sets.
        self._needs: list[int] = []
        within: dict[str, int] = {}
        self._whole: dict[str, int] = {}
        bit = 1
        for pattern in patterns:
            need = 0
            usable = dict.fromkeys(pieces for pieces in map(_pieces, required(pattern)) if pieces is not None)
            for pieces in usable:
                for whole, text in pieces:
                    found = self._whole if whole else within
                    found[text] = found.get(text, 0) | bit
                need |= bit
                bit <<= 1
            self._needs.append(need)
        # At each position of a token the trie takes the longest piece there; the shorter ones
        # it starts with are there too.
        self._within = {text: _or(mask for other, mask in within.items() if text.startswith(other)) for text in within}
        self._scan = re.compile(f"(?=({_trie(sorted(within))}))", re.DOTALL).findall if within else None
        self._tokens: dict[str, int] = {}
        self._possible: dict[int, list[int]] = {}

    def possible(self, tokens: Iterable[str]) -> list[int]:
        """The positions (in the order given) of the patterns a text of ``tokens`` may match."""
        found = 0
        memo = self._tokens
        for token in set(tokens):
            mask = memo.get(token)
            if mask is None:
                mask = self._holds(token)
                if len(memo) < _TOKEN_MEMO and len(token) <= _TOKEN_CHARS:
                    memo[token] = mask
            found |= mask
        positions = self._possible.get(found)
        if positions is None:
            positions = [index for index, need in enumerate(self._needs) if found & need == need]
            if len(self._possible) < _TOKEN_MEMO:
                self._possible[found] = positions
        return positions

    def _holds(self, token: str) -> int:
        """The bits of every piece ``token`` is or holds."""
        found = self._whole.get(token, 0)
        if self._scan is not None and (pieces := self._scan(token)):
            within = self._within
            found |= _or(within[text] for text in set(pieces))
        return found


def substring_checks(pattern: str) -> tuple[re.Pattern[str], ...]:
    """Searches a text must all pass for ``pattern`` to match it, each for one of a few plain
    strings: at most two, for a text whose tokens are not at hand."""
    needs = [frozenset(_longest_plain(string) for string in need) for need in required(pattern)]
    needs = [need for need in needs if len(need) <= _MAX_CHARSET and "" not in need]
    return tuple(re.compile("|".join(map(re.escape, sorted(need))))
                 for need in sorted(needs, key=_strength, reverse=True)[:_MAX_NEEDS])


def _longest_plain(string: str) -> str:
    """The longest part of a derived string without an edge: text any holder of it holds."""
    return max(string.split(_EDGE), key=len)


def _or(masks: Iterable[int]) -> int:
    result = 0
    for mask in masks:
        result |= mask
    return result


def _trie(strings: Sequence[str]) -> str:
    """An alternation of sorted, distinct, non-empty ``strings`` that branches one character
    at a time and prefers the longest."""
    groups: dict[str, list[str]] = {}
    ends = False
    for string in strings:
        if string:
            groups.setdefault(string[0], []).append(string[1:])
        else:
            ends = True
    if not groups:
        return ""
    branches = [re.escape(first) + _trie(rest) for first, rest in groups.items()]
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if ends else body
