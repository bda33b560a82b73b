"""The JSON Lines connector: the normalized form as input, validated line by line."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

from archiver.connector import ParseContext
from archiver.errors import Rejection
from archiver.model import Message
from connectors.jsonl import MAX_LINE_BYTES, JsonlConnector

GOOD = {"source": "email", "conversation": "c", "sender": "a@example.com", "sent_at": "2026-01-05T09:00:00-05:00",
        "body": "Approved.\n  Keep  the spacing.", "recipients": ["b@example.gov"]}


def _parse(path: Path, tz: str | None = None) -> list[Message | Rejection]:
    context = ParseContext(custodian="a@example.com", tz=ZoneInfo(tz) if tz else None, export_sha256="ab")
    return list(JsonlConnector().parse(path, context))


def test_round_trip_keeps_body_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(GOOD) + "\n")
    [message] = _parse(path)
    assert isinstance(message, Message)
    assert message.body == GOOD["body"] and message.sent_at.isoformat() == GOOD["sent_at"]
    assert message.direction == "sent" and message.source_ref.line == 1
    assert message.to_json()["sent_at"] == GOOD["sent_at"]


def test_bad_lines_are_rejected_with_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    lines = [json.dumps(GOOD), "{not json", json.dumps({**GOOD, "sent_at": "yesterday"}),
             json.dumps({**GOOD, "direction": "sideways"}), json.dumps([1, 2]), "",
             json.dumps({k: v for k, v in GOOD.items() if k != "body"}), json.dumps(GOOD)]
    path.write_text("\n".join(lines) + "\n")
    items = _parse(path)
    rejections = [(i.line, i.reason) for i in items if isinstance(i, Rejection)]
    assert [line for line, _ in rejections] == [2, 3, 4, 5, 7]
    assert "malformed JSON" in rejections[0][1] and rejections[1][1].endswith("sent_at: not an ISO 8601 timestamp")
    assert "yesterday" not in rejections[1][1]  # a reason names the field, never its value
    assert "direction" in rejections[2][1] and "body" in rejections[4][1]
    assert sum(isinstance(i, Message) for i in items) == 2


def test_zone_less_time_needs_tz(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({**GOOD, "sent_at": "2026-01-05T09:00:00"}) + "\n")
    [rejected] = _parse(path)
    assert isinstance(rejected, Rejection) and "--tz" in rejected.reason
    [message] = _parse(path, "America/New_York")
    assert isinstance(message, Message) and message.sent_at.utcoffset().total_seconds() == -5 * 3600  # type: ignore[union-attr]


def test_huge_line_is_rejected_without_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with path.open("wb") as handle:
        handle.write(b'{"body": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n')
        handle.write(json.dumps(GOOD).encode() + b"\n")
    items = _parse(path)
    assert isinstance(items[0], Rejection) and "longer than" in items[0].reason
    assert isinstance(items[1], Message) and items[1].source_ref.line == 2


def test_sniff(tmp_path: Path) -> None:
    good, other = tmp_path / "a.jsonl", tmp_path / "b.txt"
    good.write_text(json.dumps(GOOD) + "\n")
    other.write_text("1/5/26, 9:00 AM - Ana: hi\n")
    assert JsonlConnector().sniff(good) and not JsonlConnector().sniff(other)
    assert not JsonlConnector().sniff(tmp_path / "missing.jsonl")


def test_hostile_lines_are_rejected_and_the_rest_is_read(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    hostile = [
        '{"body": "x", "sent_at": "2026-01-05T09:00:00Z", "n": ' + "9" * 5000 + "}",  # int() refuses > 4300 digits
        "[" * 200_000 + "]" * 200_000,  # json.loads would raise RecursionError
        '{"a": ' * 100 + "1" + "}" * 100,
        json.dumps({**GOOD, "sent_at": "0001-01-01T00:00:00+05:00"}),  # overflows when turned into UTC
        json.dumps({**GOOD, "sent_at": "9999-12-31T23:00:00-05:00"}),
        json.dumps({**GOOD, "body": "\ud800"}),  # a lone surrogate has no UTF-8 form
        json.dumps({**GOOD, "attachments": [{"name": ["x"]}]}),
    ]
    path.write_text("\n".join([*hostile, json.dumps(GOOD)]) + "\n")
    items = _parse(path)
    reasons = [i.reason for i in items if isinstance(i, Rejection)]
    assert len(reasons) == len(hostile)
    assert reasons[0] == "a number has more digits than can be read"
    assert reasons[1] == reasons[2] == "JSON nests deeper than 64 levels"
    assert reasons[3].endswith("sent_at: outside the years 1900-2999")
    assert reasons[5].endswith("body: not valid Unicode (a lone surrogate)")
    assert reasons[6].endswith("attachments[0].name: not a string")
    assert isinstance(items[-1], Message) and items[-1].source_ref.line == len(hostile) + 1


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({**GOOD, "body": "[{" * 500 + '\\"' + "]}" * 500}) + "\n")
    [message] = _parse(path)
    assert isinstance(message, Message) and message.body.startswith("[{[{")
