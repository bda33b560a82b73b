"""Search terms: what the blind index holds for a message, and what a query looks for.

A term is a plain string with a kind prefix; the blind index hashes each one under the
archive's key, so no term ever reaches storage in the clear.

    w:<word>        a normalized word of the body or of an attachment name ("vehiculos")
    n:<digits>      a number of 4 to 24 digits, separators dropped ("5205550100"); a number of
                    more than 10 digits also gives its last 10, so "+1 520 555 0100" and
                    "(520) 555-0100" meet; a document number of one or two letters and digits
                    also gives the letters and digits together ("n:g12345678")
    d:<YYYY-MM-DD>  a date written in the body, in any usual English or Spanish form
    p:<key>         the sender and each recipient (``participant_key``)
    c:<title>       the conversation's normalized title
    has:attachment  the message has attachments

Dates: a numeric date whose day and month could be either way round (12/03/1985) gives both
readings; a two-digit year above 30 is 19xx, else 20xx ("3-12-85" is 1985, "3-12-24" is 2024);
an impossible date (31/02/1985) gives nothing.

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from functools import lru_cache
from itertools import chain, islice
from typing import Any

from archiver.model import Message, handle_key

INDEX_VERSION = 2  # 1: body words only
MAX_TOKENS_PER_MESSAGE = 512
MAX_TERM_CHARS = 200       # a longer "word" is noise (or an attack on the index), not a search target
MAX_RECIPIENTS_INDEXED = 128
MAX_MATCHES = 2 * MAX_TOKENS_PER_MESSAGE  # dates or numbers read per body: a body repeating one is bounded too
MIN_NUMBER_DIGITS, MAX_NUMBER_DIGITS, PHONE_DIGITS = 4, 24, 10
TWO_DIGIT_YEAR_PIVOT = 30  # "85" is 1985, "24" is 2024
FIRST_YEAR, LAST_YEAR = 1900, 2100
HAS_ATTACHMENT = "has:attachment"
WORD_PREFIX = "w:"

_WORD = re.compile(r"\w+", re.UNICODE)
_ANY_DIGIT = re.compile(r"[0-9]")
_NON_DIGIT = re.compile(r"[^0-9]")
_DIGIT_RUN = re.compile(r"[0-9]+")
# Digit runs joined by one separator: "520.555.0100", "+52 (631) 555-0101", "123 45 6789".
_NUMBER = re.compile(r"[0-9]+(?:(?:[-. ]|\)[ -]?| ?\()[0-9]+)*")
# One letter (then maybe a separator) or two letters, then digits: "G12345678", "A-123-456-789".
_DOC_NUMBER = re.compile(r"\b([a-z][- ]?|[a-z]{2})([0-9]+(?:[- ][0-9]+)*)(?![0-9a-z])", re.IGNORECASE | re.ASCII)
_NUMERIC_DATE = re.compile(
    r"(?<![0-9])(?:(?P<iy>[0-9]{4})(?P<is>[-/.])(?P<im>[0-9]{1,2})(?P=is)(?P<id>[0-9]{1,2})"
    r"|(?P<a>[0-9]{1,2})(?P<s>[-/.])(?P<b>[0-9]{1,2})(?P=s)(?P<y>[0-9]{4}|[0-9]{2}))(?![0-9])")

_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
    "enero": 1, "febrero": 2, "marzo": 3, "abril": 4, "mayo": 5, "junio": 6, "julio": 7, "agosto": 8,
    "septiembre": 9, "setiembre": 9, "octubre": 10, "noviembre": 11, "diciembre": 12,
    "jan": 1, "ene": 1, "feb": 2, "mar": 3, "apr": 4, "abr": 4, "jun": 6, "jul": 7, "aug": 8, "ago": 8,
    "sep": 9, "sept": 9, "set": 9, "oct": 10, "nov": 11, "dec": 12, "dic": 12,
}
# Any word of 3 to 10 letters, looked up in _MONTHS afterwards: far cheaper than an alternation of names.
_MONTH = r"(?P<m>[^\W\d_]{3,10})\b\.?"
_DAY = r"(?P<d>[0-9]{1,2})(?:st|nd|rd|th|º|°)?"
# "3 dic 1985", "3 de diciembre de 1985", "03-Dec-85", "3rd December, 1985".
_DAY_MONTH = re.compile(rf"(?<![0-9]){_DAY}[\s./-]*(?:de\s+)?{_MONTH}[\s,./-]*(?:del?\s+)?"
                        r"(?P<y>[0-9]{4}|'?[0-9]{2})(?![0-9])", re.IGNORECASE)
# "Dec 3, 1985", "December 3rd 1985", "Dec. 3 '85" (a bare two-digit year after a day is too often a count).
_MONTH_DAY = re.compile(rf"\b{_MONTH}[\s./-]*{_DAY},?[\s./-]*(?P<y>[0-9]{{4}}|'[0-9]{{2}})(?![0-9])", re.IGNORECASE)


def normalize_words(text: str) -> list[str]:
    """Words folded for search: case-folded, accents removed ("Sí" and "si" match)."""
    if text.isascii():
        return _WORD.findall(text.lower())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WORD.findall(plain)


# ---------------------------------------------------------------------------- the index side

def index_terms(message: Message) -> list[str]:
    """The distinct terms of one message, at most ``MAX_TOKENS_PER_MESSAGE``."""
    return _message_terms(message.body, message.sender, message.recipients, message.conversation,
                          [attachment.name for attachment in message.attachments])


def json_terms(message: Mapping[str, Any]) -> list[str]:
    """``index_terms`` of a message in its JSON form (``Message.to_json``, as sealed records hold it)."""
    return _message_terms(message.get("body") or "", message.get("sender") or "", message.get("recipients") or (),
                          message.get("conversation") or "",
                          [attachment.get("name") for attachment in message.get("attachments") or ()])


def _message_terms(body: str, sender: str, recipients: Sequence[str], conversation: str,
                   attachment_names: Sequence[str | None]) -> list[str]:
    # Few, precise terms first: a long body may fill the bound, but never at their expense.
    head = [HAS_ATTACHMENT] if attachment_names else []
    head += [conversation_term(conversation)] if conversation else []
    head += [participant_term(handle) for handle in (sender, *recipients[:MAX_RECIPIENTS_INDEXED]) if handle]
    names = (term for name in attachment_names if name for term in word_terms(name))
    digits = _ANY_DIGIT.search(body) is not None  # most messages hold no digit: skip dates and numbers
    found = chain(head, names, _dates_in(body) if digits else (), _numbers_in(body) if digits else (),
                  [WORD_PREFIX + word for word in normalize_words(body)])
    if len(body) < MAX_TERM_CHARS - 2:  # the common short message: none of its terms can be too long
        return list(dict.fromkeys(found))[:MAX_TOKENS_PER_MESSAGE]
    return _bounded(found, MAX_TOKENS_PER_MESSAGE)


def _bounded(terms: Iterable[str], limit: int) -> list[str]:
    """Distinct terms in order, up to ``limit``; stops reading ``terms`` there (a hostile body is lazy)."""
    seen: dict[str, None] = {}
    for term in terms:
        if len(term) <= MAX_TERM_CHARS:
            seen[term] = None
            if len(seen) >= limit:
                break
    return list(seen)


def _numbers_in(text: str) -> Iterator[str]:
    plain = _NUMERIC_DATE.sub(" ; ", text)  # a date is a date, not a number joined to its neighbours
    for match in islice(_NUMBER.finditer(plain), MAX_MATCHES):
        run = match.group()
        digits = _NON_DIGIT.sub("", run)
        yield from _number_keys(digits)
        if len(digits) != len(run) and len(run) <= 2 * MAX_NUMBER_DIGITS:  # "1234 5678": one number or two
            yield from (key for part in _DIGIT_RUN.findall(run) if part != digits for key in _number_keys(part))
    for match in islice(_DOC_NUMBER.finditer(plain), MAX_MATCHES):
        yield from _document_key(match)


def _number_keys(digits: str) -> list[str]:
    if not MIN_NUMBER_DIGITS <= len(digits) <= MAX_NUMBER_DIGITS:
        return []
    if len(digits) > PHONE_DIGITS:
        return ["n:" + digits, "n:" + digits[-PHONE_DIGITS:]]
    return ["n:" + digits]


def _document_key(match: re.Match[str]) -> list[str]:
    digits = _NON_DIGIT.sub("", match.group(2))
    if not MIN_NUMBER_DIGITS <= len(digits) <= MAX_NUMBER_DIGITS:
        return []
    return ["n:" + match.group(1).rstrip("- ").lower() + digits]


def _dates_in(text: str) -> Iterator[str]:
    for regex, reader in _DATE_FORMS:
        for match in islice(regex.finditer(text), MAX_MATCHES):
            yield from ("d:" + day for day in reader(match))


def _numeric_dates(match: re.Match[str]) -> list[str]:
    if match.group("iy"):
        return _days(int(match.group("iy")), [(int(match.group("im")), int(match.group("id")))])
    a, b = int(match.group("a")), int(match.group("b"))
    return _days(_year(match.group("y")), [(b, a), (a, b)])  # day first, then month first


def _named_month_dates(match: re.Match[str]) -> list[str]:
    month = _MONTHS.get(match.group("m").casefold())  # None: a word that is no month
    return _days(_year(match.group("y")), [(month, int(match.group("d")))]) if month else []


_DATE_FORMS = ((_NUMERIC_DATE, _numeric_dates), (_DAY_MONTH, _named_month_dates), (_MONTH_DAY, _named_month_dates))


def _year(text: str) -> int:
    year = int(text.lstrip("'"))
    if len(text.lstrip("'")) == 2:
        return year + (1900 if year > TWO_DIGIT_YEAR_PIVOT else 2000)
    return year


def _days(year: int, month_days: Iterable[tuple[int, int]]) -> list[str]:
    """ISO days of the readings that exist (30 February does not); distinct, in order."""
    found: dict[str, None] = {}
    if FIRST_YEAR <= year <= LAST_YEAR:
        for month, day in month_days:
            try:
                found[date(year, month, day).isoformat()] = None
            except ValueError:
                continue
    return list(found)


# ---------------------------------------------------------------------------- the query side

def word_terms(text: str) -> list[str]:
    """The ``w:`` terms of the words in ``text``, distinct, in order."""
    return list(dict.fromkeys(WORD_PREFIX + word for word in normalize_words(text) if len(word) + 2 <= MAX_TERM_CHARS))


def name_terms(name: str) -> list[str]:
    """The ``w:`` terms of a person's name: case, accents and word order do not matter."""
    return sorted(word_terms(name))


