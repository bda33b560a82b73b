"""Reading an export in a second process: the same archive, receipt and errors as reading it
in the ingest's own process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest

import archiver.services.ingest as ingest_module
from archiver.config import load_settings
from archiver.connector import ConnectorRegistry, ParseContext, ParsedItem
from archiver.core.classify import Classifier, load_rules
from archiver.core.retention import load_schedules
from archiver.errors import ArchiverError, InputError, Rejection
from archiver.model import Message
from archiver.services.ingest import IngestOptions, Ingestor
from archiver.services.ingest_reading import already_archived
from archiver.services.reader_process import read_in_second_process, second_process_available
from archiver.services.verify import verify
from archiver.storage.archive import Archive
from archiver.storage.records import RecordDocument
from connectors.jsonl import JsonlConnector
from connectors.whatsapp import WhatsAppConnector
from tests.conftest import CliRunner, grant_staff

pytestmark = pytest.mark.skipif(not second_process_available(), reason="no fork on this platform")
NOW = datetime(2026, 10, 10, tzinfo=timezone.utc)
TEXTS = ("Hold trailer {n} at lane 3 until the manifest is checked", "ok", "see you at lunch",
         "Driver DOB 14/03/1981, passport G{n}", "Happy birthday!", "Permit {n} denied")


class BreaksMidway:
    """Reads a few messages and a bad line, then meets an error it cannot read past."""

    name: ClassVar[str] = "breaks"
    description: ClassVar[str] = "test connector"

    def sniff(self, path: Path) -> bool:
        return path.suffix == ".breaks"

    def parse(self, path: Path, context: ParseContext) -> Iterator[ParsedItem]:
        for n in range(5):
            yield Message(source="sms", conversation="Ana", sender="Ana", custodian=context.custodian,
                          sent_at=datetime(2026, 9, 1, 12, n, tzinfo=timezone.utc), body=TEXTS[n % len(TEXTS)])
        yield Rejection(str(path), 6, "no sender")
        raise InputError(str(path), "malformed JSON near byte 700", 7)


def _export(folder: Path, count: int) -> Path:
    path = folder / "WhatsApp Chat with Port Ops.txt"
    lines = [f"{1 + n // 1440 % 12}/{1 + n // 60 % 28}/26, {n // 60 % 24:02d}:{n % 60:02d} - "
             f"{'Ana Lopez' if n % 2 else 'Jorge Rivera'}: {TEXTS[n % len(TEXTS)].format(n=n)}" for n in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ingest(folder: Path, path: Path, second: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(ingest_module, "SECOND_PROCESS_FROM", 0 if second else 1 << 62)
    archive = Archive.open(load_settings(cwd=folder))
    try:
        registry = ConnectorRegistry([JsonlConnector(), WhatsAppConnector(), BreaksMidway()])
        options = IngestOptions(custodian="Jorge Rivera", tz="America/Phoenix", actor="test")
        receipt = Ingestor(archive, registry, Classifier(load_rules()), load_schedules(), options, NOW).run([path])
        # Each archive has its own key, so its own ids: rows are compared by the line they came from.
        rows = sorted((row.source_line, row.label, row.forwarding_status, row.reasons, row.sent_at)
                      for row in archive.catalog.rows())
        return {"receipt": receipt.to_json(), "rows": rows, "verify": verify(archive).ok}
    finally:
        archive.close()


def _two_archives(cli: CliRunner, tmp_path: Path) -> tuple[Path, Path]:
    folders = []
    for name in ("inline", "second"):
        folder = tmp_path / name
        folder.mkdir()
        assert cli("init", cwd=folder).code == 0
        grant_staff(folder)
        folders.append(folder)
    return folders[0], folders[1]


def test_a_second_process_archives_exactly_what_one_process_does(
        cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = _export(tmp_path, 1500)  # several chunks, several catalog batches
    inline, second = _two_archives(cli, tmp_path)
    alone, shared = _ingest(inline, export, False, monkeypatch), _ingest(second, export, True, monkeypatch)
    assert shared["verify"] and alone["verify"]
    assert shared["receipt"]["parsed"] == 1500
    assert shared["rows"] == alone["rows"]  # the same labels, 2911 status and reasons
    assert {k: v for k, v in shared["receipt"].items() if k != "files"} == \
        {k: v for k, v in alone["receipt"].items() if k != "files"}
    assert shared["receipt"]["files"] == alone["receipt"]["files"]


def test_an_error_in_the_second_process_keeps_what_was_read_and_refuses_the_rest(
        cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inline, second = _two_archives(cli, tmp_path)
    bad = tmp_path / "chat.breaks"
    bad.write_text("anything", encoding="utf-8")
    alone, shared = _ingest(inline, bad, False, monkeypatch), _ingest(second, bad, True, monkeypatch)
    file_receipt = shared["receipt"]["files"][0]
    assert file_receipt["refused"] == "line 7: malformed JSON near byte 700"
    assert file_receipt["parsed"] == 6 and file_receipt["quarantined"] == 1  # five messages and the bad line
    assert len(shared["rows"]) == 5 and shared["rows"] == alone["rows"]
    assert shared["receipt"]["files"] == alone["receipt"]["files"]


def _dies(rejections: list[Rejection]) -> Iterator[int]:
    yield 1
    os._exit(3)


def test_a_reader_that_dies_is_an_error_in_words_after_what_it_sent() -> None:
    read: list[int] = []
    with pytest.raises(ArchiverError, match="stopped without finishing"):
        for item in read_in_second_process(_dies, []):
            read.append(item)
    assert read == []  # a chunk is sent whole or not at all: the one item died with it


def _endless(rejections: list[Rejection]) -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


def test_stopping_early_stops_the_reader() -> None:
    stream = read_in_second_process(_endless, [])
    assert [next(stream) for _ in range(600)] == list(range(1, 601))
    stream.close()  # the child is terminated and reaped, not left writing to a closed pipe


@pytest.mark.parametrize("second", [False, True], ids=["one process", "second process"])
def test_a_re_export_takes_keyed_references_only_for_messages_not_archived(
        cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, second: bool) -> None:
    folder, _ = _two_archives(cli, tmp_path)
    calls = tmp_path / "index-token-calls"
    counted = Archive.index_tokens

    def index_tokens(self: Archive, message: dict[str, Any]) -> list[str]:
        with calls.open("a") as log:  # a file, so that the reading process's calls count too
            log.write("1")
        return counted(self, message)

    monkeypatch.setattr(Archive, "index_tokens", index_tokens)
    first = _ingest(folder, _export(tmp_path, 600), second, monkeypatch)
    assert first["receipt"]["files"][0]["duplicates"] == 0 and calls.read_text() == "1" * 600
    calls.write_text("")
    again = _ingest(folder, _export(tmp_path, 700), second, monkeypatch)  # the same chat, 100 messages later
    file_receipt = again["receipt"]["files"][0]
    assert (file_receipt["parsed"], file_receipt["duplicates"]) == (700, 600)
    assert calls.read_text() == "1" * 100  # the 600 archived before are looked up, not keyed again
    assert again["verify"] and len(again["rows"]) == 700


@pytest.mark.parametrize(("label", "archived_as", "expected"), [
    ("record", None, False), ("record", "record", True), ("record", "nonrecord", False),
    ("record", "review", False), ("nonrecord", "record", True), ("nonrecord", "nonrecord", True),
    ("nonrecord", "review", True),
])  # fmt: skip
def test_what_a_message_archived_before_still_needs(label: str, archived_as: str | None, expected: bool) -> None:
    doc = RecordDocument({"id": "x", "classification": {"label": label}})
    assert already_archived(doc, archived_as) is expected
