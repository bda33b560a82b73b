"""The WhatsApp connector reads the varied exports of ``tests/whatsapp_varied.py`` exactly as
recorded in ``fixtures/whatsapp/varied_digests.json``: the same messages field by field, the
same rejections with their lines and reasons, the same refusals.

The digests were recorded before the connector's reading was made faster; a change that means
to alter what is read re-records them with ``python -m tests.whatsapp_varied OUT.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archiver.connector import ParseContext
from archiver.errors import InputError
from connectors import whatsapp
from connectors._whatsapp_dates import HEADER_RE, DateOrderVote, HeaderFields
from connectors.whatsapp import WhatsAppConnector
from tests.whatsapp_varied import BLOCK, VARIANTS, digests, write_variant

RECORDED = Path(__file__).resolve().parent / "fixtures" / "whatsapp" / "varied_digests.json"


@pytest.fixture(scope="module")
def recorded() -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = json.loads(RECORDED.read_text(encoding="utf-8"))
    return found


def test_every_variant_is_recorded(recorded: dict[str, dict[str, object]]) -> None:
    assert sorted(recorded) == sorted(VARIANTS)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_reads_as_recorded(tmp_path: Path, recorded: dict[str, dict[str, object]], name: str) -> None:
    variant = VARIANTS[name]
    found, expected = digests(write_variant(tmp_path, name, variant), variant), recorded[name]
    assert (found.get("error"), found["count"]) == (expected.get("error"), expected["count"])
    pairs = zip(found.get("blocks", []), expected.get("blocks", []), strict=True)
    differing = [n * BLOCK for n, (a, b) in enumerate(pairs) if a != b]
    assert not differing, f"items from {differing} on (in blocks of {BLOCK}) differ from the recording"


# Pieces of header lines, so that random lines come close to the shapes HEADER_RE reads
# (dates, times put first, dots that could be either, brackets, marks, media names).
PIECES = ["[", "]", "14", "05", "2", "22", "2024", ".", "/", "-", ":", ", ", " ", " - ", "10:00", "3/18/22",
          "14.05.22", "\u200e", "AM", " BE", "R", "IMG-20220514-WA0001.jpg", "Ana: x", "\n"]  # fmt: skip


def _vote_of(path: Path, monkeypatch: pytest.MonkeyPatch, skipping: bool) -> object:
    with monkeypatch.context() as patch:
        if not skipping:
            patch.setattr(DateOrderVote, "repeats", lambda self, text: False)
        try:
            return whatsapp._vote(whatsapp._Export(path, str(path), "chat"), ParseContext("c", tz=ZoneInfo("UTC")))
        except InputError as error:
            return str(error)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.sampled_from(PIECES), max_size=12).map("".join), min_size=1, max_size=30))
def test_vote_skipping_repeated_dates_decides_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         lines: list[str]) -> None:  # fmt: skip
    path = tmp_path / "chat.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    assert _vote_of(path, monkeypatch, True) == _vote_of(path, monkeypatch, False)


def test_a_time_put_first_is_not_taken_for_the_date_before(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"  # the second line opens like the first, but its date is 3/18/22
    path.write_text("[14.05.22, 10:00] Ana: x\n[14.05.22, 3/18/22] Ana: y\n[13.05.22, 10:00] Ana: z\n",
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(InputError, match="mix day-first and month-first"):
        list(WhatsAppConnector().parse(path, ParseContext("c", tz=ZoneInfo("UTC"))))


# Lines that open like a header, with random ends: the same date again, and other readings of it.
OPENINGS = ["12/01/2024, 10:00 - ", "12/01/2024, ", "12/01/2024 BE, 10:00 - ", "[1/2/24, 9:05:07 AM] ", "[1/2/24, ",
            "\u200e[1/2/24, 10:00] ", "1/2/2", "R6/1/2 10:00 - ", "[14.05.22, 10:00] ", "[14.05.22, 3/18/22] ",
            "[14:56:01, 3/18/22] ", ""]
ENDS = ["[", "]", "\u200e", "1", "12", "2024", "R", "/", ".", "-", ",", " ", "  ", " BE", "10:00", "9:05:07", " AM",
        " p. m.", " - ", "] ", "\u2013", "Ana: x", "x", "\u060c", "3/18/22"]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(OPENINGS), st.lists(st.sampled_from(ENDS), max_size=8).map("".join)),
                min_size=1, max_size=20))  # fmt: skip
def test_header_fields_are_the_pattern_groups(lines: list[tuple[str, str]]) -> None:
    reader = HeaderFields()
    for text in (opening + end for opening, end in lines):
        header = HEADER_RE.match(text)
        assert reader.of(text) == (None if header is None else header.groups()), text