def participant_key(handle: str) -> str:
    """How a sender or recipient is compared: ``handle_key``, with a phone number cut to its last
    10 digits so "+1 520 555 0100", "15205550100" and "(520) 555-0100" are one participant."""
    key = handle_key(handle)
    if key.isdigit() and len(key) > PHONE_DIGITS:
        return key[-PHONE_DIGITS:]
    return key


@lru_cache(maxsize=4096)  # a chat has few participants and titles, each on every message
def participant_term(handle: str) -> str:
    """The ``p:`` term of a sender or recipient."""
    return ("p:" + participant_key(handle))[:MAX_TERM_CHARS]


@lru_cache(maxsize=4096)
def conversation_term(title: str) -> str:
    """The ``c:`` term of a conversation title (words folded as in ``normalize_words``)."""
    return ("c:" + " ".join(normalize_words(title)))[:MAX_TERM_CHARS]


def date_terms(text: str) -> list[str]:
    """The ``d:`` terms a date typed in any of the indexed forms may mean (both readings of
    12/03/1985); ``ValueError`` when the text is not such a date or no such day exists."""
    typed = text.strip()
    for regex, reader in _DATE_FORMS:
        match = regex.fullmatch(typed)
        if match is not None:
            days = reader(match)
            if not days:
                raise ValueError("no such day: the date is impossible or before 1900")
            return ["d:" + day for day in days]
    raise ValueError("not a date; write it as 1985-12-03, 12/03/1985, 3-12-85, Dec 3, 1985 or 3 de diciembre de 1985")


def number_terms(text: str) -> list[str]:
    """The ``n:`` terms under which one number typed in any usual form ("+1 (520) 555-0100",
    "123-45-6789", "G 1234 5678") is indexed: a record holding ANY of them holds the number.
    Empty when the text holds no number of 4 to 24 digits."""
    typed = text.strip()
    digits = _NON_DIGIT.sub("", typed)
    keys = _number_keys(digits)[-1:]  # the last 10 digits of a long number: every form of it has them
    document = _DOC_NUMBER.fullmatch(typed)
    return (_document_key(document) if document else []) + keys
