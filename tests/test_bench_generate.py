"""The benchmarks' export generator: same seed, same bytes; and the archiver reads every message it writes."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from archiver.connector import ConnectorRegistry, ParseContext, messages_only
from bench.generate import CUSTODIAN, TZ, WRITERS, generate

COUNT = 400
CONNECTORS = {"android": "whatsapp", "android24": "whatsapp", "ios": "whatsapp", "sms": "sms-backup", "mbox": "mbox"}


def test_the_same_seed_writes_the_same_bytes_and_another_seed_others(tmp_path: Path) -> None:
    first, again = generate(tmp_path / "a", COUNT), generate(tmp_path / "b", COUNT)
    other = generate(tmp_path / "c", COUNT, seed=7)

    assert set(first) == set(WRITERS)
    for name, path in first.items():
        assert path.read_bytes() == again[name].read_bytes(), name
        assert path.read_bytes() != other[name].read_bytes(), name


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_the_archiver_reads_every_generated_message(tmp_path: Path, name: str) -> None:
    path = generate(tmp_path, COUNT, formats=(name,))[name]
    connector = ConnectorRegistry.from_entry_points().get(CONNECTORS[name])
    context = ParseContext(custodian=CUSTODIAN, tz=ZoneInfo(TZ))

    rejected: list[object] = []
    messages = list(messages_only(connector.parse(path, context), rejected))

    assert len(messages) == COUNT and rejected == []
    assert any("\n" in m.body for m in messages)  # multi-line messages survive as one


def test_whatsapp_exports_hold_media_placeholders_and_system_notices(tmp_path: Path) -> None:
    connector = ConnectorRegistry.from_entry_points().get("whatsapp")
    context = ParseContext(custodian=CUSTODIAN, tz=ZoneInfo(TZ))
    for name in ("android", "ios"):
        path = generate(tmp_path, COUNT, formats=(name,))[name]
        messages = list(messages_only(connector.parse(path, context), []))
        assert any(m.system for m in messages), name
        assert any(m.attachments for m in messages), name
