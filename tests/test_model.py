"""The normalized message's own constructor (written out for speed) against its fields."""

from __future__ import annotations

import inspect
import pickle
from dataclasses import MISSING, fields, replace
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from archiver.model import Attachment, Message, SourceRef, canonical_json, parse_json, sealed_json

SENT = datetime(2024, 3, 9, 8, 2, tzinfo=UTC)


@pytest.mark.parametrize("kind", [Message, SourceRef])
def test_constructor_takes_the_fields_in_order_with_their_defaults(kind: type) -> None:
    parameters = list(inspect.signature(kind).parameters.values())
    assert [p.name for p in parameters] == [f.name for f in fields(kind)]
    for parameter, field in zip(parameters, fields(kind), strict=True):
        if field.default is not MISSING:
            assert parameter.default == field.default, field.name
        elif field.default_factory is not MISSING:
            assert parameter.default is None and Message("s", "c", "a", SENT, "b").source_ref == field.default_factory()
        else:
            assert parameter.default is inspect.Parameter.empty, field.name


def test_a_message_is_frozen_equal_hashable_and_pickles() -> None:
    message = Message("whatsapp", "Port Ops", "Ana", SENT, "ok", ("Luis",), (Attachment("a.jpg", missing=True),),
                      "sent", "official", "mvega", False, SourceRef("chat.txt", 3), ("edited",))  # fmt: skip
    same = Message(source="whatsapp", conversation="Port Ops", sender="Ana", sent_at=SENT, body="ok",
                   recipients=("Luis",), attachments=(Attachment("a.jpg", missing=True),), direction="sent",
                   account="official", custodian="mvega", system=False, source_ref=SourceRef("chat.txt", 3),
                   flags=("edited",))  # fmt: skip
    assert message == same and hash(message) == hash(same)
    assert pickle.loads(pickle.dumps(message)) == message
    assert replace(message, body="no") == Message(**{**vars(message), "body": "no"})
    with pytest.raises(AttributeError):
        message.body = "changed"  # type: ignore[misc]
    assert repr(message).startswith("Message(source='whatsapp', conversation='Port Ops', sender='Ana',")
    assert message.source_ref == SourceRef(file="chat.txt", line=3, entry=None, export_sha256=None)
    assert hash(message.source_ref) == hash(SourceRef("chat.txt", 3))


class _NoOffset(tzinfo):
    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None


@pytest.mark.parametrize("sent_at", [datetime(2024, 3, 9, 8, 2), datetime(2024, 3, 9, 8, 2, tzinfo=_NoOffset())])
def test_a_time_without_offset_is_refused(sent_at: datetime) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        Message("whatsapp", "c", "Ana", sent_at, "ok")


@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=-7)), ZoneInfo("America/Phoenix")])
def test_a_time_in_a_zone_is_taken(zone: tzinfo) -> None:
    assert Message("whatsapp", "c", "Ana", datetime(2024, 3, 9, 8, 2, tzinfo=zone), "ok").sent_at.tzinfo is zone


@pytest.mark.parametrize("text", [
    r'{"b":[1,2.5,null,true],"a":"caf\u00e9 \ud83c\udf2e","c":{}}',   # what canonical_json writes
    r'{"n":NaN,"big":123456789012345678901234567890}',                 # json reads these, orjson does not
    r'["\ud800 lone surrogate"]',
    '  {"spaced" : 1 }  ',
])
def test_parse_json_reads_what_json_loads_reads(text: str) -> None:
    import json
    expected = json.loads(text)
    got = parse_json(text.encode())
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_parse_json_reads_back_what_canonical_json_writes() -> None:
    document = {"b": [1, 2.5, None, True, -0.0, 1e300], "a": "café 🌮 \u2028", "c": {"d": ""}}
    assert parse_json(canonical_json(document)) == document


@pytest.mark.parametrize("text", [b"{", b'{"a":1} trailing', b"\xff\xfe{}", b""])
def test_parse_json_refuses_what_json_loads_refuses(text: bytes) -> None:
    with pytest.raises(ValueError):
        parse_json(text)



def test_sealed_json_writes_canonical_json_bytes() -> None:
    document = {"b": [1, 2.5, None, True, -0.0, 1e300, 0.0001, 0.95], "a": "café 🌮 \u2028 \x1f \x7f \"q\" \\",
                "c": {"Z": {}, "z": [], "é": "", "A": (1, 2)}, "": 2**63 - 1}
    assert sealed_json(document) == canonical_json(document)


@pytest.mark.parametrize("value", [
    {"confidence": 3.2e-05},                       # written 0.000032: the same float read back
    {"big": 123456789012345678901234567890},       # past 64 bits: canonical_json writes it
    {1: "a key that is no string"},                # canonical_json writes "1"
])
def test_sealed_json_reads_back_as_canonical_json_does(value: object) -> None:
    assert parse_json(sealed_json(value)) == parse_json(canonical_json(value))
